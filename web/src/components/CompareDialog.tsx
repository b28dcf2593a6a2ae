import { useEffect, useId, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { imageUrls, listImages } from '../api/client';
import { groupOf } from '../api/types';
import { plainErrorText } from '../lib/errors';
import { useRecord } from '../lib/records';
import { navigate } from '../lib/router';
import { middleTruncate } from '../lib/text';
import { useQuery } from '../lib/useQuery';
import { compareHref } from '../lib/viewSync';
import { btnPrimary, btnSecondary, btnSmall, input, Spinner } from './ui';

/** The server's group for names it could not read ("UNKNOWN"): no use as a search. */
const UNKNOWN_GROUP = 'UNKNOWN';

/**
 * "Side by side…" from a viewer: find the other image (the search starts with this image's sample
 * group, e.g. another field of the same sample) and open both side by side.
 */
export function CompareDialog({ id, filename, onClose }: { id: number; filename: string; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const record = useRecord(id)?.record;
  const group = record ? groupOf(record) : '';
  const [text, setText] = useState(group && group !== UNKNOWN_GROUP ? group : '');
  const [search, setSearch] = useState(text);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    d?.querySelector<HTMLInputElement>('input')?.focus();
  }, []);
  useEffect(() => {
    const t = setTimeout(() => setSearch(text.trim()), 250);
    return () => clearTimeout(t);
  }, [text]);

  const list = useQuery(`compare-pick/${search}`, (signal) => listImages({ search: search || undefined, sort: 'id', dir: 'desc', limit: 20 }, signal));
  const others = (list.data?.items ?? []).filter((r) => r.id !== id);

  const open = (other: number) => {
    const back = location.pathname + location.search;
    ref.current?.close();
    navigate(compareHref(id, other, back));
  };

  return createPortal(
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onClose={onClose}
      className="m-auto w-full max-w-lg rounded-xl border border-slate-200 bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
      data-testid="compare-dialog"
    >
      <div className="flex flex-col gap-3 p-6">
        <h2 id={titleId} className="text-lg font-semibold">
          Side by side with {middleTruncate(filename, 40)}
        </h2>
        <p className="text-sm text-slate-600 dark:text-slate-300">Choose the other image. Both open next to each other; panning or zooming one moves the other the same way.</p>
        <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
          Search (file name, serial, group)
          <input type="search" className={input} value={text} onChange={(e) => setText(e.target.value)} placeholder="e.g. S-3602" data-testid="compare-search" />
        </label>
        <div className="max-h-80 min-h-24 overflow-y-auto rounded-md border border-slate-200 dark:border-slate-800" aria-live="polite" aria-busy={list.loading}>
          {list.error !== undefined && !list.loading ? (
            <p role="alert" className="p-3 text-sm text-red-700 dark:text-red-400">
              The images could not be loaded. {plainErrorText(list.error)}{' '}
              <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={list.refetch}>
                Try again
              </button>
            </p>
          ) : list.loading && !list.data ? (
            <p className="p-3 text-sm text-slate-500 dark:text-slate-400">
              <Spinner /> Loading…
            </p>
          ) : others.length === 0 ? (
            <p className="p-3 text-sm text-slate-500 dark:text-slate-400">No other image matches. Change the search (an empty search lists the newest images).</p>
          ) : (
            <ul>
              {others.map((r) => (
                <li key={r.id} className="flex items-center gap-3 border-t border-slate-100 px-3 py-1.5 first:border-t-0 dark:border-slate-800" data-testid="compare-choice" data-record-id={r.id}>
                  <img
                    src={imageUrls(r.id).thumbnail}
                    alt=""
                    loading="lazy"
                    width={32}
                    height={32}
                    className="size-8 shrink-0 rounded bg-slate-200 object-cover dark:bg-slate-800"
                    onError={(e) => (e.currentTarget.style.visibility = 'hidden')}
                  />
                  <span className="min-w-0 flex-1">
                    <span className="block truncate text-sm font-medium" title={r.filename}>
                      {middleTruncate(r.filename, 40)}
                    </span>
                    <span className="block text-xs text-slate-500 dark:text-slate-400">
                      {r.serial ?? '–'} · {groupOf(r) || '–'}
                    </span>
                  </span>
                  <button type="button" className={`${btnPrimary} ${btnSmall}`} onClick={() => open(r.id)} aria-label={`Compare with ${r.filename}`}>
                    Compare
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div className="flex justify-end">
          <button type="button" className={btnSecondary} onClick={() => ref.current?.close()}>
            Cancel
          </button>
        </div>
      </div>
    </dialog>,
    document.body,
  );
}
