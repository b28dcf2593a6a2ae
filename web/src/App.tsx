import { useCallback, useEffect, useState } from 'react';
import { getConfig } from './api/client';
import type { AppConfig } from './api/types';
import { ConfigContext } from './lib/config';
import { startEvents, useLiveState } from './lib/events';
import { Link, useLocation } from './lib/router';
import { useUploadQueue, type UploadQueue } from './lib/useUploadQueue';
import { counts } from './lib/queue';
import { ScorePage } from './pages/ScorePage';
import { HistoryPage } from './pages/HistoryPage';
import { Badge, btnPrimary, btnSecondary, Icon } from './components/ui';
import { shortId } from './lib/format';

export function App() {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let cancelled = false;
    getConfig()
      .then((c) => {
        if (!cancelled) setConfig(c);
      })
      .catch((e: unknown) => {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      });
    startEvents();
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  const load = useCallback(() => {
    setError(null);
    setAttempt((n) => n + 1);
  }, []);

  if (!config) {
    return (
      <div className="flex h-full items-center justify-center p-8">
        {error ? (
          <div role="alert" className="max-w-lg space-y-3 text-center">
            <h1 className="text-lg font-semibold">Histoscore could not load its configuration</h1>
            <p className="text-sm text-slate-600 dark:text-slate-400">{error}</p>
            <button className={btnPrimary} onClick={load}>
              Try again
            </button>
          </div>
        ) : (
          <p className="text-slate-500 dark:text-slate-400" role="status">
            Loading…
          </p>
        )}
      </div>
    );
  }
  return (
    <ConfigContext.Provider value={config}>
      <Shell config={config} />
    </ConfigContext.Provider>
  );
}

function Shell({ config }: { config: AppConfig }) {
  const { pathname } = useLocation();
  // The queue lives above the pages: uploads continue while the history page is open.
  const queue = useUploadQueue(config.max_upload_bytes);
  const onHistory = pathname.startsWith('/history');

  useEffect(() => {
    document.title = onHistory ? 'History — Histoscore' : 'Score — Histoscore';
  }, [onHistory]);

  return (
    <div className="flex h-full flex-col">
      <Header config={config} queue={queue} active={onHistory ? 'history' : 'score'} />
      <main className="min-h-0 flex-1">{onHistory ? <HistoryPage /> : <ScorePage queue={queue} />}</main>
    </div>
  );
}

function Header({ config, queue, active }: { config: AppConfig; queue: UploadQueue; active: 'score' | 'history' }) {
  const c = counts(queue.state);
  const live = useLiveState();
  const nav = (on: boolean) =>
    `rounded-md px-3 py-1.5 text-sm font-medium ${on ? 'bg-slate-200 text-slate-900 dark:bg-slate-800 dark:text-white' : 'text-slate-600 hover:bg-slate-200/60 dark:text-slate-300 dark:hover:bg-slate-800/60'}`;
  return (
    <header className="flex flex-wrap items-center gap-x-6 gap-y-2 border-b border-slate-200 bg-white px-6 py-3 dark:border-slate-800 dark:bg-slate-900">
      <div className="flex items-center gap-3">
        <img src="/favicon.svg" alt="" className="size-9" />
        <div>
          <div className="text-lg font-semibold leading-tight">Histoscore</div>
          <div className="text-xs text-slate-500 dark:text-slate-400">Histopathology scoring · {config.schema.name}</div>
        </div>
      </div>
      <nav aria-label="Pages" className="flex gap-1">
        <Link to="/" className={nav(active === 'score')} aria-current={active === 'score' ? 'page' : undefined}>
          Score
        </Link>
        <Link to="/history" className={nav(active === 'history')} aria-current={active === 'history' ? 'page' : undefined}>
          History
        </Link>
      </nav>
      <div className="ml-auto flex flex-wrap items-center gap-3 text-sm">
        {config.model.demo ? (
          <Badge tone="amber" title="The server runs its built-in untrained demo model">
            Demo model
          </Badge>
        ) : (
          <span className="text-slate-500 dark:text-slate-400" title={`Model ${config.model.id}`}>
            Model <code className="text-slate-700 dark:text-slate-200">{shortId(config.model.id)}</code>
            {config.model.engine ? ` · ${config.model.engine}` : ''}
          </span>
        )}
        <LiveIndicator state={live} />
        <span className="flex items-center gap-1.5" aria-live="polite">
          <span aria-hidden className="text-green-600 dark:text-green-400">
            ✓
          </span>
          Processed: <strong data-testid="processed-count">{c.done}</strong>
        </span>
        <a className={active === 'score' ? btnPrimary : btnSecondary} href="/api/export.csv" download>
          <Icon name="download" /> Export CSV
        </a>
      </div>
    </header>
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
