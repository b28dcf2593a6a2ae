import { useState } from 'react';
import { ApiError, getAudit } from '../api/client';
import { auditSentence, stepDecimals } from '../lib/audit';
import { useConfig } from '../lib/config';
import { errorMessage, formatDateTime } from '../lib/format';
import { useModelNames } from '../lib/modelRegistry';
import { useQuery } from '../lib/useQuery';
import { btnSecondary, btnSmall } from './ui';

const auditErrorMessage = (e: unknown) =>
  e instanceof ApiError && e.status === 404 ? 'No correction history is available from this server.' : `The correction history could not be loaded. ${errorMessage(e)}`;

/** The record's correction history (GET /api/images/{id}/audit) as sentences, newest first; refetched when it changes. */
export function AuditLog({ id, version, defaultOpen = false }: { id: number; version: number; defaultOpen?: boolean }) {
  const [open, setOpen] = useState(defaultOpen);
  const { schema } = useConfig();
  const models = useModelNames();
  const audit = useQuery(open ? `audit/${id}/${version}` : null, (signal) => getAudit(id, signal));
  const entries = audit.data ?? null;
  const error = audit.error === undefined ? null : auditErrorMessage(audit.error);
  const decimals = stepDecimals(schema.step);

  return (
    <details open={defaultOpen || undefined} className="rounded-lg border border-slate-200 dark:border-slate-800" onToggle={(e) => setOpen(e.currentTarget.open)} data-testid="audit">
      <summary className="cursor-pointer px-3 py-2 text-sm font-semibold">Correction history</summary>
      <div className="max-h-72 overflow-auto px-3 pb-3" tabIndex={0} role="region" aria-label="Correction history entries">
        {error && (
          <p className="text-sm text-slate-500 dark:text-slate-400">
            {error}{' '}
            {!(audit.error instanceof ApiError && audit.error.status === 404) && (
              <button type="button" className={`${btnSecondary} ${btnSmall}`} onClick={audit.refetch}>
                Try again
              </button>
            )}
          </p>
        )}
        {!error && entries == null && open && <p className="text-sm text-slate-500 dark:text-slate-400">Loading…</p>}
        {entries && entries.length === 0 && <p className="text-sm text-slate-500 dark:text-slate-400">No changes yet.</p>}
        {entries && entries.length > 0 && (
          <ol className="space-y-1 text-sm">
            {[...entries].reverse().map((e) => (
              <li key={e.id} className="flex flex-col border-t border-slate-100 pt-1 first:border-t-0 sm:flex-row sm:gap-3 dark:border-slate-800" data-testid="audit-entry" data-action={e.action}>
                <time dateTime={e.at} className="shrink-0 text-xs whitespace-nowrap text-slate-500 tabular-nums sm:w-40 sm:pt-0.5 dark:text-slate-400">
                  {formatDateTime(e.at)}
                </time>
                <span data-testid="audit-sentence">{auditSentence(e, models, decimals)}</span>
              </li>
            ))}
          </ol>
        )}
      </div>
    </details>
  );
}
