// Reading in a study: pure functions (no React) for the worklist, what the reading form shows
// and which button it offers, and the image-id field of the new-study form.

import type { Read, ReaderScores, Schema, Scores, StudyImage } from '../api/types';
import { formatScore, parseScoreInput } from './scores';

/** Where the reader is with one image. */
export type WorkState = 'todo' | 'opened' | 'blind_done' | 'revised' | 'done';

export const WORK_LABELS: Record<WorkState, string> = {
  todo: 'Not started',
  opened: 'Opened',
  blind_done: 'Blind score in',
  revised: 'Revised',
  done: 'Scored',
};

/** Same values for the same metrics. */
export function sameScores(a: Scores | null | undefined, b: Scores | null | undefined): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  if (ka.length !== kb.length) return false;
  return ka.every((k) => typeof b?.[k] === 'number' && Math.abs((a?.[k] as number) - (b[k] as number)) <= 1e-9);
}

/**
 * The reader revised after the reveal. The server fills `revised` with the blind score at the
 * blind submit, so a revision is a revised score that differs. (`revised_seconds` says nothing:
 * it is the active viewing after the reveal, revised or not. A revision back to the blind values
 * reads as none.)
 */
export function hasRevision(r: ReaderScores | null | undefined): boolean {
  if (!r?.blind || !r.revised) return false;
  return !sameScores(r.revised, r.blind);
}

export function workState(img: StudyImage, me: string, blinded: boolean): WorkState {
  const r = img.reads?.[me];
  if (blinded) {
    if (hasRevision(r)) return 'revised';
    if (r?.blind || img.my_state === 'revealed') return 'blind_done';
    return img.my_state === 'blind' ? 'opened' : 'todo';
  }
  if (r?.revised || r?.blind) return 'done';
  return img.my_state == null || img.my_state === 'not_started' ? 'todo' : 'opened';
}

/** The reader has given this image the score the study asks for (a revision is optional). */
export const isFinished = (s: WorkState): boolean => s === 'blind_done' || s === 'revised' || s === 'done';

/**
 * The image after `currentId` for "Next image": the next one not yet finished (wrapping round),
 * or, when every image is finished, simply the next in order; null at the end.
 */
export function nextInWorklist(images: StudyImage[], currentId: number | null, me: string, blinded: boolean): number | null {
  if (images.length === 0) return null;
  const start = currentId == null ? -1 : images.findIndex((i) => i.image_id === currentId);
  for (let k = 1; k <= images.length; k++) {
    const img = images[(start + k + images.length) % images.length];
    if (!img || img.image_id === currentId) continue;
    if (!isFinished(workState(img, me, blinded))) return img.image_id;
  }
  return images[start + 1]?.image_id ?? null;
}

/** The first image to open: the first unfinished one, else the first. */
export function firstToRead(images: StudyImage[], me: string, blinded: boolean): number | null {
  const open = images.find((i) => !isFinished(workState(i, me, blinded)));
  return (open ?? images[0])?.image_id ?? null;
}

export interface ReadMode {
  /** blind: first score in a blinded study; revise: after the reveal; single: unblinded study. */
  kind: 'blind' | 'revise' | 'single';
  /** Whether the AI draft may be on screen. Never in the blind phase, whatever the server sent. */
  showAi: boolean;
  submitLabel: string;
  /** A reason field is shown and must be filled. */
  needsReason: boolean;
  /** What the inputs start with. */
  prefill: Scores | null;
}

export function readMode(read: Pick<Read, 'blinded' | 'state' | 'blind' | 'revised' | 'ai'>, requireReason: boolean): ReadMode {
  if (read.blinded && read.state !== 'revealed') {
    return { kind: 'blind', showAi: false, submitLabel: 'Submit blind score', needsReason: false, prefill: null };
  }
  if (read.blinded) {
    return { kind: 'revise', showAi: read.ai != null, submitLabel: 'Save revision', needsReason: requireReason, prefill: read.revised ?? read.blind ?? null };
  }
  const saved = read.revised ?? read.blind ?? null;
  return {
    kind: 'single',
    showAi: read.ai != null,
    submitLabel: saved ? 'Save change' : 'Save score',
    needsReason: requireReason && saved != null,
    prefill: saved,
  };
}

/** Parses every metric's field; a score is complete only with every metric valid. */
export function collectScores(texts: Record<string, string>, schema: Schema): { scores: Scores; errors: Record<string, string> } {
  const scores: Scores = {};
  const errors: Record<string, string> = {};
  for (const m of schema.metrics) {
    const r = parseScoreInput(texts[m.name] ?? '', m, schema.step);
    if (r.ok) scores[m.name] = r.value;
    else errors[m.name] = r.message;
  }
  return { scores, errors };
}

/** Score values as the fields show them. */
export function scoresToTexts(s: Scores | null | undefined, step: number): Record<string, string> {
  const t: Record<string, string> = {};
  for (const [k, v] of Object.entries(s ?? {})) if (typeof v === 'number') t[k] = formatScore(v, step);
  return t;
}

/** Whether two score sets differ in any metric of the schema. */
export function scoresDiffer(a: Scores | null | undefined, b: Scores | null | undefined, schema: Schema): boolean {
  return schema.metrics.some((m) => {
    const x = a?.[m.name];
    const y = b?.[m.name];
    if (x == null || y == null) return x != y;
    return Math.abs(x - y) > 1e-9;
  });
}

/** "ai" is the model; everyone else is a reader. */
export const raterLabel = (r: string): string => (r === 'ai' ? 'AI' : r);

/** Seconds as "42 s", "3 min 5 s", "1 h 2 min"; "–" when unknown. */
export function formatDuration(s: number | null | undefined): string {
  if (s == null || !Number.isFinite(s) || s < 0) return '–';
  const t = Math.round(s);
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min${t % 60 ? ` ${t % 60} s` : ''}`;
  return `${Math.floor(t / 3600)} h${Math.floor((t % 3600) / 60) ? ` ${Math.floor((t % 3600) / 60)} min` : ''}`;
}

/**
 * The image-id field of the new-study form: numbers and ranges separated by commas, spaces or
 * new lines ("3, 5 7-9"). Duplicates are dropped; the order is kept.
 */
export function parseIdList(text: string): { ok: true; ids: number[] } | { ok: false; message: string } {
  const ids: number[] = [];
  const seen = new Set<number>();
  const add = (n: number) => {
    if (!seen.has(n)) {
      seen.add(n);
      ids.push(n);
    }
  };
  for (const token of text.split(/[\s,;]+/).filter(Boolean)) {
    const range = /^(\d+)\s*[-–]\s*(\d+)$/.exec(token);
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      if (a < 1 || b < a) return { ok: false, message: `“${token}” is not a range: write the lower id first (e.g. 7-9).` };
      if (b - a > 10_000) return { ok: false, message: `“${token}” is a range of more than 10 000 ids; choose the images by sample group instead.` };
      for (let n = a; n <= b; n++) add(n);
    } else if (/^\d+$/.test(token) && Number(token) >= 1) {
      add(Number(token));
    } else {
      return { ok: false, message: `“${token}” is not an image id: use whole numbers and ranges like 3, 5, 7-9.` };
    }
  }
  return { ok: true, ids };
}

/** A reader's latest score for an image: the revision, else the blind score. */
export function latestScores(img: Pick<StudyImage, 'reads'>, reader: string): Scores | null {
  const r = img.reads?.[reader];
  return r?.revised ?? r?.blind ?? null;
}

/** The metrics on which the readers' latest scores of an image are not all the same. */
export function disagreeingMetrics(img: Pick<StudyImage, 'reads'>, readers: string[], schema: Schema): string[] {
  return schema.metrics
    .map((m) => m.name)
    .filter((name) => {
      const vals = readers.map((r) => latestScores(img, r)?.[name]).filter((v): v is number => typeof v === 'number');
      return vals.length >= 2 && Math.max(...vals) - Math.min(...vals) > 1e-9;
    });
}
