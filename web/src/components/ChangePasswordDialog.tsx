import { useState } from 'react';
import { ApiError, changePassword } from '../api/client';
import { errorMessage } from '../lib/format';
import { passwordProblem } from '../lib/roles';
import { DialogForm } from './DialogForm';
import { NewPasswordFields } from './NewPasswordFields';
import { input } from './ui';

/** One's own password. */
export function ChangePasswordDialog({ onClose }: { onClose: () => void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');

  const send = async () => {
    try {
      await changePassword(current, next);
      return null;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        return `Not changed: ${err.message}. Check your current password and try again.`;
      }
      return `Not changed. ${errorMessage(err)}`;
    }
  };

  return (
    <DialogForm
      title="Change your password"
      submitLabel="Change password"
      check={() => (current ? passwordProblem(next, confirm) : 'Enter your current password.')}
      onSubmit={send}
      done="Your password was changed. Use the new one next time you log in."
      onClose={onClose}
      testId="password-dialog"
    >
      <label className="flex flex-col gap-1 text-sm font-medium">
        Current password
        <input className={input} type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
      </label>
      <NewPasswordFields password={next} confirm={confirm} onPassword={setNext} onConfirm={setConfirm} />
    </DialogForm>
  );
}
