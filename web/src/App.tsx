import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { ApiError, getConfig, getSession, logout, setCsrfToken, setUnauthorizedHandler } from './api/client';
import type { AppConfig, SessionMode, SessionUser } from './api/types';
import { ConfigContext, ConfigReloadContext } from './lib/config';
import { startEvents, stopEvents, useLiveState } from './lib/events';
import { clearRecords } from './lib/records';
import { clearSlideFields } from './lib/slideFields';
import { Link, useLocation } from './lib/router';
import { matchRoute, PAGE_TITLES, type Route } from './lib/routes';
import { canScore, effectiveUser, isAdmin, LOCAL_USER, ROLE_HELP, ROLE_LABELS } from './lib/roles';
import { SessionContext, useSession, type SessionValue } from './lib/session';
import { useUploadQueue, type UploadQueue } from './lib/useUploadQueue';
import { uploadLimitsOf } from './lib/files';
import { counts } from './lib/queue';
import { ScorePage } from './pages/ScorePage';
import { HistoryPage } from './pages/HistoryPage';
import { LoginPage } from './pages/LoginPage';
import { StudiesPage } from './pages/StudiesPage';
import { ChangePasswordDialog } from './components/ChangePasswordDialog';
import { TokensDialog } from './components/TokensDialog';
import { ExportButton } from './components/ExportDialog';
import { Badge, btnGhost, btnPrimary, btnSecondary, btnSmall } from './components/ui';
import { errorMessage } from './lib/format';
import { plainErrorText } from './lib/errors';
import { useModelRegistry } from './lib/modelRegistry';
import { activeModelLabel } from './lib/models';
import { useQuery } from './lib/useQuery';

// Pages most sessions never open load on first use, so the first load stays small.
const UsersPage = lazy(() => import('./pages/UsersPage').then((m) => ({ default: m.UsersPage })));
const NewStudyPage = lazy(() => import('./pages/NewStudyPage').then((m) => ({ default: m.NewStudyPage })));
const StudyPage = lazy(() => import('./pages/StudyPage').then((m) => ({ default: m.StudyPage })));
const ComparePage = lazy(() => import('./pages/ComparePage').then((m) => ({ default: m.ComparePage })));
const ModelsPage = lazy(() => import('./pages/ModelsPage').then((m) => ({ default: m.ModelsPage })));

type Phase =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'login'; notice: string | null }
  | { kind: 'ready'; mode: SessionMode; user: SessionUser };

const SESSION_ENDED = 'Your session has ended (it expired, or you were logged out elsewhere). Log in again to continue.';

/** Who is this? Single-user mode goes straight on; accounts mode without a user logs in first. */
async function loadSession(signal: AbortSignal): Promise<Phase> {
  try {
    const info = await getSession(signal);
    setCsrfToken(info.csrf_token ?? null);
    const user = effectiveUser(info);
    return user ? { kind: 'ready', mode: info.mode, user } : { kind: 'login', notice: null };
  } catch (e) {
    // A server from before accounts existed has no /api/session: it is single-user.
    if (e instanceof ApiError && e.status === 404) return { kind: 'ready', mode: 'single-user', user: LOCAL_USER };
    throw e;
  }
}

export function App() {
  const start = useQuery('session', loadSession);
  /** Set by logging in and out; until then, what the server said at the start. */
  const [changed, setPhase] = useState<Phase | null>(null);
  const phase: Phase =
    changed ?? start.data ?? (start.error !== undefined && !start.loading ? { kind: 'error', message: errorMessage(start.error) } : { kind: 'loading' });

  /** Forget everything the last user saw and show the login page. */
  const endSession = useCallback((notice: string | null) => {
    stopEvents();
    clearRecords();
    clearSlideFields();
    setCsrfToken(null);
    setPhase({ kind: 'login', notice });
  }, []);

  // Any 401 later on: the session expired or was ended elsewhere.
  useEffect(() => {
    setUnauthorizedHandler(() => endSession(SESSION_ENDED));
    return () => setUnauthorizedHandler(null);
  }, [endSession]);

  const doLogout = useCallback(async () => {
    try {
      await logout();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        window.alert(`Not logged out. ${plainErrorText(e, 'logout')}`);
        return;
      }
    }
    endSession(null);
  }, [endSession]);

  const refresh = useCallback(async () => {
    const info = await getSession();
    setCsrfToken(info.csrf_token ?? null);
    const user = effectiveUser(info);
    if (user) setPhase({ kind: 'ready', mode: info.mode, user });
    else endSession(null);
  }, [endSession]);

  const mode = phase.kind === 'ready' ? phase.mode : null;
  const user = phase.kind === 'ready' ? phase.user : null;
  const session = useMemo<SessionValue | null>(
    () => (mode && user ? { mode, user, logout: doLogout, refresh } : null),
    [mode, user, doLogout, refresh],
  );

  if (phase.kind === 'login') {
    return (
      <LoginPage
        notice={phase.notice}
        onLoggedIn={(answer) => {
          setCsrfToken(answer.csrf_token);
          setPhase({ kind: 'ready', mode: 'accounts', user: answer.user });
        }}
      />
    );
  }
  if (phase.kind === 'ready' && session) {
    return (
      <SessionContext.Provider value={session}>
        <Ready />
      </SessionContext.Provider>
    );
  }
  return (
    <Centered>
      {phase.kind === 'error' ? (
        <div role="alert" className="max-w-lg space-y-3 text-center">
          <h1 className="text-lg font-semibold">Histoscore could not reach its server</h1>
          <p className="text-sm text-slate-600 dark:text-slate-400">{phase.message}</p>
          <button className={btnPrimary} onClick={start.refetch}>
            Try again
          </button>
        </div>
      ) : (
        <p className="text-slate-500 dark:text-slate-400" role="status">
          Loading…
        </p>
      )}
    </Centered>
  );
}

function Centered({ children }: { children: React.ReactNode }) {
  return <div className="flex h-full items-center justify-center p-8">{children}</div>;
}

/** Logged in (or single-user): load the configuration, then the pages. */
function Ready() {
  const config = useQuery('config', getConfig);
  useEffect(startEvents, []);

  if (!config.data) {
    return (
      <Centered>
        {config.error !== undefined && !config.loading ? (
          <div role="alert" className="max-w-lg space-y-3 text-center">
            <h1 className="text-lg font-semibold">Histoscore could not load its configuration</h1>
            <p className="text-sm text-slate-600 dark:text-slate-400">{errorMessage(config.error)}</p>
            <button className={btnPrimary} onClick={config.refetch}>
              Try again
            </button>
          </div>
        ) : (
          <p className="text-slate-500 dark:text-slate-400" role="status">
            Loading…
          </p>
        )}
      </Centered>
    );
  }
  // After an activation or rollback the header names the new active model: `refetch` asks again
  // (a failure keeps the config shown; the caller reports its own action's outcome).
  return (
    <ConfigContext.Provider value={config.data}>
      <ConfigReloadContext.Provider value={config.refetch}>
        <Shell config={config.data} />
      </ConfigReloadContext.Provider>
    </ConfigContext.Provider>
  );
}

type NavKey = 'score' | 'history' | 'studies' | 'models' | 'users';

function navOf(route: Route): NavKey {
  switch (route.page) {
    case 'compare':
      return 'history';
    case 'score':
    case 'history':
    case 'models':
    case 'users':
      return route.page;
    default:
      return 'studies';
  }
}

function Shell({ config }: { config: AppConfig }) {
  const { pathname } = useLocation();
  const route = matchRoute(pathname);
  // The queue lives above the pages: uploads continue while another page is open.
  const limits = useMemo(() => uploadLimitsOf(config), [config]);
  const queue = useUploadQueue(limits);

  useEffect(() => {
    if (route.page !== 'study') document.title = `${PAGE_TITLES[route.page]} — Histoscore`;
  }, [route.page]);

  let page;
  switch (route.page) {
    case 'history':
      page = <HistoryPage />;
      break;
    case 'compare':
      page = <ComparePage />;
      break;
    case 'users':
      page = <UsersPage />;
      break;
    case 'models':
      page = <ModelsPage />;
      break;
    case 'studies':
      page = <StudiesPage />;
      break;
    case 'new-study':
      page = <NewStudyPage />;
      break;
    case 'study':
      page = <StudyPage key={route.id} id={route.id} />;
      break;
    default:
      page = <ScorePage queue={queue} />;
  }

  return (
    <div className="flex h-full flex-col">
      <Header config={config} queue={queue} active={navOf(route)} historyPage={route.page === 'history'} />
      <main className="min-h-0 flex-1">
        <Suspense
          fallback={
            <p className="p-6 text-slate-500 dark:text-slate-400" role="status">
              Loading…
            </p>
          }
        >
          {page}
        </Suspense>
      </main>
    </div>
  );
}

/** `historyPage`: the History shows its own export button (it can follow the filters). */
function Header({ config, queue, active, historyPage }: { config: AppConfig; queue: UploadQueue; active: NavKey; historyPage: boolean }) {
  const c = counts(queue.state);
  const live = useLiveState();
  const { mode, user } = useSession();
  const accounts = mode === 'accounts';
  const nav = (on: boolean) =>
    `rounded-md px-3 py-1.5 text-sm font-medium ${on ? 'bg-slate-200 text-slate-900 dark:bg-slate-800 dark:text-white' : 'text-slate-600 hover:bg-slate-200/60 dark:text-slate-300 dark:hover:bg-slate-800/60'}`;
  const entry = (key: NavKey, to: string, label: string) => (
    <Link to={to} className={nav(active === key)} aria-current={active === key ? 'page' : undefined}>
      {label}
    </Link>
  );
  return (
    <header className="flex flex-wrap items-center gap-x-6 gap-y-2 border-b border-slate-200 bg-white px-3 py-2 sm:px-6 sm:py-3 dark:border-slate-800 dark:bg-slate-900">
      <div className="flex items-center gap-3">
        <img src="/favicon.svg" alt="" className="size-9" />
        <div>
          <div className="text-lg font-semibold leading-tight">Histoscore</div>
          <div className="text-xs text-slate-500 dark:text-slate-400">Histopathology scoring · {config.schema.name}</div>
        </div>
      </div>
      <nav aria-label="Pages" className="flex gap-1">
        {entry('score', '/', 'Score')}
        {entry('history', '/history', 'History')}
        {entry('studies', '/studies', 'Studies')}
        {entry('models', '/models', 'Models')}
        {accounts && isAdmin(user.role) && entry('users', '/users', 'Users')}
      </nav>
      <div className="flex min-w-0 flex-wrap items-center gap-x-3 gap-y-1 text-sm lg:ml-auto">
        {config.model.demo ? (
          <Badge tone="amber" title="The server runs its built-in untrained demo model">
            Demo model
          </Badge>
        ) : (
          <HeaderModel config={config} />
        )}
        <LiveIndicator state={live} />
        {canScore(user.role) && (
          <span className="flex items-center gap-1.5" aria-live="polite">
            <span aria-hidden className="text-green-600 dark:text-green-400">
              ✓
            </span>
            Processed: <strong data-testid="processed-count">{c.done}</strong>
          </span>
        )}
        {!historyPage && <ExportButton className={active === 'score' ? btnPrimary : btnSecondary} testId="header-export-csv" />}
        {accounts && <UserMenu />}
      </div>
    </header>
  );
}

/** The active model in words a person chose: “Pancreas v1, activated 29 Nov” (details on the Models page). */
function HeaderModel({ config }: { config: AppConfig }) {
  const registry = useModelRegistry();
  const entry = registry?.find((m) => m.id === config.model.id && m.active) ?? registry?.find((m) => m.id === config.model.id);
  const label = activeModelLabel(entry, config.model.id);
  return (
    <Link
      to="/models"
      className="max-w-72 truncate text-slate-500 hover:underline dark:text-slate-400"
      title={`Scoring with ${label}. The Models page has its details.`}
      data-testid="header-model"
      data-model-id={config.model.id}
    >
      <span className="sr-only">Active model: </span>
      <span className="text-slate-700 dark:text-slate-200">{label}</span>
    </Link>
  );
}

function UserMenu() {
  const { user, logout: doLogout } = useSession();
  const [changing, setChanging] = useState(false);
  const [tokens, setTokens] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <div className="flex items-center gap-2 border-l border-slate-200 pl-3 dark:border-slate-700" data-testid="user-menu">
      <span className="flex items-center gap-1.5" title={`${ROLE_LABELS[user.role]}: ${ROLE_HELP[user.role]}`}>
        <span className="sr-only">Logged in as </span>
        <strong data-testid="user-name">{user.name}</strong>
        <Badge tone={user.role === 'admin' ? 'violet' : user.role === 'pathologist' ? 'blue' : 'slate'}>
          <span data-testid="user-role">{ROLE_LABELS[user.role]}</span>
        </Badge>
      </span>
      <button type="button" className={`${btnGhost} ${btnSmall}`} onClick={() => setChanging(true)}>
        Change password
      </button>
      <button type="button" className={`${btnGhost} ${btnSmall}`} onClick={() => setTokens(true)} title="Tokens for scripts that call Histoscore as you">
        API tokens
      </button>
      <button
        type="button"
        className={`${btnSecondary} ${btnSmall}`}
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void doLogout().finally(() => setBusy(false));
        }}
      >
        Log out
      </button>
      {changing && <ChangePasswordDialog onClose={() => setChanging(false)} />}
      {tokens && <TokensDialog onClose={() => setTokens(false)} />}
    </div>
  );
}

function LiveIndicator({ state }: { state: ReturnType<typeof useLiveState> }) {
  const map = {
    live: ['bg-green-500', 'Live updates'],
    connecting: ['bg-slate-400', 'Connecting…'],
    reconnecting: ['bg-amber-500', 'Reconnecting…'],
    polling: ['bg-amber-500', 'Live updates unavailable — checking every 2 s'],
  } as const;
  const [dot, label] = map[state];
  return (
    <span className="flex items-center gap-1.5 text-slate-500 dark:text-slate-400" title={label} data-testid="live-state" data-state={state}>
      <span aria-hidden className={`size-2 rounded-full ${dot}`} />
      <span className="hidden 2xl:inline">{label}</span>
      <span className="sr-only 2xl:hidden">{label}</span>
    </span>
  );
}
