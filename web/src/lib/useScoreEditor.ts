// Autosave for one record's scores: valid edits are collected and sent (debounced) as one PATCH
// with the record's ETag; one request at a time, later edits go in the next. Failures keep the
// edits and say so; a 409 keeps them too and offers the choice between theirs and mine. A set of
// scores taken from elsewhere (a slide's region of interest) goes the same way, with its reason.

import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, patchScores } from '../api/client';
import type { ImageRecord, ScorePatch } from '../api/types';
import { getEntry, putRecord, useRecord } from './records';

export const AUTOSAVE_DELAY_MS = 600;

export type SaveStatus =
  | { kind: 'idle' }
  | { kind: 'pending' }
  | { kind: 'saving' }
  | { kind: 'saved'; at: number }
  | { kind: 'error'; message: string; field?: string | null }
  | { kind: 'conflict'; current: ImageRecord; mine: Record<string, number>; mineReviewed?: boolean };

interface Pending {
  scores: Record<string, number>;
  reviewed?: boolean;
  /** Why, for the audit log (sent with the scores it came with). */
  reason?: string;
}

const isEmpty = (p: Pending) => Object.keys(p.scores).length === 0 && p.reviewed === undefined;

export interface ScoreEditor {
  record: ImageRecord | undefined;
  /** Values chosen here and not yet confirmed by the server. */
  local: Record<string, number>;
  status: SaveStatus;
  setValue: (metric: string, value: number) => void;
  /** The field holds no valid value any more: do not save an earlier one. */
  dropValue: (metric: string) => void;
  /** Saves now (also marks reviewed when asked); resolves true when everything is saved. */
  flush: (reviewed?: boolean) => Promise<boolean>;
  resolveConflict: (choice: 'theirs' | 'mine') => Promise<boolean>;
  /**
   * Sets these scores at once (edits not yet sent go first, in their own request), with a reason
   * for the audit log; resolves true when they are saved. A conflict or error shows as for any
   * edit, and the scores wait there for the choice or a retry.
   */
  applyScores: (scores: Record<string, number>, reason: string) => Promise<boolean>;
}

export function useScoreEditor(id: number): ScoreEditor {
  const entry = useRecord(id);
  const [local, setLocal] = useState<Record<string, number>>({});
  const [status, setStatus] = useState<SaveStatus>({ kind: 'idle' });
  const pending = useRef<Pending>({ scores: {} });
  const inFlight = useRef<Promise<boolean> | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const mounted = useRef(true);

  const set = useCallback((s: SaveStatus) => {
    if (mounted.current) setStatus(s);
  }, []);

  const send = useCallback(async (): Promise<boolean> => {
    const body: Pending = pending.current;
    pending.current = { scores: {} };
    const e = getEntry(id);
    if (!e) {
      pending.current = body;
      set({ kind: 'error', message: 'the record is not loaded' });
      return false;
    }
    set({ kind: 'saving' });
    const patch: ScorePatch = {};
    if (Object.keys(body.scores).length) patch.scores = body.scores;
    if (body.reviewed !== undefined) patch.reviewed = body.reviewed;
    if (body.reason) patch.reason = body.reason;
    try {
      const rec = await patchScores(id, e.etag, patch);
      putRecord(rec);
      if (mounted.current) {
        setLocal((l) => {
          const next = { ...l };
          for (const [k, v] of Object.entries(body.scores)) {
            if (next[k] === v && pending.current.scores[k] === undefined) delete next[k];
          }
          return next;
        });
      }
      return true;
    } catch (err) {
      // Keep the edits: the newer ones win over the ones just sent.
      pending.current = {
        scores: { ...body.scores, ...pending.current.scores },
        reviewed: pending.current.reviewed ?? body.reviewed,
        reason: pending.current.reason ?? body.reason,
      };
      if (err instanceof ApiError && err.status === 409 && err.body.current) {
        const current = err.body.current;
        putRecord(current);
        set({ kind: 'conflict', current, mine: { ...pending.current.scores }, mineReviewed: pending.current.reviewed });
      } else if (err instanceof ApiError) {
        set({ kind: 'error', message: err.message, field: err.body.field ?? null });
      } else {
        set({ kind: 'error', message: String(err) });
      }
      return false;
    }
  }, [id, set]);

  const flush = useCallback(
    async (reviewed?: boolean): Promise<boolean> => {
      if (timer.current) {
        clearTimeout(timer.current);
        timer.current = null;
      }
      if (reviewed !== undefined) pending.current.reviewed = reviewed;
      // One request at a time: wait for the running one, then send what has gathered since.
      for (;;) {
        while (inFlight.current) {
          const ok = await inFlight.current;
          if (!ok) return false;
        }
        if (isEmpty(pending.current)) return true;
        const p = send();
        inFlight.current = p;
        const ok = await p;
        inFlight.current = null;
        if (!ok) return false;
        if (isEmpty(pending.current)) {
          set({ kind: 'saved', at: Date.now() });
          return true;
        }
      }
    },
    [send, set],
  );

  const schedule = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      timer.current = null;
      void flush();
    }, AUTOSAVE_DELAY_MS);
  }, [flush]);

  const setValue = useCallback(
    (metric: string, value: number) => {
      setLocal((l) => ({ ...l, [metric]: value }));
      pending.current.scores[metric] = value;
      set({ kind: 'pending' });
      schedule();
    },
    [schedule, set],
  );

  const dropValue = useCallback((metric: string) => {
    delete pending.current.scores[metric];
    setLocal((l) => {
      if (!(metric in l)) return l;
      const next = { ...l };
      delete next[metric];
      return next;
    });
  }, []);

  const resolveConflict = useCallback(
    async (choice: 'theirs' | 'mine') => {
      if (choice === 'theirs') {
        pending.current = { scores: {} };
        setLocal({});
        set({ kind: 'idle' });
        return true;
      }
      // Mine: send again; the record in the cache is now theirs, so its ETag is current.
      return flush();
    },
    [flush, set],
  );

  const applyScores = useCallback(
    async (scores: Record<string, number>, reason: string): Promise<boolean> => {
      // What was typed before goes without this reason.
      if (!isEmpty(pending.current) && !(await flush())) return false;
      setLocal((l) => ({ ...l, ...scores }));
      pending.current = { ...pending.current, scores: { ...pending.current.scores, ...scores }, reason };
      return flush();
    },
    [flush],
  );

  // Leaving this record (or the page) with edits not yet sent: send them anyway.
  useEffect(() => {
    mounted.current = true;
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (!isEmpty(pending.current) || inFlight.current) {
        void flush();
        e.preventDefault();
      }
    };
    window.addEventListener('beforeunload', beforeUnload);
    return () => {
      mounted.current = false;
      window.removeEventListener('beforeunload', beforeUnload);
      if (timer.current) clearTimeout(timer.current);
      const body = pending.current;
      const e = getEntry(id);
      if (!isEmpty(body) && e) {
        pending.current = { scores: {} };
        const patch: ScorePatch = {};
        if (Object.keys(body.scores).length) patch.scores = body.scores;
        if (body.reviewed !== undefined) patch.reviewed = body.reviewed;
        if (body.reason) patch.reason = body.reason;
        void patchScores(id, e.etag, patch).then(putRecord, () => undefined);
      }
    };
  }, [id, flush]);

  return { record: entry?.record, local, status, setValue, dropValue, flush, resolveConflict, applyScores };
}
