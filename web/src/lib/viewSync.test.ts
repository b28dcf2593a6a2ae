import { describe, expect, it } from 'vitest';
import { matchRoute } from './routes';
import { compareHref, fromShared, readCompare, sameView, toShared, ViewSync, type SharedView } from './viewSync';

describe('shared views', () => {
  it('normalises the centre by the image height', () => {
    // An image 1 unit wide and 0.75 tall: its middle is (0.5, 0.375).
    const v = toShared(0.5, 0.375, 2, 90, 0.75);
    expect(v).toEqual({ x: 0.5, y: 0.5, zoom: 2, rotation: 90 });
    // The same share of a taller image.
    expect(fromShared(v, 1.5)).toEqual({ x: 0.5, y: 0.75 });
  });
  it('tells the same view within rounding', () => {
    const a: SharedView = { x: 0.3, y: 0.4, zoom: 3, rotation: 0 };
    expect(sameView(a, { ...a, x: 0.3 + 1e-9 })).toBe(true);
    expect(sameView(a, { ...a, zoom: 3.01 })).toBe(false);
    expect(sameView(a, null)).toBe(false);
  });
});

describe('the channel', () => {
  it('passes a view to the other side only, while linked', () => {
    const sync = new ViewSync();
    const got: Record<string, SharedView[]> = { a: [], b: [] };
    const here: SharedView = { x: 0.2, y: 0.3, zoom: 4, rotation: 0 };
    sync.join('a', { apply: (v) => got.a?.push(v), current: () => here });
    sync.join('b', { apply: (v) => got.b?.push(v), current: () => null });
    sync.publish('a', here);
    expect(got.b).toEqual([here]);
    expect(got.a).toEqual([]);
    expect(sync.peer('b')).toEqual(here);

    sync.setLinked(false);
    sync.publish('a', { ...here, zoom: 8 });
    expect(got.b).toHaveLength(1);
    expect(sync.peer('b')).toBeNull();
    // Linked again: the right one takes the left one's view.
    sync.setLinked(true);
    expect(got.b).toEqual([here, here]);
  });
  it('forgets a side that leaves', () => {
    const sync = new ViewSync();
    const leave = sync.join('a', { apply: () => undefined, current: () => ({ x: 0, y: 0, zoom: 1, rotation: 0 }) });
    leave();
    expect(sync.peer('b')).toBeNull();
  });
});

describe('the address', () => {
  it('reads and writes /compare?a=&b=&back=', () => {
    expect(matchRoute('/compare')).toEqual({ page: 'compare' });
    expect(compareHref(3, 7)).toBe('/compare?a=3&b=7');
    const href = compareHref(3, 7, '/history?search=S-3602');
    expect(readCompare(href.slice(href.indexOf('?')))).toEqual({ a: 3, b: 7, back: '/history?search=S-3602' });
    expect(readCompare('?a=x&b=-1')).toEqual({ a: null, b: null, back: '/history' });
  });
  it('goes back only within the app', () => {
    for (const bad of ['https://example.org', '//example.org', '/\\example.org', 'javascript:alert(1)']) {
      expect(readCompare(`?a=1&b=2&back=${encodeURIComponent(bad)}`).back).toBe('/history');
    }
  });
});
