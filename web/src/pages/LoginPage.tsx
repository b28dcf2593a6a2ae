import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, login } from '../api/client';
import type { LoginAnswer } from '../api/types';
import { card, btnPrimary, input, Spinner } from '../components/ui';
import { loginErrorMessage, waitText } from '../lib/roles';

export function LoginPage({ notice, onLoggedIn }: { notice: string | null; onLoggedIn: (a: LoginAnswer) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  /** Too many attempts: the form waits until then (ms since epoch). */
  const [lockedUntil, setLockedUntil] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const nameInput = useRef<HTMLInputElement>(null);
  const passwordInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Log in — Histoscore';
    nameInput.current?.focus();
  }, []);

  useEffect(() => {
    if (lockedUntil == null) return;
    const t = setInterval(() => {
      const n = Date.now();
      setNow(n);
      if (n >= lockedUntil) {
        setLockedUntil(null);
        setError(null);
      }
    }, 500);
    return () => clearInterval(t);
  }, [lockedUntil]);

  const locked = lockedUntil != null && lockedUntil > now;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy || locked) return;
    if (!name.trim() || !password) {
      setError(!name.trim() ? 'Enter your user name.' : 'Enter your password.');
      (!name.trim() ? nameInput : passwordInput).current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const answer = await login(name.trim(), password);
      onLoggedIn(answer);
    } catch (err) {
      setBusy(false);
      setPassword('');
      setError(loginErrorMessage(err));
      if (err instanceof ApiError && err.status === 429) {
        const until = Date.now() + (err.retryAfterS ?? 60) * 1000;
        setNow(Date.now());
        setLockedUntil(until);
      }
      passwordInput.current?.focus();
    }
  };

  return (
    <div className="flex h-full items-center justify-center p-6">
      <main className={`${card} w-full max-w-sm p-6`} aria-labelledby="login-title">
        <div className="mb-5 flex items-center gap-3">
          <img src="/favicon.svg" alt="" className="size-10" />
          <div>
            <h1 id="login-title" className="text-lg font-semibold leading-tight">
              Log in to Histoscore
            </h1>
            <p className="text-xs text-slate-500 dark:text-slate-400">Histopathology scoring</p>
          </div>
        </div>
        {notice && (
          <p role="status" className="mb-4 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950/60 dark:text-amber-200" data-testid="login-notice">
            {notice}
          </p>
        )}
        <form className="flex flex-col gap-4" onSubmit={(e) => void submit(e)} noValidate aria-describedby={error ? 'login-error' : undefined}>
          <label className="flex flex-col gap-1 text-sm font-medium">
            User name
            <input
              ref={nameInput}
              className={input}
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
            />
          </label>
          <label className="flex flex-col gap-1 text-sm font-medium">
            Password
            <input
              ref={passwordInput}
              className={input}
              type="password"
              name="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
            />
          </label>
          {error && (
            <p id="login-error" role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid="login-error">
              {locked && lockedUntil != null ? error.replace(/Try again in .*$/, `Try again in ${waitText((lockedUntil - now) / 1000)}.`) : error}
            </p>
          )}
          <button type="submit" className={btnPrimary} disabled={busy || locked}>
            {busy && <Spinner />} {locked ? 'Please wait…' : 'Log in'}
          </button>
        </form>
        <p className="mt-5 text-xs text-slate-500 dark:text-slate-400">
          No account? An administrator creates accounts on the Users page, or with <code>histoscore user add NAME --role ROLE</code>.
        </p>
      </main>
    </div>
  );
}
