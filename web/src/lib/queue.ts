// The upload queue as a pure state machine (reducer + selectors); React and the requests live
// in useUploadQueue. Each file goes
//
//   pending → uploading (progress) → scoring (server: queued / scoring) → done | failed
//
// with side exits: rejected (never sent: the client refused it), cancelled (by the user), back to
// pending when the server is busy (429/503 + Retry-After pauses the whole queue), and failed →
// pending again on Retry. Status after the upload comes from the server's records (events).

export type Stage = 'rejected' | 'pending' | 'uploading' | 'scoring' | 'done' | 'failed' | 'cancelled';

/** What the server said about an accepted upload. */
export type Outcome = 'new' | 'known' | 'duplicate';

export interface QueueError {
  code: string;
  message: string;
  httpStatus: number;
}

export interface QueueItem {
  key: number;
  /** The file's name as sent to the server. */
  name: string;
  /** Path inside a dropped folder (display only); equals name for single files. */
  path: string;
  size: number;
  stage: Stage;
  /** Upload progress 0..1 while uploading. */
  progress: number;
  /** A resumable upload of an earlier page went on from this share (0..1) of the file; else null. */
  resumedFrom: number | null;
  attempts: number;
  recordId: number | null;
  outcome: Outcome | null;
  /** While stage is scoring: the server's status (queued or scoring). */
  serverStatus: string | null;
  error: QueueError | null;
  /** A 409 filename_conflict: a different image is stored under this name. */
  conflictWith: number | null;
  /** A 409 deleted_duplicate: this image was deleted as this record; restoring it brings its scores back. */
  restoreId: number | null;
  /** Retry with ?on_conflict=keep_both. */
  keepBoth: boolean;
  /** Why a file was refused before upload (stage rejected). */
  rejectReason: string | null;
  /** When the server accepted it (ms since the epoch); kept in the batch (batch.ts) for 24 h. */
  uploadedAt: number | null;
  /** Rebuilt from the stored batch after a reload: the file itself is not here (no retry). */
  restored: boolean;
}

export interface QueueState {
  items: QueueItem[];
  /** How many uploads may run at once (1 = sequential, the default, like the original). */
  concurrency: number;
  /** The server asked us to wait (Retry-After) until this time (ms since epoch). */
  pausedUntil: number | null;
  nextKey: number;
}

export interface NewFile {
  name: string;
  path?: string;
  size: number;
  /** Set when the client refuses the file (unsupported extension, too large). */
  reject?: string | null;
  /** A key chosen by the caller (to map it to its File); must be ≥ state.nextKey. */
  key?: number;
}

/** The parts of a server record the queue needs. */
export interface RecordStatus {
  id: number;
  status: string;
  error?: string | null;
}

/** An upload of an earlier page (batch.ts). */
export interface RestoredEntry {
  id: number;
  name: string;
  path: string;
  size: number;
  at: number;
}

export type QueueAction =
  | { type: 'add'; files: NewFile[] }
  | { type: 'start'; key: number }
  | { type: 'progress'; key: number; loaded: number; total: number }
  /** The upload goes on from where an earlier page's stopped: the server had `offset` bytes. */
  | { type: 'resumed'; key: number; offset: number; total: number }
  | { type: 'uploaded'; key: number; httpStatus: number; record: RecordStatus & { filename: string }; now?: number }
  /** The stored batch after a reload: one item per record, its state asked from the server. */
  | { type: 'restore'; entries: RestoredEntry[] }
  /** The record is gone from the server (deleted): drop its restored item. */
  | { type: 'forget'; recordId: number }
  /** The deleted record this file matched was restored: the item is that record now. */
  | { type: 'attach'; key: number; record: RecordStatus; now: number }
  | {
      type: 'refused';
      key: number;
      httpStatus: number;
      code: string;
      message: string;
      retryAfterS?: number | null;
      existingId?: number | null;
      now: number;
    }
  | { type: 'record'; record: RecordStatus }
  | { type: 'retry'; key: number; keepBoth?: boolean }
  | { type: 'cancel'; key: number }
  | { type: 'cancelPending' }
  | { type: 'clearFinished' }
  | { type: 'setConcurrency'; concurrency: number }
  | { type: 'resume'; now: number };

export const MAX_CONCURRENCY = 8;
/** Used when the server says busy without a usable Retry-After. */
export const DEFAULT_RETRY_AFTER_S = 5;

export function initialQueue(concurrency = 1): QueueState {
  return { items: [], concurrency: clampConcurrency(concurrency), pausedUntil: null, nextKey: 1 };
}

function clampConcurrency(n: number): number {
  return Number.isFinite(n) ? Math.min(MAX_CONCURRENCY, Math.max(1, Math.round(n))) : 1;
}

function update(state: QueueState, key: number, f: (item: QueueItem) => QueueItem): QueueState {
  let changed = false;
  const items = state.items.map((it) => {
    if (it.key !== key) return it;
    const next = f(it);
    if (next !== it) changed = true;
    return next;
  });
  return changed ? { ...state, items } : state;
}

/** Where a record's server status puts an item that has been uploaded. */
function stageForRecord(status: string): Pick<QueueItem, 'stage' | 'serverStatus'> {
  switch (status) {
    case 'scored':
      return { stage: 'done', serverStatus: null };
    case 'failed':
      return { stage: 'failed', serverStatus: null };
    default:
      return { stage: 'scoring', serverStatus: status };
  }
}

export function queueReducer(state: QueueState, action: QueueAction): QueueState {
  switch (action.type) {
    case 'add': {
      let nextKey = state.nextKey;
      const added: QueueItem[] = action.files.map((f) => ({
        key: f.key != null && f.key >= nextKey ? (nextKey = f.key + 1) - 1 : nextKey++,
        name: f.name,
        path: f.path ?? f.name,
        size: f.size,
        stage: f.reject ? 'rejected' : 'pending',
        progress: 0,
        resumedFrom: null,
        attempts: 0,
        recordId: null,
        outcome: null,
        serverStatus: null,
        error: null,
        conflictWith: null,
        restoreId: null,
        keepBoth: false,
        rejectReason: f.reject ?? null,
        uploadedAt: null,
        restored: false,
      }));
      return { ...state, items: [...state.items, ...added], nextKey };
    }
    case 'restore': {
      const have = new Set(state.items.map((it) => it.recordId).filter((id) => id != null));
      let nextKey = state.nextKey;
      const added: QueueItem[] = [];
      for (const e of action.entries) {
        if (have.has(e.id)) continue;
        have.add(e.id);
        added.push({
          key: nextKey++,
          name: e.name,
          path: e.path || e.name,
          size: e.size,
          // Until the server says otherwise (the record's status moves it on).
          stage: 'scoring',
          progress: 1,
          resumedFrom: null,
          attempts: 1,
          recordId: e.id,
          outcome: null,
          serverStatus: null,
          error: null,
          conflictWith: null,
          restoreId: null,
          keepBoth: false,
          rejectReason: null,
          uploadedAt: e.at,
          restored: true,
        });
      }
      return added.length ? { ...state, items: [...added, ...state.items], nextKey } : state;
    }
    case 'attach':
      return update(state, action.key, (it) => {
        if (it.stage !== 'failed' || it.restoreId !== action.record.id) return it;
        return {
          ...it,
          ...stageForRecord(action.record.status),
          progress: 1,
          recordId: action.record.id,
          outcome: 'known',
          error: null,
          conflictWith: null,
          restoreId: null,
          uploadedAt: action.now,
        };
      });
    case 'forget': {
      const items = state.items.filter((it) => !(it.restored && it.recordId === action.recordId));
      return items.length === state.items.length ? state : { ...state, items };
    }
    case 'start':
      return update(state, action.key, (it) =>
        it.stage === 'pending' ? { ...it, stage: 'uploading', progress: 0, resumedFrom: null, attempts: it.attempts + 1, error: null } : it,
      );
    case 'resumed':
      return update(state, action.key, (it) => {
        if (it.stage !== 'uploading' || action.total <= 0) return it;
        const from = Math.min(1, Math.max(0, action.offset / action.total));
        return { ...it, resumedFrom: from, progress: Math.max(it.progress, from) };
      });
    case 'progress':
      return update(state, action.key, (it) => {
        if (it.stage !== 'uploading' || action.total <= 0) return it;
        const progress = Math.min(1, Math.max(0, action.loaded / action.total));
        return progress === it.progress ? it : { ...it, progress };
      });
    case 'uploaded': {
      const s = update(state, action.key, (it) => {
        if (it.stage !== 'uploading') return it;
        const outcome: Outcome =
          action.httpStatus === 201 ? 'new' : action.record.filename === it.name ? 'known' : 'duplicate';
        const next = stageForRecord(action.record.status);
        return {
          ...it,
          ...next,
          progress: 1,
          recordId: action.record.id,
          uploadedAt: action.now ?? it.uploadedAt,
          outcome,
          conflictWith: null,
          error:
            next.stage === 'failed'
              ? { code: 'scoring_failed', message: action.record.error || 'scoring failed', httpStatus: action.httpStatus }
              : null,
        };
      });
      if (s === state) return s;
      // The same record restored from an earlier page: this upload takes its place.
      const items = s.items.filter((it) => !(it.restored && it.recordId === action.record.id && it.key !== action.key));
      return items.length === s.items.length ? s : { ...s, items };
    }
    case 'refused': {
      const target = state.items.find((it) => it.key === action.key);
      if (!target || target.stage !== 'uploading') return state;
      if (action.httpStatus === 429 || action.httpStatus === 503) {
        const waitS = action.retryAfterS ?? DEFAULT_RETRY_AFTER_S;
        const until = action.now + waitS * 1000;
        const s = update(state, action.key, (it) => ({
          ...it,
          stage: 'pending',
          progress: 0,
          error: { code: action.code, message: action.message, httpStatus: action.httpStatus },
        }));
        return { ...s, pausedUntil: Math.max(state.pausedUntil ?? 0, until) };
      }
      if (action.code === 'aborted') {
        return update(state, action.key, (it) => ({ ...it, stage: 'cancelled', progress: 0, error: null }));
      }
      return update(state, action.key, (it) => ({
        ...it,
        stage: 'failed',
        error: { code: action.code, message: action.message, httpStatus: action.httpStatus },
        conflictWith: action.code === 'filename_conflict' ? (action.existingId ?? null) : null,
        restoreId: action.code === 'deleted_duplicate' ? (action.existingId ?? null) : null,
      }));
    }
    case 'record': {
      const r = action.record;
      let changed = false;
      const items = state.items.map((it) => {
        if (it.recordId !== r.id || (it.stage !== 'scoring' && it.stage !== 'done' && it.stage !== 'failed')) return it;
        const next = stageForRecord(r.status);
        const error =
          next.stage === 'failed' ? { code: 'scoring_failed', message: r.error || 'scoring failed', httpStatus: 200 } : null;
        if (it.stage === next.stage && it.serverStatus === next.serverStatus && (it.error?.message ?? null) === (error?.message ?? null)) {
          return it;
        }
        changed = true;
        return { ...it, ...next, error };
      });
      return changed ? { ...state, items } : state;
    }
    case 'retry':
      return update(state, action.key, (it) => {
        if ((it.stage !== 'failed' && it.stage !== 'cancelled') || it.restored) return it;
        return {
          ...it,
          stage: 'pending',
          progress: 0,
          error: null,
          recordId: null,
          outcome: null,
          serverStatus: null,
          conflictWith: null,
          restoreId: null,
          keepBoth: action.keepBoth ?? it.keepBoth,
        };
      });
    case 'cancel':
      return update(state, action.key, (it) => (it.stage === 'pending' ? { ...it, stage: 'cancelled', error: null } : it));
    case 'cancelPending': {
      if (!state.items.some((it) => it.stage === 'pending')) return state;
      return {
        ...state,
        items: state.items.map((it) => (it.stage === 'pending' ? { ...it, stage: 'cancelled', error: null } : it)),
      };
    }
    case 'clearFinished': {
      // A restored item that failed cannot be retried here (its file is not here): it goes too.
      const items = state.items.filter((it) => it.stage !== 'done' && it.stage !== 'cancelled' && it.stage !== 'rejected' && !(it.restored && it.stage === 'failed'));
      return items.length === state.items.length ? state : { ...state, items };
    }
    case 'setConcurrency':
      return { ...state, concurrency: clampConcurrency(action.concurrency) };
    case 'resume':
      return state.pausedUntil != null && action.now >= state.pausedUntil ? { ...state, pausedUntil: null } : state;
  }
}

/** The keys to start now: pending items in order, up to the free upload slots, none while paused. */
export function startable(state: QueueState, now: number): number[] {
  if (state.pausedUntil != null && now < state.pausedUntil) return [];
  const running = state.items.filter((it) => it.stage === 'uploading').length;
  const free = state.concurrency - running;
  if (free <= 0) return [];
  return state.items
    .filter((it) => it.stage === 'pending')
    .slice(0, free)
    .map((it) => it.key);
}

export interface QueueCounts {
  total: number;
  rejected: number;
  pending: number;
  uploading: number;
  scoring: number;
  done: number;
  failed: number;
  cancelled: number;
}

export function counts(state: QueueState): QueueCounts {
  const c: QueueCounts = { total: 0, rejected: 0, pending: 0, uploading: 0, scoring: 0, done: 0, failed: 0, cancelled: 0 };
  for (const it of state.items) {
    c.total++;
    c[it.stage]++;
  }
  return c;
}

/** True while anything is still moving (waiting, uploading or being scored). */
export function isBusy(state: QueueState): boolean {
  return state.items.some((it) => it.stage === 'pending' || it.stage === 'uploading' || it.stage === 'scoring');
}

/** Record ids the queue is waiting on (to refetch after the event stream reconnects). */
export function awaitedRecordIds(state: QueueState): number[] {
  return state.items.filter((it) => it.stage === 'scoring' && it.recordId != null).map((it) => it.recordId as number);
}
