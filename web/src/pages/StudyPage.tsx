import { useEffect, useRef, type KeyboardEvent } from 'react';
import { ApiError, getStudy } from '../api/client';
import { AdjudicateTab } from '../components/study/AdjudicateTab';
import { AgreementTab } from '../components/study/AgreementTab';
import { ReadingTab } from '../components/study/ReadingTab';
import { Badge, Spinner } from '../components/ui';
import { errorMessage, formatDateTime } from '../lib/format';
import { isAdmin } from '../lib/roles';
import { Link, navigate, useLocation } from '../lib/router';
import { studyHref, type StudyTab } from '../lib/routes';
import { useSession } from '../lib/session';
import { useQuery } from '../lib/useQuery';
import { StudyProgressList } from './StudiesPage';

const TAB_LABELS: Record<StudyTab, string> = {
  read: 'My reading',
  adjudicate: 'Adjudicate',
  agreement: 'Agreement',
};

function studyErrorMessage(e: unknown): string {
  if (e instanceof ApiError && e.status === 404) return 'There is no such study (it may have been removed). Go back to the list of studies.';
  if (e instanceof ApiError && e.status === 403) return 'You may not see this study: ask an administrator to add you as a reader.';
  return errorMessage(e);
}

export function StudyPage({ id }: { id: string }) {
  const { user } = useSession();
  const { search } = useLocation();
  const { data: study, error, refetch } = useQuery(`study/${id}`, (signal) => getStudy(id, signal));
  const tabRefs = useRef<Partial<Record<StudyTab, HTMLButtonElement | null>>>({});

  useEffect(() => {
    if (study) document.title = `${study.name} — Studies — Histoscore`;
  }, [study]);

  if (!study) {
    return (
      <div className="p-6">
        {error !== undefined ? (
          <div role="alert" className="space-y-2">
            <h1 className="text-xl font-semibold">The study could not be opened</h1>
            <p className="text-sm text-red-700 dark:text-red-400">{studyErrorMessage(error)}</p>
            <p className="text-sm">
              <button className="underline" onClick={refetch}>
                Try again
              </button>{' '}
              · <Link to="/studies" className="underline">All studies</Link>
            </p>
          </div>
        ) : (
          <p className="text-slate-500 dark:text-slate-400">
            <Spinner label="Loading the study" /> Loading…
          </p>
        )}
      </div>
    );
  }

  const reader = study.readers.includes(user.name);
  const admin = isAdmin(user.role);
  // Readers never see other readers' scores: the agreement (and the study exports) are for
  // administrators and for those who do not read in the study.
  const tabs: StudyTab[] = [
    ...(reader ? (['read'] as const) : []),
    ...(admin ? (['adjudicate'] as const) : []),
    ...(admin || !reader ? (['agreement'] as const) : []),
  ];
  const q = new URLSearchParams(search);
  const asked = q.get('tab') as StudyTab | null;
  const tab: StudyTab = asked && tabs.includes(asked) ? asked : (tabs[0] as StudyTab);
  const image = Number(q.get('image')) || null;

  const select = (t: StudyTab, focus = false) => {
    navigate(studyHref(study.id, t, t === 'read' ? image : null), true);
    if (focus) tabRefs.current[t]?.focus();
  };
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = tabs.indexOf(tab);
    let next: StudyTab | undefined;
    if (e.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
    else if (e.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (e.key === 'Home') next = tabs[0];
    else if (e.key === 'End') next = tabs[tabs.length - 1];
    if (next) {
      e.preventDefault();
      select(next, true);
    }
  };

  return (
    <div className="flex h-full flex-col">
      <div className="border-b border-slate-200 bg-white px-6 pt-4 dark:border-slate-800 dark:bg-slate-900/60">
        <nav aria-label="Breadcrumb" className="text-xs text-slate-500 dark:text-slate-400">
          <Link to="/studies" className="hover:underline">
            Studies
          </Link>{' '}
          /
        </nav>
        <div className="flex flex-wrap items-center gap-2">
          <h1 className="text-xl font-semibold" data-testid="study-name">
            {study.name}
          </h1>
          {study.blinded ? <Badge tone="violet">Blinded</Badge> : <Badge tone="slate">Unblinded</Badge>}
          {study.require_reason && <Badge tone="amber">Reasons required</Badge>}
          <span className="ml-auto text-xs text-slate-500 dark:text-slate-400">
            {study.image_count} {study.image_count === 1 ? 'image' : 'images'} · readers: {study.readers.join(', ') || '–'} · created{' '}
            {formatDateTime(study.created_at)} by {study.created_by}
          </span>
        </div>
        {study.description && <p className="mt-1 text-sm text-slate-600 dark:text-slate-300">{study.description}</p>}
        <details className="mt-1 text-sm">
          <summary className="cursor-pointer text-xs text-slate-500 dark:text-slate-400">Progress</summary>
          <StudyProgressList study={study} />
        </details>
        <div role="tablist" aria-label="Study" className="mt-3 flex gap-1">
          {tabs.map((t) => (
            <button
              key={t}
              ref={(el) => {
                tabRefs.current[t] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${t}`}
              aria-selected={t === tab}
              aria-controls={`panel-${t}`}
              tabIndex={t === tab ? 0 : -1}
              onClick={() => select(t)}
              onKeyDown={onTabKey}
              className={`-mb-px rounded-t-md border-b-2 px-4 py-2 text-sm font-medium ${
                t === tab
                  ? 'border-indigo-600 text-indigo-700 dark:border-indigo-400 dark:text-indigo-300'
                  : 'border-transparent text-slate-600 hover:text-slate-900 dark:text-slate-400 dark:hover:text-white'
              }`}
            >
              {TAB_LABELS[t]}
            </button>
          ))}
        </div>
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="min-h-0 flex-1 overflow-y-auto">
        {tab === 'read' && <ReadingTab study={study} imageId={image} onProgress={refetch} />}
        {tab === 'adjudicate' && <AdjudicateTab study={study} />}
        {tab === 'agreement' && <AgreementTab study={study} />}
      </div>
    </div>
  );
}
