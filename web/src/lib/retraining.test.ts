import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import type { EvaluationSet, EvaluationSetView, Interval, MetricComparison, ModelEvaluation, TrainingRun } from '../api/types';
import {
  asSentence,
  comparisonBasis,
  comparisonWait,
  COMPARISON_WAIT_MS,
  DEFAULT_POLICY,
  differenceSide,
  evaluationFileName,
  evaluationSetChosen,
  evaluationSetCounts,
  evaluationSetErrorField,
  evaluationSetExtra,
  evaluationSetFields,
  evaluationSetRequest,
  evaluationSetRule,
  evaluationSetShortNote,
  evaluationSetTooSmall,
  evaluationSetTrained,
  evaluationSummary,
  forestRow,
  forestSummary,
  formatDifference,
  formatShare,
  formatStatistic,
  hasFigures,
  listInWords,
  memberImages,
  parseGroups,
  parseReport,
  percentText,
  policyEnabled,
  policyFields,
  policyKind,
  policyMetrics,
  policyPromotion,
  policyRequest,
  policySetBy,
  policyTrigger,
  promotion,
  retrainingErrorMessage,
  runsJustDone,
  verdictBadge,
} from './retraining';

const METRICS = ['Architecture', 'Atrophy', 'Fibrosis'];

describe('the policy in sentences', () => {
  it('says when it retrains, or that it is off', () => {
    expect(policyTrigger(DEFAULT_POLICY)).toBe('Off: the server does not retrain on its own.');
    expect(policyEnabled(DEFAULT_POLICY)).toBe(false);
    expect(policyTrigger({ after_reviewed: 50, every_hours: null })).toBe('Retrains after 50 newly reviewed images.');
    expect(policyTrigger({ after_reviewed: 1, every_hours: null })).toBe('Retrains after 1 newly reviewed image.');
    expect(policyTrigger({ after_reviewed: null, every_hours: 24 })).toBe('Retrains every 24 hours.');
    expect(policyTrigger({ after_reviewed: null, every_hours: 1 })).toBe('Retrains every hour.');
    expect(policyTrigger({ after_reviewed: 1500, every_hours: 24 })).toBe('Retrains after 1,500 newly reviewed images and every 24 hours (whichever comes first).');
    expect(policyEnabled({ after_reviewed: null, every_hours: 24 })).toBe(true);
    // Zero is not a trigger (the server refuses it anyway).
    expect(policyTrigger({ after_reviewed: 0, every_hours: null })).toMatch(/^Off/);
  });
  it('says what trains in plain words, the layers in the detail', () => {
    expect(policyKind(DEFAULT_POLICY)).toEqual({ text: 'Fine-tunes the last layers of the network (slower, learns more).', detail: 'layers: layer3, layer4, fc' });
    expect(policyKind({ head_only: true, layers: ['layer3'] }).text).toBe('Trains only the last layer (fast).');
    expect(policyKind({ head_only: false, layers: [] }).detail).toBe('layers: layer3, layer4, fc');
    expect(policyKind(DEFAULT_POLICY).text).not.toMatch(/layer\d/);
  });
  it('says what happens to a better model, to whom it is said', () => {
    expect(policyPromotion({ auto_promote: false }, true)).toBe('A better model waits for your approval.');
    expect(policyPromotion({ auto_promote: false }, false)).toBe('A better model waits for an administrator’s approval.');
    expect(policyPromotion({ auto_promote: true }, true)).toMatch(/^A better model is promoted automatically/);
  });
  it('names the metrics that must improve: every one when none (or all) are named', () => {
    expect(policyMetrics({ metrics: [] }, METRICS)).toBe('Must improve: every metric.');
    expect(policyMetrics({ metrics: METRICS }, METRICS)).toBe('Must improve: every metric.');
    expect(policyMetrics({ metrics: ['Fibrosis'] }, METRICS)).toBe('Must improve: Fibrosis.');
    expect(policyMetrics({ metrics: ['Atrophy', 'Fibrosis'] }, METRICS)).toBe('Must improve: Atrophy and Fibrosis.');
    expect(listInWords(['a', 'b', 'c'])).toBe('a, b and c');
    expect(listInWords([])).toBe('');
  });
  it('says who set it and when', () => {
    const date = (iso: string) => `[${iso}]`;
    expect(policySetBy(DEFAULT_POLICY, date)).toBe('Never set: these are the defaults.');
    expect(policySetBy({ updated_by: 'ada', updated_at: '2025-01-02T03:04:05Z' }, date)).toBe('Set by ada on [2025-01-02T03:04:05Z].');
    expect(policySetBy({ updated_by: 'ada', updated_at: null }, date)).toBe('Set by ada.');
  });
});

describe('the policy form', () => {
  it('starts from the policy, suggesting numbers for the triggers that are off', () => {
    expect(policyFields(DEFAULT_POLICY)).toEqual({
      afterOn: false,
      after: '50',
      everyOn: false,
      every: '24',
      headOnly: false,
      autoPromote: false,
      metrics: [],
      layers: ['layer3', 'layer4', 'fc'],
    });
    expect(policyFields({ ...DEFAULT_POLICY, after_reviewed: 5, every_hours: 12 })).toMatchObject({ afterOn: true, after: '5', everyOn: true, every: '12' });
  });
  it('sends null for a trigger that is off, and the metrics in the schema’s order', () => {
    const f = { ...policyFields(DEFAULT_POLICY), afterOn: true, after: ' 5 ', metrics: ['Fibrosis', 'Architecture', 'Gone'] };
    expect(policyRequest(f, METRICS)).toEqual({
      ok: true,
      body: { after_reviewed: 5, every_hours: null, head_only: false, layers: ['layer3', 'layer4', 'fc'], auto_promote: false, metrics: ['Architecture', 'Fibrosis'] },
    });
    const off = policyRequest({ ...policyFields(DEFAULT_POLICY), after: 'junk', layers: [] }, METRICS);
    expect(off).toMatchObject({ ok: true, body: { after_reviewed: null, every_hours: null, layers: ['layer3', 'layer4', 'fc'] } });
  });
  it('names the wrong number', () => {
    const f = policyFields(DEFAULT_POLICY);
    expect(policyRequest({ ...f, afterOn: true, after: '0' }, METRICS)).toMatchObject({ ok: false, field: 'after' });
    expect(policyRequest({ ...f, afterOn: true, after: '2.5' }, METRICS)).toMatchObject({ ok: false, field: 'after' });
    expect(policyRequest({ ...f, everyOn: true, every: '' }, METRICS)).toMatchObject({ ok: false, field: 'every' });
    expect(policyRequest({ ...f, everyOn: true, every: '-3' }, METRICS)).toMatchObject({ ok: false, field: 'every' });
  });
});

const SET: EvaluationSet = {
  id: 3,
  share: 0.2,
  seed: 42,
  groups: [],
  trained: [],
  reason: 'chosen at the first training run',
  chosen_by: 'retraining-policy',
  chosen_at: '2025-01-02T03:04:05Z',
};

function view(over: Partial<EvaluationSetView> = {}): EvaluationSetView {
  return {
    set: SET,
    members: [
      { group: 'S-1', images: 4 },
      { group: 'S-2', images: 1 },
    ],
    evaluation_images: 5,
    training_images: 1234,
    min_images: 20,
    min_groups: 5,
    ...over,
  };
}

describe('the evaluation set in words', () => {
  it('says how groups get into it', () => {
    expect(evaluationSetRule(SET)).toBe(
      'About 20 % of the sample groups are kept aside to compare models on; no model trains on them. Groups are assigned by a fixed rule, so new samples also land on one side for good.',
    );
    expect(evaluationSetRule({ share: 0.125 })).toMatch(/^About 12\.5 % of the sample groups/);
    expect(evaluationSetRule({ share: 0 })).toMatch(/^Only the sample groups listed below are kept aside/);
    expect(percentText(0.25)).toBe('25');
    expect(percentText(0.07)).toBe('7');
    expect(percentText(1 / 3)).toBe('33.33');
  });
  it('counts the images in and out of the set', () => {
    expect(evaluationSetCounts(view())).toBe('5 reviewed images in the evaluation set, 1,234 available for training.');
    expect(evaluationSetCounts(view({ evaluation_images: 1, training_images: 0 }))).toBe('1 reviewed image in the evaluation set, 0 available for training.');
    expect(memberImages({ images: 1 })).toBe('1 image');
    expect(memberImages({ images: 4 })).toBe('4 images');
  });
  it('says what a comparison needs while the set holds too few images or groups', () => {
    const note = 'Comparisons need at least 20 reviewed images from 5 groups in the set; until then each new model’s report says “not enough reviewed data to compare”.';
    expect(evaluationSetShortNote(view())).toBe(note);
    // Enough images, too few groups.
    expect(evaluationSetShortNote(view({ evaluation_images: 40 }))).toBe(note);
    const five = ['A', 'B', 'C', 'D', 'E'].map((group) => ({ group, images: 4 }));
    // Enough groups, too few images.
    expect(evaluationSetTooSmall(view({ members: five, evaluation_images: 19 }))).toBe(true);
    expect(evaluationSetShortNote(view({ members: five, evaluation_images: 20 }))).toBeNull();
  });
  it('names the listed groups, counts those kept out, and says who chose it', () => {
    expect(evaluationSetExtra(SET)).toBeNull();
    expect(evaluationSetExtra({ groups: ['S-9', 'S-10'] })).toBe('Also in the set, listed by an administrator: S-9 and S-10.');
    expect(evaluationSetTrained(SET)).toBeNull();
    expect(evaluationSetTrained({ trained: ['S-3'] })).toBe('1 sample group is kept out of the set because models had already trained on it when the set was chosen.');
    expect(evaluationSetTrained({ trained: ['S-3', 'S-4'] })).toBe(
      '2 sample groups are kept out of the set because models had already trained on them when the set was chosen.',
    );
    const date = (iso: string) => `[${iso}]`;
    expect(evaluationSetChosen(SET, date)).toBe('Set 3, chosen by the retraining policy (automatically) on [2025-01-02T03:04:05Z].');
    expect(evaluationSetChosen({ ...SET, chosen_by: 'ada' }, date)).toBe('Set 3, chosen by ada on [2025-01-02T03:04:05Z].');
  });
});

describe('the evaluation set form', () => {
  it('starts from the set as it is, or 20 % without extra groups', () => {
    expect(evaluationSetFields(null)).toEqual({ share: '20', groups: '', reshuffle: false, reason: '' });
    expect(evaluationSetFields({ share: 0.25, groups: ['S-1', 'S-2'] })).toEqual({ share: '25', groups: 'S-1\nS-2', reshuffle: false, reason: '' });
  });
  it('reads groups one a line or separated by commas', () => {
    expect(parseGroups(' S-1, S-2\nS-3\r\n\nS-1 ,')).toEqual(['S-1', 'S-2', 'S-3']);
    expect(parseGroups('  ')).toEqual([]);
  });
  it('sends the share as a fraction, the extra groups, a reshuffle only when asked, and the reason', () => {
    const f = { ...evaluationSetFields(SET), share: '25', groups: 'S-9, S-10', reason: '  more groups ' };
    expect(evaluationSetRequest(f, SET)).toEqual({ ok: true, body: { share: 0.25, groups: ['S-9', 'S-10'], reason: 'more groups' } });
    expect(evaluationSetRequest({ ...f, reshuffle: true }, SET)).toEqual({
      ok: true,
      body: { share: 0.25, groups: ['S-9', 'S-10'], reshuffle: true, reason: 'more groups' },
    });
    expect(evaluationSetRequest({ ...f, share: '12,5 %' }, SET)).toMatchObject({ ok: true, body: { share: 0.125 } });
    expect(evaluationSetRequest({ ...f, share: '0', groups: 'S-9' }, SET)).toMatchObject({ ok: true, body: { share: 0, groups: ['S-9'] } });
    expect(evaluationSetRequest({ ...f, share: '50' }, null)).toMatchObject({ ok: true, body: { share: 0.5 } });
  });
  it('keeps the share as it is when it was not changed, and sends [] for no extra groups', () => {
    const odd = { ...SET, share: 0.123456, groups: ['S-1'] };
    const f = { ...evaluationSetFields(odd), groups: '', reason: 'no extras' };
    expect(f.share).toBe('12.35');
    expect(evaluationSetRequest(f, odd)).toEqual({ ok: true, body: { groups: [], reason: 'no extras' } });
    // A first set sends its share (the server's default is 20 % too).
    expect(evaluationSetRequest({ ...evaluationSetFields(null), reason: 'r' }, null)).toEqual({ ok: true, body: { share: 0.2, groups: [], reason: 'r' } });
  });
  it('refuses a share outside 0–50 %, and 0 % without extra groups; leaves the reason to the server', () => {
    const f = { ...evaluationSetFields(SET), reason: 'r' };
    for (const share of ['', '-1', '51', '50.5', 'abc', '1e1', '20 groups']) {
      expect(evaluationSetRequest({ ...f, share }, SET), share).toEqual({ ok: false, field: 'share', error: 'The share must be a percentage from 0 to 50.' });
    }
    expect(evaluationSetRequest({ ...f, share: '0', groups: ' , ' }, SET)).toMatchObject({ ok: false, field: 'groups' });
    // An empty reason is sent: the server refuses it with its own words.
    expect(evaluationSetRequest({ ...f, reason: '   ' }, SET)).toEqual({ ok: true, body: { groups: [], reason: '' } });
  });
  it('knows which field a refusal is about', () => {
    const err = (status: number, field?: string) => new ApiError(status, { error: 'invalid', detail: 'no', field });
    expect(evaluationSetErrorField(err(422, 'reason'))).toBe('reason');
    expect(evaluationSetErrorField(err(422, 'share'))).toBe('share');
    expect(evaluationSetErrorField(err(422, 'groups'))).toBe('groups');
    expect(evaluationSetErrorField(err(422, 'seed'))).toBeNull();
    expect(evaluationSetErrorField(err(422))).toBeNull();
    expect(evaluationSetErrorField(err(403, 'reason'))).toBeNull();
    expect(evaluationSetErrorField(new Error('boom'))).toBeNull();
  });
});

describe('after a training run', () => {
  const run = (id: number, state: TrainingRun['state'], model_id: string | null = null) => ({ id, state, model_id });
  it('notices runs seen running that are done now, with a model', () => {
    const before = new Map<number, string>([
      [1, 'running'],
      [2, 'running'],
      [3, 'done'],
      [4, 'running'],
    ]);
    const now = [run(5, 'done', 'e'), run(4, 'failed'), run(3, 'done', 'c'), run(2, 'done'), run(1, 'done', 'a')];
    expect(runsJustDone(before, now)).toEqual([run(1, 'done', 'a')]);
    // Runs first seen done (on loading the page) are not new.
    expect(runsJustDone(new Map(), now)).toEqual([]);
  });
  it('waits for the model’s comparison for a minute, then gives up', () => {
    const w = { modelId: 'm', runId: 7, since: 1_000 };
    expect(comparisonWait(w, [], 2_000)).toBe('wait');
    expect(comparisonWait(w, undefined, 2_000)).toBe('wait');
    expect(comparisonWait(w, [{ model_id: 'other' }], 2_000)).toBe('wait');
    expect(comparisonWait(w, [{ model_id: 'm' }], 2_000)).toBe('arrived');
    // Arrived late still counts.
    expect(comparisonWait(w, [{ model_id: 'm' }], 1_000 + COMPARISON_WAIT_MS + 5)).toBe('arrived');
    expect(comparisonWait(w, [], 1_000 + COMPARISON_WAIT_MS - 1)).toBe('wait');
    expect(comparisonWait(w, undefined, 1_000 + COMPARISON_WAIT_MS)).toBe('give-up');
  });
});

const nd = (why = 'not enough reviewed data to compare: 3 images'): Interval => ({ not_defined: why });
const iv = (value: number, lo: number, hi: number): Interval => ({ value, ci95: [lo, hi] });

function metric(over: Partial<MetricComparison> = {}): MetricComparison {
  return {
    metric: 'Fibrosis',
    chosen: true,
    champion_mae: iv(0.5, 0.4, 0.6),
    challenger_mae: iv(0.38, 0.3, 0.45),
    mae_difference: iv(-0.12, -0.2, -0.03),
    champion_kappa: iv(0.7, 0.6, 0.8),
    challenger_kappa: iv(0.75, 0.66, 0.83),
    kappa_difference: iv(0.05, -0.01, 0.1),
    changed_share: iv(0.125, 0.05, 0.2),
    verdict: 'better',
    ...over,
  };
}

const fullReport = {
  images: 24,
  groups: 6,
  options: { metrics: ['Fibrosis'], resamples: 2000, seed: 3, min_images: 20, min_groups: 5 },
  metrics: [metric()],
  verdict: 'better',
  summary: 'better: Fibrosis error lower by 0.12',
  champion_id: 'aaaa',
  challenger_id: 'bbbb',
  evaluation_set: { id: 3, groups: ['S-1'] },
};

function evaluation(over: Partial<ModelEvaluation> = {}): ModelEvaluation {
  return { id: 9, model_id: '0123456789abcdef', champion_id: 'aaaa', evaluation_set_id: 3, run_id: 4, verdict: 'better', report: fullReport, created_at: '2025-01-01T00:00:00Z', ...over };
}

describe('verdicts and reports', () => {
  it('badges each verdict by its colour', () => {
    expect(verdictBadge('better')).toMatchObject({ label: 'better', tone: 'green' });
    expect(verdictBadge('worse')).toMatchObject({ label: 'worse', tone: 'red' });
    expect(verdictBadge('no_clear_difference')).toMatchObject({ label: 'no clear difference', tone: 'slate' });
    expect(verdictBadge('not_enough_data')).toMatchObject({ label: 'not enough data', tone: 'amber' });
    expect(verdictBadge('something_new')).toMatchObject({ label: 'something new', tone: 'slate' });
  });
  it('tells a full comparison from a summary alone', () => {
    expect(parseReport({ summary: 'no model is active: nothing to compare with' })).toEqual({ kind: 'summary', summary: 'no model is active: nothing to compare with' });
    expect(parseReport(null)).toEqual({ kind: 'summary', summary: '' });
    const p = parseReport({ ...fullReport, metrics: [metric(), 'junk', { nope: 1 }] });
    expect(p.kind).toBe('full');
    if (p.kind === 'full') expect(p.report.metrics).toHaveLength(1);
  });
  it('says the summary as a sentence', () => {
    expect(evaluationSummary(evaluation())).toBe('Better: Fibrosis error lower by 0.12.');
    expect(evaluationSummary({ report: { summary: 'not enough reviewed data to compare: no evaluation set has been chosen yet.' } })).toBe(
      'Not enough reviewed data to compare: no evaluation set has been chosen yet.',
    );
    expect(evaluationSummary({ report: {} })).toBe('The server gave no summary.');
    expect(asSentence('  ')).toBe('');
  });
  it('says what a comparison rests on', () => {
    expect(comparisonBasis(fullReport)).toBe('24 reviewed images from 6 sample groups · 2,000 resamples of whole groups (seed 3) · needs at least 20 images from 5 groups');
    expect(comparisonBasis({ images: 1, groups: 1, options: null })).toBe('1 reviewed image from 1 sample group');
  });
  it('shows a table only when some statistic has a value', () => {
    expect(hasFigures({ ...fullReport, verdict: 'better' })).toBe(true);
    const empty = metric({
      champion_mae: nd(),
      challenger_mae: nd(),
      mae_difference: nd(),
      champion_kappa: nd(),
      challenger_kappa: nd(),
      kappa_difference: nd(),
      changed_share: nd(),
      verdict: 'not_enough_data',
    });
    expect(hasFigures({ ...fullReport, verdict: 'not_enough_data', metrics: [empty] })).toBe(false);
  });
});

describe('figures with their intervals', () => {
  it('formats a statistic with its 95 % interval, or not defined with the reason', () => {
    expect(formatStatistic(iv(0.4999, 0.41, 0.6))).toEqual({ text: '0.50 [0.41, 0.60]', reason: null });
    expect(formatStatistic(nd('too few'))).toEqual({ text: 'not defined', reason: 'too few' });
  });
  it('signs differences', () => {
    expect(formatDifference(iv(-0.12, -0.2, -0.03)).text).toBe('-0.12 [-0.20, -0.03]');
    expect(formatDifference(iv(0.05, -0.01, 0.1)).text).toBe('+0.05 [-0.01, +0.10]');
    expect(formatDifference(iv(0.001, 0, 0.002)).text).toBe('0.00 [0.00, 0.00]');
    expect(formatDifference({ value: 0.2 } as unknown as Interval).text).toBe('+0.20');
    expect(formatDifference(nd('why')).reason).toBe('why');
  });
  it('shows shares as percentages', () => {
    expect(formatShare(iv(0.125, 0.05, 0.2)).text).toBe('13% [5%, 20%]');
    expect(formatShare(iv(0, 0, 0)).text).toBe('0% [0%, 0%]');
    expect(formatShare(nd('why'))).toEqual({ text: 'not defined', reason: 'why' });
  });
});

describe('the forest plot', () => {
  it('knows which side of zero an interval is on', () => {
    expect(differenceSide(iv(-0.12, -0.2, -0.03), true)).toBe('better');
    expect(differenceSide(iv(-0.12, -0.2, -0.03), false)).toBe('worse');
    expect(differenceSide(iv(0.05, 0.01, 0.1), false)).toBe('better');
    expect(differenceSide(iv(0.05, -0.01, 0.1), false)).toBe('unclear');
    expect(differenceSide(nd(), true)).toBeNull();
  });
  it('puts zero in the middle and the interval on a scale that holds it', () => {
    // reach = 0.2 × 1.1 = 0.22: -0.22 … 0.22 over 0 … 100 (no padding).
    const r = forestRow(iv(-0.11, -0.2, 0), 100, true, 0);
    expect(r).toEqual({ x: 25, lo: 4.5, hi: 50, zero: 50, side: 'unclear' });
    const flat = forestRow(iv(0, 0, 0), 100, true, 0);
    expect(flat).toMatchObject({ x: 50, lo: 50, hi: 50, zero: 50 });
    expect(forestRow(nd(), 100, true)).toBeNull();
  });
  it('says what it shows', () => {
    expect(forestSummary(metric())).toBe(
      'Fibrosis: error difference -0.12 [-0.20, -0.03] (the new model is better); kappa difference +0.05 [-0.01, +0.10] (the interval includes zero).',
    );
    expect(forestSummary(metric({ mae_difference: nd(), kappa_difference: nd() }))).toBe('Fibrosis: error difference not defined; kappa difference not defined.');
  });
});

describe('promotion', () => {
  it('is offered when the latest comparison says better, against the model active now', () => {
    const e = evaluation();
    expect(promotion([e], { active: false }, 'aaaa')).toEqual({ ok: true, evaluation: e, reason: 'promoted after comparison 9: better on the evaluation set' });
    expect(promotion([e], { active: false }, null).ok).toBe(true);
  });
  it('is not offered for the active model, without comparisons, or when the latest is not better', () => {
    expect(promotion([evaluation()], { active: true }, 'aaaa')).toEqual({ ok: false, why: null });
    expect(promotion([], { active: false }, 'aaaa')).toEqual({ ok: false, why: null });
    expect(promotion([evaluation({ verdict: 'no_clear_difference' }), evaluation({ id: 2 })], { active: false }, 'aaaa')).toEqual({ ok: false, why: null });
  });
  it('says so when the comparison was made against a model that is not active any more', () => {
    const p = promotion([evaluation()], { active: false }, 'cccc');
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.why).toContain('compare again');
  });
  it('names the JSON download', () => {
    expect(evaluationFileName(evaluation())).toBe('evaluation-0123456789ab-9.json');
  });
});

describe('retrainingErrorMessage', () => {
  const err = (status: number, detail: string, field?: string) => new ApiError(status, { error: 'x', detail, field });
  it('explains refusals by who may act, what the server accepts, and an old server', () => {
    expect(retrainingErrorMessage(err(409, 'a training run is in progress; wait for it to finish (or cancel it) first'), 'run')).toBe(
      'A training run is in progress; wait for it to finish (or cancel it) first. Its progress shows under Training runs.',
    );
    expect(retrainingErrorMessage(err(422, 'must be at least 1, or null to turn it off', 'after_reviewed'), 'save-policy')).toBe(
      'The server refused this policy (newly reviewed images): must be at least 1, or null to turn it off.',
    );
    expect(retrainingErrorMessage(err(422, 'registered models were trained on S-1', 'groups'), 'save-set')).toBe(
      'The server refused this evaluation set (sample groups): registered models were trained on S-1.',
    );
    expect(retrainingErrorMessage(err(422, 'reason: say why the evaluation set is chosen or changed (it is kept in the audit log)', 'reason'), 'save-set')).toBe(
      'The server refused this evaluation set (reason): say why the evaluation set is chosen or changed (it is kept in the audit log).',
    );
    expect(retrainingErrorMessage(err(422, 'must be between 0 and 0.5 (a share of the sample groups)', 'share'), 'save-set')).toBe(
      'The server refused this evaluation set (share): must be between 0 and 0.5 (a share of the sample groups).',
    );
    expect(retrainingErrorMessage(err(422, 'the weights are missing'), 'evaluate')).toBe('The comparison failed: the weights are missing.');
    expect(retrainingErrorMessage(err(403, 'administrators only'), 'save-policy')).toContain('only administrators');
    expect(retrainingErrorMessage(err(404, 'not found'), 'load')).toContain('cannot retrain on its own');
    expect(retrainingErrorMessage(err(404, 'not found'), 'evaluate')).toContain('not registered');
    expect(retrainingErrorMessage(new ApiError(0, { error: 'network', detail: 'x' }), 'run')).toContain('could not be reached');
    expect(retrainingErrorMessage(new Error('boom'), 'run')).toBe('boom');
  });
});
