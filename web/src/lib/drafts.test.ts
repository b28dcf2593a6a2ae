import { describe, expect, it } from 'vitest';
import type { Draft, Schema } from '../api/types';
import { compareDrafts, defaultComparePair, draftLabels, formatDiff, formatUncertainty } from './drafts';

const schema: Schema = {
  name: 'test',
  step: 0.25,
  metrics: [
    { name: 'A', max: 4 },
    { name: 'B', max: 3 },
    { name: 'C', max: 3 },
  ],
};

const draft = (model_id: string, rounded: Record<string, number>, created_at = '2024-05-01T10:00:00Z', extra: Partial<Draft> = {}): Draft => ({
  id: 1,
  image_id: 1,
  model_id,
  model_demo: false,
  raw_outputs: {},
  rounded,
  created_at,
  ...extra,
});

describe('formatUncertainty', () => {
  it('prints two decimals after a plus-minus sign', () => {
    expect(formatUncertainty(0.1234)).toBe('± 0.12');
    expect(formatUncertainty(0)).toBe('± 0.00');
    expect(formatUncertainty(1.005)).toMatch(/^± 1\.0[01]$/);
  });
  it('prints nothing when the draft has none', () => {
    expect(formatUncertainty(undefined)).toBe('');
    expect(formatUncertainty(null)).toBe('');
    expect(formatUncertainty(Number.NaN)).toBe('');
  });
});

describe('formatDiff', () => {
  it('signs the difference, with a real minus sign, in the step’s decimals', () => {
    expect(formatDiff(0.5, 0.25)).toBe('+0.5');
    expect(formatDiff(-0.25, 0.25)).toBe('−0.25');
    expect(formatDiff(0, 0.25)).toBe('0');
    expect(formatDiff(1e-12, 0.25)).toBe('0');
    expect(formatDiff(null, 0.25)).toBe('–');
  });
});

describe('compareDrafts', () => {
  it('gives b − a per metric and for the total, marking the metrics that differ', () => {
    const a = draft('m1', { A: 2, B: 1.25, C: 1.5 });
    const b = draft('m2', { A: 2.5, B: 1.25, C: 1 });
    const { rows, total } = compareDrafts(a, b, schema);
    expect(rows).toEqual([
      { metric: 'A', a: 2, b: 2.5, diff: 0.5, differs: true },
      { metric: 'B', a: 1.25, b: 1.25, diff: 0, differs: false },
      { metric: 'C', a: 1.5, b: 1, diff: -0.5, differs: true },
    ]);
    expect(total).toEqual({ metric: 'Total', a: 4.75, b: 4.75, diff: 0, differs: false });
  });
  it('has no difference where one draft lacks the metric, and counts that as differing', () => {
    const { rows } = compareDrafts(draft('m1', { A: 1 }), draft('m2', { A: 1, B: 2 }), schema);
    expect(rows[1]).toEqual({ metric: 'B', a: null, b: 2, diff: null, differs: true });
    expect(rows[2]).toEqual({ metric: 'C', a: null, b: null, diff: null, differs: false });
  });
  it('does not call floating-point noise a difference', () => {
    const { rows } = compareDrafts(draft('m1', { A: 0.1 + 0.2 }), draft('m2', { A: 0.3 }), schema);
    expect(rows[0]?.differs).toBe(false);
  });
});

describe('defaultComparePair', () => {
  it('needs two drafts', () => {
    expect(defaultComparePair([])).toBeNull();
    expect(defaultComparePair([draft('m1', {})])).toBeNull();
  });
  it('compares the newest with the newest draft of another model', () => {
    const list = [draft('m1', {}), draft('m2', {}), draft('m3', {}), draft('m3', {})];
    expect(defaultComparePair(list)).toEqual([1, 3]);
  });
  it('falls back to the draft before the newest when one model made them all', () => {
    expect(defaultComparePair([draft('m1', {}), draft('m1', {}), draft('m1', {})])).toEqual([1, 2]);
  });
});

describe('draftLabels', () => {
  it('names the model, adds the date only where a model made several drafts, marks demo drafts', () => {
    const list = [draft('aaaaaaaaaaaaaaaa', {}), draft('bbbb', {}, '2024-05-02T10:00:00Z'), draft('bbbb', {}, '2024-05-03T10:00:00Z'), draft('demo', {}, undefined, { model_demo: true })];
    const labels = draftLabels(list, new Map([['bbbb', 'pancreas v2']]));
    expect(labels[0]).toBe('aaaaaaaaaaaa');
    expect(labels[1]).toMatch(/^pancreas v2 · /);
    expect(labels[2]).toMatch(/^pancreas v2 · /);
    expect(labels[1]).not.toBe(labels[2]);
    expect(labels[3]).toBe('demo (demo)');
  });
});
