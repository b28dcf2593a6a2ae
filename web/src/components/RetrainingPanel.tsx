// Automated retraining on the Models page (docs/models.md): the retraining policy and the
// evaluation set (everyone reads them; administrators change them and start a policy run), and
// each model's comparisons with the active model (administrators compare now and promote).

import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { evaluateModel, getEvaluationSet, getRetrainPolicy, listModelEvaluations, modelUrls, runRetrainPolicy, setEvaluationSet, setRetrainPolicy } from '../api/client';
import type { EvaluationSet, EvaluationSetView as EvaluationSetViewData, MetricComparison, ModelEntry, ModelEvaluation, RetrainPolicy, TrainingRun } from '../api/types';
import { useConfig } from '../lib/config';
import { formatDateTime, shortId } from '../lib/format';
import { modelTitle } from '../lib/models';
import {
  comparisonBasis,
  DEFAULT_LAYERS,
  evaluationFileName,
  evaluationSetChosen,
  evaluationSetCounts,
  evaluationSetErrorField,
  evaluationSetExtra,
  evaluationSetFields,
  evaluationSetRequest,
  evaluationSetRule,
  evaluationSetShortNote,
  evaluationSetTrained,
  evaluationSummary,
  EVALUATION_SHARE_MAX,
  forestRow,
  forestSummary,
  formatDifference,
  formatShare,
  formatStatistic,
  hasFigures,
  memberImages,
  parseReport,
  percentText,
  policyEnabled,
  policyFields,
  policyKind,
  policyMetrics,
  policyPromotion,
  policyRequest,
  policySetBy,
  policyTrigger,
  promotion,
  retrainingErrorMessage,
  verdictBadge,
  type EvaluationSetField,
  type EvaluationSetFields,
  type ForestRow,
  type PolicyFields,
} from '../lib/retraining';
import type { Shown } from '../lib/stats';
import { useQuery } from '../lib/useQuery';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, Icon, input, Spinner } from './ui';

const fieldLabel = 'flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300';
const muted = 'text-slate-500 dark:text-slate-400';
const link = 'text-indigo-700 underline-offset-2 hover:underline dark:text-indigo-300';

/** An inline "Change…" form's state: closing it puts the focus back on the button that opened it. */
function useEditing() {
  const [editing, setEditing] = useState(false);
  const changeButton = useRef<HTMLButtonElement>(null);
  const focusChange = useRef(false);
  useEffect(() => {
    if (!editing && focusChange.current) {
      focusChange.current = false;
      changeButton.current?.focus();
    }
  }, [editing]);
  const close = () => {
    focusChange.current = true;
    setEditing(false);
  };
  return { editing, setEditing, changeButton, close };
}

function ErrorLine({ id, testId, children }: { id?: string; testId: string; children: ReactNode }) {
  return (
    <p id={id} role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid={testId}>
      {children}
    </p>
  );
}

function OkLine({ testId, children }: { testId: string; children: ReactNode }) {
  return (
    <p role="status" className="text-sm text-green-800 dark:text-green-300" data-testid={testId}>
      {children}
    </p>
  );
}

function Fieldset({ legend, children, hint }: { legend: string; children: ReactNode; hint?: ReactNode }) {
  return (
    <fieldset className="flex min-w-60 flex-col gap-2">
      <legend className="mb-1 text-sm font-medium">{legend}</legend>
      {children}
      {hint && <span className={`max-w-72 text-xs ${muted}`}>{hint}</span>}
    </fieldset>
  );
}

function Radio({ name, checked, onChange, label, note }: { name: string; checked: boolean; onChange: () => void; label: string; note?: string }) {
  return (
    <label className="flex cursor-pointer items-start gap-2 text-sm">
      <input type="radio" className="mt-0.5 size-4 shrink-0 accent-indigo-600" name={name} checked={checked} onChange={onChange} />
      <span>
        {label}
        {note && <span className={`block text-xs ${muted}`}>{note}</span>}
      </span>
    </label>
  );
}

// ---- The retraining policy ----

/**
 * The retraining policy in sentences; administrators change it (Change…) and start a run of it
 * now (`onRunStarted` gets the run, for the runs list).
 */
export function RetrainPolicyCard({ admin, onRunStarted }: { admin: boolean; onRunStarted: (run: TrainingRun) => void }) {
  const { data: policy, error: loadError, refetch, setData } = useQuery('retrain-policy', getRetrainPolicy);
  const { editing, setEditing, changeButton, close } = useEditing();
  const [note, setNote] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [runError, setRunError] = useState<string | null>(null);

  const runNow = async () => {
    setRunning(true);
    setRunError(null);
    setNote(null);
    try {
      const run = await runRetrainPolicy();
      onRunStarted(run);
      setNote(`Training run ${run.id} started by the retraining policy: its progress shows under Training runs.`);
    } catch (e) {
      setRunError(`Not started. ${retrainingErrorMessage(e, 'run')}`);
    } finally {
      setRunning(false);
    }
  };

  const enabled = policy ? policyEnabled(policy) : false;
  return (
    <section className={card} aria-labelledby="policy-title" data-testid="retrain-policy">
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-4 py-3 dark:border-slate-800">
        <h2 id="policy-title" className="font-semibold">
          Retraining policy
        </h2>
        {policy && (
          <span data-testid="policy-state" data-enabled={enabled ? 'true' : 'false'}>
            <Badge tone={enabled ? 'blue' : 'slate'}>{enabled ? 'on' : 'off'}</Badge>
          </span>
        )}
        {!policy && loadError === undefined && <Spinner label="Loading" />}
        {admin && policy && (
          <div className="ml-auto flex flex-wrap gap-2">
            {!editing && (
              <button
                ref={changeButton}
                type="button"
                className={`${btnSecondary} ${btnSmall}`}
                onClick={() => {
                  setNote(null);
                  setEditing(true);
                }}
              >
                Change…<span className="sr-only"> retraining policy</span>
              </button>
            )}
            <button
              type="button"
              className={`${btnSecondary} ${btnSmall}`}
              disabled={running}
              onClick={() => void runNow()}
              title="Start a run of the policy now, whatever its triggers say"
              data-testid="policy-run"
            >
              {running && <Spinner />} Run now
            </button>
          </div>
        )}
      </div>
      <div className="flex flex-col gap-3 px-4 py-3 text-sm">
        {loadError !== undefined && (
          <ErrorLine testId="policy-load-error">
            The retraining policy could not be loaded: {retrainingErrorMessage(loadError, 'load')}{' '}
            <button className="underline" onClick={refetch}>
              Try again
            </button>
          </ErrorLine>
        )}
        {policy && <PolicySentences policy={policy} admin={admin} />}
        {admin && policy && editing && (
          <PolicyForm
            policy={policy}
            onSaved={(saved) => {
              setData(() => saved);
              setNote('Saved: the server follows the new policy from now on.');
              close();
            }}
            onCancel={close}
          />
        )}
        {runError && <ErrorLine testId="policy-run-error">{runError}</ErrorLine>}
        {note && !editing && <OkLine testId="policy-saved">{note}</OkLine>}
      </div>
    </section>
  );
}

function PolicySentences({ policy, admin }: { policy: RetrainPolicy; admin: boolean }) {
  const { schema } = useConfig();
  const kind = policyKind(policy);
  return (
    <div className="flex flex-col gap-1">
      <p className="font-medium" data-testid="policy-trigger">
        {policyTrigger(policy)}
      </p>
      <ul className="flex flex-col gap-0.5 text-slate-700 dark:text-slate-200">
        <li data-testid="policy-kind">
          {kind.text} <span className={`text-xs ${muted}`}>({kind.detail})</span>
        </li>
        <li data-testid="policy-promotion">{policyPromotion(policy, admin)}</li>
        <li data-testid="policy-metrics">{policyMetrics(policy, schema.metrics.map((m) => m.name))}</li>
      </ul>
      <p className={`text-xs ${muted}`}>
        Every new model, trained by hand or by the policy, is compared with the active model on the evaluation set below; “better” means a lower error
        beyond the uncertainty on the metrics that must improve, and worse on none.
      </p>
      <p className={`text-xs ${muted}`} data-testid="policy-set-by">
        {policySetBy(policy)}
      </p>
    </div>
  );
}

function PolicyForm({ policy, onSaved, onCancel }: { policy: RetrainPolicy; onSaved: (p: RetrainPolicy) => void; onCancel: () => void }) {
  const { schema } = useConfig();
  const metricNames = schema.metrics.map((m) => m.name);
  const id = useId();
  const [fields, setFields] = useState<PolicyFields>(() => policyFields(policy));
  const [error, setError] = useState<{ field: 'after' | 'every' | null; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  const afterInput = useRef<HTMLInputElement>(null);
  const everyInput = useRef<HTMLInputElement>(null);

  useEffect(() => first.current?.focus(), []);

  const set = <K extends keyof PolicyFields>(k: K, v: PolicyFields[K]) => {
    setFields((f) => ({ ...f, [k]: v }));
    if (error?.field === k) setError(null);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const check = policyRequest(fields, metricNames);
    if (!check.ok) {
      setError({ field: check.field, text: check.error });
      (check.field === 'after' ? afterInput : everyInput).current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await setRetrainPolicy(check.body));
    } catch (err) {
      setError({ field: null, text: `Not saved. ${retrainingErrorMessage(err, 'save-policy')}` });
    } finally {
      setBusy(false);
    }
  };

  const errorId = `${id}-error`;
  const invalid = (k: 'after' | 'every') => (error?.field === k ? { 'aria-invalid': true as const, 'aria-errormessage': errorId } : {});
  const number = `${input} w-24`;

  return (
    <form
      className="flex flex-col gap-4 rounded-lg border border-slate-200 p-3 dark:border-slate-700"
      onSubmit={(e) => void submit(e)}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && !busy) {
          e.preventDefault();
          onCancel();
        }
      }}
      aria-label="Retraining policy"
      noValidate
      data-testid="policy-form"
    >
      <div className="flex flex-wrap gap-x-8 gap-y-4">
        <Fieldset legend="When to retrain" hint="Neither ticked: the policy is off (Run now still starts it by hand).">
          <div className="flex flex-wrap items-center gap-2 text-sm">
            <label className="flex items-center gap-2">
              <input ref={first} type="checkbox" className="size-4 accent-indigo-600" checked={fields.afterOn} onChange={(e) => set('afterOn', e.target.checked)} />
              After
            </label>
            <input
              ref={afterInput}
              className={number}
              type="number"
              inputMode="numeric"
              min={1}
              step={1}
              value={fields.after}
              disabled={!fields.afterOn}
              onChange={(e) => set('after', e.target.value)}
              aria-label="Newly reviewed images before retraining"
              {...invalid('after')}
            />
            <span>newly reviewed images</span>
          </div>
          <div className="flex flex-wrap items-center gap-2 text-sm">
            <label className="flex items-center gap-2">
              <input type="checkbox" className="size-4 accent-indigo-600" checked={fields.everyOn} onChange={(e) => set('everyOn', e.target.checked)} />
              Every
            </label>
            <input
              ref={everyInput}
              className={number}
              type="number"
              inputMode="numeric"
              min={1}
              step={1}
              value={fields.every}
              disabled={!fields.everyOn}
              onChange={(e) => set('every', e.target.value)}
              aria-label="Hours between runs"
              {...invalid('every')}
            />
            <span>hours</span>
          </div>
        </Fieldset>
        <Fieldset legend="What trains">
          <Radio
            name={`${id}-kind`}
            checked={!fields.headOnly}
            onChange={() => set('headOnly', false)}
            label="Fine-tune the last layers of the network (default)"
            note={`Slower, learns more. Technical: ${(fields.layers.length ? fields.layers : DEFAULT_LAYERS).join(', ')}.`}
          />
          <Radio
            name={`${id}-kind`}
            checked={fields.headOnly}
            onChange={() => set('headOnly', true)}
            label="Train only the last layer (fast)"
            note="Seconds. Technical: head only (fc), on cached features."
          />
        </Fieldset>
        <Fieldset legend="A model that compares better">
          <Radio
            name={`${id}-promote`}
            checked={!fields.autoPromote}
            onChange={() => set('autoPromote', false)}
            label="Waits for an administrator’s approval (default)"
            note="Promote it here, under its comparison."
          />
          <Radio
            name={`${id}-promote`}
            checked={fields.autoPromote}
            onChange={() => set('autoPromote', true)}
            label="Is promoted automatically"
            note="It becomes the active model at once; Roll back undoes it."
          />
        </Fieldset>
        <Fieldset legend="Metrics that must improve" hint="None ticked: every metric must improve.">
          {metricNames.map((m) => (
            <label key={m} className="flex items-center gap-2 text-sm">
              <input
                type="checkbox"
                className="size-4 accent-indigo-600"
                checked={fields.metrics.includes(m)}
                onChange={(e) => set('metrics', e.target.checked ? [...fields.metrics, m] : fields.metrics.filter((x) => x !== m))}
              />
              {m}
            </label>
          ))}
        </Fieldset>
      </div>
      <div className="flex flex-wrap gap-2">
        <button type="submit" className={btnPrimary} disabled={busy}>
          {busy && <Spinner />} {busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className={btnSecondary} disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && (
        <ErrorLine id={errorId} testId="policy-error">
          {error.text}
        </ErrorLine>
      )}
    </form>
  );
}

// ---- The evaluation set ----

const chip = 'rounded-full border border-slate-300 bg-slate-50 px-2 py-0.5 text-xs font-medium dark:border-slate-600 dark:bg-slate-800';

/**
 * The sample groups kept aside to compare models on, and what the set holds today. `refreshKey`:
 * it is asked for again when this changes from one value to another (a training run finished:
 * the first one chooses it; and while the new model's comparison is awaited); null while the
 * runs are not known yet.
 */
export function EvaluationSetCard({ admin, refreshKey }: { admin: boolean; refreshKey: string | null }) {
  const { data: view, error: loadError, refetch, setData } = useQuery('evaluation-set', getEvaluationSet);
  const lastKey = useRef(refreshKey);
  useEffect(() => {
    const before = lastKey.current;
    lastKey.current = refreshKey;
    if (before !== null && refreshKey !== null && before !== refreshKey) refetch();
  }, [refreshKey, refetch]);
  const { editing, setEditing, changeButton, close } = useEditing();
  const [note, setNote] = useState<string | null>(null);
  const set = view?.set ?? null;

  return (
    <section className={card} aria-labelledby="evaluation-set-title" data-testid="evaluation-set">
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-4 py-3 dark:border-slate-800">
        <h2 id="evaluation-set-title" className="font-semibold">
          Evaluation set
        </h2>
        {set && (
          <span className={`text-sm ${muted}`} data-testid="evaluation-set-share">
            about {percentText(set.share)} % of the sample groups
          </span>
        )}
        {!view && loadError === undefined && <Spinner label="Loading" />}
        {admin && view && !editing && (
          <button
            ref={changeButton}
            type="button"
            className={`${btnSecondary} ${btnSmall} ml-auto`}
            onClick={() => {
              setNote(null);
              setEditing(true);
            }}
          >
            Change…<span className="sr-only"> evaluation set</span>
          </button>
        )}
      </div>
      <div className="flex flex-col gap-3 px-4 py-3 text-sm">
        {loadError !== undefined && (
          <ErrorLine testId="evaluation-set-load-error">
            The evaluation set could not be loaded: {retrainingErrorMessage(loadError, 'load')}{' '}
            <button className="underline" onClick={refetch}>
              Try again
            </button>
          </ErrorLine>
        )}
        {view && !set && (
          <>
            <p className={`text-xs ${muted}`}>
              Sample groups kept aside — never trained on — so that each new model is compared with the active one on images neither has learned from.
            </p>
            <p data-testid="evaluation-set-none">
              Not chosen yet — it is chosen automatically at the first training run.
              {admin ? ' You can also choose it now (Change…).' : ''}
            </p>
          </>
        )}
        {view && set && <EvaluationSetView view={view} set={set} />}
        {admin && editing && view && (
          <EvaluationSetForm
            set={set}
            onSaved={(saved) => {
              setData((v) => (v ? { ...v, set: saved } : v));
              // The members and counts follow the new rule: ask for them.
              refetch();
              setNote('Saved: comparisons from now on use this set (earlier ones keep the set they used).');
              close();
            }}
            onCancel={close}
          />
        )}
        {note && !editing && <OkLine testId="evaluation-set-saved">{note}</OkLine>}
      </div>
    </section>
  );
}

function EvaluationSetView({ view, set }: { view: EvaluationSetViewData; set: EvaluationSet }) {
  const short = evaluationSetShortNote(view);
  const extra = evaluationSetExtra(set);
  const trained = evaluationSetTrained(set);
  return (
    <div className="flex flex-col gap-2">
      <p data-testid="evaluation-set-rule">{evaluationSetRule(set)}</p>
      {view.members.length > 0 ? (
        <ul className="flex flex-wrap gap-1.5" aria-label="Reviewed sample groups in the evaluation set today" data-testid="evaluation-set-groups">
          {view.members.map((m) => (
            <li key={m.group} className={chip} data-testid="evaluation-set-group" data-group={m.group}>
              {m.group} <span className={`font-normal ${muted}`}>· {memberImages(m)}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className={muted} data-testid="evaluation-set-empty">
          No reviewed sample group is in the set yet.
        </p>
      )}
      <p data-testid="evaluation-set-counts">{evaluationSetCounts(view)}</p>
      {short && (
        <p className="text-amber-800 dark:text-amber-300" data-testid="evaluation-set-short">
          {short}
        </p>
      )}
      {extra && <p data-testid="evaluation-set-extra">{extra}</p>}
      {trained && (
        <details data-testid="evaluation-set-trained">
          <summary className="cursor-pointer">{trained}</summary>
          <ul className="mt-1.5 flex flex-wrap gap-1.5" aria-label="Sample groups kept out because models trained on them">
            {set.trained.map((g) => (
              <li key={g} className={chip}>
                {g}
              </li>
            ))}
          </ul>
        </details>
      )}
      <p data-testid="evaluation-set-reason">
        <span className={muted}>Reason:</span> {set.reason}
      </p>
      <p className={`text-xs ${muted}`} data-testid="evaluation-set-chosen">
        {evaluationSetChosen(set)}
      </p>
    </div>
  );
}

function EvaluationSetForm({ set, onSaved, onCancel }: { set: EvaluationSet | null; onSaved: (s: EvaluationSet) => void; onCancel: () => void }) {
  const id = useId();
  const [fields, setFields] = useState<EvaluationSetFields>(() => evaluationSetFields(set));
  const [error, setError] = useState<{ field: EvaluationSetField | null; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const shareInput = useRef<HTMLInputElement>(null);
  const groupsInput = useRef<HTMLTextAreaElement>(null);
  const reasonInput = useRef<HTMLInputElement>(null);
  const focus = (f: EvaluationSetField) => (f === 'share' ? shareInput : f === 'groups' ? groupsInput : reasonInput).current?.focus();

  useEffect(() => shareInput.current?.focus(), []);

  const update = <K extends keyof EvaluationSetFields>(k: K, v: EvaluationSetFields[K]) => {
    setFields((f) => ({ ...f, [k]: v }));
    if (error?.field === k) setError(null);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const check = evaluationSetRequest(fields, set);
    if (!check.ok) {
      setError({ field: check.field, text: check.error });
      focus(check.field);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await setEvaluationSet(check.body));
    } catch (err) {
      const field = evaluationSetErrorField(err);
      setError({ field, text: `Not saved. ${retrainingErrorMessage(err, 'save-set')}` });
      if (field) focus(field);
    } finally {
      setBusy(false);
    }
  };

  const errorId = `${id}-error`;
  const invalid = (k: EvaluationSetField) => (error?.field === k ? { 'aria-invalid': true as const, 'aria-errormessage': errorId } : {});

  return (
    <form
      className="flex flex-col gap-3 rounded-lg border border-slate-200 p-3 dark:border-slate-700"
      onSubmit={(e) => void submit(e)}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && !busy) {
          e.preventDefault();
          onCancel();
        }
      }}
      aria-label="Change the evaluation set"
      noValidate
      data-testid="evaluation-set-form"
    >
      <div className="flex flex-wrap gap-4">
        <label className={fieldLabel}>
          Share of the sample groups (%)
          <input
            ref={shareInput}
            className={`${input} w-24`}
            type="number"
            inputMode="decimal"
            min={0}
            max={EVALUATION_SHARE_MAX * 100}
            step="any"
            value={fields.share}
            onChange={(e) => update('share', e.target.value)}
            aria-describedby={`${id}-share-help`}
            {...invalid('share')}
          />
          <span id={`${id}-share-help`} className={`max-w-56 text-xs font-normal ${muted}`}>
            0 to {EVALUATION_SHARE_MAX * 100}. The rule keeps about this share of all sample groups aside, new ones too.
          </span>
        </label>
        <label className={fieldLabel}>
          Extra sample groups (optional)
          <textarea
            ref={groupsInput}
            className={`${input} h-24 w-64 font-mono`}
            value={fields.groups}
            onChange={(e) => update('groups', e.target.value)}
            placeholder={'S-3602\nS-4500'}
            aria-describedby={`${id}-groups-help`}
            {...invalid('groups')}
          />
          <span id={`${id}-groups-help`} className={`max-w-64 text-xs font-normal ${muted}`}>
            Kept aside besides the rule’s: one a line, or separated by commas, as the History shows them. Only groups no model was trained on.
          </span>
        </label>
        <div className="flex flex-col gap-3">
          <label className={fieldLabel}>
            Reason (required)
            <input
              ref={reasonInput}
              className={`${input} w-80`}
              value={fields.reason}
              onChange={(e) => update('reason', e.target.value)}
              placeholder="e.g. more groups to compare on"
              aria-required
              aria-describedby={`${id}-reason-help`}
              {...invalid('reason')}
            />
            <span id={`${id}-reason-help`} className={`max-w-80 text-xs font-normal ${muted}`}>
              Kept in the audit log, so that others later see why the comparisons changed.
            </span>
          </label>
          <label className="flex max-w-80 items-start gap-2 text-sm">
            <input
              type="checkbox"
              className="mt-0.5 size-4 shrink-0 accent-indigo-600"
              checked={fields.reshuffle}
              onChange={(e) => update('reshuffle', e.target.checked)}
              data-testid="evaluation-set-reshuffle"
            />
            <span>
              Pick the groups afresh (new seed)
              <span className={`block text-xs ${muted}`}>Groups a model trained on stay out; only the others can change sides.</span>
            </span>
          </label>
        </div>
      </div>
      <div className="flex flex-wrap gap-2">
        <button type="submit" className={btnPrimary} disabled={busy}>
          {busy && <Spinner />} {busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className={btnSecondary} disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && (
        <ErrorLine id={errorId} testId="evaluation-set-error">
          {error.text}
        </ErrorLine>
      )}
    </form>
  );
}

// ---- A model's comparisons with the active model ----

/** Saves the evaluation as a JSON file. */
function downloadJson(e: ModelEvaluation) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(e, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = evaluationFileName(e);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A model's comparisons with the model that was active (loaded when opened). Administrators
 * compare it now and, when the latest comparison says better, promote it (`onPromote` activates it
 * with the reason: why it was refused, or null). `awaiting`: its training run just finished and
 * the page waits for its comparison; `refreshKey`: when it changes, the comparisons are loaded
 * again (also when closed, so that the badge shows): one arrived.
 */
export function ModelComparison({
  model,
  admin,
  activeId,
  names,
  onPromote,
  awaiting = false,
  refreshKey = 0,
}: {
  model: ModelEntry;
  admin: boolean;
  activeId: string | null;
  names: ReadonlyMap<string, string>;
  onPromote: (reason: string) => Promise<string | null>;
  awaiting?: boolean;
  refreshKey?: number;
}) {
  const [open, setOpen] = useState(false);
  const [loadedOnce, setLoadedOnce] = useState(false);
  if ((open || refreshKey > 0) && !loadedOnce) setLoadedOnce(true);
  // A new key is a new request: a comparison that arrived is loaded again.
  const { data: evaluations, error: loadError, refetch, setData } = useQuery(loadedOnce ? `evaluations/${model.id}#${refreshKey}` : null, (signal) =>
    listModelEvaluations(model.id, signal),
  );
  const [comparing, setComparing] = useState(false);
  const [promoting, setPromoting] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const label = modelTitle(model);

  const compare = async () => {
    setComparing(true);
    setActionError(null);
    setOpen(true);
    try {
      const e = await evaluateModel(model.id);
      setData((list) => [e, ...(list ?? []).filter((x) => x.id !== e.id)]);
      // A list asked for before this comparison was kept would drop it: ask again.
      refetch();
    } catch (err) {
      setActionError(`Not compared. ${retrainingErrorMessage(err, 'evaluate')}`);
    } finally {
      setComparing(false);
    }
  };

  const promote = promotion(evaluations ?? [], model, activeId);
  const doPromote = async () => {
    if (!promote.ok) return;
    if (!window.confirm(`Make ${label} the active model? New uploads will be scored with it. Roll back returns to the model active now.`)) return;
    setPromoting(true);
    setActionError(null);
    try {
      const refused = await onPromote(promote.reason);
      if (refused) setActionError(`Not promoted. ${refused}`);
    } finally {
      setPromoting(false);
    }
  };

  const latest = evaluations?.[0];
  const badge = latest ? verdictBadge(latest.verdict) : null;
  return (
    <details
      className="text-sm"
      open={open}
      onToggle={(e) => setOpen(e.currentTarget.open)}
      data-testid="model-comparison"
      data-model-id={model.id}
    >
      <summary className="cursor-pointer text-slate-600 dark:text-slate-300">
        Comparison with the active model<span className="sr-only"> of {label}</span>
        {badge && (
          <span className="ml-2 align-middle" data-testid="comparison-latest">
            <Badge tone={badge.tone} title={badge.title}>
              {badge.label}
            </Badge>
          </span>
        )}
        {awaiting && !latest && (
          <span className={`ml-2 text-xs ${muted}`} data-testid="comparison-awaiting">
            <Spinner /> being compared…
          </span>
        )}
      </summary>
      <div className="mt-2 flex flex-col gap-3 pl-4">
        <div className="flex flex-wrap items-center gap-2">
          {admin && !model.active && (
            <button
              type="button"
              className={`${btnSecondary} ${btnSmall}`}
              disabled={comparing}
              onClick={() => void compare()}
              title="Score the evaluation set with this model and the active one, and compare them with the pathologists' scores"
              data-testid="compare-now"
            >
              {comparing && <Spinner />} {comparing ? 'Comparing… (this can take a while)' : 'Compare now'}
              <span className="sr-only"> {label}</span>
            </button>
          )}
          {admin && promote.ok && (
            <button type="button" className={`${btnPrimary} ${btnSmall}`} disabled={promoting} onClick={() => void doPromote()} data-testid="promote">
              {promoting && <Spinner />} Promote<span className="sr-only"> {label}</span>
            </button>
          )}
          {evaluations && evaluations.length > 0 && (
            <a className={`${link} flex items-center gap-1 text-xs`} href={modelUrls(model.id).evaluationCsv} download data-testid="download-evaluation-csv">
              <Icon name="download" className="size-3.5" /> Download CSV<span className="sr-only"> of the latest comparison of {label}</span>
            </a>
          )}
          {model.active && <span className={`text-xs ${muted}`}>This is the active model: other models are compared with it.</span>}
        </div>
        {!promote.ok && promote.why && (
          <p className="text-xs text-amber-800 dark:text-amber-300" data-testid="promote-stale">
            {promote.why}
          </p>
        )}
        {actionError && <ErrorLine testId="comparison-error">{actionError}</ErrorLine>}
        {loadError !== undefined && (
          <ErrorLine testId="comparison-load-error">
            The comparisons could not be loaded: {retrainingErrorMessage(loadError, 'evaluations')}{' '}
            <button className="underline" onClick={refetch}>
              Try again
            </button>
          </ErrorLine>
        )}
        {loadedOnce && !evaluations && loadError === undefined && <Spinner label="Loading the comparisons" />}
        {awaiting && !latest && (
          <p role="status" className={muted}>
            Its training run just finished: the comparison with the active model shows here in a few seconds.
          </p>
        )}
        {evaluations && evaluations.length === 0 && !comparing && !awaiting && (
          <p className={muted} data-testid="comparison-none">
            Not compared yet.{admin && !model.active ? ' Compare now scores the evaluation set with this model and the active one.' : ''}
          </p>
        )}
        {latest && <EvaluationView e={latest} names={names} />}
        {evaluations && evaluations.length > 1 && (
          <details>
            <summary className="cursor-pointer text-xs text-slate-600 dark:text-slate-300">
              {evaluations.length - 1} earlier {evaluations.length === 2 ? 'comparison' : 'comparisons'}
            </summary>
            <ol className="mt-2 flex flex-col gap-3 border-l border-slate-200 pl-3 dark:border-slate-700">
              {evaluations.slice(1).map((e) => (
                <li key={e.id}>
                  <EvaluationView e={e} names={names} />
                </li>
              ))}
            </ol>
          </details>
        )}
      </div>
    </details>
  );
}

function EvaluationView({ e, names }: { e: ModelEvaluation; names: ReadonlyMap<string, string> }) {
  const badge = verdictBadge(e.verdict);
  const parsed = parseReport(e.report);
  const full = parsed.kind === 'full' ? parsed.report : null;
  const champion = e.champion_id ? (names.get(e.champion_id) ?? shortId(e.champion_id)) : null;
  return (
    <article className="flex flex-col gap-2" data-testid="evaluation" data-evaluation-id={e.id} data-verdict={e.verdict}>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <span className="font-medium">Comparison {e.id}</span>
        <span data-testid="evaluation-verdict">
          <Badge tone={badge.tone} title={badge.title}>
            {badge.label}
          </Badge>
        </span>
        <span className={`text-xs ${muted}`}>
          {formatDateTime(e.created_at)}
          {champion && (
            <>
              {' '}
              · against <span title={e.champion_id ?? undefined}>{champion}</span>
            </>
          )}
          {e.evaluation_set_id != null && ` · evaluation set ${e.evaluation_set_id}`}
          {e.run_id != null && ` · training run ${e.run_id}`}
        </span>
        <button type="button" className={`${link} flex items-center gap-1 text-xs`} onClick={() => downloadJson(e)} data-testid="download-evaluation-json">
          <Icon name="download" className="size-3.5" /> Download JSON<span className="sr-only"> of comparison {e.id}</span>
        </button>
      </div>
      <p data-testid="evaluation-summary">{evaluationSummary(e)}</p>
      {full && (
        <p className={`text-xs ${muted}`} data-testid="evaluation-basis">
          {comparisonBasis(full)}
        </p>
      )}
      {full && hasFigures(full) && <ComparisonTable metrics={full.metrics} />}
    </article>
  );
}

function Cell({ shown }: { shown: Shown }) {
  return (
    <td className="px-2 py-1.5 text-right tabular-nums whitespace-nowrap">
      {shown.reason ? (
        <span className={`cursor-help italic underline decoration-dotted ${muted}`} title={shown.reason} data-testid="not-defined">
          not defined
        </span>
      ) : (
        shown.text
      )}
    </td>
  );
}

function ComparisonTable({ metrics }: { metrics: MetricComparison[] }) {
  const th = 'px-2 py-2 text-right font-medium normal-case';
  return (
    <div className="relative overflow-x-auto">
      <table className="w-full text-xs" data-testid="comparison-table">
        <caption className={`pb-1 text-left ${muted}`}>
          Against the pathologists’ reviewed scores of the evaluation set. Error (MAE): mean absolute error, lower is better. Kappa: quadratic weighted
          agreement, higher is better. Differences are this model minus the active one; [brackets]: 95 % intervals.
        </caption>
        <thead className={`bg-slate-50 text-left dark:bg-slate-900 ${muted}`}>
          <tr>
            <th scope="col" className="px-2 py-2 font-medium">
              Metric
            </th>
            <th scope="col" className={th}>
              Error, active
            </th>
            <th scope="col" className={th}>
              Error, this model
            </th>
            <th scope="col" className={th}>
              Error difference
            </th>
            <th scope="col" className={th}>
              Kappa, active
            </th>
            <th scope="col" className={th}>
              Kappa, this model
            </th>
            <th scope="col" className={th}>
              Kappa difference
            </th>
            <th scope="col" className={th} title="Share of images whose score differs between the two models">
              Scores changed
            </th>
            <th scope="col" className="px-2 py-2 font-medium">
              Verdict
            </th>
            <th scope="col" className="px-2 py-2 font-medium">
              Differences <span className="sr-only">(plot)</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {metrics.map((m) => {
            const v = verdictBadge(m.verdict);
            return (
              <tr key={m.metric} className="border-t border-slate-100 dark:border-slate-800" data-testid="comparison-metric" data-metric={m.metric}>
                <th scope="row" className="px-2 py-1.5 text-left font-medium whitespace-nowrap">
                  {m.metric}
                  {m.chosen && <span className={`block text-[0.7rem] font-normal ${muted}`}>must improve</span>}
                </th>
                <Cell shown={formatStatistic(m.champion_mae)} />
                <Cell shown={formatStatistic(m.challenger_mae)} />
                <Cell shown={formatDifference(m.mae_difference)} />
                <Cell shown={formatStatistic(m.champion_kappa)} />
                <Cell shown={formatStatistic(m.challenger_kappa)} />
                <Cell shown={formatDifference(m.kappa_difference)} />
                <Cell shown={formatShare(m.changed_share)} />
                <td className="px-2 py-1.5">
                  <Badge tone={v.tone} title={v.title}>
                    {v.label}
                  </Badge>
                </td>
                <td className="px-2 py-1">
                  <ForestPlot m={m} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className={`mt-1 text-xs ${muted}`} aria-hidden>
        Plot: ● the difference, ━ its 95 % interval, ┆ zero. Error: left of zero is better. Kappa: right of zero is better. Green: better beyond the
        uncertainty; red: worse; gray: the interval includes zero.
      </p>
    </div>
  );
}

const PLOT_W = 170;
const PLOT_H = 40;
const PLOT_LABEL = 34;

const SIDE_CLASS = {
  better: 'stroke-green-700 fill-green-700 dark:stroke-green-400 dark:fill-green-400',
  worse: 'stroke-red-700 fill-red-700 dark:stroke-red-400 dark:fill-red-400',
  unclear: 'stroke-slate-500 fill-slate-500 dark:stroke-slate-400 dark:fill-slate-400',
} as const;

function ForestLine({ row, y }: { row: ForestRow | null; y: number }) {
  if (!row) {
    return (
      <text x={PLOT_LABEL + 4} y={y + 3} className="fill-slate-500 text-[9px] dark:fill-slate-400">
        not defined
      </text>
    );
  }
  return (
    <g className={SIDE_CLASS[row.side]} transform={`translate(${PLOT_LABEL},0)`}>
      <line x1={row.lo} x2={row.hi} y1={y} y2={y} strokeWidth={2} />
      <line x1={row.lo} x2={row.lo} y1={y - 3} y2={y + 3} strokeWidth={1} />
      <line x1={row.hi} x2={row.hi} y1={y - 3} y2={y + 3} strokeWidth={1} />
      <circle cx={row.x} cy={y} r={3} strokeWidth={0} />
    </g>
  );
}

/** The error and kappa differences with their 95 % intervals against zero: a small forest plot, inline SVG. */
function ForestPlot({ m }: { m: MetricComparison }) {
  const width = PLOT_W - PLOT_LABEL;
  const mae = forestRow(m.mae_difference, width, true);
  const kappa = forestRow(m.kappa_difference, width, false);
  if (!mae && !kappa) return <span className={muted}>–</span>;
  // Each line's scale is symmetric about zero: zero is in the middle.
  const zero = PLOT_LABEL + width / 2;
  return (
    <svg width={PLOT_W} height={PLOT_H} viewBox={`0 0 ${PLOT_W} ${PLOT_H}`} role="img" aria-label={forestSummary(m)} className="rounded bg-slate-50 dark:bg-slate-800" data-testid="forest-plot">
      <text x={2} y={14} className="fill-slate-600 text-[9px] dark:fill-slate-300">
        Error
      </text>
      <text x={2} y={33} className="fill-slate-600 text-[9px] dark:fill-slate-300">
        Kappa
      </text>
      <line x1={zero} x2={zero} y1={2} y2={PLOT_H - 2} strokeDasharray="2 2" strokeWidth={1} className="stroke-slate-400 dark:stroke-slate-500" />
      <ForestLine row={mae} y={11} />
      <ForestLine row={kappa} y={30} />
    </svg>
  );
}
