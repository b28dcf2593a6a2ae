// @vitest-environment happy-dom
import { act, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModelEvaluation } from '../api/types';
import { COMPARISON_POLL_MS, COMPARISON_WAIT_MS } from './retraining';
import { useComparisonWait } from './useComparisonWait';

const evaluation = (model_id: string) => ({ id: 1, model_id }) as ModelEvaluation;

/** Lets the timer's poll run and its answer settle. */
async function pollOnce() {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(COMPARISON_POLL_MS);
  });
}

describe('useComparisonWait', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('polls the finished run’s model until its comparison appears, then settles once', async () => {
    const answers: ModelEvaluation[][] = [[], [], [evaluation('m')]];
    const fetch = vi.fn(async (_id: string, _signal: AbortSignal) => answers.shift() ?? []);
    const settled = vi.fn();
    const { result } = renderHook(() => useComparisonWait(fetch, settled));
    expect(result.current.awaiting).toBeNull();

    act(() => result.current.expect({ id: 7, model_id: 'm' }));
    expect(result.current.awaiting).toBe('m');
    await pollOnce();
    await pollOnce();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(fetch.mock.calls[0]?.[0]).toBe('m');
    expect(result.current.tick).toBe(2);
    expect(settled).not.toHaveBeenCalled();

    await pollOnce();
    expect(settled).toHaveBeenCalledExactlyOnceWith(true);
    expect(result.current.awaiting).toBeNull();
    expect(result.current.arrivals.get('m')).toBe(1);
    // Nothing more is asked.
    await pollOnce();
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  it('gives up after a minute, also when asking fails', async () => {
    const fetch = vi.fn(async (): Promise<ModelEvaluation[]> => {
      throw new Error('offline');
    });
    const settled = vi.fn();
    const { result } = renderHook(() => useComparisonWait(fetch, settled));
    act(() => result.current.expect({ id: 7, model_id: 'm' }));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(COMPARISON_WAIT_MS + COMPARISON_POLL_MS);
    });
    expect(settled).toHaveBeenCalledExactlyOnceWith(false);
    expect(result.current.awaiting).toBeNull();
    expect(result.current.arrivals.size).toBe(0);
    const calls = fetch.mock.calls.length;
    await pollOnce();
    expect(fetch).toHaveBeenCalledTimes(calls);
  });

  it('ignores a run without a model, and a newer run replaces the one awaited', async () => {
    const fetch = vi.fn(async (id: string) => (id === 'b' ? [evaluation('b')] : []));
    const settled = vi.fn();
    const { result } = renderHook(() => useComparisonWait(fetch, settled));
    act(() => result.current.expect({ id: 1, model_id: null }));
    expect(result.current.awaiting).toBeNull();
    act(() => result.current.expect({ id: 2, model_id: 'a' }));
    act(() => result.current.expect({ id: 3, model_id: 'b' }));
    await pollOnce();
    expect(fetch.mock.calls.map((c) => c[0])).toEqual(['b']);
    expect(settled).toHaveBeenCalledExactlyOnceWith(true);
    expect(result.current.arrivals.get('b')).toBe(1);
  });

  it('stops asking when the page goes', async () => {
    const fetch = vi.fn(async (_id: string, _signal: AbortSignal): Promise<ModelEvaluation[]> => []);
    const { result, unmount } = renderHook(() => useComparisonWait(fetch, () => {}));
    act(() => result.current.expect({ id: 1, model_id: 'a' }));
    unmount();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(COMPARISON_WAIT_MS);
    });
    expect(fetch).not.toHaveBeenCalled();
  });
});
