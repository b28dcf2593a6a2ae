import { imageUrls } from '../../api/client';
import { groupOf, type ImageRecord } from '../../api/types';
import { useConfig } from '../../lib/config';
import { formatUncertainty, UNCERTAINTY_HELP } from '../../lib/drafts';
import { formatDateTime } from '../../lib/format';
import { actorLabel } from '../../lib/audit';
import { middleTruncate } from '../../lib/text';
import { COL } from './columns';
import { formatScore, totalScore } from '../../lib/scores';
import { isSlide, SLIDE_SPREAD_HELP } from '../../lib/slides';
import { Badge, btnSecondary, btnSmall, Icon, Spinner } from '../ui';

/**
 * One record in the history table; a click opens it in the review panel. A deleted record
 * (History › Deleted) does not open: it shows when and by whom it was deleted, and Restore.
 */
export function RecordRow({
  r,
  selected,
  onOpen,
  checked,
  onCheck,
  showSpread,
  modelNames,
  restore,
}: {
  r: ImageRecord;
  selected: boolean;
  onOpen: () => void;
  /** null: no selection column (not an administrator). */
  checked: boolean | null;
  onCheck: (on: boolean) => void;
  /** Show each AI draft's ± beside the values (ordered by uncertainty). */
  showSpread: boolean;
  /** Model names by id: an AI change reads “AI (Pancreas v1)”. */
  modelNames: ReadonlyMap<string, string>;
  /** A deleted record: its Restore button (`allowed`: the caller may restore; `busy`: being restored). */
  restore?: { allowed: boolean; busy: boolean; onRestore: () => void };
}) {
  const { schema } = useConfig();
  const total = totalScore(r.scores, schema);
  const slide = isSlide(r);
  const deleted = restore != null;
  return (
    <tr
      className={`border-t border-slate-100 dark:border-slate-800 ${deleted ? '' : 'cursor-pointer hover:bg-slate-50 dark:hover:bg-slate-800/50'} ${selected && !deleted ? 'bg-indigo-50 dark:bg-indigo-950/40' : ''}`}
      onClick={deleted ? undefined : onOpen}
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
      <td className="w-12 px-2 py-1.5">
        {deleted ? (
          // The server shows no pixels of a deleted record.
          <span className="flex size-9 items-center justify-center rounded bg-slate-100 text-slate-400 dark:bg-slate-800 dark:text-slate-500" data-testid="row-thumb">
            <Icon name="image" className="size-5" />
          </span>
        ) : (
          <img
            src={imageUrls(r.id).thumbnail}
            alt=""
            loading="lazy"
            width={36}
            height={36}
            className="size-9 max-w-none shrink-0 rounded bg-slate-200 object-cover dark:bg-slate-800"
            onError={(e) => (e.currentTarget.style.visibility = 'hidden')}
            data-testid="row-thumb"
          />
        )}
      </td>
      <td className={`${COL.id} px-3 py-1.5 tabular-nums text-slate-500 dark:text-slate-400`}>{r.id}</td>
      <td className="w-[15rem] min-w-[15rem] px-3 py-1.5">
        {deleted ? (
          <>
            <span className="block max-w-full truncate font-medium" title={r.filename} data-testid="row-filename">
              {middleTruncate(r.filename, 28)}
            </span>
            <span className="block text-xs text-red-700 dark:text-red-400" data-testid="row-deleted">
              deleted {formatDateTime(r.deleted_at)} by {actorLabel(r.updated_by, modelNames)}
            </span>
          </>
        ) : (
          <button
            type="button"
            className="block max-w-full truncate text-left font-medium text-indigo-700 hover:underline dark:text-indigo-300"
            onClick={(e) => {
              e.stopPropagation();
              onOpen();
            }}
            title={r.filename}
            data-testid="row-filename"
          >
            {middleTruncate(r.filename, 28)}
          </button>
        )}
        {slide && (
          <Badge tone="slate" title="A whole-slide image: scored field by field">
            <span data-testid="row-slide">slide</span>
          </Badge>
        )}
        {r.flags && Object.keys(r.flags).length > 0 && (
          <Badge tone="amber" title={Object.entries(r.flags).map(([m, why]) => `${m}: ${why}`).join('\n')}>
            <span data-testid="row-needs-review">needs review</span>
          </Badge>
        )}
        {r.sha256 === '' && (
          <Badge tone="slate" title="Imported with its scores only: upload the file under the same name to add its pixels and an AI draft">
            no image file yet
          </Badge>
        )}
        {r.status !== 'scored' && (
          <span className={COL.statusInline}>
            <Badge tone={r.status === 'failed' ? 'red' : 'violet'} title={r.status === 'failed' ? 'The AI could not score this image' : undefined}>
              {r.status}
            </Badge>
          </span>
        )}
      </td>
      <td className={`${COL.serial} px-3 py-1.5 whitespace-nowrap`}>{r.serial ?? '–'}</td>
      <td className={`${COL.group} px-3 py-1.5 whitespace-nowrap`}>{groupOf(r) || '–'}</td>
      <td className={`${COL.status} px-3 py-1.5`}>
        <Badge tone={r.status === 'scored' ? 'green' : r.status === 'failed' ? 'red' : 'violet'} title={r.status === 'failed' ? 'The AI could not score this image' : undefined}>
          {r.status}
        </Badge>
      </td>
      <td className="px-3 py-1.5">
        {r.review_status === 'reviewed' ? (
          <span className="text-green-700 dark:text-green-400" title="reviewed">
            ✓<span className="sr-only"> reviewed</span>
          </span>
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
          <td key={m.name} className={`${COL.metric} px-2 py-1.5 text-right tabular-nums whitespace-nowrap`} data-metric={m.name} title={r.flags?.[m.name]}>
            <span className={r.flags?.[m.name] ? 'font-semibold text-red-700 dark:text-red-400' : corrected ? 'font-semibold text-amber-800 dark:text-amber-300' : ''}>
              {formatScore(v, schema.step)}
            </span>
            {corrected && <span className="ml-1 text-xs text-slate-600 dark:text-slate-400">({formatScore(ai, schema.step)})</span>}
            {spread && (
              <span className="block text-xs text-slate-600 dark:text-slate-400" title={`AI draft: ${slide ? SLIDE_SPREAD_HELP : UNCERTAINTY_HELP}`} data-testid="row-uncertainty">
                {spread}
              </span>
            )}
          </td>
        );
      })}
      <td className="px-3 py-1.5 text-right font-semibold tabular-nums">{formatScore(total, schema.step)}</td>
      <td className={`${COL.changed} px-3 py-1.5 whitespace-nowrap text-slate-500 dark:text-slate-400`}>
        {formatDateTime(r.updated_at)}{' '}
        <span className="text-xs" data-testid="row-changed-by">
          · {actorLabel(r.updated_by, modelNames)}
        </span>
      </td>
      <td className={`${COL.uploaded} px-3 py-1.5 whitespace-nowrap text-slate-500 dark:text-slate-400`}>{formatDateTime(r.created_at)}</td>
      {restore && (
        <td className="px-3 py-1.5 text-right">
          {restore.allowed ? (
            <button
              type="button"
              className={`${btnSecondary} ${btnSmall}`}
              onClick={restore.onRestore}
              disabled={restore.busy}
              aria-label={`Restore ${r.filename}`}
              title="Bring it back into the History, with its scores and corrections"
              data-testid="row-restore"
            >
              {restore.busy ? <Spinner /> : <Icon name="restore" className="size-3.5" />} Restore
            </button>
          ) : (
            <span className="text-xs text-slate-500 dark:text-slate-400" title="Your account may not restore records: ask a pathologist or an administrator">
              –
            </span>
          )}
        </td>
      )}
    </tr>
  );
}
