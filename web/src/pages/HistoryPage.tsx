import { useCallback, useEffect, useMemo, useRef } from 'react';
import { listImages } from '../api/client';
import { FilterBar } from '../components/history/FilterBar';
import { GroupSummary } from '../components/history/GroupSummary';
import { RecordsTable } from '../components/history/RecordsTable';
import { ReviewPanel } from '../components/ReviewPanel';
import { btnSecondary, btnSmall, Icon } from '../components/ui';
import { errorMessage } from '../lib/format';
import { onImageEvent, onResync } from '../lib/events';
import { readFilters, toParams, writeFilters, type Filters } from '../lib/history';
import { getEntry } from '../lib/records';
import { prefetchImage } from '../lib/prefetch';
import { navigate, useLocation } from '../lib/router';
import { isAdmin } from '../lib/roles';
import { useSession } from '../lib/session';
import { useQuery } from '../lib/useQuery';

export function HistoryPage() {
  const { user } = useSession();
  /** Administrators tick records to re-score them with another model. */
  const selectable = isAdmin(user.role);
  const { search } = useLocation();
  const filters = useMemo(() => readFilters(search), [search]);

  const update = useCallback(
    (patch: Partial<Filters>, resetOffset = true) => {
      const next = { ...filters, ...patch };
      if (resetOffset && !('offset' in patch)) next.offset = 0;
      navigate(writeFilters(next), true);
    },
    [filters],
  );

  const params = useMemo(() => toParams(filters), [filters]);
  const { data, error, loading, refetch } = useQuery(JSON.stringify(params), (signal) => listImages(params, signal));

  // New uploads and changes elsewhere: refresh the page shown (at most once a second).
  const pendingRefresh = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    const bump = () => {
      if (pendingRefresh.current) return;
      pendingRefresh.current = setTimeout(() => {
        pendingRefresh.current = null;
        refetch();
      }, 1000);
    };
    const off1 = onImageEvent(bump);
    const off2 = onResync(bump);
    return () => {
      off1();
      off2();
      if (pendingRefresh.current) clearTimeout(pendingRefresh.current);
    };
  }, [refetch]);

  const items = data?.items ?? [];

  /** The next unreviewed record on this page after `fromId` (wrapping round). */
  const nextAfter = (fromId: number) => {
    const start = items.findIndex((r) => r.id === fromId);
    for (let k = 1; k <= items.length; k++) {
      const r = items[(start + k) % items.length];
      if (!r || r.id === fromId) continue;
      const e = getEntry(r.id);
      const current = e && e.record.version > r.version ? e.record : r;
      if (current.review_status !== 'reviewed') return r.id;
    }
    return null;
  };
  const onNext = (fromId: number) => {
    const next = nextAfter(fromId);
    if (next == null) return false;
    update({ open: next }, false);
    return true;
  };
  // Fetch the record “Mark reviewed & next” would open, so that it shows at once.
  const upcoming = filters.open != null ? nextAfter(filters.open) : null;
  useEffect(() => {
    if (upcoming != null) prefetchImage(upcoming);
  }, [upcoming]);

  return (
    <div
      className={`grid h-full grid-cols-1 ${filters.open ? 'lg:grid-cols-[minmax(0,1fr)_minmax(24rem,30rem)] xl:grid-cols-[minmax(0,1fr)_34rem] 2xl:grid-cols-[minmax(0,1fr)_40rem]' : ''}`}
    >
      {/* Below 1024 px the open record takes the whole width; Close goes back to the list. */}
      <div className={`min-h-0 min-w-0 flex-col gap-4 overflow-y-auto p-3 sm:p-6 ${filters.open ? 'hidden lg:flex' : 'flex'}`}>
        <div className="flex flex-wrap items-end justify-between gap-3">
          <div>
            <h1 className="text-xl font-semibold">History</h1>
            <p className="text-sm text-slate-500 dark:text-slate-400">
              Every scored image, without uploading again. Click a row to review it.{selectable && ' Tick rows to re-score them with another model.'}
            </p>
          </div>
          <a className={btnSecondary} href="/api/export.csv" download data-testid="export-csv">
            <Icon name="download" /> Export CSV (all records)
          </a>
        </div>

        <FilterBar filters={filters} groups={data?.groups ?? []} update={update} />

        {error !== undefined && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            The records could not be loaded. {errorMessage(error)}{' '}
            <button className={`${btnSecondary} ${btnSmall}`} onClick={refetch}>
              Try again
            </button>
          </p>
        )}

        <RecordsTable items={items} total={data?.total ?? 0} loading={loading} filters={filters} update={update} selectable={selectable} />

        <GroupSummary list={data ?? null} />
      </div>
      {filters.open && (
        <div className="min-h-0 min-w-0 overflow-y-auto border-slate-200 bg-white lg:border-l dark:border-slate-800 dark:bg-slate-900/60">
          <div className="flex justify-end px-4 pt-3">
            <button className={`${btnSecondary} ${btnSmall}`} onClick={() => update({ open: null }, false)} aria-label="Close the review panel">
              ✕ Close
            </button>
          </div>
          <ReviewPanel id={filters.open} onNext={onNext} showAudit />
        </div>
      )}
    </div>
  );
}
