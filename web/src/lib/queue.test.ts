import { describe, expect, it } from 'vitest';
import {
  awaitedRecordIds,
  counts,
  initialQueue,
  isBusy,
  queueReducer,
  startable,
  type QueueAction,
  type QueueState,
} from './queue';
import { isSlideFileName, rejectReason } from './files';

const run = (s: QueueState, ...actions: QueueAction[]) => actions.reduce(queueReducer, s);
const stageOf = (s: QueueState, key: number) => s.items.find((it) => it.key === key)?.stage;

const three = run(initialQueue(), {
  type: 'add',
  files: [
    { name: 'a.tif', size: 10 },
    { name: 'b.tif', size: 20 },
    { name: 'c.tif', size: 30 },
    { name: 'notes.txt', size: 5, reject: 'Unsupported file type' },
  ],
});

describe('adding files', () => {
  it('queues accepted files as pending and lists refused ones as rejected', () => {
    expect(three.items.map((it) => it.stage)).toEqual(['pending', 'pending', 'pending', 'rejected']);
    expect(three.items[3]?.rejectReason).toBe('Unsupported file type');
    expect(three.items.map((it) => it.key)).toEqual([1, 2, 3, 4]);
    expect(counts(three)).toMatchObject({ total: 4, pending: 3, rejected: 1 });
  });
  it('keeps keys unique across adds', () => {
    const s = run(three, { type: 'add', files: [{ name: 'd.tif', size: 1 }] });
    expect(s.items.at(-1)?.key).toBe(5);
  });
});

describe('scheduling', () => {
  it('is sequential by default: one upload at a time, in order', () => {
    expect(startable(three, 0)).toEqual([1]);
    const s = run(three, { type: 'start', key: 1 });
    expect(stageOf(s, 1)).toBe('uploading');
    expect(startable(s, 0)).toEqual([]);
  });
  it('starts as many as the concurrency allows', () => {
    const s = run(three, { type: 'setConcurrency', concurrency: 2 });
    expect(startable(s, 0)).toEqual([1, 2]);
    expect(startable(run(s, { type: 'start', key: 1 }), 0)).toEqual([2]);
  });
  it('clamps the concurrency to 1..8', () => {
    expect(run(three, { type: 'setConcurrency', concurrency: 0 }).concurrency).toBe(1);
    expect(run(three, { type: 'setConcurrency', concurrency: 99 }).concurrency).toBe(8);
  });
  it('moves to the next file once an upload is answered, while the server scores', () => {
    const s = run(
      three,
      { type: 'start', key: 1 },
      { type: 'uploaded', key: 1, httpStatus: 201, record: { id: 7, filename: 'a.tif', status: 'queued' } },
    );
    expect(stageOf(s, 1)).toBe('scoring');
    expect(s.items[0]?.serverStatus).toBe('queued');
    expect(startable(s, 0)).toEqual([2]);
    expect(awaitedRecordIds(s)).toEqual([7]);
  });
});

describe('upload progress and outcomes', () => {
  const uploading = run(three, { type: 'start', key: 1 });
  it('tracks progress as a fraction', () => {
    const s = run(uploading, { type: 'progress', key: 1, loaded: 5, total: 10 });
    expect(s.items[0]?.progress).toBe(0.5);
    expect(run(three, { type: 'progress', key: 1, loaded: 5, total: 10 })).toBe(three);
  });
  it('notes where a resumed upload went on from, until the item starts again', () => {
    expect(uploading.items[0]?.resumedFrom).toBeNull();
    const s = run(uploading, { type: 'resumed', key: 1, offset: 42, total: 100 });
    expect(s.items[0]).toMatchObject({ resumedFrom: 0.42, progress: 0.42 });
    const done = run(s, { type: 'uploaded', key: 1, httpStatus: 201, record: { id: 7, filename: 'a.tif', status: 'queued' } });
    expect(done.items[0]?.resumedFrom).toBe(0.42);
    const again = run(done, { type: 'record', record: { id: 7, status: 'failed', error: 'x' } }, { type: 'retry', key: 1 }, { type: 'start', key: 1 });
    expect(again.items[0]?.resumedFrom).toBeNull();
    // Only while uploading.
    expect(run(three, { type: 'resumed', key: 1, offset: 4, total: 10 })).toBe(three);
  });
  it('follows the server status from records (events) to done', () => {
    let s = run(uploading, { type: 'uploaded', key: 1, httpStatus: 201, record: { id: 7, filename: 'a.tif', status: 'queued' } });
    s = run(s, { type: 'record', record: { id: 7, status: 'scoring' } });
    expect(s.items[0]?.serverStatus).toBe('scoring');
    s = run(s, { type: 'record', record: { id: 7, status: 'scored' } });
    expect(stageOf(s, 1)).toBe('done');
    expect(s.items[0]?.outcome).toBe('new');
    expect(isBusy(run(s, { type: 'cancelPending' }))).toBe(false);
  });
  it('ignores records it is not waiting for', () => {
    const s = run(uploading, { type: 'record', record: { id: 99, status: 'scored' } });
    expect(s).toBe(uploading);
  });
  it('shows the scoring failure message from the server', () => {
    let s = run(uploading, { type: 'uploaded', key: 1, httpStatus: 201, record: { id: 7, filename: 'a.tif', status: 'queued' } });
    s = run(s, { type: 'record', record: { id: 7, status: 'failed', error: 'decode failed' } });
    expect(stageOf(s, 1)).toBe('failed');
    expect(s.items[0]?.error?.message).toBe('decode failed');
  });
  it('marks a known file (same name, same content) as known and done', () => {
    const s = run(uploading, { type: 'uploaded', key: 1, httpStatus: 200, record: { id: 3, filename: 'a.tif', status: 'scored' } });
    expect(stageOf(s, 1)).toBe('done');
    expect(s.items[0]?.outcome).toBe('known');
  });
  it('marks the same content under another name as a duplicate', () => {
    const s = run(uploading, { type: 'uploaded', key: 1, httpStatus: 200, record: { id: 3, filename: 'other.tif', status: 'scored' } });
    expect(s.items[0]?.outcome).toBe('duplicate');
  });
  it('shows the server refusal (422) with its reason, and Retry re-queues it', () => {
    let s = run(uploading, {
      type: 'refused',
      key: 1,
      httpStatus: 422,
      code: 'unsupported_image',
      message: 'not a TIFF, PNG or JPEG',
      now: 0,
    });
    expect(stageOf(s, 1)).toBe('failed');
    expect(s.items[0]?.error).toEqual({ code: 'unsupported_image', message: 'not a TIFF, PNG or JPEG', httpStatus: 422 });
    s = run(s, { type: 'retry', key: 1 });
    expect(stageOf(s, 1)).toBe('pending');
    expect(s.items[0]?.error).toBeNull();
    expect(startable(s, 0)).toEqual([1]);
    s = run(s, { type: 'start', key: 1 });
    expect(s.items[0]?.attempts).toBe(2);
  });
  it('offers keep-both on a filename conflict', () => {
    let s = run(uploading, {
      type: 'refused',
      key: 1,
      httpStatus: 409,
      code: 'filename_conflict',
      message: 'a different image named a.tif is already stored',
      existingId: 4,
      now: 0,
    });
    expect(s.items[0]?.conflictWith).toBe(4);
    s = run(s, { type: 'retry', key: 1, keepBoth: true });
    expect(s.items[0]?.keepBoth).toBe(true);
    expect(s.items[0]?.conflictWith).toBeNull();
  });
  it('honours Retry-After: back to pending and the whole queue pauses', () => {
    const s = run(uploading, { type: 'refused', key: 1, httpStatus: 429, code: 'busy', message: 'queue full', retryAfterS: 3, now: 1000 });
    expect(stageOf(s, 1)).toBe('pending');
    expect(s.pausedUntil).toBe(4000);
    expect(startable(s, 3999)).toEqual([]);
    expect(startable(s, 4000)).toEqual([1]);
    expect(run(s, { type: 'resume', now: 3000 }).pausedUntil).toBe(4000);
    expect(run(s, { type: 'resume', now: 4000 }).pausedUntil).toBeNull();
  });
  it('waits a default time on 503 without Retry-After', () => {
    const s = run(uploading, { type: 'refused', key: 1, httpStatus: 503, code: 'busy', message: 'busy', retryAfterS: null, now: 0 });
    expect(s.pausedUntil).toBe(5000);
  });
  it('network failures fail the item with a Retry', () => {
    const s = run(uploading, { type: 'refused', key: 1, httpStatus: 0, code: 'network', message: 'unreachable', now: 0 });
    expect(stageOf(s, 1)).toBe('failed');
  });
  it('an aborted upload is cancelled', () => {
    const s = run(uploading, { type: 'refused', key: 1, httpStatus: 0, code: 'aborted', message: 'cancelled', now: 0 });
    expect(stageOf(s, 1)).toBe('cancelled');
  });
  it('ignores answers for items that are no longer uploading', () => {
    expect(run(three, { type: 'uploaded', key: 2, httpStatus: 201, record: { id: 1, filename: 'b.tif', status: 'queued' } })).toBe(three);
    expect(run(three, { type: 'refused', key: 2, httpStatus: 422, code: 'x', message: 'x', now: 0 })).toBe(three);
  });
});

describe('cancel and clear', () => {
  it('cancels pending items only', () => {
    let s = run(three, { type: 'start', key: 1 }, { type: 'cancel', key: 1 }, { type: 'cancel', key: 2 });
    expect(stageOf(s, 1)).toBe('uploading');
    expect(stageOf(s, 2)).toBe('cancelled');
    expect(startable(s, 0)).toEqual([]);
    s = run(s, { type: 'cancelPending' });
    expect(stageOf(s, 3)).toBe('cancelled');
    s = run(s, { type: 'retry', key: 2 });
    expect(stageOf(s, 2)).toBe('pending');
  });
  it('clears done, cancelled and rejected items but keeps failures and work in progress', () => {
    const s = run(
      three,
      { type: 'start', key: 1 },
      { type: 'uploaded', key: 1, httpStatus: 200, record: { id: 1, filename: 'a.tif', status: 'scored' } },
      { type: 'cancel', key: 2 },
      { type: 'start', key: 3 },
      { type: 'refused', key: 3, httpStatus: 422, code: 'unsupported_image', message: 'bad', now: 0 },
      { type: 'clearFinished' },
    );
    expect(s.items.map((it) => it.key)).toEqual([3]);
  });
});

describe('client-side refusal', () => {
  it('accepts the image extensions in any case', () => {
    for (const n of ['a.tif', 'b.TIFF', 'c.png', 'd.JPG', 'e.jpeg']) expect(rejectReason(n, 10)).toBeNull();
  });
  it('accepts whole slides of the common scanners', () => {
    for (const n of ['CMU-1.svs', 'b.NDPI', 'c.scn', 'e.bif', 'g.btf', 'S-9 mirax.zip']) expect(rejectReason(n, 10)).toBeNull();
    // A MIRAX or VMS index alone is not the slide: its zip is.
    expect(rejectReason('d.mrxs', 10)).toMatch(/MIRAX slide is several files: zip the \.mrxs file together with its folder/);
    expect(rejectReason('f.vms', 10)).toMatch(/VMS slide is several files: zip .* JPEG files/);
    expect(isSlideFileName('CMU-1.SVS')).toBe(true);
    expect(isSlideFileName('field.tif')).toBe(false);
    expect(rejectReason('notes.txt', 10)).toMatch(/\.svs .*slides are accepted/);
  });
  it('explains unsupported, missing extensions, empty and too-large files', () => {
    expect(rejectReason('notes.txt', 10)).toMatch(/Unsupported file type “\.txt”/);
    expect(rejectReason('README', 10)).toMatch(/No file extension/);
    expect(rejectReason('a.tif', 0)).toMatch(/empty/);
    expect(rejectReason('a.tif', 2048, 1024)).toMatch(/over the server's limit of 1 kB/);
  });
});

describe('caller-chosen keys', () => {
  it('uses the given keys and continues after them', () => {
    const s = run(initialQueue(), { type: 'add', files: [{ name: 'a.tif', size: 1, key: 5 }, { name: 'b.tif', size: 1, key: 6 }] });
    expect(s.items.map((it) => it.key)).toEqual([5, 6]);
    expect(s.nextKey).toBe(7);
    const t = run(s, { type: 'add', files: [{ name: 'c.tif', size: 1 }] });
    expect(t.items.at(-1)?.key).toBe(7);
  });
});

describe('the batch after a reload', () => {
  const restored = run(initialQueue(), {
    type: 'restore',
    entries: [
      { id: 7, name: 'a.tif', path: 'a.tif', size: 10, at: 1000 },
      { id: 8, name: 'b.tif', path: 'b.tif', size: 20, at: 2000 },
    ],
  });
  it('comes back as items waiting for the server’s word, then follows the records', () => {
    expect(restored.items.map((it) => [it.recordId, it.stage, it.restored])).toEqual([
      [7, 'scoring', true],
      [8, 'scoring', true],
    ]);
    const s = run(restored, { type: 'record', record: { id: 7, status: 'scored' } }, { type: 'record', record: { id: 8, status: 'failed', error: 'x' } });
    expect(counts(s)).toMatchObject({ done: 1, failed: 1 });
    // No file to send again: Retry does nothing, Clear finished removes it.
    expect(run(s, { type: 'retry', key: 2 })).toBe(s);
    expect(run(s, { type: 'clearFinished' }).items).toEqual([]);
  });
  it('a record deleted meanwhile is forgotten', () => {
    expect(run(restored, { type: 'forget', recordId: 7 }).items.map((it) => it.recordId)).toEqual([8]);
  });
  it('restoring twice adds nothing', () => {
    expect(run(restored, { type: 'restore', entries: [{ id: 7, name: 'a.tif', path: 'a.tif', size: 10, at: 1000 }] })).toBe(restored);
  });
  it('uploading the same file again replaces the restored item', () => {
    let s = run(restored, { type: 'add', files: [{ name: 'a.tif', size: 10 }] }, { type: 'start', key: 3 });
    s = run(s, { type: 'uploaded', key: 3, httpStatus: 200, record: { id: 7, filename: 'a.tif', status: 'scored' }, now: 5000 });
    expect(s.items.map((it) => [it.key, it.recordId, it.outcome, it.uploadedAt])).toEqual([
      [2, 8, null, 2000],
      [3, 7, 'known', 5000],
    ]);
  });
});

describe('keys after a restore', () => {
  it('a caller’s key at or past nextKey is kept, so the file maps to its item', () => {
    const restored = run(initialQueue(), { type: 'restore', entries: [{ id: 7, name: 'a.tif', path: 'a.tif', size: 1, at: 1 }] });
    const s = run(restored, { type: 'add', files: [{ name: 'b.tif', size: 1, key: restored.nextKey }] });
    expect(s.items.map((it) => it.key)).toEqual([1, 2]);
    expect(startable(s, 0)).toEqual([2]);
  });
});

describe('a deleted image uploaded again', () => {
  it('offers its record to restore; restoring makes the item that record', () => {
    let s = run(initialQueue(), { type: 'add', files: [{ name: 'a.tif', size: 1 }] }, { type: 'start', key: 1 });
    s = run(s, { type: 'refused', key: 1, httpStatus: 409, code: 'deleted_duplicate', message: 'deleted', existingId: 42, now: 0 });
    expect(s.items[0]).toMatchObject({ stage: 'failed', restoreId: 42, conflictWith: null });
    const done = run(s, { type: 'attach', key: 1, record: { id: 42, status: 'scored' }, now: 5 });
    expect(done.items[0]).toMatchObject({ stage: 'done', recordId: 42, outcome: 'known', restoreId: null, uploadedAt: 5, error: null });
    // Another record's answer changes nothing; “upload as new” is a retry with keep_both.
    expect(run(s, { type: 'attach', key: 1, record: { id: 7, status: 'scored' }, now: 5 })).toBe(s);
    expect(run(s, { type: 'retry', key: 1, keepBoth: true }).items[0]).toMatchObject({ stage: 'pending', keepBoth: true, restoreId: null });
  });
});
