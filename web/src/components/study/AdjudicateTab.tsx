import { useState, type FormEvent } from 'react';
import { imageUrls, listStudyImages, putFinal } from '../../api/client';
import type { Scores, Study, StudyImage } from '../../api/types';
import { useConfig } from '../../lib/config';
import { errorMessage } from '../../lib/format';
import { plainErrorText } from '../../lib/errors';
import { formatScore, totalScore } from '../../lib/scores';
import { collectScores, disagreeingMetrics, formatDuration, latestScores, scoresDiffer, scoresToTexts } from '../../lib/study';
import { reviewHref } from '../../lib/routes';
import { useQuery } from '../../lib/useQuery';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, Icon, input, Spinner } from '../ui';
import { ScoreFields, type ScoreColumn } from '../ScoreFields';

type Filter = 'all' | 'differ' | 'incomplete';

export function AdjudicateTab({ study }: { study: Study }) {
  const { schema } = useConfig();
  const [filter, setFilter] = useState<Filter>('all');
  const { data: images, error, refetch, setData: setImages } = useQuery(`study-images/${study.id}`, (signal) => listStudyImages(study.id, signal));

  const incomplete = (img: StudyImage) => study.readers.some((r) => latestScores(img, r) == null);
  const shown = (images ?? []).filter((img) =>
    filter === 'differ' ? disagreeingMetrics(img, study.readers, schema).length > 0 : filter === 'incomplete' ? incomplete(img) : true,
  );

  return (
    <div className="flex flex-col gap-4 p-6">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <p className="max-w-3xl text-sm text-slate-500 dark:text-slate-400">
          Each image with the AI draft and every reader’s scores. The final score becomes the image’s score everywhere (history, export) and is audited
          {study.require_reason ? '; this study needs a reason for every adjudication' : ''}.
        </p>
        <div className="flex items-center gap-2">
          <label className="flex items-center gap-2 text-sm">
            Show
            <select className={input} value={filter} onChange={(e) => setFilter(e.target.value as Filter)}>
              <option value="all">all images</option>
              <option value="differ">where readers differ</option>
              <option value="incomplete">not read by every reader yet</option>
            </select>
          </label>
          <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={refetch}>
            Refresh
          </button>
        </div>
      </div>
      {error !== undefined && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          The images could not be loaded. {errorMessage(error)}{' '}
          <button className="underline" onClick={refetch}>
            Try again
          </button>
        </p>
      )}
      {!images && error === undefined && <Spinner label="Loading the images" />}
      {images && shown.length === 0 && <p className="text-sm text-slate-500 dark:text-slate-400">No images to show.</p>}
      {shown.map((img) => (
        <ImageAdjudication
          key={img.image_id}
          study={study}
          img={img}
          onSaved={(updated) => setImages((list) => list?.map((x) => (x.image_id === updated.image_id ? updated : x)))}
        />
      ))}
    </div>
  );
}

function ImageAdjudication({ study, img, onSaved }: { study: Study; img: StudyImage; onSaved: (i: StudyImage) => void }) {
  const { schema } = useConfig();
  const [editing, setEditing] = useState(false);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [reason, setReason] = useState('');
  const [showErrors, setShowErrors] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const sources: ScoreColumn[] = [{ header: 'AI draft', values: img.ai, testId: 'adj-ai-value' }];
  for (const r of study.readers) {
    const rs = img.reads?.[r];
    if (study.blinded) {
      sources.push({ header: `${r} blind`, values: rs?.blind, testId: 'adj-reader-value' });
      sources.push({ header: `${r} revised`, values: rs?.revised, testId: 'adj-reader-value' });
    } else {
      sources.push({ header: r, values: rs?.revised ?? rs?.blind, testId: 'adj-reader-value' });
    }
  }
  const differ = disagreeingMetrics(img, study.readers, schema);
  const headingId = `adj-${img.image_id}`;

  const startEdit = () => {
    setTexts(scoresToTexts(img.final ?? img.ai, schema.step));
    setReason('');
    setShowErrors(false);
    setError(null);
    setNotice(null);
    setEditing(true);
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setShowErrors(true);
    const { scores, errors } = collectScores(texts, schema);
    if (Object.keys(errors).length) {
      setError('Every metric needs a valid score (see the fields above).');
      return;
    }
    if (study.require_reason && !reason.trim()) {
      setError('This study needs a reason for every adjudication: say why this is the final score.');
      return;
    }
    if (img.final && !scoresDiffer(scores, img.final, schema) && !reason.trim()) {
      setError('Nothing to save: this already is the final score.');
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const updated = await putFinal(study.id, img.image_id, scores, reason.trim() || undefined);
      onSaved(updated);
      setEditing(false);
      setNotice('Final score saved.');
    } catch (err) {
      setError(`Not saved. ${plainErrorText(err, 'save')}`);
    } finally {
      setSaving(false);
    }
  };

  const fill = (values: Scores | null | undefined) => setTexts(scoresToTexts(values, schema.step));

  return (
    <section className={card} aria-labelledby={headingId} data-testid="adjudication" data-image-id={img.image_id}>
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-200 px-4 py-3 dark:border-slate-800">
        <h3 id={headingId} className="mr-auto break-all font-semibold">
          {img.filename}{' '}
          <span className="text-sm font-normal text-slate-500 dark:text-slate-400">
            · {img.serial ?? '–'} · id {img.image_id}
            {study.blinded && img.code ? <span title="What the blinded readers see instead of the name"> · case {img.code}</span> : null}
          </span>
        </h3>
        {img.status !== 'scored' && <Badge tone={img.status === 'failed' ? 'red' : 'violet'}>{img.status}</Badge>}
        {differ.length > 0 && (
          <Badge tone="amber" title={`Readers differ on ${differ.join(', ')}`}>
            Readers differ ({differ.length})
          </Badge>
        )}
        {!editing && (
          <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={startEdit} aria-label={`Edit final score of ${img.filename}`}>
            Edit final score
          </button>
        )}
      </div>
      {/* The image beside the scores on wide screens (a 20 rem column), above them on narrow ones. */}
      <div className="grid grid-cols-1 gap-4 px-4 py-3 lg:grid-cols-[20rem_minmax(0,1fr)]">
        <AdjudicationImage img={img} />
        <div className="relative min-w-0 overflow-x-auto">
          {editing ? (
            <form onSubmit={(e) => void save(e)} noValidate className="flex flex-col gap-3" aria-label={`Final score of ${img.filename}`}>
              <ScoreFields
                idPrefix={`final-${img.image_id}`}
                inputTestId="final-input"
                texts={texts}
                onText={(m, t) => setTexts((x) => ({ ...x, [m.name]: t }))}
                showErrors={showErrors}
                columns={sources}
                inputHeader="Final"
                disabled={saving}
              />
              <div className="flex flex-wrap items-center gap-1 text-xs">
                <span className="text-slate-500 dark:text-slate-400">Fill from:</span>
                {sources
                  .filter((s) => s.values)
                  .map((s) => (
                    <button key={s.header} type="button" className={`${btnSecondary} ${btnSmall}`} onClick={() => fill(s.values)}>
                      {s.header}
                    </button>
                  ))}
              </div>
              <label className="flex flex-col gap-1 text-sm font-medium">
                <span>
                  Reason{' '}
                  {study.require_reason ? (
                    <span className="font-normal text-red-700 dark:text-red-400">(required)</span>
                  ) : (
                    <span className="font-normal text-slate-500 dark:text-slate-400">(optional)</span>
                  )}
                </span>
                <textarea className={input} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="final-reason" />
              </label>
              {error && (
                <p role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid="final-error">
                  {error}
                </p>
              )}
              <div className="flex gap-2">
                <button type="submit" className={btnPrimary} disabled={saving}>
                  {saving && <Spinner />} Save final score
                </button>
                <button type="button" className={btnSecondary} onClick={() => setEditing(false)} disabled={saving}>
                  Cancel
                </button>
              </div>
            </form>
          ) : (
            <ScoresTable sources={sources} final={img.final} differ={differ} />
          )}
          {notice && !editing && (
            <p role="status" className="mt-2 text-sm text-green-700 dark:text-green-400">
              {notice}
            </p>
          )}
          <ReaderTimes study={study} img={img} />
        </div>
      </div>
    </section>
  );
}

/**
 * The image's preview (the server's 1024 px JPEG), large enough to judge, and a link that opens
 * it in the zoomable viewer in a new tab (the adjudication in progress stays where it is).
 */
function AdjudicationImage({ img }: { img: StudyImage }) {
  const [failed, setFailed] = useState(false);
  const href = reviewHref(img.image_id);
  return (
    <div className="flex w-full max-w-sm flex-col gap-2 lg:max-w-none">
      {/* The picture opens the viewer too; the link below is the one for keyboards and screen readers. */}
      <a
        href={href}
        target="_blank"
        rel="noopener"
        tabIndex={-1}
        aria-hidden
        title="Open in the viewer (new tab)"
        className="block overflow-hidden rounded-lg border border-slate-200 bg-slate-100 dark:border-slate-700 dark:bg-slate-800"
      >
        {failed ? (
          <span className="flex aspect-[4/3] items-center justify-center p-4 text-center text-sm text-slate-500 dark:text-slate-400" data-testid="adj-preview-missing">
            No preview of this image. Open it in the viewer to see it.
          </span>
        ) : (
          <img
            src={imageUrls(img.image_id).preview}
            alt=""
            loading="lazy"
            className="block aspect-[4/3] w-full object-contain"
            onError={() => setFailed(true)}
            data-testid="adj-preview"
          />
        )}
      </a>
      <a
        href={href}
        target="_blank"
        rel="noopener"
        className={`${btnSecondary} ${btnSmall} self-start`}
        aria-label={`Open ${img.filename} in the viewer (new tab)`}
        data-testid="adj-open-viewer"
      >
        <Icon name="expand" className="size-3.5" /> Open in the viewer
      </a>
    </div>
  );
}

function ScoresTable({ sources, final, differ }: { sources: ScoreColumn[]; final: Scores | null | undefined; differ: string[] }) {
  const { schema } = useConfig();
  return (
    <table className="w-full text-sm">
      <thead>
        <tr className="text-left text-xs uppercase tracking-wide text-slate-500 dark:text-slate-400">
          <th scope="col" className="py-1 font-medium">
            Metric
          </th>
          {sources.map((s) => (
            <th key={s.header} scope="col" className="py-1 pl-3 text-right font-medium normal-case">
              {s.header}
            </th>
          ))}
          <th scope="col" className="py-1 pl-3 text-right font-semibold">
            Final
          </th>
        </tr>
      </thead>
      <tbody>
        {schema.metrics.map((m) => (
          <tr key={m.name} className="border-t border-slate-100 dark:border-slate-800" data-metric={m.name}>
            <th scope="row" className="py-1.5 text-left text-xs font-medium uppercase tracking-wide text-slate-600 dark:text-slate-300">
              {m.name}
              {differ.includes(m.name) && (
                <span className="ml-1 text-amber-700 dark:text-amber-400" title="The readers differ on this metric">
                  ≠<span className="sr-only"> (readers differ)</span>
                </span>
              )}
            </th>
            {sources.map((s) => (
              <td key={s.header} className="py-1.5 pl-3 text-right tabular-nums text-slate-600 dark:text-slate-300" data-testid={s.testId} data-metric={m.name}>
                {formatScore(s.values?.[m.name], schema.step)}
              </td>
            ))}
            <td className="py-1.5 pl-3 text-right font-semibold tabular-nums" data-testid="final-value" data-metric={m.name}>
              {formatScore(final?.[m.name], schema.step)}
            </td>
          </tr>
        ))}
        <tr className="border-t-2 border-slate-300 dark:border-slate-700">
          <th scope="row" className="py-1.5 text-left text-xs font-semibold uppercase tracking-wide">
            Total
          </th>
          {sources.map((s) => (
            <td key={s.header} className="py-1.5 pl-3 text-right tabular-nums text-slate-600 dark:text-slate-300">
              {formatScore(totalScore(s.values, schema), schema.step)}
            </td>
          ))}
          <td className="py-1.5 pl-3 text-right font-semibold tabular-nums">{formatScore(totalScore(final, schema), schema.step)}</td>
        </tr>
      </tbody>
    </table>
  );
}

function ReaderTimes({ study, img }: { study: Study; img: StudyImage }) {
  const parts = study.readers
    .map((r) => {
      const rs = img.reads?.[r];
      if (!rs || (rs.blind_seconds == null && rs.revised_seconds == null)) return null;
      const t = study.blinded
        ? `${formatDuration(rs.blind_seconds)} before the blind score${rs.revised_seconds != null ? `, ${formatDuration(rs.revised_seconds)} after it` : ''}`
        : formatDuration(rs.revised_seconds ?? rs.blind_seconds);
      return `${r}: ${t}`;
    })
    .filter(Boolean);
  if (parts.length === 0) return null;
  return <p className="mt-2 text-xs text-slate-500 dark:text-slate-400">Active viewing — {parts.join(' · ')}</p>;
}
