// Who may do what in the UI (docs/readers.md). The server decides; these only hide controls that
// would be refused, and word the answers of the login and password forms.

import { ApiError } from '../api/client';
import type { Role, SessionInfo, SessionUser } from '../api/types';

/** Single-user mode: everything is attributed to `local`, who may do everything. */
export const LOCAL_USER: SessionUser = { name: 'local', role: 'admin' };

/** Upload, score, correct, delete/restore; read in studies one is a reader of. */
export const canScore = (role: Role): boolean => role === 'pathologist' || role === 'admin';

/** Manage users and studies, adjudicate, re-score. */
export const isAdmin = (role: Role): boolean => role === 'admin';

export const ROLE_LABELS: Record<Role, string> = {
  viewer: 'Viewer',
  pathologist: 'Pathologist',
  admin: 'Administrator',
};

export const ROLE_HELP: Record<Role, string> = {
  viewer: 'reads images, history, studies, agreement and exports',
  pathologist: 'also uploads, scores and corrects, and reads in the studies they are a reader of',
  admin: 'also manages users and studies, and adjudicates final scores',
};

/** The user the UI works as, or null when a login is needed. */
export function effectiveUser(info: SessionInfo): SessionUser | null {
  if (info.mode === 'accounts') return info.user ?? null;
  return info.user ?? LOCAL_USER;
}

export const MIN_PASSWORD_LENGTH = 10;

/** Why a new password will be refused, or null. */
export function passwordProblem(next: string, confirm?: string): string | null {
  if (next.length < MIN_PASSWORD_LENGTH) {
    return `The password needs at least ${MIN_PASSWORD_LENGTH} characters (it has ${next.length}).`;
  }
  if (confirm !== undefined && confirm !== next) return 'The two new passwords differ: type the same password twice.';
  return null;
}

/** Seconds, rounded up, as the login form says them. */
export function waitText(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 120) return `${s} s`;
  return `${Math.ceil(s / 60)} min`;
}

/** What the login form says about a refused login. */
export function loginErrorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 429) {
      const wait = e.retryAfterS != null ? ` Try again in ${waitText(e.retryAfterS)}.` : ' Wait a few minutes before trying again.';
      return `Too many failed logins.${wait}`;
    }
    if (e.status === 401) {
      const said = e.body.error !== 'http_401' && e.body.detail ? `${capitalise(e.body.detail)}. ` : '';
      return `${said || 'Wrong name or password. '}Check both (the password is case-sensitive) and try again.`;
    }
    if (e.status === 403) return `Login refused: ${e.message}`;
    if (e.status === 0) return `The server could not be reached: check that it is running, then try again.`;
    return `Login failed: ${e.message}`;
  }
  return `Login failed: ${e instanceof Error ? e.message : String(e)}`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1).replace(/\.$/, '');
}

/** What a refused user change means, and what to do about it. */
export function userErrorMessage(e: unknown, action: 'create' | 'change' = 'change'): string {
  if (e instanceof ApiError) {
    if (e.status === 409 && action === 'create') return `${e.message} (choose another name).`;
    if (e.status === 409) return `${e.message} (there must always be at least one active administrator: make someone else an administrator first).`;
    if (e.status === 403) return `${e.message} (only administrators manage users).`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

