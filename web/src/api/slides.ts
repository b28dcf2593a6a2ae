// Whole-slide images (Aperio .svs, Hamamatsu .ndpi, …): what the server adds to a record of a
// slide (`ImageRecord.kind`, `.slide`, `.progress`), its scored fields (`GET
// /api/images/{id}/fields`) and regions of interest (`POST /api/images/{id}/roi`).
//
// As in types.ts: the generated types (docs/openapi.json → schema.gen.d.ts) wherever they are
// exact; narrowed, with a comment, only where the document is looser than what the UI relies on.
// Each narrowing is a place where the server's annotations could say more.

import type { components } from './schema.gen';
import type { With } from './types';

type Schemas = components['schemas'];

/** How far a slide's scoring has come: fields scored so far, fields to score. */
export type Progress = Schemas['Progress'];

/** Per metric: the slide's draft and the distribution of its field scores (score units). */
export type Distribution = Schemas['Distribution'];

/** One level of the slide's pyramid: its size and how much smaller than level 0 it is. */
export interface SlideLevel {
  width: number;
  height: number;
  downsample: number;
}

/**
 * A slide's metadata, as the server read it from the file. Narrowed: the document says
 * `ImageRecord.slide` is a free-form object (lib/slides.ts `slideOf` reads it into this shape).
 */
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

/**
 * One field of a slide (a rectangle in level-0 pixels and the scores the AI gave it), or a
 * region of interest a reviewer drew (`roi: true`, numbered 1, 2, … after the grid's fields).
 */
export type FieldRow = With<
  Schemas['FieldRow'],
  {
    // Narrowed: the document says a free-form object; it is a number per metric name.
    scores?: Record<string, number> | null;
  }
>;

/** `GET /api/images/{id}/fields`: the grid's fields, then the regions of interest. */
export type SlideFields = With<Schemas['SlideFields'], { fields: FieldRow[] }>;

/**
 * `POST /api/images/{id}/roi`'s body: a rectangle in level-0 pixels, integers, at least 64 × 64,
 * inside the slide.
 */
export type Region = Schemas['Region'];
