import { describe, expect, it } from 'vitest';
import type { Interval, Stat } from '../api/types';
import { baYRange, fixed, footnoteNumbers, formatInterval, formatStat, heatAlpha, statValue } from './stats';

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
