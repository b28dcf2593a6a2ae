import { lazy, Suspense, useState, type ReactNode } from 'react';
import { getAgreement, studyUrls } from '../../api/client';
import type { AgreementPair, MetricAgreement, ShiftRow, Study } from '../../api/types';
import { errorMessage } from '../../lib/format';
import { formatScore } from '../../lib/scores';
import { fixed, footnoteNumbers, formatInterval, formatStat, heatAlpha, plainReading, statValue, type Shown } from '../../lib/stats';
import { raterLabel } from '../../lib/study';
import { useQuery } from '../../lib/useQuery';
import { btnSecondary, btnSmall, card, Icon, input, Spinner } from '../ui';

const BlandAltmanPlot = lazy(() => import('./BlandAltmanPlot').then((m) => ({ default: m.BlandAltmanPlot })));

export function AgreementTab({ study }: { study: Study }) {
  const { data, error, refetch } = useQuery(`agreement/${study.id}`, (signal) => getAgreement(study.id, signal));
  const urls = studyUrls(study.id);

  return (
    <div className="flex flex-col gap-6 p-6" data-testid="agreement">
      <div className="flex flex-wrap items-center gap-2">
        <p className="mr-auto max-w-3xl text-sm text-slate-500 dark:text-slate-400">
          Per metric: the AI against each reader and each pair of readers, on the images both scored (readers’ latest scores). Statistics that do not exist for
          the data (fewer than 3 images, no variance) are shown as “not defined”, with the reason.
        </p>
        <a className={`${btnSecondary} ${btnSmall}`} href={urls.agreementCsv} download data-testid="agreement-csv">
          <Icon name="download" /> agreement.csv
        </a>
        <a className={`${btnSecondary} ${btnSmall}`} href={urls.exportCsv} download data-testid="study-export-csv">
          <Icon name="download" /> export.csv
        </a>
        <a className={`${btnSecondary} ${btnSmall}`} href={urls.auditCsv} download data-testid="study-audit-csv">
          <Icon name="download" /> audit.csv
        </a>
        <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={refetch}>
          Refresh
        </button>
      </div>
      {error !== undefined && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          The agreement could not be computed. {errorMessage(error)}{' '}
          <button className="underline" onClick={refetch}>
            Try again
          </button>
        </p>
      )}
      {!data && error === undefined && (
        <p className="text-sm text-slate-500 dark:text-slate-400">
          <Spinner label="Computing the agreement" /> Computing…
        </p>
      )}
      {data && data.metrics.length === 0 && <p className="text-sm text-slate-500 dark:text-slate-400">No scores to compare yet.</p>}
      {data?.metrics.map((m, i) => <MetricSection key={m.metric} m={m} index={i} blinded={study.blinded} />)}
    </div>
  );
}

const pairName = (p: Pick<AgreementPair, 'a' | 'b'>) => `${raterLabel(p.a)} vs ${raterLabel(p.b)}`;

function MetricSection({ m, index, blinded }: { m: MetricAgreement; index: number; blinded: boolean }) {
  const shift = m.shift ?? [];
  // Footnotes: every distinct reason a statistic is not defined, numbered in reading order.
  const reasons: (string | null)[] = [];
  for (const p of m.pairs) {
    const ba = p.bland_altman;
    for (const s of [formatStat(p.mae), formatStat(p.qwk), formatInterval(p.icc2_1), formatInterval(p.icc3_1), formatStat(ba?.mean_diff), formatStat(ba?.loa_low), formatStat(ba?.loa_high)]) {
      reasons.push(s.reason);
    }
  }
  reasons.push(formatInterval(m.icc_readers?.icc2_1).reason, formatInterval(m.icc_readers?.icc3_1).reason);
  for (const s of shift) reasons.push(formatStat(s.mean_abs_to_ai_blind).reason, formatStat(s.mean_abs_to_ai_revised).reason);
  const notes = footnoteNumbers(reasons);
  const prefix = `m${index}`;
  const titleId = `${prefix}-title`;

  return (
    <section className={card} aria-labelledby={titleId} data-testid="agreement-metric" data-metric={m.metric}>
      <h2 id={titleId} className="border-b border-slate-200 px-4 py-3 text-lg font-semibold dark:border-slate-800">
        {m.metric}{' '}
        <span className="text-sm font-normal text-slate-500 dark:text-slate-400">
          (0 – {formatScore(m.max, m.step)}, steps of {formatScore(m.step, m.step)})
        </span>
      </h2>
      <div className="flex flex-col gap-5 p-4">
        <div className="relative overflow-x-auto">
          <table className="w-full text-sm" data-testid="pairs-table">
            <caption className="sr-only">Agreement of each pair of raters on {m.metric}</caption>
            <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900 dark:text-slate-400">
              <tr>
                <th scope="col" className="px-3 py-2">
                  Pair
                </th>
                <th scope="col" className="px-3 py-2 text-right" title="Images both scored">
                  n
                </th>
                <th scope="col" className="px-3 py-2 text-right" title="Mean absolute difference">
                  MAE
                </th>
                <th scope="col" className="px-3 py-2 text-right" title="Quadratic weighted kappa on the step grid">
                  QWK
                </th>
                <th scope="col" className="px-3 py-2 text-right normal-case" title="Two-way random, absolute agreement; 95% confidence interval">
                  ICC(2,1) [95% CI]
                </th>
                <th scope="col" className="px-3 py-2 text-right normal-case" title="Two-way mixed, consistency; 95% confidence interval">
                  ICC(3,1) [95% CI]
                </th>
                <th scope="col" className="px-3 py-2 text-right" title="Bland–Altman mean difference (a − b)">
                  Mean diff
                </th>
                <th scope="col" className="px-3 py-2 text-right" title="Bland–Altman 95% limits of agreement (mean ± 1.96 SD)">
                  Limits of agreement
                </th>
              </tr>
            </thead>
            <tbody>
              {m.pairs.map((p) => {
                const ba = p.bland_altman;
                return (
                  <tr key={`${p.a}|${p.b}`} className="border-t border-slate-100 dark:border-slate-800" data-testid="pair-row" data-a={p.a} data-b={p.b}>
                    <th scope="row" className="px-3 py-1.5 text-left font-medium whitespace-nowrap">
                      {pairName(p)}
                    </th>
                    <td className="px-3 py-1.5 text-right tabular-nums">{p.n}</td>
                    <StatCell shown={formatStat(p.mae)} notes={notes} prefix={prefix} />
                    <StatCell shown={formatStat(p.qwk)} notes={notes} prefix={prefix} reading={plainReading('kappa', p.qwk)} />
                    <StatCell shown={formatInterval(p.icc2_1)} notes={notes} prefix={prefix} reading={plainReading('icc', p.icc2_1)} />
                    <StatCell shown={formatInterval(p.icc3_1)} notes={notes} prefix={prefix} reading={plainReading('icc', p.icc3_1)} />
                    <StatCell shown={formatStat(ba?.mean_diff)} notes={notes} prefix={prefix} />
                    <StatCell shown={limits(ba?.loa_low, ba?.loa_high)} notes={notes} prefix={prefix} />
                  </tr>
                );
              })}
              {m.pairs.length === 0 && (
                <tr>
                  <td colSpan={8} className="px-3 py-4 text-center text-slate-500 dark:text-slate-400">
                    No pair of raters has scored the same image yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>

        <p className="text-sm" data-testid="readers-icc">
          <span className="font-medium">All readers together</span> (n = {m.icc_readers?.n ?? 0} images): ICC(2,1){' '}
          <InlineStat shown={formatInterval(m.icc_readers?.icc2_1)} notes={notes} prefix={prefix} reading={plainReading('icc', m.icc_readers?.icc2_1)} /> · ICC(3,1){' '}
          <InlineStat shown={formatInterval(m.icc_readers?.icc3_1)} notes={notes} prefix={prefix} reading={plainReading('icc', m.icc_readers?.icc3_1)} />
        </p>
        <p className="text-xs text-slate-500 dark:text-slate-400" data-testid="reading-bands">
          How to read them: QWK (a weighted kappa) on Landis &amp; Koch’s bands — below 0 poor, to 0.20 slight, to 0.40 fair, to 0.60 moderate, to 0.80
          substantial, above almost perfect agreement; ICC on Koo &amp; Li’s bands — below 0.50 poor, to 0.75 moderate, to 0.90 good, above excellent
          reliability.
        </p>

        {blinded && <ShiftTable rows={shift} notes={notes} prefix={prefix} metric={m.metric} />}

        {m.pairs.length > 0 && (
          <div>
            <h3 className="mb-2 font-semibold">Bland–Altman plots</h3>
            <div className="grid grid-cols-[repeat(auto-fill,minmax(20rem,1fr))] gap-4">
              {m.pairs.map((p) => (
                <BaFigure key={`${p.a}|${p.b}`} p={p} step={m.step} metric={m.metric} />
              ))}
            </div>
          </div>
        )}

        {m.pairs.length > 0 && <ConfusionPicker m={m} />}

        {notes.size > 0 && (
          <ol className="list-none space-y-0.5 border-t border-slate-200 pt-3 text-xs text-slate-600 dark:border-slate-800 dark:text-slate-400" aria-label="Notes">
            {[...notes.entries()].map(([reason, n]) => (
              <li key={n} id={`${prefix}-note-${n}`}>
                <sup>{n}</sup> Not defined: {reason}
              </li>
            ))}
          </ol>
        )}
      </div>
    </section>
  );
}

/** "[low, high]", or not defined with the first reason. */
function limits(lo: Parameters<typeof formatStat>[0], hi: Parameters<typeof formatStat>[0]): Shown {
  const a = formatStat(lo);
  const b = formatStat(hi);
  if (a.reason) return a;
  if (b.reason) return b;
  return { text: `${a.text} to ${b.text}`, reason: null };
}

function NotDefined({ reason, notes, prefix }: { reason: string; notes: Map<string, number>; prefix: string }) {
  const n = notes.get(reason);
  return (
    <>
      <span className="cursor-help text-slate-500 italic underline decoration-dotted dark:text-slate-400" title={reason} data-testid="not-defined">
        not defined
      </span>
      {n != null && (
        <sup>
          <a href={`#${prefix}-note-${n}`} className="ml-0.5 text-indigo-700 dark:text-indigo-300" aria-label={`note ${n}: ${reason}`}>
            {n}
          </a>
        </sup>
      )}
    </>
  );
}

function StatCell({ shown, notes, prefix, reading }: { shown: Shown; notes: Map<string, number>; prefix: string; reading?: string | null }) {
  return (
    <td className="px-3 py-1.5 text-right tabular-nums whitespace-nowrap">
      {shown.reason ? <NotDefined reason={shown.reason} notes={notes} prefix={prefix} /> : shown.text}
      {reading && !shown.reason && (
        <span className="block text-xs text-slate-500 dark:text-slate-400" data-testid="plain-reading">
          {reading}
        </span>
      )}
    </td>
  );
}

function InlineStat({ shown, notes, prefix, reading }: { shown: Shown; notes: Map<string, number>; prefix: string; reading?: string | null }) {
  if (shown.reason) return <NotDefined reason={shown.reason} notes={notes} prefix={prefix} />;
  return (
    <>
      <strong className="tabular-nums">{shown.text}</strong>
      {reading && (
        <span className="text-slate-500 dark:text-slate-400" data-testid="plain-reading">
          {' '}
          ({reading})
        </span>
      )}
    </>
  );
}

function ShiftTable({ rows, notes, prefix, metric }: { rows: ShiftRow[]; notes: Map<string, number>; prefix: string; metric: string }) {
  return (
    <div className="relative overflow-x-auto">
      <h3 className="mb-1 font-semibold">Shift after the reveal</h3>
      <p className="mb-2 text-xs text-slate-500 dark:text-slate-400">How the readers’ revised scores moved relative to their blind scores once they saw the AI draft.</p>
      <table className="w-full text-sm" data-testid="shift-table">
        <caption className="sr-only">Shift of each reader's {metric} score after the reveal</caption>
        <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900 dark:text-slate-400">
          <tr>
            <th scope="col" className="px-3 py-2">
              Reader
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              n
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Changed
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Toward AI
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Away from AI
            </th>
            <th scope="col" className="px-3 py-2 text-right normal-case">
              Mean |Δ to AI| blind → revised
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const before = formatStat(r.mean_abs_to_ai_blind);
            const after = formatStat(r.mean_abs_to_ai_revised);
            return (
              <tr key={r.reader} className="border-t border-slate-100 dark:border-slate-800" data-testid="shift-row" data-reader={r.reader}>
                <th scope="row" className="px-3 py-1.5 text-left font-medium">
                  {r.reader}
                </th>
                <td className="px-3 py-1.5 text-right tabular-nums">{r.n}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{r.changed}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{r.toward_ai}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{r.away_from_ai}</td>
                <td className="px-3 py-1.5 text-right tabular-nums whitespace-nowrap">
                  {before.reason ? <NotDefined reason={before.reason} notes={notes} prefix={prefix} /> : before.text} →{' '}
                  {after.reason ? <NotDefined reason={after.reason} notes={notes} prefix={prefix} /> : after.text}
                </td>
              </tr>
            );
          })}
          {rows.length === 0 && (
            <tr>
              <td colSpan={6} className="px-3 py-4 text-center text-slate-500 dark:text-slate-400">
                No blind scores yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function BaFigure({ p, step, metric }: { p: AgreementPair; step: number; metric: string }) {
  const ba = p.bland_altman;
  const points = ba?.points ?? [];
  const mean = statValue(ba?.mean_diff);
  const lo = statValue(ba?.loa_low);
  const hi = statValue(ba?.loa_high);
  const a = raterLabel(p.a);
  const b = raterLabel(p.b);
  const summary =
    `Bland–Altman plot of ${metric}, ${a} against ${b}: ${points.length} ${points.length === 1 ? 'image' : 'images'}` +
    (mean != null ? `, mean difference ${fixed(mean, 2)}` : '') +
    (lo != null && hi != null ? `, limits of agreement ${fixed(lo, 2)} to ${fixed(hi, 2)}` : '');
  let body: ReactNode;
  if (points.length === 0) {
    body = <p className="flex h-[220px] items-center justify-center text-sm text-slate-500 dark:text-slate-400">No image scored by both.</p>;
  } else {
    body = (
      <Suspense fallback={<div className="h-[220px] rounded bg-slate-100 dark:bg-slate-900" />}>
        <BlandAltmanPlot points={points} meanDiff={mean} loaLow={lo} loaHigh={hi} diffLabel={`${a} − ${b}`} step={step} label={summary} />
      </Suspense>
    );
  }
  return (
    <figure className="rounded-lg border border-slate-200 p-2 dark:border-slate-800" data-testid="ba-figure">
      <figcaption className="mb-1 text-sm font-medium">
        {a} vs {b} <span className="text-xs font-normal text-slate-500 dark:text-slate-400">(n = {p.n})</span>
      </figcaption>
      {body}
    </figure>
  );
}

function ConfusionPicker({ m }: { m: MetricAgreement }) {
  const [chosen, setChosen] = useState(0);
  const p = m.pairs[Math.min(chosen, m.pairs.length - 1)] as AgreementPair;
  return (
    <div>
      <div className="mb-2 flex flex-wrap items-center gap-3">
        <h3 className="font-semibold">Confusion matrix</h3>
        <label className="flex items-center gap-2 text-sm">
          Pair
          <select className={input} value={chosen} onChange={(e) => setChosen(Number(e.target.value))}>
            {m.pairs.map((q, i) => (
              <option key={`${q.a}|${q.b}`} value={i}>
                {pairName(q)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ConfusionMatrix pair={p} grid={m.grid} step={m.step} />
    </div>
  );
}

export function ConfusionMatrix({ pair, grid, step }: { pair: AgreementPair; grid: number[]; step: number }) {
  const rows = pair.confusion ?? [];
  const max = Math.max(0, ...rows.flat().filter((v) => Number.isFinite(v)));
  const a = raterLabel(pair.a);
  const b = raterLabel(pair.b);
  return (
    <div className="relative overflow-x-auto">
      <table className="border-collapse text-xs tabular-nums" data-testid="confusion-matrix">
        <caption className="mb-1 text-left text-xs text-slate-500 dark:text-slate-400">
          Rows: {a}’s score; columns: {b}’s score. The diagonal is exact agreement.
        </caption>
        <thead>
          <tr>
            <th scope="col" className="px-2 py-1 text-left font-medium text-slate-500 dark:text-slate-400">
              {a} ↓ / {b} →
            </th>
            {grid.map((g) => (
              <th key={g} scope="col" className="min-w-9 px-2 py-1 text-center font-semibold">
                {formatScore(g, step)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {grid.map((g, i) => (
            <tr key={g}>
              <th scope="row" className="px-2 py-1 text-right font-semibold">
                {formatScore(g, step)}
              </th>
              {grid.map((h, j) => {
                const count = rows[i]?.[j] ?? 0;
                const alpha = heatAlpha(count, max);
                return (
                  <td
                    key={h}
                    className={`border border-slate-200 px-2 py-1 text-center dark:border-slate-700 ${i === j ? 'outline outline-1 -outline-offset-2 outline-slate-400 dark:outline-slate-500' : ''} ${
                      alpha > 0.5 ? 'font-semibold text-white' : count ? 'font-semibold' : 'text-slate-400 dark:text-slate-500'
                    }`}
                    style={alpha ? { backgroundColor: `rgba(79, 70, 229, ${alpha})` } : undefined}
                    title={`${a} ${formatScore(g, step)}, ${b} ${formatScore(h, step)}: ${count} ${count === 1 ? 'image' : 'images'}`}
                  >
                    {count}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
