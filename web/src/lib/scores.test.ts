import { describe, expect, it } from 'vitest';
import { changedMetrics, decimalsOf, formatScore, isOnStep, keyedScore, parseScoreInput, scoreField, snapToStep, stepScore, totalScore } from './scores';
import type { Schema } from '../api/types';

const fib = { name: 'Fibrosis', max: 4 };
const atrophy = { name: 'Glandular Atrophy', max: 3 };
const schema: Schema = { name: 'pancreas-v1', step: 0.25, metrics: [fib, atrophy] };

describe('formatting', () => {
  it('knows how many decimals a step needs', () => {
    expect(decimalsOf(0.25)).toBe(2);
    expect(decimalsOf(0.5)).toBe(1);
    expect(decimalsOf(1)).toBe(0);
    expect(decimalsOf(0.1)).toBe(1);
  });
  it('prints scores without trailing zeros', () => {
    expect(formatScore(1.5, 0.25)).toBe('1.5');
    expect(formatScore(2, 0.25)).toBe('2');
    expect(formatScore(1.25, 0.25)).toBe('1.25');
    expect(formatScore(0, 0.5)).toBe('0');
    expect(formatScore(null, 0.5)).toBe('–');
  });
});

describe('parseScoreInput', () => {
  it('accepts values on the step grid within range', () => {
    expect(parseScoreInput('1.25', fib, 0.25)).toEqual({ ok: true, value: 1.25 });
    expect(parseScoreInput(' 4 ', fib, 0.25)).toEqual({ ok: true, value: 4 });
    expect(parseScoreInput('0', fib, 0.25)).toEqual({ ok: true, value: 0 });
    expect(parseScoreInput('.5', fib, 0.25)).toEqual({ ok: true, value: 0.5 });
  });
  it('accepts a decimal comma', () => {
    expect(parseScoreInput('2,75', fib, 0.25)).toEqual({ ok: true, value: 2.75 });
  });
  it('explains an empty field', () => {
    const r = parseScoreInput('', fib, 0.25);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/Enter a score \(0 – 4\)/);
  });
  it('explains text that is not a number', () => {
    const r = parseScoreInput('abc', fib, 0.25);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/not a number/);
    expect(parseScoreInput('1e2', fib, 0.25).ok).toBe(false);
    expect(parseScoreInput('1..2', fib, 0.25).ok).toBe(false);
  });
  it('refuses values above the metric maximum and suggests the maximum', () => {
    const r = parseScoreInput('3.5', atrophy, 0.25);
    expect(r).toEqual({ ok: false, message: 'The maximum for Glandular Atrophy is 3.', suggestion: 3 });
  });
  it('refuses negative values', () => {
    const r = parseScoreInput('-0.25', fib, 0.25);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.suggestion).toBe(0);
  });
  it('refuses values off the step grid and suggests the nearest', () => {
    const r = parseScoreInput('1.3', fib, 0.25);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toBe('Scores go in steps of 0.25; the nearest is 1.25.');
      expect(r.suggestion).toBe(1.25);
    }
    const h = parseScoreInput('1.7', fib, 0.5);
    if (!h.ok) expect(h.suggestion).toBe(1.5);
  });
  it('tolerates floating point noise on the grid', () => {
    expect(isOnStep(0.1 + 0.2, 0.1)).toBe(true);
    expect(parseScoreInput('0.3', { name: 'X', max: 1 }, 0.1)).toEqual({ ok: true, value: 0.3 });
  });
});

describe('stepScore', () => {
  it('steps by the schema step', () => {
    expect(stepScore(1, 1, fib, 0.25)).toBe(1.25);
    expect(stepScore(1, -1, fib, 0.25)).toBe(0.75);
    expect(stepScore(1, 1, fib, 0.5)).toBe(1.5);
  });
  it('clamps at the range ends', () => {
    expect(stepScore(4, 1, fib, 0.25)).toBe(4);
    expect(stepScore(0, -1, fib, 0.25)).toBe(0);
    expect(stepScore(2.75, 1, atrophy, 0.5)).toBe(3);
  });
  it('moves an off-grid value to the next grid value in that direction', () => {
    expect(stepScore(1.3, 1, fib, 0.25)).toBe(1.5);
    expect(stepScore(1.3, -1, fib, 0.25)).toBe(1.25);
  });
  it('starts an empty field at an end of the range', () => {
    expect(stepScore(null, 1, fib, 0.25)).toBe(0);
    expect(stepScore(null, -1, fib, 0.25)).toBe(4);
  });
  it('takes several steps at once', () => {
    expect(stepScore(1, 1, fib, 0.25, 4)).toBe(2);
  });
});

describe('helpers', () => {
  it('snaps to the step', () => {
    expect(snapToStep(1.13, 0.25)).toBe(1.25);
    expect(snapToStep(1.12, 0.25)).toBe(1);
  });
  it('totals the schema metrics only', () => {
    expect(totalScore({ Fibrosis: 1.5, 'Glandular Atrophy': 0.75, Other: 10 }, schema)).toBe(2.25);
    expect(totalScore({}, schema)).toBeNull();
    expect(totalScore(null, schema)).toBeNull();
  });
  it('lists the metrics that differ from the draft', () => {
    expect(changedMetrics({ Fibrosis: 2, 'Glandular Atrophy': 1 }, { Fibrosis: 1, 'Glandular Atrophy': 1 }, schema)).toEqual(['Fibrosis']);
    expect(changedMetrics({ Fibrosis: 2 }, null, schema)).toEqual([]);
  });
});

describe('scoreField', () => {
  describe('a form (no saved scores)', () => {
    it('shows what was typed and stands for it when valid', () => {
      expect(scoreField(fib, 0.25, '1,5', undefined, false)).toEqual({ text: '1,5', value: 1.5, error: null });
    });
    it('explains an invalid entry at once, with a suggestion', () => {
      const f = scoreField(fib, 0.25, '9', undefined, false);
      expect(f).toMatchObject({ text: '9', value: null, suggestion: 4 });
      expect(f.error).toContain('maximum');
    });
    it('asks for empty fields only after a submit attempt', () => {
      expect(scoreField(fib, 0.25, undefined, undefined, false)).toMatchObject({ text: '', value: null, error: null });
      expect(scoreField(fib, 0.25, '', undefined, false).error).toBeNull();
      expect(scoreField(fib, 0.25, undefined, undefined, true).error).toContain('Enter a score');
    });
  });

  describe('autosave (saved scores fall back)', () => {
    const saved = { Fibrosis: 2 };
    it('shows the saved score while nothing is typed', () => {
      expect(scoreField(fib, 0.25, undefined, saved, false)).toEqual({ text: '2', value: 2, error: null });
      expect(scoreField(atrophy, 0.25, undefined, saved, false)).toMatchObject({ text: '', value: null, error: null });
    });
    it('keeps the saved score behind an invalid entry', () => {
      const f = scoreField(fib, 0.25, '1.3', saved, false);
      expect(f).toMatchObject({ text: '1.3', value: 2, suggestion: 1.25 });
      expect(f.error).toContain('steps of 0.25');
    });
    it('says at once that a field emptied by hand holds no score', () => {
      expect(scoreField(fib, 0.25, '', saved, false).error).toContain('Enter a score');
      expect(scoreField(atrophy, 0.25, '', saved, false).error).toContain('Enter a score');
    });
  });
});

describe('keyedScore', () => {
  it('steps with the arrows and pages', () => {
    expect(keyedScore('ArrowUp', false, 1, fib, 0.25)).toBe(1.25);
    expect(keyedScore('ArrowDown', false, 1, fib, 0.25)).toBe(0.75);
    expect(keyedScore('PageUp', false, 1, fib, 0.25)).toBe(2);
    expect(keyedScore('PageDown', false, 0.5, fib, 0.25)).toBe(0);
  });
  it('jumps to the ends with Ctrl+Home and Ctrl+End only', () => {
    expect(keyedScore('Home', true, 2, fib, 0.25)).toBe(0);
    expect(keyedScore('End', true, 2, fib, 0.25)).toBe(4);
    expect(keyedScore('Home', false, 2, fib, 0.25)).toBeNull();
    expect(keyedScore('End', false, 2, fib, 0.25)).toBeNull();
  });
  it('ignores other keys', () => {
    expect(keyedScore('Enter', false, 2, fib, 0.25)).toBeNull();
    expect(keyedScore('a', true, 2, fib, 0.25)).toBeNull();
  });
});
