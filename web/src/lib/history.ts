// The history page's filters: what the URL's query holds (/history?…), read and written back,
// and the list request they make. Pure functions (no React).

import type { ListParams } from '../api/client';

export const PAGE_SIZES = [25, 50, 100, 200, 500];
const SORTABLE = ['id', 'filename', 'serial', 'group', 'image_number', 'created_at', 'updated_at', 'status', 'review_status', 'uncertainty'] as const;
export type SortKey = (typeof SORTABLE)[number];

export const SORT_LABELS: Record<SortKey, string> = {
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
export type Order = 'newest' | 'least-confident' | 'most-confident' | 'column';

export const ORDERS: Record<Exclude<Order, 'column'>, { label: string; sort: SortKey; dir: 'asc' | 'desc' }> = {
  newest: { label: 'Newest first', sort: 'id', dir: 'desc' },
  // The server orders by the draft's spread under flips and rotation (docs/models.md).
  'least-confident': { label: 'Least confident first', sort: 'uncertainty', dir: 'desc' },
  'most-confident': { label: 'Most confident first', sort: 'uncertainty', dir: 'asc' },
};

export function orderOf(sort: SortKey, dir: 'asc' | 'desc'): Order {
  for (const [k, o] of Object.entries(ORDERS)) if (o.sort === sort && o.dir === dir) return k as Order;
  return 'column';
}

export interface Filters {
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
  /** History › Deleted: the deleted records, to restore them (no review panel there). */
  deleted: boolean;
}

export function readFilters(search: string): Filters {
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
    deleted: q.get('deleted') === '1' || q.get('deleted') === 'true',
  };
}

export function writeFilters(f: Filters): string {
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
  if (f.deleted) q.set('deleted', '1');
  const s = q.toString();
  return '/history' + (s ? `?${s}` : '');
}

/** A local calendar day as the ISO instant of its start (or its last millisecond). */
function dayToIso(day: string, end: boolean): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const d = new Date(`${day}T${end ? '23:59:59.999' : '00:00:00'}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function toParams(f: Filters): ListParams {
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
    deleted: f.deleted || undefined,
  };
}

/** Change some filters and go there (replacing the history entry); a new filter starts again at the first page. */
export type UpdateFilters = (patch: Partial<Filters>, resetOffset?: boolean) => void;

