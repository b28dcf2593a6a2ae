import { lazy, Suspense, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { ImageRecord, Metric } from '../api/types';
import { groupOf } from '../api/types';
import { deleteImage, restoreImage } from '../api/client';
import { useConfig } from '../lib/config';
import { canScore } from '../lib/roles';
import { useSession } from '../lib/session';
import { Link } from '../lib/router';
import { studyHref } from '../lib/routes';
import { putRecord, refreshRecord, useRecord } from '../lib/records';
import { clamp, formatScore, parseScoreInput, stepScore, totalScore } from '../lib/scores';
import { useScoreEditor, type SaveStatus, type ScoreEditor } from '../lib/useScoreEditor';
import { formatBytes } from '../lib/files';
import { AuditLog } from './AuditLog';
import { DraftHistory } from './DraftHistory';
import { Badge, btn, btnGhost, btnPrimary, btnSecondary, btnSmall, DemoBanner, Icon, Spinner } from './ui';
import { formatDateTime, shortId } from '../lib/format';
import { formatUncertainty, UNCERTAINTY_HELP } from '../lib/drafts';

const Viewer = lazy(() => import('./Viewer').then((m) => ({ default: m.Viewer })));

export const SHORTCUT_HELP = 'Tab / Shift+Tab: next / previous metric · ↑ ↓: one step · PgUp PgDn: four steps · Ctrl+Enter (or R outside a field): mark reviewed and open the next unreviewed image';

/** Set when the keyboard moved on to the next image: its first score field takes focus. */
let focusNextPanel = false;

export interface ReviewPanelProps {
  id: number | null;
  /** Shown when the file was uploaded again and the server returned its saved record. */
  knownNote?: boolean;
  /** Opens the next unreviewed image; returns false when there is none. */
  onNext?: (fromId: number) => boolean;
  /** Open the correction history at once (history page). */
  showAudit?: boolean;
  emptyHint?: string;
}

export function ReviewPanel(props: ReviewPanelProps) {
  const { id } = props;
  const entry = useRecord(id);
  const [failedId, setFailedId] = useState<number | null>(null);
  const loadError = id != null && failedId === id ? `Image ${id} could not be loaded (it may have been deleted).` : null;
  const missing = id != null && !entry;

  useEffect(() => {
    if (id == null || !missing) return;
    void refreshRecord(id).then((r) => {
      if (!r) setFailedId(id);
    });
  }, [id, missing]);

  if (id == null) {
    return (
      <aside className="flex h-full flex-col" aria-label="Review">
        <div className="border-b border-slate-200 px-6 py-5 dark:border-slate-800">
          <h2 className="text-lg font-semibold">Image review</h2>
          <p className="text-sm text-slate-500 dark:text-slate-400">Select a file to review its scores</p>
        </div>
        <div className="m-6 flex h-64 flex-col items-center justify-center gap-2 rounded-xl border border-dashed border-slate-300 text-slate-500 dark:text-slate-400 dark:border-slate-700">
          <Icon name="image" className="size-12" />
          No image selected
        </div>
        <p className="px-6 text-center text-sm text-slate-500 dark:text-slate-400">{props.emptyHint ?? 'Select a processed item to edit its scores.'}</p>
      </aside>
    );
  }
  if (!entry) {
    return (
      <aside className="p-6" aria-label="Review">
        {loadError ? (
          <p role="alert" className="text-red-700 dark:text-red-400">
            {loadError}
          </p>
        ) : (
          <p className="text-slate-500 dark:text-slate-400">
            <Spinner /> Loading…
          </p>
        )}
      </aside>
    );
  }
  return <Panel key={id} {...props} id={id} />;
}

function Panel({ id, knownNote, onNext, showAudit }: ReviewPanelProps & { id: number }) {
  const config = useConfig();
  const { user } = useSession();
  const editor = useScoreEditor(id);
  const record = editor.record as ImageRecord;
  /** A reader of a blinded study holding this image scores it there, not here. */
  const lockedBy = record.locked_by_study ?? null;
  /** Viewers read only: no fields, no review, no delete. */
  const readOnly = !canScore(user.role) || lockedBy !== null;
  const [nextMsg, setNextMsg] = useState<string | null>(null);
  const [deleted, setDeleted] = useState(false);
  const firstInput = useRef<HTMLInputElement>(null);
  const demo = config.model.demo || record.draft?.model_demo === true;
  const editable = record.status === 'scored' || record.status === 'failed';

  const reviewAndNext = async () => {
    if (!editable || readOnly) return;
    setNextMsg(null);
    const ok = await editor.flush(record.review_status === 'reviewed' ? undefined : true);
    if (!ok) return;
    focusNextPanel = true;
    if (onNext && !onNext(id)) {
      focusNextPanel = false;
      setNextMsg('All images here are reviewed ✓');
    }
  };
  useEffect(() => {
    if (focusNextPanel) {
      focusNextPanel = false;
      firstInput.current?.focus();
    }
  }, []);
  const reviewRef = useRef(reviewAndNext);
  useEffect(() => {
    reviewRef.current = reviewAndNext;
  });

  // Ctrl+Enter anywhere, or R when not typing in a field (nor in the image viewer).
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      const inViewer = !!t?.closest?.('.osd-host');
      if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
        e.preventDefault();
        void reviewRef.current();
      } else if (!typing && !inViewer && !e.ctrlKey && !e.metaKey && !e.altKey && (e.key === 'r' || e.key === 'R')) {
        e.preventDefault();
        void reviewRef.current();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const onDelete = async () => {
    const reason = window.prompt(`Delete ${record.filename}? It can be restored later. Reason (optional):`, '');
    if (reason === null) return;
    try {
      await deleteImage(id, reason || undefined);
      setDeleted(true);
    } catch (e) {
      window.alert(`Not deleted: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const onRestore = async () => {
    try {
      putRecord(await restoreImage(id), null, true);
      setDeleted(false);
    } catch (e) {
      window.alert(`Not restored: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const group = groupOf(record);
  return (
    <aside className="flex flex-col" aria-label={`Review ${record.filename}`} data-testid="review-panel" data-record-id={id}>
      <div className="border-b border-slate-200 px-6 py-4 dark:border-slate-800">
        <h2 className="break-all text-xl font-semibold" data-testid="review-filename">
          {record.filename}
        </h2>
        <dl className="mt-1 flex flex-wrap gap-x-4 gap-y-0.5 text-sm text-slate-500 dark:text-slate-400">
          <div>
            <dt className="inline">Serial: </dt>
            <dd className="inline font-medium text-slate-700 dark:text-slate-200" data-testid="review-serial">
              {record.serial ?? '–'}
            </dd>
          </div>
          <div>
            <dt className="inline">Group: </dt>
            <dd className="inline font-medium text-slate-700 dark:text-slate-200">{group || '–'}</dd>
          </div>
          {record.image_number != null && (
            <div>
              <dt className="inline">Image no.: </dt>
              <dd className="inline">{record.image_number}</dd>
            </div>
          )}
          <div>
            <dt className="sr-only">Size</dt>
            <dd className="inline">
              {record.width && record.height ? `${record.width}×${record.height} px · ` : ''}
              {record.format ? `${record.format} · ` : ''}
              {formatBytes(record.size_bytes)}
            </dd>
          </div>
        </dl>
      </div>

      <div className="flex flex-col gap-4 px-6 py-4">
        {demo && <DemoBanner />}
        {deleted && !readOnly && (
          <div role="alert" className="flex items-center gap-3 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
            This image is deleted (hidden from lists and the export).
            <button className={`${btnSecondary} ${btnSmall}`} onClick={() => void onRestore()}>
              Restore
            </button>
          </div>
        )}
        {knownNote && (
          <div className="rounded-md border border-blue-300 bg-blue-50 px-3 py-2 text-sm text-blue-900 dark:border-blue-800 dark:bg-blue-950/60 dark:text-blue-200" data-testid="known-note">
            This file was scored before: these are your saved scores, last changed by <strong>{record.updated_by}</strong> at{' '}
            {formatDateTime(record.updated_at)}.
          </div>
        )}

        <Suspense fallback={<div className="h-[38vh] min-h-64 rounded-lg bg-slate-100 dark:bg-slate-900" />}>
          <Viewer id={id} filename={record.filename} />
        </Suspense>

        {record.status === 'queued' || record.status === 'scoring' ? (
          <p className="flex items-center gap-2 text-sm text-violet-700 dark:text-violet-300" role="status">
            <Spinner /> {record.status === 'queued' ? 'Waiting to be scored…' : 'Scoring…'} The AI draft appears here when it is ready.
          </p>
        ) : null}
        {record.status === 'failed' && (
          <p role="alert" className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
            Scoring failed: {record.error ?? 'no reason given'}. You can still enter scores by hand.
          </p>
        )}

        <ScoreTable editor={editor} record={record} editable={editable} readOnly={readOnly} firstInput={firstInput} />

        {lockedBy !== null ? (
          <p className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950/60 dark:text-amber-100" data-testid="blinded-read-note">
            You read this image in a blinded study: score it{' '}
            <Link to={studyHref(lockedBy, 'read', id)} className="font-medium underline">
              in the study
            </Link>
            . Its official score is set by the adjudicator.
          </p>
        ) : readOnly ? (
          <p className="flex flex-wrap items-center gap-2 text-sm text-slate-500 dark:text-slate-400" data-testid="read-only-note">
            {record.review_status === 'reviewed' ? <Badge tone="green">Reviewed</Badge> : <Badge tone="slate">Not reviewed</Badge>}
            Your account can read scores but not change them.
          </p>
        ) : (
          <>
            <div className="flex flex-wrap items-center gap-3">
              <button
                className={btnPrimary}
                onClick={() => void reviewAndNext()}
                disabled={!editable}
                aria-keyshortcuts="Control+Enter r"
                data-testid="review-next"
              >
                {record.review_status === 'reviewed' ? 'Reviewed ✓ — next unreviewed' : 'Mark reviewed & next'}
                <kbd className="rounded border border-white/40 px-1 text-xs font-normal">Ctrl+Enter</kbd>
              </button>
              {record.review_status === 'reviewed' ? (
                <>
                  <Badge tone="green">Reviewed</Badge>
                  <button className={`${btnGhost} ${btnSmall}`} onClick={() => void editor.flush(false)}>
                    Mark unreviewed
                  </button>
                </>
              ) : (
                <Badge tone="slate">Not reviewed</Badge>
              )}
              {nextMsg && (
                <span role="status" className="text-sm text-green-700 dark:text-green-400">
                  {nextMsg}
                </span>
              )}
            </div>
            <p className="text-xs text-slate-500 dark:text-slate-400" data-testid="shortcut-help">
              Keyboard: {SHORTCUT_HELP}.
            </p>
          </>
        )}

        <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 border-t border-slate-200 pt-3 text-xs text-slate-500 dark:border-slate-800 dark:text-slate-400">
          <dt>AI model</dt>
          <dd>
            <code title={record.draft?.model_id}>{shortId(record.draft?.model_id)}</code>
            {record.draft?.model_demo && ' (demo)'}
            {record.draft && ` · drafted ${formatDateTime(record.draft.created_at)}`}
          </dd>
          <dt>Last change</dt>
          <dd data-testid="last-change">
            {record.updated_by} · {formatDateTime(record.updated_at)} · version {record.version}
          </dd>
          <dt>Uploaded</dt>
          <dd>{formatDateTime(record.created_at)}</dd>
          <dt>SHA-256</dt>
          <dd className="truncate">
            <code title={record.sha256}>{record.sha256}</code>
          </dd>
        </dl>

        <DraftHistory
          id={id}
          refreshKey={`${record.version}|${record.draft?.model_id ?? ''}|${record.draft?.created_at ?? ''}`}
          current={record.draft}
          defaultOpen={showAudit === true}
        />

        <AuditLog id={id} version={record.version} defaultOpen={showAudit === true} />

        {!deleted && !readOnly && (
          <div>
            <button className={`${btnGhost} ${btnSmall} text-red-700 dark:text-red-400`} onClick={() => void onDelete()}>
              Delete image…
            </button>
          </div>
        )}
      </div>
    </aside>
  );
}

function SaveIndicator({ status, hasErrors, onRetry }: { status: SaveStatus; hasErrors: boolean; onRetry: () => void }) {
  let content;
  if (hasErrors && status.kind !== 'saving') {
    content = <Badge tone="amber">Not saved — fix the value</Badge>;
  } else {
    switch (status.kind) {
      case 'idle':
        content = <span className="text-xs text-slate-500 dark:text-slate-400">Changes save automatically</span>;
        break;
      case 'pending':
        content = <Badge tone="slate">Unsaved changes…</Badge>;
        break;
      case 'saving':
        content = (
          <Badge tone="blue">
            <Spinner /> Saving…
          </Badge>
        );
        break;
      case 'saved':
        content = <Badge tone="green">Saved ✓</Badge>;
        break;
      case 'error':
        content = (
          <button className={`${btn} ${btnSmall} border border-red-400 bg-red-50 text-red-800 dark:bg-red-950 dark:text-red-200`} onClick={onRetry} title={status.message}>
            Not saved — retry
          </button>
        );
        break;
      case 'conflict':
        content = <Badge tone="red">Changed by someone else — choose below</Badge>;
        break;
    }
  }
  return (
    <div aria-live="polite" data-testid="save-status" data-kind={hasErrors ? 'invalid' : status.kind}>
      {content}
    </div>
  );
}

function ScoreTable({
  editor,
  record,
  editable,
  readOnly,
  firstInput,
}: {
  editor: ScoreEditor;
  record: ImageRecord;
  editable: boolean;
  readOnly: boolean;
  firstInput: React.RefObject<HTMLInputElement | null>;
}) {
  const { schema } = useConfig();
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [suggestions, setSuggestions] = useState<Record<string, number | undefined>>({});

  const valueOf = (m: string): number | null => editor.local[m] ?? record.scores[m] ?? null;
  const hasErrors = Object.keys(errors).length > 0;
  const current: Record<string, number> = {};
  for (const m of schema.metrics) {
    const v = valueOf(m.name);
    if (v != null) current[m.name] = v;
  }
  const total = totalScore(current, schema);
  const aiTotal = totalScore(record.draft?.rounded, schema);
  const hasSpread = schema.metrics.some((m) => record.draft?.rounded[m.name] != null && formatUncertainty(record.draft?.uncertainty?.[m.name]) !== '');

  const setError = (m: string, msg: string | null, suggestion?: number) => {
    setErrors((e) => {
      const n = { ...e };
      if (msg) n[m] = msg;
      else delete n[m];
      return n;
    });
    setSuggestions((s) => ({ ...s, [m]: msg ? suggestion : undefined }));
  };
  const clearText = (m: string) =>
    setTexts((t) => {
      const n = { ...t };
      delete n[m];
      return n;
    });

  const commit = (m: Metric, value: number) => {
    clearText(m.name);
    setError(m.name, null);
    if (value !== record.scores[m.name] || editor.local[m.name] !== undefined) editor.setValue(m.name, value);
  };

  const onChange = (m: Metric, text: string) => {
    setTexts((t) => ({ ...t, [m.name]: text }));
    const r = parseScoreInput(text, m, schema.step);
    if (r.ok) {
      setError(m.name, null);
      editor.setValue(m.name, r.value);
    } else {
      setError(m.name, r.message, r.suggestion);
      editor.dropValue(m.name);
    }
  };

  const onKeyDown = (m: Metric, e: KeyboardEvent<HTMLInputElement>) => {
    // Step from what the field shows when that is a number (clamped into range), else from the value.
    const typed = Number((texts[m.name] ?? '').trim().replace(',', '.'));
    const baseOk = texts[m.name]?.trim() && Number.isFinite(typed) ? clamp(typed, 0, m.max) : valueOf(m.name);
    let next: number | null = null;
    if (e.key === 'ArrowUp') next = stepScore(baseOk, 1, m, schema.step);
    else if (e.key === 'ArrowDown') next = stepScore(baseOk, -1, m, schema.step);
    else if (e.key === 'PageUp') next = stepScore(baseOk, 1, m, schema.step, 4);
    else if (e.key === 'PageDown') next = stepScore(baseOk, -1, m, schema.step, 4);
    else if (e.key === 'Home' && e.ctrlKey) next = 0;
    else if (e.key === 'End' && e.ctrlKey) next = m.max;
    else if (e.key === 'Escape') {
      clearText(m.name);
      setError(m.name, null);
      return;
    }
    if (next != null) {
      e.preventDefault();
      commit(m, next);
    }
  };

  return (
    <section aria-labelledby="scores-title">
      <div className="mb-2 flex items-center justify-between gap-3">
        <h3 id="scores-title" className="font-semibold">
          Pathology scores{' '}
          <span className="text-sm font-normal text-slate-500 dark:text-slate-400">
            ({readOnly ? 'read only' : 'editable'}, steps of {formatScore(schema.step, schema.step)})
          </span>
        </h3>
        {!readOnly && <SaveIndicator status={editor.status} hasErrors={hasErrors} onRetry={() => void editor.flush()} />}
      </div>
      {editor.status.kind === 'conflict' && <ConflictBox status={editor.status} editor={editor} onTheirs={() => setTexts({})} />}
      {editor.status.kind === 'error' && (
        <p role="alert" className="mb-2 text-sm text-red-700 dark:text-red-400" data-testid="save-error">
          Not saved: {editor.status.message}
        </p>
      )}
      <table className="w-full text-sm">
        <thead>
          <tr className="text-left text-xs uppercase tracking-wide text-slate-500 dark:text-slate-400">
            <th scope="col" className="py-1 font-medium">
              Metric
            </th>
            <th scope="col" className="py-1 text-right font-medium">
              AI draft
            </th>
            <th scope="col" className="py-1 pl-4 text-right font-medium">
              Current
            </th>
          </tr>
        </thead>
        <tbody>
          {schema.metrics.map((m, i) => {
            const v = valueOf(m.name);
            const ai = record.draft?.rounded[m.name];
            const spread = ai == null ? '' : formatUncertainty(record.draft?.uncertainty?.[m.name]);
            const text = texts[m.name] ?? (v == null ? '' : formatScore(v, schema.step));
            const err = errors[m.name];
            const corrected = ai != null && v != null && Math.abs(ai - v) > 1e-9;
            const inputId = `score-${i}`;
            const errId = `score-${i}-error`;
            return (
              <tr key={m.name} className="border-t border-slate-200 align-top dark:border-slate-800" data-testid="metric-row" data-metric={m.name}>
                <th scope="row" className="py-2.5 pr-2 text-left font-medium">
                  <label htmlFor={readOnly ? undefined : inputId} className="text-xs uppercase tracking-wide text-slate-600 dark:text-slate-300">
                    {m.name}
                  </label>
                  <div className="text-xs font-normal text-slate-500 dark:text-slate-400">0 – {formatScore(m.max, schema.step)}</div>
                </th>
                <td className="py-2.5 text-right whitespace-nowrap tabular-nums text-slate-500 dark:text-slate-400" data-testid="ai-value">
                  {ai == null ? '–' : formatScore(ai, schema.step)}
                  {spread && (
                    <span className="ml-1 text-xs" title={UNCERTAINTY_HELP} data-testid="ai-uncertainty">
                      {spread}
                    </span>
                  )}
                </td>
                <td className="py-2 pl-4">
                  {readOnly ? (
                    <div className="flex items-center justify-end gap-2 py-1 pr-1 tabular-nums" data-testid="score-value">
                      {corrected && (
                        <span className="text-xs text-amber-700 dark:text-amber-400" title="Corrected from the AI draft">
                          corrected
                        </span>
                      )}
                      <span className="font-semibold">
                        {v == null ? '–' : formatScore(v, schema.step)}
                      </span>
                    </div>
                  ) : (
                    <>
                      <div className="flex items-center justify-end gap-1">
                        {corrected && (
                          <span className="mr-1 text-xs text-amber-700 dark:text-amber-400" title="Corrected from the AI draft">
                            corrected
                          </span>
                        )}
                        <button
                          type="button"
                          tabIndex={-1}
                          className={`${btnSecondary} size-8 px-0 py-0`}
                          aria-label={`Decrease ${m.name}`}
                          disabled={!editable || v === 0}
                          onClick={() => commit(m, stepScore(v, -1, m, schema.step))}
                        >
                          −
                        </button>
                        <input
                          id={inputId}
                          ref={i === 0 ? firstInput : undefined}
                          type="text"
                          inputMode="decimal"
                          autoComplete="off"
                          role="spinbutton"
                          aria-valuemin={0}
                          aria-valuemax={m.max}
                          aria-valuenow={v ?? undefined}
                          aria-invalid={err ? true : undefined}
                          aria-describedby={err ? errId : undefined}
                          disabled={!editable}
                          value={text}
                          onChange={(e) => onChange(m, e.target.value)}
                          onKeyDown={(e) => onKeyDown(m, e)}
                          onBlur={() => {
                            if (!errors[m.name]) clearText(m.name);
                          }}
                          data-testid="score-input"
                          className={`w-20 rounded-md border px-2 py-1.5 text-right tabular-nums ${
                            err
                              ? 'border-red-500 bg-red-50 dark:bg-red-950/50'
                              : corrected
                                ? 'border-amber-400 bg-white dark:border-amber-600 dark:bg-slate-900'
                                : 'border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-900'
                          }`}
                        />
                        <button
                          type="button"
                          tabIndex={-1}
                          className={`${btnSecondary} size-8 px-0 py-0`}
                          aria-label={`Increase ${m.name}`}
                          disabled={!editable || v === m.max}
                          onClick={() => commit(m, stepScore(v, 1, m, schema.step))}
                        >
                          +
                        </button>
                      </div>
                      {err && (
                        <p id={errId} role="alert" className="mt-1 text-right text-xs text-red-700 dark:text-red-400" data-testid="score-error">
                          {err}
                          {suggestions[m.name] !== undefined && (
                            <button type="button" className="ml-1 underline" onClick={() => commit(m, suggestions[m.name] as number)}>
                              Use {formatScore(suggestions[m.name], schema.step)}
                            </button>
                          )}
                        </p>
                      )}
                    </>
                  )}
                </td>
              </tr>
            );
          })}
          <tr className="border-t-2 border-slate-300 font-semibold dark:border-slate-700">
            <th scope="row" className="py-2 text-left text-xs uppercase tracking-wide">
              Total
            </th>
            <td className="py-2 text-right tabular-nums text-slate-500 dark:text-slate-400">{aiTotal == null ? '–' : formatScore(aiTotal, schema.step)}</td>
            <td className={`py-2 ${readOnly ? 'pr-1' : 'pr-10'} text-right tabular-nums`} data-testid="total-current">
              {total == null ? '–' : formatScore(total, schema.step)}
            </td>
          </tr>
        </tbody>
      </table>
      {hasSpread && (
        <p className="mt-1 text-xs text-slate-500 dark:text-slate-400" data-testid="uncertainty-note">
          ± beside an AI draft: the {UNCERTAINTY_HELP} (standard deviation, in score units).
        </p>
      )}
    </section>
  );
}

function ConflictBox({
  status,
  editor,
  onTheirs,
}: {
  status: Extract<SaveStatus, { kind: 'conflict' }>;
  editor: ScoreEditor;
  onTheirs: () => void;
}) {
  const { schema } = useConfig();
  const { current, mine } = status;
  return (
    <div role="alert" className="mb-3 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950/60 dark:text-red-100" data-testid="conflict">
      <p className="font-semibold">
        {current.updated_by} changed this image at {formatDateTime(current.updated_at)} while you were editing.
      </p>
      <table className="my-2">
        <thead>
          <tr className="text-left text-xs uppercase">
            <th className="pr-4">Metric</th>
            <th className="pr-4">Theirs</th>
            <th>Yours</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(mine).map(([m, v]) => (
            <tr key={m}>
              <td className="pr-4">{m}</td>
              <td className="pr-4 tabular-nums">{formatScore(current.scores[m], schema.step)}</td>
              <td className="tabular-nums">{formatScore(v, schema.step)}</td>
            </tr>
          ))}
          {status.mineReviewed !== undefined && (
            <tr>
              <td className="pr-4">Reviewed</td>
              <td className="pr-4">{current.review_status}</td>
              <td>{status.mineReviewed ? 'reviewed' : 'unreviewed'}</td>
            </tr>
          )}
        </tbody>
      </table>
      <div className="flex gap-2">
        <button
          className={`${btnSecondary} ${btnSmall}`}
          onClick={() => {
            onTheirs();
            void editor.resolveConflict('theirs');
          }}
        >
          Keep theirs
        </button>
        <button className={`${btnPrimary} ${btnSmall}`} onClick={() => void editor.resolveConflict('mine')}>
          Overwrite with mine
        </button>
      </div>
    </div>
  );
}
