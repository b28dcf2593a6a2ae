// After a training run finishes, the server compares its model with the active one a few seconds
// later (and may promote it): the Models page waits for that comparison here.

import { useCallback, useEffect, useEffectEvent, useState } from 'react';
import type { ModelEvaluation, TrainingRun } from '../api/types';
import { COMPARISON_POLL_MS, comparisonWait, type AwaitedComparison } from './retraining';

export interface ComparisonWait {
  /** The model whose comparison is awaited; null when none is. */
  awaiting: string | null;
  /** Counts the polls: a key to ask again on (e.g. the evaluation set). */
  tick: number;
  /** How many times a comparison arrived, by model id: a key for that model's comparisons. */
  arrivals: ReadonlyMap<string, number>;
  /** A run finished with a model: wait for its comparison (a newer run replaces the one awaited). */
  expect: (run: Pick<TrainingRun, 'id' | 'model_id'>) => void;
}

/**
 * Polls the awaited model's comparisons (`fetchEvaluations`) every few seconds until one appears
 * or a minute has passed; `onSettled(arrived)` runs once either way.
 */
export function useComparisonWait(
  fetchEvaluations: (modelId: string, signal: AbortSignal) => Promise<ModelEvaluation[]>,
  onSettled: (arrived: boolean) => void,
): ComparisonWait {
  const [awaited, setAwaited] = useState<AwaitedComparison | null>(null);
  const [tick, setTick] = useState(0);
  const [arrivals, setArrivals] = useState<ReadonlyMap<string, number>>(() => new Map());
  const fetchList = useEffectEvent(fetchEvaluations);
  const settled = useEffectEvent(onSettled);

  useEffect(() => {
    if (!awaited) return;
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      let list: ModelEvaluation[] | undefined;
      try {
        list = await fetchList(awaited.modelId, ac.signal);
      } catch {
        list = undefined;
      }
      if (ac.signal.aborted) return;
      setTick((t) => t + 1);
      const step = comparisonWait(awaited, list, Date.now());
      if (step === 'wait') {
        timer = setTimeout(() => void poll(), COMPARISON_POLL_MS);
        return;
      }
      if (step === 'arrived') setArrivals((m) => new Map(m).set(awaited.modelId, (m.get(awaited.modelId) ?? 0) + 1));
      setAwaited(null);
      settled(step === 'arrived');
    };
    timer = setTimeout(() => void poll(), COMPARISON_POLL_MS);
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, [awaited]);

  const expect = useCallback((run: Pick<TrainingRun, 'id' | 'model_id'>) => {
    if (run.model_id) setAwaited({ modelId: run.model_id, runId: run.id, since: Date.now() });
  }, []);

  return { awaiting: awaited?.modelId ?? null, tick, arrivals, expect };
}
