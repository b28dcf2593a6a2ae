import { useState, type FormEvent } from 'react';
import { createStudy, listGroups, listUsers } from '../api/client';
import { groupOf, type NewStudy } from '../api/types';
import { btnPrimary, btnSecondary, card, input, Spinner } from '../components/ui';
import { errorMessage } from '../lib/format';
import { plainErrorText } from '../lib/errors';
import { canScore, isAdmin, ROLE_LABELS } from '../lib/roles';
import { Link, navigate } from '../lib/router';
import { studyHref } from '../lib/routes';
import { useSession } from '../lib/session';
import { parseIdList } from '../lib/study';
import { useQuery } from '../lib/useQuery';

const label = 'flex flex-col gap-1 text-sm font-medium';
const fieldset = 'rounded-lg border border-slate-200 p-4 dark:border-slate-800';

export function NewStudyPage() {
  const { user, mode } = useSession();
  // The accounts to choose readers from, and the sample groups (every group's summary).
  const choices = useQuery(isAdmin(user.role) ? 'new-study' : null, (signal) => Promise.all([listUsers(signal), listGroups(signal)]));
  const users = choices.data?.[0];
  const groups = choices.data?.[1];
  const loadError = choices.error === undefined ? null : errorMessage(choices.error);

  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [blinded, setBlinded] = useState(true);
  const [requireReason, setRequireReason] = useState(false);
  const [readers, setReaders] = useState<string[]>([]);
  const [chosenGroups, setChosenGroups] = useState<string[]>([]);
  const [idText, setIdText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (!isAdmin(user.role)) {
    return (
      <div className="p-6">
        <h1 className="text-xl font-semibold">New study</h1>
        <p role="alert" className="mt-2 text-sm text-slate-600 dark:text-slate-400">
          Only administrators create studies. <Link to="/studies" className="underline">Back to the studies</Link>
        </p>
      </div>
    );
  }

  // Single-user mode has no accounts: its one reader is `local` (the AI against yourself).
  const eligible =
    mode === 'single-user'
      ? [{ name: user.name, role: user.role, disabled: false, created_at: '' }]
      : (users ?? []).filter((u) => canScore(u.role) && !u.disabled).sort((a, b) => a.name.localeCompare(b.name));
  const ids = parseIdList(idText);
  const groupImages = (groups ?? []).filter((g) => chosenGroups.includes(groupOf(g))).reduce((n, g) => n + g.count, 0);

  const toggle = (list: string[], v: string, on: boolean) => (on ? [...list.filter((x) => x !== v), v] : list.filter((x) => x !== v));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError('Give the study a name.');
    if (readers.length === 0) return setError('Choose at least one reader (two or more for reader agreement).');
    if (!ids.ok) return setError(ids.message);
    if (chosenGroups.length === 0 && ids.ids.length === 0) return setError('Choose the images: tick one or more sample groups, or enter image ids.');
    const body: NewStudy = { name: name.trim(), blinded, require_reason: requireReason, readers };
    if (description.trim()) body.description = description.trim();
    if (chosenGroups.length) body.groups = chosenGroups;
    if (ids.ids.length) body.image_ids = ids.ids;
    setBusy(true);
    setError(null);
    try {
      const study = await createStudy(body);
      navigate(studyHref(study.id));
    } catch (err) {
      setBusy(false);
      setError(`The study was not created. ${plainErrorText(err, 'save')}`);
    }
  };

  return (
    <div className="h-full overflow-y-auto p-6">
      <form className={`${card} mx-auto flex max-w-3xl flex-col gap-5 p-6`} onSubmit={(e) => void submit(e)} noValidate aria-labelledby="new-study-title">
        <div>
          <h1 id="new-study-title" className="text-xl font-semibold">
            New study
          </h1>
          <p className="text-sm text-slate-500 dark:text-slate-400">Readers score the same images independently; you adjudicate the final score.</p>
        </div>
        {loadError && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            Users or sample groups could not be loaded: {loadError}. Reload the page to try again.
          </p>
        )}
        <label className={label}>
          Name
          <input className={input} value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label className={label}>
          Description <span className="font-normal text-slate-500 dark:text-slate-400">(optional)</span>
          <textarea className={input} rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <div className="flex flex-col gap-2">
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" className="mt-1" checked={blinded} onChange={(e) => setBlinded(e.target.checked)} aria-describedby="blinded-help" />
            <span>
              <span className="font-medium">Blinded</span>
              <span id="blinded-help" className="block text-slate-500 dark:text-slate-400">
                Readers first score without seeing the AI draft; submitting reveals it, and they may then revise. Both scores are kept.
              </span>
            </span>
          </label>
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" className="mt-1" checked={requireReason} onChange={(e) => setRequireReason(e.target.checked)} aria-describedby="reason-help" />
            <span>
              <span className="font-medium">Reasons required</span>
              <span id="reason-help" className="block text-slate-500 dark:text-slate-400">
                Every change after a reader’s first submission, and every adjudication, needs a reason.
              </span>
            </span>
          </label>
        </div>

        <fieldset className={fieldset}>
          <legend className="px-1 text-sm font-semibold">Readers</legend>
          {!users && !loadError && <Spinner label="Loading users" />}
          {mode === 'single-user' && (
            <p className="mb-2 text-sm text-slate-500 dark:text-slate-400">
              Single-user mode: you (<code>local</code>) are the only reader. For several readers, create accounts with <code>histoscore user add</code>.
            </p>
          )}
          {users && eligible.length === 0 && (
            <p className="text-sm text-slate-500 dark:text-slate-400">
              No pathologists or administrators to choose from. Add them on the <Link to="/users" className="underline">Users</Link> page.
            </p>
          )}
          <div className="grid grid-cols-[repeat(auto-fill,minmax(12rem,1fr))] gap-2">
            {eligible.map((u) => (
              <label key={u.name} className="flex items-center gap-2 text-sm">
                <input type="checkbox" checked={readers.includes(u.name)} onChange={(e) => setReaders((r) => toggle(r, u.name, e.target.checked))} />
                {u.name} <span className="text-xs text-slate-500 dark:text-slate-400">({ROLE_LABELS[u.role].toLowerCase()})</span>
              </label>
            ))}
          </div>
        </fieldset>

        <fieldset className={fieldset}>
          <legend className="px-1 text-sm font-semibold">Images</legend>
          <p className="mb-2 text-sm text-slate-500 dark:text-slate-400">By sample group, one by one, or both.</p>
          {!groups && !loadError && <Spinner label="Loading sample groups" />}
          {groups && groups.length === 0 && <p className="text-sm text-slate-500 dark:text-slate-400">No images yet: upload some on the Score page first.</p>}
          <div className="grid grid-cols-[repeat(auto-fill,minmax(14rem,1fr))] gap-2" data-testid="group-choices">
            {(groups ?? []).map((g) => {
              const gname = groupOf(g);
              if (!gname) {
                return (
                  <p key="(none)" className="text-sm text-slate-500 dark:text-slate-400">
                    {g.count} {g.count === 1 ? 'image has' : 'images have'} no group: add them by id.
                  </p>
                );
              }
              return (
                <label key={gname} className="flex items-center gap-2 text-sm">
                  <input
                    type="checkbox"
                    checked={chosenGroups.includes(gname)}
                    onChange={(e) => setChosenGroups((c) => toggle(c, gname, e.target.checked))}
                  />
                  {gname}{' '}
                  <span className="text-xs text-slate-500 dark:text-slate-400">
                    ({g.count} {g.count === 1 ? 'image' : 'images'})
                  </span>
                </label>
              );
            })}
          </div>
          <label className={`${label} mt-4`}>
            Image ids <span className="font-normal text-slate-500 dark:text-slate-400">(optional; e.g. 3, 5, 7-9 — the ID column of the History page)</span>
            <input
              className={input}
              value={idText}
              onChange={(e) => setIdText(e.target.value)}
              aria-invalid={!ids.ok || undefined}
              aria-describedby={!ids.ok ? 'ids-error' : undefined}
              inputMode="numeric"
            />
          </label>
          {!ids.ok && (
            <p id="ids-error" className="mt-1 text-sm text-red-700 dark:text-red-400">
              {ids.message}
            </p>
          )}
          <p className="mt-2 text-sm text-slate-600 dark:text-slate-300" aria-live="polite">
            {groupImages} {groupImages === 1 ? 'image' : 'images'} from groups
            {ids.ok && ids.ids.length > 0 ? ` + ${ids.ids.length} by id (duplicates count once)` : ''}.
          </p>
        </fieldset>

        {error && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid="new-study-error">
            {error}
          </p>
        )}
        <div className="flex justify-end gap-2">
          <Link to="/studies" className={btnSecondary}>
            Cancel
          </Link>
          <button type="submit" className={btnPrimary} disabled={busy}>
            {busy && <Spinner />} Create study
          </button>
        </div>
      </form>
    </div>
  );
}
