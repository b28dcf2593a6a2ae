import type { ApiErrorBody, AppConfig, AuditEntry, ImageList, ImageRecord } from './types';

/** An HTTP error from the server, with its JSON body when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ApiErrorBody;
  readonly retryAfterS: number | null;

  constructor(status: number, body: ApiErrorBody, retryAfterS: number | null = null) {
    super(body.detail || body.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.retryAfterS = retryAfterS;
  }
}

export function parseRetryAfter(value: string | null): number | null {
  if (value == null || value.trim() === '') return null;
  const n = Number(value.trim());
  if (Number.isFinite(n) && n >= 0) return n;
  const date = Date.parse(value);
  if (!Number.isNaN(date)) return Math.max(0, (date - Date.now()) / 1000);
  return null;
}

function errorBody(status: number, text: string): ApiErrorBody {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && 'error' in v) {
      const b = v as ApiErrorBody;
      return { ...b, detail: typeof b.detail === 'string' ? b.detail : String(b.error) };
    }
  } catch {
    // not JSON: fall through
  }
  const short = text.trim().slice(0, 300);
  return { error: `http_${status}`, detail: short || `the server answered HTTP ${status}` };
}

async function request<T>(path: string, init?: RequestInit): Promise<{ data: T; etag: string | null }> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: { Accept: 'application/json', ...init?.headers } });
  } catch (e) {
    throw new ApiError(0, { error: 'network', detail: `the server could not be reached (${String(e)})` });
  }
  const text = await res.text();
  if (!res.ok) {
    throw new ApiError(res.status, errorBody(res.status, text), parseRetryAfter(res.headers.get('Retry-After')));
  }
  return { data: (text ? JSON.parse(text) : null) as T, etag: res.headers.get('ETag') };
}

export function etagOf(r: ImageRecord, header?: string | null): string {
  return header ?? `"${r.version}"`;
}

export async function getConfig(): Promise<AppConfig> {
  return (await request<AppConfig>('/api/config')).data;
}

export async function getImage(id: number): Promise<ImageRecord> {
  return (await request<ImageRecord>(`/api/images/${id}`)).data;
}

export interface ScorePatch {
  scores?: Record<string, number>;
  reviewed?: boolean;
  reason?: string;
}

export async function patchScores(id: number, etag: string, body: ScorePatch): Promise<ImageRecord> {
  return (
    await request<ImageRecord>(`/api/images/${id}/scores`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'If-Match': etag },
      body: JSON.stringify(body),
    })
  ).data;
}

export interface ListParams {
  search?: string;
  group?: string;
  status?: string;
  review_status?: string;
  created_from?: string;
  created_to?: string;
  model_id?: string;
  sort?: string;
  dir?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

export function listQuery(p: ListParams): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  return q.toString();
}

export async function listImages(p: ListParams, signal?: AbortSignal): Promise<ImageList> {
  return (await request<ImageList>(`/api/images?${listQuery(p)}`, { signal })).data;
}

export async function getAudit(id: number): Promise<AuditEntry[]> {
  const { data } = await request<{ entries: AuditEntry[] } | AuditEntry[]>(`/api/images/${id}/audit`);
  return Array.isArray(data) ? data : data.entries;
}

export async function deleteImage(id: number, reason?: string): Promise<void> {
  await request<unknown>(`/api/images/${id}`, {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(reason ? { reason } : {}),
  });
}

export async function restoreImage(id: number): Promise<ImageRecord> {
  return (await request<ImageRecord>(`/api/images/${id}/restore`, { method: 'POST' })).data;
}

export const imageUrls = (id: number) => ({
  thumbnail: `/api/images/${id}/thumbnail.jpg`,
  preview: `/api/images/${id}/preview.jpg`,
  dzi: `/api/images/${id}/tiles.dzi`,
});

export type UploadResult =
  | { ok: true; httpStatus: number; record: ImageRecord; etag: string }
  | { ok: false; error: ApiError };

export interface UploadHandle {
  promise: Promise<UploadResult>;
  abort: () => void;
}

/**
 * Uploads one file as multipart field `file` with XMLHttpRequest (fetch has no upload progress).
 * Never rejects: every outcome, including the network failing, is a value.
 */
export function uploadFile(
  file: Blob & { name: string },
  opts: { keepBoth?: boolean; onProgress?: (loaded: number, total: number) => void },
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<UploadResult>((resolve) => {
    const url = '/api/images' + (opts.keepBoth ? '?on_conflict=keep_both' : '');
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) opts.onProgress?.(e.loaded, e.total);
    };
    xhr.onload = () => {
      const text = xhr.responseText;
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          const record = JSON.parse(text) as ImageRecord;
          resolve({ ok: true, httpStatus: xhr.status, record, etag: etagOf(record, xhr.getResponseHeader('ETag')) });
        } catch {
          resolve({ ok: false, error: new ApiError(xhr.status, { error: 'bad_response', detail: 'the server sent an unreadable answer' }) });
        }
        return;
      }
      resolve({
        ok: false,
        error: new ApiError(xhr.status, errorBody(xhr.status, text), parseRetryAfter(xhr.getResponseHeader('Retry-After'))),
      });
    };
    xhr.onerror = () =>
      resolve({ ok: false, error: new ApiError(0, { error: 'network', detail: 'the upload failed: the server could not be reached' }) });
    xhr.onabort = () => resolve({ ok: false, error: new ApiError(0, { error: 'aborted', detail: 'cancelled' }) });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
