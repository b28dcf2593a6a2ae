import { describe, expect, it } from 'vitest';
import { etagOf, listQuery, parseRetryAfter } from './client';
import type { ImageRecord } from './types';

describe('parseRetryAfter', () => {
  it('reads seconds', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(' 0 ')).toBe(0);
  });
  it('reads an HTTP date', () => {
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    const s = parseRetryAfter(inTen) as number;
    expect(s).toBeGreaterThan(8);
    expect(s).toBeLessThanOrEqual(10);
  });
  it('ignores missing or unreadable values', () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('')).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
  });
});

describe('listQuery', () => {
  it('leaves out empty parameters', () => {
    expect(listQuery({ search: '', group: 'S-3602', limit: 50, offset: 0, review_status: undefined })).toBe('group=S-3602&limit=50&offset=0');
  });
});

describe('etagOf', () => {
  it('prefers the header and falls back to the quoted version', () => {
    const r = { version: 4 } as ImageRecord;
    expect(etagOf(r, '"7"')).toBe('"7"');
    expect(etagOf(r)).toBe('"4"');
  });
});
