// @vitest-environment happy-dom
import { act, renderHook, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { useQuery } from './useQuery';

/** A promise settled by hand, and the signal its request got. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A fetcher whose calls are answered by hand, in any order. */
function manual<T>() {
  const calls: { signal: AbortSignal; answer: ReturnType<typeof deferred<T>> }[] = [];
  const fetcher = vi.fn((signal: AbortSignal) => {
    const answer = deferred<T>();
    calls.push({ signal, answer });
    return answer.promise;
  });
  const call = (i: number) => {
    const c = calls[i];
    if (!c) throw new Error(`no call ${i}`);
    return c;
  };
  return { fetcher, call };
}

describe('useQuery', () => {
  it('loads the data for its key', async () => {
    const { result } = renderHook(() => useQuery('a', async () => 'A'));
    expect(result.current.loading).toBe(true);
    expect(result.current.data).toBeUndefined();
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.data).toBe('A');
    expect(result.current.error).toBeUndefined();
  });

  it('ignores the answer of a request a newer key replaced, and aborts it', async () => {
    const { fetcher, call } = manual<string>();
    const { result, rerender } = renderHook(({ k }) => useQuery(k, fetcher), { initialProps: { k: 'a' } });
    rerender({ k: 'b' });
    expect(fetcher).toHaveBeenCalledTimes(2);
    expect(call(0).signal.aborted).toBe(true);
    expect(call(1).signal.aborted).toBe(false);

    await act(async () => call(1).answer.resolve('B'));
    expect(result.current.data).toBe('B');
    await act(async () => call(0).answer.resolve('A (stale)'));
    expect(result.current.data).toBe('B');
    expect(result.current.loading).toBe(false);
  });

  it('ignores a stale failure too', async () => {
    const { fetcher, call } = manual<string>();
    const { result, rerender } = renderHook(({ k }) => useQuery(k, fetcher), { initialProps: { k: 'a' } });
    rerender({ k: 'b' });
    await act(async () => call(0).answer.reject(new Error('stale')));
    expect(result.current.error).toBeUndefined();
    expect(result.current.loading).toBe(true);
  });

  it('surfaces an error and keeps the data it had', async () => {
    const { fetcher, call } = manual<string>();
    const { result } = renderHook(() => useQuery('a', fetcher));
    await act(async () => call(0).answer.resolve('first'));

    act(() => result.current.refetch());
    expect(result.current.loading).toBe(true);
    const boom = new Error('boom');
    await act(async () => call(1).answer.reject(boom));
    expect(result.current.error).toBe(boom);
    expect(result.current.data).toBe('first');
    expect(result.current.loading).toBe(false);

    act(() => result.current.refetch());
    await act(async () => call(2).answer.resolve('second'));
    expect(result.current.error).toBeUndefined();
    expect(result.current.data).toBe('second');
  });

  it('refetches on demand, aborting the request still running', async () => {
    const { fetcher, call } = manual<number>();
    const { result } = renderHook(() => useQuery('n', fetcher));
    act(() => result.current.refetch());
    expect(fetcher).toHaveBeenCalledTimes(2);
    expect(call(0).signal.aborted).toBe(true);
    await act(async () => call(0).answer.resolve(1));
    expect(result.current.data).toBeUndefined();
    await act(async () => call(1).answer.resolve(2));
    expect(result.current.data).toBe(2);
  });

  it('loads nothing while the key is null, keeping the data', async () => {
    const { fetcher, call } = manual<string>();
    const { result, rerender } = renderHook(({ k }) => useQuery(k, fetcher), { initialProps: { k: null as string | null } });
    expect(fetcher).not.toHaveBeenCalled();
    expect(result.current.loading).toBe(false);

    rerender({ k: 'a' });
    await act(async () => call(0).answer.resolve('A'));
    rerender({ k: null });
    expect(result.current.data).toBe('A');
    expect(result.current.loading).toBe(false);

    // Back to the same key: a new request, loading until it answers.
    rerender({ k: 'a' });
    expect(fetcher).toHaveBeenCalledTimes(2);
    expect(result.current.loading).toBe(true);
  });

  it('uses the latest fetcher for a new request', async () => {
    const { result, rerender } = renderHook(({ v }) => useQuery(`k${v}`, async () => v), { initialProps: { v: 1 } });
    await waitFor(() => expect(result.current.data).toBe(1));
    rerender({ v: 2 });
    await waitFor(() => expect(result.current.data).toBe(2));
  });

  it('lets the page change the data', async () => {
    const { result } = renderHook(() => useQuery('list', async () => [1, 2]));
    await waitFor(() => expect(result.current.data).toEqual([1, 2]));
    act(() => result.current.setData((d) => [...(d ?? []), 3]));
    expect(result.current.data).toEqual([1, 2, 3]);
  });

  it('aborts the running request on unmount', () => {
    const { fetcher, call } = manual<string>();
    const { unmount } = renderHook(() => useQuery('a', fetcher));
    unmount();
    expect(call(0).signal.aborted).toBe(true);
  });
});
