import type { ApiToken } from '../api/types';

/** Whether a token still works: not revoked, not expired. */
export function tokenWorks(t: Pick<ApiToken, 'revoked_at' | 'expires_at'>, now = Date.now()): boolean {
  return !t.revoked_at && (!t.expires_at || new Date(t.expires_at).getTime() > now);
}
