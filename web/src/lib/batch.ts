// The Score page's batch survives a reload: this browser's uploads of the last 24 hours are kept
// in localStorage (record id, name, size, when), and the queue is rebuilt from them with each
// record's state asked from the server again. Pure functions, plus the two storage calls.

import type { QueueItem } from './queue';

export const BATCH_KEY = 'histoscore.batch';
/** How long an upload stays in the batch. */
export const BATCH_TTL_MS = 24 * 60 * 60 * 1000;
/** At most this many entries are kept (the newest). */
export const BATCH_MAX = 2000;

export interface BatchEntry {
  /** The server's record id. */
  id: number;
  name: string;
  path: string;
  size: number;
  /** When it was uploaded (ms since the epoch). */
  at: number;
}

const isEntry = (v: unknown): v is BatchEntry => {
  if (!v || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.id === 'number' &&
    Number.isInteger(e.id) &&
    e.id > 0 &&
    typeof e.name === 'string' &&
    typeof e.size === 'number' &&
    typeof e.at === 'number' &&
    Number.isFinite(e.at)
  );
};

/** Entries of the last 24 h, oldest first, one per record id (the latest upload wins). */
export function pruneBatch(entries: readonly BatchEntry[], now: number): BatchEntry[] {
  const byId = new Map<number, BatchEntry>();
  for (const e of entries) {
    if (now - e.at > BATCH_TTL_MS || e.at > now + 60_000) continue;
    const old = byId.get(e.id);
    if (!old || old.at <= e.at) byId.set(e.id, e);
  }
  return [...byId.values()].sort((a, b) => a.at - b.at || a.id - b.id).slice(-BATCH_MAX);
}

/** The stored text as entries; anything unreadable is dropped. */
export function parseBatch(text: string | null | undefined, now: number): BatchEntry[] {
  if (!text) return [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(v)) return [];
  return pruneBatch(
    v.filter(isEntry).map((e) => ({ id: e.id, name: e.name, path: typeof e.path === 'string' && e.path ? e.path : e.name, size: e.size, at: e.at })),
    now,
  );
}

/** What to store for the queue's items: each uploaded item with its record id and upload time. */
export function batchOfItems(items: readonly QueueItem[], now: number): BatchEntry[] {
  const entries: BatchEntry[] = [];
  for (const it of items) {
    if (it.recordId == null || it.uploadedAt == null) continue;
    entries.push({ id: it.recordId, name: it.name, path: it.path, size: it.size, at: it.uploadedAt });
  }
  return pruneBatch(entries, now);
}

export function loadBatch(storage: Pick<Storage, 'getItem'> | null, now: number): BatchEntry[] {
  try {
    return parseBatch(storage?.getItem(BATCH_KEY), now);
  } catch {
    return [];
  }
}

export function saveBatch(storage: Pick<Storage, 'setItem' | 'removeItem'> | null, entries: readonly BatchEntry[]): void {
  try {
    if (entries.length === 0) storage?.removeItem(BATCH_KEY);
    else storage?.setItem(BATCH_KEY, JSON.stringify(entries));
  } catch {
    // private mode or full: the batch lasts for this page only
  }
}

/** localStorage when the browser offers it. */
export function browserStorage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}
