// What went wrong, in words a person can act on: what happened, what to do, and which button
// does it. Raw error text (“TypeError: Failed to fetch”, “(HTTP 422)”, query strings, stack
// traces) never reaches the page. Pure functions.

import { ApiError } from '../api/client';

/** The button that offers the way out. */
export type ErrorAction = 'retry' | 'reload' | 'keep_both' | 'restore' | 'login' | 'wait' | 'none';

export interface PlainError {
  /** What happened, one sentence. */
  what: string;
  /** What to do about it, one sentence. */
  todo: string;
  action: ErrorAction;
}

/** The error's parts, whatever was thrown. */
export interface ErrorFacts {
  status: number;
  code: string;
  detail: string;
}

export function factsOf(e: unknown): ErrorFacts {
  if (e instanceof ApiError) return { status: e.status, code: e.body.error, detail: e.body.detail ?? '' };
  // fetch() rejects with a TypeError when the network fails.
  if (e instanceof TypeError) return { status: 0, code: 'network', detail: '' };
  if (e instanceof DOMException && e.name === 'AbortError') return { status: 0, code: 'aborted', detail: '' };
  return { status: -1, code: 'unknown', detail: e instanceof Error ? e.message : String(e) };
}

const TECHNICAL = [/\bHTTP\s*\d{3}\b/i, /[A-Za-z]+Error\b/, /\?[a-z_]+=/, /::/, /[{}[\]<>]/, /\bat\s+\S+\s*\(/, /\bhttp_\d+\b/, /--[a-z]/, /\bstack\b/i, /\bpanicked\b/];

/**
 * The server's `detail` when it reads as a sentence for people, as a clause (no capital, no
 * final full stop); null when it is technical or empty.
 */
export function plainDetail(detail: string | null | undefined): string | null {
  const d = (detail ?? '').trim().replace(/\s+/g, ' ');
  if (!d || d.length > 240) return null;
  if (TECHNICAL.some((re) => re.test(d))) return null;
  return d.replace(/[.;:,]+$/, '');
}

const sentence = (clause: string) => {
  const c = clause.trim().replace(/[.;:,]+$/, '');
  return c ? `${c[0]?.toUpperCase() ?? ''}${c.slice(1)}.` : '';
};

/** The thing the person was doing, for the messages that name it. */
export type ErrorContext = 'upload' | 'load' | 'save' | 'delete' | 'restore' | 'logout';

/** What happened and what to do, for any error. */
export function plainError(e: unknown, context: ErrorContext = 'load'): PlainError {
  return plainErrorFrom(factsOf(e), context);
}

export function plainErrorFrom(f: ErrorFacts, context: ErrorContext = 'load'): PlainError {
  const detail = plainDetail(f.detail);
  switch (f.code) {
    case 'network':
      return {
        what: context === 'upload' ? 'The upload did not reach the server.' : 'The server could not be reached.',
        todo: 'Check the network connection and that Histoscore is running, then try again.',
        action: 'retry',
      };
    case 'aborted':
      return { what: 'Stopped.', todo: 'Try again when you are ready.', action: 'retry' };
    case 'filename_conflict':
      return {
        what: 'A different image is already stored under this file name.',
        todo: 'Keep both (this one is stored beside it), or rename the file and upload it again.',
        action: 'keep_both',
      };
    case 'deleted_duplicate':
      return {
        what: 'This image was deleted earlier.',
        todo: 'Restore it to get its scores and corrections back, or upload it as a new record with a fresh AI draft.',
        action: 'restore',
      };
    case 'unsupported_image':
      if (/\bopenslide\b[^.]*\bnot (available|installed)\b/i.test(f.detail)) {
        return {
          what: 'This is a whole slide, and this server cannot read slides (OpenSlide is missing).',
          todo: 'Ask the administrator of the server to install OpenSlide, then upload it again.',
          action: 'none',
        };
      }
      if (detail && /\bslide\b/i.test(detail)) {
        return {
          what: sentence(detail),
          todo: 'Check that the slide opens in the scanner’s viewer or in QuPath, then upload it again.',
          action: 'none',
        };
      }
      return {
        what: detail === 'the file is empty' ? 'The file is empty.' : 'The server could not read this file as an image.',
        todo: 'Check that it is a TIFF, PNG or JPEG microscope image, or a whole slide (such as .svs or .ndpi), that opens on this computer, then upload it again.',
        action: 'none',
      };
    case 'too_large':
      return {
        what: 'The file is larger than the server accepts.',
        todo: 'Ask the administrator of the server to raise its upload limit.',
        action: 'none',
      };
    case 'upload_interrupted':
      return { what: 'The upload was interrupted.', todo: 'Try again.', action: 'retry' };
    case 'upload_expired':
      return { what: 'The upload was stopped too long: the server removed the part it had.', todo: 'Try again: it starts from the beginning.', action: 'retry' };
    case 'checksum_mismatch':
      return { what: 'The file changed on the way to the server, so nothing was stored.', todo: 'Try again.', action: 'retry' };
    case 'file_unreadable':
      return {
        what: 'The file could not be read on this computer.',
        todo: 'Check that it is still there and not being changed (still copying?), then try again.',
        action: 'retry',
      };
    case 'disk_full':
      return {
        what: 'The server’s disk is full.',
        todo: 'Ask the administrator of the server to make room; the part sent so far is kept, and Retry goes on from there.',
        action: 'retry',
      };
    case 'scoring_failed':
      return {
        what: 'The AI could not score this image.',
        todo: 'You can still enter the scores by hand; re-scoring can be tried from the History page.',
        action: 'none',
      };
    case 'busy':
      return {
        what: detail ? `The server is busy (${detail}).` : 'The server is busy.',
        todo: 'It goes on by itself in a moment.',
        action: 'wait',
      };
    case 'bad_response':
      return { what: 'The server sent an answer this page cannot read.', todo: 'Reload the page; if it happens again, tell the server’s administrator.', action: 'reload' };
  }
  switch (f.status) {
    case 401:
      return { what: 'Your session has ended.', todo: 'Log in again.', action: 'login' };
    case 403:
      return {
        what: detail ? sentence(detail) : 'Your account may not do this.',
        todo: 'Ask an administrator if you need it.',
        action: 'none',
      };
    case 404:
      return { what: 'It is not there any more (it may have been deleted).', todo: 'Reload the page to see what there is now.', action: 'reload' };
    case 409:
      return {
        what: detail ? sentence(detail) : 'Someone changed this at the same time.',
        todo: 'Reload to see the current state, then try again.',
        action: 'reload',
      };
    case 413:
      return { what: 'The file is larger than the server accepts.', todo: 'Ask the administrator of the server to raise its upload limit.', action: 'none' };
    case 400:
    case 422:
      return {
        what: detail ? `The server did not accept this: ${detail}.` : 'The server did not accept this.',
        todo: 'Change what it names and try again.',
        action: 'none',
      };
    case 429:
    case 503:
      return { what: detail ? `The server is busy (${detail}).` : 'The server is busy.', todo: 'Wait a moment, then try again.', action: 'retry' };
  }
  if (f.status >= 500) {
    return {
      what: 'Something went wrong on the server.',
      todo: 'Try again; if it keeps happening, tell the server’s administrator.',
      action: 'retry',
    };
  }
  return {
    what: detail ? sentence(detail) : 'Something went wrong.',
    todo: 'Try again; if it keeps happening, reload the page.',
    action: 'retry',
  };
}

/** The whole message as one text: “What happened. What to do.” */
export function plainErrorText(e: unknown, context?: ErrorContext): string {
  const p = plainError(e, context);
  return `${p.what} ${p.todo}`;
}
