// Whole-slide images in the UI: the heatmap's colours and legend, the scale bar, the words for a
// slide's facts, progress and field scores, which field lies under a point, and regions of
// interest (the rectangle a drag draws, its label and scores). Pure functions;
// components/Viewer.tsx and components/SlidePanel.tsx show them.

import type { ImageRecord, Schema } from '../api/types';
import type { Distribution, FieldRow, Progress, Region, SlideLevel, SlideMeta } from '../api/slides';
import { actorLabel } from './audit';
import { factsOf, plainError } from './errors';
import { decimalsOf, formatScore } from './scores';

// ---- The record ----

/** The record is a whole-slide image (scored field by field). */
export function isSlide(r: ImageRecord | null | undefined): boolean {
  if (!r) return false;
  return r.kind === 'slide' || (r.slide != null && typeof r.slide === 'object');
}

/** The slide's metadata (the record's free-form `slide` read into its shape), or null for an ordinary image. */
export function slideOf(r: ImageRecord | null | undefined): SlideMeta | null {
  const s = r?.slide;
  if (!s || typeof s !== 'object') return null;
  return {
    vendor: typeof s.vendor === 'string' ? s.vendor : '',
    levels: Array.isArray(s.levels) ? s.levels.filter(isLevel) : [],
    mpp_x: positive(s.mpp_x),
    mpp_y: positive(s.mpp_y),
    objective_power: positive(s.objective_power),
    warnings: Array.isArray(s.warnings) ? s.warnings.filter((w): w is string => typeof w === 'string' && w.trim() !== '') : [],
  };
}

const positive = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null);

function isLevel(l: unknown): l is SlideLevel {
  if (!l || typeof l !== 'object') return false;
  const { width, height } = l as Partial<SlideLevel>;
  return positive(width) != null && positive(height) != null;
}

/** Fields scored so far while a slide is scored, or null. */
export function progressOf(r: ImageRecord | null | undefined): Progress | null {
  return validProgress(r?.progress);
}

export function validProgress(p: unknown): Progress | null {
  if (!p || typeof p !== 'object') return null;
  const { done, total } = p as Partial<Progress>;
  if (typeof done !== 'number' || typeof total !== 'number' || !(total > 0) || done < 0) return null;
  return { done: Math.min(done, total), total };
}

/** "Scoring fields 12 / 40" while a slide is queued or scored and its fields are counted; else null. */
export function fieldProgressText(status: string, progress: Progress | null): string | null {
  if (status !== 'queued' && status !== 'scoring') return null;
  if (!progress) return null;
  return `Scoring fields ${progress.done} / ${progress.total}`;
}

/** The share of fields scored, 0–100 (for a progress bar). */
export function progressPercent(progress: Progress): number {
  return Math.round((100 * progress.done) / progress.total);
}

// ---- Facts about the slide ----

const VENDORS: Record<string, string> = {
  aperio: 'Aperio',
  hamamatsu: 'Hamamatsu',
  leica: 'Leica',
  mirax: 'MIRAX (3DHISTECH)',
  philips: 'Philips',
  ventana: 'Ventana',
  sakura: 'Sakura',
  trestle: 'Trestle',
  'generic-tiff': 'pyramidal TIFF',
  dicom: 'DICOM',
};

/** The scanner's maker in words ("aperio" → "Aperio"); the server's name when unknown. */
export function vendorLabel(vendor: string): string {
  const v = vendor.trim();
  return VENDORS[v.toLowerCase()] ?? (v || 'unknown scanner');
}

/** "0.499 µm per pixel" (three decimals at most); both when x and y differ by more than 1 %. */
export function formatMpp(x: number | null, y: number | null): string {
  if (x == null) return 'resolution unknown';
  const f = (v: number) => String(Number(v.toPrecision(3)));
  if (y != null && Math.abs(x - y) / x > 0.01) return `${f(x)} × ${f(y)} µm per pixel`;
  return `${f(x)} µm per pixel`;
}

/** "20×" (a decimal when the file says one), or null. */
export function formatObjective(power: number | null): string | null {
  if (power == null) return null;
  return `${Number(power.toFixed(1))}×`;
}

/** A pixel count with thin groups: 46000 → "46 000". */
export function formatPixels(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
}

export interface SlideFact {
  label: string;
  value: string;
  testId: string;
}

/** The slide's facts for the review panel, in the order a pathologist reads them. */
export function slideFacts(meta: SlideMeta, width: number | null | undefined, height: number | null | undefined): SlideFact[] {
  const level0 = meta.levels[0];
  const w = width ?? level0?.width ?? null;
  const h = height ?? level0?.height ?? null;
  const facts: SlideFact[] = [{ label: 'Scanner', value: vendorLabel(meta.vendor), testId: 'slide-vendor' }];
  if (w != null && h != null) facts.push({ label: 'Size', value: `${formatPixels(w)} × ${formatPixels(h)} px`, testId: 'slide-size' });
  facts.push({ label: 'Resolution', value: formatMpp(meta.mpp_x, meta.mpp_y), testId: 'slide-mpp' });
  const objective = formatObjective(meta.objective_power);
  facts.push({ label: 'Objective', value: objective ?? 'not recorded', testId: 'slide-objective' });
  const n = meta.levels.length;
  if (n > 0) facts.push({ label: 'Pyramid', value: n === 1 ? 'one level' : `${n} levels`, testId: 'slide-levels' });
  return facts;
}

/** A warning of the server as a sentence: capital first, full stop last. */
export function warningSentence(w: string): string {
  const t = w.trim().replace(/[.;:,]+$/, '');
  return t ? `${t[0]?.toUpperCase() ?? ''}${t.slice(1)}.` : '';
}

// ---- Field scores ----

/** The tooltip beside a slide draft's "± x.xx". */
export const SLIDE_SPREAD_HELP = 'spread of the field scores (90th minus 10th percentile)';

/** The field scores' range for a metric: "fields p10–p90: 1.0–2.5, median 1.5". */
export function distributionText(d: Distribution, step: number): string {
  const f = (v: number) => fixedScore(v, step);
  return `fields p10–p90: ${f(d.p10)}–${f(d.p90)}, median ${f(d.p50)}`;
}

/** A score with the step's decimals, at least one: 2 → "2.0", 1.25 → "1.25" (step 0.25). */
export function fixedScore(v: number | null | undefined, step: number): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(Math.max(1, decimalsOf(step))) : '–';
}

export interface FieldCounts {
  /** Grid fields with scores (those the draft is made of). */
  scored: number;
  unreadable: number;
  /** Regions of interest a reviewer drew. */
  regions: number;
}

export function fieldCounts(fields: readonly FieldRow[]): FieldCounts {
  const c: FieldCounts = { scored: 0, unreadable: 0, regions: 0 };
  for (const f of fields) {
    if (f.roi) c.regions++;
    else if (f.scores == null) c.unreadable++;
    else c.scored++;
  }
  return c;
}

/** "Scored on 38 fields", with the unreadable ones when there are any. */
export function fieldCountText(c: FieldCounts): string {
  const main = c.scored === 1 ? 'Scored on 1 field' : `Scored on ${c.scored} fields`;
  return c.unreadable > 0 ? `${main} (${c.unreadable} could not be read)` : main;
}

/** "tissue 64 %" */
export function formatTissue(share: number): string {
  return `tissue ${Math.round(Math.min(1, Math.max(0, share)) * 100)} %`;
}

/**
 * What hovering a field shows: its name, its tissue share, then each metric's score (or why
 * none). A region of interest: its label and who drew it, then its scores.
 */
export function fieldSummary(f: FieldRow, schema: Schema): { title: string; lines: string[] } {
  // Numbered as in the downloads (the CSV's `field`, QuPath's "Field 12").
  const title = f.roi ? `${roiLabel(f)} · drawn by ${roiAuthor(f)}` : `Field ${f.index} · ${formatTissue(f.tissue_share)}`;
  if (f.scores == null) return { title, lines: [f.error ? unreadableText(f.error) : 'unreadable'] };
  const scores = f.scores;
  return { title, lines: schema.metrics.map((m) => `${m.name}: ${formatScore(scores[m.name], schema.step)}`) };
}

/** "unreadable: bad tile" stays; anything else is said to be unreadable. */
function unreadableText(error: string): string {
  const e = error.trim();
  return /^unreadable\b/i.test(e) ? e : `unreadable: ${e}`;
}

// ---- The heatmap ----

export type Rgb = [number, number, number];

/** Viridis at five stops, as the server's heatmap PNGs draw it. */
export const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** The ramp's colour at t (0–1, clamped), linear between the stops. */
export function rampRgb(t: number): Rgb {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const pos = x * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(pos));
  const f = pos - i;
  const a = VIRIDIS[i] as Rgb;
  const b = VIRIDIS[i + 1] as Rgb;
  return [0, 1, 2].map((k) => Math.round((a[k] as number) + ((b[k] as number) - (a[k] as number)) * f)) as Rgb;
}

/** A score's colour on the metric's range 0..max, as CSS. */
export function scoreColour(score: number, max: number): string {
  const [r, g, b] = rampRgb(max > 0 ? score / max : 0);
  return `rgb(${r}, ${g}, ${b})`;
}

/** The legend's bar: the ramp left (0) to right (max). */
export function legendGradient(): string {
  const stops = VIRIDIS.map(([r, g, b], i) => `rgb(${r}, ${g}, ${b}) ${(i * 100) / (VIRIDIS.length - 1)}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** The legend's labels: 0, the middle and the maximum of the metric's range. */
export function legendTicks(max: number): { value: number; label: string; at: number }[] {
  return [0, max / 2, max].map((v, i) => ({ value: v, label: String(Number(v.toFixed(2))), at: i * 50 }));
}

export interface Cell {
  /** Index into the fields. */
  field: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The smallest positive gap between distinct values: the grid's stride. */
function stride(values: number[], fallback: number): number {
  const sorted = [...new Set(values.map((v) => Math.round(v)))].sort((a, b) => a - b);
  let best = Infinity;
  for (let i = 1; i < sorted.length; i++) {
    const d = (sorted[i] as number) - (sorted[i - 1] as number);
    if (d > 0 && d < best) best = d;
  }
  return Number.isFinite(best) ? best : fallback;
}

/**
 * Where each field is drawn: fields of the grid overlap (by half, by default), so each is drawn
 * as the part nearest its own centre (a stride-sized rectangle centred on it), and the cells tile
 * the tissue without overlapping. Regions of interest are drawn whole. Clipped to the slide.
 */
export function fieldCells(fields: readonly FieldRow[], width?: number | null, height?: number | null): Cell[] {
  const grid = fields.filter((f) => !f.roi);
  const sx = stride(
    grid.map((f) => f.x),
    Infinity,
  );
  const sy = stride(
    grid.map((f) => f.y),
    Infinity,
  );
  const cells: Cell[] = [];
  fields.forEach((f, i) => {
    let w = f.width;
    let h = f.height;
    if (!f.roi) {
      w = Math.min(f.width, sx);
      h = Math.min(f.height, sy);
    }
    let x = f.x + (f.width - w) / 2;
    let y = f.y + (f.height - h) / 2;
    let x1 = x + w;
    let y1 = y + h;
    x = Math.max(0, x);
    y = Math.max(0, y);
    if (width != null && width > 0) x1 = Math.min(width, x1);
    if (height != null && height > 0) y1 = Math.min(height, y1);
    if (x1 > x && y1 > y) cells.push({ field: i, x, y, width: x1 - x, height: y1 - y });
  });
  return cells;
}

// ---- The scale bar ----

/** Round lengths in µm: 1-2-5 from 1 µm to 50 mm. */
const LENGTHS_UM = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];

/** "100 µm", "1 mm", "0.5 µm". */
export function formatLength(um: number): string {
  if (um >= 1000) return `${Number((um / 1000).toFixed(3))} mm`;
  return `${Number(um.toFixed(3))} µm`;
}

export interface ScaleBar {
  /** The length shown, in µm. */
  um: number;
  /** Its length on the screen, in CSS pixels. */
  px: number;
  label: string;
}

/**
 * The scale bar for the view: the shortest round length (1, 2, 5 × 10ⁿ µm) at least `minPx`
 * screen pixels long, so between 100 and 250 px with the default. `screenPerImagePx` is screen
 * pixels per level-0 pixel (the zoom). Null without a resolution or zoom, or when even the
 * longest round length is too short.
 */
export function chooseScaleBar(umPerPx: number | null, screenPerImagePx: number | null, minPx = 100): ScaleBar | null {
  if (umPerPx == null || screenPerImagePx == null || !(umPerPx > 0) || !(screenPerImagePx > 0)) return null;
  const pxPerUm = screenPerImagePx / umPerPx;
  for (const um of LENGTHS_UM) {
    const px = um * pxPerUm;
    if (px >= minPx - 1e-9) return { um, px, label: formatLength(um) };
  }
  return null;
}

// ---- Regions of interest ----

/** The smallest region the server scores, per side, in level-0 pixels. */
export const MIN_REGION_SIDE = 64;

export interface Point {
  x: number;
  y: number;
}

/** A rectangle in level-0 pixels (fractions allowed until it is sent). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The rectangle with these two corners, whichever way the drag went. */
export function rectFromPoints(a: Point, b: Point): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.abs(b.x - a.x), height: Math.abs(b.y - a.y) };
}

/** The part of the rectangle on the slide (0..width × 0..height); null when none of it is. */
export function clampRect(r: Rect, width: number, height: number): Rect | null {
  const x0 = Math.max(0, r.x);
  const y0 = Math.max(0, r.y);
  const x1 = Math.min(width, r.x + r.width);
  const y1 = Math.min(height, r.y + r.height);
  if (!(x1 > x0) || !(y1 > y0)) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Whole pixels: the corners rounded, so that a rectangle inside the slide stays inside it. */
export function roundRect(r: Rect): Region {
  const x = Math.round(r.x);
  const y = Math.round(r.y);
  return { x, y, width: Math.round(r.x + r.width) - x, height: Math.round(r.y + r.height) - y };
}

/** Big enough for the server to score (at least 64 × 64 level-0 pixels). */
export function largeEnough(r: Rect, min = MIN_REGION_SIDE): boolean {
  return r.width >= min && r.height >= min;
}

export type RegionDraw = { ok: true; region: Region } | { ok: false; message: string };

/** What the person did wrong, in words. */
export const REGION_TOO_SMALL = `Draw a larger region: at least ${MIN_REGION_SIDE} × ${MIN_REGION_SIDE} pixels of the slide.`;
export const REGION_OUTSIDE = 'Draw the region on the slide: this one lies outside it.';

/**
 * The region a drag from `a` to `b` (level-0 pixels) draws on a slide of `width` × `height`:
 * clamped to the slide, in whole pixels, or why it cannot be sent.
 */
export function regionFromDrag(a: Point, b: Point, width: number, height: number): RegionDraw {
  const clamped = clampRect(rectFromPoints(a, b), width, height);
  // Nothing on the slide: a click (or a line) on it is too small, a drag beside it outside it.
  const startsOnSlide = a.x >= 0 && a.y >= 0 && a.x <= width && a.y <= height;
  if (!clamped) return { ok: false, message: startsOnSlide ? REGION_TOO_SMALL : REGION_OUTSIDE };
  const region = roundRect(clamped);
  if (!largeEnough(region)) return { ok: false, message: REGION_TOO_SMALL };
  return { ok: true, region };
}

/**
 * The corner of a rectangle (level-0 pixels) that the screen shows top left when the view is
 * turned `rotation` degrees clockwise (quarter turns): where its label goes.
 */
export function screenTopLeft(r: Rect, rotation: number): Point {
  switch ((((Math.round(rotation / 90) % 4) + 4) % 4) as 0 | 1 | 2 | 3) {
    case 0:
      return { x: r.x, y: r.y };
    case 1:
      return { x: r.x, y: r.y + r.height };
    case 2:
      return { x: r.x + r.width, y: r.y + r.height };
    case 3:
      return { x: r.x + r.width, y: r.y };
  }
}

/** "ROI 1": a region's name in the viewer, the panel and the correction's reason. */
export function roiLabel(f: Pick<FieldRow, 'index'>): string {
  return `ROI ${f.index}`;
}

/** Who drew a region, in words ("you" in single-user mode). */
export function roiAuthor(f: Pick<FieldRow, 'created_by'>): string {
  return actorLabel(f.created_by ?? null);
}

/** The regions of interest among a slide's fields, in their order. */
export function regionsOf(fields: readonly FieldRow[] | null | undefined): FieldRow[] {
  return (fields ?? []).filter((f) => f.roi === true);
}

/** The regions with `f` among them (at the end, unless one with its number is there already). */
export function withRegion(regions: readonly FieldRow[], f: FieldRow | null): readonly FieldRow[] {
  if (!f || regions.some((r) => r.index === f.index)) return regions;
  return [...regions, f];
}

/** A region's scores for the schema's metrics (those it has), or null when it has none. */
export function roiScores(f: FieldRow, schema: Schema): Record<string, number> | null {
  if (f.scores == null) return null;
  const out: Record<string, number> = {};
  for (const m of schema.metrics) {
    const v = f.scores[m.name];
    if (typeof v === 'number' && Number.isFinite(v)) out[m.name] = v;
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** "Fibrosis 2.0, Inflammation 1.5" in the schema's order; why not when it has no scores. */
export function roiScoresText(f: FieldRow, schema: Schema): string {
  const scores = roiScores(f, schema);
  if (!scores) return f.error ? unreadableText(f.error) : 'no scores';
  return schema.metrics
    .filter((m) => scores[m.name] !== undefined)
    .map((m) => `${m.name} ${fixedScore(scores[m.name], schema.step)}`)
    .join(', ');
}

/** "ROI 1 (dr. name): Fibrosis 2.0, Inflammation 1.5" */
export function roiText(f: FieldRow, schema: Schema): string {
  return `${roiLabel(f)} (${roiAuthor(f)}): ${roiScoresText(f, schema)}`;
}

/** The reason the audit log keeps when a region's scores become the slide's: "scores of ROI 1". */
export function roiReason(f: Pick<FieldRow, 'index'>): string {
  return `scores of ${roiLabel(f)}`;
}

/** The metrics whose current score differs from the region's (what using it would change). */
export function roiChanges(roi: Record<string, number>, current: Readonly<Record<string, number | undefined>>): string[] {
  return Object.keys(roi).filter((m) => current[m] !== roi[m]);
}

/** Why a region was not scored, in words a person can act on. */
export function regionErrorText(e: unknown): string {
  const f = factsOf(e);
  if (f.status === 422 || f.status === 400) {
    if (/\bat least\b/i.test(f.detail)) return REGION_TOO_SMALL;
    if (/\binside\b|\boutside\b/i.test(f.detail)) return 'Draw the region inside the slide: part of it lies outside.';
    return 'This region could not be read from the slide. Draw a smaller one.';
  }
  if (f.code === 'blinded_read') return 'You read this slide in a blinded study: regions can be drawn once your own blind score is in.';
  if (f.status === 403) return 'Your account may not draw regions.';
  if (f.code === 'not_a_slide') return 'Regions can only be drawn on whole slides.';
  const p = plainError(e, 'save');
  return `The region was not scored. ${p.what} ${p.todo}`;
}
