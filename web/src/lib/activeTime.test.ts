// @vitest-environment happy-dom
import { renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { ActiveClock, afterFailure, IDLE_AFTER_MS, MAX_REPORT_MS, REPORT_EVERY_MS, splitReport, trackActiveTime, useActiveTime, type ActiveTracker } from './activeTime';

describe('ActiveClock', () => {
  it('counts visible time from the opening while the reader is active', () => {
    const c = new ActiveClock(1000, true);
    expect(c.take(6000)).toBe(5000);
    c.activity(30_000);
    expect(c.take(40_000)).toBe(34_000);
    expect(c.take(40_000)).toBe(0);
  });

  it('stops counting a minute after the last activity, and starts again with the next', () => {
    const c = new ActiveClock(0, true);
    c.activity(10_000);
    // Idle from 10 s: counts up to 70 s, then nothing until the reader moves at 200 s.
    expect(c.take(150_000)).toBe(10_000 + IDLE_AFTER_MS);
    c.activity(200_000);
    expect(c.take(205_000)).toBe(5000);
  });

  it('does not count a hidden page, and counts again once it is visible', () => {
    const c = new ActiveClock(0, true);
    c.setVisible(false, 4000);
    c.activity(5000); // whatever happens meanwhile
    expect(c.take(50_000)).toBe(4000);
    c.setVisible(true, 100_000);
    expect(c.take(103_000)).toBe(3000);
  });

  it('does not count a page opened hidden until it is shown', () => {
    const c = new ActiveClock(0, false);
    expect(c.take(20_000)).toBe(0);
    c.setVisible(true, 20_000);
    expect(c.take(21_000)).toBe(1000);
  });

  it('keeps fractions for the next report, takes back unsent time, and ignores a clock going back', () => {
    const c = new ActiveClock(0, true);
    expect(c.take(1.5)).toBe(1);
    expect(c.take(2)).toBe(1);
    c.giveBack(700);
    expect(c.take(2)).toBe(700);
    expect(c.take(1)).toBe(0);
    expect(c.take(3)).toBe(1);
  });
});

describe('splitReport', () => {
  it('never gives more than 60 000 ms a report, nor a report under 1 ms', () => {
    expect(splitReport(0)).toEqual([]);
    expect(splitReport(0.9)).toEqual([]);
    expect(splitReport(12_345)).toEqual([12_345]);
    expect(splitReport(MAX_REPORT_MS)).toEqual([60_000]);
    expect(splitReport(150_000)).toEqual([60_000, 60_000, 30_000]);
  });
});

describe('afterFailure', () => {
  it('sends the time again after a network or server failure, and stops when the read is gone', () => {
    expect(afterFailure(new ApiError(0, { error: 'network', detail: '' }))).toBe('retry');
    expect(afterFailure(new ApiError(503, { error: 'x', detail: '' }))).toBe('retry');
    expect(afterFailure(new ApiError(403, { error: 'forbidden', detail: '' }))).toBe('stop');
    expect(afterFailure(new ApiError(404, { error: 'not_found', detail: '' }))).toBe('stop');
    expect(afterFailure(new ApiError(422, { error: 'invalid', detail: '' }))).toBe('drop');
  });
});

describe('trackActiveTime', () => {
  let visibility: DocumentVisibilityState;
  let tracker: ActiveTracker | null;
  const reports: { ms: number; leaving: boolean }[] = [];
  let answer: () => Promise<unknown>;
  const report = vi.fn((ms: number, leaving: boolean) => {
    reports.push({ ms, leaving });
    return answer();
  });
  const start = () => {
    tracker = trackActiveTime(report, { now: () => Date.now() });
    return tracker;
  };
  const setVisibility = (v: DocumentVisibilityState) => {
    visibility = v;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  const move = () => window.dispatchEvent(new Event('pointermove'));
  const total = () => reports.reduce((s, r) => s + r.ms, 0);

  beforeEach(() => {
    vi.useFakeTimers();
    visibility = 'visible';
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
    reports.length = 0;
    report.mockClear();
    answer = () => Promise.resolve({});
    tracker = null;
  });
  afterEach(() => {
    tracker?.stop();
    vi.useRealTimers();
  });

  it('reports the active time every 10 s', async () => {
    start();
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    expect(reports).toEqual([{ ms: 10_000, leaving: false }]);
    move();
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    expect(reports).toEqual([
      { ms: 10_000, leaving: false },
      { ms: 10_000, leaving: false },
    ]);
  });

  it('does not count idle time: nothing after a minute without input, until the reader is back', async () => {
    start();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(total()).toBe(IDLE_AFTER_MS);
    const before = reports.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(reports.length).toBe(before); // nothing to report while idle
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowUp' }));
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    expect(total()).toBe(IDLE_AFTER_MS + REPORT_EVERY_MS);
  });

  it('reports at once (keepalive) when the page is hidden, and counts nothing while hidden', async () => {
    const t = start();
    await vi.advanceTimersByTimeAsync(4000);
    setVisibility('hidden');
    expect(reports).toEqual([{ ms: 4000, leaving: true }]);
    await vi.advanceTimersByTimeAsync(45_000);
    expect(reports).toHaveLength(1);
    setVisibility('visible');
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    await t.flush();
    expect(total()).toBe(4000 + REPORT_EVERY_MS);
  });

  it('reports what is left when the page goes away (pagehide) and when the image is left (stop)', async () => {
    start();
    await vi.advanceTimersByTimeAsync(2500);
    window.dispatchEvent(new Event('pagehide'));
    expect(reports).toEqual([{ ms: 2500, leaving: true }]);
    window.dispatchEvent(new Event('pageshow'));
    await vi.advanceTimersByTimeAsync(1500);
    tracker?.stop();
    expect(reports).toEqual([
      { ms: 2500, leaving: true },
      { ms: 1500, leaving: true },
    ]);
    // Stopped: no timer, no listeners.
    move();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(reports).toHaveLength(2);
  });

  it('flush reports at once and waits for the answers', async () => {
    let answered = false;
    answer = () => new Promise((ok) => setTimeout(() => ((answered = true), ok({})), 500));
    const t = start();
    await vi.advanceTimersByTimeAsync(3000);
    const done = t.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(reports).toEqual([{ ms: 3000, leaving: false }]);
    await vi.advanceTimersByTimeAsync(500);
    await done;
    expect(answered).toBe(true);
  });

  it('sends time that could not be reported with the next report, never over 60 000 ms at a time', async () => {
    answer = () => Promise.reject(new ApiError(0, { error: 'network', detail: '' }));
    start();
    // Eight failed reports: 80 s of activity (a move every 10 s) waits.
    for (let i = 0; i < 8; i++) {
      move();
      await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    }
    expect(reports.every((r) => r.ms <= MAX_REPORT_MS)).toBe(true);
    reports.length = 0;
    answer = () => Promise.resolve({});
    move();
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    expect(reports.map((r) => r.ms)).toEqual([60_000, 30_000]);
  });

  it('stops reporting when the server says the read is not the reader’s (403)', async () => {
    answer = () => Promise.reject(new ApiError(403, { error: 'forbidden', detail: '' }));
    start();
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    expect(reports).toHaveLength(1);
    move();
    await vi.advanceTimersByTimeAsync(3 * REPORT_EVERY_MS);
    expect(reports).toHaveLength(1);
  });
});

describe('useActiveTime', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
  });
  afterEach(() => vi.useRealTimers());

  it('reports while mounted, flushes before a submit without waiting on a slow server, and reports the rest on unmount', async () => {
    const sent: [number, boolean][] = [];
    let slow = false;
    const report = (ms: number, leaving: boolean) => {
      sent.push([ms, leaving]);
      return slow ? new Promise(() => {}) : Promise.resolve();
    };
    const { result, unmount } = renderHook(() => useActiveTime(report));
    await vi.advanceTimersByTimeAsync(REPORT_EVERY_MS);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.[1]).toBe(false);
    // A server that never answers holds a submit up for the timeout at most.
    slow = true;
    await vi.advanceTimersByTimeAsync(2000);
    let flushed = false;
    void result.current(3000).then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(2999);
    expect(flushed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(flushed).toBe(true);
    expect(sent).toHaveLength(2);
    unmount();
    expect(sent[2]?.[1]).toBe(true); // the rest, sent as the image is left
  });
});
