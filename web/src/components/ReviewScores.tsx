// The review panel's scores: the score editor with autosave (lib/useScoreEditor), what the save is
// doing, and the choice when someone else changed the record meanwhile.

import { useState, type Ref } from 'react';
import type { ImageRecord, Metric } from '../api/types';
import { useConfig } from '../lib/config';
import { formatUncertainty, UNCERTAINTY_HELP } from '../lib/drafts';
import { formatDateTime } from '../lib/format';
import { formatScore, parseScoreInput, scoreField } from '../lib/scores';
import { SLIDE_SPREAD_HELP } from '../lib/slides';
import type { SaveStatus, ScoreEditor } from '../lib/useScoreEditor';
import { ScoreFields, type ScoreColumn } from './ScoreFields';
import { Badge, btn, btnPrimary, btnSecondary, btnSmall, Spinner } from './ui';

export function ReviewScores({
  editor,
  record,
  editable,
  readOnly,
  firstInput,
  slide = false,
}: {
  editor: ScoreEditor;
  record: ImageRecord;
  editable: boolean;
  readOnly: boolean;
  firstInput: Ref<HTMLInputElement>;
  /** A whole slide: the draft's ± is the spread of its field scores. */
  slide?: boolean;
}) {
  const { schema } = useConfig();
  /** What is typed and not yet left; the fields show the saved scores otherwise. */
  const [texts, setTexts] = useState<Record<string, string>>({});
  const saved = { ...record.scores, ...editor.local };
  const hasErrors = schema.metrics.some((m) => scoreField(m, schema.step, texts[m.name], saved, false).error !== null);
  const draft = record.draft;
  const hasSpread = schema.metrics.some((m) => draft?.rounded[m.name] != null && formatUncertainty(draft.uncertainty?.[m.name]) !== '');
  const aiColumn: ScoreColumn = {
    header: 'AI draft',
    values: draft?.rounded,
    testId: 'ai-value',
    note: (m) => {
      const spread = draft?.rounded[m] == null ? '' : formatUncertainty(draft.uncertainty?.[m]);
      return spread ? (
        <span className="ml-1 text-xs" title={slide ? SLIDE_SPREAD_HELP : UNCERTAINTY_HELP} data-testid="ai-uncertainty">
          {spread}
        </span>
      ) : null;
    },
  };

  const clearText = (m: Metric) =>
    setTexts((t) => {
      const n = { ...t };
      delete n[m.name];
      return n;
    });
  const onText = (m: Metric, text: string) => {
    setTexts((t) => ({ ...t, [m.name]: text }));
    const r = parseScoreInput(text, m, schema.step);
    if (r.ok) editor.setValue(m.name, r.value);
    else editor.dropValue(m.name);
  };
  const onValue = (m: Metric, value: number) => {
    clearText(m);
    if (value !== record.scores[m.name] || editor.local[m.name] !== undefined) editor.setValue(m.name, value);
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
      <ScoreFields
        idPrefix="score"
        texts={texts}
        onText={onText}
        onValue={onValue}
        saved={saved}
        onClear={clearText}
        columns={[aiColumn]}
        inputHeader="Current"
        drafted={draft?.rounded}
        readOnly={readOnly}
        disabled={!editable}
        total
        firstInputRef={firstInput}
      />
      {hasSpread && (
        <p className="mt-1 text-xs text-slate-500 dark:text-slate-400" data-testid="uncertainty-note">
          {slide
            ? `± beside an AI draft: the ${SLIDE_SPREAD_HELP}, in score units.`
            : `± beside an AI draft: the ${UNCERTAINTY_HELP} (standard deviation, in score units).`}
        </p>
      )}
    </section>
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
