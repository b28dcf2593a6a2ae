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


/** An API token as lists show it (never the token itself). */
export type ApiToken = Schemas['ApiToken'];
/** A new token: the token itself is in this answer only. */
export type NewToken = Schemas['NewTokenResponse'];

// ---- Automated retraining (docs/models.md) ----
// Not in the OpenAPI document yet: written by hand from the server's contract. Replace with
// `Schemas[...]` (narrowed where needed) once `npm run generate` picks them up.

/** Who started a training run: a person, or the retraining policy (its schedule, or Run now). */
export type TrainingOrigin = 'manual' | 'policy';

/** `GET /api/training` (newest first), `GET /api/training/{id}`, and the answers of start and cancel. */
export type TrainingRun = With<
  Schemas['TrainingRun'],
  {
    // Not in the document yet; absent from an older server (read as `manual`).
    origin?: TrainingOrigin;
  }
>;

/** `GET|PUT /api/models/policy`: when the server retrains on its own (off while both triggers are null). */
export interface RetrainPolicy {
  /** Retrain once this many images were reviewed since the last policy run; null: not on this ground. */
  after_reviewed: number | null;
  /** Retrain every this many hours; null: no schedule. */
  every_hours: number | null;
  /** Train only the last layer instead of fine-tuning `layers`. */
  head_only: boolean;
  /** The network's layers a fine-tune trains (e.g. layer3, layer4, fc). */
  layers: string[];
  /** A better new model becomes the active one at once; otherwise it waits for an administrator. */
  auto_promote: boolean;
  /** Metrics whose error must improve for a new model to count as better; [] = every metric. */
  metrics: string[];
  /** Set by the server; ignored in a PUT. */
  updated_by?: string | null;
  updated_at?: string | null;
}

/** `PUT /api/models/policy`'s body. */
export type RetrainPolicyBody = Omit<RetrainPolicy, 'updated_by' | 'updated_at'>;

/**
 * An evaluation set as chosen (`PUT /api/models/evaluation-set`'s answer, and `set` in the GET's):
 * the sample groups kept aside (never trained on) to compare models on. Membership is a fixed
 * rule: a seeded hash of each group's name puts about `share` of all sample groups, present and
 * future, into it, so no group ever changes sides.
 */
export interface EvaluationSet {
  id: number;
  /** Share (0–0.5) of the sample groups the rule puts in the set. */
  share: number;
  /** The rule's seed (a 64-bit number: not exact in JavaScript; never shown). */
  seed: number;
  /** Groups in the set besides those the rule picks, listed by an administrator. */
  groups: string[];
  /** Groups models had already trained on when the set was chosen: never in it. */
  trained: string[];
  reason: string;
  /** An administrator's name, or `retraining-policy` when chosen at the first policy run. */
  chosen_by: string;
  chosen_at: string;
}

/** A reviewed sample group in the evaluation set today, with its reviewed images that can be compared on. */
export interface EvaluationSetMember {
  group: string;
  images: number;
}

/** `GET /api/models/evaluation-set`: the set (null until chosen) and what it holds today. */
export interface EvaluationSetView {
  set: EvaluationSet | null;
  /** The reviewed sample groups in the set today. */
  members: EvaluationSetMember[];
  /** Usable reviewed images inside the set, and outside it (what training may use). */
  evaluation_images: number;
  training_images: number;
  /** What a comparison needs (20 images from 5 groups). */
  min_images: number;
  min_groups: number;
}

/** `PUT /api/models/evaluation-set`'s body. */
export interface EvaluationSetBody {
  /** 0–0.5; omitted: kept as it is (0.2 for a first set). */
  share?: number;
  /** Extra groups in the set ([] = none; omitted = none). */
  groups?: string[];
  /** Pick the groups afresh with a new seed (only groups no model trained on can move). */
  reshuffle?: boolean;
  /** Why (required, kept in the audit log). */
  reason: string;
}

export type Verdict = 'better' | 'worse' | 'no_clear_difference' | 'not_enough_data';

/** One metric of a comparison. Differences are new model (challenger) − active model (champion). */
export interface MetricComparison {
  metric: string;
  /** Whether this metric's error must improve for the new model to count as better. */
  chosen: boolean;
  champion_mae: Interval;
  challenger_mae: Interval;
  mae_difference: Interval;
  champion_kappa: Interval;
  challenger_kappa: Interval;
  kappa_difference: Interval;
  /** Share (0–1) of images whose score differs between the two models. */
  changed_share: Interval;
  verdict: Verdict;
}

/** A full comparison (`ModelEvaluation.report` when one was possible). */
export interface ComparisonReport {
  images: number;
  groups: number;
  options: { metrics: string[]; resamples: number; seed: number; min_images: number; min_groups: number };
  metrics: MetricComparison[];
  verdict: Verdict;
  summary: string;
  champion_id?: string | null;
  challenger_id?: string | null;
  evaluation_set?: { id: number; groups: string[] } | null;
}

/** `GET /api/models/{id}/evaluations` (newest first) and `POST /api/models/{id}/evaluate`. */
export interface ModelEvaluation {
  id: number;
  model_id: string;
  champion_id: string | null;
  evaluation_set_id: number | null;
  run_id: number | null;
  // Narrowed: the server says a string; it is one of these.
  verdict: Verdict;
  /** `{summary}` alone when no comparison was possible, else a ComparisonReport: read it with `parseReport` (lib/retraining). */
  report: unknown;
  created_at: string;
}
