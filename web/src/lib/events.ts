// The server's event stream (GET /api/events, SSE). One EventSource for the app. After a
// reconnect everything shown is refetched (events may have been missed). If the stream cannot be
// had at all, records that are still being scored are refetched every few seconds instead.

import { useSyncExternalStore } from 'react';
import type { ImageEvent } from '../api/types';
import { getEntry, handleImageEvent, knownIds, refreshRecord } from './records';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'polling';

let state: LiveState = 'connecting';
let source: EventSource | null = null;
let pollTimer: ReturnType<typeof setInterval> | null = null;
let hadError = false;
const stateListeners = new Set<() => void>();
const eventListeners = new Set<(e: ImageEvent) => void>();
const reconnectListeners = new Set<() => void>();

function setState(s: LiveState) {
  if (s === state) return;
  state = s;
  for (const l of stateListeners) l();
}

function refetchShown() {
  for (const id of knownIds()) void refreshRecord(id);
  for (const l of reconnectListeners) l();
}

function pollUnfinished() {
  for (const id of knownIds()) {
    const e = getEntry(id);
    if (e && (e.record.status === 'queued' || e.record.status === 'scoring')) void refreshRecord(id);
  }
}

let safetyTimer: ReturnType<typeof setInterval> | null = null;

export function startEvents(): void {
  // A safety net under the stream: records still being scored are looked at every 15 s, in
  // case an event was lost (every 2 s while the stream is down).
  safetyTimer ??= setInterval(pollUnfinished, 15_000);
  if (source || typeof EventSource === 'undefined') return;
  const es = new EventSource('/api/events');
  source = es;
  es.addEventListener('open', () => {
    if (pollTimer) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
    setState('live');
    if (hadError) refetchShown();
    hadError = false;
  });
  es.addEventListener('image', (msg) => {
    let ev: ImageEvent;
    try {
      ev = JSON.parse((msg as MessageEvent<string>).data) as ImageEvent;
    } catch {
      return;
    }
    if (typeof ev.id !== 'number') return;
    handleImageEvent(ev);
    for (const l of eventListeners) l(ev);
  });
  // The server says this client fell behind (missed events): reload what is shown.
  es.addEventListener('resync', () => refetchShown());
  es.addEventListener('error', () => {
    hadError = true;
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (the endpoint is missing or answered with an error): poll instead,
      // and try the stream again later.
      source = null;
      setState('polling');
      if (!pollTimer) pollTimer = setInterval(pollUnfinished, 2000);
      setTimeout(() => {
        if (!source && pollTimer) startEvents();
      }, 30_000);
    } else {
      setState('reconnecting');
    }
  });
}

/** Closes the stream and stops polling (logout, or the session ended): it would only get 401s. */
export function stopEvents(): void {
  if (source) {
    const es = source;
    source = null;
    es.close();
  }
  if (pollTimer) {
    clearInterval(pollTimer);
    pollTimer = null;
  }
  if (safetyTimer) {
    clearInterval(safetyTimer);
    safetyTimer = null;
  }
  hadError = false;
  setState('connecting');
}

export function onImageEvent(l: (e: ImageEvent) => void): () => void {
  eventListeners.add(l);
  return () => eventListeners.delete(l);
}

/** Called after the stream reconnects: refetch what you show. */
export function onResync(l: () => void): () => void {
  reconnectListeners.add(l);
  return () => reconnectListeners.delete(l);
}

export function useLiveState(): LiveState {
  return useSyncExternalStore(
    (l) => {
      stateListeners.add(l);
      return () => stateListeners.delete(l);
    },
    () => state,
  );
}
