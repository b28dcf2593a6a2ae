// Score validation: pure functions, no React. A valid score is a multiple of the schema's step in
// [0, metric.max]; the server is the final judge and applies the same rule.

import type { Metric, Schema } from '../api/types';

const EPS = 1e-9;

/** Decimal places needed to print multiples of `step` exactly (0.25 → 2, 0.5 → 1, 1 → 0). */
export function decimalsOf(step: number): number {
  for (let d = 0; d <= 6; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < EPS) return d;
  }
  return 6;
}

/** Prints a score with no more decimals than the step needs: 1.5 → "1.5", 2 → "2", 1.25 → "1.25". */
export function formatScore(value: number | null | undefined, step: number): string {
  if (value == null || !Number.isFinite(value)) return '–';
  const fixed = value.toFixed(decimalsOf(step));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

export function isOnStep(value: number, step: number): boolean {
  const k = value / step;
  return Math.abs(k - Math.round(k)) < 1e-7;
}

/** Nearest multiple of step, ties away from zero (only used for suggestions; the server rounds drafts). */
export function snapToStep(value: number, step: number): number {
  const snapped = Math.round(value / step) * step;
  return Number(snapped.toFixed(decimalsOf(step)));
}

export type ParseResult =
  | { ok: true; value: number }
  | { ok: false; message: string; suggestion?: number };

/**
 * Parses what the user typed into a score field. Accepts a decimal comma. Explains every refusal
 * and, where there is an obvious fix, suggests it (the nearest allowed value).
 */
export function parseScoreInput(text: string, metric: Metric, step: number): ParseResult {
  const t = text.trim().replace(',', '.');
  const max = metric.max;
  const range = `0 – ${formatScore(max, step)}`;
  if (t === '') return { ok: false, message: `Enter a score (${range}).` };
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(t)) {
    return { ok: false, message: `“${text.trim()}” is not a number; enter ${range} in steps of ${formatScore(step, step)}.` };
  }
  const v = Number(t);
  if (v < 0 - EPS) return { ok: false, message: `The minimum is 0.`, suggestion: 0 };
  if (v > max + EPS) return { ok: false, message: `The maximum for ${metric.name} is ${formatScore(max, step)}.`, suggestion: max };
  if (!isOnStep(v, step)) {
    const s = clamp(snapToStep(v, step), 0, max);
    return {
      ok: false,
      message: `Scores go in steps of ${formatScore(step, step)}; the nearest is ${formatScore(s, step)}.`,
      suggestion: s,
    };
  }
  return { ok: true, value: Number(v.toFixed(decimalsOf(step))) };
}

/**
 * One step up (+1) or down (−1) from `current`, clamped to the metric's range. A value off the
 * step grid moves to the next grid value in that direction; no value starts from 0 (or max when
 * stepping down).
 */
export function stepScore(current: number | null, direction: 1 | -1, metric: Metric, step: number, steps = 1): number {
  const d = decimalsOf(step);
  if (current == null || !Number.isFinite(current)) return direction > 0 ? 0 : metric.max;
  let next: number;
  if (isOnStep(current, step)) {
    next = current + direction * step * steps;
  } else {
    const k = current / step;
    next = (direction > 0 ? Math.ceil(k) : Math.floor(k)) * step + direction * step * (steps - 1);
  }
  return Number(clamp(next, 0, metric.max).toFixed(d));
}

/** Sum of the scores present for the schema's metrics (the original's "total"); null when none. */
export function totalScore(scores: Record<string, number> | null | undefined, schema: Schema): number | null {
  if (!scores) return null;
  let total = 0;
  let any = false;
  for (const m of schema.metrics) {
    const v = scores[m.name];
    if (typeof v === 'number' && Number.isFinite(v)) {
      total += v;
      any = true;
    }
  }
  return any ? Number(total.toFixed(decimalsOf(schema.step))) : null;
}

/** One score field as shown: its text, the score it stands for, and the problem to show. */
export interface ScoreField {
  text: string;
  /** What is typed when it is valid, else the saved score (null: none). */
  value: number | null;
  error: string | null;
  /** A valid score near an invalid one. */
  suggestion?: number;
}

/**
 * A field from what was typed in it (undefined: nothing) and, where fields fall back to saved
 * scores (autosave), those scores. An empty field is only wrong after a submit attempt
 * (`showErrors`), unless it was emptied by hand where a saved score falls back.
 */
export function scoreField(metric: Metric, step: number, typed: string | undefined, saved: Record<string, number> | undefined, showErrors: boolean): ScoreField {
  const fallback = saved?.[metric.name] ?? null;
  if (typed === undefined && fallback != null) return { text: formatScore(fallback, step), value: fallback, error: null };
  const text = typed ?? '';
  const r = parseScoreInput(text, metric, step);
  if (r.ok) return { text, value: r.value, error: null };
  const shown = showErrors || text.trim() !== '' || (typed !== undefined && saved !== undefined);
  return { text, value: fallback, error: shown ? r.message : null, suggestion: r.suggestion };
}

/**
 * The score a key asks for in a field holding `current`: ↑ ↓ one step, PgUp PgDn four, Ctrl+Home
 * 0 and Ctrl+End the maximum; null for any other key.
 */
export function keyedScore(key: string, ctrl: boolean, current: number | null, metric: Metric, step: number): number | null {
  switch (key) {
    case 'ArrowUp':
      return stepScore(current, 1, metric, step);
    case 'ArrowDown':
      return stepScore(current, -1, metric, step);
    case 'PageUp':
      return stepScore(current, 1, metric, step, 4);
    case 'PageDown':
      return stepScore(current, -1, metric, step, 4);
    case 'Home':
      return ctrl ? 0 : null;
    case 'End':
      return ctrl ? metric.max : null;
    default:
      return null;
  }
}

/** The metrics whose value in `a` differs from `b` (used to show corrections against the AI draft). */
export function changedMetrics(a: Record<string, number>, b: Record<string, number> | null | undefined, schema: Schema): string[] {
  if (!b) return [];
  return schema.metrics
    .map((m) => m.name)
    .filter((n) => typeof a[n] === 'number' && typeof b[n] === 'number' && Math.abs((a[n] as number) - (b[n] as number)) > EPS);
}
