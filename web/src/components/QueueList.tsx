import { imageUrls } from '../api/client';
import { useConfig } from '../lib/config';
import { formatBytes, isSlideFileName } from '../lib/files';
import { plainErrorFrom, plainErrorText } from '../lib/errors';
import { middleTruncate } from '../lib/text';
import { counts, MAX_CONCURRENCY, type QueueItem } from '../lib/queue';
import { useRecord } from '../lib/records';
import { formatScore, totalScore } from '../lib/scores';
import { fieldProgressText, isSlide, progressOf, progressPercent } from '../lib/slides';
import type { UploadQueue } from '../lib/useUploadQueue';
import { Badge, btnGhost, btnPrimary, btnSecondary, btnSmall, card, Icon, Spinner, type Tone } from './ui';
import { memo, useEffect, useState } from 'react';

export function QueueList({
  queue,
  selectedId,
  onSelect,
}: {
  queue: UploadQueue;
  selectedId: number | null;
  onSelect: (id: number, item: QueueItem) => void;
}) {
  const { state } = queue;
  const c = counts(state);
  if (state.items.length === 0) return null;
  return (
    <section className={card} aria-labelledby="queue-title">
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-5 py-4 dark:border-slate-800">
        <div className="mr-auto">
          <h2 id="queue-title" className="text-lg font-semibold">
            Processing queue ({c.total} {c.total === 1 ? 'file' : 'files'})
          </h2>
          <p className="text-sm text-slate-500 dark:text-slate-400" aria-live="polite" data-testid="queue-summary">
            {[
              c.done && `${c.done} done`,
              c.uploading && `${c.uploading} uploading`,
              c.scoring && `${c.scoring} scoring`,
              c.pending && `${c.pending} pending`,
              c.failed && `${c.failed} failed`,
              c.rejected && `${c.rejected} rejected`,
              c.cancelled && `${c.cancelled} cancelled`,
            ]
              .filter(Boolean)
              .join(' · ')}
          </p>
        </div>
        <PausedNote until={state.pausedUntil} />
        <label className="flex items-center gap-2 text-sm">
          Parallel uploads
          <select
            className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
            value={state.concurrency}
            onChange={(e) => queue.setConcurrency(Number(e.target.value))}
          >
            {Array.from({ length: MAX_CONCURRENCY }, (_, i) => i + 1).map((n) => (
              <option key={n} value={n}>
                {n === 1 ? '1 (sequential)' : n}
              </option>
            ))}
          </select>
        </label>
        <button className={`${btnSecondary} ${btnSmall}`} onClick={queue.cancelPending} disabled={c.pending === 0}>
          Cancel pending
        </button>
        <button className={`${btnSecondary} ${btnSmall}`} onClick={queue.clearFinished} disabled={c.done + c.cancelled + c.rejected === 0}>
          Clear finished
        </button>
      </div>
      <ul className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="queue">
        {state.items.map((it) => (
          <QueueRow
            key={it.key}
            item={it}
            onRetry={queue.retry}
            onRestore={queue.restoreDeleted}
            onCancel={queue.cancel}
            selected={it.recordId != null && it.recordId === selectedId}
            onSelect={onSelect}
          />
        ))}
      </ul>
    </section>
  );
}

function PausedNote({ until }: { until: number | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (until == null) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [until]);
  if (until == null || until <= now) return null;
  return (
    <Badge tone="amber">
      Server busy — resuming in {Math.ceil((until - now) / 1000)} s
    </Badge>
  );
}

const stageLabel: Record<QueueItem['stage'], [string, Tone]> = {
  rejected: ['Rejected', 'red'],
  pending: ['Pending', 'slate'],
  uploading: ['Uploading', 'blue'],
  scoring: ['Scoring', 'violet'],
  done: ['Done', 'green'],
  failed: ['Failed', 'red'],
  cancelled: ['Cancelled', 'slate'],
};

// Rows re-render only when their item (or selection) changes: queues can be long.
const QueueRow = memo(function QueueRow({
  item,
  onRetry,
  onRestore,
  onCancel,
  selected,
  onSelect,
}: {
  item: QueueItem;
  onRetry: (key: number, keepBoth?: boolean) => void;
  onRestore: (key: number) => Promise<void>;
  onCancel: (key: number) => void;
  selected: boolean;
  onSelect: (id: number, item: QueueItem) => void;
}) {
  const config = useConfig();
  const [restoring, setRestoring] = useState(false);
  const entry = useRecord(item.recordId);
  const record = entry?.record;
  const [label, tone] = stageLabel[item.stage];
  const pct = Math.round(item.progress * 100);
  const total = record && record.status === 'scored' ? totalScore(record.scores, config.schema) : null;
  const selectable = item.recordId != null;
  const slide = record ? isSlide(record) : isSlideFileName(item.name);
  // A slide counts its fields while they are scored (record and events).
  const fields = item.stage === 'scoring' && record ? progressOf(record) : null;
  const fieldsText = fields && record ? fieldProgressText(record.status, fields) : null;
  // An upload of an earlier page going on from where it stopped.
  const resumedPct = item.resumedFrom == null ? null : Math.round(item.resumedFrom * 100);
  let badge = label;
  if (item.stage === 'uploading') badge = resumedPct != null && pct <= resumedPct ? `Resuming from ${resumedPct}%` : `Uploading ${pct}%`;
  if (item.stage === 'scoring') badge = fieldsText ?? (item.serverStatus === 'queued' ? 'Queued for scoring' : 'Scoring…');
  if (item.stage === 'pending' && item.error) badge = 'Waiting (server busy)';

  const main = (
    <div className="flex min-w-0 flex-1 items-center gap-4">
      <Thumb id={record?.status === 'scored' ? item.recordId : null} />
      <div className="min-w-0 flex-1">
        <div className="flex flex-wrap items-center gap-2">
          <span className="min-w-0 truncate font-medium" title={item.path}>
            {middleTruncate(item.name, 34)}
          </span>
          {slide && (
            <Badge tone="slate" title="A whole-slide image: scored field by field">
              <span data-testid="slide-badge">slide</span>
            </Badge>
          )}
          <Badge tone={tone}>
            {(item.stage === 'uploading' || (item.stage === 'scoring' && !fieldsText)) && <Spinner />}
            <span data-testid="stage">{badge}</span>
          </Badge>
          {item.outcome === 'known' && <Badge tone="blue">Already scored — saved scores</Badge>}
          {item.outcome === 'duplicate' && record && (
            <Badge tone="amber" title="The same image content is already stored under another name">
              Same image as {record.filename}
            </Badge>
          )}
          {record?.review_status === 'reviewed' && <Badge tone="green">Reviewed ✓</Badge>}
        </div>
        <div className="text-sm text-slate-500 dark:text-slate-400">
          {formatBytes(item.size)}
          {item.path !== item.name && <span className="ml-2 truncate">· {middleTruncate(item.path, 40)}</span>}
          {resumedPct != null && (
            <span className="ml-2" data-testid="resumed-note" title="The part sent before was kept by the server: only the rest was sent">
              · resumed from {resumedPct}%
            </span>
          )}
          {item.restored && item.uploadedAt != null && <span className="ml-2">· uploaded {new Date(item.uploadedAt).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}</span>}
        </div>
        {item.stage === 'uploading' && (
          <div
            className="mt-1.5 h-1.5 w-full max-w-md overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
            role="progressbar"
            aria-label={`Uploading ${item.name}`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
          >
            <div className="h-full bg-blue-500 transition-[width]" style={{ width: `${pct}%` }} />
          </div>
        )}
        {fields && fieldsText && (
          <div
            className="mt-1.5 h-1.5 w-full max-w-md overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
            role="progressbar"
            aria-label={`Fields of ${item.name} scored`}
            aria-valuemin={0}
            aria-valuemax={fields.total}
            aria-valuenow={fields.done}
            aria-valuetext={fieldsText}
            data-testid="field-progress"
          >
            <div className="h-full bg-violet-500 transition-[width]" style={{ width: `${progressPercent(fields)}%` }} />
          </div>
        )}
        {item.stage === 'rejected' && (
          <p className="mt-1 text-sm text-red-700 dark:text-red-400" data-testid="reason">
            {item.rejectReason}
          </p>
        )}
        {item.error && (item.stage === 'failed' || item.stage === 'pending') && <ErrorReason error={item.error} />}
      </div>
    </div>
  );

  return (
    <li
      className={`flex items-center gap-3 px-5 py-3 ${selected ? 'bg-indigo-50 dark:bg-indigo-950/40' : ''}`}
      data-testid="queue-item"
      data-stage={item.stage}
      data-filename={item.name}
    >
      {selectable ? (
        <button
          type="button"
          className="flex min-w-0 flex-1 rounded-md text-left"
          onClick={() => onSelect(item.recordId as number, item)}
          aria-current={selected ? 'true' : undefined}
          aria-label={`Review ${item.name}`}
        >
          {main}
        </button>
      ) : (
        main
      )}
      <div className="flex shrink-0 flex-col items-end gap-1">
        <div className="text-sm font-semibold" data-testid="total">
          Score: {total == null ? 'N/A' : formatScore(total, config.schema.step)}
        </div>
        <div className="flex gap-1">
          {item.stage === 'pending' && (
            <button className={`${btnGhost} ${btnSmall}`} onClick={() => onCancel(item.key)} aria-label={`Cancel ${item.name}`}>
              Cancel
            </button>
          )}
          {item.stage === 'uploading' && (
            <button className={`${btnGhost} ${btnSmall}`} onClick={() => onCancel(item.key)} aria-label={`Stop uploading ${item.name}`}>
              Stop
            </button>
          )}
          {item.stage === 'failed' && item.conflictWith != null && (
            <button
              className={`${btnSecondary} ${btnSmall}`}
              onClick={() => onRetry(item.key, true)}
              title="Store this image too, beside the one already stored under this name"
            >
              Keep both
            </button>
          )}
          {item.stage === 'failed' && item.restoreId != null && (
            <>
              <button
                className={`${btnPrimary} ${btnSmall}`}
                disabled={restoring}
                onClick={() => {
                  setRestoring(true);
                  onRestore(item.key)
                    .catch((e: unknown) => window.alert(`Not restored. ${plainErrorText(e, 'restore')}`))
                    .finally(() => setRestoring(false));
                }}
                title="Bring the deleted record back, with its scores and corrections"
              >
                {restoring && <Spinner />} Restore
              </button>
              <button className={`${btnSecondary} ${btnSmall}`} onClick={() => onRetry(item.key, true)} title="Start a new record with a fresh AI draft">
                Upload as new
              </button>
            </>
          )}
          {(item.stage === 'failed' || item.stage === 'cancelled') && !item.restored && item.restoreId == null && (
            <button className={`${btnSecondary} ${btnSmall}`} onClick={() => onRetry(item.key)} aria-label={`Retry ${item.name}`}>
              Retry
            </button>
          )}
        </div>
      </div>
    </li>
  );
});

/** What went wrong with an upload and what to do, in plain words (the buttons are beside it). */
function ErrorReason({ error }: { error: NonNullable<QueueItem['error']> }) {
  const p = plainErrorFrom({ status: error.httpStatus, code: error.code, detail: error.message }, 'upload');
  return (
    <p className={`mt-1 text-sm ${p.action === 'wait' ? 'text-amber-800 dark:text-amber-300' : 'text-red-700 dark:text-red-400'}`} data-testid="reason">
      {p.what} {p.todo}
    </p>
  );
}

function Thumb({ id }: { id: number | null }) {
  const [failed, setFailed] = useState(false);
  const box = 'size-12 shrink-0 rounded-md bg-slate-100 dark:bg-slate-800';
  if (id == null || failed) {
    return (
      <div aria-hidden className={`${box} flex items-center justify-center text-slate-500 dark:text-slate-400`}>
        <Icon name="image" className="size-6" />
      </div>
    );
  }
  return <img src={imageUrls(id).thumbnail} alt="" className={`${box} object-cover`} loading="lazy" onError={() => setFailed(true)} />;
}
