import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import {
  activeModelLabel,
  comparedToParent,
  formatFigure,
  modelErrorMessage,
  modelFigures,
  modelFileProblem,
  modelLabel,
  modelTitle,
  qualityRows,
  statText,
  summariseMetrics,
} from './models';

describe('modelLabel', () => {
  it('prefers the name, else the short id', () => {
    expect(modelLabel({ id: '3f9c1e2a7b40aa', name: 'pancreas v2' })).toBe('pancreas v2');
    expect(modelLabel({ id: '3f9c1e2a7b40aa', name: '  ' })).toBe('3f9c1e2a7b40');
  });
  it('quotes the name beside the short id, and does not repeat the id', () => {
    expect(modelTitle({ id: '3f9c1e2a7b40aa', name: 'pancreas v2' })).toBe('“pancreas v2” (3f9c1e2a7b40)');
    expect(modelTitle({ id: '3f9c1e2a7b40aa', name: '' })).toBe('3f9c1e2a7b40');
  });
});

describe('modelFileProblem', () => {
  it('accepts .pth and .safetensors in any case', () => {
    expect(modelFileProblem('model.pth')).toBeNull();
    expect(modelFileProblem('Model.SafeTensors')).toBeNull();
  });
  it('explains what to choose instead', () => {
    expect(modelFileProblem('model.onnx')).toContain('.pth (PyTorch) or .safetensors');
    expect(modelFileProblem('.pth')).not.toBeNull();
    expect(modelFileProblem('weights')).toContain('“weights”');
  });
});

describe('formatFigure and summariseMetrics', () => {
  it('keeps three significant digits and integers as they are', () => {
    expect(formatFigure(0.823456)).toBe('0.823');
    expect(formatFigure(12.3456)).toBe('12.3');
    expect(formatFigure(1234.5)).toBe('1235');
    expect(formatFigure(42)).toBe('42');
  });
  it('flattens one level, skips lists, and says how many more there are', () => {
    const s = summariseMetrics({ mae: 0.41234, qwk: { 'Fibrosis': 0.8, 'Glandular Atrophy': 0.7 }, epochs: 20, per_image: [1, 2], note: 'val' }, 4);
    expect(s.items).toEqual([
      { label: 'mae', value: '0.412' },
      { label: 'qwk.Fibrosis', value: '0.8' },
      { label: 'qwk.Glandular Atrophy', value: '0.7' },
      { label: 'epochs', value: '20' },
    ]);
    expect(s.more).toBe(1);
    expect(summariseMetrics(null)).toEqual({ items: [], more: 0 });
  });
});

describe('modelErrorMessage', () => {
  const err = (status: number, detail: string) => new ApiError(status, { error: 'x', detail });
  it('explains a refused import with the server’s reason and what to choose', () => {
    const m = modelErrorMessage(err(422, 'the tensor fc.weight has shape [3, 512], the schema needs [4, 512].'), 'import');
    expect(m).toBe(
      'This file is not a model Histoscore can use: the tensor fc.weight has shape [3, 512], the schema needs [4, 512]. Choose the .pth or .safetensors weights of a network trained for this scoring schema.',
    );
  });
  it('says there is nothing to roll back to', () => {
    expect(modelErrorMessage(err(409, 'no previous activation'), 'rollback')).toMatch(/^Nothing to roll back to/);
  });
  it('names who may act, and an unreachable server', () => {
    expect(modelErrorMessage(err(403, 'administrators only'), 'activate')).toContain('only administrators');
    expect(modelErrorMessage(new ApiError(0, { error: 'network', detail: 'x' }), 'import')).toContain('could not be reached');
    expect(modelErrorMessage(err(404, 'not found'), 'load')).toContain('no model registry');
    expect(modelErrorMessage(new Error('boom'), 'rescore')).toBe('boom');
  });
});

describe('a trained model’s validation quality', () => {
  // As the server stores it: {metric: {metric, n, mae, qwk, parent_mae, parent_qwk}}.
  const metrics = {
    'Inflammation': { metric: 'Inflammation', n: 3, mae: { value: 0.5 }, qwk: { not_defined: 'one grade only' }, parent_mae: { value: 0.75 }, parent_qwk: { value: 0.2 } },
    'Fibrosis': { metric: 'Fibrosis', n: 3, mae: { value: 0.41234 }, qwk: { value: 0.8 }, parent_mae: { value: 0.3 }, parent_qwk: { value: 0.8 } },
    'Extra': { metric: 'Extra', n: 3, mae: { value: 1 }, qwk: { value: 0 }, parent_mae: { value: 1 }, parent_qwk: { value: 0 } },
  };

  it('reads a statistic or why it is not defined', () => {
    expect(statText({ value: 0.41234 })).toEqual({ text: '0.412', value: 0.41234 });
    expect(statText({ not_defined: 'fewer than 2 images' })).toEqual({ text: '–', value: null, reason: 'fewer than 2 images' });
    expect(statText(undefined)).toEqual({ text: '–', value: null });
  });
  it('orders the rows as the schema, unknown metrics after', () => {
    const rows = qualityRows(metrics, ['Fibrosis', 'Inflammation']);
    expect(rows.map((r) => r.metric)).toEqual(['Fibrosis', 'Inflammation', 'Extra']);
    expect(rows[1]).toMatchObject({ n: 3, mae: { text: '0.5' }, qwk: { text: '–', reason: 'one grade only' }, parentMae: { text: '0.75' } });
    expect(qualityRows({ mae: 0.4, epochs: 20 })).toEqual([]);
    expect(qualityRows(null)).toEqual([]);
  });
  it('compares with the parent as shown: lower MAE and higher QWK are better', () => {
    const [fib, infl] = qualityRows(metrics, ['Fibrosis', 'Inflammation']);
    expect(comparedToParent(fib!.mae, fib!.parentMae, true)).toBe('worse');
    expect(comparedToParent(fib!.qwk, fib!.parentQwk, false)).toBe('same');
    expect(comparedToParent(infl!.mae, infl!.parentMae, true)).toBe('better');
    expect(comparedToParent(infl!.qwk, infl!.parentQwk, false)).toBeNull();
    expect(comparedToParent({ text: '0.9', value: 0.9 }, { text: '0.8', value: 0.8 }, false)).toBe('better');
  });
  it('summarises a trained model by its MAE beside the parent’s, anything else as before', () => {
    expect(modelFigures(metrics, ['Fibrosis', 'Inflammation'], 2)).toEqual({
      items: [
        { label: 'Fibrosis MAE', value: '0.412 (parent 0.3)' },
        { label: 'Inflammation MAE', value: '0.5 (parent 0.75)' },
      ],
      more: 1,
    });
    expect(modelFigures({ mae: 0.41234 })).toEqual(summariseMetrics({ mae: 0.41234 }));
  });
});

describe('activeModelLabel', () => {
  const now = new Date('2025-12-01T12:00:00Z');
  it('names the model and when it became active', () => {
    const e = { id: 'abc123def4567890', name: 'Pancreas v1', activated_at: '2025-11-29T09:00:00Z', created_at: '2025-11-01T00:00:00Z' };
    expect(activeModelLabel(e, e.id, now)).toBe('Pancreas v1, activated 29 Nov');
  });
  it('falls back to the short id, and leaves out an unknown activation', () => {
    expect(activeModelLabel(undefined, 'abc123def4567890', now)).toBe('Model abc123def456');
    expect(activeModelLabel({ id: 'x', name: ' ', activated_at: null, created_at: '2025-11-01T00:00:00Z' }, 'x', now)).toBe('Model x');
  });
});
