import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { listImages, restoreImage } from '../api/client';
import type { ImageRecord } from '../api/types';
import { FilterBar } from '../components/history/FilterBar';
import { GroupSummary } from '../components/history/GroupSummary';
import { RecordsTable } from '../components/history/RecordsTable';
import { ReviewPanel } from '../components/ReviewPanel';
import { ExportButton } from '../components/ExportDialog';
import { btnSecondary, btnSmall } from '../components/ui';
import { plainErrorText } from '../lib/errors';
import { errorMessage } from '../lib/format';
import { onImageEvent, onResync } from '../lib/events';
import { readFilters, toParams, writeFilters, type Filters } from '../lib/history';
import { getEntry, putRecord } from '../lib/records';
import { prefetchImage } from '../lib/prefetch';
import { Link, navigate, useLocation } from '../lib/router';
import { canScore, isAdmin } from '../lib/roles';
import { useSession } from '../lib/session';
import { useQuery } from '../lib/useQuery';

export function HistoryPage() {
  const { user } = useSession();
  /** Administrators tick records to re-score them with another model. */
  const admin = isAdmin(user.role);
  const { search } = useLocation();
  const filters = useMemo(() => readFilters(search), [search]);
  /** History › Deleted: the deleted records, to restore them. */
  const deletedView = filters.deleted;

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

  // History › Deleted: Restore brings a record back (with its scores and corrections); the row
  // leaves this view and what came of it shows above the table.
  const [restoring, setRestoring] = useState<number | null>(null);
  const [restored, setRestored] = useState<{ ok: true; id: number; filename: string } | { ok: false; text: string } | null>(null);
  const onRestore = useCallback(
    async (r: ImageRecord) => {
      setRestoring(r.id);
      setRestored(null);
      try {
        const back = await restoreImage(r.id);
        putRecord(back, null, true);
        setRestored({ ok: true, id: back.id, filename: back.filename });
        refetch();
      } catch (e) {
        setRestored({ ok: false, text: `${r.filename} was not restored. ${plainErrorText(e, 'restore')}` });
      } finally {
        setRestoring(null);
      }
    },
    [refetch],
  );

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
  const open = deletedView ? null : filters.open;
  const upcoming = open != null ? nextAfter(open) : null;
  useEffect(() => {
    if (upcoming != null) prefetchImage(upcoming);
  }, [upcoming]);

  return (
    <div
      className={`grid h-full grid-cols-1 ${open ? 'lg:grid-cols-[minmax(0,1fr)_minmax(24rem,30rem)] xl:grid-cols-[minmax(0,1fr)_34rem] 2xl:grid-cols-[minmax(0,1fr)_40rem]' : ''}`}
    >
      {/* Below 1024 px the open record takes the whole width; Close goes back to the list. */}
      <div className={`min-h-0 min-w-0 flex-col gap-4 overflow-y-auto p-3 sm:p-6 ${open ? 'hidden lg:flex' : 'flex'}`}>
        <div className="flex flex-wrap items-end justify-between gap-3">
          {deletedView ? (
            <div>
              <h1 className="text-xl font-semibold">
                History <span aria-hidden>›</span>
                <span className="sr-only">:</span> Deleted
              </h1>
              <p className="text-sm text-slate-500 dark:text-slate-400">
                Deleted records are hidden from the History, studies and the export. Restore one to bring it back with its scores and corrections.{' '}
                <Link to="/history" className="font-medium text-indigo-700 underline dark:text-indigo-300">
                  Back to the current records
                </Link>
              </p>
            </div>
          ) : (
            <div>
              <h1 className="text-xl font-semibold">History</h1>
              <p className="text-sm text-slate-500 dark:text-slate-400">
                Every scored image, without uploading again. Click a row to review it; tick two to see them side by side
                {admin ? ', or any to re-score them with another model' : ''}.
              </p>
            </div>
          )}
          {/* The Deleted view's records are never exported: there it offers every current record. */}
          <ExportButton filters={deletedView ? null : filters} testId="export-csv" />
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

        {/* The message belongs to the view it was given in. */}
        {restored && deletedView && (
          <p
            role={restored.ok ? 'status' : 'alert'}
            className={`text-sm ${restored.ok ? 'text-green-700 dark:text-green-400' : 'text-red-700 dark:text-red-400'}`}
            data-testid="restore-message"
          >
            {restored.ok ? (
              <>
                {restored.filename} is restored, with its scores and corrections: it is back in the History.{' '}
                <Link to={`/history?open=${restored.id}`} className="font-medium underline">
                  Open it
                </Link>
              </>
            ) : (
              restored.text
            )}
          </p>
        )}

        <RecordsTable
          items={items}
          total={data?.total ?? 0}
          loading={loading}
          filters={filters}
          update={update}
          selectable={!deletedView}
          canRescore={admin}
          restore={deletedView ? { allowed: canScore(user.role), busy: restoring, onRestore: (r) => void onRestore(r) } : undefined}
        />

        {!deletedView && <GroupSummary list={data ?? null} />}
      </div>
      {open != null && (
        <div className="min-h-0 min-w-0 overflow-y-auto border-slate-200 bg-white lg:border-l dark:border-slate-800 dark:bg-slate-900/60">
          <div className="flex justify-end px-4 pt-3">
            <button className={`${btnSecondary} ${btnSmall}`} onClick={() => update({ open: null }, false)} aria-label="Close the review panel">
              ✕ Close
            </button>
          </div>
          <ReviewPanel id={open} onNext={onNext} showAudit />
        </div>
      )}
    </div>
  );
}
