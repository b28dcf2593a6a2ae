import { lazy, Suspense, useCallback, useEffect, useEffectEvent, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { ApiError, getRead, listStudyImages, reportActive, submitRead } from '../../api/client';
import type { Read, Study } from '../../api/types';
import { useActiveTime } from '../../lib/activeTime';
import { useConfig } from '../../lib/config';
import { errorMessage, shortId } from '../../lib/format';
import { plainErrorText } from '../../lib/errors';
import { navigate } from '../../lib/router';
import { studyHref } from '../../lib/routes';
import { formatScore, totalScore } from '../../lib/scores';
import { useSession } from '../../lib/session';
import { useQuery } from '../../lib/useQuery';
import {
  collectScores,
  firstToRead,
  formatDuration,
  hasRevision,
  isFinished,
  nextInWorklist,
  readMode,
  scoresDiffer,
  scoresToTexts,
  WORK_LABELS,
  workState,
  type WorkState,
} from '../../lib/study';
import { Badge, btnPrimary, btnSecondary, btnSmall, card, input, Spinner, type Tone } from '../ui';
import { ScoreFields, type ScoreColumn } from '../ScoreFields';

const Viewer = lazy(() => import('../Viewer').then((m) => ({ default: m.Viewer })));

const STATE_TONES: Record<WorkState, Tone> = {
  todo: 'slate',
  opened: 'amber',
  blind_done: 'blue',
  revised: 'green',
  done: 'green',
};

/** Set when "Next image" opened the panel: its first field takes focus. */
let focusNextPanel = false;

export function ReadingTab({ study, imageId, onProgress }: { study: Study; imageId: number | null; onProgress: () => void }) {
  const { user } = useSession();
  const worklist = useQuery(`study-images/${study.id}`, (signal) => listStudyImages(study.id, signal));
  const images = worklist.data ?? null;
  const error = worklist.error === undefined ? null : errorMessage(worklist.error);
  const reload = worklist.refetch;

  const me = user.name;
  const current = imageId ?? (images ? firstToRead(images, me, study.blinded) : null);
  const open = useCallback((id: number) => navigate(studyHref(study.id, 'read', id), true), [study.id]);
  // The image first opened stays open (into the address) when the worklist changes after a save.
  useEffect(() => {
    if (imageId == null && current != null) open(current);
  }, [imageId, current, open]);
  const finished = images ? images.filter((i) => isFinished(workState(i, me, study.blinded))).length : 0;

  return (
    <div className="grid min-h-full grid-cols-[16rem_minmax(0,1fr)]">
      <nav aria-label="Worklist" className="border-r border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900/40">
        <div className="border-b border-slate-200 px-4 py-3 dark:border-slate-800">
          <h2 className="font-semibold">Worklist</h2>
          {images && (
            <p className="text-xs text-slate-500 dark:text-slate-400" aria-live="polite" data-testid="worklist-summary">
              {finished} of {images.length} {study.blinded ? 'blind-scored' : 'scored'}
            </p>
          )}
        </div>
        {error && (
          <p role="alert" className="p-4 text-sm text-red-700 dark:text-red-400">
            The worklist could not be loaded: {error}{' '}
            <button className="underline" onClick={reload}>
              Try again
            </button>
          </p>
        )}
        {!images && !error && (
          <p className="p-4 text-sm text-slate-500 dark:text-slate-400">
            <Spinner label="Loading the worklist" />
          </p>
        )}
        {images && images.length === 0 && <p className="p-4 text-sm text-slate-500 dark:text-slate-400">This study has no images yet.</p>}
        <ol className="divide-y divide-slate-100 dark:divide-slate-800">
          {(images ?? []).map((img, i) => {
            const state = workState(img, me, study.blinded);
            const selected = img.image_id === current;
            return (
              <li key={img.image_id}>
                <button
                  type="button"
                  onClick={() => open(img.image_id)}
                  aria-current={selected ? 'true' : undefined}
                  className={`flex w-full flex-col items-start gap-1 px-4 py-2 text-left text-sm hover:bg-slate-50 dark:hover:bg-slate-800/50 ${
                    selected ? 'bg-indigo-50 dark:bg-indigo-950/40' : ''
                  }`}
                  data-testid="worklist-item"
                  data-image-id={img.image_id}
                  data-state={state}
                >
                  <span className="w-full truncate font-medium" title={img.filename}>
                    <span className="text-slate-600 dark:text-slate-400">{i + 1}.</span> {img.filename}
                  </span>
                  <span className="flex items-center gap-2 text-xs text-slate-600 dark:text-slate-400">
                    {img.serial ?? '–'}
                    <Badge tone={STATE_TONES[state]}>{WORK_LABELS[state]}</Badge>
                  </span>
                </button>
              </li>
            );
          })}
        </ol>
      </nav>
      <div className="min-w-0">
        {current == null ? (
          <p className="p-6 text-sm text-slate-500 dark:text-slate-400">{images ? 'Nothing to read here.' : ''}</p>
        ) : (
          <ReadPanel
            key={current}
            study={study}
            imageId={current}
            nextId={images ? nextInWorklist(images, current, me, study.blinded) : null}
            onOpen={(id) => {
              focusNextPanel = true;
              open(id);
            }}
            onOpened={() => {
              const img = images?.find((i) => i.image_id === current);
              if (img && workState(img, me, study.blinded) === 'todo') reload();
            }}
            onSaved={() => {
              reload();
              onProgress();
            }}
          />
        )}
      </div>
    </div>
  );
}

/** " · 42 s of active viewing" (the server's time on task), or nothing when it has none. */
const onTask = (seconds: number | null | undefined) => (seconds != null ? ` · ${formatDuration(seconds)} of active viewing` : '');

function readErrorMessage(e: unknown): string {
  if (e instanceof ApiError && e.status === 403) return 'Only the readers of this study read its images. Ask an administrator to add you as a reader.';
  if (e instanceof ApiError && e.status === 404) return 'This image is not in the study (any more). Choose another one from the worklist.';
  return errorMessage(e);
}

interface PanelProps {
  study: Study;
  imageId: number;
  nextId: number | null;
  onOpen: (id: number) => void;
  onSaved: () => void;
}

/** Loads the reader's view of the image; `onOpened` once it has (the server started the clock). */
function ReadPanel({ onOpened, ...props }: PanelProps & { onOpened: () => void }) {
  const { study, imageId } = props;
  const read = useQuery(`read/${study.id}/${imageId}`, (signal) => getRead(study.id, imageId, signal));
  const loaded = read.data !== undefined;
  const opened = useEffectEvent(onOpened);
  useEffect(() => {
    if (loaded) opened();
  }, [loaded]);

  if (!read.data) {
    return (
      <div className="p-6">
        {read.error !== undefined ? (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            {readErrorMessage(read.error)}
          </p>
        ) : (
          <p className="text-slate-500 dark:text-slate-400">
            <Spinner label="Loading the image" /> Loading…
          </p>
        )}
      </div>
    );
  }
  return <ReadForm {...props} read={read.data} onRead={(r) => read.setData(() => r)} />;
}

/** The reader's fields for the loaded read; `onRead` takes the server's answer to a submit. */
function ReadForm({ study, imageId, nextId, onOpen, onSaved, read, onRead }: PanelProps & { read: Read; onRead: (r: Read) => void }) {
  const { schema } = useConfig();
  const prefill = (r: Read) => scoresToTexts(readMode(r, r.require_reason ?? study.require_reason).prefill, schema.step);
  const [texts, setTexts] = useState(() => prefill(read));
  const [reason, setReason] = useState('');
  const [showErrors, setShowErrors] = useState(false);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  // Time on task: active viewing of this image, reported while the panel is open.
  const flushActive = useActiveTime(useCallback((ms: number, leaving: boolean) => reportActive(study.id, imageId, ms, leaving), [study.id, imageId]));

  useEffect(() => {
    if (focusNextPanel) {
      focusNextPanel = false;
      formRef.current?.querySelector<HTMLInputElement>('input[role=spinbutton]')?.focus();
    }
  }, []);

  const requireReason = read.require_reason ?? study.require_reason;
  const mode = readMode(read, requireReason);
  const saved = mode.kind === 'blind' ? null : mode.prefill;
  const reasonShown = mode.kind === 'revise' || (mode.kind === 'single' && saved != null);

  const submit = async () => {
    if (saving) return;
    setShowErrors(true);
    setNotice(null);
    const { scores, errors } = collectScores(texts, schema);
    const bad = Object.keys(errors);
    if (bad.length) {
      setSaveError(`Not saved: ${bad.length === 1 ? `${bad[0]} needs` : `${bad.length} metrics need`} a valid score (see the field${bad.length === 1 ? '' : 's'} above).`);
      formRef.current?.querySelector<HTMLInputElement>('input[aria-invalid=true]')?.focus();
      return;
    }
    if (mode.kind !== 'blind' && saved && !scoresDiffer(scores, saved, schema)) {
      setSaveError('Nothing to save: these are the scores you already saved. Change a value first, or go to the next image.');
      return;
    }
    if (mode.needsReason && !reason.trim()) {
      setSaveError('This study needs a reason for every change after the first submission: say why you changed the score.');
      reasonRef.current?.focus();
      return;
    }
    setSaving(true);
    setSaveError(null);
    try {
      // The time up to now belongs to this score (the blind score's time ends with it).
      await flushActive();
      const r = await submitRead(study.id, imageId, scores, reasonShown && reason.trim() ? reason.trim() : undefined);
      onRead(r);
      setTexts(prefill(r));
      setReason('');
      setShowErrors(false);
      setNotice(
        mode.kind === 'blind'
          ? 'Blind score saved. The AI draft is shown now: revise your score if you want to, or go to the next image.'
          : mode.kind === 'revise'
            ? 'Revision saved.'
            : 'Score saved.',
      );
      onSaved();
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) setSaveError("Not saved: only this study's readers score its images. Ask an administrator to add you as a reader.");
      else setSaveError(`Not saved. ${plainErrorText(e, 'save')}`);
    } finally {
      setSaving(false);
    }
  };

  const onFormKey = (e: KeyboardEvent<HTMLFormElement>) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      e.preventDefault();
      void submit();
    }
  };

  const columns: ScoreColumn[] = [];
  if (mode.kind === 'revise') columns.push({ header: 'Your blind score', values: read.blind, testId: 'read-blind-value' });
  if (mode.showAi && read.ai) columns.push({ header: 'AI draft', values: read.ai, testId: 'read-ai-value' });
  const img = read.image;
  const group = img.group ?? null;
  const total = totalScore(collectScores(texts, schema).scores, schema);

  return (
    <div className="grid gap-6 p-6 xl:grid-cols-[minmax(0,1fr)_28rem]" data-testid="read-panel" data-image-id={imageId} data-mode={mode.kind}>
      <div className="flex min-w-0 flex-col gap-2">
        <h2 className="break-all text-lg font-semibold" data-testid="read-filename">
          {img.filename}
        </h2>
        <p className="text-sm text-slate-500 dark:text-slate-400">
          Serial {img.serial ?? '–'} · group {group || '–'}
          {img.width && img.height ? ` · ${img.width}×${img.height} px` : ''}
        </p>
        <Suspense fallback={<div className="h-[38vh] min-h-64 rounded-lg bg-slate-100 dark:bg-slate-900" />}>
          <Viewer id={imageId} filename={img.filename} />
        </Suspense>
      </div>

      <form ref={formRef} className={`${card} flex flex-col gap-4 self-start p-4`} onSubmit={(e: FormEvent) => {
          e.preventDefault();
          void submit();
        }} onKeyDown={onFormKey} noValidate aria-label="Your score">
        {mode.kind === 'blind' ? (
          <div className="rounded-md border border-violet-300 bg-violet-50 px-3 py-2 text-sm text-violet-900 dark:border-violet-800 dark:bg-violet-950/60 dark:text-violet-200" data-testid="blind-note">
            <strong>Blind reading.</strong> The AI draft and other readers’ scores stay hidden until you submit your blind score. Every metric needs a score.
          </div>
        ) : mode.kind === 'revise' ? (
          <div className="rounded-md border border-blue-300 bg-blue-50 px-3 py-2 text-sm text-blue-900 dark:border-blue-800 dark:bg-blue-950/60 dark:text-blue-200">
            Your blind score is kept. {read.ai ? 'The AI draft is shown beside it; ' : ''}change a value and save a revision if you want to.
          </div>
        ) : null}

        <ScoreFields
          idPrefix="read"
          testId="read-scores"
          texts={texts}
          onText={(m, t) => {
            setTexts((x) => ({ ...x, [m.name]: t }));
            setSaveError(null);
          }}
          showErrors={showErrors}
          columns={columns}
          inputHeader={mode.kind === 'revise' ? 'Revised' : 'Your score'}
          disabled={saving}
          caption={`Steps of ${formatScore(schema.step, schema.step)}; ↑ ↓ change by one step, Ctrl+Enter saves.`}
        />
        <p className="text-right text-sm">
          Total: <strong className="tabular-nums">{formatScore(total, schema.step)}</strong>
        </p>
        {mode.kind === 'single' && read.ai && (
          <button
            type="button"
            className={`${btnSecondary} ${btnSmall} self-start`}
            onClick={() => setTexts(scoresToTexts(read.ai, schema.step))}
          >
            Copy the AI draft into the fields
          </button>
        )}

        {reasonShown && (
          <label className="flex flex-col gap-1 text-sm font-medium">
            <span>
              Reason for the change{' '}
              {mode.needsReason ? (
                <span className="font-normal text-red-700 dark:text-red-400">(required)</span>
              ) : (
                <span className="font-normal text-slate-500 dark:text-slate-400">(optional)</span>
              )}
            </span>
            <textarea ref={reasonRef} className={input} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="read-reason" />
          </label>
        )}

        {saveError && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400" data-testid="read-error">
            {saveError}
          </p>
        )}
        {notice && (
          <p role="status" className="text-sm text-green-700 dark:text-green-400" data-testid="read-notice">
            {notice}
          </p>
        )}

        <div className="flex flex-wrap items-center gap-2">
          <button type="submit" className={btnPrimary} disabled={saving}>
            {saving && <Spinner />} {mode.submitLabel}
          </button>
          <button type="button" className={btnSecondary} disabled={nextId == null} onClick={() => nextId != null && onOpen(nextId)}>
            Next image →
          </button>
        </div>

        <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 border-t border-slate-200 pt-3 text-xs text-slate-500 dark:border-slate-800 dark:text-slate-400">
          {read.blinded ? (
            <>
              <dt>Blind score</dt>
              <dd data-testid="read-blind-time">{read.blind ? `saved${onTask(read.blind_seconds)}` : 'not yet'}</dd>
              {read.blind && (
                <>
                  <dt>Revision</dt>
                  <dd data-testid="read-revision-time">{`${hasRevision(read) ? 'saved' : 'none'}${onTask(read.revised_seconds)}`}</dd>
                </>
              )}
            </>
          ) : (
            <>
              <dt>Score</dt>
              <dd data-testid="read-score-time">{read.revised || read.blind ? `saved${onTask(read.revised_seconds)}` : 'not yet'}</dd>
            </>
          )}
          {mode.showAi && read.model_id && (
            <>
              <dt>AI model</dt>
              <dd>
                <code title={read.model_id}>{shortId(read.model_id)}</code>
              </dd>
            </>
          )}
        </dl>
      </form>
    </div>
  );
}
