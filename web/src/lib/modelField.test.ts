import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { DEFAULT_FIELD_UM, FIELD_HELP, fieldInputs, fieldText, formatFieldSize, modelField, parseFieldInputs } from './modelField';
import { modelErrorMessage } from './models';

describe('a model’s field on slides as the Models page shows it', () => {
  it('shows the default when none is set', () => {
    expect(fieldText({ field_um: null })).toBe('2040 × 1388 µm (default)');
    // A server older than the setting sends no field_um at all.
    expect(fieldText({})).toBe('2040 × 1388 µm (default)');
    expect(modelField({ field_um: null })).toEqual({ width: 2040, height: 1388, isDefault: true });
    expect(DEFAULT_FIELD_UM).toEqual([2040, 1388]);
  });
  it('shows a size that was set as set, even when it equals the default', () => {
    expect(fieldText({ field_um: [1000, 800] })).toBe('1000 × 800 µm (set)');
    expect(fieldText({ field_um: [2040, 1388] })).toBe('2040 × 1388 µm (set)');
  });
  it('keeps two decimals at most and no trailing zeros', () => {
    expect(formatFieldSize(1020.5, 694)).toBe('1020.5 × 694 µm');
    expect(formatFieldSize(1000.123456, 800.1)).toBe('1000.12 × 800.1 µm');
    expect(formatFieldSize(100_000, 0.5)).toBe('100000 × 0.5 µm');
  });
  it('falls back to the default for anything but two positive numbers', () => {
    expect(fieldText({ field_um: [1000] })).toBe('2040 × 1388 µm (default)');
    expect(fieldText({ field_um: [1000, 0] })).toBe('2040 × 1388 µm (default)');
    expect(fieldText({ field_um: [1000, 800, 5] })).toBe('2040 × 1388 µm (default)');
  });
  it('explains the setting in one sentence', () => {
    expect(FIELD_HELP).toBe('The area of a slide one score covers; slides scored later use it (re-score to apply it to slides already scored).');
  });
});

describe('the field form', () => {
  it('starts with the model’s size, or the default’s figures', () => {
    expect(fieldInputs({ field_um: null })).toEqual({ width: '2040', height: '1388' });
    expect(fieldInputs({ field_um: [1000, 800.25] })).toEqual({ width: '1000', height: '800.25' });
  });
  it('reads two positive sizes in µm, a decimal comma too', () => {
    expect(parseFieldInputs({ width: '1000', height: '800' })).toEqual({ ok: true, field_um: [1000, 800] });
    expect(parseFieldInputs({ width: ' 1020,5 ', height: '694.25' })).toEqual({ ok: true, field_um: [1020.5, 694.25] });
    expect(parseFieldInputs({ width: '100000', height: '0.5' })).toEqual({ ok: true, field_um: [100_000, 0.5] });
  });
  it('says which input is wrong and what to enter', () => {
    expect(parseFieldInputs({ width: '', height: '800' })).toEqual({ ok: false, input: 'width', error: 'Enter the width of a field in µm (the default is 2040).' });
    expect(parseFieldInputs({ width: '1000', height: ' ' })).toEqual({ ok: false, input: 'height', error: 'Enter the height of a field in µm (the default is 1388).' });
    expect(parseFieldInputs({ width: 'wide', height: '800' })).toEqual({ ok: false, input: 'width', error: 'The width must be a number of µm, e.g. 2040.' });
    expect(parseFieldInputs({ width: '1000', height: '0' })).toEqual({ ok: false, input: 'height', error: 'The height must be more than 0 µm.' });
    expect(parseFieldInputs({ width: '-5', height: '800' })).toMatchObject({ ok: false, input: 'width', error: 'The width must be more than 0 µm.' });
    expect(parseFieldInputs({ width: '100001', height: '800' })).toEqual({
      ok: false,
      input: 'width',
      error: 'The width must be at most 100 000 µm (10 cm): enter it in µm (1 mm is 1000 µm).',
    });
    expect(parseFieldInputs({ width: 'Infinity', height: '800' })).toMatchObject({ ok: false, input: 'width' });
  });
  it('asks rather than guesses when a comma could be a thousands separator', () => {
    expect(parseFieldInputs({ width: '1,000', height: '800' })).toEqual({ ok: false, input: 'width', error: 'Write the width without a thousands separator, e.g. 2040.' });
    expect(parseFieldInputs({ width: '1000', height: '1 388' })).toEqual({ ok: true, field_um: [1000, 1388] });
  });
});

describe('a refused field change', () => {
  const err = (status: number, detail: string) => new ApiError(status, { error: 'x', detail });
  it('gives the server’s reason for a refused size', () => {
    expect(modelErrorMessage(err(422, 'give the field’s width and height in µm, each above 0 and at most 100 000'), 'field')).toBe(
      'The server refused this size: give the field’s width and height in µm, each above 0 and at most 100 000.',
    );
  });
  it('says who may change it, and what to do about a model that is gone', () => {
    expect(modelErrorMessage(err(403, 'administrators only'), 'field')).toBe("administrators only (only administrators change a model's field on slides: ask one).");
    expect(modelErrorMessage(err(404, 'no such model'), 'field')).toMatch(/^That model is not registered \(any more\).*reload the page/);
    expect(modelErrorMessage(new ApiError(0, { error: 'network', detail: 'x' }), 'field')).toContain('could not be reached');
  });
});
