// Automated retraining on the Models page (docs/models.md): the retraining policy in sentences and
// its form's check, the evaluation set in words and its form's check, waiting for a new model's
// comparison after its run, a comparison's verdict, figures and forest plot, whether a model may
// be promoted after its comparison, and what a refused action means.
// Pure functions, no React.

import { ApiError } from '../api/client';
import type {
  ComparisonReport,
  EvaluationSet,
  EvaluationSetBody,
  EvaluationSetMember,
  EvaluationSetView,
  Interval,
  MetricComparison,
  ModelEvaluation,
  RetrainPolicy,
  RetrainPolicyBody,
  TrainingRun,
} from '../api/types';
import type { Tone } from '../components/ui';
import { formatDateTime, shortId } from './format';
import { fixed, formatInterval, NOT_DEFINED, statValue, type Shown } from './stats';

/** The layers a fine-tune trains by default (the original's recipe). */
export const DEFAULT_LAYERS: readonly string[] = ['layer3', 'layer4', 'fc'];

/** The name the policy acts under in runs, activations and the audit log. */
export const POLICY_ACTOR = 'retraining-policy';

/** The policy when none was ever set: off. */
export const DEFAULT_POLICY: RetrainPolicy = {
  after_reviewed: null,
  every_hours: null,
  head_only: false,
  layers: [...DEFAULT_LAYERS],
  auto_promote: false,
  metrics: [],
  updated_by: null,
  updated_at: null,
};

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** “A”, “A and B”, “A, B and C”. */
export function listInWords(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

const count = (n: number, one: string, many: string) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** A clause from the server as a sentence: capital first, one full stop. */
export function asSentence(clause: string): string {
  const c = clause.trim().replace(/[.;:,]+$/, '');
  return c ? `${c[0]?.toUpperCase() ?? ''}${c.slice(1)}.` : '';
}

// ---- The policy in sentences ----

const on = (v: number | null | undefined): v is number => isNum(v) && v >= 1;

/** Whether anything makes the server retrain on its own. */
export function policyEnabled(p: Pick<RetrainPolicy, 'after_reviewed' | 'every_hours'>): boolean {
  return on(p.after_reviewed) || on(p.every_hours);
}

/** When it retrains: “Retrains after 50 newly reviewed images and every 24 hours (…)”, or that it is off. */
export function policyTrigger(p: Pick<RetrainPolicy, 'after_reviewed' | 'every_hours'>): string {
  const after = on(p.after_reviewed) ? `after ${count(p.after_reviewed, 'newly reviewed image', 'newly reviewed images')}` : null;
  const every = on(p.every_hours) ? (p.every_hours === 1 ? 'every hour' : `every ${count(p.every_hours, 'hour', 'hours')}`) : null;
  if (after && every) return `Retrains ${after} and ${every} (whichever comes first).`;
  if (after) return `Retrains ${after}.`;
  if (every) return `Retrains ${every}.`;
  return 'Off: the server does not retrain on its own.';
}

/** What it trains, in plain words, and the technical detail for a small line. */
export function policyKind(p: Pick<RetrainPolicy, 'head_only' | 'layers'>): { text: string; detail: string } {
  if (p.head_only) return { text: 'Trains only the last layer (fast).', detail: 'head only: fc, on cached features' };
  const layers = p.layers.length > 0 ? p.layers : DEFAULT_LAYERS;
  return { text: 'Fine-tunes the last layers of the network (slower, learns more).', detail: `layers: ${layers.join(', ')}` };
}

/** What happens to a model that compares better than the active one. */
export function policyPromotion(p: Pick<RetrainPolicy, 'auto_promote'>, admin: boolean): string {
  if (p.auto_promote) return 'A better model is promoted automatically: it becomes the active model at once.';
  return admin ? 'A better model waits for your approval.' : 'A better model waits for an administrator’s approval.';
}

/** Which metrics must improve: every one when none are named (or all are). */
export function policyMetrics(p: Pick<RetrainPolicy, 'metrics'>, schemaMetrics: readonly string[]): string {
  const named = p.metrics.filter((m) => m.trim());
  if (named.length === 0 || (schemaMetrics.length > 0 && schemaMetrics.every((m) => named.includes(m)))) return 'Must improve: every metric.';
  return `Must improve: ${listInWords(named)}.`;
}

/** Who set it and when; the defaults when nobody did. */
export function policySetBy(p: Pick<RetrainPolicy, 'updated_by' | 'updated_at'>, formatDate: (iso: string) => string = formatDateTime): string {
  const who = p.updated_by?.trim();
  if (!who) return 'Never set: these are the defaults.';
  const by = who === POLICY_ACTOR ? 'the retraining policy' : who;
  return p.updated_at ? `Set by ${by} on ${formatDate(p.updated_at)}.` : `Set by ${by}.`;
}

// ---- The policy form ----

/** The policy form's fields, as typed. */
export interface PolicyFields {
  afterOn: boolean;
  after: string;
  everyOn: boolean;
  every: string;
  headOnly: boolean;
  autoPromote: boolean;
  /** Metric names ticked; none = every metric. */
  metrics: string[];
  /** Kept as the server has them (not edited here). */
  layers: string[];
}

/** What the form suggests when a trigger is off and gets ticked. */
export const POLICY_SUGGESTED = { after: 50, every: 24 } as const;

export function policyFields(p: RetrainPolicy): PolicyFields {
  return {
    afterOn: on(p.after_reviewed),
    after: String(on(p.after_reviewed) ? p.after_reviewed : POLICY_SUGGESTED.after),
    everyOn: on(p.every_hours),
    every: String(on(p.every_hours) ? p.every_hours : POLICY_SUGGESTED.every),
    headOnly: p.head_only,
    autoPromote: p.auto_promote,
    metrics: [...p.metrics],
    layers: [...p.layers],
  };
}

export type PolicyCheck = { ok: true; body: RetrainPolicyBody } | { ok: false; field: 'after' | 'every'; error: string };

function wholeNumber(s: string): number {
  const t = s.trim();
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

/** The policy the form's fields make, in the schema's metric order, or which field is wrong and why (the server checks again). */
export function policyRequest(f: PolicyFields, schemaMetrics: readonly string[]): PolicyCheck {
  let after: number | null = null;
  if (f.afterOn) {
    after = wholeNumber(f.after);
    if (!Number.isSafeInteger(after) || after < 1) return { ok: false, field: 'after', error: 'The number of newly reviewed images must be a whole number, 1 or more.' };
  }
  let every: number | null = null;
  if (f.everyOn) {
    every = wholeNumber(f.every);
    if (!Number.isSafeInteger(every) || every < 1) return { ok: false, field: 'every', error: 'The hours between runs must be a whole number, 1 or more.' };
  }
  const metrics = schemaMetrics.filter((m) => f.metrics.includes(m));
  const layers = f.layers.length > 0 ? [...f.layers] : [...DEFAULT_LAYERS];
  return { ok: true, body: { after_reviewed: after, every_hours: every, head_only: f.headOnly, layers, auto_promote: f.autoPromote, metrics } };
}

// ---- The evaluation set ----

/** The share the server gives a first evaluation set, and the most it accepts. */
export const DEFAULT_EVALUATION_SHARE = 0.2;
export const EVALUATION_SHARE_MAX = 0.5;

/** A share 0–1 as a percentage without its sign, at most two decimals: 0.2 → “20”, 0.125 → “12.5”. */
export function percentText(share: number): string {
  return String(Math.round(share * 10000) / 100);
}

/** How groups get into the set, in plain words. */
export function evaluationSetRule(set: Pick<EvaluationSet, 'share'>): string {
  if (!(set.share > 0)) {
    return 'Only the sample groups listed below are kept aside to compare models on; no model trains on them. Other groups, new ones too, go to training.';
  }
  return `About ${percentText(set.share)} % of the sample groups are kept aside to compare models on; no model trains on them. Groups are assigned by a fixed rule, so new samples also land on one side for good.`;
}

/** “4 images”: a member group's reviewed images. */
export function memberImages(m: Pick<EvaluationSetMember, 'images'>): string {
  return count(m.images, 'image', 'images');
}

/** “24 reviewed images in the evaluation set, 130 available for training.” */
export function evaluationSetCounts(v: Pick<EvaluationSetView, 'evaluation_images' | 'training_images'>): string {
  return `${count(v.evaluation_images, 'reviewed image', 'reviewed images')} in the evaluation set, ${v.training_images.toLocaleString('en-US')} available for training.`;
}

/** Whether the set holds too little for a comparison yet. */
export function evaluationSetTooSmall(v: Pick<EvaluationSetView, 'members' | 'evaluation_images' | 'min_images' | 'min_groups'>): boolean {
  return v.evaluation_images < v.min_images || v.members.length < v.min_groups;
}

/** What a comparison needs, when the set holds less; null when it holds enough. */
export function evaluationSetShortNote(v: Pick<EvaluationSetView, 'members' | 'evaluation_images' | 'min_images' | 'min_groups'>): string | null {
  if (!evaluationSetTooSmall(v)) return null;
  return `Comparisons need at least ${count(v.min_images, 'reviewed image', 'reviewed images')} from ${count(v.min_groups, 'group', 'groups')} in the set; until then each new model’s report says “not enough reviewed data to compare”.`;
}

/** The groups an administrator listed besides the rule's, in words; null when none. */
export function evaluationSetExtra(set: Pick<EvaluationSet, 'groups'>): string | null {
  const g = set.groups.filter((x) => x.trim());
  if (g.length === 0) return null;
  return `Also in the set, listed by an administrator: ${listInWords(g)}.`;
}

/** The groups kept out because models had trained on them, counted in words; null when none. */
export function evaluationSetTrained(set: Pick<EvaluationSet, 'trained'>): string | null {
  const n = set.trained.filter((x) => x.trim()).length;
  if (n === 0) return null;
  return `${count(n, 'sample group is', 'sample groups are')} kept out of the set because models had already trained on ${n === 1 ? 'it' : 'them'} when the set was chosen.`;
}

/** Who chose the set and when. */
export function evaluationSetChosen(set: Pick<EvaluationSet, 'id' | 'chosen_by' | 'chosen_at'>, formatDate: (iso: string) => string = formatDateTime): string {
  const who = set.chosen_by.trim();
  const by = who === POLICY_ACTOR ? 'the retraining policy (automatically)' : who || '–';
  return `Set ${set.id}, chosen by ${by} on ${formatDate(set.chosen_at)}.`;
}

// ---- The evaluation set's form ----

/** The evaluation set form's fields, as typed. */
export interface EvaluationSetFields {
  /** Percentage of the sample groups, 0–50. */
  share: string;
  /** Extra groups, one a line or separated by commas. */
  groups: string;
  /** Pick the groups afresh (a new seed). */
  reshuffle: boolean;
  reason: string;
}

export type EvaluationSetField = 'share' | 'groups' | 'reason';

/** The form starts from the set as it is (20 % and no extra groups when none was chosen). */
export function evaluationSetFields(set: Pick<EvaluationSet, 'share' | 'groups'> | null): EvaluationSetFields {
  return { share: percentText(set ? set.share : DEFAULT_EVALUATION_SHARE), groups: set ? set.groups.join('\n') : '', reshuffle: false, reason: '' };
}

/** Sample groups typed one a line or separated by commas: trimmed, without blanks and repeats, in order. */
export function parseGroups(text: string): string[] {
  const out: string[] = [];
  for (const g of text.split(/[,\n\r]/)) {
    const t = g.trim();
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

export type EvaluationSetCheck = { ok: true; body: EvaluationSetBody } | { ok: false; field: EvaluationSetField; error: string };

/**
 * The change the form makes, or which field is wrong and why. The share is left out when it is
 * the set's as shown (the server keeps it exactly); extra groups are always sent ([] = none).
 * The reason is not checked here: the server refuses an empty one, and its answer is shown by
 * the field.
 */
export function evaluationSetRequest(f: EvaluationSetFields, set: Pick<EvaluationSet, 'share'> | null): EvaluationSetCheck {
  const t = f.share.trim().replace(/\s*%$/, '').replace(',', '.');
  const pct = /^\d+(\.\d*)?$|^\.\d+$/.test(t) ? Number(t) : NaN;
  const max = EVALUATION_SHARE_MAX * 100;
  if (!Number.isFinite(pct) || pct < 0 || pct > max) return { ok: false, field: 'share', error: `The share must be a percentage from 0 to ${max}.` };
  const share = Math.round(pct * 100) / 10000;
  const groups = parseGroups(f.groups);
  if (share === 0 && groups.length === 0) {
    return { ok: false, field: 'groups', error: 'At 0 % the rule keeps no group aside: list the sample groups to keep aside, or choose a share above 0.' };
  }
  const keep = set != null && percentText(set.share) === percentText(share);
  return {
    ok: true,
    body: { ...(keep ? {} : { share }), groups, ...(f.reshuffle ? { reshuffle: true } : {}), reason: f.reason.trim() },
  };
}

/** The form field a refusal of the server is about, if it names one. */
export function evaluationSetErrorField(e: unknown): EvaluationSetField | null {
  if (!(e instanceof ApiError) || e.status !== 422) return null;
  const f = e.body.field;
  return f === 'share' || f === 'groups' || f === 'reason' ? f : null;
}

// ---- After a training run ----

/** How long after a run finished its model's comparison is waited for, and how often it is asked for. */
export const COMPARISON_WAIT_MS = 60_000;
export const COMPARISON_POLL_MS = 2_500;

/** A finished run's model whose comparison with the active model is expected soon. */
export interface AwaitedComparison {
  modelId: string;
  runId: number;
  /** When the run was seen done (ms since the epoch). */
  since: number;
}

/** Runs that were running (`before`: their states as last seen) and are done now, with a model. */
export function runsJustDone<R extends Pick<TrainingRun, 'id' | 'state' | 'model_id'>>(before: ReadonlyMap<number, string>, runs: readonly R[]): R[] {
  return runs.filter((r) => r.state === 'done' && !!r.model_id && before.get(r.id) === 'running');
}

/**
 * What to do after asking for the awaited model's comparisons (`evaluations`: the answer,
 * undefined when the request failed): it arrived, wait and ask again, or give up (a minute passed).
 */
export function comparisonWait(w: AwaitedComparison, evaluations: readonly Pick<ModelEvaluation, 'model_id'>[] | undefined, now: number): 'arrived' | 'wait' | 'give-up' {
  if (evaluations?.some((e) => e.model_id === w.modelId)) return 'arrived';
  return now - w.since >= COMPARISON_WAIT_MS ? 'give-up' : 'wait';
}

// ---- A comparison ----

export interface VerdictBadge {
  label: string;
  tone: Tone;
  /** What it means, for a tooltip. */
  title: string;
}

/** A comparison's (or one metric's) verdict as its badge says it. */
export function verdictBadge(verdict: string): VerdictBadge {
  switch (verdict) {
    case 'better':
      return { label: 'better', tone: 'green', title: 'Better than the active model beyond the uncertainty' };
    case 'worse':
      return { label: 'worse', tone: 'red', title: 'Worse than the active model beyond the uncertainty' };
    case 'no_clear_difference':
      return { label: 'no clear difference', tone: 'slate', title: 'The difference is within the uncertainty' };
    case 'not_enough_data':
      return { label: 'not enough data', tone: 'amber', title: 'Too few reviewed images in the evaluation set to say' };
    default:
      return { label: verdict.replace(/_/g, ' ') || 'unknown', tone: 'slate', title: 'A verdict this page does not know' };
  }
}

export type ParsedReport = { kind: 'full'; report: ComparisonReport } | { kind: 'summary'; summary: string };

/** An evaluation's report: a full comparison, or only the sentence why there is none. */
export function parseReport(report: unknown): ParsedReport {
  const summary = isObj(report) && typeof report.summary === 'string' ? report.summary : '';
  if (!isObj(report) || !Array.isArray(report.metrics) || !isNum(report.images) || !isNum(report.groups)) return { kind: 'summary', summary };
  const metrics = report.metrics.filter((m): m is MetricComparison => isObj(m) && typeof m.metric === 'string');
  return { kind: 'full', report: { ...(report as unknown as ComparisonReport), metrics, summary } };
}

/** The evaluation's sentence, as the server wrote it (capitalised). */
export function evaluationSummary(e: Pick<ModelEvaluation, 'report'>): string {
  const p = parseReport(e.report);
  const s = p.kind === 'full' ? p.report.summary : p.summary;
  return asSentence(s) || 'The server gave no summary.';
}

/** What the comparison rests on: “24 reviewed images from 6 sample groups · 2,000 resamples of whole groups (seed 3)”. */
export function comparisonBasis(r: Pick<ComparisonReport, 'images' | 'groups'> & { options?: Partial<ComparisonReport['options']> | null }): string {
  const parts = [`${count(r.images, 'reviewed image', 'reviewed images')} from ${count(r.groups, 'sample group', 'sample groups')}`];
  const o = r.options;
  if (o && isNum(o.resamples)) parts.push(`${count(o.resamples, 'resample', 'resamples')} of whole groups${isNum(o.seed) ? ` (seed ${o.seed})` : ''}`);
  if (o && isNum(o.min_images) && isNum(o.min_groups)) parts.push(`needs at least ${o.min_images} images from ${o.min_groups} groups`);
  return parts.join(' · ');
}

/** Whether any statistic of the comparison has a value (a table worth showing). */
export function hasFigures(report: ComparisonReport): boolean {
  return report.metrics.some((m) =>
    [m.champion_mae, m.challenger_mae, m.mae_difference, m.champion_kappa, m.challenger_kappa, m.kappa_difference, m.changed_share].some((i) => statValue(i) != null),
  );
}

/** The value and its 95 % interval (the value twice when the server sent no interval), or null. */
export function intervalParts(i: Interval | null | undefined): { value: number; lo: number; hi: number } | null {
  const value = statValue(i);
  if (value == null) return null;
  const ci = i && 'ci95' in i && Array.isArray(i.ci95) ? i.ci95 : null;
  if (ci && isNum(ci[0]) && isNum(ci[1])) return { value, lo: Math.min(ci[0], ci[1]), hi: Math.max(ci[0], ci[1]) };
  return { value, lo: value, hi: value };
}

/** An error or kappa: “0.42 [0.35, 0.50]”, or not defined with the reason. */
export function formatStatistic(i: Interval | null | undefined, digits = 2): Shown {
  return formatInterval(i, digits);
}

const signed = (v: number, digits: number) => {
  const t = fixed(v, digits);
  return v > 0 && Number(t) !== 0 ? `+${t}` : t;
};

/** A difference, with its sign: “-0.12 [-0.20, -0.03]”, “+0.05 [-0.01, +0.10]”. */
export function formatDifference(i: Interval | null | undefined, digits = 2): Shown {
  const shown = formatInterval(i, digits);
  const p = intervalParts(i);
  if (!p) return shown;
  const ci = i && 'ci95' in i && Array.isArray(i.ci95) && isNum(i.ci95[0]) && isNum(i.ci95[1]);
  return { text: ci ? `${signed(p.value, digits)} [${signed(p.lo, digits)}, ${signed(p.hi, digits)}]` : signed(p.value, digits), reason: null };
}

/** A share 0–1 as a percentage: “12% [5%, 20%]”. */
export function formatShare(i: Interval | null | undefined): Shown {
  const shown = formatInterval(i);
  const p = intervalParts(i);
  if (!p) return shown;
  const pct = (v: number) => `${fixed(v * 100, 0)}%`;
  const ci = i && 'ci95' in i && Array.isArray(i.ci95) && isNum(i.ci95[0]) && isNum(i.ci95[1]);
  return { text: ci ? `${pct(p.value)} [${pct(p.lo)}, ${pct(p.hi)}]` : pct(p.value), reason: null };
}

/** Which side of zero a difference's interval lies on, for the new model: lower error is better, higher kappa is. */
export function differenceSide(i: Interval | null | undefined, lowerIsBetter: boolean): 'better' | 'worse' | 'unclear' | null {
  const p = intervalParts(i);
  if (!p) return null;
  if (p.hi < 0) return lowerIsBetter ? 'better' : 'worse';
  if (p.lo > 0) return lowerIsBetter ? 'worse' : 'better';
  return 'unclear';
}

export interface ForestRow {
  /** x of the point, the interval's ends and zero, in the box. */
  x: number;
  lo: number;
  hi: number;
  zero: number;
  side: 'better' | 'worse' | 'unclear';
}

/**
 * One line of a forest plot in a box `width` wide: the difference's point and its 95 % interval
 * against zero, on a scale symmetric about zero (zero in the middle) that holds the whole
 * interval with a little room. Null when the difference is not defined.
 */
export function forestRow(i: Interval | null | undefined, width: number, lowerIsBetter: boolean, pad = 4): ForestRow | null {
  const p = intervalParts(i);
  const side = differenceSide(i, lowerIsBetter);
  if (!p || !side) return null;
  const reach = Math.max(Math.abs(p.value), Math.abs(p.lo), Math.abs(p.hi)) * 1.1 || 1;
  const r = (n: number) => Math.round(n * 10) / 10;
  const px = (v: number) => r(pad + ((v + reach) / (2 * reach)) * (width - 2 * pad));
  return { x: px(p.value), lo: px(p.lo), hi: px(p.hi), zero: px(0), side };
}

const SIDE_WORDS = {
  better: 'the new model is better',
  worse: 'the new model is worse',
  unclear: 'the interval includes zero',
} as const;

/** What a metric's forest plot shows, for a screen reader. */
export function forestSummary(m: Pick<MetricComparison, 'metric' | 'mae_difference' | 'kappa_difference'>): string {
  const part = (i: Interval, lowerIsBetter: boolean) => {
    const side = differenceSide(i, lowerIsBetter);
    return side ? `${formatDifference(i).text} (${SIDE_WORDS[side]})` : NOT_DEFINED;
  };
  return `${m.metric}: error difference ${part(m.mae_difference, true)}; kappa difference ${part(m.kappa_difference, false)}.`;
}

// ---- Promotion ----

export type Promotion = { ok: true; evaluation: ModelEvaluation; reason: string } | { ok: false; why: string | null };

/**
 * Whether a model may be promoted after its latest comparison: it is not active, that comparison
 * says better, and it was made against the model active now (`activeId`; null when unknown).
 * `why` says what stands in the way, when it is worth saying.
 */
export function promotion(evaluations: readonly ModelEvaluation[], model: { active: boolean }, activeId: string | null): Promotion {
  const latest = evaluations[0];
  if (model.active || !latest || latest.verdict !== 'better') return { ok: false, why: null };
  if (activeId && latest.champion_id && latest.champion_id !== activeId) {
    return {
      ok: false,
      why: `Comparison ${latest.id} was made against ${shortId(latest.champion_id)}, which is not the active model any more: compare again before promoting.`,
    };
  }
  return { ok: true, evaluation: latest, reason: `promoted after comparison ${latest.id}: better on the evaluation set` };
}

/** The JSON download's file name: evaluation-<short model id>-<evaluation id>.json. */
export function evaluationFileName(e: Pick<ModelEvaluation, 'id' | 'model_id'>): string {
  return `evaluation-${shortId(e.model_id)}-${e.id}.json`;
}

// ---- Refusals ----

export type RetrainingAction = 'load' | 'save-policy' | 'run' | 'save-set' | 'evaluations' | 'evaluate';

const FIELD_WORDS: Record<string, string> = {
  after_reviewed: 'newly reviewed images',
  every_hours: 'hours between runs',
  layers: 'what trains',
  metrics: 'metrics that must improve',
  groups: 'sample groups',
  share: 'share',
  reason: 'reason',
};

/** What a refused retraining action means, and what to do about it. */
export function retrainingErrorMessage(e: unknown, action: RetrainingAction): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  // The server starts a refusal about a field with its name (“reason: say why …”): the field is said in words instead.
  const named = e.body.field ? `${e.body.field}: ` : null;
  const raw = e.message.trim().replace(/\.$/, '');
  const detail = named && raw.startsWith(named) ? raw.slice(named.length) : raw;
  const field = e.body.field ? FIELD_WORDS[e.body.field] : undefined;
  const about = field ? ` (${field})` : '';
  switch (e.status) {
    case 0:
      return 'The server could not be reached: check that it is running, then try again.';
    case 403:
      return `${detail} (only administrators change the retraining policy and the evaluation set, and compare models: ask one).`;
    case 404:
      if (action === 'evaluations' || action === 'evaluate') {
        return 'That model is not registered (any more), or this server cannot compare models: reload the page, and update the server if it happens again.';
      }
      return 'This server cannot retrain on its own (it is older than this page): update the server.';
    case 409:
      if (action === 'run') return `${asSentence(detail)} Its progress shows under Training runs.`;
      return asSentence(detail);
    case 422:
      if (action === 'save-policy') return `The server refused this policy${about}: ${detail}.`;
      if (action === 'save-set') return `The server refused this evaluation set${about}: ${detail}.`;
      if (action === 'evaluate') return `The comparison failed: ${detail}.`;
      return `${asSentence(detail)}`;
    default:
      return asSentence(detail);
  }
}
