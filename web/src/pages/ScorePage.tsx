import { useCallback, useState } from 'react';
import { DropZone } from '../components/DropZone';
import { QueueList } from '../components/QueueList';
import { ReviewPanel } from '../components/ReviewPanel';
import { card, DemoBanner } from '../components/ui';
import { useConfig } from '../lib/config';
import { isBusy, type QueueItem } from '../lib/queue';
import { getEntry } from '../lib/records';
import { Link, navigate, useLocation } from '../lib/router';
import { canScore, ROLE_LABELS } from '../lib/roles';
import { useSession } from '../lib/session';
import type { UploadQueue } from '../lib/useUploadQueue';

export function ScorePage({ queue }: { queue: UploadQueue }) {
  const config = useConfig();
  const { user } = useSession();
  const mayUpload = canScore(user.role);
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
      const done = items.filter((it) => it.stage === 'done' && it.recordId != null);
      const start = done.findIndex((it) => it.recordId === fromId);
      for (let k = 1; k <= done.length; k++) {
        const it = done[(start + k) % done.length];
        if (!it || it.recordId === fromId) continue;
        const e = getEntry(it.recordId as number);
        if (e && e.record.review_status !== 'reviewed') {
          setSelected({ id: it.recordId as number, known: it.outcome === 'known' });
          return true;
        }
      }
      return false;
    },
    [items, setSelected],
  );

  return (
    <div className="grid h-full grid-cols-[minmax(0,1fr)_minmax(26rem,32rem)] xl:grid-cols-[minmax(0,1fr)_36rem] 2xl:grid-cols-[minmax(0,1fr)_44rem]">
      <div className="flex min-h-0 flex-col gap-6 overflow-y-auto p-6">
        {config.model.demo && <DemoBanner />}
        {mayUpload ? (
          <DropZone onFiles={queue.addFiles} busy={isBusy(queue.state)} maxUploadBytes={config.max_upload_bytes} />
        ) : (
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
        )}
        <QueueList queue={queue} selectedId={selected?.id ?? null} onSelect={onSelect} />
      </div>
      <div className="min-h-0 overflow-y-auto border-l border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900/60">
        <ReviewPanel id={selected?.id ?? null} knownNote={selected?.known} onNext={onNext} />
      </div>
    </div>
  );
}
