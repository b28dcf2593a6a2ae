// Time on task in a reader study (docs/readers.md): only the time a reader actually works on the
// image counts: the page visible (`document.visibilityState`) and the reader active (pointer,
// key, wheel, touch) within the last minute. The reading panel reports what accumulated to
// `POST /api/studies/{id}/images/{image_id}/active` every 10 s, before a submit, and when the
// reader leaves the image or the page (then with `keepalive`, so that the report outlives it).
// The server takes at most 60 000 ms a report; larger amounts go in several.

import { useCallback, useEffect, useRef } from 'react';
import { ApiError } from '../api/client';

/** Without input for this long the reader is taken to be away: the time after it does not count. */
export const IDLE_AFTER_MS = 60_000;
/** How often the accumulated time is reported while the reader works. */
export const REPORT_EVERY_MS = 10_000;
/** The most one report may carry (the server's limit). */
export const MAX_REPORT_MS = 60_000;

/** The inputs that show the reader is at the screen. */
export const ACTIVITY_EVENTS = ['pointermove', 'pointerdown', 'keydown', 'wheel', 'touchstart'] as const;

/**
 * The accounting alone, without timers or the DOM: told what happened and when (milliseconds of
 * any monotonic clock), it keeps the active time not yet taken. Time counts while the page is
 * visible and less than `idleMs` after the last activity; becoming visible (or being opened while
 * visible) counts as activity.
 */
export class ActiveClock {
  private pending = 0;
  private countedTo: number;
  private lastActive: number | null;
  private visible: boolean;
  private readonly idleMs: number;

  constructor(now: number, visible: boolean, idleMs = IDLE_AFTER_MS) {
    this.countedTo = now;
    this.visible = visible;
    this.lastActive = visible ? now : null;
    this.idleMs = idleMs;
  }

  /** Adds the active part of (countedTo, now]. A clock that goes back adds nothing. */
  private advance(now: number): void {
    if (now <= this.countedTo) return;
    if (this.visible && this.lastActive != null) {
      const end = Math.min(now, this.lastActive + this.idleMs);
      if (end > this.countedTo) this.pending += end - this.countedTo;
    }
    this.countedTo = now;
  }

  /** The reader did something (moved the pointer, pressed a key, …). */
  activity(now: number): void {
    this.advance(now);
    if (this.lastActive == null || now > this.lastActive) this.lastActive = now;
  }

  /** The page became visible or hidden. */
  setVisible(visible: boolean, now: number): void {
    this.advance(now);
    this.visible = visible;
    if (visible) this.activity(now);
  }

  /** The whole milliseconds of active time up to `now` not yet taken; the remainder stays. */
  take(now: number): number {
    this.advance(now);
    const ms = Math.floor(this.pending);
    this.pending -= ms;
    return ms;
  }

  /** Puts back time that could not be reported (it goes with the next report). */
  giveBack(ms: number): void {
    if (ms > 0) this.pending += ms;
  }
}

/** `ms` as reports the server takes: each 1…`max` ms; none for less than 1 ms. */
export function splitReport(ms: number, max = MAX_REPORT_MS): number[] {
  const out: number[] = [];
  let left = Math.floor(ms);
  while (left >= 1) {
    const part = Math.min(left, max);
    out.push(part);
    left -= part;
  }
  return out;
}

/** What to do after a failed report: send the time again later, drop it, or stop reporting. */
export function afterFailure(e: unknown): 'retry' | 'drop' | 'stop' {
  if (e instanceof ApiError) {
    if (e.status === 0 || e.status === 429 || e.status >= 500) return 'retry';
    // Not a reader (any more), the image left the study, the session ended: nothing to add to.
    if (e.status === 401 || e.status === 403 || e.status === 404) return 'stop';
    return 'drop';
  }
  return 'retry';
}

/** Sends `ms` (1…60 000) of active time; `leaving`: the page or image is going away (keepalive). */
export type ReportActive = (ms: number, leaving: boolean) => Promise<unknown>;

export interface ActiveTracker {
  /** Reports what accumulated and resolves when every report sent so far is answered. */
  flush: () => Promise<void>;
  /** Stops watching and reports what is left (as leaving). */
  stop: () => void;
}

export interface TrackOptions {
  now?: () => number;
  everyMs?: number;
  idleMs?: number;
  win?: Window;
  doc?: Document;
}

/** Watches the page for activity and visibility and reports the active time through `report`. */
export function trackActiveTime(report: ReportActive, opts: TrackOptions = {}): ActiveTracker {
  const now = opts.now ?? (() => performance.now());
  const win = opts.win ?? window;
  const doc = opts.doc ?? document;
  const isVisible = () => doc.visibilityState === 'visible';
  const clock = new ActiveClock(now(), isVisible(), opts.idleMs);
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  let gone = false;

  const failed = (ms: number) => (e: unknown) => {
    const next = afterFailure(e);
    if (next === 'retry') clock.giveBack(ms);
    else if (next === 'stop') gone = true;
  };

  const send = (leaving: boolean): Promise<void> => {
    const ms = clock.take(now());
    if (gone) return chain;
    for (const part of splitReport(ms)) {
      if (leaving) {
        // At once, not after the reports in flight: the page may be gone before they are answered.
        report(part, true).then(undefined, failed(part));
      } else {
        chain = chain.then(() => report(part, false).then(() => undefined, failed(part)));
      }
    }
    return chain;
  };

  const onActivity = () => clock.activity(now());
  const onVisibility = () => {
    const visible = isVisible();
    clock.setVisible(visible, now());
    if (!visible) void send(true);
  };
  const onPageHide = () => {
    clock.setVisible(false, now());
    void send(true);
  };
  const onPageShow = () => clock.setVisible(isVisible(), now());

  const listen = { capture: true, passive: true } as const;
  for (const type of ACTIVITY_EVENTS) win.addEventListener(type, onActivity, listen);
  doc.addEventListener('visibilitychange', onVisibility);
  win.addEventListener('pagehide', onPageHide);
  win.addEventListener('pageshow', onPageShow);
  const timer = setInterval(() => void send(false), opts.everyMs ?? REPORT_EVERY_MS);

  return {
    flush: () => (stopped ? chain : send(false)),
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      for (const type of ACTIVITY_EVENTS) win.removeEventListener(type, onActivity, listen);
      doc.removeEventListener('visibilitychange', onVisibility);
      win.removeEventListener('pagehide', onPageHide);
      win.removeEventListener('pageshow', onPageShow);
      void send(true);
    },
  };
}

/**
 * Tracks active time while the component is mounted (a new tracker when `report` changes: keep it
 * stable). Returns `flush`: report what accumulated and wait for the answers, or `timeoutMs` at
 * most (before a submit, so that the time counts towards the score it leads to, without holding
 * the submit up when the server is slow).
 */
export function useActiveTime(report: ReportActive): (timeoutMs?: number) => Promise<void> {
  const tracker = useRef<ActiveTracker | null>(null);
  useEffect(() => {
    const t = trackActiveTime(report);
    tracker.current = t;
    return () => {
      t.stop();
      if (tracker.current === t) tracker.current = null;
    };
  }, [report]);
  return useCallback((timeoutMs = 3000) => {
    const flushed = tracker.current?.flush();
    if (!flushed) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((ok) => {
      timer = setTimeout(ok, timeoutMs);
    });
    return Promise.race([flushed, late]).finally(() => clearTimeout(timer));
  }, []);
}
