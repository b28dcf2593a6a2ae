// A model's field on slides (docs/models.md): the area of a whole-slide image one score covers, in
// µm, as the Models page shows it and as an administrator types it. Pure functions, no React.

import type { ModelEntry } from '../api/types';

/**
 * The field when a model has none set: the original system's 4080 × 2776 px images at an assumed
 * 0.5 µm per pixel.
 */
export const DEFAULT_FIELD_UM: readonly [number, number] = [2040, 1388];
/** The largest width or height the server accepts (`PUT /api/models/{id}/field` answers 422 above it). */
export const FIELD_UM_MAX = 100_000;

/** The one sentence that explains the setting. */
export const FIELD_HELP = 'The area of a slide one score covers; slides scored later use it (re-score to apply it to slides already scored).';

export interface ModelField {
  width: number;
  height: number;
  /** True when the model has none set and the default applies. */
  isDefault: boolean;
}

const usable = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/**
 * The field a model scores slides with: its own, or the default when it has none (or when the
 * server sent something other than two positive numbers, which the server never does).
 */
export function modelField(m: Pick<ModelEntry, 'field_um'>): ModelField {
  const f = m.field_um;
  if (Array.isArray(f) && f.length === 2 && usable(f[0]) && usable(f[1])) return { width: f[0], height: f[1], isDefault: false };
  return { width: DEFAULT_FIELD_UM[0], height: DEFAULT_FIELD_UM[1], isDefault: true };
}

/** A length in µm as typed: whole numbers as they are, else two decimals at most. */
export function formatUm(v: number): string {
  return String(Number(v.toFixed(2)));
}

/** "2040 × 1388 µm". */
export function formatFieldSize(width: number, height: number): string {
  return `${formatUm(width)} × ${formatUm(height)} µm`;
}

/** What the Models page shows: "2040 × 1388 µm (default)" or "1000 × 800 µm (set)". */
export function fieldText(m: Pick<ModelEntry, 'field_um'>): string {
  const f = modelField(m);
  return `${formatFieldSize(f.width, f.height)} (${f.isDefault ? 'default' : 'set'})`;
}

/** The edit form's two inputs, as typed. */
export interface FieldInputs {
  width: string;
  height: string;
}

/** The inputs a model's field starts the form with (the default's figures when none is set). */
export function fieldInputs(m: Pick<ModelEntry, 'field_um'>): FieldInputs {
  const f = modelField(m);
  return { width: formatUm(f.width), height: formatUm(f.height) };
}

export type FieldCheck = { ok: true; field_um: [number, number] } | { ok: false; input: keyof FieldInputs; error: string };

const NAMES: Record<keyof FieldInputs, { name: string; example: number }> = {
  width: { name: 'width', example: DEFAULT_FIELD_UM[0] },
  height: { name: 'height', example: DEFAULT_FIELD_UM[1] },
};

/** Why one typed length is not usable, or its value. */
function checkOne(typed: string, which: keyof FieldInputs): { value: number } | { error: string } {
  const { name, example } = NAMES[which];
  const t = typed.trim().replace(/\s/g, '');
  if (t === '') return { error: `Enter the ${name} of a field in µm (the default is ${example}).` };
  // “1,000” could be a thousand or one: ask rather than guess. A lone comma is a decimal comma.
  if (/^\d{1,3}([,.]\d{3})*,\d{3}$/.test(t)) return { error: `Write the ${name} without a thousands separator, e.g. ${example}.` };
  const v = Number(t.replace(',', '.'));
  if (!Number.isFinite(v)) return { error: `The ${name} must be a number of µm, e.g. ${example}.` };
  if (v <= 0) return { error: `The ${name} must be more than 0 µm.` };
  if (v > FIELD_UM_MAX) {
    return { error: `The ${name} must be at most 100 000 µm (10 cm): enter it in µm (1 mm is 1000 µm).` };
  }
  return { value: v };
}

/** The `field_um` the two inputs make, or which input is wrong and why (the server checks again). */
export function parseFieldInputs(f: FieldInputs): FieldCheck {
  const width = checkOne(f.width, 'width');
  if ('error' in width) return { ok: false, input: 'width', error: width.error };
  const height = checkOne(f.height, 'height');
  if ('error' in height) return { ok: false, input: 'height', error: height.error };
  return { ok: true, field_um: [width.value, height.value] };
}
