import { describe, expect, it } from 'vitest';
import { BATCH_KEY, BATCH_TTL_MS, batchOfItems, loadBatch, parseBatch, pruneBatch, saveBatch, type BatchEntry } from './batch';
import { initialQueue, queueReducer, type QueueAction, type QueueState } from './queue';

const NOW = 1_700_000_000_000;
const e = (id: number, at: number, name = `f${id}.tif`): BatchEntry => ({ id, name, path: name, size: 100, at });

describe('pruneBatch', () => {
  it('keeps the last 24 hours, oldest first, one entry per record', () => {
    const out = pruneBatch([e(3, NOW - 10), e(1, NOW - BATCH_TTL_MS - 1), e(2, NOW - 1000), e(3, NOW - 5, 'again.tif')], NOW);
    expect(out.map((x) => [x.id, x.name])).toEqual([
      [2, 'f2.tif'],
      [3, 'again.tif'],
    ]);
  });
  it('drops entries from the future (a wrong clock)', () => {
    expect(pruneBatch([e(1, NOW + 3_600_000)], NOW)).toEqual([]);
  });
});

describe('parseBatch', () => {
  it('reads what was stored and drops anything else', () => {
    const text = JSON.stringify([e(1, NOW - 1), { id: 'x' }, null, { id: 2, name: 'b', size: 1, at: NOW - 2 }]);
    expect(parseBatch(text, NOW).map((x) => [x.id, x.path])).toEqual([
      [2, 'b'],
      [1, 'f1.tif'],
    ]);
    expect(parseBatch('not json', NOW)).toEqual([]);
    expect(parseBatch('{"a":1}', NOW)).toEqual([]);
    expect(parseBatch(null, NOW)).toEqual([]);
  });
});

describe('batchOfItems', () => {
  it('stores the uploaded items with their upload time', () => {
    const run = (s: QueueState, ...a: QueueAction[]) => a.reduce(queueReducer, s);
    let s = run(initialQueue(), { type: 'add', files: [{ name: 'a.tif', size: 5 }, { name: 'b.tif', size: 6 }] }, { type: 'start', key: 1 });
    s = run(s, { type: 'uploaded', key: 1, httpStatus: 201, record: { id: 9, filename: 'a.tif', status: 'queued' }, now: NOW - 50 });
    expect(batchOfItems(s.items, NOW)).toEqual([{ id: 9, name: 'a.tif', path: 'a.tif', size: 5, at: NOW - 50 }]);
  });
});

describe('storage', () => {
  it('round-trips, and an empty batch removes the key', () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    };
    saveBatch(storage, [e(1, NOW - 1)]);
    expect(loadBatch(storage, NOW)).toEqual([e(1, NOW - 1)]);
    saveBatch(storage, []);
    expect(store.has(BATCH_KEY)).toBe(false);
    // A storage that throws (private mode) is no error.
    const broken = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    expect(loadBatch(broken, NOW)).toEqual([]);
    expect(() => saveBatch(broken, [e(1, NOW)])).not.toThrow();
  });
});
