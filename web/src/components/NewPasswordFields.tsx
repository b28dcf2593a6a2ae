import { useId } from 'react';
import { MIN_PASSWORD_LENGTH } from '../lib/roles';
import { input } from './ui';

/** A new password, typed twice (check them with lib/roles `passwordProblem`). */
export function NewPasswordFields({
  password,
  confirm,
  onPassword,
  onConfirm,
}: {
  password: string;
  confirm: string;
  onPassword: (v: string) => void;
  onConfirm: (v: string) => void;
}) {
  const ruleId = useId();
  return (
    <>
      <div className="flex flex-col gap-1">
        <label className="flex flex-col gap-1 text-sm font-medium">
          New password
          <input
            className={input}
            type="password"
            autoComplete="new-password"
            value={password}
            minLength={MIN_PASSWORD_LENGTH}
            onChange={(e) => onPassword(e.target.value)}
            aria-describedby={ruleId}
          />
        </label>
        <span id={ruleId} className="text-xs text-slate-500 dark:text-slate-400">
          At least {MIN_PASSWORD_LENGTH} characters.
        </span>
      </div>
      <label className="flex flex-col gap-1 text-sm font-medium">
        New password again
        <input className={input} type="password" autoComplete="new-password" value={confirm} onChange={(e) => onConfirm(e.target.value)} />
      </label>
    </>
  );
}
