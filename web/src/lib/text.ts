// Words and numbers as people read them: file names cut in the middle (the distinguishing end
// stays), sizes in decimal units, short dates. Pure functions.

const SEPARATORS = new Set(['_', '-', ' ', '.']);

/**
 * `name` in at most `max` characters, cut in the middle with “…”: the start and the end (where
 * names of one series differ, e.g. “Image004.tif”) stay. The end part starts after a separator
 * (_ - . space) when one gives it a fitting length, so that it begins with a whole word. Names
 * that fit are returned unchanged.
 */
export function middleTruncate(name: string, max: number): string {
  const chars = Array.from(name);
  if (chars.length <= max) return name;
  if (max < 5) return chars.slice(0, Math.max(1, max - 1)).join('') + '…';
  const budget = max - 1;
  // The end carries the distinguishing part: a bit more than half, or up to 80 % of the budget
  // when that lets it start with a whole word.
  const target = budget * 0.55;
  let tailLen = Math.round(target);
  let best = Infinity;
  for (let i = 1; i < chars.length; i++) {
    if (!SEPARATORS.has(chars[i - 1] ?? '') || SEPARATORS.has(chars[i] ?? '')) continue;
    const len = chars.length - i;
    if (len < target || len > budget * 0.8) continue;
    if (Math.abs(len - target) < best) {
      best = Math.abs(len - target);
      tailLen = len;
    }
  }
  let headLen = budget - tailLen;
  // End the first part just before a separator when one is close.
  for (let k = 0; k < 3 && headLen - k > 3; k++) {
    if (SEPARATORS.has(chars[headLen - k] ?? '')) {
      headLen -= k;
      break;
    }
  }
  const head = chars.slice(0, headLen).join('').replace(/[_\-. ]+$/, '');
  const tail = chars.slice(chars.length - tailLen).join('');
  return `${head}…${tail}`;
}

/** A size in the decimal units people expect: 34 360 000 bytes → “34.4 MB”, 480 208 → “480 kB”. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 999.95 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const text = v >= 100 ? String(Math.round(v)) : String(Number(v.toFixed(1)));
  return `${text} ${units[i]}`;
}

/** “29 Nov” (this year) or “29 Nov 2024”; the raw text when it is not a date. */
export function formatShortDate(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString('en-GB', sameYear ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: 'numeric' });
}
