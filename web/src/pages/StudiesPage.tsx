import { listStudies } from '../api/client';
import type { Study } from '../api/types';
import { Badge, btnPrimary, card, Icon, Spinner } from '../components/ui';
import { errorMessage, formatDateTime } from '../lib/format';
import { isAdmin } from '../lib/roles';
import { Link } from '../lib/router';
import { studyHref } from '../lib/routes';
import { useSession } from '../lib/session';
import { useQuery } from '../lib/useQuery';

export function StudiesPage() {
  const { user } = useSession();
  const { data: studies, error, refetch } = useQuery('studies', listStudies);
  const admin = isAdmin(user.role);
  return (
    <div className="flex h-full flex-col gap-4 overflow-y-auto p-6">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 className="text-xl font-semibold">Studies</h1>
          <p className="text-sm text-slate-500 dark:text-slate-400">
            {admin
              ? 'Several readers score the same images; you adjudicate, and the study shows how well readers and AI agree.'
              : user.role === 'viewer'
                ? 'Reader studies: their agreement and exports.'
                : 'The studies you are a reader in. Open one to read its images.'}
          </p>
        </div>
        {admin && (
          <Link to="/studies/new" className={btnPrimary}>
            <Icon name="plus" /> New study
          </Link>
        )}
      </div>
      {error !== undefined && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          The studies could not be loaded. {errorMessage(error)}{' '}
          <button className="underline" onClick={refetch}>
            Try again
          </button>
        </p>
      )}
      {!studies && error === undefined && (
        <p className="text-sm text-slate-500 dark:text-slate-400">
          <Spinner label="Loading studies" /> Loading…
        </p>
      )}
      {studies && studies.length === 0 && (
        <p className={`${card} p-6 text-center text-sm text-slate-500 dark:text-slate-400`}>
          {admin ? 'No studies yet. Create one with “New study”.' : 'No studies to show: an administrator adds you to a study as a reader.'}
        </p>
      )}
      {studies && studies.length > 0 && (
        <ul className="grid gap-3" data-testid="study-list">
          {studies.map((s) => (
            <li key={String(s.id)} className={`${card} p-4`} data-testid="study-item" data-study-id={String(s.id)}>
              <div className="flex flex-wrap items-center gap-2">
                <Link to={studyHref(s.id)} className="text-lg font-semibold text-indigo-700 hover:underline dark:text-indigo-300">
                  {s.name}
                </Link>
                {s.blinded ? <Badge tone="violet">Blinded</Badge> : <Badge tone="slate">Unblinded</Badge>}
                {s.require_reason && <Badge tone="amber">Reasons required</Badge>}
                <span className="ml-auto text-xs text-slate-500 dark:text-slate-400">
                  {s.image_count} {s.image_count === 1 ? 'image' : 'images'} · created {formatDateTime(s.created_at)} by {s.created_by}
                </span>
              </div>
              {s.description && <p className="mt-1 text-sm text-slate-600 dark:text-slate-300">{s.description}</p>}
              <StudyProgressList study={s} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function StudyProgressList({ study }: { study: Study }) {
  const names = Object.keys(study.progress ?? {});
  if (names.length === 0) return null;
  return (
    <dl className="mt-3 grid grid-cols-[repeat(auto-fill,minmax(14rem,1fr))] gap-x-6 gap-y-2 text-sm">
      {names.map((name) => {
        const p = study.progress[name] ?? { blind: 0, revised: 0 };
        const total = study.image_count || 0;
        const done = study.blinded ? p.blind : Math.max(p.blind, p.revised);
        const pct = total > 0 ? Math.round((100 * done) / total) : 0;
        return (
          <div key={name}>
            <dt className="flex justify-between gap-2">
              <span className="font-medium">{name}</span>
              <span className="text-xs text-slate-500 dark:text-slate-400">
                {done}/{total} {study.blinded ? 'blind' : 'scored'}
                {study.blinded ? ` · ${p.revised} revised` : ''}
              </span>
            </dt>
            <dd>
              <div
                className="mt-1 h-1.5 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
                role="progressbar"
                aria-label={`Progress of ${name}`}
                aria-valuemin={0}
                aria-valuemax={total}
                aria-valuenow={done}
              >
                <div className="h-full bg-indigo-500" style={{ width: `${pct}%` }} />
              </div>
            </dd>
          </div>
        );
      })}
    </dl>
  );
}
