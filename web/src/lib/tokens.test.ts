import { describe, expect, it } from 'vitest';
import { tokenWorks } from './tokens';

describe('tokenWorks', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  it('works until revoked or expired', () => {
    expect(tokenWorks({ revoked_at: null, expires_at: null }, now)).toBe(true);
    expect(tokenWorks({ revoked_at: null, expires_at: '2026-12-01T00:00:00Z' }, now)).toBe(true);
    expect(tokenWorks({ revoked_at: null, expires_at: '2026-11-30T11:59:59Z' }, now)).toBe(false);
    expect(tokenWorks({ revoked_at: '2026-11-29T10:00:00Z', expires_at: null }, now)).toBe(false);
  });
});
