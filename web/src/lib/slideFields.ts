// A slide's scored fields for the viewer's heatmap and the review panel's field scores: one
// request per slide and draft, shared by both (a slide may have thousands of fields).

import { ApiError, getSlideFields } from '../api/client';
import type { SlideFields } from '../api/slides';
import type { ImageRecord } from '../api/types';
import { isSlide } from './slides';
import { useQuery, type Query } from './useQuery';

const cache = new Map<string, Promise<SlideFields | null>>();
const KEEP = 6;

/**
 * What a slide's fields depend on: its draft (a new draft brings new fields), and whether it is
 * scored. Null for images, and while the slide is being scored (the last fields stay shown).
 */
export function slideFieldsKey(r: ImageRecord | null | undefined): string | null {
  if (!r || !isSlide(r)) return null;
  if (r.status !== 'scored' && r.status !== 'failed') return null;
  return `fields/${r.id}/${r.status}/${r.draft?.model_id ?? ''}/${r.draft?.created_at ?? ''}`;
}

function load(id: number, key: string): Promise<SlideFields | null> {
  let p = cache.get(key);
  if (!p) {
    p = getSlideFields(id).catch((e: unknown) => {
      // Not a slide, or a blinded reader before their own score: nothing to show.
      if (e instanceof ApiError && (e.status === 403 || e.status === 404)) return null;
      cache.delete(key);
      throw e;
    });
    cache.set(key, p);
    while (cache.size > KEEP) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
  }
  return p;
}

/** Forgets every slide's fields (logout: the next user may not see them). */
export function clearSlideFields(): void {
  cache.clear();
}

/** The record's fields: null when it is no slide or they are not the caller's to see. */
export function useSlideFields(r: ImageRecord | null | undefined): Query<SlideFields | null> {
  const key = slideFieldsKey(r);
  const id = r?.id ?? 0;
  return useQuery(key, () => {
    if (key == null) return Promise.resolve(null);
    return load(id, key);
  });
}
