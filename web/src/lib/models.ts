// The model registry in the UI (docs/models.md): labels, the compact metrics summary, a trained
// model's validation quality, the import file check and what a refused model action means.
// Pure functions, no React.

import { ApiError } from '../api/client';
import type { ModelEntry } from '../api/types';
import { shortId } from './format';
import { formatShortDate } from './text';

export const MODEL_EXTENSIONS = ['.pth', '.safetensors'] as const;

/** The model's name, or its short id when it has none. */
export function modelLabel(m: Pick<ModelEntry, 'id' | 'name'>): string {
  return m.name?.trim() || shortId(m.id);
}

/** The model in a sentence: “name” (short id), or the short id alone when it has no name. */
export function modelTitle(m: Pick<ModelEntry, 'id' | 'name'>): string {
  const name = m.name?.trim();
  return name ? `“${name}” (${shortId(m.id)})` : shortId(m.id);
}

/** Why this file cannot be imported (judged by its name only; the server judges the content), or null. */
export function modelFileProblem(filename: string): string | null {
  const lower = filename.toLowerCase();
  if (MODEL_EXTENSIONS.some((ext) => lower.endsWith(ext) && lower.length > ext.length)) return null;
  return `“${filename}” is not a model file: choose the network's weights as a .pth (PyTorch) or .safetensors file.`;
}

/** A figure as the registry table shows it: at most three significant digits, no exponent. */
export function formatFigure(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 1000) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

export interface FigureItem {
  label: string;
  value: string;
}

/**
 * A trained model's metrics (free-form JSON) as `label value` pairs: numbers, strings and
 * booleans, nested objects one level deep as `outer.inner`; lists and deeper nesting are left
 * to the full view. The first `max` items, and how many more there are.
 */
export function summariseMetrics(metrics: Record<string, unknown> | null | undefined, max = 4): { items: FigureItem[]; more: number } {
  const all: FigureItem[] = [];
  const add = (label: string, v: unknown, depth: number) => {
    if (typeof v === 'number') all.push({ label, value: formatFigure(v) });
    else if (typeof v === 'string') all.push({ label, value: v });
    else if (typeof v === 'boolean') all.push({ label, value: v ? 'yes' : 'no' });
    else if (v && typeof v === 'object' && !Array.isArray(v) && depth === 0) {
      for (const [k, inner] of Object.entries(v as Record<string, unknown>)) add(`${label}.${k}`, inner, depth + 1);
    }
  };
  for (const [k, v] of Object.entries(metrics ?? {})) add(k, v, 0);
  return { items: all.slice(0, max), more: Math.max(0, all.length - max) };
}

// ---- A trained model's validation quality ----

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

export interface StatText {
  /** The value as shown, or “–” when not defined. */
  text: string;
  value: number | null;
  /** Why it is not defined. */
  reason?: string;
}

/** A `{"value": n}` or `{"not_defined": reason}` statistic as text. */
export function statText(s: unknown): StatText {
  if (isObj(s) && isNum(s.value)) return { text: formatFigure(s.value), value: s.value };
  if (isObj(s) && typeof s.not_defined === 'string') return { text: '–', value: null, reason: s.not_defined };
  return { text: '–', value: null };
}

export interface QualityRow {
  metric: string;
  n: number | null;
  mae: StatText;
  qwk: StatText;
  parentMae: StatText;
  parentQwk: StatText;
}

const looksLikeQuality = (v: unknown): v is Record<string, unknown> => isObj(v) && 'mae' in v && 'qwk' in v;

/**
 * A trained model's metrics (`{metric: {mae, qwk, parent_mae, parent_qwk, n}}`) as rows in the
 * schema's order, metrics the schema does not name after them; entries of another shape are left
 * out (an imported model's free-form metrics give no rows).
 */
export function qualityRows(metrics: Record<string, unknown> | null | undefined, metricNames: readonly string[] = []): QualityRow[] {
  if (!isObj(metrics)) return [];
  const keys = Object.keys(metrics).filter((k) => looksLikeQuality(metrics[k]));
  const rank = (k: string) => {
    const i = metricNames.indexOf(k);
    return i < 0 ? metricNames.length : i;
  };
  keys.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return keys.map((k) => {
    const q = metrics[k] as Record<string, unknown>;
    return {
      metric: typeof q.metric === 'string' && q.metric ? q.metric : k,
      n: isNum(q.n) ? q.n : null,
      mae: statText(q.mae),
      qwk: statText(q.qwk),
      parentMae: statText(q.parent_mae),
      parentQwk: statText(q.parent_qwk),
    };
  });
}

/** Whether the new model beat its parent on one figure (MAE: lower is better; QWK: higher). */
export function comparedToParent(mine: StatText, parent: StatText, lowerIsBetter: boolean): 'better' | 'worse' | 'same' | null {
  if (mine.value == null || parent.value == null) return null;
  const a = Number(formatFigure(mine.value));
  const b = Number(formatFigure(parent.value));
  if (a === b) return 'same';
  return a < b === lowerIsBetter ? 'better' : 'worse';
}

/**
 * The registry table's figures of a model: a trained model's validation MAE per metric (beside
 * its parent's), or else the free-form summary of `summariseMetrics`.
 */
export function modelFigures(metrics: Record<string, unknown> | null | undefined, metricNames: readonly string[] = [], max = 4): { items: FigureItem[]; more: number } {
  const rows = qualityRows(metrics, metricNames);
  if (rows.length === 0) return summariseMetrics(metrics, max);
  const items = rows.map((q) => ({ label: `${q.metric} MAE`, value: q.parentMae.value == null ? q.mae.text : `${q.mae.text} (parent ${q.parentMae.text})` }));
  return { items: items.slice(0, max), more: Math.max(0, items.length - max) };
}

export type ModelAction = 'load' | 'import' | 'activate' | 'rollback' | 'rescore' | 'field';

/** The server's detail as the middle of a sentence: no trailing full stop. */
function clause(detail: string): string {
  return detail.trim().replace(/\.$/, '');
}

/** What a refused model action means, and what to do about it. */
export function modelErrorMessage(e: unknown, action: ModelAction): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  const detail = clause(e.message);
  switch (e.status) {
    case 0:
      return 'The server could not be reached: check that it is running, then try again.';
    case 403:
      if (action === 'field') return `${detail} (only administrators change a model's field on slides: ask one).`;
      return `${detail} (only administrators import, activate, roll back and re-score: ask one).`;
    case 404:
      if (action === 'load') return 'This server has no model registry (it is older than this page): update the server.';
      if (action === 'activate') return 'That model is not registered (any more): reload the page to see the current list.';
      if (action === 'rescore') return `${detail}. Reload the page: the model or some of the images no longer exist.`;
      if (action === 'field') return 'That model is not registered (any more), or this server cannot set a field yet: reload the page, and update the server if it happens again.';
      return detail;
    case 409:
      if (action === 'rollback') return 'Nothing to roll back to: no other model was active before the last activation.';
      return detail;
    case 413:
      return 'The file is larger than the server accepts: ask the administrator of the server to raise its upload limit.';
    case 422:
      if (action === 'import') {
        return `This file is not a model Histoscore can use: ${detail}. Choose the .pth or .safetensors weights of a network trained for this scoring schema.`;
      }
      if (action === 'field') return `The server refused this size: ${detail}.`;
      return detail;
    default:
      return detail;
  }
}

/**
 * The active model as the header names it: “Pancreas v1, activated 29 Nov” (the name a person
 * chose and when it became active), or the short id when the registry gives no name.
 */
export function activeModelLabel(entry: Pick<ModelEntry, 'id' | 'name' | 'activated_at' | 'created_at'> | null | undefined, id: string, now: Date = new Date()): string {
  const name = entry?.name?.trim() || `Model ${shortId(id)}`;
  const when = entry?.activated_at ?? null;
  return when ? `${name}, activated ${formatShortDate(when, now)}` : name;
}
