// @vitest-environment happy-dom
import { act, renderHook } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ImageRecord } from '../api/types';
import { clearRecords, getEntry, putRecord } from './records';
import { useScoreEditor } from './useScoreEditor';

const record = (id: number, version: number, scores: Record<string, number>) =>
  ({ id, version, status: 'scored', review_status: 'unreviewed', filename: 'CMU-1.svs', scores, draft: null }) as unknown as ImageRecord;

interface Call {
  url: string;
  ifMatch: string | undefined;
  body: { scores?: Record<string, number>; reason?: string; reviewed?: boolean };
}

/** A server that applies score changes to its own copy, or answers each with `answers` first. */
function server(start: ImageRecord, answers: ((c: Call) => Response)[] = []) {
  let current = start;
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const headers = init.headers as Record<string, string>;
      const call: Call = { url, ifMatch: headers['If-Match'], body: JSON.parse(String(init.body)) as Call['body'] };
      calls.push(call);
      const answer = answers.shift();
      if (answer) return answer(call);
      current = { ...current, version: current.version + 1, scores: { ...current.scores, ...call.body.scores } };
      return new Response(JSON.stringify(current), { status: 200 });
    }),
  );
  return { calls, now: () => current };
}

describe('setting scores taken from a region of interest', () => {
  afterEach(() => {
    clearRecords();
    vi.unstubAllGlobals();
  });

  it('saves them as one correction with its reason and the record’s ETag', async () => {
    putRecord(record(1, 4, { fibrosis: 1, inflammation: 1 }));
    const { calls } = server(record(1, 4, { fibrosis: 1, inflammation: 1 }));
    const { result } = renderHook(() => useScoreEditor(1));
    let ok = false;
    await act(async () => {
      ok = await result.current.applyScores({ fibrosis: 2, inflammation: 1.5 }, 'scores of ROI 1');
    });
    expect(ok).toBe(true);
    expect(calls).toEqual([{ url: '/api/images/1/scores', ifMatch: '"4"', body: { scores: { fibrosis: 2, inflammation: 1.5 }, reason: 'scores of ROI 1' } }]);
    expect(result.current.status.kind).toBe('saved');
    expect(getEntry(1)?.record.scores).toEqual({ fibrosis: 2, inflammation: 1.5 });
    expect(result.current.local).toEqual({});
  });

  it('sends edits typed before on their own, without the reason', async () => {
    putRecord(record(2, 1, { fibrosis: 1, inflammation: 1 }));
    const { calls } = server(record(2, 1, { fibrosis: 1, inflammation: 1 }));
    const { result } = renderHook(() => useScoreEditor(2));
    act(() => result.current.setValue('inflammation', 3));
    await act(async () => {
      await result.current.applyScores({ fibrosis: 2 }, 'scores of ROI 2');
    });
    expect(calls.map((c) => [c.ifMatch, c.body])).toEqual([
      ['"1"', { scores: { inflammation: 3 } }],
      ['"2"', { scores: { fibrosis: 2 }, reason: 'scores of ROI 2' }],
    ]);
    // A later edit goes without it.
    act(() => result.current.setValue('inflammation', 2));
    await act(async () => {
      await result.current.flush();
    });
    expect(calls[2]?.body).toEqual({ scores: { inflammation: 2 } });
  });

  it('keeps them and the reason through a conflict, and sends both again on "mine"', async () => {
    putRecord(record(3, 5, { fibrosis: 1 }));
    const theirs = record(3, 6, { fibrosis: 0.5 });
    const { calls } = server(theirs, [
      () => new Response(JSON.stringify({ error: 'conflict', detail: 'changed meanwhile', current: theirs }), { status: 409 }),
    ]);
    const { result } = renderHook(() => useScoreEditor(3));
    let ok = true;
    await act(async () => {
      ok = await result.current.applyScores({ fibrosis: 2 }, 'scores of ROI 1');
    });
    expect(ok).toBe(false);
    expect(result.current.status).toMatchObject({ kind: 'conflict', mine: { fibrosis: 2 } });
    await act(async () => {
      ok = await result.current.resolveConflict('mine');
    });
    expect(ok).toBe(true);
    expect(calls.map((c) => [c.ifMatch, c.body])).toEqual([
      ['"5"', { scores: { fibrosis: 2 }, reason: 'scores of ROI 1' }],
      ['"6"', { scores: { fibrosis: 2 }, reason: 'scores of ROI 1' }],
    ]);
  });
});
