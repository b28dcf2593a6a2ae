// Resumable uploads (tus 1.0 at `/api/uploads`, with tus-js-client) for whole slides and large
// files: sent in chunks, retried after a dropped connection, and resumed after a reload from the
// offset the server has (the upload URL is kept in localStorage under the file's fingerprint:
// name, type, size, modification time). The final PATCH registers the file as a multipart upload
// would and names its record (`Histoscore-Image-Id`, `Histoscore-Upload-Status`).

import { defaultOptions, Upload, type HttpRequest, type HttpResponse, type PreviousUpload } from 'tus-js-client';
import { ApiError, csrfHeaders, errorBody, etagOf, getImage, parseRetryAfter, sessionEnded, type UploadHandle, type UploadResult } from './client';

export const UPLOADS_PATH = '/api/uploads';
/** Waits before each automatic retry of a failed request (then the error shows). */
export const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000];
/** When the server does not say (it does: `upload_chunk_bytes`). */
const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
const DEFAULT_EXPIRY_HOURS = 24;

export interface ResumableOptions {
  keepBoth?: boolean;
  /** The server's `upload_chunk_bytes`. */
  chunkBytes?: number | null;
  /** The server's `upload_expiry_hours`: older stored uploads are forgotten. */
  expiryHours?: number | null;
  onProgress?: (loaded: number, total: number) => void;
  /** An upload of an earlier page goes on: the server had `offset` of `total` bytes. */
  onResume?: (offset: number, total: number) => void;
}

/** The parts of a tus-js-client error used here (a DetailedError has the request and answer). */
interface TusError {
  originalRequest?: unknown;
  originalResponse?: Pick<HttpResponse, 'getStatus' | 'getBody' | 'getHeader'> | null;
}

function answerOf(err: unknown): TusError['originalResponse'] {
  return err && typeof err === 'object' ? ((err as TusError).originalResponse ?? null) : null;
}

/** A tus-js-client error as the API's error: the server's status and JSON body when it answered. */
export function resumableError(err: unknown): ApiError {
  const res = answerOf(err);
  if (!res) {
    // A request that got no answer, or the browser could not read the file.
    const sent = !!err && typeof err === 'object' && (err as TusError).originalRequest != null;
    return sent
      ? new ApiError(0, { error: 'network', detail: 'the upload failed: the server could not be reached' })
      : new ApiError(0, { error: 'file_unreadable', detail: 'the file could not be read on this computer (it may have been moved or changed)' });
  }
  const status = res.getStatus();
  if (status >= 200 && status < 300) return new ApiError(status, { error: 'bad_response', detail: 'the server sent an unreadable answer' });
  return new ApiError(status, errorBody(status, res.getBody()), parseRetryAfter(res.getHeader('Retry-After') ?? null));
}

/**
 * Whether tus-js-client tries the request again by itself (it asks the offset first): after no
 * answer, a server error, a busy upload or a wrong offset. Not after a refusal of the file (422,
 * a filename conflict), the end of the session, or a full disk; 429 and 503 go to the queue,
 * which waits as the server's Retry-After says.
 */
export function retryable(status: number, code: string): boolean {
  if (status === 0 || status === 423) return true;
  if (status === 409) return code === 'wrong_offset' || code === 'upload_busy';
  // The upload expired or is gone: asking again starts it afresh.
  if (status === 404 || status === 410) return true;
  if (status === 429 || status === 503 || status === 501 || status === 507) return false;
  return status >= 500;
}

/** Stored uploads older than the server keeps them (their URLs lead nowhere). */
export function expiredUploads(stored: readonly PreviousUpload[], now: number, expiryHours: number): PreviousUpload[] {
  const maxAge = expiryHours * 3600 * 1000;
  return stored.filter((u) => {
    const at = Date.parse(u.creationTime);
    return Number.isNaN(at) || now - at > maxAge;
  });
}

/** The stored upload to go on with: this name and conflict choice, not expired, the newest. */
export function uploadToResume(stored: readonly PreviousUpload[], name: string, keepBoth: boolean, now: number, expiryHours: number): PreviousUpload | null {
  const expired = new Set(expiredUploads(stored, now, expiryHours));
  const fits = stored.filter(
    (u) => !expired.has(u) && !!u.uploadUrl && u.metadata.filename === name && (u.metadata.on_conflict === 'keep_both') === keepBoth,
  );
  fits.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime));
  return fits[0] ?? null;
}

let swept = false;

/** Once a page: forgets the stored uploads of every file that the server has removed by now. */
async function forgetExpired(expiryHours: number): Promise<void> {
  if (swept) return;
  swept = true;
  const storage = defaultOptions.urlStorage;
  const old = expiredUploads(await storage.findAllUploads(), Date.now(), expiryHours);
  await Promise.all(old.map((u) => storage.removeUpload(u.urlStorageKey)));
}

const aborted = (): UploadResult => ({ ok: false, error: new ApiError(0, { error: 'aborted', detail: 'cancelled' }) });

/**
 * Uploads one file with tus, as `uploadFile` does with one request. Never rejects. `abort` stops
 * it and keeps what the server has (a later upload of the same file goes on from there);
 * `cancel` also removes it from the server.
 */
export function uploadResumable(file: File, opts: ResumableOptions): UploadHandle {
  const expiryHours = opts.expiryHours ?? DEFAULT_EXPIRY_HOURS;
  let settle: (r: UploadResult) => void = () => {};
  let settled = false;
  const promise = new Promise<UploadResult>((resolve) => {
    settle = (r) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
  });
  let stopped = false;
  let cancelled = false;
  // The server has the whole file: a stop now would only lose the answer.
  let complete = false;
  // Set when an upload of an earlier page is taken up: its first HEAD says how far it got.
  let resuming = false;

  const metadata: Record<string, string> = { filename: file.name };
  if (opts.keepBoth) metadata.on_conflict = 'keep_both';

  const upload: Upload = new Upload(file, {
    endpoint: new URL(UPLOADS_PATH, window.location.href).href,
    chunkSize: opts.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    retryDelays: RETRY_DELAYS_MS,
    metadata,
    removeFingerprintOnSuccess: true,
    onBeforeRequest: (req: HttpRequest) => {
      // The token as it is now (a password change renews it).
      req.setHeader('Accept', 'application/json');
      for (const [k, v] of Object.entries(csrfHeaders(req.getMethod()))) req.setHeader(k, v);
    },
    onAfterResponse: (req: HttpRequest, res: HttpResponse) => {
      if (!resuming || req.getMethod() !== 'HEAD') return;
      resuming = false;
      const status = res.getStatus();
      const offset = Number(res.getHeader('Upload-Offset'));
      const total = Number(res.getHeader('Upload-Length'));
      if (status >= 200 && status < 300 && offset > 0 && total > 0) opts.onResume?.(offset, total);
    },
    onShouldRetry: (err) => {
      if (stopped) return false;
      const e = resumableError(err);
      return retryable(e.status, e.body.error);
    },
    onProgress: (sent, total) => opts.onProgress?.(sent, total),
    onSuccess: ({ lastResponse }) => {
      complete = true;
      void finished(lastResponse);
    },
    onError: (err) => {
      const error = resumableError(err);
      if (error.status === 401) sessionEnded(UPLOADS_PATH);
      // Refused for good: the server removed the upload, so nothing is left to resume.
      if (error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429) void forgetStored();
      settle({ ok: false, error });
    },
  });

  async function finished(res: HttpResponse): Promise<void> {
    const id = Number(res.getHeader('Histoscore-Image-Id'));
    if (!Number.isInteger(id) || id <= 0) {
      settle({ ok: false, error: new ApiError(res.getStatus(), { error: 'bad_response', detail: 'the server did not name the stored image' }) });
      return;
    }
    const outcome = res.getHeader('Histoscore-Upload-Status');
    try {
      const record = await getImage(id);
      settle({ ok: true, httpStatus: outcome === 'new' ? 201 : 200, record, etag: etagOf(record) });
    } catch (e) {
      settle({ ok: false, error: e instanceof ApiError ? e : new ApiError(0, { error: 'network', detail: 'the server could not be reached' }) });
    }
  }

  async function forgetStored(): Promise<void> {
    const url = upload.url;
    if (!url) return;
    try {
      const stored = await upload.findPreviousUploads();
      await Promise.all(stored.filter((u) => u.uploadUrl === url).map((u) => defaultOptions.urlStorage.removeUpload(u.urlStorageKey)));
    } catch {
      // Left for the expiry sweep.
    }
  }

  async function begin(): Promise<void> {
    try {
      await forgetExpired(expiryHours);
      const previous = uploadToResume(await upload.findPreviousUploads(), file.name, !!opts.keepBoth, Date.now(), expiryHours);
      if (previous) {
        upload.resumeFromPreviousUpload(previous);
        resuming = true;
      }
    } catch {
      // No stored uploads (private mode, storage refused): a new upload.
    }
    if (!stopped) upload.start();
    // Cancelled before it started: the stored upload it would have gone on with goes too.
    else if (cancelled) void upload.abort(true).catch(() => {});
  }
  void begin();

  const stop = (terminate: boolean) => {
    if (stopped || complete) return;
    stopped = true;
    cancelled = terminate;
    settle(aborted());
    // A removal that fails is left to the server's expiry.
    void upload.abort(terminate).catch(() => {});
  };
  return { promise, abort: () => stop(false), cancel: () => stop(true) };
}
