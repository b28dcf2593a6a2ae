import { useState } from 'react';
import { createToken, listTokens, revokeToken } from '../api/client';
import type { ApiToken, NewToken } from '../api/types';
import { errorMessage } from '../lib/format';
import { tokenWorks } from '../lib/tokens';
import { useQuery } from '../lib/useQuery';
import { Badge, btnPrimary, btnSecondary, btnSmall, input } from './ui';

const day = (t: string | null | undefined) => (t ? new Date(t).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' }) : '—');

/**
 * Your API tokens, for scripts that call Histoscore while accounts are on: make one (shown
 * once), see when each was last used, revoke one.
 */
export function TokensDialog({ onClose }: { onClose: () => void }) {
  const tokens = useQuery('tokens', (signal) => listTokens(signal));
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const [made, setMade] = useState<NewToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const make = async () => {
    if (!name.trim()) {
      setError('Give the token a name that says what it is for, e.g. "nightly export".');
      return;
    }
    const n = days === 'never' ? null : Number(days);
    setBusy(true);
    setError(null);
    try {
      setMade(await createToken(name.trim(), n));
      setName('');
      tokens.refetch();
    } catch (e) {
      setError(`No token was made: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: ApiToken) => {
    setError(null);
    try {
      await revokeToken(t.id);
      tokens.refetch();
    } catch (e) {
      setError(`"${t.name}" was not revoked: ${errorMessage(e)}`);
    }
  };

  return (
    <dialog
      open
      aria-labelledby="tokens-title"
      data-testid="tokens-dialog"
      className="fixed inset-0 z-50 m-auto w-[min(44rem,95vw)] rounded-xl border border-slate-200 bg-white p-5 text-slate-900 shadow-xl dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
    >
      <h2 id="tokens-title" className="text-lg font-semibold">
        API tokens
      </h2>
      <p className="mt-1 text-sm text-slate-600 dark:text-slate-300">
        A token lets a script act as you (with your role) without logging in: send it as <code>Authorization: Bearer …</code>. It is shown once; keep it
        in the script's secret store and revoke it when the script is retired.
      </p>

      {made && (
        <div className="mt-4 rounded-md border border-green-300 bg-green-50 p-3 text-sm dark:border-green-700 dark:bg-green-950/50" role="status">
          <p className="font-medium">Token “{made.name}” made. Copy it now: it will not be shown again.</p>
          <div className="mt-2 flex items-center gap-2">
            <input className={`${input} w-full font-mono`} readOnly value={made.token} aria-label="New token" onFocus={(e) => e.currentTarget.select()} />
            <button type="button" className={btnSecondary} onClick={() => void navigator.clipboard?.writeText(made.token)}>
              Copy
            </button>
          </div>
        </div>
      )}

      <form
        className="mt-4 flex flex-wrap items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          void make();
        }}
      >
        <label className="flex min-w-48 flex-1 flex-col gap-1 text-sm font-medium">
          What it is for
          <input className={input} value={name} maxLength={100} onChange={(e) => setName(e.target.value)} placeholder="nightly export" />
        </label>
        <label className="flex flex-col gap-1 text-sm font-medium">
          Stops working after
          <select className={input} value={days} onChange={(e) => setDays(e.target.value)}>
            <option value="30">30 days</option>
            <option value="90">90 days</option>
            <option value="365">1 year</option>
            <option value="never">never (until revoked)</option>
          </select>
        </label>
        <button type="submit" className={btnPrimary} disabled={busy}>
          Make a token
        </button>
      </form>
      {error && (
        <p className="mt-2 text-sm text-red-700 dark:text-red-400" role="alert">
          {error}
        </p>
      )}

      <table className="mt-4 w-full text-left text-sm" aria-label="Your tokens">
        <thead className="text-xs uppercase text-slate-500">
          <tr>
            <th className="py-1">Name</th>
            <th>Made</th>
            <th>Expires</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(tokens.data ?? []).map((t) => (
            <tr key={t.id} className="border-t border-slate-200 dark:border-slate-700" data-testid="token-row">
              <td className="py-1.5">{t.name}</td>
              <td>{day(t.created_at)}</td>
              <td>{t.expires_at ? day(t.expires_at) : 'never'}</td>
              <td>{t.last_used_at ? day(t.last_used_at) : 'not yet'}</td>
              <td className="text-right">
                {tokenWorks(t) ? (
                  <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={() => void revoke(t)}>
                    Revoke
                  </button>
                ) : (
                  <Badge tone="slate">{t.revoked_at ? 'revoked' : 'expired'}</Badge>
                )}
              </td>
            </tr>
          ))}
          {tokens.data?.length === 0 && (
            <tr>
              <td colSpan={5} className="py-2 text-slate-500">
                No tokens yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {tokens.error != null && <p className="mt-2 text-sm text-red-700 dark:text-red-400">Your tokens could not be loaded: {errorMessage(tokens.error)}</p>}

      <div className="mt-5 flex justify-end">
        <button type="button" className={btnSecondary} onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}
