import { useState } from 'react';
import { listModels, rescore } from '../../api/client';
import type { ModelEntry } from '../../api/types';
import { shortId } from '../../lib/format';
import { modelErrorMessage, modelTitle } from '../../lib/models';
import { navigate } from '../../lib/router';
import { useQuery } from '../../lib/useQuery';
import { compareHref } from '../../lib/viewSync';
import { btnPrimary, btnSecondary, btnSmall, Icon, input, Spinner } from '../ui';

/**
 * The selected records' actions: two of them side by side (everyone), and re-scoring with any
 * registered model (administrators, POST /api/rescore). The models load when a record is ticked
 * (again after the selection was cleared).
 */
export function RescoreBar({
  selected,
  offPage,
  onClear,
  canRescore,
}: {
  selected: ReadonlySet<number>;
  offPage: number;
  onClear: () => void;
  /** Administrators: the re-score controls. */
  canRescore: boolean;
}) {
  const count = selected.size;
  const [modelId, setModelId] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ tone: 'error' | 'ok'; text: string } | null>(null);
  const wanted = count > 0;
  const { data: models, error: loadError, loading, refetch } = useQuery(wanted && canRescore ? 'models' : null, listModels);
  /** In the order they were ticked: the first on the left. */
  const pair = count === 2 ? [...selected] : null;
  const compare = () => {
    if (!pair) return;
    const [a, b] = pair as [number, number];
    navigate(compareHref(a, b, location.pathname + location.search));
  };

  const chosen = models?.find((m) => m.id === modelId) ?? null;
  const optionLabel = (m: ModelEntry) => `${m.name?.trim() ? `${m.name.trim()} · ${shortId(m.id)}` : shortId(m.id)}${m.active ? ' (active)' : ''}`;

  const submit = async () => {
    if (!chosen || count === 0) return;
    const ids = [...selected].sort((a, b) => a - b);
    setBusy(true);
    setMessage(null);
    try {
      const { queued, skipped } = await rescore(ids, chosen.id);
      const of = queued !== ids.length ? ` (of the ${ids.length} selected)` : '';
      const notQueued = (skipped ?? []).slice(0, 5).map((k) => `${k.id}: ${k.reason}`);
      const more = (skipped?.length ?? 0) > notQueued.length ? `, and ${(skipped?.length ?? 0) - notQueued.length} more` : '';
      setMessage({
        tone: 'ok',
        text:
          `${queued} ${queued === 1 ? 'image' : 'images'} queued${of} for re-scoring with ${modelTitle(chosen)}. The new drafts appear as they finish; scores a person set stay.` +
          (notQueued.length ? ` Not queued: ${notQueued.join('; ')}${more}.` : ''),
      });
      onClear();
    } catch (e) {
      setMessage({ tone: 'error', text: `Not queued. ${modelErrorMessage(e, 'rescore')}` });
    } finally {
      setBusy(false);
    }
  };

  if (!wanted && !message) return null;
  return (
    <div className="flex flex-wrap items-end gap-3 border-b border-slate-200 bg-slate-50 px-4 py-3 text-sm dark:border-slate-800 dark:bg-slate-900" role="region" aria-label="Selected records" data-testid="rescore-bar">
      {wanted && (
        <>
          <span className="self-center font-medium" aria-live="polite" data-testid="selected-count">
            {count} selected{offPage > 0 ? ` (${offPage} on other pages)` : ''}
          </span>
          <button
            type="button"
            className={pair ? btnPrimary : btnSecondary}
            disabled={!pair}
            onClick={compare}
            title={pair ? 'Open the two ticked images next to each other, panning and zooming together' : 'Tick exactly two records to see them side by side'}
            data-testid="compare-selected"
          >
            <Icon name="columns" /> Compare side by side
          </button>
          {canRescore && (
            <>
              <label className="flex flex-col gap-1 text-xs font-medium text-slate-600 dark:text-slate-300">
                Re-score with
                <select className={`${input} max-w-72`} value={modelId} onChange={(e) => setModelId(e.target.value)} disabled={!models} data-testid="rescore-model">
                  <option value="">{models ? 'Choose a model…' : 'Loading models…'}</option>
                  {(models ?? []).map((m) => (
                    <option key={m.id} value={m.id}>
                      {optionLabel(m)}
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" className={btnPrimary} disabled={!chosen || busy} onClick={() => void submit()} data-testid="rescore-submit">
                {busy && <Spinner />} {chosen ? `Re-score with ${modelTitle(chosen)}` : 'Re-score with…'}
              </button>
            </>
          )}
          <button type="button" className={`${btnSecondary} ${btnSmall} self-center`} onClick={onClear}>
            Clear selection
          </button>
          {canRescore && loadError !== undefined && !loading && (
            <p role="alert" className="w-full text-red-700 dark:text-red-400">
              The models could not be loaded: {modelErrorMessage(loadError, 'load')}{' '}
              <button className="underline" onClick={refetch}>
                Try again
              </button>
            </p>
          )}
        </>
      )}
      {message && (
        <p role={message.tone === 'error' ? 'alert' : 'status'} className={`w-full ${message.tone === 'error' ? 'text-red-700 dark:text-red-400' : 'text-green-700 dark:text-green-400'}`} data-testid="rescore-message">
          {message.text}
          {message.tone === 'ok' && (
            <button type="button" className="ml-2 underline" onClick={() => setMessage(null)}>
              Dismiss
            </button>
          )}
        </p>
      )}
    </div>
  );
}
