import { describe, expect, it } from 'vitest';
import { readFilters, toParams, writeFilters } from './history';

describe('History › Deleted in the address', () => {
  it('reads, writes and asks for the deleted records', () => {
    const f = readFilters('?deleted=1&search=S-3602');
    expect(f.deleted).toBe(true);
    expect(writeFilters(f)).toBe('/history?search=S-3602&deleted=1');
    expect(toParams(f).deleted).toBe(true);
  });
  it('leaves the current records as they were', () => {
    const f = readFilters('');
    expect(f.deleted).toBe(false);
    expect(writeFilters(f)).toBe('/history');
    expect(toParams(f).deleted).toBeUndefined();
  });
});
