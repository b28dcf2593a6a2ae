// The review server's JSON, as its OpenAPI document says (docs/openapi.json, turned into
// schema.gen.d.ts by `npm run generate`). Where the document is looser than what the UI relies on,
// the type is narrowed here and the comment says how: each is a place where the server's
// annotations could say more.

import type { components } from './schema.gen';

type Schemas = components['schemas'];

/** `T` with the fields of `F` in place of its own. */
export type With<T, F> = Omit<T, keyof F> & F;

export type ImageStatus = Schemas['ImageStatus'];
export type ReviewStatus = Schemas['ReviewStatus'];
export type Role = Schemas['Role'];
export type ModelFormat = Schemas['WeightFormat'];
export type ModelSource = Schemas['ModelSource'];
export type TrainingState = Schemas['TrainingState'];

export const ROLES: readonly Role[] = ['viewer', 'pathologist', 'admin'];

export type Metric = Schemas['Metric'];
export type Schema = Schemas['Schema'];
/** `GET /api/config`: the schema, the model, upload limits (multipart and resumable). */
export type AppConfig = Schemas['ConfigResponse'];
/** Scores by metric name. */
export type Scores = Schemas['IndexMap'];

/**
 * One AI draft: the record's current one (`ImageRecord.draft`) or one of its history
 * (`GET /api/images/{id}/drafts`, docs/models.md).
 */
export type Draft = Schemas['Draft'];

export type ImageRecord = Schemas['ImageRecord'];
export type ScorePatch = Schemas['ScoresPatch'];

export function groupOf(r: { group?: string | null }): string {
  return r.group ?? '';
}

export type GroupSummary = Schemas['GroupSummary'];
export type ImageList = Schemas['ListResponse'];
export type AuditEntry = Schemas['AuditEntry'];

/**
 * An error answer. Narrowed: the document's ErrorBody has `error`, `detail` and `field`; a 409 to a
 * score change also carries the record as it is now (`current`, offered to keep), and one to an
 * upload of known content the record it matches (`existing_id`).
 */
export type ApiErrorBody = Schemas['ErrorBody'] & { current?: ImageRecord; existing_id?: number };

/** One message of `GET /api/events` (server-sent events: the document does not describe them). */
export interface ImageEvent {
  id: number;
  status?: string;
  version?: number;
  deleted?: boolean;
  /** A slide being scored: fields done and to do (sent as fields are scored; the version stays). */
  progress?: Schemas['Progress'] | null;
}

// ---- Accounts, studies and agreement (docs/readers.md) ----

export type SessionUser = Schemas['SessionUser'];

// Narrowed: the document says `mode` is a string; it is one of these two.
export type SessionMode = 'single-user' | 'accounts';

/** `GET /api/session`. */
export type SessionInfo = With<Schemas['SessionResponse'], { mode: SessionMode }>;

/** `POST /api/login` → 200. */
export type LoginAnswer = Schemas['LoginResponse'];

export type UserAccount = Schemas['User'];
export type NewUser = Schemas['NewUserBody'];
export type UserPatch = Schemas['UserPatchBody'];

/** Study ids travel in paths: the number, or the text of a route. */
export type StudyId = Schemas['Study']['id'] | string;

export type Study = Schemas['Study'];
export type NewStudy = Schemas['NewStudy'];
export type StudyPatch = Schemas['StudyPatch'];
export type StudyImagesToAdd = Schemas['AddImagesBody'];
export type ReaderScores = Schemas['ReadView'];

export type StudyImage = With<
  Schemas['StudyImage'],
  {
    // Narrowed: the document says a string (null for non-readers); it is one of these.
    my_state?: 'not_started' | 'blind' | 'revealed' | null;
  }
>;

/** `GET|POST /api/studies/{id}/images/{image_id}/read`. */
export type Read = With<
  Schemas['Read'],
  {
    // Narrowed: the document says a string; it is one of these.
    state: 'blind' | 'revealed';
  }
>;

export type Stat = Schemas['Stat'];

// Narrowed: the document says an array of numbers; it is (lower, upper).
export type Interval = { value: number; ci95: [number, number] } | { not_defined: string };

type BlandAltman = With<
  Schemas['BlandAltman'],
  {
    // Narrowed: the document says arrays of numbers; each point is [mean of a and b, a − b].
    points: [number, number][];
  }
>;

export type AgreementPair = With<Schemas['PairResult'], { icc2_1: Interval; icc3_1: Interval; bland_altman: BlandAltman }>;
export type ShiftRow = Schemas['Shift'];

export type MetricAgreement = With<
  Schemas['MetricAgreement'],
  {
    pairs: AgreementPair[];
    icc_readers: { n: number; icc2_1: Interval; icc3_1: Interval };
  }
>;

export type Agreement = With<Schemas['Agreement'], { metrics: MetricAgreement[] }>;

// ---- Model registry (docs/models.md) ----

/** `GET /api/models` (newest first) and `GET /api/models/{id}`. */
export type ModelEntry = Schemas['ModelEntry'];

/**
 * `POST /api/rescore` → 202. Not in the document (it gives that route no answer): the images
 * queued, and those not queued and why.
 */
export interface RescoreAnswer {
  queued: number;
  skipped?: { id: number; reason: string }[];
}

// ---- Training (docs/models.md, "Training") ----

export type TrainRequest = Schemas['TrainRequest'];

/** One epoch of a run: losses of the scaled targets, validation MAE in score units (schema order). */
export interface EpochReport {
  epoch: number;
  train_loss: number;
  val_loss: number;
  val_mae: number[];
}

/** A run's latest progress: free-form JSON in the document; read it with `parseProgress` (lib/training). */
export type TrainingProgress =
  | { stage: 'features'; done: number; total: number }
  | { stage: 'training'; train: number; validation: number; validation_groups: string[] }
  | ({ stage: 'epoch' } & EpochReport)
  | { stage: 'warning'; message: string };

/** `GET /api/training` (newest first), `GET /api/training/{id}`, and the answers of start and cancel. */
export type TrainingRun = Schemas['TrainingRun'];

/** An API token as lists show it (never the token itself). */
export type ApiToken = Schemas['ApiToken'];
/** A new token: the token itself is in this answer only. */
export type NewToken = Schemas['NewTokenResponse'];
