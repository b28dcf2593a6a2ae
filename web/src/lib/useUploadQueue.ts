// Runs the queue state machine (queue.ts): starts uploads when it says so (whole slides and large
// files resumable, the rest in one request: files.ts), reports progress and answers back, and
// feeds it record changes from the shared record cache (server events).

import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { ApiError, getImage, listImages, restoreImage, uploadFile, type UploadHandle } from '../api/client';
import { uploadResumable } from '../api/resumable';
import { batchOfItems, browserStorage, loadBatch, saveBatch, type BatchEntry } from './batch';
import { catchUp, onRecord, putRecord } from './records';
import { initialQueue, queueReducer, startable, type QueueState } from './queue';
import { uploadRejectReason, uploadRoute, type PickedFile, type UploadLimits } from './files';

const CONCURRENCY_KEY = 'histoscore.concurrency';

function savedConcurrency(): number {
  try {
    return Number(localStorage.getItem(CONCURRENCY_KEY) ?? '1') || 1;
  } catch {
    return 1;
  }
}

export interface UploadQueue {
  state: QueueState;
  addFiles: (files: PickedFile[]) => void;
  retry: (key: number, keepBoth?: boolean) => void;
  /** Restores the deleted record a refused upload matched (its scores and corrections come back). */
  restoreDeleted: (key: number) => Promise<void>;
  cancel: (key: number) => void;
  cancelPending: () => void;
  clearFinished: () => void;
  setConcurrency: (n: number) => void;
}

const NO_LIMITS: UploadLimits = { maxUploadBytes: null, resumableMaxBytes: null, chunkBytes: null, expiryHours: null };

export function useUploadQueue(limits: UploadLimits = NO_LIMITS): UploadQueue {
  // The batch of earlier pages (this browser's uploads of the last 24 h) comes back at once.
  const [restored] = useState(() => loadBatch(browserStorage(), Date.now()));
  const [state, dispatch] = useReducer(queueReducer, undefined, () =>
    queueReducer(initialQueue(savedConcurrency()), { type: 'restore', entries: restored }),
  );
  const files = useRef(new Map<number, File>());
  const active = useRef(new Map<number, UploadHandle>());
  const limitsRef = useRef(limits);
  useEffect(() => {
    limitsRef.current = limits;
  });

  // Start whatever the state machine allows.
  useEffect(() => {
    for (const key of startable(state, Date.now())) {
      if (active.current.has(key)) continue;
      const file = files.current.get(key);
      const item = state.items.find((it) => it.key === key);
      if (!file || !item) continue;
      dispatch({ type: 'start', key });
      const onProgress = (loaded: number, total: number) => dispatch({ type: 'progress', key, loaded, total });
      const l = limitsRef.current;
      const handle =
        uploadRoute(file.name, file.size, l) === 'resumable'
          ? uploadResumable(file, {
              keepBoth: item.keepBoth,
              chunkBytes: l.chunkBytes,
              expiryHours: l.expiryHours,
              onProgress,
              onResume: (offset, total) => dispatch({ type: 'resumed', key, offset, total }),
            })
          : uploadFile(file, { keepBoth: item.keepBoth, onProgress });
      active.current.set(key, handle);
      void handle.promise.then((res) => {
        active.current.delete(key);
        if (res.ok) {
          putRecord(res.record, res.etag);
          dispatch({ type: 'uploaded', key, httpStatus: res.httpStatus, record: res.record, now: Date.now() });
          catchUp(res.record);
        } else {
          const b = res.error.body;
          dispatch({
            type: 'refused',
            key,
            httpStatus: res.error.status,
            code: b.error,
            message: b.detail,
            retryAfterS: res.error.retryAfterS,
            existingId: b.existing_id ?? null,
            now: Date.now(),
          });
        }
      });
    }
  }, [state]);

  // Resume after the server's Retry-After.
  useEffect(() => {
    if (state.pausedUntil == null) return;
    const t = setTimeout(() => dispatch({ type: 'resume', now: Date.now() }), Math.max(0, state.pausedUntil - Date.now()) + 10);
    return () => clearTimeout(t);
  }, [state.pausedUntil]);

  // Server-side status changes (from events or refetches) move items along.
  useEffect(() => onRecord((record) => dispatch({ type: 'record', record })), []);

  // The restored records' state, from the server: one list request for the last day's uploads,
  // then one request per record it did not cover; a record deleted meanwhile leaves the batch.
  useEffect(() => {
    if (restored.length === 0) return;
    const ac = new AbortController();
    void refreshRestored(restored, ac.signal, (recordId) => dispatch({ type: 'forget', recordId }));
    return () => ac.abort();
  }, [restored]);

  // The batch is kept for the next page: every uploaded item, for 24 h.
  useEffect(() => {
    saveBatch(browserStorage(), batchOfItems(state.items, Date.now()));
  }, [state.items]);

  // Leaving the page drops the files not yet sent: ask first (those sent come back with the batch).
  const busy = state.items.some((it) => it.stage === 'pending' || it.stage === 'uploading');
  useEffect(() => {
    if (!busy) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [busy]);

  // Abort running uploads when the app goes away (resumable ones go on with the next page's).
  useEffect(() => {
    const running = active.current;
    return () => {
      for (const handle of running.values()) handle.abort();
    };
  }, []);

  // Keys go on after the restored items' (the reducer keeps the caller's key when it is new).
  const nextKey = useRef(state.nextKey);
  const addFiles = useCallback(
    (picked: PickedFile[]) => {
      const withKeys = picked.map((p) => ({ ...p, key: nextKey.current++ }));
      for (const p of withKeys) files.current.set(p.key, p.file);
      dispatch({
        type: 'add',
        files: withKeys.map((p) => ({
          key: p.key,
          name: p.file.name,
          path: p.path,
          size: p.file.size,
          reject: uploadRejectReason(p.file.name, p.file.size, limits),
        })),
      });
    },
    [limits],
  );

  const retry = useCallback((key: number, keepBoth?: boolean) => dispatch({ type: 'retry', key, keepBoth }), []);
  const stateRef = useRef(state);
  useEffect(() => {
    stateRef.current = state;
  });
  const restoreDeleted = useCallback(async (key: number) => {
    const id = stateRef.current.items.find((it) => it.key === key)?.restoreId;
    if (id == null) return;
    const record = await restoreImage(id);
    putRecord(record, null, true);
    dispatch({ type: 'attach', key, record, now: Date.now() });
  }, []);
  // Stopping a running upload discards it: a resumable one is removed from the server too.
  const cancel = useCallback((key: number) => {
    const handle = active.current.get(key);
    if (handle) (handle.cancel ?? handle.abort)();
    else dispatch({ type: 'cancel', key });
  }, []);
  const cancelPending = useCallback(() => dispatch({ type: 'cancelPending' }), []);
  const clearFinished = useCallback(() => dispatch({ type: 'clearFinished' }), []);
  const setConcurrency = useCallback((n: number) => {
    try {
      localStorage.setItem(CONCURRENCY_KEY, String(n));
    } catch {
      // private mode: the setting lasts for this page only
    }
    dispatch({ type: 'setConcurrency', concurrency: n });
  }, []);

  return useMemo(
    () => ({ state, addFiles, retry, restoreDeleted, cancel, cancelPending, clearFinished, setConcurrency }),
    [state, addFiles, retry, restoreDeleted, cancel, cancelPending, clearFinished, setConcurrency],
  );
}

/** ISO 8601 without milliseconds (what the history filter takes). */
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function refreshRestored(entries: readonly BatchEntry[], signal: AbortSignal, forget: (id: number) => void): Promise<void> {
  const missing = new Set(entries.map((e) => e.id));
  const oldest = Math.min(...entries.map((e) => e.at));
  try {
    const list = await listImages({ created_from: isoSeconds(oldest - 60_000), sort: 'id', dir: 'asc', limit: 1000 }, signal);
    for (const r of list.items) {
      if (!missing.has(r.id)) continue;
      missing.delete(r.id);
      putRecord(r);
    }
  } catch {
    if (signal.aborted) return;
    // One by one below.
  }
  // Uploads that matched an older record, and anything the list left out: a few at a time.
  const rest = [...missing];
  const worker = async () => {
    for (let id = rest.shift(); id != null && !signal.aborted; id = rest.shift()) {
      try {
        putRecord(await getImage(id));
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) forget(id);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}
