// The records CSV download (docs/export.md): which spreadsheet format, which records, and the
// address that asks for them. Pure functions (no React); the browser's facts (locale, time zone,
// localStorage) are passed in.

import { toParams, type Filters } from './history';

/**
 * `comma`: comma-separated, decimal point (1.5); `semicolon`: semicolon-separated, decimal comma
 * (1,5) as German or French Excel expects; `raw`: comma-separated without the guard that stops a
 * cell like `=cmd|…` from running as a formula (for R or Python).
 */
export type ExportStyle = 'comma' | 'semicolon' | 'raw';
export const EXPORT_STYLES: readonly ExportStyle[] = ['comma', 'semicolon', 'raw'];

/** `filtered`: what the History shows now (its filters, every page); `all`: every record. */
export type ExportScope = 'filtered' | 'all';

/** Where the person's last choice of format is kept. */
export const EXPORT_STYLE_KEY = 'histoscore.exportStyle';

export function isExportStyle(v: unknown): v is ExportStyle {
  return typeof v === 'string' && (EXPORT_STYLES as readonly string[]).includes(v);
}

/** The locale's decimal separator ("." for en-US, "," for de-DE); "." when the locale is unknown. */
export function decimalSeparator(locale: string | undefined): string {
  try {
    return new Intl.NumberFormat(locale || undefined).formatToParts(1.5).find((p) => p.type === 'decimal')?.value ?? '.';
  } catch {
    return '.'; // not a valid language tag
  }
}

/** The format a spreadsheet in this locale opens as it should: semicolons where 1.5 is written 1,5. */
export function styleForLocale(locale: string | undefined): ExportStyle {
  return decimalSeparator(locale) === ',' ? 'semicolon' : 'comma';
}

/** The format to offer first: the one chosen last time (if any), else the locale's. */
export function defaultExportStyle(remembered: string | null | undefined, locale: string | undefined): ExportStyle {
  return isExportStyle(remembered) ? remembered : styleForLocale(locale);
}

/** The History's filters as the export takes them: what `GET /api/images` gets, without order, page or the Deleted view. */
export function exportFilterParams(f: Filters): Record<string, string> {
  const p = toParams(f);
  const chosen = {
    search: p.search,
    group: p.group,
    status: p.status,
    review_status: p.review_status,
    created_from: p.created_from,
    created_to: p.created_to,
    model_id: p.model_id,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(chosen)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

export interface ExportRequest {
  style: ExportStyle;
  /** The browser's IANA time zone (adds the `created_at_local` column); left out when unknown. */
  timeZone?: string | null;
  /** The History's filters, for "what the History shows now"; none: every record. */
  filters?: Filters | null;
}

/** `GET /api/export.csv?style=…&tz=…` plus, for the History's view, its filters. */
export function exportCsvUrl({ style, timeZone, filters }: ExportRequest): string {
  const q = new URLSearchParams({ style });
  if (timeZone) q.set('tz', timeZone);
  if (filters) for (const [k, v] of Object.entries(exportFilterParams(filters))) q.set(k, v);
  return `/api/export.csv?${q.toString()}`;
}

/** The filters in force, in words ("group S-0001 · reviewed"); empty when there are none. */
export function describeFilters(f: Filters): string {
  const parts: string[] = [];
  if (f.search) parts.push(`search “${f.search}”`);
  if (f.group) parts.push(`group ${f.group}`);
  if (f.review_status) parts.push(f.review_status === 'reviewed' ? 'reviewed' : 'not reviewed');
  if (f.status) parts.push(`status ${f.status}`);
  if (f.from && f.to) parts.push(`uploaded ${f.from} to ${f.to}`);
  else if (f.from) parts.push(`uploaded from ${f.from}`);
  else if (f.to) parts.push(`uploaded until ${f.to}`);
  if (f.model_id) parts.push(`model ${f.model_id}`);
  return parts.join(' · ');
}

/** The remembered format, when the browser keeps one. */
export function readRememberedStyle(storage: Pick<Storage, 'getItem'> | null): string | null {
  try {
    return storage?.getItem(EXPORT_STYLE_KEY) ?? null;
  } catch {
    return null; // storage refused (private mode)
  }
}

export function rememberStyle(storage: Pick<Storage, 'setItem'> | null, style: ExportStyle): void {
  try {
    storage?.setItem(EXPORT_STYLE_KEY, style);
  } catch {
    // private mode or full: the choice lasts for this dialog only
  }
}
