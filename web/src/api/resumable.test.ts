import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HttpRequest, HttpResponse, PreviousUpload, UploadOptions } from 'tus-js-client';
import { ApiError, CSRF_HEADER, setCsrfToken, setUnauthorizedHandler } from './client';
import { expiredUploads, resumableError, retryable, uploadResumable, uploadToResume } from './resumable';
import { plainError } from '../lib/errors';

// tus-js-client itself is replaced: these tests drive its callbacks as it would.
const tus = vi.hoisted(() => ({
  uploads: [] as FakeUpload[],
  stored: [] as unknown[],
  removed: [] as string[],
}));

interface FakeUpload {
  options: UploadOptions;
  url: string | null;
  started: boolean;
  resumedFrom: unknown;
  abortedWith: boolean[];
}

vi.mock('tus-js-client', () => {
  class Upload {
    options: UploadOptions;
    url: string | null = null;
    started = false;
    resumedFrom: unknown = null;
    abortedWith: boolean[] = [];
    constructor(_file: unknown, options: UploadOptions) {
      this.options = options;
      tus.uploads.push(this);
    }
    findPreviousUploads() {
      return Promise.resolve(tus.stored);
    }
    resumeFromPreviousUpload(previous: { uploadUrl: string }) {
      this.resumedFrom = previous;
      this.url = previous.uploadUrl;
    }
    start() {
      this.started = true;
    }
    abort(terminate?: boolean) {
      this.abortedWith.push(!!terminate);
      return Promise.resolve();
    }
  }
  const urlStorage = {
    findAllUploads: () => Promise.resolve(tus.stored),
    removeUpload: (key: string) => {
      tus.removed.push(key);
      return Promise.resolve();
    },
  };
  return { Upload, defaultOptions: { urlStorage } };
});

/** An answer as tus-js-client hands it over. */
function answer(status: number, body = '', headers: Record<string, string> = {}): HttpResponse {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    getStatus: () => status,
    getBody: () => body,
    getHeader: (name: string) => lower[name.toLowerCase()],
    getUnderlyingObject: () => null,
  };
}

function request(method: string): HttpRequest & { headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  return {
    headers,
    getMethod: () => method,
    getURL: () => '/api/uploads/abc',
    setHeader: (k: string, v: string) => {
      headers[k] = v;
    },
    getHeader: (k: string) => headers[k],
    setProgressHandler: () => {},
    send: () => Promise.reject(new Error('not sent in tests')),
    abort: () => Promise.resolve(),
    getUnderlyingObject: () => null,
  };
}

/** A DetailedError's parts: what was sent, and the answer when one came. */
const detailed = (res: HttpResponse | null) => Object.assign(new Error('tus: failed'), { originalRequest: request('PATCH'), originalResponse: res, causingError: null });

const stored = (over: Partial<PreviousUpload> & { metadata?: Record<string, string> }): PreviousUpload => ({
  size: 10,
  metadata: { filename: 'CMU-1.svs' },
  creationTime: new Date(Date.UTC(2025, 0, 1, 12)).toString(),
  urlStorageKey: 'tus::fp::1',
  uploadUrl: 'http://localhost/api/uploads/aaa',
  parallelUploadUrls: null,
  ...over,
});

describe('resumableError', () => {
  it('a refused file keeps the server’s status, code, plain reason and existing record', () => {
    const e = resumableError(detailed(answer(409, JSON.stringify({ error: 'filename_conflict', detail: 'a different image is stored as "a.svs"', existing_id: 7 }))));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(409);
    expect(e.body).toMatchObject({ error: 'filename_conflict', existing_id: 7 });
    expect(plainError(e, 'upload').action).toBe('keep_both');

    const bad = resumableError(detailed(answer(422, JSON.stringify({ error: 'unsupported_image', detail: 'the slide cannot be opened: bad header' }))));
    expect(bad.status).toBe(422);
    expect(plainError(bad, 'upload').what).toBe('The slide cannot be opened: bad header.');

    const sum = resumableError(detailed(answer(460, JSON.stringify({ error: 'checksum_mismatch', detail: 'SHA-256 abc, expected def' }))));
    expect(sum.status).toBe(460);
    expect(plainError(sum, 'upload').what).toMatch(/changed on the way/);
  });
  it('a busy server’s wait comes along', () => {
    const e = resumableError(detailed(answer(503, JSON.stringify({ error: 'busy', detail: 'too many uploads' }), { 'Retry-After': '7' })));
    expect(e.retryAfterS).toBe(7);
    expect(e.body.error).toBe('busy');
  });
  it('an answer that is not JSON becomes a short detail, not raw text', () => {
    const e = resumableError(detailed(answer(502, '<html>Bad gateway</html>')));
    expect(e.status).toBe(502);
    expect(e.body.error).toBe('http_502');
    expect(plainError(e, 'upload').what).toBe('Something went wrong on the server.');
  });
  it('no answer is the network; a plain error is the file', () => {
    expect(resumableError(detailed(null)).body.error).toBe('network');
    expect(plainError(resumableError(detailed(null)), 'upload').what).toBe('The upload did not reach the server.');
    expect(resumableError(new Error('upload was configured with a size of 10 bytes, but the source is done after 8 bytes')).body.error).toBe('file_unreadable');
    // A success without what the client needs (no offset) is an unreadable answer.
    expect(resumableError(detailed(answer(204))).body.error).toBe('bad_response');
  });
});

describe('retryable', () => {
  it('retries a lost connection, a server error, a busy upload and a wrong offset', () => {
    expect(retryable(0, 'network')).toBe(true);
    expect(retryable(500, 'internal')).toBe(true);
    expect(retryable(502, 'http_502')).toBe(true);
    expect(retryable(423, 'http_423')).toBe(true);
    expect(retryable(409, 'wrong_offset')).toBe(true);
    expect(retryable(409, 'upload_busy')).toBe(true);
    expect(retryable(410, 'upload_expired')).toBe(true);
  });
  it('not a refusal of the file, the end of the session, a full disk, or a wait the queue keeps', () => {
    for (const [status, code] of [
      [409, 'filename_conflict'],
      [409, 'deleted_duplicate'],
      [422, 'unsupported_image'],
      [460, 'checksum_mismatch'],
      [413, 'too_large'],
      [401, 'unauthorized'],
      [403, 'forbidden'],
      [507, 'disk_full'],
      [503, 'busy'],
      [429, 'rate_limited'],
    ] as const) {
      expect(retryable(status, code), `${status} ${code}`).toBe(false);
    }
  });
});

describe('stored uploads', () => {
  const now = Date.UTC(2025, 0, 1, 18);
  it('forgets those older than the server keeps them, and unreadable ones', () => {
    const fresh = stored({ urlStorageKey: 'a' });
    const old = stored({ urlStorageKey: 'b', creationTime: new Date(Date.UTC(2024, 11, 30)).toString() });
    const junk = stored({ urlStorageKey: 'c', creationTime: 'yesterday' });
    expect(expiredUploads([fresh, old, junk], now, 24).map((u) => u.urlStorageKey)).toEqual(['b', 'c']);
    expect(expiredUploads([fresh], now, 1)).toEqual([fresh]);
  });
  it('goes on with the newest of the same name and conflict choice', () => {
    const older = stored({ urlStorageKey: 'a', creationTime: new Date(Date.UTC(2025, 0, 1, 10)).toString() });
    const newer = stored({ urlStorageKey: 'b', creationTime: new Date(Date.UTC(2025, 0, 1, 11)).toString() });
    const keepBoth = stored({ urlStorageKey: 'c', metadata: { filename: 'CMU-1.svs', on_conflict: 'keep_both' } });
    const other = stored({ urlStorageKey: 'd', metadata: { filename: 'other.svs' } });
    expect(uploadToResume([older, newer, keepBoth, other], 'CMU-1.svs', false, now, 24)?.urlStorageKey).toBe('b');
    expect(uploadToResume([older, newer, keepBoth, other], 'CMU-1.svs', true, now, 24)?.urlStorageKey).toBe('c');
    expect(uploadToResume([older], 'CMU-1.svs', false, now, 1)).toBeNull();
    expect(uploadToResume([stored({ uploadUrl: null })], 'CMU-1.svs', false, now, 24)).toBeNull();
  });
});

describe('uploadResumable', () => {
  const file = () => new File([new Uint8Array(10)], 'CMU-1.svs');
  const record = { id: 42, version: 3, filename: 'CMU-1.svs', status: 'queued' };
  const flush = () => new Promise((r) => setTimeout(r, 0));
  const last = () => tus.uploads.at(-1) as FakeUpload;

  beforeEach(() => {
    tus.uploads.length = 0;
    tus.stored = [];
    tus.removed.length = 0;
    vi.stubGlobal('window', { location: { href: 'http://localhost:8000/' } });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify(record), { status: 200 })),
    );
  });
  afterEach(() => {
    setCsrfToken(null);
    setUnauthorizedHandler(null);
    vi.unstubAllGlobals();
  });

  it('sends to /api/uploads in the server’s chunks, with the name, the choice and the token', async () => {
    setCsrfToken('tok-r');
    uploadResumable(file(), { keepBoth: true, chunkBytes: 256 * 1024 });
    await flush();
    const up = last();
    expect(up.started).toBe(true);
    expect(up.options.endpoint).toBe('http://localhost:8000/api/uploads');
    expect(up.options.chunkSize).toBe(256 * 1024);
    expect(up.options.metadata).toEqual({ filename: 'CMU-1.svs', on_conflict: 'keep_both' });
    expect(up.options.removeFingerprintOnSuccess).toBe(true);
    expect(up.options.retryDelays?.length).toBeGreaterThan(2);
    const patch = request('PATCH');
    await up.options.onBeforeRequest?.(patch);
    expect(patch.headers[CSRF_HEADER]).toBe('tok-r');
    const head = request('HEAD');
    await up.options.onBeforeRequest?.(head);
    expect(head.headers[CSRF_HEADER]).toBeUndefined();
  });

  it('goes on with the stored upload of an earlier page and says from where', async () => {
    const previous = stored({ creationTime: new Date().toString() });
    tus.stored = [previous];
    const onResume = vi.fn();
    uploadResumable(file(), { onResume });
    await flush();
    const up = last();
    expect(up.resumedFrom).toBe(previous);
    expect(up.started).toBe(true);
    await up.options.onAfterResponse?.(request('HEAD'), answer(200, '', { 'Upload-Offset': '4', 'Upload-Length': '10' }));
    expect(onResume).toHaveBeenCalledWith(4, 10);
    // Only the first answer says so (a retry's HEAD later is no resume of an earlier page).
    await up.options.onAfterResponse?.(request('HEAD'), answer(200, '', { 'Upload-Offset': '6', 'Upload-Length': '10' }));
    expect(onResume).toHaveBeenCalledTimes(1);
  });

  it('answers the stored record when the last PATCH names it', async () => {
    const progress = vi.fn();
    const h = uploadResumable(file(), { onProgress: progress });
    await flush();
    const up = last();
    up.options.onProgress?.(5, 10);
    expect(progress).toHaveBeenCalledWith(5, 10);
    up.options.onSuccess?.({ lastResponse: answer(204, '', { 'Histoscore-Image-Id': '42', 'Histoscore-Upload-Status': 'new' }) });
    const res = await h.promise;
    expect(res).toMatchObject({ ok: true, httpStatus: 201, record: { id: 42 }, etag: '"3"' });
    expect(vi.mocked(fetch)).toHaveBeenCalledWith('/api/images/42', expect.anything());

    const known = uploadResumable(file(), {});
    await flush();
    last().options.onSuccess?.({ lastResponse: answer(204, '', { 'Histoscore-Image-Id': '42', 'Histoscore-Upload-Status': 'known' }) });
    expect(await known.promise).toMatchObject({ ok: true, httpStatus: 200 });
  });

  it('a refusal resolves with the server’s error and forgets the upload; a 401 ends the session', async () => {
    tus.stored = [stored({ creationTime: new Date().toString(), uploadUrl: 'http://localhost:8000/api/uploads/zzz', urlStorageKey: 'tus::k' })];
    const h = uploadResumable(file(), {});
    await flush();
    const up = last();
    up.options.onError?.(detailed(answer(422, JSON.stringify({ error: 'unsupported_image', detail: 'the file is empty' }))));
    const res = await h.promise;
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error).toMatchObject({ status: 422, body: { error: 'unsupported_image' } });
    await flush();
    expect(tus.removed).toEqual(['tus::k']);

    const ended = vi.fn();
    setUnauthorizedHandler(ended);
    const again = uploadResumable(file(), {});
    await flush();
    last().options.onError?.(detailed(answer(401, JSON.stringify({ error: 'unauthorized', detail: 'log in' }))));
    expect((await again.promise).ok).toBe(false);
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it('abort keeps the upload on the server; cancel removes it', async () => {
    const a = uploadResumable(file(), {});
    await flush();
    const first = last();
    a.abort();
    expect(await a.promise).toMatchObject({ ok: false, error: { body: { error: 'aborted' } } });
    expect(first.abortedWith).toEqual([false]);
    // No retry after the stop.
    expect(first.options.onShouldRetry?.(detailed(null) as never, 0, first.options)).toBe(false);

    const c = uploadResumable(file(), {});
    await flush();
    c.cancel?.();
    expect(await c.promise).toMatchObject({ ok: false, error: { body: { error: 'aborted' } } });
    expect(last().abortedWith).toEqual([true]);
  });

  it('asks tus-js-client to retry only what may succeed again', async () => {
    uploadResumable(file(), {});
    await flush();
    const { options } = last();
    const retry = (res: HttpResponse | null) => options.onShouldRetry?.(detailed(res) as never, 0, options);
    expect(retry(null)).toBe(true);
    expect(retry(answer(409, JSON.stringify({ error: 'wrong_offset', detail: 'x' })))).toBe(true);
    expect(retry(answer(409, JSON.stringify({ error: 'filename_conflict', detail: 'x' })))).toBe(false);
    expect(retry(answer(422, JSON.stringify({ error: 'unsupported_image', detail: 'x' })))).toBe(false);
  });
});
