import { imageUrls } from '../../api/client';
import { groupOf, type ImageRecord } from '../../api/types';
import { useConfig } from '../../lib/config';
import { formatUncertainty, UNCERTAINTY_HELP } from '../../lib/drafts';
import { formatDateTime } from '../../lib/format';
import { formatScore, totalScore } from '../../lib/scores';
import { Badge } from '../ui';

/** One record in the history table; a click opens it in the review panel. */
export function RecordRow({
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
