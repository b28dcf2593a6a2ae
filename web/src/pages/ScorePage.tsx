import { useCallback, useEffect, useState } from 'react';
import { DropZone } from '../components/DropZone';
import { QueueList } from '../components/QueueList';
import { ReviewPanel } from '../components/ReviewPanel';
import { card, DemoBanner } from '../components/ui';
import { useConfig } from '../lib/config';
import { largestUpload, uploadLimitsOf } from '../lib/files';
import { isBusy, type QueueItem } from '../lib/queue';
import { prefetchImage } from '../lib/prefetch';
import { getEntry, useRecord, useRecordsVersion } from '../lib/records';
import { Viewer } from '../components/Viewer';
import { Link, navigate, useLocation } from '../lib/router';
import { canScore, ROLE_LABELS } from '../lib/roles';
import { useSession } from '../lib/session';
import type { UploadQueue } from '../lib/useUploadQueue';

export function ScorePage({ queue }: { queue: UploadQueue }) {
  const config = useConfig();
  const { user } = useSession();
  const mayUpload = canScore(user.role);
  const maxBytes = largestUpload(uploadLimitsOf(config));
  const items = queue.state.items;
  const { search } = useLocation();
  // The open image is in the address (?image=ID) so a reload shows it again.
  const fromUrl = Number(new URLSearchParams(search).get('image')) || null;
  const [known, setKnown] = useState<Record<number, boolean>>({});
  const setSelected = useCallback((s: { id: number; known: boolean }) => {
    setKnown((k) => ({ ...k, [s.id]: s.known }));
    navigate(`/?image=${s.id}`, true);
  }, []);

  // Nothing chosen yet: show the first finished image, so review starts while the rest upload.
  const firstDone = items.find((it) => it.stage === 'done' && it.recordId != null);
  const selected = fromUrl
    ? { id: fromUrl, known: known[fromUrl] ?? false }
    : firstDone
      ? { id: firstDone.recordId as number, known: firstDone.outcome === 'known' }
      : null;

  const onSelect = useCallback((id: number, item: QueueItem) => setSelected({ id, known: item.outcome === 'known' }), [setSelected]);

  const onNext = useCallback(
    (fromId: number) => {
      const it = nextUnreviewed(items, fromId);
      if (!it) return false;
      setSelected({ id: it.recordId as number, known: it.outcome === 'known' });
      return true;
    },
    [items, setSelected],
  );

  // Fetch the image "Mark reviewed & next" would open, so that it shows at once.
  const version = useRecordsVersion();
  const upcoming = selected ? nextUnreviewed(items, selected.id) : null;
  useEffect(() => {
    if (upcoming) prefetchImage(upcoming.recordId as number);
  }, [upcoming, version]);

  return (
    <div className="h-full overflow-y-auto lg:grid lg:grid-cols-[minmax(0,1fr)_24rem] lg:overflow-hidden xl:grid-cols-[minmax(0,1fr)_27rem] 2xl:grid-cols-[minmax(0,1fr)_32rem]">
      <section className="flex flex-col gap-3 p-3 sm:p-4 lg:min-h-0 lg:overflow-hidden" aria-label={selected ? 'Image' : 'Add images'} data-testid="score-main">
        {config.model.demo && <DemoBanner />}
        {selected ? (
          <div className="h-[min(60vh,40rem)] min-h-72 lg:h-auto lg:min-h-0 lg:flex-1">
            <ImageStage key={selected.id} id={selected.id} />
          </div>
        ) : mayUpload ? (
          <DropZone onFiles={queue.addFiles} busy={isBusy(queue.state)} maxUploadBytes={maxBytes} />
        ) : (
          <ViewerNote />
        )}
      </section>
      <div className="flex min-w-0 flex-col border-t border-slate-200 bg-white lg:min-h-0 lg:overflow-y-auto lg:border-t-0 lg:border-l dark:border-slate-800 dark:bg-slate-900/60">
        {selected && mayUpload && (
          <div className="px-4 pt-4">
            <DropZone onFiles={queue.addFiles} busy={isBusy(queue.state)} maxUploadBytes={maxBytes} compact />
          </div>
        )}
        <ReviewPanel id={selected?.id ?? null} knownNote={selected?.known} onNext={onNext} withViewer={false} />
        <div className="p-4 pt-0">
          <QueueList queue={queue} selectedId={selected?.id ?? null} onSelect={onSelect} />
        </div>
      </div>
    </div>
  );
}

/** The image of the open record, as large as the page allows; the preview shows at once. */
function ImageStage({ id }: { id: number }) {
  const entry = useRecord(id);
  return <Viewer id={id} filename={entry?.record.filename ?? `image ${id}`} fill compare />;
}

function ViewerNote() {
  const { user } = useSession();
  return (
    <section className={`${card} p-6 text-sm`} aria-label="Uploads" data-testid="viewer-note">
      <h2 className="mb-1 text-lg font-semibold">You can look, not score</h2>
      <p className="text-slate-600 dark:text-slate-300">
        Your account is a <strong>{ROLE_LABELS[user.role].toLowerCase()}</strong>: it reads images, the history, studies and exports, but does not upload or
        change scores. Open the{' '}
        <Link to="/history" className="font-medium text-indigo-700 underline dark:text-indigo-300">
          History
        </Link>{' '}
        to see the scored images, or ask an administrator for the pathologist role.
      </p>
    </section>
  );
}

/** The next finished, unreviewed item after `fromId` (wrapping round), or null. */
function nextUnreviewed(items: readonly QueueItem[], fromId: number): QueueItem | null {
  const done = items.filter((it) => it.stage === 'done' && it.recordId != null);
  const start = done.findIndex((it) => it.recordId === fromId);
  for (let k = 1; k <= done.length; k++) {
    const it = done[(start + k) % done.length];
    if (!it || it.recordId === fromId) continue;
    const e = getEntry(it.recordId as number);
    if (e && e.record.review_status !== 'reviewed') return it;
  }
  return null;
}
