import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { imageUrls, listImages, listModels, rescore, type ListParams } from '../api/client';
import { groupOf, type ImageList, type ImageRecord, type ModelEntry } from '../api/types';
import { ReviewPanel } from '../components/ReviewPanel';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, Icon, input, Spinner } from '../components/ui';
import { errorMessage, formatDateTime, shortId } from '../lib/format';
import { useConfig } from '../lib/config';
import { onImageEvent, onResync } from '../lib/events';
import { getEntry, useRecordsVersion } from '../lib/records';
import { navigate, useLocation } from '../lib/router';
import { formatScore, totalScore } from '../lib/scores';
import { formatUncertainty, UNCERTAINTY_HELP } from '../lib/drafts';
import { modelErrorMessage, modelTitle } from '../lib/models';
import { isAdmin } from '../lib/roles';
import { useSession } from '../lib/session';
import { useQuery } from '../lib/useQuery';

const PAGE_SIZES = [25, 50, 100, 200, 500];
const SORTABLE = ['id', 'filename', 'serial', 'group', 'image_number', 'created_at', 'updated_at', 'status', 'review_status', 'uncertainty'] as const;
type SortKey = (typeof SORTABLE)[number];

const SORT_LABELS: Record<SortKey, string> = {
  id: 'ID',
  filename: 'File',
  serial: 'Serial',
  group: 'Group',
  image_number: 'Image no.',
  created_at: 'Uploaded',
  updated_at: 'Last change',
  status: 'Status',
  review_status: 'Review status',
  uncertainty: 'Uncertainty',
};

/** The "Order" choices; `column` stands for whatever a column header set. */
type Order = 'newest' | 'least-confident' | 'most-confident' | 'column';

const ORDERS: Record<Exclude<Order, 'column'>, { label: string; sort: SortKey; dir: 'asc' | 'desc' }> = {
  newest: { label: 'Newest first', sort: 'id', dir: 'desc' },
  // The server orders by the draft's spread under flips and rotation (docs/models.md).
  'least-confident': { label: 'Least confident first', sort: 'uncertainty', dir: 'desc' },
  'most-confident': { label: 'Most confident first', sort: 'uncertainty', dir: 'asc' },
};

function orderOf(sort: SortKey, dir: 'asc' | 'desc'): Order {
  for (const [k, o] of Object.entries(ORDERS)) if (o.sort === sort && o.dir === dir) return k as Order;
  return 'column';
}

interface Filters {
  search: string;
  group: string;
  status: string;
  review_status: string;
  from: string; // yyyy-mm-dd (local)
  to: string;
  model_id: string;
  sort: SortKey;
  dir: 'asc' | 'desc';
  limit: number;
  offset: number;
  open: number | null;
}

function readFilters(search: string): Filters {
  const q = new URLSearchParams(search);
  const sort = q.get('sort') as SortKey | null;
  const limit = Number(q.get('limit'));
  const open = Number(q.get('open'));
  return {
    search: q.get('search') ?? '',
    group: q.get('group') ?? '',
    status: q.get('status') ?? '',
    review_status: q.get('review_status') ?? '',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    model_id: q.get('model_id') ?? '',
    sort: sort && (SORTABLE as readonly string[]).includes(sort) ? sort : 'id',
    dir: q.get('dir') === 'asc' ? 'asc' : 'desc',
    limit: PAGE_SIZES.includes(limit) ? limit : 50,
    offset: Math.max(0, Number(q.get('offset')) || 0),
    open: Number.isInteger(open) && open > 0 ? open : null,
  };
}

function writeFilters(f: Filters): string {
  const q = new URLSearchParams();
  if (f.search) q.set('search', f.search);
  if (f.group) q.set('group', f.group);
  if (f.status) q.set('status', f.status);
  if (f.review_status) q.set('review_status', f.review_status);
  if (f.from) q.set('from', f.from);
  if (f.to) q.set('to', f.to);
  if (f.model_id) q.set('model_id', f.model_id);
  if (f.sort !== 'id') q.set('sort', f.sort);
  if (f.dir !== 'desc') q.set('dir', f.dir);
  if (f.limit !== 50) q.set('limit', String(f.limit));
  if (f.offset) q.set('offset', String(f.offset));
  if (f.open) q.set('open', String(f.open));
  const s = q.toString();
  return '/history' + (s ? `?${s}` : '');
}

/** A local calendar day as the ISO instant of its start (or its last millisecond). */
function dayToIso(day: string, end: boolean): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const d = new Date(`${day}T${end ? '23:59:59.999' : '00:00:00'}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function toParams(f: Filters): ListParams {
  return {
    search: f.search || undefined,
    group: f.group || undefined,
    status: f.status || undefined,
    review_status: f.review_status || undefined,
    created_from: dayToIso(f.from, false),
    created_to: dayToIso(f.to, true),
    model_id: f.model_id || undefined,
    sort: f.sort,
    dir: f.dir,
    limit: f.limit,
    offset: f.offset,
  };
}

export function HistoryPage() {
  const config = useConfig();
  const { user } = useSession();
  /** Administrators tick records to re-score them with another model. */
  const selectable = isAdmin(user.role);
  const [selected, setSelected] = useState<ReadonlySet<number>>(() => new Set());
  const { search } = useLocation();
  const filters = useMemo(() => readFilters(search), [search]);
  const [searchText, setSearchText] = useState(filters.search);
  useRecordsVersion(); // rows follow edits made in the side panel

  const update = useCallback(
    (patch: Partial<Filters>, resetOffset = true) => {
      const next = { ...filters, ...patch };
      if (resetOffset && !('offset' in patch)) next.offset = 0;
      navigate(writeFilters(next), true);
    },
    [filters],
  );

  // Debounced search box.
  useEffect(() => {
    if (searchText === filters.search) return;
    const t = setTimeout(() => update({ search: searchText }), 300);
    return () => clearTimeout(t);
  }, [searchText, filters.search, update]);

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
  const total = data?.total ?? 0;
  const page = Math.floor(filters.offset / filters.limit) + 1;
  const pages = Math.max(1, Math.ceil(total / filters.limit));

  const onNext = (fromId: number) => {
    const start = items.findIndex((r) => r.id === fromId);
    for (let k = 1; k <= items.length; k++) {
      const r = items[(start + k) % items.length];
      if (!r || r.id === fromId) continue;
      const e = getEntry(r.id);
      const current = e && e.record.version > r.version ? e.record : r;
      if (current.review_status !== 'reviewed') {
        update({ open: r.id }, false);
        return true;
      }
    }
    return false;
  };

  const sortBy = (key: SortKey) => {
    if (filters.sort === key) update({ dir: filters.dir === 'asc' ? 'desc' : 'asc' });
    else update({ sort: key, dir: key === 'id' || key === 'uncertainty' || key.endsWith('_at') ? 'desc' : 'asc' });
  };
  const order = orderOf(filters.sort, filters.dir);

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

  const groups = data?.groups ?? [];
  // With the review panel open, fewer columns (group and upload time are in the panel).
  const compact = filters.open != null;

  return (
    <div className={`grid h-full ${filters.open ? 'grid-cols-[minmax(0,1fr)_minmax(26rem,32rem)] xl:grid-cols-[minmax(0,1fr)_36rem] 2xl:grid-cols-[minmax(0,1fr)_44rem]' : 'grid-cols-1'}`}>
      <div className="flex min-h-0 flex-col gap-4 overflow-y-auto p-6">
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

        <form className={`${card} flex flex-wrap items-end gap-3 p-4`} role="search" aria-label="Filter records" onSubmit={(e) => e.preventDefault()}>
          <label className="flex min-w-56 flex-1 flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
            Search (file name, serial)
            <input type="search" className={input} value={searchText} onChange={(e) => setSearchText(e.target.value)} placeholder="e.g. S-3602" data-testid="history-search" />
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

        {error !== undefined && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            The records could not be loaded: {errorMessage(error)}{' '}
            <button className="underline" onClick={refetch}>
              Try again
            </button>
          </p>
        )}

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
          {selectable && <RescoreBar selected={selected} offPage={selected.size - selectedOnPage} onClear={() => setSelected(new Set())} />}
          <div className="overflow-x-auto">
            <table className="w-full text-sm" data-testid="history-table">
              <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900 dark:text-slate-400">
                <tr>
                  {selectable && (
                    <th scope="col" className="py-2 pr-1 pl-3">
                      <PageCheckbox checked={onPage.length > 0 && selectedOnPage === onPage.length} mixed={selectedOnPage > 0 && selectedOnPage < onPage.length} disabled={onPage.length === 0} onChange={togglePage} />
                    </th>
                  )}
                  {!compact && (
                    <th scope="col" className="px-3 py-2">
                      <span className="sr-only">Thumbnail</span>
                    </th>
                  )}
                  <SortHeader k="id" label="ID" filters={filters} onSort={sortBy} />
                  <SortHeader k="filename" label="File" filters={filters} onSort={sortBy} />
                  <SortHeader k="serial" label="Serial" filters={filters} onSort={sortBy} />
                  {!compact && <SortHeader k="group" label="Group" filters={filters} onSort={sortBy} />}
                  {!compact && <SortHeader k="status" label="Status" filters={filters} onSort={sortBy} />}
                  <SortHeader k="review_status" label={compact ? '✓' : 'Reviewed'} filters={filters} onSort={sortBy} />
                  {config.schema.metrics.map((m) => (
                    <th key={m.name} scope="col" className={`${compact ? 'max-w-24' : 'max-w-28'} px-2 py-2 text-right leading-tight`} title={`${m.name}: current (AI draft when corrected)`}>
                      {m.name}
                    </th>
                  ))}
                  <th scope="col" className="px-3 py-2 text-right">
                    Total
                  </th>
                  {!compact && <SortHeader k="updated_at" label="Last change" filters={filters} onSort={sortBy} />}
                  {!compact && <SortHeader k="created_at" label="Uploaded" filters={filters} onSort={sortBy} />}
                </tr>
              </thead>
              <tbody>
                {items.map((r0) => {
                  const e = getEntry(r0.id);
                  const r = e && e.record.version > r0.version ? e.record : r0;
                  return (
                    <Row
                      key={r.id}
                      r={r}
                      compact={compact}
                      selected={filters.open === r.id}
                      onOpen={() => update({ open: r.id }, false)}
                      checked={selectable ? selected.has(r.id) : null}
                      onCheck={(on) => toggle(r.id, on)}
                      showSpread={filters.sort === 'uncertainty'}
                    />
                  );
                })}
                {!loading && items.length === 0 && (
                  <tr>
                    <td colSpan={11 + config.schema.metrics.length} className="px-3 py-8 text-center text-slate-500 dark:text-slate-400">
                      No records match.
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

        <GroupSummary list={data ?? null} />
      </div>
      {filters.open && (
        <div className="min-h-0 overflow-y-auto border-l border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900/60">
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

function SortHeader({ k, label, filters, onSort }: { k: SortKey; label: string; filters: Filters; onSort: (k: SortKey) => void }) {
  const active = filters.sort === k;
  return (
    <th scope="col" className="px-3 py-2" aria-sort={active ? (filters.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="inline-flex items-center gap-1 uppercase hover:text-slate-900 dark:hover:text-white" onClick={() => onSort(k)}>
        {label}
        <span aria-hidden className={active ? '' : 'opacity-30'}>
          {active && filters.dir === 'asc' ? '▲' : '▼'}
        </span>
      </button>
    </th>
  );
}

function Row({
  r,
  selected,
  compact,
  onOpen,
  checked,
  onCheck,
  showSpread,
}: {
  r: ImageRecord;
  selected: boolean;
  compact: boolean;
  onOpen: () => void;
  /** null: no selection column (not an administrator). */
  checked: boolean | null;
  onCheck: (on: boolean) => void;
  /** Show each AI draft's ± beside the values (ordered by uncertainty). */
  showSpread: boolean;
}) {
  const { schema } = useConfig();
  const total = totalScore(r.scores, schema);
  return (
    <tr
      className={`cursor-pointer border-t border-slate-100 hover:bg-slate-50 dark:border-slate-800 dark:hover:bg-slate-800/50 ${selected ? 'bg-indigo-50 dark:bg-indigo-950/40' : ''}`}
      onClick={onOpen}
      data-testid="history-row"
      data-record-id={r.id}
      aria-selected={selected}
    >
      {checked != null && (
        <td className="py-1.5 pr-1 pl-3" onClick={(e) => e.stopPropagation()}>
          <input
            type="checkbox"
            className="size-4 cursor-pointer accent-indigo-600"
            checked={checked}
            onChange={(e) => onCheck(e.target.checked)}
            aria-label={`Select ${r.filename}`}
            data-testid="history-select"
          />
        </td>
      )}
      {!compact && (
        <td className="px-3 py-1.5">
          <img src={imageUrls(r.id).thumbnail} alt="" loading="lazy" className="size-9 rounded bg-slate-200 object-cover dark:bg-slate-800" onError={(e) => (e.currentTarget.style.visibility = 'hidden')} />
        </td>
      )}
      <td className="px-3 py-1.5 tabular-nums text-slate-500 dark:text-slate-400">{r.id}</td>
      <td className={`${compact ? 'max-w-48' : 'max-w-72'} px-3 py-1.5`}>
        <button
          type="button"
          className="block max-w-full truncate text-left font-medium text-indigo-700 hover:underline dark:text-indigo-300"
          onClick={(e) => {
            e.stopPropagation();
            onOpen();
          }}
          title={r.filename}
        >
          {r.filename}
        </button>
        {compact && r.status !== 'scored' && (
          <Badge tone={r.status === 'failed' ? 'red' : 'violet'} title={r.error ?? undefined}>
            {r.status}
          </Badge>
        )}
      </td>
      <td className="px-3 py-1.5 whitespace-nowrap">{r.serial ?? '–'}</td>
      {!compact && <td className="px-3 py-1.5 whitespace-nowrap">{groupOf(r) || '–'}</td>}
      {!compact && (
        <td className="px-3 py-1.5">
          <Badge tone={r.status === 'scored' ? 'green' : r.status === 'failed' ? 'red' : 'violet'} title={r.error ?? undefined}>
            {r.status}
          </Badge>
        </td>
      )}
      <td className="px-3 py-1.5">
        {r.review_status === 'reviewed' ? (
          compact ? (
            <span className="text-green-700 dark:text-green-400" title="reviewed">
              ✓<span className="sr-only"> reviewed</span>
            </span>
          ) : (
            <Badge tone="green">✓ reviewed</Badge>
          )
        ) : (
          <span className="text-slate-500 dark:text-slate-400" title="not reviewed">
            –
          </span>
        )}
      </td>
      {schema.metrics.map((m) => {
        const v = r.scores[m.name];
        const ai = r.draft?.rounded[m.name];
        const corrected = v != null && ai != null && Math.abs(v - ai) > 1e-9;
        const spread = showSpread ? formatUncertainty(r.draft?.uncertainty?.[m.name]) : '';
        return (
          <td key={m.name} className="px-2 py-1.5 text-right tabular-nums whitespace-nowrap" data-metric={m.name}>
            <span className={corrected ? 'font-semibold text-amber-800 dark:text-amber-300' : ''}>{formatScore(v, schema.step)}</span>
            {corrected && <span className="ml-1 text-xs text-slate-600 dark:text-slate-400">({formatScore(ai, schema.step)})</span>}
            {spread && (
              <span className="block text-xs text-slate-600 dark:text-slate-400" title={`AI draft: ${UNCERTAINTY_HELP}`} data-testid="row-uncertainty">
                {spread}
              </span>
            )}
          </td>
        );
      })}
      <td className="px-3 py-1.5 text-right font-semibold tabular-nums">{formatScore(total, schema.step)}</td>
      {!compact && (
        <td className="px-3 py-1.5 whitespace-nowrap text-slate-500 dark:text-slate-400">
          {formatDateTime(r.updated_at)} <span className="text-xs">· {r.updated_by}</span>
        </td>
      )}
      {!compact && <td className="px-3 py-1.5 whitespace-nowrap text-slate-500 dark:text-slate-400">{formatDateTime(r.created_at)}</td>}
    </tr>
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

/**
 * The selected records' actions (administrators): re-score them with any registered model
 * (POST /api/rescore). The models load when a record is ticked (again after the selection was cleared).
 */
function RescoreBar({ selected, offPage, onClear }: { selected: ReadonlySet<number>; offPage: number; onClear: () => void }) {
  const count = selected.size;
  const [modelId, setModelId] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ tone: 'error' | 'ok'; text: string } | null>(null);
  const wanted = count > 0;
  const { data: models, error: loadError, loading, refetch } = useQuery(wanted ? 'models' : null, listModels);

  const chosen = models?.find((m) => m.id === modelId) ?? null;
  const optionLabel = (m: ModelEntry) => `${m.name?.trim() ? `${m.name.trim()} · ${shortId(m.id)}` : shortId(m.id)}${m.active ? ' (active)' : ''}`;

  const submit = async () => {
    if (!chosen || count === 0) return;
    const ids = [...selected].sort((a, b) => a - b);
    setBusy(true);
    setMessage(null);
    try {
      const { queued, skipped } = await rescore(ids, chosen.id);
      const of = queued !== ids.length ? ` (of the ${ids.length} selected)` : '';
      const notQueued = (skipped ?? []).slice(0, 5).map((k) => `${k.id}: ${k.reason}`);
      const more = (skipped?.length ?? 0) > notQueued.length ? `, and ${(skipped?.length ?? 0) - notQueued.length} more` : '';
      setMessage({
        tone: 'ok',
        text:
          `${queued} ${queued === 1 ? 'image' : 'images'} queued${of} for re-scoring with ${modelTitle(chosen)}. The new drafts appear as they finish; scores a person set stay.` +
          (notQueued.length ? ` Not queued: ${notQueued.join('; ')}${more}.` : ''),
      });
      onClear();
    } catch (e) {
      setMessage({ tone: 'error', text: `Not queued. ${modelErrorMessage(e, 'rescore')}` });
    } finally {
      setBusy(false);
    }
  };

  if (!wanted && !message) return null;
  return (
    <div className="flex flex-wrap items-end gap-3 border-b border-slate-200 bg-slate-50 px-4 py-3 text-sm dark:border-slate-800 dark:bg-slate-900" role="region" aria-label="Selected records" data-testid="rescore-bar">
      {wanted && (
        <>
          <span className="self-center font-medium" aria-live="polite" data-testid="selected-count">
            {count} selected{offPage > 0 ? ` (${offPage} on other pages)` : ''}
          </span>
          <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
            Re-score with
            <select className={`${input} max-w-72`} value={modelId} onChange={(e) => setModelId(e.target.value)} disabled={!models} data-testid="rescore-model">
              <option value="">{models ? 'Choose a model…' : 'Loading models…'}</option>
              {(models ?? []).map((m) => (
                <option key={m.id} value={m.id}>
                  {optionLabel(m)}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className={btnPrimary} disabled={!chosen || busy} onClick={() => void submit()} data-testid="rescore-submit">
            {busy && <Spinner />} {chosen ? `Re-score with ${modelTitle(chosen)}` : 'Re-score with…'}
          </button>
          <button type="button" className={`${btnSecondary} ${btnSmall} self-center`} onClick={onClear}>
            Clear selection
          </button>
          {loadError !== undefined && !loading && (
            <p role="alert" className="w-full text-red-700 dark:text-red-400">
              The models could not be loaded: {modelErrorMessage(loadError, 'load')}{' '}
              <button className="underline" onClick={refetch}>
                Try again
              </button>
            </p>
          )}
        </>
      )}
      {message && (
        <p role={message.tone === 'error' ? 'alert' : 'status'} className={`w-full ${message.tone === 'error' ? 'text-red-700 dark:text-red-400' : 'text-green-700 dark:text-green-400'}`} data-testid="rescore-message">
          {message.text}
          {message.tone === 'ok' && (
            <button type="button" className="ml-2 underline" onClick={() => setMessage(null)}>
              Dismiss
            </button>
          )}
        </p>
      )}
    </div>
  );
}

function Pagination({
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
  update: (p: Partial<Filters>, reset?: boolean) => void;
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

function GroupSummary({ list }: { list: ImageList | null }) {
  const { schema } = useConfig();
  const groups = list?.groups ?? [];
  return (
    <section className={card} aria-labelledby="groups-title" data-testid="group-summary">
      <h2 id="groups-title" className="border-b border-slate-200 px-4 py-3 font-semibold dark:border-slate-800">
        Per-group summary <span className="text-sm font-normal text-slate-500 dark:text-slate-400">(records matching the filters; mean of current scores)</span>
      </h2>
      {groups.length === 0 ? (
        <p className="px-4 py-4 text-sm text-slate-500 dark:text-slate-400">No groups.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <thead className="text-left text-xs uppercase tracking-wide text-slate-500 dark:text-slate-400">
              <tr>
                <th scope="col" className="px-4 py-2">
                  Group
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Images
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Reviewed
                </th>
                {schema.metrics.map((m) => (
                  <th key={m.name} scope="col" className="px-3 py-2 text-right">
                    {m.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={groupOf(g)} className="border-t border-slate-100 dark:border-slate-800">
                  <th scope="row" className="px-4 py-1.5 text-left font-medium whitespace-nowrap">
                    {groupOf(g) || '–'}
                  </th>
                  <td className="px-3 py-1.5 text-right tabular-nums">{g.count}</td>
                  <td className="px-3 py-1.5 text-right tabular-nums">{g.reviewed ?? '–'}</td>
                  {schema.metrics.map((m) => {
                    const v = g.means?.[m.name];
                    return (
                      <td key={m.name} className="px-3 py-1.5 text-right tabular-nums">
                        {v == null ? '–' : v.toFixed(2)}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
