import { useEffect, useState } from 'react';
import { groupOf, type GroupSummary } from '../../api/types';
import { useConfig } from '../../lib/config';
import { shortId } from '../../lib/format';
import { ORDERS, orderOf, SORT_LABELS, type Filters, type Order, type UpdateFilters } from '../../lib/history';
import { navigate } from '../../lib/router';
import { btnSecondary, btnSmall, card, input } from '../ui';

/** The history's filters and order; the search box waits for a pause in typing. */
export function FilterBar({ filters, groups, update }: { filters: Filters; groups: GroupSummary[]; update: UpdateFilters }) {
  const config = useConfig();
  const [searchText, setSearchText] = useState(filters.search);
  // A search changed by a link or Back (not by typing here) shows in the box.
  const [shownSearch, setShownSearch] = useState(filters.search);
  if (shownSearch !== filters.search) {
    setShownSearch(filters.search);
    setSearchText(filters.search);
  }

  // Debounced search box.
  useEffect(() => {
    if (searchText === filters.search) return;
    const t = setTimeout(() => update({ search: searchText }), 300);
    return () => clearTimeout(t);
  }, [searchText, filters.search, update]);

  const order = orderOf(filters.sort, filters.dir);

  return (
    <form className={`${card} flex flex-wrap items-end gap-3 p-4`} role="search" aria-label="Filter records" onSubmit={(e) => e.preventDefault()}>
      <label className="flex min-w-56 flex-1 flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Search (file name, serial)
        <input type="search" className={input} value={searchText} onChange={(e) => setSearchText(e.target.value)} placeholder="e.g. S-3602" data-testid="history-search" />
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Records
        <select
          className={`${input} ${filters.deleted ? 'border-red-400 dark:border-red-700' : ''}`}
          value={filters.deleted ? 'deleted' : 'current'}
          onChange={(e) => update({ deleted: e.target.value === 'deleted', open: null })}
          title="Deleted: the records deleted from the History, to restore them"
          data-testid="history-show"
        >
          <option value="current">Current</option>
          <option value="deleted">Deleted</option>
        </select>
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Group
        <input className={`${input} w-36`} list="group-options" value={filters.group} onChange={(e) => update({ group: e.target.value })} placeholder="all" />
        <datalist id="group-options">
          {groups.map((g) => (
            <option key={groupOf(g)} value={groupOf(g)} />
          ))}
        </datalist>
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Reviewed
        <select className={input} value={filters.review_status} onChange={(e) => update({ review_status: e.target.value })}>
          <option value="">all</option>
          <option value="reviewed">reviewed</option>
          <option value="unreviewed">not reviewed</option>
        </select>
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Status
        <select className={input} value={filters.status} onChange={(e) => update({ status: e.target.value })}>
          <option value="">all</option>
          <option value="scored">scored</option>
          <option value="queued">queued</option>
          <option value="scoring">scoring</option>
          <option value="failed">failed</option>
        </select>
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Uploaded from
        <input type="date" className={input} value={filters.from} onChange={(e) => update({ from: e.target.value })} />
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        to
        <input type="date" className={input} value={filters.to} onChange={(e) => update({ to: e.target.value })} />
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Order
        <select
          className={input}
          value={order}
          onChange={(e) => {
            const o = e.target.value as Order;
            if (o !== 'column') update({ sort: ORDERS[o].sort, dir: ORDERS[o].dir });
          }}
          data-testid="history-order"
        >
          {Object.entries(ORDERS).map(([k, o]) => (
            <option key={k} value={k}>
              {o.label}
            </option>
          ))}
          {order === 'column' && (
            <option value="column">
              By {SORT_LABELS[filters.sort]}, {filters.dir === 'asc' ? 'ascending' : 'descending'}
            </option>
          )}
        </select>
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Model id
        <input className={`${input} w-40`} value={filters.model_id} onChange={(e) => update({ model_id: e.target.value.trim() })} placeholder={shortId(config.model.id)} />
      </label>
      <button
        type="button"
        className={`${btnSecondary} ${btnSmall}`}
        onClick={() => {
          setSearchText('');
          navigate('/history', true);
        }}
      >
        Clear filters
      </button>
    </form>
  );
}
