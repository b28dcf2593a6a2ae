// AI drafts: their uncertainty and the comparison of two drafts of one image (docs/models.md).
// Pure functions, no React.

import type { Draft, Schema } from '../api/types';
import { formatDateTime, shortId } from './format';
import { formatScore, totalScore } from './scores';

const EPS = 1e-9;

/** The tooltip beside every "± x.xx". */
export const UNCERTAINTY_HELP = "spread of the model's score under flips and rotation";

/** "± 0.12" (two decimals), or '' when the draft has no uncertainty for the metric. */
export function formatUncertainty(u: number | null | undefined): string {
  if (u == null || !Number.isFinite(u)) return '';
  return `± ${Math.abs(u).toFixed(2)}`;
}

/** A difference with its sign: "+0.5", "−0.25" (a real minus sign), "0"; "–" when unknown. */
export function formatDiff(d: number | null | undefined, step: number): string {
  if (d == null || !Number.isFinite(d)) return '–';
  if (Math.abs(d) < EPS) return '0';
  return `${d > 0 ? '+' : '−'}${formatScore(Math.abs(d), step)}`;
}

export interface CompareRow {
  metric: string;
  a: number | null;
  b: number | null;
  /** b − a; null when either is missing. */
  diff: number | null;
  /** The two differ (or only one has a value). */
  differs: boolean;
}

function row(metric: string, a: number | null, b: number | null): CompareRow {
  if (a == null || b == null) return { metric, a, b, diff: null, differs: a !== b };
  const diff = Number((b - a).toFixed(10));
  return { metric, a, b, diff, differs: Math.abs(diff) > EPS };
}

/** Per metric of the schema (and the total), the rounded scores of draft a and draft b. */
export function compareDrafts(a: Draft, b: Draft, schema: Schema): { rows: CompareRow[]; total: CompareRow } {
  const val = (d: Draft, m: string): number | null => {
    const v = d.rounded?.[m];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  return {
    rows: schema.metrics.map((m) => row(m.name, val(a, m.name), val(b, m.name))),
    total: row('Total', totalScore(a.rounded, schema), totalScore(b.rounded, schema)),
  };
}

/**
 * The drafts (indices into the oldest-first list) to compare at first: the newest, against the
 * newest one by another model (or else the one before it). Null with fewer than two drafts.
 */
export function defaultComparePair(drafts: readonly Draft[]): [number, number] | null {
  if (drafts.length < 2) return null;
  const b = drafts.length - 1;
  const newest = drafts[b] as Draft;
  for (let i = b - 1; i >= 0; i--) {
    if ((drafts[i] as Draft).model_id !== newest.model_id) return [i, b];
  }
  return [b - 1, b];
}

/**
 * A label per draft for lists and selects: the model's name (or short id), with the date when
 * the same model made more than one of them.
 */
export function draftLabels(drafts: readonly Draft[], names?: ReadonlyMap<string, string>): string[] {
  const count = new Map<string, number>();
  for (const d of drafts) count.set(d.model_id, (count.get(d.model_id) ?? 0) + 1);
  return drafts.map((d) => {
    let label = names?.get(d.model_id) || shortId(d.model_id);
    if (d.model_demo) label += ' (demo)';
    if ((count.get(d.model_id) ?? 0) > 1) label += ` · ${formatDateTime(d.created_at)}`;
    return label;
  });
}
