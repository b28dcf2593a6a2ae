// The model registry shared by the header, the review panel and the correction history: one
// request per active model (the list is asked again after an activation or a rollback), so that
// AI changes read “AI (Pancreas v1)” instead of an id.

import { useMemo } from 'react';
import { listModels } from '../api/client';
import type { ModelEntry } from '../api/types';
import { useConfig } from './config';
import { useQuery } from './useQuery';

let shared: { activeId: string; promise: Promise<ModelEntry[]> } | null = null;

function load(activeId: string): Promise<ModelEntry[]> {
  if (!shared || shared.activeId !== activeId) {
    const promise = listModels().catch((e: unknown) => {
      if (shared?.promise === promise) shared = null;
      throw e;
    });
    shared = { activeId, promise };
  }
  return shared.promise;
}

/** The Models page's fresh list replaces the shared one. */
export function primeModels(activeId: string, list: ModelEntry[]): void {
  shared = { activeId, promise: Promise.resolve(list) };
}

/** Every registered model (undefined while loading or when the server has no registry). */
export function useModelRegistry(): ModelEntry[] | undefined {
  const { model } = useConfig();
  return useQuery(`registry/${model.id}`, () => load(model.id)).data;
}

const EMPTY: ReadonlyMap<string, string> = new Map();

/** Model names by id. */
export function useModelNames(): ReadonlyMap<string, string> {
  const list = useModelRegistry();
  return useMemo(() => (list ? new Map(list.filter((m) => m.name?.trim()).map((m) => [m.id, m.name.trim()])) : EMPTY), [list]);
}
