import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { plainDetail, plainError, plainErrorFrom, plainErrorText } from './errors';

const api = (status: number, error: string, detail: string) => new ApiError(status, { error, detail });
const RAW = [/TypeError/, /Failed to fetch/, /HTTP \d/, /on_conflict/, /\?[a-z_]+=/];

describe('plainError', () => {
  it('a failed fetch says what happened and what to do, without the TypeError', () => {
    const p = plainError(new TypeError('Failed to fetch'));
    expect(p.what).toBe('The server could not be reached.');
    expect(p.action).toBe('retry');
    for (const re of RAW) expect(plainErrorText(new TypeError('Failed to fetch'))).not.toMatch(re);
    expect(plainError(api(0, 'network', 'x'), 'upload').what).toMatch(/upload did not reach/);
  });
  it('a filename conflict offers Keep both and hides the query string', () => {
    const e = api(409, 'filename_conflict', 'a different image named "a.tif" is already stored; upload with ?on_conflict=keep_both to keep both');
    const p = plainError(e, 'upload');
    expect(p.action).toBe('keep_both');
    for (const re of RAW) expect(`${p.what} ${p.todo}`).not.toMatch(re);
  });
  it('an unreadable image says what to check', () => {
    const p = plainError(api(422, 'unsupported_image', 'TiffError: invalid magic bytes'), 'upload');
    expect(p.what).toBe('The server could not read this file as an image.');
    expect(p.todo).toMatch(/TIFF, PNG or JPEG/);
    expect(`${p.what} ${p.todo}`).not.toMatch(/HTTP|TiffError/);
    expect(plainError(api(422, 'unsupported_image', 'the file is empty')).what).toBe('The file is empty.');
  });
  it('a slide the server cannot read says why, in its words', () => {
    const p = plainError(api(422, 'unsupported_image', 'the slide cannot be opened: bad header; the file is probably truncated or corrupt, copy or export it again'), 'upload');
    expect(p.what).toBe('The slide cannot be opened: bad header; the file is probably truncated or corrupt, copy or export it again.');
    expect(p.todo).toMatch(/QuPath/);
    const missing = plainError(api(422, 'unsupported_image', 'whole-slide image (aperio): reading slides needs OpenSlide, which is not available: libopenslide.so.1: cannot open'));
    expect(missing.what).toMatch(/cannot read slides/);
    expect(missing.todo).toMatch(/install OpenSlide/);
  });
  it('busy keeps the server’s plain reason', () => {
    const p = plainError(api(503, 'busy', 'the scoring queue is full; try again shortly'));
    expect(p.what).toBe('The server is busy (the scoring queue is full; try again shortly).');
    expect(p.action).toBe('wait');
  });
  it('statuses without a known code', () => {
    expect(plainError(api(401, 'unauthorized', 'no session')).action).toBe('login');
    expect(plainError(api(404, 'not_found', 'image 3 not found')).action).toBe('reload');
    expect(plainError(api(500, 'internal_error', 'database is locked')).what).toBe('Something went wrong on the server.');
    expect(plainError(api(422, 'invalid_value', 'Fibrosis must be a multiple of 0.5')).what).toBe('The server did not accept this: Fibrosis must be a multiple of 0.5.');
    expect(plainError(api(403, 'forbidden', 'only administrators import models')).what).toBe('Only administrators import models.');
    expect(plainErrorFrom({ status: 418, code: 'x', detail: '' }).what).toBe('Something went wrong.');
  });
  it('anything else thrown', () => {
    expect(plainError(new Error('TypeError: x is undefined')).what).toBe('Something went wrong.');
    expect(plainError('the cat sat on the keyboard').what).toBe('The cat sat on the keyboard.');
  });
});

describe('plainDetail', () => {
  it('passes sentences, drops technical text', () => {
    expect(plainDetail('the scoring queue is full.')).toBe('the scoring queue is full');
    expect(plainDetail('upload with ?on_conflict=keep_both')).toBeNull();
    expect(plainDetail('the server answered HTTP 422')).toBeNull();
    expect(plainDetail('TypeError: Failed to fetch')).toBeNull();
    expect(plainDetail('  ')).toBeNull();
    expect(plainDetail('limit is 100 MB (--max-upload-mb)')).toBeNull();
  });
});

describe('a deleted image uploaded again', () => {
  it('offers the restore, without the route or the query string', () => {
    const e = api(409, 'deleted_duplicate', 'this image was deleted (record 4, "a.tif"); restore it (POST /api/images/4/restore), or upload with ?on_conflict=keep_both');
    const p = plainError(e, 'upload');
    expect(p.action).toBe('restore');
    expect(`${p.what} ${p.todo}`).not.toMatch(/POST|on_conflict|\?/);
  });
});
