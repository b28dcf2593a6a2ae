import { useMemo, useState } from 'react';
import type { ImageRecord } from '../api/types';
import { groupOf } from '../api/types';
import { Viewer } from '../components/Viewer';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, Icon, Spinner } from '../components/ui';
import { useConfig } from '../lib/config';
import { refreshRecord, useRecord } from '../lib/records';
import { Link, navigate, useLocation } from '../lib/router';
import { formatScore, totalScore } from '../lib/scores';
import { useQuery } from '../lib/useQuery';
import { compareHref, readCompare, ViewSync, type Side } from '../lib/viewSync';

/**
 * Two images side by side (/compare?a=ID&b=ID), e.g. two fields of one sample: each with its
 * file name and scores, panning, zooming and turning together (in the images' own coordinates)
 * unless "Move together" is off. Swap sides; Close goes back where the comparison was opened.
 */
export function ComparePage() {
  const { search } = useLocation();
  const { a, b, back } = useMemo(() => readCompare(search), [search]);
  const [sync] = useState(() => new ViewSync());
  const [linked, setLinked] = useState(true);

  const toggleLinked = (on: boolean) => {
    sync.setLinked(on);
    setLinked(on);
  };

  return (
    <div className="flex h-full flex-col gap-3 overflow-y-auto p-3 sm:p-4 md:overflow-hidden" data-testid="compare-page">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 className="text-xl font-semibold">Side by side</h1>
          <p className="text-sm text-slate-500 dark:text-slate-400">
            Two images next to each other. Panning, zooming or turning one moves the other the same way, over the same part of each image.
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <label className="flex items-center gap-2 text-sm" title="Off: each image moves alone (e.g. to line them up); on again, the right one takes the left one's view">
            <input type="checkbox" className="size-4 accent-indigo-600" checked={linked} onChange={(e) => toggleLinked(e.target.checked)} data-testid="compare-linked" />
            Move together
          </label>
          <button
            type="button"
            className={btnSecondary}
            disabled={a == null || b == null}
            onClick={() => a != null && b != null && navigate(compareHref(b, a, back), true)}
            data-testid="compare-swap"
          >
            <Icon name="swap" /> Swap sides
          </button>
          <button type="button" className={btnPrimary} onClick={() => navigate(back)} data-testid="compare-close">
            ✕ Close
          </button>
        </div>
      </div>
      {a == null || b == null ? (
        <p role="alert" className={`${card} p-4 text-sm`}>
          Two images are needed side by side, and this address does not name them. Tick two records in the{' '}
          <Link to="/history" className="font-medium text-indigo-700 underline dark:text-indigo-300">
            History
          </Link>{' '}
          and choose “Compare side by side”, or use “Side by side…” under an image.
        </p>
      ) : (
        <div className="grid grid-cols-1 gap-3 md:min-h-0 md:flex-1 md:grid-cols-2">
          {([a, b] as const).map((id, i) => {
            const side: Side = i === 0 ? 'a' : 'b';
            // Keyed by image: a swap moves the two viewers instead of loading them again.
            return <Pane key={a === b ? side : id} id={id} side={side} sync={sync} />;
          })}
        </div>
      )}
    </div>
  );
}

function Pane({ id, side, sync }: { id: number; side: Side; sync: ViewSync }) {
  const entry = useRecord(id);
  const load = useQuery(!entry ? `record/${id}` : null, async () => refreshRecord(id));
  const record = entry?.record;
  const where = side === 'a' ? 'Left' : 'Right';
  const channel = useMemo(() => ({ channel: sync, side }), [sync, side]);
  return (
    <section
      className={`${card} flex min-w-0 flex-col gap-2 p-3 md:min-h-0`}
      aria-label={`${where}: ${record?.filename ?? `image ${id}`}`}
      data-testid="compare-pane"
      data-side={side}
      data-record-id={id}
    >
      {record ? (
        <PaneHeader record={record} />
      ) : load.data === null || (load.error !== undefined && !load.loading) ? (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          Image {id} could not be loaded (it may have been deleted). Close this view and choose another image in the History.
        </p>
      ) : (
        <p className="text-sm text-slate-500 dark:text-slate-400">
          <Spinner /> Loading…
        </p>
      )}
      {record && (
        <div className="h-[55vh] min-h-72 md:h-auto md:min-h-0 md:flex-1">
          <Viewer id={id} filename={record.filename} fill sync={channel} />
        </div>
      )}
    </section>
  );
}

function PaneHeader({ record }: { record: ImageRecord }) {
  const { schema } = useConfig();
  const total = totalScore(record.scores, schema);
  const blinded = record.locked_by_study != null;
  const group = groupOf(record);
  return (
    <div className="flex flex-col gap-1">
      <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
        <h2 className="min-w-0 truncate font-semibold" title={record.filename} data-testid="compare-filename">
          {record.filename}
        </h2>
        <span className="text-xs text-slate-500 dark:text-slate-400">
          {record.serial ?? '–'} · {group || '–'}
        </span>
        {record.review_status === 'reviewed' ? <Badge tone="green">Reviewed</Badge> : <Badge tone="slate">Not reviewed</Badge>}
        <Link to={`/history?open=${record.id}`} className={`${btnSecondary} ${btnSmall} ml-auto`} title="Open this record's scores and corrections in the History">
          Review
        </Link>
      </div>
      {blinded ? (
        <p className="text-xs text-amber-800 dark:text-amber-200" data-testid="compare-scores">
          Scores hidden: you read this image in a blinded study.
        </p>
      ) : record.status === 'queued' || record.status === 'scoring' ? (
        <p className="text-xs text-violet-700 dark:text-violet-300" data-testid="compare-scores">
          Waiting for the AI draft…
        </p>
      ) : (
        <dl className="flex flex-wrap gap-x-3 gap-y-0.5 text-xs" data-testid="compare-scores">
          {schema.metrics.map((m) => {
            const v = record.scores[m.name];
            const ai = record.draft?.rounded[m.name];
            const corrected = v != null && ai != null && Math.abs(v - ai) > 1e-9;
            return (
              <div key={m.name} data-metric={m.name}>
                <dt className="inline text-slate-500 dark:text-slate-400">{m.name}: </dt>
                <dd className="inline font-medium tabular-nums" data-testid="compare-score">
                  {formatScore(v, schema.step)}
                  {corrected && <span className="font-normal text-slate-500 dark:text-slate-400"> (AI {formatScore(ai, schema.step)})</span>}
                </dd>
              </div>
            );
          })}
          <div>
            <dt className="inline text-slate-500 dark:text-slate-400">Total: </dt>
            <dd className="inline font-semibold tabular-nums" data-testid="compare-total">
              {formatScore(total, schema.step)}
            </dd>
          </div>
        </dl>
      )}
    </div>
  );
}
