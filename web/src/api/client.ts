import type {
  Agreement,
  ApiErrorBody,
  ApiToken,
  AppConfig,
  AuditEntry,
  Draft,
  EvaluationSet,
  EvaluationSetBody,
  EvaluationSetView,
  GroupSummary,
  ImageList,
  ImageRecord,
  LoginAnswer,
  ModelEntry,
  ModelEvaluation,
  NewStudy,
  NewToken,
  NewUser,
  Read,
  RescoreAnswer,
  RetrainPolicy,
  RetrainPolicyBody,
  ScorePatch,
  Scores,
  SessionInfo,
  Study,
  StudyId,
  StudyImage,
  StudyImagesToAdd,
  StudyPatch,
  TrainingRun,
  TrainRequest,
  UserAccount,
  UserPatch,
} from './types';
import type { FieldRow, Region, SlideFields } from './slides';

// ---- Session state shared by every request ----

/** The header every state-changing request carries (docs/readers.md). */
export const CSRF_HEADER = 'X-CSRF-Token';

let csrfToken: string | null = null;

/** The token from `GET /api/session` or the login answer; null forgets it (after logout). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function getCsrfToken(): string | null {
  return csrfToken;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The headers to add for a request with this method: the CSRF token on everything but reads. */
export function csrfHeaders(method: string | undefined): Record<string, string> {
  if (SAFE_METHODS.has((method ?? 'GET').toUpperCase()) || !csrfToken) return {};
  return { [CSRF_HEADER]: csrfToken };
}

let unauthorizedHandler: (() => void) | null = null;

/**
 * Called when the server answers 401 to an ordinary request: the session ended (expired, logged
 * out elsewhere, the account was disabled). Not called for the login itself or for a wrong
 * current password, where 401 is an answer to show.
 */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  unauthorizedHandler = handler;
}

const OWN_401 = ['/api/login', '/api/account/password', '/api/session'];

/** Tells the app that the session ended (a 401 to a request to `path`), unless `path` answers 401 itself. */
export function sessionEnded(path: string): void {
  if (OWN_401.some((p) => path === p || path.startsWith(`${p}?`))) return;
  unauthorizedHandler?.();
}

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

/** The error body of an answer: its JSON when it sent one, else its text as `detail`. */
export function errorBody(status: number, text: string): ApiErrorBody {
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

async function request<T>(path: string, init?: RequestInit): Promise<{ data: T; etag: string | null; status: number }> {
  let res: Response;
  try {
    res = await fetch(path, {
      ...init,
      credentials: 'same-origin',
      headers: { Accept: 'application/json', ...csrfHeaders(init?.method), ...init?.headers },
    });
  } catch {
    // The browser's reason (“TypeError: Failed to fetch”) tells a person nothing.
    throw new ApiError(0, { error: 'network', detail: 'the server could not be reached' });
  }
  const text = await res.text();
  if (!res.ok) {
    if (res.status === 401) sessionEnded(path);
    throw new ApiError(res.status, errorBody(res.status, text), parseRetryAfter(res.headers.get('Retry-After')));
  }
  return { data: (text ? JSON.parse(text) : null) as T, etag: res.headers.get('ETag'), status: res.status };
}

export function etagOf(r: ImageRecord, header?: string | null): string {
  return header ?? `"${r.version}"`;
}

export async function getConfig(signal?: AbortSignal): Promise<AppConfig> {
  return (await request<AppConfig>('/api/config', { signal })).data;
}

export async function getImage(id: number): Promise<ImageRecord> {
  return (await request<ImageRecord>(`/api/images/${id}`)).data;
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
  /** true: the deleted records (History › Deleted) instead of the current ones. */
  deleted?: boolean;
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

/** Every sample group with its counts and means (what the caller may see). */
export async function listGroups(signal?: AbortSignal): Promise<GroupSummary[]> {
  return (await request<GroupSummary[]>('/api/groups', { signal })).data;
}

export async function getAudit(id: number, signal?: AbortSignal): Promise<AuditEntry[]> {
  const { data } = await request<{ entries: AuditEntry[] } | AuditEntry[]>(`/api/images/${id}/audit`, { signal });
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

/** A slide's scored fields (404 `not_a_slide` for an image, 403 `blinded_read` before one's blind score). */
export async function getSlideFields(id: number, signal?: AbortSignal): Promise<SlideFields> {
  return (await request<SlideFields>(`/api/images/${id}/fields`, { signal })).data;
}

/**
 * Scores a region of interest of a slide with the model that drafted it and keeps it with the
 * slide's fields → 201 with the region as a field (`roi: true`). 422 when it is too small (under
 * 64 × 64 level-0 pixels), outside the slide or too large to read; 403 `blinded_read` before
 * one's blind score in a study.
 */
export async function postRegion(id: number, region: Region): Promise<FieldRow> {
  return (
    await request<FieldRow>(`/api/images/${id}/roi`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(region),
    })
  ).data;
}

/** A slide's fields as downloads: a table, and GeoJSON for QuPath (File → Import objects). */
export const slideUrls = (id: number) => ({
  csv: `/api/images/${id}/fields.csv`,
  geojson: `/api/images/${id}/fields.geojson`,
});

export type UploadResult =
  | { ok: true; httpStatus: number; record: ImageRecord; etag: string }
  | { ok: false; error: ApiError };

export interface UploadHandle {
  promise: Promise<UploadResult>;
  /** Stops the upload (a resumable one can go on later from where it stopped). */
  abort: () => void;
  /** Stops and discards it: a resumable upload is also removed from the server. */
  cancel?: () => void;
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
    for (const [k, v] of Object.entries(csrfHeaders('POST'))) xhr.setRequestHeader(k, v);
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
      if (xhr.status === 401) sessionEnded('/api/images');
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

// ---- Session and accounts ----

const json = (body: unknown): RequestInit => ({
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

export async function getSession(signal?: AbortSignal): Promise<SessionInfo> {
  return (await request<SessionInfo>('/api/session', { signal })).data;
}

export async function login(name: string, password: string): Promise<LoginAnswer> {
  return (await request<LoginAnswer>('/api/login', { method: 'POST', ...json({ name, password }) })).data;
}

export async function logout(): Promise<void> {
  await request<unknown>('/api/logout', { method: 'POST' });
}

/**
 * Changes one's own password. The server may renew the session with it (other sessions end):
 * when the answer carries a new CSRF token, later requests send that one.
 */
export async function changePassword(current: string, next: string): Promise<void> {
  const { data } = await request<Partial<LoginAnswer> | null>('/api/account/password', { method: 'POST', ...json({ current, new: next }) });
  if (data && typeof data.csrf_token === 'string' && data.csrf_token) setCsrfToken(data.csrf_token);
}

export async function listUsers(signal?: AbortSignal): Promise<UserAccount[]> {
  return (await request<UserAccount[]>('/api/users', { signal })).data;
}

export async function createUser(body: NewUser): Promise<UserAccount> {
  return (await request<UserAccount>('/api/users', { method: 'POST', ...json(body) })).data;
}

export async function patchUser(name: string, body: UserPatch): Promise<UserAccount> {
  return (await request<UserAccount>(`/api/users/${encodeURIComponent(name)}`, { method: 'PATCH', ...json(body) })).data;
}

/** Lifts the wait that failed logins put on an account. */
export async function unlockUser(name: string): Promise<void> {
  await request<unknown>(`/api/users/${encodeURIComponent(name)}/unlock`, { method: 'POST' });
}

// ---- Studies ----

const studyPath = (id: StudyId) => `/api/studies/${encodeURIComponent(String(id))}`;

export async function listStudies(signal?: AbortSignal): Promise<Study[]> {
  return (await request<Study[]>('/api/studies', { signal })).data;
}

export async function createStudy(body: NewStudy): Promise<Study> {
  return (await request<Study>('/api/studies', { method: 'POST', ...json(body) })).data;
}

export async function getStudy(id: StudyId, signal?: AbortSignal): Promise<Study> {
  return (await request<Study>(studyPath(id), { signal })).data;
}

export async function patchStudy(id: StudyId, body: StudyPatch): Promise<Study> {
  return (await request<Study>(studyPath(id), { method: 'PATCH', ...json(body) })).data;
}

export async function addStudyImages(id: StudyId, body: StudyImagesToAdd): Promise<Study> {
  return (await request<Study>(`${studyPath(id)}/images`, { method: 'POST', ...json(body) })).data;
}

export async function listStudyImages(id: StudyId, signal?: AbortSignal): Promise<StudyImage[]> {
  return (await request<StudyImage[]>(`${studyPath(id)}/images`, { signal })).data;
}

/** The reader's view of one image; the first call starts the reader's clock. */
export async function getRead(id: StudyId, imageId: number, signal?: AbortSignal): Promise<Read> {
  return (await request<Read>(`${studyPath(id)}/images/${imageId}/read`, { signal })).data;
}

/** Blinded and not yet revealed: the blind score (reveals the AI draft); otherwise a revision. */
export async function submitRead(id: StudyId, imageId: number, scores: Scores, reason?: string): Promise<Read> {
  return (
    await request<Read>(`${studyPath(id)}/images/${imageId}/read`, {
      method: 'POST',
      ...json(reason ? { scores, reason } : { scores }),
    })
  ).data;
}

/**
 * Reports `ms` (1 to 60 000) of active viewing of the image being read since the last report: the
 * reader's time on task (lib/activeTime.ts). `keepalive`: the request outlives the page (sent when
 * the reader leaves it).
 */
export async function reportActive(id: StudyId, imageId: number, ms: number, keepalive = false): Promise<Read> {
  return (
    await request<Read>(`${studyPath(id)}/images/${imageId}/active`, {
      method: 'POST',
      keepalive,
      ...json({ ms }),
    })
  ).data;
}

export async function putFinal(id: StudyId, imageId: number, scores: Scores, reason?: string): Promise<StudyImage> {
  return (
    await request<StudyImage>(`${studyPath(id)}/images/${imageId}/final`, {
      method: 'PUT',
      ...json(reason ? { scores, reason } : { scores }),
    })
  ).data;
}

export async function getAgreement(id: StudyId, signal?: AbortSignal): Promise<Agreement> {
  return (await request<Agreement>(`${studyPath(id)}/agreement`, { signal })).data;
}

export const studyUrls = (id: StudyId) => ({
  agreementCsv: `${studyPath(id)}/agreement.csv`,
  exportCsv: `${studyPath(id)}/export.csv`,
  auditCsv: `/api/audit.csv?study_id=${encodeURIComponent(String(id))}`,
});

// ---- Models (docs/models.md) ----

const modelPath = (id: string) => `/api/models/${encodeURIComponent(id)}`;

/** Every registered model, newest first. */
export async function listModels(signal?: AbortSignal): Promise<ModelEntry[]> {
  return (await request<ModelEntry[]>('/api/models', { signal })).data;
}

export async function getModel(id: string): Promise<ModelEntry> {
  return (await request<ModelEntry>(modelPath(id))).data;
}

/** `created` is false when the weights were registered already (200 with the existing entry). */
export interface ImportAnswer {
  entry: ModelEntry;
  created: boolean;
}

/** Registers a `.pth` or `.safetensors` file (multipart `file`, optional `name`); never activates it. */
export async function importModel(file: Blob & { name: string }, name?: string): Promise<ImportAnswer> {
  const form = new FormData();
  form.append('file', file, file.name);
  if (name) form.append('name', name);
  // No Content-Type: the browser sets multipart/form-data with its boundary.
  const { data, status } = await request<ModelEntry>('/api/models', { method: 'POST', body: form });
  return { entry: data, created: status === 201 };
}

/** Makes the model the one that scores new uploads; answers it (now active). */
export async function activateModel(id: string, reason?: string): Promise<ModelEntry> {
  return (await request<ModelEntry>(`${modelPath(id)}/activate`, { method: 'POST', ...json(reason ? { reason } : {}) })).data;
}

/** Back to the model active before the last activation; 409 when there is none. */
export async function rollbackModel(): Promise<ModelEntry> {
  return (await request<ModelEntry>('/api/models/rollback', { method: 'POST' })).data;
}

/**
 * Sets the area one field covers when the model scores a slide, `[width, height]` in µm, or `null`
 * for the default (administrators); answers the updated entry. 422 for a size ≤ 0 or > 100 000.
 */
export async function setModelField(id: string, fieldUm: [number, number] | null): Promise<ModelEntry> {
  return (await request<ModelEntry>(`${modelPath(id)}/field`, { method: 'PUT', ...json({ field_um: fieldUm }) })).data;
}

export const modelUrls = (id: string) => ({
  safetensors: `${modelPath(id)}/model.safetensors`,
  onnx: `${modelPath(id)}/model.onnx`,
  /** The latest comparison with the active model as CSV (404 when there is none). */
  evaluationCsv: `${modelPath(id)}/evaluation.csv`,
});

/** New drafts for these images with this model; scores a person set stay. */
export async function rescore(imageIds: number[], modelId: string): Promise<RescoreAnswer> {
  return (await request<RescoreAnswer>('/api/rescore', { method: 'POST', ...json({ image_ids: imageIds, model_id: modelId }) })).data;
}

/** Every AI draft of the image, oldest first. */
export async function getDrafts(imageId: number, signal?: AbortSignal): Promise<Draft[]> {
  const { data } = await request<Draft[] | { drafts: Draft[] }>(`/api/images/${imageId}/drafts`, { signal });
  return Array.isArray(data) ? data : data.drafts;
}

// ---- Training (docs/models.md, "Training") ----

const trainingPath = (id: number) => `/api/training/${encodeURIComponent(String(id))}`;

/** Starts training a new head in the background (administrators) → 202 with the run. */
export async function startTraining(body: TrainRequest): Promise<TrainingRun> {
  return (await request<TrainingRun>('/api/training', { method: 'POST', ...json(body) })).data;
}

/** The latest training runs, newest first. */
export async function listTrainingRuns(signal?: AbortSignal): Promise<TrainingRun[]> {
  return (await request<TrainingRun[]>('/api/training', { signal })).data;
}

/** One run with its latest progress. */
export async function getTrainingRun(id: number, signal?: AbortSignal): Promise<TrainingRun> {
  return (await request<TrainingRun>(trainingPath(id), { signal })).data;
}

/** Asks the run to stop after its current epoch (no model is made); answers the run. */
export async function cancelTrainingRun(id: number): Promise<TrainingRun> {
  return (await request<TrainingRun>(`${trainingPath(id)}/cancel`, { method: 'POST' })).data;
}

// ---- Automated retraining (docs/models.md) ----

/** When the server retrains on its own; the defaults (off) when it was never set. */
export async function getRetrainPolicy(signal?: AbortSignal): Promise<RetrainPolicy> {
  return (await request<RetrainPolicy>('/api/models/policy', { signal })).data;
}

/** Replaces the policy (administrators) → the policy as saved; 422 for what the server refuses. */
export async function setRetrainPolicy(body: RetrainPolicyBody): Promise<RetrainPolicy> {
  return (await request<RetrainPolicy>('/api/models/policy', { method: 'PUT', ...json(body) })).data;
}

/** Starts a run of the policy now (administrators) → 202 with the run; 409 while one is in progress. */
export async function runRetrainPolicy(): Promise<TrainingRun> {
  return (await request<TrainingRun>('/api/models/policy/run', { method: 'POST' })).data;
}

/** The sample groups kept aside to compare models on (`set` null until chosen), with what the set holds today. */
export async function getEvaluationSet(signal?: AbortSignal): Promise<EvaluationSetView> {
  return (await request<EvaluationSetView>('/api/models/evaluation-set', { signal })).data;
}

/**
 * Changes the evaluation set (administrators, with a reason kept in the audit log) → the new set;
 * 422 without a reason, for a share outside 0–0.5, for listed groups a model trained on, or for a
 * share of 0 without listed groups.
 */
export async function setEvaluationSet(body: EvaluationSetBody): Promise<EvaluationSet> {
  return (await request<EvaluationSet>('/api/models/evaluation-set', { method: 'PUT', ...json(body) })).data;
}

/** The model's comparisons with the model that was active, newest first. */
export async function listModelEvaluations(id: string, signal?: AbortSignal): Promise<ModelEvaluation[]> {
  return (await request<ModelEvaluation[]>(`${modelPath(id)}/evaluations`, { signal })).data;
}

/** Compares the model with the active one on the evaluation set now (administrators; may take seconds). */
export async function evaluateModel(id: string): Promise<ModelEvaluation> {
  return (await request<ModelEvaluation>(`${modelPath(id)}/evaluate`, { method: 'POST' })).data;
}

// ---- API tokens (docs/readers.md) ----

export async function listTokens(signal?: AbortSignal): Promise<ApiToken[]> {
  return (await request<ApiToken[]>('/api/account/tokens', { signal })).data;
}

export async function createToken(name: string, expiresInDays: number | null): Promise<NewToken> {
  const body = expiresInDays == null ? { name } : { name, expires_in_days: expiresInDays };
  return (await request<NewToken>('/api/account/tokens', { method: 'POST', ...json(body) })).data;
}

export async function revokeToken(id: number): Promise<ApiToken> {
  return (await request<ApiToken>(`/api/account/tokens/${id}`, { method: 'DELETE' })).data;
}
