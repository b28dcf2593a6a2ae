import { plainErrorText } from './errors';

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function shortId(id: string | null | undefined, n = 12): string {
  if (!id) return '–';
  return id.length > n ? id.slice(0, n) : id;
}

/**
 * What went wrong and what to do, in plain words, whatever was thrown (never the raw text:
 * lib/errors.ts).
 */
export function errorMessage(e: unknown): string {
  return plainErrorText(e);
}
