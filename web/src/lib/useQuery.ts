// Loading data for a component: the request named by `key` runs when the key changes and on
// refetch(); a newer request, or unmounting, aborts the one before and drops its answer.

import { useCallback, useEffect, useEffectEvent, useState } from 'react';

export interface Query<T> {
  /** The latest answer; kept while a newer request runs and after one fails. */
  data: T | undefined;
  /** Why the latest request failed; undefined once one succeeds. */
  error: unknown;
  /** A request is running. */
  loading: boolean;
  /** Runs the request again (aborting one still running). */
  refetch: () => void;
  /** Changes the data here, e.g. to the server's answer to a change made on the page. */
  setData: (update: (data: T | undefined) => T | undefined) => void;
}

interface Result<T> {
  /** The request it answers. */
  seq: number;
  data?: T;
  error?: unknown;
}

/**
 * `fetcher`'s data for `key`; a null key loads nothing (and keeps the data). The key names
 * everything the fetcher reads: a new key is a new request.
 */
export function useQuery<T>(key: string | null, fetcher: (signal: AbortSignal) => Promise<T>): Query<T> {
  const [request, setRequest] = useState({ key, seq: 0 });
  // A new key is a new request, numbered during the render that sees it.
  if (request.key !== key) setRequest({ key, seq: request.seq + 1 });
  const [result, setResult] = useState<Result<T>>({ seq: -1 });
  const load = useEffectEvent(fetcher);

  useEffect(() => {
    if (request.key == null) return;
    const ac = new AbortController();
    const settle = (update: (r: Result<T>) => Result<T>) => {
      if (!ac.signal.aborted) setResult(update);
    };
    void (async () => {
      try {
        const data = await load(ac.signal);
        settle(() => ({ seq: request.seq, data }));
      } catch (error) {
        settle((r) => ({ seq: request.seq, data: r.data, error }));
      }
    })();
    return () => ac.abort();
  }, [request]);

  const refetch = useCallback(() => setRequest((r) => ({ ...r, seq: r.seq + 1 })), []);
  const setData = useCallback((update: (data: T | undefined) => T | undefined) => setResult((r) => ({ ...r, data: update(r.data) })), []);
  return { data: result.data, error: result.error, loading: request.key != null && result.seq !== request.seq, refetch, setData };
}
