// A whole slide in the review panel: what the file says about it (scanner, size, resolution,
// objective, pyramid, warnings), how far its fields are scored, and what its fields add up to
// (per metric the range of the field scores, the regions of interest drawn in the viewer, the
// downloads of every field). A region's scores can become the slide's: a correction like any
// other (the review panel's score editor: If-Match, audited with the reason "scores of ROI 1").

import { useState } from 'react';
import { slideUrls } from '../api/client';
import type { FieldRow } from '../api/slides';
import type { ImageRecord } from '../api/types';
import { useConfig } from '../lib/config';
import { plainErrorText } from '../lib/errors';
import { useSlideFields } from '../lib/slideFields';
import {
  distributionText,
  fieldCounts,
  fieldCountText,
  fieldProgressText,
  progressOf,
  progressPercent,
  regionsOf,
  roiChanges,
  roiLabel,
  roiReason,
  roiScores,
  roiText,
  slideFacts,
  slideOf,
  warningSentence,
} from '../lib/slides';
import type { ScoreEditor } from '../lib/useScoreEditor';
import { btnSecondary, btnSmall, Icon, Spinner } from './ui';

/** The slide's facts, under the file name. */
export function SlideFacts({ record }: { record: ImageRecord }) {
  const meta = slideOf(record);
  if (!meta) return null;
  const facts = slideFacts(meta, record.width, record.height);
  return (
    <div className="mt-2" data-testid="slide-facts">
      <dl className="flex flex-wrap gap-x-4 gap-y-0.5 text-sm text-slate-500 dark:text-slate-400">
        <div>
          <dt className="sr-only">Kind</dt>
          <dd className="inline font-medium text-slate-700 dark:text-slate-200">Whole slide</dd>
        </div>
        {facts.map((f) => (
          <div key={f.label}>
            <dt className="inline">{f.label}: </dt>
            <dd className="inline font-medium text-slate-700 dark:text-slate-200" data-testid={f.testId}>
              {f.value}
            </dd>
          </div>
        ))}
      </dl>
      {meta.warnings.length > 0 && (
        <ul className="mt-2 flex flex-col gap-1 text-sm text-amber-900 dark:text-amber-200" data-testid="slide-warnings">
          {meta.warnings.map((w) => (
            <li key={w} className="rounded-md border border-amber-300 bg-amber-50 px-3 py-1.5 dark:border-amber-800 dark:bg-amber-950/60">
              <span aria-hidden>⚠ </span>
              {warningSentence(w)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** While the slide is scored: its fields counted, with a bar; null when there is no count yet. */
export function SlideProgress({ record }: { record: ImageRecord }) {
  const progress = progressOf(record);
  const text = fieldProgressText(record.status, progress);
  if (!progress || !text) return null;
  return (
    <div className="flex flex-col gap-1.5" role="status" data-testid="slide-progress">
      <p className="text-sm text-violet-700 dark:text-violet-300">{text}. The AI draft appears here when every field is scored.</p>
      <div
        className="h-1.5 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
        role="progressbar"
        aria-label="Fields scored"
        aria-valuemin={0}
        aria-valuemax={progress.total}
        aria-valuenow={progress.done}
        aria-valuetext={text}
      >
        <div className="h-full bg-violet-500 transition-[width]" style={{ width: `${progressPercent(progress)}%` }} />
      </div>
    </div>
  );
}

/**
 * What the fields add up to, beside the slide's draft: per metric their range, the regions of
 * interest, and the downloads. With an editor (someone who may change the scores), each region
 * offers its scores as the slide's.
 */
export function SlideFieldScores({ record, editor, editable = false }: { record: ImageRecord; editor?: ScoreEditor; editable?: boolean }) {
  const { schema } = useConfig();
  const q = useSlideFields(record);
  const data = q.data;
  if (data === null) return null; // not the caller's to see (a blinded read), or no slide
  if (data === undefined) {
    if (q.error !== undefined && !q.loading) {
      return (
        <p role="alert" className="flex flex-wrap items-center gap-2 text-sm text-red-700 dark:text-red-400" data-testid="slide-fields-error">
          The field scores could not be loaded. {plainErrorText(q.error)}
          <button className={`${btnSecondary} ${btnSmall}`} onClick={q.refetch}>
            Try again
          </button>
        </p>
      );
    }
    if (!q.loading) return null;
    return (
      <p className="flex items-center gap-2 text-sm text-slate-500 dark:text-slate-400">
        <Spinner /> Loading the field scores…
      </p>
    );
  }
  const counts = fieldCounts(data.fields);
  const regions = regionsOf(data.fields);
  const byMetric = new Map(data.distribution.map((d) => [d.metric, d]));
  const urls = slideUrls(record.id);
  const link = 'inline-flex items-center gap-1 font-medium text-indigo-700 underline hover:text-indigo-500 dark:text-indigo-300';
  return (
    <section aria-labelledby="slide-fields-title" className="flex flex-col gap-2" data-testid="slide-fields">
      <div className="flex flex-wrap items-baseline justify-between gap-x-3">
        <h3 id="slide-fields-title" className="font-semibold">
          Field scores
        </h3>
        <span className="text-sm text-slate-500 dark:text-slate-400" data-testid="slide-field-count">
          {data.fields.length === 0 ? 'No field scored yet' : fieldCountText(counts)}
        </span>
      </div>
      {byMetric.size > 0 && (
        <ul className="flex flex-col gap-0.5 text-sm">
          {schema.metrics.map((m) => {
            const d = byMetric.get(m.name);
            if (!d) return null;
            return (
              <li key={m.name} data-testid="field-distribution" data-metric={m.name}>
                <span className="mr-2 text-xs font-medium uppercase tracking-wide text-slate-600 dark:text-slate-300">{m.name}</span>
                <span className="tabular-nums text-slate-700 dark:text-slate-200">{distributionText(d, schema.step)}</span>
              </li>
            );
          })}
        </ul>
      )}
      {regions.length > 0 && (
        <div className="flex flex-col gap-1" data-testid="roi-list">
          <h4 className="text-sm font-semibold">Regions of interest</h4>
          <ul className="flex flex-col gap-1.5 text-sm">
            {regions.map((f) => (
              <RegionItem key={f.index} region={f} record={record} editor={editable ? editor : undefined} />
            ))}
          </ul>
        </div>
      )}
      {data.fields.length > 0 && (
        <p className="flex flex-wrap items-center gap-x-4 gap-y-1 text-sm">
          <a className={link} href={urls.csv} download data-testid="fields-csv">
            <Icon name="download" className="size-3.5" /> Fields (CSV)
          </a>
          <a className={link} href={urls.geojson} download data-testid="fields-geojson" title="In QuPath: File → Import objects">
            <Icon name="download" className="size-3.5" /> Fields for QuPath (GeoJSON)
          </a>
        </p>
      )}
    </section>
  );
}

/** One region of interest: its label, who drew it, its scores, and the button that makes them the slide's. */
function RegionItem({ region, record, editor }: { region: FieldRow; record: ImageRecord; editor?: ScoreEditor }) {
  const { schema } = useConfig();
  const [busy, setBusy] = useState(false);
  const scores = roiScores(region, schema);
  // What the slide's scores are now: the saved ones with the edits on their way.
  const current = { ...record.scores, ...editor?.local };
  const changes = scores ? roiChanges(scores, current) : [];
  const use = async () => {
    if (!editor || !scores) return;
    setBusy(true);
    try {
      await editor.applyScores(scores, roiReason(region));
    } finally {
      setBusy(false);
    }
  };
  return (
    <li className="flex flex-wrap items-center gap-x-3 gap-y-1" data-testid="roi-item" data-index={region.index} data-label={roiLabel(region)}>
      <span className="tabular-nums text-slate-700 dark:text-slate-200" data-testid="roi-text">
        {roiText(region, schema)}
      </span>
      {editor && scores && changes.length > 0 && (
        <button
          type="button"
          className={`${btnSecondary} ${btnSmall}`}
          onClick={() => void use()}
          disabled={busy}
          aria-label={`Use as the slide's scores: ${roiLabel(region)}`}
          title={`Sets ${changes.join(', ')} to the region's scores, as a correction (kept in the correction history)`}
          data-testid="roi-use"
        >
          {busy ? <Spinner /> : null}
          Use as the slide's scores
        </button>
      )}
      {scores && changes.length === 0 && (
        <span className="text-xs text-green-700 dark:text-green-400" data-testid="roi-current">
          the slide's scores now
        </span>
      )}
    </li>
  );
}
