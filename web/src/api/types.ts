// Shapes of the review server's JSON (see issue 4 / the server crate). Fields the server may add
// later are optional so an older or newer server still renders.

export interface Metric {
  name: string;
  max: number;
}

export interface Schema {
  name: string;
  step: number;
  metrics: Metric[];
}

export interface ModelInfo {
  id: string;
  demo: boolean;
  engine?: string;
  /** The registry's name for it, when the server says it. */
  name?: string | null;
}

export interface AppConfig {
  version: string;
  schema: Schema;
  model: ModelInfo;
  max_upload_bytes?: number;
}

export type ImageStatus = 'queued' | 'scoring' | 'scored' | 'failed';
export type ReviewStatus = 'unreviewed' | 'reviewed';

/**
 * One AI draft: the record's current one (`ImageRecord.draft`) or one of its history
 * (`GET /api/images/{id}/drafts`, docs/models.md), which also carries its id and image id.
 */
export interface Draft {
  id?: number | string;
  image_id?: number;
  model_id: string;
  model_demo: boolean;
  raw_outputs: Record<string, number>;
  rounded: Record<string, number>;
  /** Per metric, the spread (SD) of the score under flips and rotation; null or absent in older drafts. */
  uncertainty?: Record<string, number> | null;
  created_at: string;
}

export interface ImageRecord {
  id: number;
  filename: string;
  serial: string | null;
  /** `group` per the API contract; the store currently serialises it as `group_name`. */
  group?: string | null;
  group_name?: string | null;
  image_number: number | null;
  sha256: string;
  size_bytes: number;
  width: number | null;
  height: number | null;
  format: string | null;
  status: ImageStatus;
  error: string | null;
  review_status: ReviewStatus;
  version: number;
  created_at: string;
  updated_at: string;
  updated_by: string;
  deleted_at: string | null;
  draft: Draft | null;
  scores: Record<string, number>;
  /** Set when the caller reads this image in a blinded study (not yet adjudicated): they
   * score it there; its official score is not theirs to change. */
  locked_by_study?: number | null;
}

export function groupOf(r: Pick<ImageRecord, 'group' | 'group_name'>): string {
  return r.group ?? r.group_name ?? '';
}

export interface GroupSummary {
  group?: string | null;
  group_name?: string | null;
  count: number;
  reviewed?: number;
  means?: Record<string, number | null>;
}

export interface ImageList {
  items: ImageRecord[];
  total: number;
  groups: GroupSummary[];
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  image_id: number;
  action: string;
  field: string | null;
  old_value: string | number | null;
  new_value: string | number | null;
  reason: string | null;
}

export interface ApiErrorBody {
  error: string;
  detail: string;
  field?: string;
  allowed?: { min: number; max: number; step: number } | null;
  current?: ImageRecord;
  existing_sha256?: string;
  uploaded_sha256?: string;
  existing_id?: number;
  [key: string]: unknown;
}

export interface ImageEvent {
  id: number;
  status?: string;
  version?: number;
  deleted?: boolean;
}

// ---- Accounts, studies and agreement (docs/readers.md) ----

export type Role = 'viewer' | 'pathologist' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'pathologist', 'admin'];

export interface SessionUser {
  name: string;
  role: Role;
}

export type SessionMode = 'single-user' | 'accounts';

/** `GET /api/session`. */
export interface SessionInfo {
  mode: SessionMode;
  user: SessionUser | null;
  csrf_token: string | null;
}

/** `POST /api/login` → 200. */
export interface LoginAnswer {
  user: SessionUser;
  csrf_token: string;
}

export interface UserAccount {
  name: string;
  role: Role;
  disabled: boolean;
  created_at: string;
}

export interface UserPatch {
  role?: Role;
  disabled?: boolean;
  password?: string;
}

/** Scores by metric name. */
export type Scores = Record<string, number>;

/** Study ids travel in paths; the contract does not say number or string, so both are accepted. */
export type StudyId = number | string;

export interface StudyProgress {
  blind: number;
  revised: number;
}

export interface Study {
  id: StudyId;
  name: string;
  description?: string | null;
  blinded: boolean;
  require_reason: boolean;
  readers: string[];
  image_count: number;
  created_at: string;
  created_by: string;
  /** Admins and viewers: every reader; a reader: only their own entry. */
  progress: Record<string, StudyProgress>;
}

export interface NewStudy {
  name: string;
  description?: string;
  blinded: boolean;
  require_reason: boolean;
  readers: string[];
  groups?: string[];
  image_ids?: number[];
}

export interface StudyPatch {
  name?: string;
  description?: string;
  require_reason?: boolean;
  readers?: string[];
}

export type MyState = 'not_started' | 'blind' | 'revealed';

export interface ReaderScores {
  blind: Scores | null;
  revised: Scores | null;
  blind_seconds: number | null;
  revised_seconds: number | null;
}

export interface StudyImage {
  image_id: number;
  filename: string;
  serial: string | null;
  group?: string | null;
  group_name?: string | null;
  status: ImageStatus;
  /** null when the caller is not a reader of the study. */
  my_state: MyState | null;
  /** Hidden (null) from a reader until they reveal, in a blinded study. */
  ai: Scores | null;
  /** Admins and viewers: every reader; a reader: only their own. */
  reads: Record<string, ReaderScores>;
  /** The image's current (adjudicated) score. */
  final: Scores | null;
  version: number;
}

export interface ReadImage {
  id: number;
  filename: string;
  serial: string | null;
  group?: string | null;
  group_name?: string | null;
  width: number | null;
  height: number | null;
  status: ImageStatus;
}

export type ReadState = 'blind' | 'revealed';

/** `GET|POST /api/studies/{id}/images/{image_id}/read`. */
export interface Read {
  study_id: StudyId;
  image: ReadImage;
  blinded: boolean;
  /** Not in docs/readers.md; the server sends it (the study's rule). */
  require_reason?: boolean;
  state: ReadState;
  blind: Scores | null;
  /** The reader's current score (the server may set it to the blind score at the blind submit). */
  revised: Scores | null;
  /** null while state = blind in a blinded study. */
  ai: Scores | null;
  model_id: string | null;
  blind_seconds: number | null;
  revised_seconds: number | null;
}

export type Stat = { value: number } | { not_defined: string };
export type Interval = { value: number; ci95: [number, number] } | { not_defined: string };

export interface BlandAltman {
  mean_diff: Stat;
  sd_diff: Stat;
  loa_low: Stat;
  loa_high: Stat;
  /** [mean of a and b, a − b] per image. */
  points: [number, number][];
}

export interface AgreementPair {
  a: string;
  b: string;
  n: number;
  mae: Stat;
  qwk: Stat;
  icc2_1: Interval;
  icc3_1: Interval;
  bland_altman: BlandAltman;
  /** Rows: a's grid index; columns: b's. */
  confusion: number[][];
}

export interface ShiftRow {
  reader: string;
  n: number;
  changed: number;
  toward_ai: number;
  away_from_ai: number;
  mean_abs_to_ai_blind: Stat;
  mean_abs_to_ai_revised: Stat;
}

export interface MetricAgreement {
  metric: string;
  max: number;
  step: number;
  grid: number[];
  /** "ai" first, then the reader names. */
  raters: string[];
  pairs: AgreementPair[];
  icc_readers: { n: number; icc2_1: Interval; icc3_1: Interval };
  /** Blinded studies only. */
  shift?: ShiftRow[] | null;
}

export interface Agreement {
  study_id: StudyId;
  metrics: MetricAgreement[];
}

// ---- Model registry (docs/models.md) ----

export type ModelFormat = 'pth' | 'safetensors';
export type ModelSource = 'import' | 'trained';

/** `GET /api/models` (newest first) and `GET /api/models/{id}`. */
export interface ModelEntry {
  id: string;
  name: string;
  sha256: string;
  format: ModelFormat;
  source: ModelSource;
  parent_id: string | null;
  schema: Schema;
  /** Trained models: the evaluation's figures (free-form). */
  metrics: Record<string, unknown> | null;
  /** Trained models: the training-set snapshot and settings (free-form). */
  training: Record<string, unknown> | null;
  created_at: string;
  created_by: string;
  active: boolean;
  /** When it last became active. */
  activated_at: string | null;
}

/** `POST /api/rescore` → 202. */
export interface RescoreAnswer {
  queued: number;
  /** Not in docs/models.md; the server sends it: the images it did not queue, and why. */
  skipped?: { id: number; reason: string }[];
}

// ---- Training (docs/models.md, "Training") ----

export type TrainingState = 'running' | 'done' | 'failed' | 'cancelled';

/** `POST /api/training`: every field optional; the server's defaults are seed 42, 300 epochs, 0.2. */
export interface TrainRequest {
  /** Registry id of the model to start from; default: the active model. */
  from?: string;
  seed?: number;
  /** Most epochs (training stops earlier when the validation loss stops improving). */
  epochs?: number;
  /** Share of the images (whole sample groups) kept for validation, 0.05 to 0.5. */
  val_fraction?: number;
  name?: string;
  allow_untrained_parent?: boolean;
  /**
   * Not in docs/models.md yet: train the head only (on cached features). Servers that only train
   * the head ignore it.
   */
  head_only?: boolean;
}

/** One epoch of a run: losses of the scaled targets, validation MAE in score units (schema order). */
export interface EpochReport {
  epoch: number;
  train_loss: number;
  val_loss: number;
  val_mae: number[];
}

/** A run's latest progress. */
export type TrainingProgress =
  | { stage: 'features'; done: number; total: number }
  | { stage: 'training'; train: number; validation: number; validation_groups: string[] }
  | ({ stage: 'epoch' } & EpochReport)
  | { stage: 'warning'; message: string };

/** `GET /api/training` (newest first), `GET /api/training/{id}`, and the answers of start and cancel. */
export interface TrainingRun {
  id: number;
  state: TrainingState;
  /** The request as the server read it (free-form). */
  params: Record<string, unknown> | null;
  /** Free-form JSON on the wire; read it with `parseProgress` (lib/training). */
  progress: unknown;
  error: string | null;
  /** The registered model, once done. */
  model_id: string | null;
  cancel_requested: boolean;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** A trained model's `metrics[metric]`: the new model and its parent on the same validation images. */
export interface MetricQuality {
  metric?: string;
  n?: number;
  mae: Stat;
  qwk: Stat;
  parent_mae: Stat;
  parent_qwk: Stat;
}
