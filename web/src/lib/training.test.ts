import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import {
  addEpoch,
  addRateSample,
  defaultTrainFields,
  describeProgress,
  estimateBeforeStart,
  featuresPercent,
  historyFromTraining,
  lossPaths,
  lossSummary,
  maeByMetric,
  paramsSummary,
  parseProgress,
  progressText,
  roughDuration,
  runParam,
  runStartedBy,
  runStateBadge,
  secondsPerStep,
  timeLeftText,
  trainingErrorMessage,
  trainRequest,
  type LossPoint,
  type RateSample,
} from './training';

describe('trainRequest', () => {
  it('sends the defaults, and the name only when there is one', () => {
    expect(trainRequest(defaultTrainFields())).toEqual({ ok: true, request: { head_only: false, seed: 42, epochs: 300, val_fraction: 0.2 } });
    expect(trainRequest({ mode: 'head', name: '  pancreas v3 ', seed: '7', epochs: '50', valFraction: '0,25' })).toEqual({
      ok: true,
      request: { head_only: true, seed: 7, epochs: 50, val_fraction: 0.25, name: 'pancreas v3' },
    });
  });
  it('names the wrong field and what the server accepts', () => {
    const f = defaultTrainFields();
    expect(trainRequest({ ...f, seed: '-1' })).toMatchObject({ ok: false, field: 'seed' });
    expect(trainRequest({ ...f, seed: '1.5' })).toMatchObject({ ok: false, field: 'seed' });
    expect(trainRequest({ ...f, epochs: '' })).toMatchObject({ ok: false, field: 'epochs' });
    expect(trainRequest({ ...f, epochs: '10001' })).toMatchObject({ ok: false, field: 'epochs', error: expect.stringContaining('1 to 10,000') });
    expect(trainRequest({ ...f, valFraction: '0.6' })).toMatchObject({ ok: false, field: 'valFraction', error: expect.stringContaining('between 0.05 and 0.5') });
    expect(trainRequest({ ...f, valFraction: 'a fifth' })).toMatchObject({ ok: false, field: 'valFraction' });
    expect(trainRequest({ ...f, valFraction: '0.05' }).ok).toBe(true);
  });
});

describe('parseProgress', () => {
  it('reads every documented stage', () => {
    expect(parseProgress({ stage: 'features', done: 3, total: 10 })).toEqual({ stage: 'features', done: 3, total: 10 });
    expect(parseProgress({ stage: 'training', train: 8, validation: 2, validation_groups: ['S-1'] })).toEqual({
      stage: 'training',
      train: 8,
      validation: 2,
      validation_groups: ['S-1'],
    });
    expect(parseProgress({ stage: 'epoch', epoch: 4, train_loss: 0.1, val_loss: 0.2, val_mae: [0.3, 0.4] })).toEqual({
      stage: 'epoch',
      epoch: 4,
      train_loss: 0.1,
      val_loss: 0.2,
      val_mae: [0.3, 0.4],
    });
    expect(parseProgress({ stage: 'warning', message: 'untrained parent' })).toEqual({ stage: 'warning', message: 'untrained parent' });
  });
  it('gives null for nothing yet, unknown stages and broken shapes', () => {
    expect(parseProgress(null)).toBeNull();
    expect(parseProgress({ stage: 'fine_tune', layer: 3 })).toBeNull();
    expect(parseProgress({ stage: 'features', done: '3', total: 10 })).toBeNull();
    expect(parseProgress({ stage: 'epoch', epoch: 1 })).toBeNull();
    expect(parseProgress([1, 2])).toBeNull();
  });
});

describe('progress in words', () => {
  it('never says 100 % before the last image', () => {
    expect(featuresPercent(0, 10)).toBe(0);
    expect(featuresPercent(3, 10)).toBe(30);
    expect(featuresPercent(999, 1000)).toBe(99);
    expect(featuresPercent(10, 10)).toBe(100);
    expect(featuresPercent(1, 0)).toBe(0);
  });
  it('says what each stage is doing', () => {
    expect(progressText(null)).toMatch(/^Starting/);
    expect(progressText({ stage: 'features', done: 1, total: 4 })).toBe('Computing features: 1 of 4 images (25%)');
    expect(progressText({ stage: 'training', train: 8, validation: 2, validation_groups: ['S-1', 'S-2'] })).toBe(
      'Training the head on 8 images; 2 held out for validation (groups S-1, S-2)',
    );
    expect(progressText({ stage: 'training', train: 5, validation: 1, validation_groups: ['a', 'b', 'c', 'd', 'e', 'f'] })).toContain('a, b, c, d and 2 more');
    expect(progressText({ stage: 'epoch', epoch: 12, train_loss: 0, val_loss: 0, val_mae: [] }, 300)).toBe('Epoch 12 of at most 300');
    expect(progressText({ stage: 'epoch', epoch: 12, train_loss: 0, val_loss: 0, val_mae: [] })).toBe('Epoch 12');
    expect(progressText({ stage: 'warning', message: 'careful' })).toBe('Warning: careful');
  });
  it('describes the progress as it came, a stage it does not know by its name', () => {
    expect(describeProgress({ stage: 'epoch', epoch: 2, train_loss: 1, val_loss: 1, val_mae: [] }, 10)).toBe('Epoch 2 of at most 10');
    expect(describeProgress({ stage: 'preparing_images', done: 1 })).toBe('Working: preparing images…');
    expect(describeProgress(null)).toMatch(/^Starting/);
    expect(describeProgress({ stage: 'features', done: 'x' })).toBe('Working: features…');
  });
  it('names the validation MAE by the schema, in its order', () => {
    expect(maeByMetric([0.41234, 1, NaN], ['Fibrosis', 'Inflammation'])).toEqual([
      { metric: 'Fibrosis', value: '0.412' },
      { metric: 'Inflammation', value: '1' },
      { metric: 'output 3', value: '–' },
    ]);
  });
  it('reads the settings from the run’s params', () => {
    const run = { params: { seed: 42, epochs: 300, val_fraction: 0.2, name: 'v3', from: null } };
    expect(runParam(run, 'epochs')).toBe(300);
    expect(runParam(run, 'from')).toBeNull();
    expect(runParam({ params: {} }, 'epochs')).toBeNull();
    expect(paramsSummary(run)).toBe('“v3” · seed 42 · at most 300 epochs · validation 20%');
    expect(paramsSummary({ params: {} })).toBe('');
  });
  it('badges the state, and a requested cancel', () => {
    expect(runStateBadge({ state: 'running', cancel_requested: false })).toEqual({ label: 'running', tone: 'blue' });
    expect(runStateBadge({ state: 'running', cancel_requested: true })).toEqual({ label: 'cancelling…', tone: 'amber' });
    expect(runStateBadge({ state: 'done', cancel_requested: false }).tone).toBe('green');
    expect(runStateBadge({ state: 'failed', cancel_requested: false }).tone).toBe('red');
    expect(runStateBadge({ state: 'cancelled', cancel_requested: true }).label).toBe('cancelled');
  });
});

describe('the loss chart', () => {
  const epoch = (n: number, train: number, val: number) => ({ stage: 'epoch' as const, epoch: n, train_loss: train, val_loss: val, val_mae: [] });

  it('collects the epochs seen while polling', () => {
    let h: LossPoint[] = [];
    h = addEpoch(h, epoch(1, 0.5, 0.6));
    h = addEpoch(h, epoch(3, 0.3, 0.4));
    expect(h).toEqual([
      { epoch: 1, train: 0.5, val: 0.6 },
      { epoch: 3, train: 0.3, val: 0.4 },
    ]);
    // The same report again changes nothing (the same array); other stages neither.
    expect(addEpoch(h, epoch(3, 0.3, 0.4))).toBe(h);
    expect(addEpoch(h, { stage: 'features', done: 1, total: 2 })).toBe(h);
    expect(addEpoch(h, null)).toBe(h);
    // An earlier epoch starts over.
    expect(addEpoch(h, epoch(1, 0.9, 0.9))).toEqual([{ epoch: 1, train: 0.9, val: 0.9 }]);
  });
  it('reads a trained model’s history', () => {
    expect(historyFromTraining({ history: [{ epoch: 1, train_loss: 0.2, val_loss: 0.3, val_mae: [0.1] }, { epoch: 'x' }] })).toEqual([{ epoch: 1, train: 0.2, val: 0.3 }]);
    expect(historyFromTraining(null)).toEqual([]);
    expect(historyFromTraining({ history: 'none' })).toEqual([]);
  });
  it('draws nothing under two points', () => {
    expect(lossPaths([], 100, 40)).toBeNull();
    expect(lossPaths([{ epoch: 1, train: 1, val: 1 }], 100, 40)).toBeNull();
  });
  it('spans the box: the first epoch left, the last right, the highest loss at the top', () => {
    const p = lossPaths(
      [
        { epoch: 1, train: 1, val: 0.1 },
        { epoch: 2, train: 0.01, val: 0.1 },
      ],
      100,
      40,
      0,
    );
    expect(p).not.toBeNull();
    expect(p?.log).toBe(true);
    expect(p?.train).toBe('M0,0 L100,40');
    expect(p?.val).toBe('M0,20 L100,20');
    expect(lossSummary(p as NonNullable<typeof p>)).toBe('Loss from epoch 1 to 2 (log scale): train 1 to 0.01, validation 0.1 to 0.1.');
  });
  it('falls back to a linear scale at zero, and a flat line in the middle', () => {
    const p = lossPaths(
      [
        { epoch: 5, train: 0, val: 0 },
        { epoch: 6, train: 0, val: 0 },
      ],
      100,
      40,
      0,
    );
    expect(p?.log).toBe(false);
    expect(p?.train).toBe('M0,20 L100,20');
  });
});

describe('trainingErrorMessage', () => {
  const err = (status: number, detail: string) => new ApiError(status, { error: 'x', detail });
  it('explains refusals by who may act, what the server accepts, and an old server', () => {
    expect(trainingErrorMessage(err(403, 'administrators only'), 'start')).toBe('administrators only (only administrators start and cancel training: ask one).');
    expect(trainingErrorMessage(err(422, 'val_fraction must be between 0.05 and 0.5.'), 'start')).toBe(
      'The server refused these settings: val_fraction must be between 0.05 and 0.5.',
    );
    expect(trainingErrorMessage(err(404, 'not found'), 'load')).toContain('cannot train models');
    expect(trainingErrorMessage(err(404, 'not found'), 'cancel')).toContain('reload the page');
    expect(trainingErrorMessage(new ApiError(0, { error: 'network', detail: 'x' }), 'poll')).toContain('could not be reached');
    expect(trainingErrorMessage(new Error('boom'), 'start')).toBe('boom');
  });
});

describe('who started a run', () => {
  it('names the person, or the retraining policy', () => {
    expect(runStartedBy({ origin: 'manual', created_by: 'ada' })).toBe('by ada');
    expect(runStartedBy({ created_by: 'ada' })).toBe('by ada');
    expect(runStartedBy({ origin: 'policy', created_by: 'retraining-policy' })).toBe('by the retraining policy');
    expect(runStartedBy({ origin: 'policy', created_by: 'ada' })).toBe('by the retraining policy (Run now by ada)');
    expect(runStartedBy({ origin: 'manual', created_by: ' ' })).toBe('by –');
  });
});

describe('how long training takes', () => {
  it('says durations roughly', () => {
    expect(roughDuration(3)).toBe('a few seconds');
    expect(roughDuration(22)).toBe('about 20 s');
    expect(roughDuration(59)).toBe('about 60 s');
    expect(roughDuration(61)).toBe('about 1 min');
    expect(roughDuration(240)).toBe('about 4 min');
    expect(roughDuration(3600)).toBe('about 1 h');
    expect(roughDuration(12_000)).toBe('about 3 h 20 min');
    expect(roughDuration(7_190)).toBe('about 2 h');
    expect(roughDuration(-1)).toBe('');
    expect(roughDuration(Number.NaN)).toBe('');
  });
  it('estimates before the start from the reviewed images, or says nothing', () => {
    expect(estimateBeforeStart({ headOnly: true, images: null, maxEpochs: 300 })).toBeNull();
    expect(estimateBeforeStart({ headOnly: false, images: 0, maxEpochs: 300 })).toBeNull();
    // Head only: 0.15 s per image + a few seconds.
    expect(estimateBeforeStart({ headOnly: true, images: 100, maxEpochs: 300 })).toBe(
      "About 20 s with 100 reviewed images: mostly computing each image's features once (about 0.15 s per image), then a few seconds of training.",
    );
    // Fine-tune: 0.4 s per image per epoch; at most the maximum of epochs.
    expect(estimateBeforeStart({ headOnly: false, images: 100, maxEpochs: 300 })).toBe(
      'Rough estimate on a 2-core server: about 40 s per epoch (one pass over the 100 reviewed images), so at most about 3 h 20 min for 300 epochs. It usually stops well before the maximum, once validation stops improving.',
    );
    expect(estimateBeforeStart({ headOnly: false, images: 1, maxEpochs: Number.NaN })).toBe(
      'Rough estimate on a 2-core server: a few seconds per epoch (one pass over the 1 reviewed image). It usually stops well before the maximum, once validation stops improving.',
    );
  });

  const run = (progress: unknown, updated_at: string) => ({ progress: progress as Record<string, unknown>, updated_at });
  const epoch = (n: number) => ({ stage: 'epoch', epoch: n, train_loss: 1, val_loss: 1, val_mae: [] });

  it('times the epochs seen while polling by the server’s clock', () => {
    let s: RateSample[] = [];
    s = addRateSample(s, run(epoch(3), '2025-01-01T00:00:00Z'));
    s = addRateSample(s, run({ stage: 'warning', message: 'x' }, '2025-01-01T00:00:10Z'));
    const same = addRateSample(s, run(epoch(3), '2025-01-01T00:00:20Z'));
    expect(same).toBe(s);
    s = addRateSample(s, run(epoch(5), '2025-01-01T00:02:00Z'));
    expect(s.map((x) => x.n)).toEqual([3, 5]);
    expect(secondsPerStep(s)).toBe(60);
    // An earlier epoch, or another stage, starts over.
    expect(addRateSample(s, run(epoch(1), '2025-01-01T00:03:00Z'))).toHaveLength(1);
    expect(addRateSample(s, run({ stage: 'features', done: 1, total: 9 }, '2025-01-01T00:03:00Z'))).toEqual([{ stage: 'features', n: 1, at: Date.parse('2025-01-01T00:03:00Z') }]);
    // No time from the server: the page's clock.
    expect(addRateSample([], run(epoch(1), ''), 1234)).toEqual([{ stage: 'epoch', n: 1, at: 1234 }]);
    expect(secondsPerStep(s.slice(0, 1))).toBeNull();
  });
  it('says the time left at most, from the pace', () => {
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    const samples: RateSample[] = [
      { stage: 'epoch', n: 3, at: t0 },
      { stage: 'epoch', n: 5, at: t0 + 120_000 },
    ];
    const p = parseProgress(epoch(5));
    expect(timeLeftText(samples, p, 10)).toBe('About 5 min left at most (it stops earlier when validation stops improving).');
    expect(timeLeftText(samples, p, 5)).toBe('Less than a minute left at most.');
    expect(timeLeftText(samples.slice(0, 1), p, 10)).toBe('Time left: known after the next epoch.');
    expect(timeLeftText(samples, p, null)).toBeNull();
    expect(timeLeftText(samples, null, 10)).toBeNull();
    const features: RateSample[] = [
      { stage: 'features', n: 10, at: t0 },
      { stage: 'features', n: 20, at: t0 + 2_000 },
    ];
    expect(timeLeftText(features, parseProgress({ stage: 'features', done: 20, total: 270 }), 10)).toBe('Features: about 50 s left.');
    // Samples of another stage say nothing about this one.
    expect(timeLeftText(features, p, 10)).toBe('Time left: known after the next epoch.');
  });
});
