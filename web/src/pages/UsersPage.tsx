import { useCallback, useState, type FormEvent } from 'react';
import { createUser, listUsers, patchUser, unlockUser } from '../api/client';
import { ROLES, type Role, type UserAccount, type UserPatch } from '../api/types';
import { DialogForm } from '../components/DialogForm';
import { NewPasswordFields } from '../components/NewPasswordFields';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, input, Spinner } from '../components/ui';
import { formatDateTime } from '../lib/format';
import { isAdmin, MIN_PASSWORD_LENGTH, passwordProblem, ROLE_HELP, ROLE_LABELS, userErrorMessage } from '../lib/roles';
import { useSession } from '../lib/session';
import { useQuery } from '../lib/useQuery';

const byName = (users: UserAccount[]) => [...users].sort((a, b) => a.name.localeCompare(b.name));

const loadUsers = async (signal: AbortSignal) => byName(await listUsers(signal));

export function UsersPage() {
  const { user: me, refresh } = useSession();
  const admin = isAdmin(me.role);
  const { data: users, error: loadError, refetch, setData: setUsers } = useQuery(admin ? 'users' : null, loadUsers);
  const [message, setMessage] = useState<{ tone: 'error' | 'ok'; text: string } | null>(null);
  const [busyName, setBusyName] = useState<string | null>(null);
  const [resetFor, setResetFor] = useState<string | null>(null);

  const change = useCallback(
    async (name: string, patch: UserPatch, done: string) => {
      setBusyName(name);
      setMessage(null);
      try {
        const updated = await patchUser(name, patch);
        setUsers((list) => list?.map((u) => (u.name === name ? { ...u, ...updated } : u)));
        setMessage({ tone: 'ok', text: done });
        if (name === me.name) await refresh();
        return null;
      } catch (e) {
        const why = userErrorMessage(e);
        setMessage({ tone: 'error', text: `${name} was not changed: ${why}` });
        refetch(); // show what the server has
        return why;
      } finally {
        setBusyName(null);
      }
    },
    [me.name, refresh, refetch, setUsers],
  );

  if (!admin) {
    return (
      <div className="p-6">
        <h1 className="text-xl font-semibold">Users</h1>
        <p role="alert" className="mt-2 text-sm text-slate-600 dark:text-slate-400">
          Only administrators manage users. Ask an administrator to change your account.
        </p>
      </div>
    );
  }

  return (
    <div className="mx-auto flex h-full max-w-5xl flex-col gap-4 overflow-y-auto p-6">
      <div>
        <h1 className="text-xl font-semibold">Users</h1>
        <p className="text-sm text-slate-500 dark:text-slate-400">
          Accounts that may log in. {ROLES.map((r) => `${ROLE_LABELS[r]}: ${ROLE_HELP[r]}`).join('. ')}.
        </p>
      </div>

      <NewUserForm
        onCreated={(u) => {
          setUsers((list) => byName([...(list ?? []).filter((x) => x.name !== u.name), u]));
          setMessage({ tone: 'ok', text: `${u.name} was added as ${ROLE_LABELS[u.role].toLowerCase()}.` });
        }}
      />

      {message && (
        <p
          role={message.tone === 'error' ? 'alert' : 'status'}
          className={`rounded-md border px-3 py-2 text-sm ${
            message.tone === 'error'
              ? 'border-red-300 bg-red-50 text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200'
              : 'border-green-300 bg-green-50 text-green-800 dark:border-green-800 dark:bg-green-950/60 dark:text-green-200'
          }`}
          data-testid="users-message"
        >
          {message.text}
        </p>
      )}
      {loadError !== undefined && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          The users could not be loaded: {userErrorMessage(loadError)}{' '}
          <button className="underline" onClick={refetch}>
            Try again
          </button>
        </p>
      )}

      <section className={card} aria-labelledby="users-title">
        <h2 id="users-title" className="border-b border-slate-200 px-4 py-3 font-semibold dark:border-slate-800">
          {users ? `${users.length} ${users.length === 1 ? 'account' : 'accounts'}` : 'Accounts'}
          {!users && loadError === undefined && (
            <span className="ml-2 align-middle">
              <Spinner label="Loading" />
            </span>
          )}
        </h2>
        <div className="relative overflow-x-auto">
          <table className="w-full text-sm" data-testid="users-table">
            <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900 dark:text-slate-400">
              <tr>
                <th scope="col" className="px-4 py-2">
                  Name
                </th>
                <th scope="col" className="px-3 py-2">
                  Role
                </th>
                <th scope="col" className="px-3 py-2">
                  Status
                </th>
                <th scope="col" className="px-3 py-2">
                  Created
                </th>
                <th scope="col" className="px-3 py-2">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {(users ?? []).map((u) => {
                const busy = busyName === u.name;
                const self = u.name === me.name;
                return (
                  <tr key={u.name} className="border-t border-slate-100 dark:border-slate-800" data-testid="user-row" data-name={u.name}>
                    <th scope="row" className="px-4 py-2 text-left font-medium">
                      {u.name}
                      {self && <span className="ml-1 text-xs font-normal text-slate-500 dark:text-slate-400">(you)</span>}
                    </th>
                    <td className="px-3 py-2">
                      <select
                        className={`${input} py-1`}
                        aria-label={`Role of ${u.name}`}
                        value={u.role}
                        disabled={busy}
                        onChange={(e) => {
                          const role = e.target.value as Role;
                          if (self && role !== 'admin' && !window.confirm(`Make yourself ${ROLE_LABELS[role].toLowerCase()}? You will no longer be able to manage users.`)) return;
                          void change(u.name, { role }, `${u.name} is now ${ROLE_LABELS[role].toLowerCase()}.`);
                        }}
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {ROLE_LABELS[r]}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td className="px-3 py-2">{u.disabled ? <Badge tone="red">Disabled</Badge> : <Badge tone="green">Active</Badge>}</td>
                    <td className="px-3 py-2 whitespace-nowrap text-slate-500 dark:text-slate-400">{formatDateTime(u.created_at)}</td>
                    <td className="px-3 py-2">
                      <div className="flex justify-end gap-2">
                        <button
                          type="button"
                          className={`${btnSecondary} ${btnSmall}`}
                          disabled={busy}
                          onClick={() =>
                            void change(u.name, { disabled: !u.disabled }, u.disabled ? `${u.name} may log in again.` : `${u.name} is disabled and can no longer log in.`)
                          }
                        >
                          {u.disabled ? 'Enable' : 'Disable'}
                          <span className="sr-only"> {u.name}</span>
                        </button>
                        <button type="button" className={`${btnSecondary} ${btnSmall}`} disabled={busy} onClick={() => setResetFor(u.name)}>
                          Reset password…<span className="sr-only"> of {u.name}</span>
                        </button>
                        <button
                          type="button"
                          className={`${btnSecondary} ${btnSmall}`}
                          disabled={busy}
                          title="Forget failed logins: the account may log in again at once"
                          onClick={() => {
                            setMessage(null);
                            unlockUser(u.name).then(
                              () => setMessage({ tone: 'ok', text: `${u.name} may log in again at once (failed logins forgotten).` }),
                              (e: unknown) => setMessage({ tone: 'error', text: `${u.name} was not unlocked: ${userErrorMessage(e)}` }),
                            );
                          }}
                        >
                          Unlock<span className="sr-only"> {u.name}</span>
                        </button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
      {resetFor && (
        <ResetPasswordDialog
          name={resetFor}
          onClose={() => setResetFor(null)}
          onSubmit={(password) => change(resetFor, { password }, `${resetFor}'s password was reset. Tell them the new one by a safe route.`)}
        />
      )}
    </div>
  );
}

function NewUserForm({ onCreated }: { onCreated: (u: UserAccount) => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('pathologist');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n) {
      setError('Enter a user name.');
      return;
    }
    const problem = passwordProblem(password);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const u = await createUser({ name: n, role, password });
      onCreated(u);
      setName('');
      setPassword('');
    } catch (err) {
      setError(`${n} was not added: ${userErrorMessage(err, 'create')}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className={`${card} flex flex-wrap items-end gap-3 p-4`} onSubmit={(e) => void submit(e)} aria-labelledby="new-user-title" noValidate>
      <h2 id="new-user-title" className="w-full font-semibold">
        Add a user
      </h2>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Name
        <input className={`${input} w-44`} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" autoCapitalize="none" spellCheck={false} />
      </label>
      <div className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        <label htmlFor="new-user-role">Role</label>
        <select id="new-user-role" className={input} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {ROLE_LABELS[r]}
            </option>
          ))}
        </select>
      </div>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Initial password
        <input
          className={`${input} w-52`}
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-describedby="new-user-rule"
        />
      </label>
      <button type="submit" className={btnPrimary} disabled={busy}>
        {busy && <Spinner />} Add user
      </button>
      <p id="new-user-rule" className="w-full text-xs text-slate-500 dark:text-slate-400">
        At least {MIN_PASSWORD_LENGTH} characters. The user can change it after logging in (Change password, top right).
      </p>
      {error && (
        <p role="alert" className="w-full text-sm text-red-700 dark:text-red-400" data-testid="new-user-error">
          {error}
        </p>
      )}
    </form>
  );
}

function ResetPasswordDialog({ name, onClose, onSubmit }: { name: string; onClose: () => void; onSubmit: (password: string) => Promise<string | null> }) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');

  return (
    <DialogForm
      title={`Reset the password of ${name}`}
      submitLabel="Reset password"
      check={() => passwordProblem(password, confirm)}
      onSubmit={async () => {
        const refused = await onSubmit(password);
        return refused == null ? null : `Not reset: ${refused}`;
      }}
      onClose={onClose}
    >
      <NewPasswordFields password={password} confirm={confirm} onPassword={setPassword} onConfirm={setConfirm} />
    </DialogForm>
  );
}
