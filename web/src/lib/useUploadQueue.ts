// Runs the queue state machine (queue.ts): starts uploads when it says so, reports progress and
// answers back, and feeds it record changes from the shared record cache (server events).

import { useCallback, useEffect, useMemo, useReducer, useRef } from 'react';
import { uploadFile } from '../api/client';
import { catchUp, onRecord, putRecord } from './records';
import { initialQueue, isBusy, queueReducer, startable, type QueueState } from './queue';
import { rejectReason, type PickedFile } from './files';

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
  cancel: (key: number) => void;
  cancelPending: () => void;
  clearFinished: () => void;
  setConcurrency: (n: number) => void;
}

export function useUploadQueue(maxUploadBytes?: number | null): UploadQueue {
  const [state, dispatch] = useReducer(queueReducer, undefined, () => initialQueue(savedConcurrency()));
  const files = useRef(new Map<number, File>());
  const active = useRef(new Map<number, () => void>());

  // Start whatever the state machine allows.
  useEffect(() => {
    for (const key of startable(state, Date.now())) {
      if (active.current.has(key)) continue;
      const file = files.current.get(key);
      const item = state.items.find((it) => it.key === key);
      if (!file || !item) continue;
      dispatch({ type: 'start', key });
      const handle = uploadFile(file, {
        keepBoth: item.keepBoth,
        onProgress: (loaded, total) => dispatch({ type: 'progress', key, loaded, total }),
      });
      active.current.set(key, handle.abort);
      void handle.promise.then((res) => {
        active.current.delete(key);
        if (res.ok) {
          putRecord(res.record, res.etag);
          dispatch({ type: 'uploaded', key, httpStatus: res.httpStatus, record: res.record });
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

  // Leaving the page drops the files not yet sent: ask first.
  const busy = isBusy(state);
  useEffect(() => {
    if (!busy) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [busy]);

  // Abort running uploads when the app goes away.
  useEffect(() => {
    const running = active.current;
    return () => {
      for (const abort of running.values()) abort();
    };
  }, []);

  const nextKey = useRef(1);
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
          reject: rejectReason(p.file.name, p.file.size, maxUploadBytes),
        })),
      });
    },
    [maxUploadBytes],
  );

  const retry = useCallback((key: number, keepBoth?: boolean) => dispatch({ type: 'retry', key, keepBoth }), []);
  const cancel = useCallback((key: number) => {
    const abort = active.current.get(key);
    if (abort) abort();
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
    () => ({ state, addFiles, retry, cancel, cancelPending, clearFinished, setConcurrency }),
    [state, addFiles, retry, cancel, cancelPending, clearFinished, setConcurrency],
  );
}
