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

/** The metrics whose value in `a` differs from `b` (used to show corrections against the AI draft). */
export function changedMetrics(a: Record<string, number>, b: Record<string, number> | null | undefined, schema: Schema): string[] {
  if (!b) return [];
  return schema.metrics
    .map((m) => m.name)
    .filter((n) => typeof a[n] === 'number' && typeof b[n] === 'number' && Math.abs((a[n] as number) - (b[n] as number)) > EPS);
}
