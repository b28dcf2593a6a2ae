import { PAGE_SIZES, type Filters, type UpdateFilters } from '../../lib/history';
import { btnSecondary, btnSmall, input } from '../ui';

export function Pagination({
  filters,
  total,
  page,
  pages,
  update,
}: {
  filters: Filters;
  total: number;
  page: number;
  pages: number;
  update: UpdateFilters;
}) {
  const go = (p: number) => update({ offset: (Math.min(pages, Math.max(1, p)) - 1) * filters.limit }, false);
  const from = total === 0 ? 0 : filters.offset + 1;
  const to = Math.min(total, filters.offset + filters.limit);
  return (
    <nav className="flex flex-wrap items-center gap-2 text-sm" aria-label="Pages of records">
      <span className="text-slate-500 dark:text-slate-400">
        {from.toLocaleString()}–{to.toLocaleString()} of {total.toLocaleString()}
      </span>
      <button className={`${btnSecondary} ${btnSmall}`} onClick={() => go(1)} disabled={page <= 1} aria-label="First page">
        «
      </button>
      <button className={`${btnSecondary} ${btnSmall}`} onClick={() => go(page - 1)} disabled={page <= 1} aria-label="Previous page">
        ‹ Prev
      </button>
      <label className="flex items-center gap-1">
        <span className="sr-only">Page</span>
        <input
          key={page}
          className={`${input} w-16 py-0.5 text-center`}
          defaultValue={page}
          inputMode="numeric"
          aria-label={`Page (of ${pages})`}
          onKeyDown={(e) => {
            if (e.key === 'Enter') go(Number(e.currentTarget.value) || 1);
          }}
          onBlur={(e) => {
            const n = Number(e.currentTarget.value);
            if (n && n !== page) go(n);
          }}
        />
        <span className="text-slate-500 dark:text-slate-400">/ {pages.toLocaleString()}</span>
      </label>
      <button className={`${btnSecondary} ${btnSmall}`} onClick={() => go(page + 1)} disabled={page >= pages} aria-label="Next page">
        Next ›
      </button>
      <button className={`${btnSecondary} ${btnSmall}`} onClick={() => go(pages)} disabled={page >= pages} aria-label="Last page">
        »
      </button>
      <label className="flex items-center gap-1 text-slate-500 dark:text-slate-400">
        per page
        <select className={`${input} py-0.5`} value={filters.limit} onChange={(e) => update({ limit: Number(e.target.value) })}>
          {PAGE_SIZES.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </label>
    </nav>
  );
}
