// A tiny shared cache of image records (id → record + ETag), fed by uploads, GETs and PATCH
// answers, refreshed when the server's event stream says a record changed.

import { useSyncExternalStore } from 'react';
import { ApiError, etagOf, getImage } from '../api/client';
import type { ImageEvent, ImageRecord } from '../api/types';
import { validProgress } from './slides';

export interface RecordEntry {
  record: ImageRecord;
  etag: string;
}

const entries = new Map<number, RecordEntry>();
const listeners = new Set<() => void>();
const recordListeners = new Set<(r: ImageRecord) => void>();
/** The newest version an event announced per id (an event can beat the upload's answer). */
const announced = new Map<number, number>();

function emit(r: ImageRecord) {
  for (const l of listeners) l();
  for (const l of recordListeners) l(r);
}

/** Stores a record unless a newer version is already known. */
export function putRecord(record: ImageRecord, etag?: string | null, force = false): void {
  const old = entries.get(record.id);
  if (!force && old && old.record.version > record.version) return;
  if (old && old.record === record) return;
  const stored = !force && old && old.record.version === record.version ? keepProgress(old.record, record) : record;
  entries.set(record.id, { record: stored, etag: etagOf(stored, etag) });
  emit(stored);
}

/**
 * A slide's progress moves on without a new version (events carry it): a GET answered before
 * the latest event must not take the count back.
 */
function keepProgress(old: ImageRecord, next: ImageRecord): ImageRecord {
  const a = validProgress(old.progress);
  const b = validProgress(next.progress);
  if (!a || (b && (b.total !== a.total || b.done >= a.done))) return next;
  return { ...next, progress: a };
}

/** A progress event for a record we show: its count changes in place (no refetch). */
function applyProgress(ev: ImageEvent): void {
  const p = validProgress(ev.progress);
  const known = entries.get(ev.id);
  if (!p || !known) return;
  const cur = validProgress(known.record.progress);
  if (cur && cur.done === p.done && cur.total === p.total) return;
  const status = ev.status === 'queued' || ev.status === 'scoring' ? ev.status : known.record.status;
  const record: ImageRecord = { ...known.record, status, progress: p };
  entries.set(ev.id, { record, etag: known.etag });
  emit(record);
}

/** Forgets every record (logout: the next user may not be allowed to see them). */
export function clearRecords(): void {
  entries.clear();
  announced.clear();
  rerun.clear();
  for (const l of listeners) l();
}

export function getEntry(id: number): RecordEntry | undefined {
  return entries.get(id);
}

export function knownIds(): number[] {
  return [...entries.keys()];
}

export function onRecord(l: (r: ImageRecord) => void): () => void {
  recordListeners.add(l);
  return () => recordListeners.delete(l);
}

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useRecord(id: number | null): RecordEntry | undefined {
  return useSyncExternalStore(subscribe, () => (id == null ? undefined : entries.get(id)));
}

/** Re-renders whenever any record changes (for lists that show review state). */
export function useRecordsVersion(): number {
  return useSyncExternalStore(subscribe, () => version);
}
let version = 0;
listeners.add(() => {
  version++;
});

const inflight = new Map<number, Promise<ImageRecord | null>>();
/** Ids whose record changed again while a GET for it was in flight. */
const rerun = new Set<number>();

async function fetchUntilCurrent(id: number): Promise<ImageRecord | null> {
  // A change announced while the GET was in flight must not be lost: fetch again until the
  // record is at least as new as the newest event said (a few rounds at most).
  for (let round = 0; round < 5; round++) {
    rerun.delete(id);
    let r: ImageRecord;
    try {
      r = await getImage(id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      return getEntry(id)?.record ?? null;
    }
    putRecord(r);
    const wanted = announced.get(id);
    if (!rerun.has(id) && (wanted == null || r.version >= wanted)) return r;
  }
  return getEntry(id)?.record ?? null;
}

/** GETs a record and stores it; a call while one is running makes that one fetch again. */
export function refreshRecord(id: number): Promise<ImageRecord | null> {
  const running = inflight.get(id);
  if (running) {
    rerun.add(id);
    return running;
  }
  const p = fetchUntilCurrent(id).finally(() => inflight.delete(id));
  inflight.set(id, p);
  return p;
}

/** Called for each server event: refetch the record when we show it or may soon. */
export function handleImageEvent(ev: ImageEvent): void {
  if (typeof ev.version === 'number') announced.set(ev.id, Math.max(announced.get(ev.id) ?? 0, ev.version));
  const known = entries.get(ev.id);
  if (known && typeof ev.version === 'number' && known.record.version >= ev.version) {
    // The same version: only a slide's progress can have moved.
    if (known.record.version === ev.version) applyProgress(ev);
    return;
  }
  if (known) void refreshRecord(ev.id);
}

/** After an upload's answer: refetch when an event already announced a newer version. */
export function catchUp(record: ImageRecord): void {
  const v = announced.get(record.id);
  if (v != null && v > record.version) void refreshRecord(record.id);
}
