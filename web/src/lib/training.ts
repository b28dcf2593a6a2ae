// Training a new model from the Models page (docs/models.md, "Training"): the start form's
// check, reading a run's free-form progress, the words and figures the run list shows, the
// tiny loss chart's paths and what a refused training action means. Pure functions, no React.

import { ApiError } from '../api/client';
import type { EpochReport, TrainingProgress, TrainingRun, TrainRequest } from '../api/types';
import type { Tone } from '../components/ui';
import { formatFigure } from './models';

/** The server's defaults (`TrainRequest::default`), shown in the form. */
export const TRAINING_DEFAULTS = { seed: 42, epochs: 300, valFraction: 0.2 } as const;
/** What the server accepts (`POST /api/training` answers 422 outside these). */
export const EPOCHS_MAX = 10_000;
export const VAL_FRACTION_MIN = 0.05;
export const VAL_FRACTION_MAX = 0.5;

/** The start form's fields, as typed. */
export interface TrainFields {
  /** `full`: layer3, layer4 and the head (the original's recipe); `head`: the head only. */
  mode: 'full' | 'head';
  name: string;
  seed: string;
  epochs: string;
  valFraction: string;
}

export const defaultTrainFields = (): TrainFields => ({
  mode: 'full',
  name: '',
  seed: String(TRAINING_DEFAULTS.seed),
  epochs: String(TRAINING_DEFAULTS.epochs),
  valFraction: String(TRAINING_DEFAULTS.valFraction),
});

export type TrainFormCheck = { ok: true; request: TrainRequest } | { ok: false; field: keyof TrainFields; error: string };

/** A typed number: decimal comma accepted; NaN when empty or not a number. */
function typedNumber(s: string): number {
  const t = s.trim().replace(',', '.');
  return t === '' ? NaN : Number(t);
}

/** The request the form's fields make, or which field is wrong and why (the server checks again). */
export function trainRequest(f: TrainFields): TrainFormCheck {
  const seed = typedNumber(f.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    return { ok: false, field: 'seed', error: 'The seed must be a whole number, 0 or more (the same seed and data give the same model).' };
  }
  const epochs = typedNumber(f.epochs);
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > EPOCHS_MAX) {
    return { ok: false, field: 'epochs', error: `Most epochs must be a whole number from 1 to ${EPOCHS_MAX.toLocaleString('en-US')}.` };
  }
  const val = typedNumber(f.valFraction);
  if (!Number.isFinite(val) || val < VAL_FRACTION_MIN || val > VAL_FRACTION_MAX) {
    return {
      ok: false,
      field: 'valFraction',
      error: `The validation share must be between ${VAL_FRACTION_MIN} and ${VAL_FRACTION_MAX} (e.g. 0.2 keeps a fifth of the images, whole sample groups, for validation).`,
    };
  }
  const request: TrainRequest = { head_only: f.mode === 'head', seed, epochs, val_fraction: val };
  const name = f.name.trim();
  if (name) request.name = name;
  return { ok: true, request };
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function epochReport(v: Record<string, unknown>): EpochReport | null {
  if (!isNum(v.epoch) || !isNum(v.train_loss) || !isNum(v.val_loss)) return null;
  const mae = Array.isArray(v.val_mae) ? v.val_mae.map((x) => (isNum(x) ? x : NaN)) : [];
  return { epoch: v.epoch, train_loss: v.train_loss, val_loss: v.val_loss, val_mae: mae };
}

/** A run's progress (free-form JSON) as one of the documented stages, or null (none yet, or unknown). */
export function parseProgress(v: unknown): TrainingProgress | null {
  if (!isObj(v)) return null;
  switch (v.stage) {
    case 'features':
      return isNum(v.done) && isNum(v.total) ? { stage: 'features', done: v.done, total: v.total } : null;
    case 'training':
      if (!isNum(v.train) || !isNum(v.validation)) return null;
      return {
        stage: 'training',
        train: v.train,
        validation: v.validation,
        validation_groups: Array.isArray(v.validation_groups) ? v.validation_groups.map(String) : [],
      };
    case 'epoch': {
      const r = epochReport(v);
      return r ? { stage: 'epoch', ...r } : null;
    }
    case 'warning':
      return typeof v.message === 'string' ? { stage: 'warning', message: v.message } : null;
    default:
      return null;
  }
}

/** Share done, 0–100, whole: never 100 before the last one is done. */
export function featuresPercent(done: number, total: number): number {
  if (!(total > 0) || !(done > 0)) return 0;
  if (done >= total) return 100;
  return Math.min(99, Math.floor((done / total) * 100));
}

/** A number from the run's params (the request as the server read it), or null. */
export function runParam(run: Pick<TrainingRun, 'params'>, key: string): number | null {
  const v = isObj(run.params) ? run.params[key] : undefined;
  return isNum(v) ? v : null;
}

/** The run's settings in a line: name, seed, most epochs, validation share. */
export function paramsSummary(run: Pick<TrainingRun, 'params'>): string {
  const parts: string[] = [];
  const name = isObj(run.params) && typeof run.params.name === 'string' ? run.params.name.trim() : '';
  if (name) parts.push(`“${name}”`);
  const seed = runParam(run, 'seed');
  if (seed != null) parts.push(`seed ${seed}`);
  const epochs = runParam(run, 'epochs');
  if (epochs != null) parts.push(`at most ${epochs} epochs`);
  const val = runParam(run, 'val_fraction');
  if (val != null) parts.push(`validation ${formatFigure(val * 100)}%`);
  return parts.join(' · ');
}

/** A list of names in a sentence, the first `max` and how many more. */
function someNames(names: string[], max = 4): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** What a running run is doing, in a sentence. */
export function progressText(p: TrainingProgress | null, maxEpochs: number | null = null): string {
  if (!p) return 'Starting: reading the reviewed images…';
  switch (p.stage) {
    case 'features':
      return `Computing features: ${p.done} of ${p.total} ${p.total === 1 ? 'image' : 'images'} (${featuresPercent(p.done, p.total)}%)`;
    case 'training': {
      const groups = p.validation_groups.length ? ` (${p.validation_groups.length === 1 ? 'group' : 'groups'} ${someNames(p.validation_groups)})` : '';
      return `Training the head on ${p.train} ${p.train === 1 ? 'image' : 'images'}; ${p.validation} held out for validation${groups}`;
    }
    case 'epoch':
      return `Epoch ${p.epoch}${maxEpochs != null ? ` of at most ${maxEpochs}` : ''}`;
    case 'warning':
      return `Warning: ${p.message}`;
  }
}

/** A run's progress as it came (free-form JSON) in a sentence; a stage this page does not know by its name. */
export function describeProgress(raw: unknown, maxEpochs: number | null = null): string {
  const p = parseProgress(raw);
  if (p || !isObj(raw) || typeof raw.stage !== 'string' || !raw.stage) return progressText(p, maxEpochs);
  return `Working: ${raw.stage.replace(/_/g, ' ')}…`;
}

/** Validation MAE per metric, named by the schema (in its order). */
export function maeByMetric(valMae: readonly number[], metricNames: readonly string[]): { metric: string; value: string }[] {
  return valMae.map((v, i) => ({ metric: metricNames[i] ?? `output ${i + 1}`, value: isNum(v) ? formatFigure(v) : '–' }));
}

export interface StateBadge {
  label: string;
  tone: Tone;
}

/** The run's state as its badge says it. */
export function runStateBadge(run: Pick<TrainingRun, 'state' | 'cancel_requested'>): StateBadge {
  switch (run.state) {
    case 'running':
      return run.cancel_requested ? { label: 'cancelling…', tone: 'amber' } : { label: 'running', tone: 'blue' };
    case 'done':
      return { label: 'done', tone: 'green' };
    case 'failed':
      return { label: 'failed', tone: 'red' };
    case 'cancelled':
      return { label: 'cancelled', tone: 'slate' };
    default:
      return { label: String(run.state), tone: 'slate' };
  }
}

/** Who started the run: a person, or the retraining policy (on its own, or by an administrator's Run now). */
export function runStartedBy(run: Pick<TrainingRun, 'origin' | 'created_by'>): string {
  const who = run.created_by.trim() || '–';
  if (run.origin !== 'policy') return `by ${who}`;
  if (who === 'retraining-policy' || who === '–') return 'by the retraining policy';
  return `by the retraining policy (Run now by ${who})`;
}

// ---- How long it takes ----

/**
 * Rough figures on a 2-core server: computing one image's features for the head, and one image
 * through one epoch of a fine-tune (forward and backward passes, validation included).
 */
export const HEAD_SECONDS_PER_IMAGE = 0.15;
export const HEAD_OVERHEAD_SECONDS = 5;
export const FINETUNE_SECONDS_PER_IMAGE_EPOCH = 0.4;

/** A duration as people say it roughly: “a few seconds”, “about 20 s”, “about 4 min”, “about 3 h 20 min”. */
export function roughDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 10) return 'a few seconds';
  if (seconds < 60) return `about ${Math.max(10, Math.round(seconds / 5) * 5)} s`;
  if (seconds < 3600) return `about ${Math.max(1, Math.round(seconds / 60))} min`;
  let h = Math.floor(seconds / 3600);
  let m = Math.round((seconds - h * 3600) / 600) * 10;
  if (m === 60) {
    h += 1;
    m = 0;
  }
  return `about ${h} h${m ? ` ${m} min` : ''}`;
}

const capitalised = (s: string) => (s ? `${s[0]?.toUpperCase() ?? ''}${s.slice(1)}` : s);

/**
 * How long a run takes, said before it starts, from the number of reviewed images (null when the
 * page does not know it, or there are none: nothing to say). `maxEpochs` as typed (NaN when not a
 * number: the per-epoch time alone).
 */
export function estimateBeforeStart({ headOnly, images, maxEpochs }: { headOnly: boolean; images: number | null | undefined; maxEpochs: number }): string | null {
  if (images == null || !Number.isFinite(images) || images < 1) return null;
  const n = `${images.toLocaleString('en-US')} reviewed ${images === 1 ? 'image' : 'images'}`;
  if (headOnly) {
    const total = HEAD_SECONDS_PER_IMAGE * images + HEAD_OVERHEAD_SECONDS;
    return `${capitalised(roughDuration(total))} with ${n}: mostly computing each image's features once (about ${HEAD_SECONDS_PER_IMAGE} s per image), then a few seconds of training.`;
  }
  const perEpoch = FINETUNE_SECONDS_PER_IMAGE_EPOCH * images;
  const most = Number.isInteger(maxEpochs) && maxEpochs >= 1 ? `, so at most ${roughDuration(perEpoch * maxEpochs)} for ${maxEpochs.toLocaleString('en-US')} ${maxEpochs === 1 ? 'epoch' : 'epochs'}` : '';
  return `Rough estimate on a 2-core server: ${roughDuration(perEpoch)} per epoch (one pass over the ${n})${most}. It usually stops well before the maximum, once validation stops improving.`;
}

/** A count the progress reported (epoch, or images with features), with the server's time of the report (ms). */
export interface RateSample {
  stage: 'epoch' | 'features';
  n: number;
  at: number;
}

/**
 * The samples with this progress added: a new epoch (or more features done) is one more sample,
 * timed by the run's `updated_at` (the server's clock: when the progress was written), or `now`
 * when it has none; another stage or a count that went back starts over; the same count changes
 * nothing (the same array).
 */
export function addRateSample(samples: RateSample[], run: Pick<TrainingRun, 'progress' | 'updated_at'>, now: number = Date.now()): RateSample[] {
  const p = parseProgress(run.progress);
  if (!p || (p.stage !== 'epoch' && p.stage !== 'features')) return samples;
  const n = p.stage === 'epoch' ? p.epoch : p.done;
  const written = run.updated_at ? Date.parse(run.updated_at) : NaN;
  const sample = { stage: p.stage, n, at: Number.isFinite(written) ? written : now };
  const last = samples[samples.length - 1];
  if (!last || last.stage !== sample.stage || n < last.n) return [sample];
  if (n === last.n) return samples;
  return [...samples, sample];
}

/** Seconds per epoch (or per image) between the first and the last sample, or null under two. */
export function secondsPerStep(samples: readonly RateSample[]): number | null {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || last.n <= first.n) return null;
  const dt = (last.at - first.at) / 1000;
  return dt > 0 ? dt / (last.n - first.n) : null;
}

/** How long a running run has left, in words, from the pace seen while polling; null when there is nothing to say. */
export function timeLeftText(samples: readonly RateSample[], p: TrainingProgress | null, maxEpochs: number | null): string | null {
  if (!p || (p.stage !== 'epoch' && p.stage !== 'features')) return null;
  const last = samples[samples.length - 1];
  const rate = last && last.stage === p.stage ? secondsPerStep(samples) : null;
  if (p.stage === 'features') {
    if (rate == null) return null;
    return `Features: ${roughDuration(Math.max(0, p.total - p.done) * rate)} left.`;
  }
  if (maxEpochs == null) return null;
  if (rate == null) return 'Time left: known after the next epoch.';
  const left = Math.max(0, maxEpochs - p.epoch) * rate;
  if (left < 60) return 'Less than a minute left at most.';
  return `${capitalised(roughDuration(left))} left at most (it stops earlier when validation stops improving).`;
}

// ---- The loss chart ----

export interface LossPoint {
  epoch: number;
  train: number;
  val: number;
}

/**
 * The losses seen so far with this epoch's added: the same epoch replaces the last point, an
 * earlier one starts over. Anything but an epoch leaves the list as it is (the same array).
 */
export function addEpoch(history: LossPoint[], p: TrainingProgress | null): LossPoint[] {
  if (!p || p.stage !== 'epoch') return history;
  const point = { epoch: p.epoch, train: p.train_loss, val: p.val_loss };
  const last = history[history.length - 1];
  if (!last || p.epoch > last.epoch) return [...history, point];
  if (p.epoch === last.epoch) {
    return last.train === point.train && last.val === point.val ? history : [...history.slice(0, -1), point];
  }
  return [point];
}

/** A trained model's epoch history (its `training.history`), as loss points. */
export function historyFromTraining(training: unknown): LossPoint[] {
  if (!isObj(training) || !Array.isArray(training.history)) return [];
  const out: LossPoint[] = [];
  for (const h of training.history) {
    const r = isObj(h) ? epochReport(h) : null;
    if (r) out.push({ epoch: r.epoch, train: r.train_loss, val: r.val_loss });
  }
  return out;
}

export interface LossPaths {
  /** SVG path data. */
  train: string;
  val: string;
  /** Losses span orders of magnitude: a log scale when every loss is above zero. */
  log: boolean;
  /** The first and last point drawn. */
  first: LossPoint;
  last: LossPoint;
}

/** SVG paths of the train and validation losses in a width × height box, or null under two points. */
export function lossPaths(points: readonly LossPoint[], width: number, height: number, pad = 2): LossPaths | null {
  const pts = points.filter((p) => isNum(p.epoch) && isNum(p.train) && isNum(p.val));
  const first = pts[0];
  const last = pts[pts.length - 1];
  if (!first || !last || pts.length < 2) return null;
  const log = pts.every((p) => p.train > 0 && p.val > 0);
  const y = (v: number) => (log ? Math.log10(v) : v);
  const ys = pts.flatMap((p) => [y(p.train), y(p.val)]);
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const e0 = first.epoch;
  const e1 = last.epoch;
  const px = (e: number) => pad + (e1 > e0 ? ((e - e0) / (e1 - e0)) * (width - 2 * pad) : 0);
  // Higher loss higher up; a flat line sits in the middle.
  const py = (v: number) => (hi > lo ? pad + ((hi - y(v)) / (hi - lo)) * (height - 2 * pad) : height / 2);
  const r = (n: number) => Math.round(n * 10) / 10;
  const path = (sel: (p: LossPoint) => number) => pts.map((p, i) => `${i ? 'L' : 'M'}${r(px(p.epoch))},${r(py(sel(p)))}`).join(' ');
  return { train: path((p) => p.train), val: path((p) => p.val), log, first, last };
}

/** What the loss chart shows, for a screen reader. */
export function lossSummary({ first, last, log }: Pick<LossPaths, 'first' | 'last' | 'log'>): string {
  const f = formatFigure;
  return `Loss from epoch ${first.epoch} to ${last.epoch}${log ? ' (log scale)' : ''}: train ${f(first.train)} to ${f(last.train)}, validation ${f(first.val)} to ${f(last.val)}.`;
}

// ---- Refusals ----

export type TrainingAction = 'load' | 'start' | 'cancel' | 'poll';

/** What a refused training action means, and what to do about it. */
export function trainingErrorMessage(e: unknown, action: TrainingAction): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  const detail = e.message.trim().replace(/\.$/, '');
  switch (e.status) {
    case 0:
      return 'The server could not be reached: check that it is running, then try again.';
    case 403:
      return `${detail} (only administrators start and cancel training: ask one).`;
    case 404:
      if (action === 'load' || action === 'start') return 'This server cannot train models (it is older than this page): update the server.';
      return 'That training run is not known to the server (any more): reload the page.';
    case 422:
      if (action === 'start') return `The server refused these settings: ${detail}.`;
      return `${detail}.`;
    default:
      return `${detail}.`;
  }
}
