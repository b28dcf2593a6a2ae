import { describe, expect, it } from 'vitest';
import { formatBytes, formatShortDate, middleTruncate } from './text';

describe('middleTruncate', () => {
  it('keeps names that fit', () => {
    expect(middleTruncate('a.tif', 20)).toBe('a.tif');
    expect(middleTruncate('S-3618-10x_Image004.tif', 23)).toBe('S-3618-10x_Image004.tif');
  });
  it('keeps the distinguishing end of a series', () => {
    const a = middleTruncate('S-3618-10x_Image004_ch00.tif', 22);
    const b = middleTruncate('S-3618-10x_Image005_ch00.tif', 22);
    expect(a).not.toBe(b);
    expect(Array.from(a).length).toBeLessThanOrEqual(22);
    expect(a.startsWith('S-3618')).toBe(true);
    expect(a.endsWith('Image004_ch00.tif') || a.endsWith('004_ch00.tif')).toBe(true);
    expect(a).toContain('…');
  });
  it('the issue example', () => {
    expect(middleTruncate('S-3618-10x_Image004_ch00.tif', 24)).toBe('S-3618…Image004_ch00.tif');
    expect(middleTruncate('S-3618-10x_Image004.tif', 22)).toBe('S-3618-10…Image004.tif');
  });
  it('never exceeds the budget', () => {
    for (const name of ['x'.repeat(80), 'abc_def-ghi.jkl mno_pqr-stu.vwx', 'S-3602-10X_Image001_ch00.tif']) {
      for (let max = 5; max < 40; max++) expect(Array.from(middleTruncate(name, max)).length).toBeLessThanOrEqual(max);
    }
  });
  it('cuts very small budgets at the end', () => {
    expect(middleTruncate('abcdefgh', 3)).toBe('ab…');
  });
});

describe('formatBytes', () => {
  it('uses decimal units', () => {
    expect(formatBytes(34_360_000)).toBe('34.4 MB');
    expect(formatBytes(14_745_824)).toBe('14.7 MB');
    expect(formatBytes(480_208)).toBe('480 kB');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1 kB');
    expect(formatBytes(2_000_000_000)).toBe('2 GB');
    expect(formatBytes(999_990)).toBe('1 MB');
  });
  it('says – for nonsense', () => {
    expect(formatBytes(-1)).toBe('–');
    expect(formatBytes(Number.NaN)).toBe('–');
  });
});

describe('formatShortDate', () => {
  it('leaves the year out this year', () => {
    expect(formatShortDate('2025-11-29T10:00:00Z', new Date('2025-12-01T00:00:00Z'))).toBe('29 Nov');
    expect(formatShortDate('2024-11-29T10:00:00Z', new Date('2025-12-01T00:00:00Z'))).toBe('29 Nov 2024');
    expect(formatShortDate('garbage')).toBe('garbage');
  });
});
