import { Fragment, useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { activateModel, importModel, listModelEvaluations, listModels, modelUrls, rollbackModel, setModelField } from '../api/client';
import type { ModelEntry } from '../api/types';
import { DialogForm } from '../components/DialogForm';
import { ModelComparison } from '../components/RetrainingPanel';
import { TrainingSection } from '../components/TrainingPanel';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, Icon, input, Spinner } from '../components/ui';
import { useConfig, useReloadConfig } from '../lib/config';
import { formatDateTime, shortId } from '../lib/format';
import { DEFAULT_FIELD_UM, FIELD_HELP, FIELD_UM_MAX, fieldInputs, fieldText, formatFieldSize, modelField, parseFieldInputs, type FieldInputs } from '../lib/modelField';
import { modelErrorMessage, modelFigures, modelFileProblem, modelLabel, modelTitle, MODEL_EXTENSIONS } from '../lib/models';
import { isAdmin } from '../lib/roles';
import { primeModels } from '../lib/modelRegistry';
import { useSession } from '../lib/session';
import { useComparisonWait } from '../lib/useComparisonWait';
import { useQuery } from '../lib/useQuery';

type Message = { tone: 'error' | 'ok'; text: string };

/**
 * The model registry (docs/models.md): everyone reads and downloads and sees the training runs,
 * the retraining policy, the evaluation set and each model's comparisons with the active model;
 * administrators import, activate, roll back, train, set the policy and the evaluation set,
 * compare and promote.
 */
export function ModelsPage() {
  const { user } = useSession();
  const admin = isAdmin(user.role);
  const reloadConfig = useReloadConfig();
  const { schema, model: running } = useConfig();
  const metricNames = schema.metrics.map((m) => m.name);
  const { data: models, error: loadError, refetch: reloadModels, setData: setModels } = useQuery('models', listModels);
  const [message, setMessage] = useState<Message | null>(null);
  // The names the header and the history show come from this list too.
  useEffect(() => {
    if (models) primeModels(running.id, models);
  }, [models, running.id]);
  const [activating, setActivating] = useState<ModelEntry | null>(null);
  const [rollingBack, setRollingBack] = useState(false);
  // A run finished: its model's comparison follows in a few seconds, and the policy may have
  // promoted it. Wait for it (up to a minute), then load the registry and the header's model again.
  const comparisonWait = useComparisonWait(listModelEvaluations, () => {
    reloadModels();
    reloadConfig();
  });

  const active = models?.find((m) => m.active) ?? null;
  const names = new Map((models ?? []).map((m) => [m.id, modelLabel(m)]));

  /** The answer of an activation or rollback: mark it active at once, then ask the server again. */
  const nowActive = useCallback(
    (entry: ModelEntry) => {
      setModels((list) => list?.map((m) => (m.id === entry.id ? { ...m, ...entry, active: true } : { ...m, active: false })));
      reloadModels();
      reloadConfig();
    },
    [reloadConfig, reloadModels, setModels],
  );

  /** The answer of a field change: every entry of that model shows it at once, then ask the server again. */
  const fieldSaved = useCallback(
    (entry: ModelEntry) => {
      setModels((list) => list?.map((m) => (m.id === entry.id ? { ...m, field_um: entry.field_um ?? null } : m)));
      reloadModels();
    },
    [reloadModels, setModels],
  );

  const activate = async (m: ModelEntry, reason: string): Promise<string | null> => {
    try {
      const entry = await activateModel(m.id, reason || undefined);
      nowActive(entry);
      setMessage({ tone: 'ok', text: `${modelTitle(entry)} is now active: new uploads are scored with it.` });
      return null;
    } catch (e) {
      return modelErrorMessage(e, 'activate');
    }
  };

  const rollback = async () => {
    if (!window.confirm('Roll back to the model that was active before the last activation? New uploads will be scored with that model again.')) return;
    setRollingBack(true);
    setMessage(null);
    try {
      const entry = await rollbackModel();
      nowActive(entry);
      setMessage({ tone: 'ok', text: `Rolled back: ${modelTitle(entry)} is active again.` });
    } catch (e) {
      setMessage({ tone: 'error', text: `Not rolled back. ${modelErrorMessage(e, 'rollback')}` });
    } finally {
      setRollingBack(false);
    }
  };

  return (
    <div className="mx-auto flex h-full max-w-[100rem] flex-col gap-4 overflow-y-auto p-6">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 className="text-xl font-semibold">Models</h1>
          <p className="text-sm text-slate-500 dark:text-slate-400">
            Every model Histoscore can score with. The active one scores new uploads; each AI draft keeps the model that made it.
            {admin ? ' Importing or training a model never activates it.' : ' Administrators import, train and activate models.'}
          </p>
          {running.engine && (
            <p className="text-sm text-slate-500 dark:text-slate-400" data-testid="model-engine">
              Engine: <strong className="font-medium text-slate-700 dark:text-slate-200">{engineName(running.engine)}</strong> — the software that runs the
              network on this server{running.engine === 'tract' ? ' (the slower built-in one: ONNX Runtime was not found beside the server)' : ''}.
            </p>
          )}
        </div>
        {admin && (
          <button
            type="button"
            className={btnSecondary}
            disabled={rollingBack}
            onClick={() => void rollback()}
            title="Back to the model that was active before the last activation"
            data-testid="model-rollback"
          >
            {rollingBack && <Spinner />} Roll back
          </button>
        )}
      </div>

      {admin && (
        <ImportForm
          onImported={(entry, created) => {
            reloadModels();
            setMessage({
              tone: 'ok',
              text: created
                ? `Imported ${modelTitle(entry)}. It scores nothing until it is activated.`
                : `These weights are registered already, as ${modelTitle(entry)}: nothing was added.`,
            });
          }}
          onStart={() => setMessage(null)}
        />
      )}

      {message && (
        <p
          role={message.tone === 'error' ? 'alert' : 'status'}
          className={`rounded-md border px-3 py-2 text-sm ${
            message.tone === 'error'
              ? 'border-red-300 bg-red-50 text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200'
              : 'border-green-300 bg-green-50 text-green-800 dark:border-green-800 dark:bg-green-950/60 dark:text-green-200'
          }`}
          data-testid="models-message"
          data-tone={message.tone}
        >
          {message.text}
        </p>
      )}
      {loadError !== undefined && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid="models-load-error">
          The models could not be loaded: {modelErrorMessage(loadError, 'load')}{' '}
          <button className="underline" onClick={reloadModels}>
            Try again
          </button>
        </p>
      )}

      <section className={card} aria-labelledby="models-title">
        <h2 id="models-title" className="border-b border-slate-200 px-4 py-3 font-semibold dark:border-slate-800">
          {models ? `${models.length} ${models.length === 1 ? 'model' : 'models'}` : 'Registered models'}
          {active && (
            <span className="ml-2 text-sm font-normal text-slate-500 dark:text-slate-400">
              · active: <span className="text-slate-700 dark:text-slate-200">{modelLabel(active)}</span>
            </span>
          )}
          {!models && loadError === undefined && (
            <span className="ml-2 align-middle">
              <Spinner label="Loading" />
            </span>
          )}
        </h2>
        {models && models.length === 0 ? (
          <p className="px-4 py-6 text-center text-sm text-slate-500 dark:text-slate-400">
            No models are registered. {admin ? 'Import one above, or start' : 'An administrator imports one, or starts'} the server with{' '}
            <code>--model FILE</code>.
          </p>
        ) : (
          <div className="relative overflow-x-auto">
            <p id={FIELD_HELP_ID} className="px-4 pt-3 text-xs text-slate-500 dark:text-slate-400" data-testid="setting-help">
              <strong className="font-medium text-slate-700 dark:text-slate-200">Field on slides:</strong> {FIELD_HELP}
            </p>
            <table className="w-full text-sm" data-testid="models-table">
              <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500 dark:bg-slate-900 dark:text-slate-400">
                <tr>
                  <th scope="col" className="px-4 py-2">
                    Name · ID
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Source
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Parent
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Added
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Status
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Field on slides
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Metrics
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Download
                  </th>
                </tr>
              </thead>
              <tbody>
                {(models ?? []).map((m) => (
                  <Fragment key={`${m.id}|${m.created_at}`}>
                    <ModelRow m={m} names={names} metricNames={metricNames} admin={admin} onActivate={() => setActivating(m)} onFieldSaved={fieldSaved} />
                    <tr className={m.active ? 'bg-green-50/60 dark:bg-green-950/20' : ''} data-testid="model-comparison-row" data-model-id={m.id}>
                      <td colSpan={8} className="px-4 pb-3">
                        <ModelComparison
                          model={m}
                          admin={admin}
                          activeId={active?.id ?? null}
                          names={names}
                          onPromote={(reason) => activate(m, reason)}
                          awaiting={comparisonWait.awaiting === m.id}
                          refreshKey={comparisonWait.arrivals.get(m.id) ?? 0}
                        />
                      </td>
                    </tr>
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <TrainingSection admin={admin} models={models ?? null} onModelsChanged={reloadModels} onRunDone={comparisonWait.expect} pollKey={comparisonWait.tick} />

      {activating && <ActivateDialog model={activating} current={active} onClose={() => setActivating(null)} onSubmit={(reason) => activate(activating, reason)} />}
    </div>
  );
}

function ModelRow({
  m,
  names,
  metricNames,
  admin,
  onActivate,
  onFieldSaved,
}: {
  m: ModelEntry;
  names: ReadonlyMap<string, string>;
  metricNames: readonly string[];
  admin: boolean;
  onActivate: () => void;
  onFieldSaved: (entry: ModelEntry) => void;
}) {
  const label = modelLabel(m);
  const urls = modelUrls(m.id);
  const figures = modelFigures(m.metrics, metricNames);
  const hasDetails = figures.more > 0 || m.training != null;
  const link = 'text-indigo-700 underline-offset-2 hover:underline dark:text-indigo-300';
  return (
    <tr
      className={`border-t border-slate-100 align-top dark:border-slate-800 ${m.active ? 'bg-green-50/60 dark:bg-green-950/20' : ''}`}
      data-testid="model-row"
      data-model-id={m.id}
      data-active={m.active ? 'true' : 'false'}
    >
      <th scope="row" className="max-w-64 px-4 py-2 text-left font-medium">
        <span className="break-words">{m.name?.trim() || <code title={m.id}>{shortId(m.id)}</code>}</span>
        {m.name?.trim() && (
          <code className="block text-xs font-normal text-slate-500 dark:text-slate-400" title={m.id}>
            {shortId(m.id)}
          </code>
        )}
      </th>
      <td className="px-3 py-2 whitespace-nowrap">
        {m.source === 'trained' ? 'trained' : 'imported'}
        <span className="ml-1 text-xs text-slate-500 dark:text-slate-400">.{m.format}</span>
      </td>
      <td className="px-3 py-2 whitespace-nowrap">
        {m.parent_id ? (
          <span title={m.parent_id}>
            {names.get(m.parent_id) ?? <code className="text-xs">{shortId(m.parent_id)}</code>}
          </span>
        ) : (
          <span className="text-slate-500 dark:text-slate-400">–</span>
        )}
      </td>
      <td className="px-3 py-2 whitespace-nowrap text-slate-600 dark:text-slate-300">
        {formatDateTime(m.created_at)}
        <div className="text-xs text-slate-500 dark:text-slate-400">by {m.created_by || '–'}</div>
      </td>
      <td className="px-3 py-2 whitespace-nowrap" data-testid="model-status">
        {m.active ? (
          <>
            <Badge tone="green">Active</Badge>
            {m.activated_at && <div className="mt-0.5 text-xs text-slate-500 dark:text-slate-400">since {formatDateTime(m.activated_at)}</div>}
          </>
        ) : (
          <>
            <span className="text-xs text-slate-500 dark:text-slate-400">{m.activated_at ? `last activated ${formatDateTime(m.activated_at)}` : 'never active'}</span>
            {admin && (
              <div className="mt-1">
                <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={onActivate}>
                  Activate…<span className="sr-only"> {label}</span>
                </button>
              </div>
            )}
          </>
        )}
      </td>
      <td className="px-3 py-2" data-testid="model-field-cell">
        <FieldCell m={m} label={label} admin={admin} onSaved={onFieldSaved} />
      </td>
      <td className="px-3 py-2">
        {figures.items.length === 0 && !hasDetails ? (
          <span className="text-slate-500 dark:text-slate-400">–</span>
        ) : (
          <>
            {figures.items.length > 0 && (
              <dl className="flex flex-wrap gap-x-3 gap-y-0.5 text-xs">
                {figures.items.map((f) => (
                  <div key={f.label} className="whitespace-nowrap">
                    <dt className="inline text-slate-500 dark:text-slate-400">{f.label} </dt>
                    <dd className="inline font-medium tabular-nums">{f.value}</dd>
                  </div>
                ))}
              </dl>
            )}
            {hasDetails && (
              <details className="mt-1 text-xs">
                <summary className="cursor-pointer text-slate-600 dark:text-slate-300">
                  {figures.more > 0 ? `${figures.more} more` : 'Training'}
                  <span className="sr-only"> of {label}</span>
                </summary>
                <pre className="mt-1 max-h-48 max-w-sm overflow-auto rounded bg-slate-100 p-2 dark:bg-slate-800" tabIndex={0}>
                  {JSON.stringify({ metrics: m.metrics, training: m.training }, null, 2)}
                </pre>
              </details>
            )}
          </>
        )}
      </td>
      <td className="px-3 py-2 whitespace-nowrap">
        <a className={`${link} flex items-center gap-1`} href={urls.safetensors} download data-testid="download-safetensors">
          <Icon name="download" className="size-3.5" /> .safetensors<span className="sr-only"> weights of {label}</span>
        </a>
        <a className={`${link} flex items-center gap-1`} href={urls.onnx} download data-testid="download-onnx">
          <Icon name="download" className="size-3.5" /> .onnx<span className="sr-only"> graph of {label}</span>
        </a>
      </td>
    </tr>
  );
}

/** The one sentence under the table that explains the field on slides (the edit form's inputs point to it). */
const FIELD_HELP_ID = 'model-field-help';

/**
 * A model's field on slides: the size, and whether it was set or is the default. Administrators
 * change it here (two sizes in µm, Save), or go back to the default.
 */
function FieldCell({ m, label, admin, onSaved }: { m: ModelEntry; label: string; admin: boolean; onSaved: (entry: ModelEntry) => void }) {
  const id = useId();
  const [editing, setEditing] = useState(false);
  const [inputs, setInputs] = useState<FieldInputs>(() => fieldInputs(m));
  const [error, setError] = useState<{ input: keyof FieldInputs | null; text: string } | null>(null);
  const [busy, setBusy] = useState<'save' | 'default' | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const widthInput = useRef<HTMLInputElement>(null);
  const heightInput = useRef<HTMLInputElement>(null);
  const changeButton = useRef<HTMLButtonElement>(null);
  // Focus follows the form: into it when it opens, back to Change when it closes.
  const focusChange = useRef(false);
  const isDefault = modelField(m).isDefault;

  useEffect(() => {
    if (editing) widthInput.current?.focus();
    else if (focusChange.current) {
      focusChange.current = false;
      changeButton.current?.focus();
    }
  }, [editing]);

  const open = () => {
    setInputs(fieldInputs(m));
    setError(null);
    setNote(null);
    setEditing(true);
  };
  const close = () => {
    focusChange.current = true;
    setEditing(false);
    setError(null);
  };

  const send = async (fieldUm: [number, number] | null) => {
    setBusy(fieldUm ? 'save' : 'default');
    setError(null);
    try {
      const entry = await setModelField(m.id, fieldUm);
      onSaved(entry);
      const size = modelField(entry);
      setNote(
        `${fieldUm ? 'Saved' : 'Back to the default'}: slides scored from now on use ${formatFieldSize(size.width, size.height)}; re-score slides already scored to apply it.`,
      );
      close();
    } catch (e) {
      setError({ input: null, text: `${fieldUm ? 'Not saved' : 'Not changed'}. ${modelErrorMessage(e, 'field')}` });
    } finally {
      setBusy(null);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const check = parseFieldInputs(inputs);
    if (!check.ok) {
      setError({ input: check.input, text: check.error });
      (check.input === 'width' ? widthInput : heightInput).current?.focus();
      return;
    }
    void send(check.field_um);
  };

  const set = (k: keyof FieldInputs) => (e: { target: { value: string } }) => {
    const value = e.target.value;
    setInputs((f) => ({ ...f, [k]: value }));
    if (error?.input === k) setError(null);
  };
  const errorId = `${id}-error`;
  const invalid = (k: keyof FieldInputs) => (error?.input === k ? { 'aria-invalid': true as const, 'aria-errormessage': errorId } : {});
  const fieldLabel = 'flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300';

  return (
    <div className="min-w-44">
      <span className="whitespace-nowrap" data-testid="model-field" data-default={isDefault ? 'true' : 'false'}>
        {fieldText(m)}
      </span>
      {admin && !editing && (
        <div className="mt-1">
          <button ref={changeButton} type="button" className={`${btnSecondary} ${btnSmall}`} onClick={open} aria-describedby={FIELD_HELP_ID}>
            Change…<span className="sr-only"> field on slides of {label}</span>
          </button>
        </div>
      )}
      {admin && editing && (
        <form
          className="mt-2 flex flex-col gap-2"
          onSubmit={submit}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && !busy) {
              e.preventDefault();
              close();
            }
          }}
          aria-label={`Field on slides of ${label}`}
          noValidate
          data-testid="model-field-form"
        >
          <div className="flex gap-2">
            {(['width', 'height'] as const).map((side) => (
              <label key={side} className={fieldLabel}>
                {side === 'width' ? 'Width (µm)' : 'Height (µm)'}
                <input
                  ref={side === 'width' ? widthInput : heightInput}
                  className={`${input} w-24`}
                  type="number"
                  inputMode="decimal"
                  min={0}
                  max={FIELD_UM_MAX}
                  step="any"
                  value={inputs[side]}
                  onChange={set(side)}
                  aria-describedby={FIELD_HELP_ID}
                  {...invalid(side)}
                />
              </label>
            ))}
          </div>
          <div className="flex flex-wrap gap-2">
            <button type="submit" className={`${btnPrimary} ${btnSmall}`} disabled={busy !== null}>
              {busy === 'save' && <Spinner />} {busy === 'save' ? 'Saving…' : 'Save'}
            </button>
            <button
              type="button"
              className={`${btnSecondary} ${btnSmall}`}
              disabled={busy !== null || isDefault}
              onClick={() => void send(null)}
              title={
                isDefault
                  ? 'This model uses the default already'
                  : `Forget the size set here: ${formatFieldSize(...DEFAULT_FIELD_UM)}, the original system’s images at an assumed 0.5 µm per pixel`
              }
            >
              {busy === 'default' && <Spinner />} Use the default
            </button>
            <button type="button" className={`${btnSecondary} ${btnSmall}`} disabled={busy !== null} onClick={close}>
              Cancel
            </button>
          </div>
          {error && (
            <p id={errorId} role="alert" className="max-w-64 text-xs text-red-700 dark:text-red-400" data-testid="model-field-error">
              {error.text}
            </p>
          )}
        </form>
      )}
      {note && !editing && (
        <p role="status" className="mt-1 max-w-64 text-xs text-green-800 dark:text-green-300" data-testid="model-field-saved">
          {note}
        </p>
      )}
    </div>
  );
}

function ImportForm({ onImported, onStart }: { onImported: (entry: ModelEntry, created: boolean) => void; onStart: () => void }) {
  const form = useRef<HTMLFormElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) {
      setError(`Choose the weights file first (${MODEL_EXTENSIONS.join(' or ')}).`);
      return;
    }
    const problem = modelFileProblem(file.name);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    onStart();
    try {
      const { entry, created } = await importModel(file, name.trim() || undefined);
      form.current?.reset();
      setFile(null);
      setName('');
      onImported(entry, created);
    } catch (err) {
      setError(`${file.name} was not imported. ${modelErrorMessage(err, 'import')}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form ref={form} className={`${card} flex flex-wrap items-end gap-3 p-4`} onSubmit={(e) => void submit(e)} aria-labelledby="import-title" noValidate>
      <h2 id="import-title" className="w-full font-semibold">
        Import model
      </h2>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Weights file
        <input
          type="file"
          accept={MODEL_EXTENSIONS.join(',')}
          className={`${input} w-80 py-1 file:mr-2 file:rounded file:border-0 file:bg-slate-100 file:px-2 file:py-1 file:text-sm dark:file:bg-slate-800 dark:file:text-slate-100`}
          onChange={(e) => {
            const f = e.target.files?.[0] ?? null;
            setFile(f);
            setError(f ? modelFileProblem(f.name) : null);
          }}
          aria-describedby="import-help"
          data-testid="model-file"
        />
      </label>
      <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
        Name (optional)
        <input className={`${input} w-56`} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. pancreas v2" autoComplete="off" aria-describedby="import-name-help" />
        <span id="import-name-help" className="max-w-56 text-xs font-normal text-slate-500 dark:text-slate-400" data-testid="setting-help">
          How the model is listed here, and named in the header once it is active (e.g. “Pancreas v1”).
        </span>
      </label>
      <button type="submit" className={btnPrimary} disabled={busy}>
        {busy ? <Spinner /> : <Icon name="upload" />} {busy ? 'Importing…' : 'Import model'}
      </button>
      <p id="import-help" className="w-full text-xs text-slate-500 dark:text-slate-400">
        The network's weights as a .pth (PyTorch) or .safetensors file, for this server's scoring schema. Importing registers the model; it scores nothing
        until it is activated.
      </p>
      {error && (
        <p role="alert" className="w-full text-sm text-red-700 dark:text-red-400" data-testid="model-import-error">
          {error}
        </p>
      )}
    </form>
  );
}

function ActivateDialog({
  model,
  current,
  onClose,
  onSubmit,
}: {
  model: ModelEntry;
  current: ModelEntry | null;
  onClose: () => void;
  onSubmit: (reason: string) => Promise<string | null>;
}) {
  const [reason, setReason] = useState('');

  return (
    <DialogForm
      title={`Activate “${modelLabel(model)}”?`}
      description={`New uploads will be scored with ${modelTitle(model)}${current ? ` instead of ${modelTitle(current)}` : ''}. Existing drafts and scores stay as they are; Roll back returns to the model active now.`}
      submitLabel="Activate"
      onSubmit={async () => {
        const refused = await onSubmit(reason.trim());
        return refused == null ? null : `Not activated. ${refused}`;
      }}
      onClose={onClose}
      wide
      testId="activate-dialog"
    >
      <label className="flex flex-col gap-1 text-sm font-medium">
        Reason (optional)
        <input className={input} value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. validated on the 2024 cohort" aria-describedby="activate-reason-help" />
        <span id="activate-reason-help" className="text-xs font-normal text-slate-500 dark:text-slate-400">
          Kept in the model history, so that others later see why the scoring changed.
        </span>
      </label>
    </DialogForm>
  );
}

/** The inference engine by the name people know it by. */
function engineName(engine: string): string {
  if (engine === 'ort') return 'ONNX Runtime';
  if (engine === 'tract') return 'tract';
  return engine;
}
