import { describe, expect, it } from 'vitest';
import {
  decimalSeparator,
  defaultExportStyle,
  describeFilters,
  EXPORT_STYLE_KEY,
  exportCsvUrl,
  exportFilterParams,
  readRememberedStyle,
  rememberStyle,
  styleForLocale,
} from './exportCsv';
import { readFilters } from './history';

/** A localStorage stand-in. */
function memoryStorage(init: Record<string, string> = {}) {
  const m = new Map(Object.entries(init));
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
  };
}

const query = (url: string) => new URLSearchParams(url.slice(url.indexOf('?') + 1));

describe('the format a locale gets by default', () => {
  it('finds the decimal separator', () => {
    expect(decimalSeparator('en-US')).toBe('.');
    expect(decimalSeparator('de-DE')).toBe(',');
    expect(decimalSeparator('not a locale!')).toBe('.');
  });
  it('semicolons where the decimal separator is a comma, commas elsewhere', () => {
    for (const l of ['de-DE', 'de', 'fr-FR', 'es-ES', 'it-IT', 'nl-NL', 'pt-BR', 'ru-RU']) expect(styleForLocale(l), l).toBe('semicolon');
    for (const l of ['en-US', 'en-GB', 'ja-JP', 'zh-CN', 'de-CH']) expect(styleForLocale(l), l).toBe('comma');
    expect(styleForLocale(undefined)).toMatch(/^(comma|semicolon)$/);
    expect(styleForLocale('')).toMatch(/^(comma|semicolon)$/);
  });
});

describe('the remembered choice', () => {
  it('wins over the locale', () => {
    expect(defaultExportStyle('comma', 'de-DE')).toBe('comma');
    expect(defaultExportStyle('raw', 'de-DE')).toBe('raw');
    expect(defaultExportStyle('semicolon', 'en-US')).toBe('semicolon');
  });
  it('is ignored when there is none or it is not a format', () => {
    expect(defaultExportStyle(null, 'de-DE')).toBe('semicolon');
    expect(defaultExportStyle(undefined, 'en-US')).toBe('comma');
    expect(defaultExportStyle('tab', 'en-US')).toBe('comma');
  });
  it('is kept in storage and read back', () => {
    const s = memoryStorage();
    expect(readRememberedStyle(s)).toBeNull();
    rememberStyle(s, 'raw');
    expect(s.getItem(EXPORT_STYLE_KEY)).toBe('raw');
    expect(defaultExportStyle(readRememberedStyle(s), 'de-DE')).toBe('raw');
  });
  it('survives a storage that refuses', () => {
    const refusing = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('full');
      },
    };
    expect(readRememberedStyle(refusing)).toBeNull();
    expect(() => rememberStyle(refusing, 'comma')).not.toThrow();
    expect(readRememberedStyle(null)).toBeNull();
  });
});

describe('the download address', () => {
  it('all records: the style and the time zone only', () => {
    expect(exportCsvUrl({ style: 'comma', timeZone: 'Europe/Berlin' })).toBe('/api/export.csv?style=comma&tz=Europe%2FBerlin');
    expect(exportCsvUrl({ style: 'raw', timeZone: null })).toBe('/api/export.csv?style=raw');
    expect(exportCsvUrl({ style: 'semicolon', timeZone: '', filters: null })).toBe('/api/export.csv?style=semicolon');
  });

  it("the History's view: its filters as GET /api/images gets them, never order, page or open record", () => {
    const f = readFilters('?search=S-00&group=S-0001&review_status=reviewed&status=scored&model_id=abc&sort=filename&dir=asc&limit=100&offset=200&open=7');
    const url = exportCsvUrl({ style: 'semicolon', timeZone: 'America/New_York', filters: f });
    expect(url.startsWith('/api/export.csv?')).toBe(true);
    const q = query(url);
    expect(Object.fromEntries(q)).toEqual({
      style: 'semicolon',
      tz: 'America/New_York',
      search: 'S-00',
      group: 'S-0001',
      review_status: 'reviewed',
      status: 'scored',
      model_id: 'abc',
    });
  });

  it('sends the upload days as the instants the History asks for', () => {
    const f = readFilters('?from=2026-01-31&to=2026-02-01');
    const q = query(exportCsvUrl({ style: 'comma', filters: f }));
    expect(q.get('created_from')).toBe(new Date('2026-01-31T00:00:00').toISOString());
    expect(q.get('created_to')).toBe(new Date('2026-02-01T23:59:59.999').toISOString());
    expect(q.has('from')).toBe(false);
    expect(q.has('to')).toBe(false);
  });

  it('no filters: the same as all records', () => {
    expect(exportFilterParams(readFilters(''))).toEqual({});
    expect(exportCsvUrl({ style: 'comma', timeZone: 'UTC', filters: readFilters('?sort=group&limit=25') })).toBe('/api/export.csv?style=comma&tz=UTC');
  });

  it('leaves the Deleted view out (the export never holds deleted records)', () => {
    const q = query(exportCsvUrl({ style: 'comma', filters: readFilters('?deleted=1&group=S-1') }));
    expect(q.has('deleted')).toBe(false);
    expect(q.get('group')).toBe('S-1');
  });

  it('escapes what it sends', () => {
    const q = query(exportCsvUrl({ style: 'comma', filters: readFilters(`?search=${encodeURIComponent('a&b=c #1')}`) }));
    expect(q.get('search')).toBe('a&b=c #1');
  });
});

describe('the filters in words', () => {
  it('names each filter in force', () => {
    expect(describeFilters(readFilters(''))).toBe('');
    expect(describeFilters(readFilters('?group=S-0001&review_status=unreviewed&search=x'))).toBe('search “x” · group S-0001 · not reviewed');
    expect(describeFilters(readFilters('?from=2026-01-01'))).toBe('uploaded from 2026-01-01');
    expect(describeFilters(readFilters('?from=2026-01-01&to=2026-01-31'))).toBe('uploaded 2026-01-01 to 2026-01-31');
  });
});
