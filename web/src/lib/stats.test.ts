import { describe, expect, it } from 'vitest';
import type { Interval, Stat } from '../api/types';
import { baYRange, fixed, footnoteNumbers, formatInterval, formatStat, heatAlpha, iccBand, kappaBand, plainReading, statValue } from './stats';

describe('formatStat', () => {
  it('prints a value with fixed decimals, never "-0.00"', () => {
    expect(formatStat({ value: 0.8333 })).toEqual({ text: '0.83', reason: null });
    expect(formatStat({ value: -0.001 }, 2)).toEqual({ text: '0.00', reason: null });
    expect(formatStat({ value: -0.25 }, 3).text).toBe('-0.250');
    expect(fixed(-0, 1)).toBe('0.0');
  });
  it('shows "not defined" with the reason', () => {
    expect(formatStat({ not_defined: 'fewer than 3 images' })).toEqual({ text: 'not defined', reason: 'fewer than 3 images' });
  });
  it('never shows NaN, whatever arrives', () => {
    for (const s of [null, undefined, { value: null }, { value: Number.NaN }, {}] as unknown as Stat[]) {
      const shown = formatStat(s);
      expect(shown.text).toBe('not defined');
      expect(shown.reason).toBe('the server gave no value');
    }
    expect(statValue({ value: Number.POSITIVE_INFINITY })).toBeNull();
  });
});

describe('formatInterval', () => {
  it('prints the value and its 95% interval', () => {
    expect(formatInterval({ value: 0.812, ci95: [0.61, 0.934] })).toEqual({ text: '0.81 [0.61, 0.93]', reason: null });
  });
  it('leaves out an interval it cannot print', () => {
    expect(formatInterval({ value: 0.5, ci95: [null, 1] } as unknown as Interval).text).toBe('0.50');
  });
  it('is not defined with the reason', () => {
    expect(formatInterval({ not_defined: 'a rater gave every image the same score' })).toEqual({
      text: 'not defined',
      reason: 'a rater gave every image the same score',
    });
  });
});

describe('footnotes and shading', () => {
  it('numbers distinct reasons in order of appearance', () => {
    const m = footnoteNumbers([null, 'b', 'a', 'b', undefined, 'c']);
    expect([...m.entries()]).toEqual([
      ['b', 1],
      ['a', 2],
      ['c', 3],
    ]);
  });
  it('shades cells by count', () => {
    expect(heatAlpha(0, 5)).toBe(0);
    expect(heatAlpha(5, 5)).toBe(0.9);
    expect(heatAlpha(1, 0)).toBe(0);
    expect(heatAlpha(1, 4)).toBeCloseTo(0.315, 3);
  });
  it('Bland–Altman y range holds the points, the lines and 0', () => {
    const [lo, hi] = baYRange([0.5, -1], [0.1, -1.5, 1.7]);
    expect(lo).toBeLessThan(-1.5);
    expect(hi).toBeGreaterThan(1.7);
    const [lo2, hi2] = baYRange([], [null], 1);
    expect(hi2 - lo2).toBeGreaterThanOrEqual(1);
  });
});

describe('plain readings', () => {
  it('kappa on the Landis–Koch bands', () => {
    expect([-0.1, 0, 0.17, 0.2, 0.21, 0.4, 0.41, 0.6, 0.61, 0.8, 0.81, 1].map(kappaBand)).toEqual([
      'poor',
      'slight',
      'slight',
      'slight',
      'fair',
      'fair',
      'moderate',
      'moderate',
      'substantial',
      'substantial',
      'almost perfect',
      'almost perfect',
    ]);
    // Read as shown: 0.204 shows as 0.20, slight.
    expect(kappaBand(0.204)).toBe('slight');
    expect(kappaBand(null)).toBeNull();
    expect(kappaBand(Number.NaN)).toBeNull();
  });
  it('ICC on the Koo–Li bands', () => {
    expect([0.1, 0.49, 0.5, 0.74, 0.75, 0.9, 0.91, 1].map(iccBand)).toEqual(['poor', 'poor', 'moderate', 'moderate', 'good', 'good', 'excellent', 'excellent']);
  });
  it('as words beside a statistic; nothing when not defined', () => {
    expect(plainReading('kappa', { value: 0.17 })).toBe('slight agreement');
    expect(plainReading('icc', { value: 0.93, ci95: [0.8, 0.97] })).toBe('excellent reliability');
    expect(plainReading('icc', { not_defined: 'too few images' })).toBeNull();
  });
});
