import { describe, expect, it } from 'vitest';
import type { Read, Schema, StudyImage } from '../api/types';
import {
  collectScores,
  disagreeingMetrics,
  firstToRead,
  formatDuration,
  hasRevision,
  nextInWorklist,
  parseIdList,
  readMode,
  scoresDiffer,
  scoresToTexts,
  workState,
} from './study';

const schema: Schema = { name: 't', step: 0.5, metrics: [{ name: 'a', max: 3 }, { name: 'b', max: 2 }] };

const img = (id: number, my_state: StudyImage['my_state'], mine?: Partial<StudyImage['reads'][string]>): StudyImage => ({
  image_id: id,
  code: `1-${String(id).padStart(3, '0')}`,
  filename: `f${id}.tif`,
  serial: null,
  status: 'scored',
  my_state,
  ai: null,
  reads: mine ? { me: { blind: null, revised: null, blind_seconds: null, revised_seconds: null, ...mine } } : {},
  final: null,
  version: 1,
});

const read = (over: Partial<Read>): Read => ({
  study_id: 1,
  image: { id: 1, filename: 'f.tif', serial: null, width: null, height: null, status: 'scored' },
  blinded: true,
  require_reason: false,
  state: 'blind',
  blind: null,
  revised: null,
  ai: null,
  model_id: null,
  blind_seconds: null,
  revised_seconds: null,
  ...over,
});

describe('reading state (blinded study)', () => {
  it('goes not started → opened → blind score in → revised', () => {
    expect(workState(img(1, 'not_started'), 'me', true)).toBe('todo');
    expect(workState(img(1, 'blind', {}), 'me', true)).toBe('opened');
    expect(workState(img(1, 'revealed', { blind: { a: 1, b: 1 } }), 'me', true)).toBe('blind_done');
    expect(workState(img(1, 'revealed', { blind: { a: 1, b: 1 }, revised: { a: 1.5, b: 1 } }), 'me', true)).toBe('revised');
  });
  it('does not take a revised score equal to the blind one for a revision, nor time spent after the reveal', () => {
    const same = { blind: { a: 1, b: 1 }, revised: { a: 1, b: 1 } };
    expect(hasRevision({ ...same, blind_seconds: 3, revised_seconds: null })).toBe(false);
    expect(workState(img(1, 'revealed', same), 'me', true)).toBe('blind_done');
    // Active viewing after the reveal gives a time without a revision.
    expect(hasRevision({ ...same, blind_seconds: 3, revised_seconds: 8 })).toBe(false);
    expect(workState(img(1, 'revealed', { ...same, blind_seconds: 3, revised_seconds: 8 }), 'me', true)).toBe('blind_done');
    expect(hasRevision({ blind: { a: 1, b: 1 }, revised: { a: 1.5, b: 1 }, blind_seconds: 3, revised_seconds: 8 })).toBe(true);
  });
  it('unblinded: scored once the reader saved a score', () => {
    expect(workState(img(1, 'not_started', {}), 'me', false)).toBe('todo');
    expect(workState(img(1, 'revealed', { revised: { a: 1, b: 0 } }), 'me', false)).toBe('done');
  });
});

describe('the reading form', () => {
  it('hides the AI draft before the blind submit, even if the server sent one', () => {
    const m = readMode(read({ ai: { a: 2, b: 1 } }), true);
    expect(m).toMatchObject({ kind: 'blind', showAi: false, submitLabel: 'Submit blind score', needsReason: false, prefill: null });
  });
  it('after the reveal: the AI draft, the revision button, a reason when the study requires one', () => {
    const r = read({ state: 'revealed', blind: { a: 1, b: 1 }, revised: { a: 1, b: 1 }, ai: { a: 2, b: 1 } });
    expect(readMode(r, false)).toMatchObject({ kind: 'revise', showAi: true, submitLabel: 'Save revision', needsReason: false, prefill: { a: 1, b: 1 } });
    expect(readMode(r, true).needsReason).toBe(true);
    expect(readMode({ ...r, revised: { a: 1.5, b: 1 } }, true).prefill).toEqual({ a: 1.5, b: 1 });
  });
  it('unblinded: AI from the start; a reason only for changes after the first score', () => {
    const first = read({ blinded: false, state: 'revealed', ai: { a: 2, b: 1 } });
    expect(readMode(first, true)).toMatchObject({ kind: 'single', showAi: true, submitLabel: 'Save score', needsReason: false, prefill: null });
    const again = { ...first, revised: { a: 2, b: 1 } };
    expect(readMode(again, true)).toMatchObject({ submitLabel: 'Save change', needsReason: true, prefill: { a: 2, b: 1 } });
  });
  it('needs every metric, with the reasons from the score rules', () => {
    const r = collectScores({ a: '1,5', b: '' }, schema);
    expect(r.scores).toEqual({ a: 1.5 });
    expect(r.errors.b).toMatch(/Enter a score/);
    expect(collectScores({ a: '0.7', b: '3' }, schema).errors).toEqual({
      a: 'Scores go in steps of 0.5; the nearest is 0.5.',
      b: 'The maximum for b is 2.',
    });
    expect(collectScores(scoresToTexts({ a: 2.5, b: 0 }, 0.5), schema)).toEqual({ scores: { a: 2.5, b: 0 }, errors: {} });
  });
  it('compares score sets by the schema', () => {
    expect(scoresDiffer({ a: 1, b: 1 }, { a: 1, b: 1 }, schema)).toBe(false);
    expect(scoresDiffer({ a: 1, b: 1 }, { a: 1.5, b: 1 }, schema)).toBe(true);
    expect(scoresDiffer({ a: 1 }, null, schema)).toBe(true);
  });
});

describe('the worklist', () => {
  const list = [
    img(1, 'revealed', { blind: { a: 1, b: 1 } }),
    img(2, 'not_started'),
    img(3, 'revealed', { blind: { a: 1, b: 1 } }),
    img(4, 'blind', {}),
  ];
  it('opens the first unfinished image', () => {
    expect(firstToRead(list, 'me', true)).toBe(2);
    expect(firstToRead([], 'me', true)).toBeNull();
  });
  it('"Next image" goes to the next unfinished one, wrapping round', () => {
    expect(nextInWorklist(list, 1, 'me', true)).toBe(2);
    expect(nextInWorklist(list, 2, 'me', true)).toBe(4);
    expect(nextInWorklist(list, 4, 'me', true)).toBe(2);
  });
  it('when everything is finished, simply the next one; null at the end', () => {
    const done = list.map((i) => ({ ...i, my_state: 'revealed' as const, reads: { me: { blind: { a: 0, b: 0 }, revised: null, blind_seconds: 1, revised_seconds: null } } }));
    expect(nextInWorklist(done, 2, 'me', true)).toBe(3);
    expect(nextInWorklist(done, 4, 'me', true)).toBeNull();
  });
  it('finds the metrics the readers disagree on', () => {
    const i = { reads: { r1: { blind: { a: 1, b: 1 }, revised: { a: 1.5, b: 1 }, blind_seconds: 1, revised_seconds: 2 }, r2: { blind: { a: 1, b: 1 }, revised: null, blind_seconds: 1, revised_seconds: null } } };
    expect(disagreeingMetrics(i, ['r1', 'r2'], schema)).toEqual(['a']);
    expect(disagreeingMetrics(i, ['r1'], schema)).toEqual([]);
  });
});

describe('formatDuration', () => {
  it('prints seconds, minutes and hours', () => {
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(41.6)).toBe('42 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(120)).toBe('2 min');
    expect(formatDuration(3720)).toBe('1 h 2 min');
  });
});

describe('parseIdList', () => {
  it('reads ids and ranges, keeps the order, drops duplicates', () => {
    expect(parseIdList('3, 5 7-9\n5;10')).toEqual({ ok: true, ids: [3, 5, 7, 8, 9, 10] });
    expect(parseIdList('  ')).toEqual({ ok: true, ids: [] });
  });
  it('explains what it cannot read', () => {
    expect(parseIdList('3, x')).toEqual({ ok: false, message: '“x” is not an image id: use whole numbers and ranges like 3, 5, 7-9.' });
    expect(parseIdList('9-7')).toMatchObject({ ok: false, message: expect.stringContaining('lower id first') });
    expect(parseIdList('0')).toMatchObject({ ok: false });
    expect(parseIdList('1-20000')).toMatchObject({ ok: false, message: expect.stringContaining('sample group') });
  });
});
