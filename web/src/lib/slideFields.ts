// A slide's scored fields for the viewer's heatmap and the review panel's field scores: one
// request per slide and draft, shared by both (a slide may have thousands of fields). A region
// of interest drawn in the viewer is sent from here; it forgets that slide's fields, and every
// component showing them asks again (the answer lists the new region after the grid's fields).

import { useSyncExternalStore } from 'react';
import { ApiError, getSlideFields, postRegion } from '../api/client';
import type { FieldRow, Region, SlideFields } from '../api/slides';
import type { ImageRecord } from '../api/types';
import { isSlide } from './slides';
import { useQuery, type Query } from './useQuery';

const cache = new Map<string, Promise<SlideFields | null>>();
const KEEP = 6;

/** Per slide, how many times its fields were invalidated: part of the key, so a change asks again. */
const revisions = new Map<number, number>();
const listeners = new Set<() => void>();

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

const prefix = (id: number) => `fields/${id}/`;

/**
 * What a slide's fields depend on: its draft (a new draft brings new fields), and whether it is
 * scored. Null for images, and while the slide is being scored (the last fields stay shown).
 */
export function slideFieldsKey(r: ImageRecord | null | undefined): string | null {
  if (!r || !isSlide(r)) return null;
  if (r.status !== 'scored' && r.status !== 'failed') return null;
  return `${prefix(r.id)}${r.status}/${r.draft?.model_id ?? ''}/${r.draft?.created_at ?? ''}`;
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

/**
 * Forgets one slide's fields: every component showing them loads them again (keeping what it
 * shows until the answer comes).
 */
export function invalidateSlideFields(id: number): void {
  for (const key of [...cache.keys()]) if (key.startsWith(prefix(id))) cache.delete(key);
  revisions.set(id, (revisions.get(id) ?? 0) + 1);
  for (const l of listeners) l();
}

/**
 * Scores a region of interest of the slide (level-0 pixels, whole, inside it) and then reloads
 * its fields, the region among them. Answers the region as the server scored it.
 */
export async function drawRegion(id: number, region: Region): Promise<FieldRow> {
  const field = await postRegion(id, region);
  invalidateSlideFields(id);
  return field;
}

/** The record's fields: null when it is no slide or they are not the caller's to see. */
export function useSlideFields(r: ImageRecord | null | undefined): Query<SlideFields | null> {
  const base = slideFieldsKey(r);
  const id = r?.id ?? 0;
  const revision = useSyncExternalStore(subscribe, () => revisions.get(id) ?? 0);
  const key = base == null ? null : `${base}#${revision}`;
  return useQuery(key, () => {
    if (key == null) return Promise.resolve(null);
    return load(id, key);
  });
}
