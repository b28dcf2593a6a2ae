// Agreement statistics as the study page shows them. A statistic the server could not compute
// comes as {"not_defined": reason}: it is shown as "not defined" with the reason, never as NaN.

import type { Interval, Stat } from '../api/types';

export interface Shown {
  text: string;
  /** Why it is not defined; null when it is a number. */
  reason: string | null;
}

export const NOT_DEFINED = 'not defined';

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function reasonOf(s: unknown): string {
  if (s && typeof s === 'object' && 'not_defined' in s) {
    const r = (s as { not_defined: unknown }).not_defined;
    if (typeof r === 'string' && r.trim()) return r.trim();
  }
  return 'the server gave no value';
}

/** A fixed number of decimals, without "-0.00". */
export function fixed(v: number, digits: number): string {
  const t = v.toFixed(digits);
  return /^-0(\.0*)?$/.test(t) ? t.slice(1) : t;
}

export function statValue(s: Stat | Interval | null | undefined): number | null {
  return s && 'value' in s && finite(s.value) ? s.value : null;
}

export function formatStat(s: Stat | null | undefined, digits = 2): Shown {
  const v = statValue(s);
  return v == null ? { text: NOT_DEFINED, reason: reasonOf(s) } : { text: fixed(v, digits), reason: null };
}

/** "0.82 [0.61, 0.93]"; the interval is left out when the server sent none. */
export function formatInterval(i: Interval | null | undefined, digits = 2): Shown {
  const v = statValue(i);
  if (v == null) return { text: NOT_DEFINED, reason: reasonOf(i) };
  const ci = i && 'ci95' in i ? i.ci95 : null;
  if (Array.isArray(ci) && finite(ci[0]) && finite(ci[1])) {
    return { text: `${fixed(v, digits)} [${fixed(ci[0], digits)}, ${fixed(ci[1], digits)}]`, reason: null };
  }
  return { text: fixed(v, digits), reason: null };
}

/** Footnote numbers for the distinct reasons, in the order they first appear. */
export function footnoteNumbers(reasons: Iterable<string | null | undefined>): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of reasons) if (r && !m.has(r)) m.set(r, m.size + 1);
  return m;
}

/** Background strength of a confusion-matrix cell: 0 for none, then 0.12 … 0.9 by count. */
export function heatAlpha(count: number, max: number): number {
  if (!(count > 0) || !(max > 0)) return 0;
  return Number((0.12 + 0.78 * Math.min(1, count / max)).toFixed(3));
}

/** The y range of a Bland–Altman plot: every difference and line, and 0, with a margin. */
export function baYRange(diffs: number[], lines: (number | null)[], minSpan = 1): [number, number] {
  const vals = [0, ...diffs, ...lines].filter(finite);
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  const span = Math.max(hi - lo, minSpan);
  const mid = (hi + lo) / 2;
  lo = Math.min(lo, mid - span / 2);
  hi = Math.max(hi, mid + span / 2);
  const pad = span * 0.12;
  return [lo - pad, hi + pad];
}

// ---- Plain readings of agreement figures ----

/**
 * Cohen's kappa (here the quadratic-weighted kappa) in words, on Landis & Koch's (1977) bands:
 * below 0 poor, up to 0.20 slight, 0.21–0.40 fair, 0.41–0.60 moderate, 0.61–0.80 substantial,
 * 0.81–1 almost perfect. Values are read at two decimals, as shown.
 */
export function kappaBand(v: number | null | undefined): string | null {
  if (v == null || !Number.isFinite(v)) return null;
  const x = Number(v.toFixed(2));
  if (x < 0) return 'poor';
  if (x <= 0.2) return 'slight';
  if (x <= 0.4) return 'fair';
  if (x <= 0.6) return 'moderate';
  if (x <= 0.8) return 'substantial';
  return 'almost perfect';
}

/**
 * An intraclass correlation in words, on Koo & Li's (2016) bands: below 0.5 poor, 0.5–0.75
 * moderate, 0.75–0.9 good, above 0.9 excellent. Values are read at two decimals, as shown.
 */
export function iccBand(v: number | null | undefined): string | null {
  if (v == null || !Number.isFinite(v)) return null;
  const x = Number(v.toFixed(2));
  if (x < 0.5) return 'poor';
  if (x < 0.75) return 'moderate';
  if (x <= 0.9) return 'good';
  return 'excellent';
}

/** The plain reading shown beside a statistic: “slight agreement”, “good reliability”. */
export function plainReading(kind: 'kappa' | 'icc', s: Stat | Interval | null | undefined): string | null {
  const v = statValue(s);
  if (kind === 'kappa') {
    const b = kappaBand(v);
    return b && `${b} agreement`;
  }
  const b = iccBand(v);
  return b && `${b} reliability`;
}
