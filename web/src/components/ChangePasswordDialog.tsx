import { useState, type FormEvent } from 'react';
import { ApiError, changePassword } from '../api/client';
import { MIN_PASSWORD_LENGTH, passwordProblem } from '../lib/roles';
import { btnPrimary, btnSecondary, input, Spinner } from './ui';
import { useModalDialog } from '../lib/useModalDialog';

/** A modal dialog (native <dialog>: focus stays inside, Escape closes) for one's own password. */
export function ChangePasswordDialog({ onClose }: { onClose: () => void }) {
  const ref = useModalDialog();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);


  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!current) {
      setError('Enter your current password.');
      return;
    }
    const problem = passwordProblem(next, confirm);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await changePassword(current, next);
      setDone(true);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        setError(`Not changed: ${err.message}. Check your current password and try again.`);
      } else {
        setError(`Not changed: ${err instanceof Error ? err.message : String(err)}`);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={ref}
      aria-labelledby="password-title"
      onClose={onClose}
      className="m-auto w-full max-w-md rounded-xl border border-slate-200 bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
      data-testid="password-dialog"
    >
      <form className="flex flex-col gap-4 p-6" onSubmit={(e) => void submit(e)} noValidate>
        <h2 id="password-title" className="text-lg font-semibold">
          Change your password
        </h2>
        {done ? (
          <p role="status" className="text-sm text-green-700 dark:text-green-400">
            Your password was changed. Use the new one next time you log in.
          </p>
        ) : (
          <>
            <label className="flex flex-col gap-1 text-sm font-medium">
              Current password
              <input className={input} type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} autoFocus />
            </label>
            <div className="flex flex-col gap-1">
              <label className="flex flex-col gap-1 text-sm font-medium">
                New password
                <input
                  className={input}
                  type="password"
                  autoComplete="new-password"
                  value={next}
                  minLength={MIN_PASSWORD_LENGTH}
                  onChange={(e) => setNext(e.target.value)}
                  aria-describedby="password-rule"
                />
              </label>
              <span id="password-rule" className="text-xs text-slate-500 dark:text-slate-400">
                At least {MIN_PASSWORD_LENGTH} characters.
              </span>
            </div>
            <label className="flex flex-col gap-1 text-sm font-medium">
              New password again
              <input className={input} type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} />
            </label>
            {error && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-400">
                {error}
              </p>
            )}
          </>
        )}
        <div className="flex justify-end gap-2">
          <button type="button" className={btnSecondary} onClick={() => ref.current?.close()}>
            {done ? 'Close' : 'Cancel'}
          </button>
          {!done && (
            <button type="submit" className={btnPrimary} disabled={busy}>
              {busy && <Spinner />} Change password
            </button>
          )}
        </div>
      </form>
    </dialog>
  );
}
