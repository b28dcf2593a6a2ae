import { useEffect, useRef, useState } from 'react';
import type { ImageRecord } from '../../api/types';
import { useConfig } from '../../lib/config';
import type { Filters, SortKey, UpdateFilters } from '../../lib/history';
import { getEntry, useRecordsVersion } from '../../lib/records';
import { useModelNames } from '../../lib/modelRegistry';
import { card, Spinner } from '../ui';
import { COL } from './columns';
import { Pagination } from './Pagination';
import { RecordRow } from './RecordRow';
import { RescoreBar } from './RescoreBar';

/** History › Deleted: each row restores its record (for whoever may score). */
export interface RestoreRows {
  /** The caller may restore (a viewer may not). */
  allowed: boolean;
  /** The record being restored now. */
  busy: number | null;
  onRestore: (r: ImageRecord) => void;
}

/**
 * The records on the page the filters chose, with the pagers; ticking two shows them side by
 * side, administrators tick records here to re-score them. In History › Deleted, the deleted
 * records, each with its Restore button (`restore`).
 */
export function RecordsTable({
  items,
  total,
  loading,
  filters,
  update,
  selectable,
  canRescore = false,
  restore,
}: {
  items: ImageRecord[];
  total: number;
  loading: boolean;
  filters: Filters;
  update: UpdateFilters;
  /** Rows can be ticked (to compare two, or re-score). */
  selectable: boolean;
  /** Administrators re-score the ticked records with another model. */
  canRescore?: boolean;
  restore?: RestoreRows;
}) {
  const config = useConfig();
  const modelNames = useModelNames();
  const [selected, setSelected] = useState<ReadonlySet<number>>(() => new Set());
  useRecordsVersion(); // rows follow edits made in the side panel

  const page = Math.floor(filters.offset / filters.limit) + 1;
  const pages = Math.max(1, Math.ceil(total / filters.limit));

  const sortBy = (key: SortKey) => {
    if (filters.sort === key) update({ dir: filters.dir === 'asc' ? 'desc' : 'asc' });
    else update({ sort: key, dir: key === 'id' || key === 'uncertainty' || key.endsWith('_at') ? 'desc' : 'asc' });
  };

  const toggle = (id: number, on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      if (on) n.add(id);
      else n.delete(id);
      return n;
    });
  const onPage = items.map((r) => r.id);
  const selectedOnPage = onPage.filter((id) => selected.has(id)).length;
  const togglePage = (on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      for (const id of onPage) {
        if (on) n.add(id);
        else n.delete(id);
      }
      return n;
    });

  return (
    <section className={card} aria-labelledby="records-title">
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-4 py-3 dark:border-slate-800">
        <h2 id="records-title" className="mr-auto font-semibold" aria-live="polite" data-testid="history-total">
          {total.toLocaleString()} {total === 1 ? 'record' : 'records'}
          {loading && (
            <span className="ml-2 align-middle">
              <Spinner label="Loading" />
            </span>
          )}
        </h2>
        <Pagination filters={filters} total={total} page={page} pages={pages} update={update} />
      </div>
      {selectable && <RescoreBar selected={selected} offPage={selected.size - selectedOnPage} onClear={() => setSelected(new Set())} canRescore={canRescore} />}
      <div className="@container relative overflow-x-auto">
        <table className="w-full text-sm" data-testid="history-table">
          <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900 dark:text-slate-400">
            <tr>
              {selectable && (
                <th scope="col" className="py-2 pr-1 pl-3">
                  <PageCheckbox checked={onPage.length > 0 && selectedOnPage === onPage.length} mixed={selectedOnPage > 0 && selectedOnPage < onPage.length} disabled={onPage.length === 0} onChange={togglePage} />
                </th>
              )}
              <th scope="col" className="w-12 px-2 py-2">
                <span className="sr-only">Thumbnail</span>
              </th>
              <SortHeader k="id" label="ID" filters={filters} onSort={sortBy} className={COL.id} />
              <SortHeader k="filename" label="File" filters={filters} onSort={sortBy} />
              <SortHeader k="serial" label="Serial" filters={filters} onSort={sortBy} className={COL.serial} />
              <SortHeader k="group" label="Group" filters={filters} onSort={sortBy} className={COL.group} />
              <SortHeader k="status" label="Status" filters={filters} onSort={sortBy} className={COL.status} />
              <SortHeader k="review_status" label="✓" title="Reviewed" filters={filters} onSort={sortBy} />
              {config.schema.metrics.map((m) => (
                <th key={m.name} scope="col" className={`${COL.metric} max-w-28 px-2 py-2 text-right leading-tight tracking-normal normal-case`} title={`${m.name}: current (AI draft when corrected)`}>
                  {m.name}
                </th>
              ))}
              <th scope="col" className="px-3 py-2 text-right">
                Total
              </th>
              <SortHeader k="updated_at" label="Last change" filters={filters} onSort={sortBy} className={COL.changed} />
              <SortHeader k="created_at" label="Uploaded" filters={filters} onSort={sortBy} className={COL.uploaded} />
              {restore && (
                <th scope="col" className="px-3 py-2">
                  <span className="sr-only">Restore</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {items.map((r0) => {
              const e = getEntry(r0.id);
              const r = e && e.record.version > r0.version ? e.record : r0;
              // Restored since the list was loaded: it leaves the deleted records at once.
              if (restore && !r.deleted_at) return null;
              return (
                <RecordRow
                  key={r.id}
                  r={r}
                  modelNames={modelNames}
                  selected={filters.open === r.id}
                  onOpen={() => update({ open: r.id }, false)}
                  checked={selectable ? selected.has(r.id) : null}
                  onCheck={(on) => toggle(r.id, on)}
                  showSpread={filters.sort === 'uncertainty'}
                  restore={restore ? { allowed: restore.allowed, busy: restore.busy === r.id, onRestore: () => restore.onRestore(r) } : undefined}
                />
              );
            })}
            {!loading && items.length === 0 && (
              <tr>
                <td colSpan={11 + config.schema.metrics.length} className="px-3 py-8 text-center text-slate-500 dark:text-slate-400">
                  {restore ? 'No deleted records match.' : 'No records match.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="flex justify-end border-t border-slate-200 px-4 py-3 dark:border-slate-800">
        <Pagination filters={filters} total={total} page={page} pages={pages} update={update} />
      </div>
    </section>
  );
}

function SortHeader({
  k,
  label,
  title,
  filters,
  onSort,
  className = '',
}: {
  k: SortKey;
  label: string;
  title?: string;
  filters: Filters;
  onSort: (k: SortKey) => void;
  className?: string;
}) {
  const active = filters.sort === k;
  return (
    <th scope="col" className={`${className} px-3 py-2`} aria-sort={active ? (filters.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="inline-flex items-center gap-1 uppercase hover:text-slate-900 dark:hover:text-white" onClick={() => onSort(k)} title={title}>
        {title ? (
          <>
            <span aria-hidden>{label}</span>
            <span className="sr-only">{title}</span>
          </>
        ) : (
          label
        )}
        <span aria-hidden className={active ? '' : 'opacity-30'}>
          {active && filters.dir === 'asc' ? '▲' : '▼'}
        </span>
      </button>
    </th>
  );
}

/** "Select every record on this page", showing "some" as the mixed state. */
function PageCheckbox({ checked, mixed, disabled, onChange }: { checked: boolean; mixed: boolean; disabled: boolean; onChange: (on: boolean) => void }) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = mixed;
  }, [mixed]);
  return (
    <input
      ref={ref}
      type="checkbox"
      className="size-4 cursor-pointer accent-indigo-600"
      checked={checked}
      disabled={disabled}
      onChange={(e) => onChange(e.target.checked)}
      aria-label="Select every record on this page"
      data-testid="history-select-page"
    />
  );
}
