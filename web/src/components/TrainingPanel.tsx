// Training a new model on the Models page (docs/models.md, "Training"): the administrators' start
// form and the list of runs, a running one polled every second for its progress.

import { Link } from '../lib/router';
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { cancelTrainingRun, getTrainingRun, listImages, listTrainingRuns, startTraining } from '../api/client';
import type { ModelEntry, TrainingRun } from '../api/types';
import { useConfig } from '../lib/config';
import { formatDateTime, shortId } from '../lib/format';
import { comparedToParent, formatFigure, modelTitle, qualityRows, type StatText } from '../lib/models';
import {
  addEpoch,
  defaultTrainFields,
  describeProgress,
  EPOCHS_MAX,
  estimateBeforeStart,
  featuresPercent,
  historyFromTraining,
  lossPaths,
  lossSummary,
  addRateSample,
  maeByMetric,
  paramsSummary,
  parseProgress,
  runParam,
  runStartedBy,
  runStateBadge,
  timeLeftText,
  trainingErrorMessage,
  trainRequest,
  VAL_FRACTION_MAX,
  VAL_FRACTION_MIN,
  type LossPoint,
  type RateSample,
  type TrainFields,
} from '../lib/training';
import { useQuery } from '../lib/useQuery';
import { runsJustDone } from '../lib/retraining';
import { EvaluationSetCard, RetrainPolicyCard } from './RetrainingPanel';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, input, Spinner } from './ui';

/** How often a running run is asked for its progress. */
const POLL_MS = 1000;

/**
 * The retraining policy and the evaluation set (everyone reads them, administrators change them),
 * the start form (administrators) and the runs. `models` is the registry as the page has it (null
 * while loading); `onModelsChanged` asks the page to load it again (a run finished with a model
 * the list does not have yet); `onRunDone` gets each run seen running here that is done now (its
 * model's comparison follows); `pollKey` asks for the evaluation set again when it changes (while
 * that comparison is awaited). Keep the callbacks stable.
 */
export function TrainingSection({
  admin,
  models,
  onModelsChanged,
  onRunDone,
  pollKey = 0,
}: {
  admin: boolean;
  models: ModelEntry[] | null;
  onModelsChanged: () => void;
  onRunDone?: (run: TrainingRun) => void;
  pollKey?: number;
}) {
  const { schema } = useConfig();
  const metricNames = useMemo(() => schema.metrics.map((m) => m.name), [schema]);
  const { data: runs, error: loadError, refetch, setData: setRuns } = useQuery('training', listTrainingRuns);
  const update = useCallback((r: TrainingRun) => setRuns((list) => (list ?? [r]).map((x) => (x.id === r.id ? r : x))), [setRuns]);
  const started = useCallback((r: TrainingRun) => setRuns((list) => [r, ...(list ?? []).filter((x) => x.id !== r.id)]), [setRuns]);

  // A run that finished with a model the registry table does not show yet: load the registry again
  // (once per model, so a model that never appears cannot make a loop).
  const asked = useRef(new Set<string>());
  useEffect(() => {
    if (!runs || !models) return;
    const missing = runs.filter((r) => r.state === 'done' && r.model_id && !models.some((m) => m.id === r.model_id) && !asked.current.has(r.model_id));
    if (missing.length === 0) return;
    for (const r of missing) asked.current.add(r.model_id as string);
    onModelsChanged();
  }, [runs, models, onModelsChanged]);

  // A run seen running that is done now: its model's comparison follows (the page waits for it).
  const states = useRef(new Map<number, string>());
  useEffect(() => {
    if (!runs) return;
    const done = runsJustDone(states.current, runs);
    states.current = new Map(runs.map((r) => [r.id, r.state]));
    // Oldest first, so that the newest is awaited last.
    for (const r of [...done].reverse()) onRunDone?.(r);
  }, [runs, onRunDone]);

  const byId = useMemo(() => new Map((models ?? []).map((m) => [m.id, m])), [models]);
  // The first run that finishes may choose the evaluation set: ask again when one finishes, and
  // while its model's comparison is awaited (the counts change with it).
  const finished = runs ? `${runs.filter((r) => r.state !== 'running').map((r) => r.id).join(',')}#${pollKey}` : null;

  return (
    <>
      <RetrainPolicyCard admin={admin} onRunStarted={started} />
      <EvaluationSetCard admin={admin} refreshKey={finished} />
      {admin && <TrainForm onStarted={started} />}
      <section className={card} aria-labelledby="training-runs-title" data-testid="training-runs">
        <h2 id="training-runs-title" className="border-b border-slate-200 px-4 py-3 font-semibold dark:border-slate-800">
          Training runs
          {!runs && loadError === undefined && (
            <span className="ml-2 align-middle">
              <Spinner label="Loading" />
            </span>
          )}
        </h2>
        {loadError !== undefined && (
          <p role="alert" className="px-4 py-3 text-sm text-red-700 dark:text-red-400" data-testid="training-load-error">
            The training runs could not be loaded: {trainingErrorMessage(loadError, 'load')}{' '}
            <button className="underline" onClick={refetch}>
              Try again
            </button>
          </p>
        )}
        {runs && runs.length === 0 && (
          <p className="px-4 py-6 text-center text-sm text-slate-500 dark:text-slate-400">
            No model has been trained on this server yet.{admin ? ' Start one above.' : ' An administrator starts training here.'}
          </p>
        )}
        {runs && runs.length > 0 && (
          <ol className="divide-y divide-slate-100 dark:divide-slate-800">
            {runs.map((r) => (
              <RunItem
                key={r.id}
                run={r}
                model={r.model_id ? (byId.get(r.model_id) ?? null) : null}
                modelsLoading={models == null}
                admin={admin}
                metricNames={metricNames}
                onUpdate={update}
              />
            ))}
          </ol>
        )}
      </section>
    </>
  );
}

const label = 'flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300';

/** One sentence under a setting: what it does. */
function Hint({ id, children }: { id: string; children: ReactNode }) {
  return (
    <span id={id} className="max-w-56 text-xs font-normal text-slate-500 dark:text-slate-400" data-testid="setting-help">
      {children}
    </span>
  );
}

/** How many images are reviewed (for the time estimate); null when the server does not say. */
async function reviewedCount(signal: AbortSignal): Promise<number | null> {
  const list = await listImages({ review_status: 'reviewed', limit: 1 }, signal);
  return Number.isFinite(list.total) ? list.total : null;
}

function TrainForm({ onStarted }: { onStarted: (run: TrainingRun) => void }) {
  const [fields, setFields] = useState<TrainFields>(defaultTrainFields);
  // Only for the estimate: when it cannot be loaded, the form says no time.
  const reviewed = useQuery('training/reviewed-count', reviewedCount);
  const estimate = estimateBeforeStart({ headOnly: fields.mode === 'head', images: reviewed.data, maxEpochs: Number(fields.epochs.trim()) });
  const [error, setError] = useState<{ field: keyof TrainFields | null; text: string } | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const set = (k: keyof TrainFields) => (e: { target: { value: string } }) => {
    const value = e.target.value;
    setFields((f) => ({ ...f, [k]: value }));
    if (error?.field === k) setError(null);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setNote(null);
    const check = trainRequest(fields);
    if (!check.ok) {
      setError({ field: check.field, text: check.error });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const run = await startTraining(check.request);
      onStarted(run);
      setNote(`Training run ${run.id} started: its progress shows below.`);
    } catch (err) {
      setError({ field: null, text: `Training did not start. ${trainingErrorMessage(err, 'start')}` });
    } finally {
      setBusy(false);
    }
  };

  const invalid = (k: keyof TrainFields) => (error?.field === k ? { 'aria-invalid': true as const, 'aria-errormessage': 'train-error' } : {});

  return (
    <form className={`${card} flex flex-wrap items-end gap-3 p-4`} onSubmit={(e) => void submit(e)} aria-labelledby="train-title" noValidate data-testid="train-form">
      <h2 id="train-title" className="w-full font-semibold">
        Train a new model
      </h2>
      <p id="train-help" className="w-full text-sm text-slate-600 dark:text-slate-300">
        Starts from the active model and trains on every reviewed image with all metrics scored (except the evaluation set's sample groups, kept
        aside to compare models): either it fine-tunes the last layers of the network (the original's recipe; minutes per epoch on a CPU) or it
        trains only the last layer (seconds). The images are split into training and validation <em>by sample group</em>, so one sample is never on
        both sides; training stops early when the validation loss stops improving. The new model is registered with its validation metrics beside
        its parent's and compared with the active model, but <strong>not activated</strong>: activate it when its metrics convince you.{' '}
        <Link to="/history?review_status=unreviewed&sort=uncertainty" className="underline">
          Images to review first: unreviewed, least confident
        </Link>
        .
      </p>
      <label className={label}>
        What trains
        <select
          className={`${input} w-80`}
          value={fields.mode}
          onChange={(e) => setFields((f) => ({ ...f, mode: e.target.value === 'head' ? 'head' : 'full' }))}
          aria-describedby="train-mode-help"
          data-testid="train-mode"
        >
          <option value="full">Fine-tune the last layers of the network (slower, learns more)</option>
          <option value="head">Train only the last layer (fast)</option>
        </select>
        <Hint id="train-mode-help">
          The last layer alone trains in seconds; the fine-tune also retunes the two blocks before it and takes minutes per epoch.{' '}
          <span data-testid="train-mode-detail">
            Technical: {fields.mode === 'head' ? 'head only (fc), on cached features' : 'layer3, layer4 and fc'}.
          </span>
        </Hint>
      </label>
      <label className={label}>
        Name of the new model (optional)
        <input className={`${input} w-56`} value={fields.name} onChange={set('name')} placeholder="e.g. pancreas head v3" autoComplete="off" aria-describedby="train-name-help" />
        <Hint id="train-name-help">How the model is listed here, and named in the header once it is active.</Hint>
      </label>
      <label className={label}>
        Seed
        <input
          className={`${input} w-24`}
          type="number"
          inputMode="numeric"
          min={0}
          step={1}
          value={fields.seed}
          onChange={set('seed')}
          aria-describedby="train-seed-help"
          {...invalid('seed')}
        />
        <Hint id="train-seed-help">Fixes the random split and start: the same seed on the same images trains the same model again.</Hint>
      </label>
      <label className={label}>
        Most epochs
        <input
          className={`${input} w-24`}
          type="number"
          inputMode="numeric"
          min={1}
          max={EPOCHS_MAX}
          step={1}
          value={fields.epochs}
          onChange={set('epochs')}
          aria-describedby="train-epochs-help"
          {...invalid('epochs')}
        />
        <Hint id="train-epochs-help">The most passes over the training images; training stops sooner when validation stops improving.</Hint>
      </label>
      <label className={label}>
        Validation share
        <input
          className={`${input} w-24`}
          type="number"
          inputMode="decimal"
          min={VAL_FRACTION_MIN}
          max={VAL_FRACTION_MAX}
          step={0.05}
          value={fields.valFraction}
          onChange={set('valFraction')}
          aria-describedby="train-val-help"
          {...invalid('valFraction')}
        />
        <Hint id="train-val-help">The share of sample groups kept aside to measure the new model and never trained on (0.2 is one in five).</Hint>
      </label>
      <button type="submit" className={btnPrimary} disabled={busy}>
        {busy && <Spinner />} {busy ? 'Starting…' : 'Start training'}
      </button>
      {estimate && (
        <p className="w-full text-sm text-slate-600 dark:text-slate-300" data-testid="train-estimate">
          <strong className="font-medium text-slate-700 dark:text-slate-200">How long:</strong> {estimate}
        </p>
      )}
      {error && (
        <p id="train-error" role="alert" className="w-full text-sm text-red-700 dark:text-red-400" data-testid="train-error">
          {error.text}
        </p>
      )}
      {note && (
        <p role="status" className="w-full text-sm text-green-800 dark:text-green-300" data-testid="train-started">
          {note}
        </p>
      )}
    </form>
  );
}

function RunItem({
  run,
  model,
  modelsLoading,
  admin,
  metricNames,
  onUpdate,
}: {
  run: TrainingRun;
  model: ModelEntry | null;
  modelsLoading: boolean;
  admin: boolean;
  metricNames: readonly string[];
  onUpdate: (run: TrainingRun) => void;
}) {
  const running = run.state === 'running';
  const progress = parseProgress(run.progress);
  // The losses seen while it runs (the server keeps only the latest epoch): one more point for each
  // new progress the list hands down.
  const [seen, setSeen] = useState(() => ({ progress: run.progress, points: addEpoch([], progress) }));
  if (seen.progress !== run.progress) setSeen({ progress: run.progress, points: addEpoch(seen.points, progress) });
  // The pace seen while polling (epochs, or images with features, with the server's times), for the time left.
  const [pace, setPace] = useState(() => ({ progress: run.progress, samples: addRateSample([], run) }));
  if (pace.progress !== run.progress) setPace({ progress: run.progress, samples: addRateSample(pace.samples, run) });
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);

  // While it runs: asked again POLL_MS after each answer; the list takes what it says.
  const poll = useQuery(running ? `training/${run.id}` : null, (signal) => getTrainingRun(run.id, signal));
  const pollError = poll.error === undefined ? null : trainingErrorMessage(poll.error, 'poll');
  useEffect(() => {
    if (poll.data) onUpdate(poll.data);
  }, [poll.data, onUpdate]);
  useEffect(() => {
    if (!running || poll.loading) return;
    const timer = setTimeout(poll.refetch, POLL_MS);
    return () => clearTimeout(timer);
  }, [running, poll.loading, poll.refetch]);

  const cancel = async () => {
    if (!window.confirm(`Stop training run ${run.id} after its current epoch? No model is made.`)) return;
    setCancelling(true);
    setCancelError(null);
    try {
      onUpdate(await cancelTrainingRun(run.id));
    } catch (e) {
      setCancelError(`Not cancelled. ${trainingErrorMessage(e, 'cancel')}`);
    } finally {
      setCancelling(false);
    }
  };

  const badge = runStateBadge(run);
  const settings = paramsSummary(run);
  return (
    <li
      className="flex flex-col gap-2 px-4 py-3 text-sm"
      data-testid="training-run"
      data-run-id={run.id}
      data-state={run.state}
      data-origin={run.origin ?? 'manual'}
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <span className="font-medium">Run {run.id}</span>
        <span data-testid="training-state" data-state={run.state}>
          <Badge tone={badge.tone}>
            {running && !run.cancel_requested && <span className="inline-block size-1.5 animate-pulse rounded-full bg-current" aria-hidden />}
            {badge.label}
          </Badge>
        </span>
        <span className="text-xs text-slate-500 dark:text-slate-400" data-testid="training-started-by">
          started {formatDateTime(run.created_at)} {runStartedBy(run)}
          {settings && ` · ${settings}`}
        </span>
        {admin && running && (
          <button
            type="button"
            className={`${btnSecondary} ${btnSmall} ml-auto`}
            disabled={cancelling || run.cancel_requested}
            onClick={() => void cancel()}
            title="Stop after the current epoch; no model is made"
          >
            {cancelling && <Spinner />} Cancel<span className="sr-only"> training run {run.id}</span>
          </button>
        )}
      </div>
      {running && <LiveProgress run={run} seen={seen.points} pace={pace.samples} metricNames={metricNames} />}
      {running && pollError && (
        <p className="text-xs text-amber-800 dark:text-amber-300" data-testid="training-poll-error">
          The progress could not be updated: {pollError} Trying again…
        </p>
      )}
      {cancelError && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400">
          {cancelError}
        </p>
      )}
      {run.state === 'done' && <DoneOutcome run={run} model={model} modelsLoading={modelsLoading} metricNames={metricNames} />}
      {run.state === 'failed' && (
        <p className="text-sm text-red-700 dark:text-red-400" data-testid="training-error">
          {run.error?.trim() || 'The run failed without saying why; see the server log.'}
        </p>
      )}
      {run.state === 'cancelled' && (
        <p className="text-sm text-slate-600 dark:text-slate-300" data-testid="training-cancelled">
          Cancelled: no model was made.
        </p>
      )}
    </li>
  );
}

function LiveProgress({ run, seen, pace, metricNames }: { run: TrainingRun; seen: LossPoint[]; pace: readonly RateSample[]; metricNames: readonly string[] }) {
  const p = parseProgress(run.progress);
  const text = describeProgress(run.progress, runParam(run, 'epochs'));
  const left = timeLeftText(pace, p, runParam(run, 'epochs'));
  return (
    <div className="flex flex-col gap-2" data-testid="training-progress" data-stage={p?.stage ?? 'starting'}>
      <p className={p?.stage === 'warning' ? 'text-amber-800 dark:text-amber-300' : 'text-slate-700 dark:text-slate-200'}>
        {text}
        {left && (
          <span className="ml-2 text-xs text-slate-500 dark:text-slate-400" data-testid="training-time-left">
            {left}
          </span>
        )}
      </p>
      {p?.stage === 'features' && <ProgressBar done={p.done} total={p.total} label={`Features of training run ${run.id}`} />}
      {p?.stage === 'epoch' && (
        <div className="flex flex-wrap items-start gap-x-6 gap-y-2">
          <dl className="grid grid-cols-[auto_auto] gap-x-3 gap-y-0.5 text-xs">
            <dt className="text-slate-500 dark:text-slate-400">Train loss</dt>
            <dd className="font-medium tabular-nums">{formatFigure(p.train_loss)}</dd>
            <dt className="text-slate-500 dark:text-slate-400">Validation loss</dt>
            <dd className="font-medium tabular-nums">{formatFigure(p.val_loss)}</dd>
          </dl>
          {p.val_mae.length > 0 && (
            <div className="text-xs">
              <div className="text-slate-500 dark:text-slate-400">Validation MAE (score units)</div>
              <dl className="flex flex-wrap gap-x-3 gap-y-0.5">
                {maeByMetric(p.val_mae, metricNames).map((m) => (
                  <div key={m.metric} className="whitespace-nowrap">
                    <dt className="inline text-slate-500 dark:text-slate-400">{m.metric} </dt>
                    <dd className="inline font-medium tabular-nums">{m.value}</dd>
                  </div>
                ))}
              </dl>
            </div>
          )}
          <LossChart points={seen} />
        </div>
      )}
    </div>
  );
}

function ProgressBar({ done, total, label: name }: { done: number; total: number; label: string }) {
  const pct = featuresPercent(done, total);
  return (
    <div
      role="progressbar"
      aria-label={name}
      aria-valuemin={0}
      aria-valuemax={total}
      aria-valuenow={Math.min(done, total)}
      aria-valuetext={`${done} of ${total} images`}
      className="h-2 w-full max-w-md overflow-hidden rounded-full bg-slate-200 dark:bg-slate-700"
    >
      <div className="h-full rounded-full bg-indigo-600 transition-[width] dark:bg-indigo-400" style={{ width: `${pct}%` }} />
    </div>
  );
}

const CHART_W = 180;
const CHART_H = 48;

/** Train (solid) and validation (dashed) loss per epoch, an inline SVG: nothing to load. */
function LossChart({ points }: { points: readonly LossPoint[] }) {
  const paths = lossPaths(points, CHART_W, CHART_H);
  if (!paths) return null;
  const summary = lossSummary(paths);
  return (
    <figure className="flex flex-col gap-0.5 text-xs" data-testid="loss-chart">
      <svg width={CHART_W} height={CHART_H} viewBox={`0 0 ${CHART_W} ${CHART_H}`} role="img" aria-label={summary} className="rounded bg-slate-50 dark:bg-slate-800">
        <path d={paths.train} className="fill-none stroke-indigo-600 dark:stroke-indigo-400" strokeWidth={1.5} />
        <path d={paths.val} className="fill-none stroke-amber-700 dark:stroke-amber-400" strokeWidth={1.5} strokeDasharray="4 2" />
      </svg>
      <figcaption className="text-slate-500 dark:text-slate-400" aria-hidden>
        <span className="text-indigo-700 dark:text-indigo-300">━</span> train <span className="text-amber-700 dark:text-amber-400">┅</span> validation
        {paths.log ? ' · log scale' : ''}
      </figcaption>
    </figure>
  );
}

function DoneOutcome({ run, model, modelsLoading, metricNames }: { run: TrainingRun; model: ModelEntry | null; modelsLoading: boolean; metricNames: readonly string[] }) {
  const rows = qualityRows(model?.metrics, metricNames);
  const history = historyFromTraining(model?.training);
  return (
    <div className="flex flex-col gap-2" data-testid="training-done">
      <p>
        New model:{' '}
        {model ? (
          <strong className="font-semibold" data-testid="training-model" data-model-id={model.id}>
            {modelTitle(model)}
          </strong>
        ) : (
          <code title={run.model_id ?? undefined} data-testid="training-model" data-model-id={run.model_id ?? ''}>
            {shortId(run.model_id)}
          </code>
        )}{' '}
        <span className="text-slate-600 dark:text-slate-300">
          {model?.active ? '— it is active now.' : '— registered, not active: activate it in the table above when its metrics convince you.'}
        </span>
        {!model && modelsLoading && (
          <span className="ml-2 align-middle">
            <Spinner label="Loading the model" />
          </span>
        )}
      </p>
      {(rows.length > 0 || history.length > 1) && (
        <div className="flex flex-wrap items-start gap-x-6 gap-y-2">
          {rows.length > 0 && (
            <table className="text-xs" data-testid="training-quality">
              <caption className="pb-1 text-left text-slate-500 dark:text-slate-400">Validation, against the parent on the same images</caption>
              <thead className="text-left text-slate-500 dark:text-slate-400">
                <tr>
                  <th scope="col" className="pr-3 font-medium">
                    Metric
                  </th>
                  <th scope="col" className="pr-3 font-medium">
                    MAE (parent)
                  </th>
                  <th scope="col" className="pr-3 font-medium">
                    QWK (parent)
                  </th>
                  <th scope="col" className="font-medium">
                    Images
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((q) => (
                  <tr key={q.metric}>
                    <th scope="row" className="pr-3 text-left font-normal">
                      {q.metric}
                    </th>
                    <td className="pr-3 tabular-nums">
                      <Versus mine={q.mae} parent={q.parentMae} lowerIsBetter />
                    </td>
                    <td className="pr-3 tabular-nums">
                      <Versus mine={q.qwk} parent={q.parentQwk} lowerIsBetter={false} />
                    </td>
                    <td className="tabular-nums">{q.n ?? '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LossChart points={history} />
        </div>
      )}
    </div>
  );
}

const VERDICT = {
  better: { mark: '✓', text: 'better than the parent', className: 'text-green-700 dark:text-green-400' },
  worse: { mark: '✗', text: 'worse than the parent', className: 'text-red-700 dark:text-red-400' },
  same: { mark: '=', text: 'the same as the parent', className: 'text-slate-500 dark:text-slate-400' },
} as const;

function Versus({ mine, parent, lowerIsBetter }: { mine: StatText; parent: StatText; lowerIsBetter: boolean }) {
  const verdict = comparedToParent(mine, parent, lowerIsBetter);
  const v = verdict ? VERDICT[verdict] : null;
  return (
    <span className="whitespace-nowrap">
      <span className="font-medium" title={mine.reason}>
        {mine.text}
      </span>{' '}
      <span className="text-slate-500 dark:text-slate-400" title={parent.reason}>
        ({parent.text})
      </span>
      {v && (
        <span className={`ml-1 ${v.className}`} title={v.text}>
          <span aria-hidden>{v.mark}</span>
          <span className="sr-only">{v.text}</span>
        </span>
      )}
    </span>
  );
}
