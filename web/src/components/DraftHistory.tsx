import { useId, useState } from 'react';
import { ApiError, getDrafts, listModels } from '../api/client';
import type { Draft, ModelEntry } from '../api/types';
import { useConfig } from '../lib/config';
import { compareDrafts, defaultComparePair, draftLabels, formatDiff, formatUncertainty, UNCERTAINTY_HELP, type CompareRow } from '../lib/drafts';
import { errorMessage, formatDateTime, shortId } from '../lib/format';
import { formatScore } from '../lib/scores';
import { useQuery } from '../lib/useQuery';
import { Badge, input } from './ui';

/** A draft's key that survives a refetch. */
const keyOf = (d: Draft) => String(d.id);

const namesOf = (models: ModelEntry[]) => new Map(models.filter((m) => m.name?.trim()).map((m) => [m.id, m.name.trim()]));

const draftsErrorMessage = (e: unknown) =>
  e instanceof ApiError && e.status === 404 ? 'No draft history is available from this server.' : `The drafts could not be loaded. ${errorMessage(e)}`;

const sameDraft = (a: Draft | null | undefined, b: Draft) => !!a && a.model_id === b.model_id && a.created_at === b.created_at;

/**
 * Every AI draft of the image (GET /api/images/{id}/drafts), newest first, and a comparison of two
 * of them. Fetched when opened, and again when `refreshKey` changes (a new draft arrived).
 */
export function DraftHistory({
  id,
  refreshKey,
  current,
  defaultOpen = false,
}: {
  id: number;
  refreshKey: string;
  current: Draft | null | undefined;
  defaultOpen?: boolean;
}) {
  const { schema } = useConfig();
  const [open, setOpen] = useState(defaultOpen);
  const [chosen, setChosen] = useState<[string, string] | null>(null);
  const history = useQuery(open ? `drafts/${id}/${refreshKey}` : null, (signal) => getDrafts(id, signal));
  // The registry's names for the models (ids only when it cannot be read).
  const registry = useQuery(open ? 'models' : null, listModels);
  const drafts = history.data ?? null;
  const error = history.error === undefined ? null : draftsErrorMessage(history.error);
  const names = registry.data ? namesOf(registry.data) : registry.error === undefined ? null : new Map<string, string>();

  const list = drafts ?? [];
  const labels = draftLabels(list, names ?? undefined);
  // The chosen pair while both still exist, else the default: the newest against another model's.
  const chosenIdx = chosen ? ([list.findIndex((d) => keyOf(d) === chosen[0]), list.findIndex((d) => keyOf(d) === chosen[1])] as const) : null;
  const pair = chosenIdx && chosenIdx[0] >= 0 && chosenIdx[1] >= 0 ? chosenIdx : defaultComparePair(list);
  const newestFirst = [...list].reverse();

  return (
    <details open={defaultOpen || undefined} className="rounded-lg border border-slate-200 dark:border-slate-800" onToggle={(e) => setOpen(e.currentTarget.open)} data-testid="drafts">
      <summary className="cursor-pointer px-3 py-2 text-sm font-semibold">
        AI drafts{drafts ? <span className="font-normal text-slate-500 dark:text-slate-400"> ({drafts.length})</span> : null}
      </summary>
      <div className="flex flex-col gap-3 px-3 pb-3">
        {error && <p className="text-sm text-slate-500 dark:text-slate-400">{error}</p>}
        {!error && drafts == null && open && <p className="text-sm text-slate-500 dark:text-slate-400">Loading…</p>}
        {drafts && drafts.length === 0 && <p className="text-sm text-slate-500 dark:text-slate-400">No AI drafts yet.</p>}
        {drafts && drafts.length > 0 && (
          <ol className="max-h-72 space-y-2 overflow-auto" tabIndex={0} aria-label="AI drafts, newest first">
            {newestFirst.map((d) => (
              <li key={keyOf(d)} className="rounded-md border border-slate-100 px-2 py-1.5 text-xs dark:border-slate-800" data-testid="draft" data-model-id={d.model_id}>
                <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
                  <span className="font-semibold" title={d.model_id}>
                    {names?.get(d.model_id) ?? <code>{shortId(d.model_id)}</code>}
                  </span>
                  {names?.has(d.model_id) && <code className="text-slate-500 dark:text-slate-400">{shortId(d.model_id)}</code>}
                  {d.model_demo && <Badge tone="amber">demo</Badge>}
                  <span className="text-slate-500 dark:text-slate-400">{formatDateTime(d.created_at)}</span>
                  {sameDraft(current, d) && <Badge tone="blue">current</Badge>}
                </div>
                <dl className="mt-1 grid grid-cols-[repeat(auto-fill,minmax(15rem,1fr))] gap-x-4 gap-y-0.5">
                  {schema.metrics.map((m) => {
                    const u = formatUncertainty(d.uncertainty?.[m.name]);
                    return (
                      <div key={m.name} className="flex justify-between gap-2">
                        <dt className="truncate text-slate-500 dark:text-slate-400" title={m.name}>
                          {m.name}
                        </dt>
                        <dd className="whitespace-nowrap tabular-nums">
                          {formatScore(d.rounded?.[m.name], schema.step)}
                          {u && (
                            <span className="ml-1 text-slate-500 dark:text-slate-400" title={UNCERTAINTY_HELP}>
                              {u}
                            </span>
                          )}
                        </dd>
                      </div>
                    );
                  })}
                </dl>
              </li>
            ))}
          </ol>
        )}
        {drafts && pair && (
          <Compare
            drafts={list}
            labels={labels}
            pair={pair}
            onChoose={(which, key) => {
              const keys: [string, string] = [keyOf(list[pair[0]] as Draft), keyOf(list[pair[1]] as Draft)];
              keys[which] = key;
              setChosen(keys);
            }}
          />
        )}
      </div>
    </details>
  );
}

function Compare({
  drafts,
  labels,
  pair,
  onChoose,
}: {
  drafts: Draft[];
  labels: string[];
  pair: readonly [number, number];
  onChoose: (which: 0 | 1, key: string) => void;
}) {
  const { schema } = useConfig();
  const a = drafts[pair[0]] as Draft;
  const b = drafts[pair[1]] as Draft;
  const { rows, total } = compareDrafts(a, b, schema);
  const differing = rows.filter((r) => r.differs).length;
  const titleId = useId();
  const options = drafts.map((d, i) => ({ key: keyOf(d), label: labels[i] ?? shortId(d.model_id) })).reverse();
  const select = (which: 0 | 1, label: string) => (
    <label className="flex min-w-0 flex-1 flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
      {label}
      <select className={`${input} py-1 text-xs`} value={keyOf(which === 0 ? a : b)} onChange={(e) => onChoose(which, e.target.value)} data-testid={`compare-${which === 0 ? 'a' : 'b'}`}>
        {options.map((o) => (
          <option key={o.key} value={o.key}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section aria-labelledby={titleId} className="border-t border-slate-200 pt-3 dark:border-slate-800" data-testid="draft-compare">
      <h4 id={titleId} className="mb-2 text-sm font-semibold">
        Compare two drafts{' '}
        <span className="font-normal text-slate-500 dark:text-slate-400" aria-live="polite">
          {pair[0] === pair[1] ? '(the same draft twice: choose another)' : differing === 0 ? '(identical scores)' : `(${differing} of ${rows.length} differ)`}
        </span>
      </h4>
      <div className="mb-2 flex gap-2">
        {select(0, 'Model A')}
        {select(1, 'Model B')}
      </div>
      <table className="w-full text-xs">
        <thead>
          <tr className="text-left text-slate-500 dark:text-slate-400">
            <th scope="col" className="py-1 pr-2 font-medium">
              Metric
            </th>
            <th scope="col" className="py-1 pr-2 text-right font-medium">
              A
            </th>
            <th scope="col" className="py-1 pr-2 text-right font-medium">
              B
            </th>
            <th scope="col" className="py-1 text-right font-medium">
              B − A
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <CompareLine key={r.metric} r={r} a={a} b={b} />
          ))}
          <CompareLine r={total} a={null} b={null} strong />
        </tbody>
      </table>
    </section>
  );
}

function CompareLine({ r, a, b, strong = false }: { r: CompareRow; a: Draft | null; b: Draft | null; strong?: boolean }) {
  const { schema } = useConfig();
  const ua = formatUncertainty(a?.uncertainty?.[r.metric]);
  const ub = formatUncertainty(b?.uncertainty?.[r.metric]);
  const muted = 'ml-1 text-slate-500 dark:text-slate-400';
  return (
    <tr
      className={`border-t align-top ${strong ? 'border-slate-300 font-semibold dark:border-slate-700' : 'border-slate-100 dark:border-slate-800'} ${r.differs ? 'bg-amber-50 dark:bg-amber-950/40' : ''}`}
      data-testid="compare-row"
      data-metric={r.metric}
      data-differs={r.differs ? 'true' : 'false'}
    >
      <th scope="row" className="py-1 pr-2 text-left font-medium">
        {r.metric}
      </th>
      <td className="py-1 pr-2 text-right whitespace-nowrap tabular-nums">
        {formatScore(r.a, schema.step)}
        {ua && (
          <span className={muted} title={UNCERTAINTY_HELP}>
            {ua}
          </span>
        )}
      </td>
      <td className="py-1 pr-2 text-right whitespace-nowrap tabular-nums">
        {formatScore(r.b, schema.step)}
        {ub && (
          <span className={muted} title={UNCERTAINTY_HELP}>
            {ub}
          </span>
        )}
      </td>
      <td className={`py-1 text-right whitespace-nowrap tabular-nums ${r.differs ? 'font-semibold text-amber-800 dark:text-amber-300' : 'text-slate-500 dark:text-slate-400'}`}>
        {formatDiff(r.diff, schema.step)}
        {r.differs && <span className="sr-only"> (differs)</span>}
      </td>
    </tr>
  );
}
