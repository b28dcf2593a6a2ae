// Whole-slide images (Aperio .svs, Hamamatsu .ndpi, …): what the server adds to a record of a
// slide, and its scored fields (`GET /api/images/{id}/fields`).
//
// Defined here by hand while docs/openapi.json does not describe them yet. Where the generated
// document is looser than what the UI relies on (the slide's metadata and a field's scores are
// free-form objects there), these narrowed types stay: each field is a place where the server's
// annotations could say more.

import type { ImageRecord } from './types';

/** `T` with the fields of `F` in place of its own. */
type With<T, F> = Omit<T, keyof F> & F;

/** One level of the slide's pyramid: its size and how much smaller than level 0 it is. */
export interface SlideLevel {
  width: number;
  height: number;
  downsample: number;
}

/** A slide's metadata, as the server read it from the file. */
export interface SlideMeta {
  /** OpenSlide's vendor name: "aperio", "hamamatsu", "mirax", "leica", "philips", "ventana", "generic-tiff", … */
  vendor: string;
  levels: SlideLevel[];
  /** Microns per level-0 pixel, when the file gives a plausible one. */
  mpp_x: number | null;
  mpp_y: number | null;
  /** The scanner objective's magnification (20, 40), when the file says it. */
  objective_power: number | null;
  /** Things to know that did not stop the slide being read, in words (no resolution, fluorescence…). */
  warnings: string[];
}

/** How far a slide's scoring has come: fields scored so far, fields to score. */
export interface FieldProgress {
  done: number;
  total: number;
}

export type RecordKind = 'image' | 'slide';

/** A record with what the server says about slides (absent from servers before slides). */
export type SlideAwareRecord = With<
  ImageRecord,
  {
    kind?: RecordKind | string;
    slide?: SlideMeta | null;
    progress?: FieldProgress | null;
  }
>;

/** One field of a slide: a rectangle in level-0 pixels and the scores the AI gave it. */
export interface FieldRow {
  /** Reading order on the slide (0-based), or the region's number. */
  index: number;
  /** Top left in level-0 pixels; may be negative (a field padded past the slide's edge). */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Share of the field's part inside the slide that is tissue, 0–1. */
  tissue_share: number;
  /** Scores by metric; null when the field could not be read. */
  scores: Record<string, number> | null;
  raw: number[] | null;
  /** Why the field has no scores ("unreadable: …"). */
  error: string | null;
  /** Drawn by a reviewer (a region of interest), not laid by the grid. */
  roi: boolean;
}

/** Per metric: the slide's draft and the distribution of its field scores (score units). */
export interface FieldDistribution {
  metric: string;
  draft: number;
  p10: number;
  p50: number;
  p90: number;
}

/** `GET /api/images/{id}/fields`. */
export interface SlideFields {
  image_id: number;
  model_id: string | null;
  /** Level-0 size of the slide. */
  width: number | null;
  height: number | null;
  fields: FieldRow[];
  /** Empty until a field has been scored. */
  distribution: FieldDistribution[];
}
