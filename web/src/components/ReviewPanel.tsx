import { useEffect, useRef, useState } from 'react';
import type { ImageRecord } from '../api/types';
import { groupOf } from '../api/types';
import { deleteImage, restoreImage } from '../api/client';
import { useConfig } from '../lib/config';
import { canScore } from '../lib/roles';
import { useSession } from '../lib/session';
import { Link } from '../lib/router';
import { studyHref } from '../lib/routes';
import { putRecord, refreshRecord, useRecord } from '../lib/records';
import { useQuery } from '../lib/useQuery';
import { useScoreEditor } from '../lib/useScoreEditor';
import { formatBytes } from '../lib/files';
import { AuditLog } from './AuditLog';
import { DraftHistory } from './DraftHistory';
import { ReviewScores } from './ReviewScores';
import { Badge, btnGhost, btnPrimary, btnSecondary, btnSmall, DemoBanner, Icon, Spinner } from './ui';
import { formatDateTime } from '../lib/format';
import { actorLabel, aiLabel } from '../lib/audit';
import { plainErrorText } from '../lib/errors';
import { useModelNames } from '../lib/modelRegistry';
import { viewerHasKeys } from '../lib/viewer';
import { Viewer } from './Viewer';
import { SlideFacts, SlideFieldScores, SlideProgress } from './SlidePanel';
import { isSlide, progressOf } from '../lib/slides';


export const SHORTCUT_HELP =
  'Tab / Shift+Tab: next / previous metric · ↑ ↓: one step · PgUp PgDn: four steps · Ctrl+Enter (or R outside a field and the image): mark reviewed and open the next unreviewed image · F: image full screen';

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
  /** Show the image viewer in the panel (false: the page shows it beside the panel). */
  withViewer?: boolean;
  emptyHint?: string;
}

export function ReviewPanel(props: ReviewPanelProps) {
  const { id } = props;
  const entry = useRecord(id);
  // Not in the cache: fetch it there (null: it could not be had).
  const load = useQuery(id != null && !entry ? `record/${id}` : null, async () => (id == null ? null : refreshRecord(id)));
  const loadError = id != null && load.data === null && !load.loading ? `Image ${id} could not be loaded (it may have been deleted).` : null;

  if (id == null) {
    return (
      <aside className="flex flex-col pb-4" aria-label="Review">
        <div className="border-b border-slate-200 px-6 py-5 dark:border-slate-800">
          <h2 className="text-lg font-semibold">Image review</h2>
          <p className="text-sm text-slate-500 dark:text-slate-400">Select a file to review its scores</p>
        </div>
        <div className="m-4 flex h-40 flex-col items-center justify-center gap-2 rounded-xl border border-dashed border-slate-300 text-slate-500 dark:text-slate-400 dark:border-slate-700">
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

function Panel({ id, knownNote, onNext, showAudit, withViewer = true }: ReviewPanelProps & { id: number }) {
  const config = useConfig();
  const { user } = useSession();
  const modelNames = useModelNames();
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
  const slide = isSlide(record);
  /** A slide being scored counts its fields instead of a spinner. */
  const counting = slide && (record.status === 'queued' || record.status === 'scoring') && progressOf(record) != null;

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
      const inViewer = viewerHasKeys(t);
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
    const reason = window.prompt(`Delete ${record.filename}? It leaves the History and the export; it can be restored, with its scores and corrections, from History › Deleted. Reason (optional):`, '');
    if (reason === null) return;
    try {
      await deleteImage(id, reason || undefined);
      setDeleted(true);
    } catch (e) {
      window.alert(`Not deleted. ${plainErrorText(e, 'delete')}`);
    }
  };
  const onRestore = async () => {
    try {
      putRecord(await restoreImage(id), null, true);
      setDeleted(false);
    } catch (e) {
      window.alert(`Not restored. ${plainErrorText(e, 'restore')}`);
    }
  };

  const group = groupOf(record);
  return (
    <aside className="flex flex-col" aria-label={`Review ${record.filename}`} data-testid="review-panel" data-record-id={id}>
      <div className="border-b border-slate-200 px-4 py-4 sm:px-6 dark:border-slate-800">
        <h2 className="text-xl font-semibold break-words" data-testid="review-filename">
          {breakable(record.filename)}
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
              {record.width && record.height && !slide ? `${record.width}×${record.height} px · ` : ''}
              {record.format ? `${record.format} · ` : ''}
              {formatBytes(record.size_bytes)}
            </dd>
          </div>
        </dl>
        {slide && <SlideFacts record={record} />}
      </div>

      <div className="flex flex-col gap-4 px-4 py-4 sm:px-6">
        {demo && <DemoBanner />}
        {deleted && !readOnly && (
          <div
            role="alert"
            className="flex flex-wrap items-center gap-3 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200"
            data-testid="deleted-note"
          >
            <span>
              This image is deleted (hidden from lists and the export). Restore it here, or later from{' '}
              <Link to="/history?deleted=1" className="font-medium underline">
                History › Deleted
              </Link>
              .
            </span>
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

        {withViewer && <Viewer id={id} filename={record.filename} compare />}

        {counting ? (
          <SlideProgress record={record} />
        ) : record.status === 'queued' || record.status === 'scoring' ? (
          <p className="flex items-center gap-2 text-sm text-violet-700 dark:text-violet-300" role="status">
            <Spinner /> {record.status === 'queued' ? 'Waiting to be scored…' : 'Scoring…'} The AI draft appears here when it is ready.
          </p>
        ) : null}
        {record.status === 'failed' && (
          <p role="alert" className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
            The AI could not score this image. You can still enter the scores by hand; re-scoring can be tried from the History page.
          </p>
        )}

        <ReviewScores editor={editor} record={record} editable={editable} readOnly={readOnly} firstInput={firstInput} slide={slide} />

        {slide && <SlideFieldScores record={record} editor={readOnly ? undefined : editor} editable={editable} />}

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
          <dd data-testid="draft-model">
            <span title={record.draft?.model_id}>{record.draft ? aiLabel(record.draft.model_id, modelNames) : '–'}</span>
            {record.draft?.model_demo && ' (demo)'}
            {record.draft && ` · drafted ${formatDateTime(record.draft.created_at)}`}
          </dd>
          <dt>Last change</dt>
          <dd data-testid="last-change">
            {actorLabel(record.updated_by, modelNames)} · {formatDateTime(record.updated_at)} · version {record.version}
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
            <button
              className={`${btnGhost} ${btnSmall} text-red-700 dark:text-red-400`}
              onClick={() => void onDelete()}
              title="Hide it from the History and the export; it can be restored from History › Deleted"
              data-testid="delete-image"
            >
              Delete image…
            </button>
          </div>
        )}
      </div>
    </aside>
  );
}

/** A file name that wraps after its separators (_ - .) rather than inside a word. */
function breakable(name: string) {
  return name.split(/(?<=[_\-.])/).map((part, i) => (
    <span key={i}>
      {i > 0 && <wbr />}
      {part}
    </span>
  ));
}
