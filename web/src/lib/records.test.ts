import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ImageRecord } from '../api/types';
import { clearRecords, getEntry, handleImageEvent, putRecord, refreshRecord } from './records';

const rec = (id: number, version: number, status: ImageRecord['status']) =>
  ({ id, version, status, filename: `f${id}.tif`, scores: {}, draft: null }) as unknown as ImageRecord;

afterEach(() => vi.unstubAllGlobals());

describe('record cache', () => {
  it('keeps the newest version', () => {
    putRecord(rec(1, 3, 'scored'));
    putRecord(rec(1, 2, 'scoring'));
    expect(getEntry(1)?.record.version).toBe(3);
    expect(getEntry(1)?.etag).toBe('"3"');
  });

  it('does not lose a change announced while a GET is in flight', async () => {
    putRecord(rec(2, 1, 'queued'));
    const answers = [rec(2, 2, 'scoring'), rec(2, 3, 'scored')];
    let release: () => void = () => {};
    const gate = new Promise<void>((ok) => (release = ok));
    const fetchMock = vi.fn(async () => {
      const body = answers.shift();
      if (body?.version === 2) await gate; // the first GET is slow
      return new Response(JSON.stringify(body), { status: 200, headers: { ETag: `"${body?.version}"` } });
    });
    vi.stubGlobal('fetch', fetchMock);
    handleImageEvent({ id: 2, status: 'scoring', version: 2 });
    // While that GET runs, scoring finishes.
    handleImageEvent({ id: 2, status: 'scored', version: 3 });
    release();
    await refreshRecord(2);
    await vi.waitFor(() => expect(getEntry(2)?.record.status).toBe('scored'));
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it('ignores events for records it does not show', () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    handleImageEvent({ id: 99, status: 'scored', version: 5 });
    expect(fetchMock).not.toHaveBeenCalled();
  });
});

describe('a slide being scored', () => {
  const progressOf = (id: number) => (getEntry(id)?.record as unknown as { progress?: { done: number; total: number } }).progress;

  it('counts its fields from events, without asking the server again', () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    putRecord({ ...rec(20, 2, 'scoring'), kind: 'slide', progress: { done: 0, total: 40 } } as unknown as ImageRecord);
    handleImageEvent({ id: 20, status: 'scoring', version: 2, progress: { done: 12, total: 40 } });
    expect(progressOf(20)).toEqual({ done: 12, total: 40 });
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('does not count back when an older answer of the same version arrives', () => {
    putRecord({ ...rec(21, 2, 'scoring'), progress: { done: 30, total: 40 } } as unknown as ImageRecord);
    putRecord({ ...rec(21, 2, 'scoring'), progress: { done: 25, total: 40 } } as unknown as ImageRecord);
    expect(progressOf(21)).toEqual({ done: 30, total: 40 });
    // A new version (scored) is taken as it is.
    putRecord({ ...rec(21, 3, 'scored'), progress: { done: 40, total: 40 } } as unknown as ImageRecord);
    expect(getEntry(21)?.record.status).toBe('scored');
    expect(progressOf(21)).toEqual({ done: 40, total: 40 });
  });
});

describe('logout', () => {
  it('forgets every record, so the next user sees only what the server gives them', () => {
    putRecord(rec(9, 1, 'scored'));
    expect(getEntry(9)).toBeDefined();
    clearRecords();
    expect(getEntry(9)).toBeUndefined();
  });
});
