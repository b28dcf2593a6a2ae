import { useState } from 'react';
import { ApiError, getAudit } from '../api/client';
import { errorMessage, formatDateTime } from '../lib/format';
import { useQuery } from '../lib/useQuery';

const auditErrorMessage = (e: unknown) =>
  e instanceof ApiError && e.status === 404 ? 'No correction history is available from this server.' : errorMessage(e);

/** The record's correction history (GET /api/images/{id}/audit), refetched when it changes. */
export function AuditLog({ id, version, defaultOpen = false }: { id: number; version: number; defaultOpen?: boolean }) {
  const [open, setOpen] = useState(defaultOpen);
  const audit = useQuery(open ? `audit/${id}/${version}` : null, (signal) => getAudit(id, signal));
  const entries = audit.data ?? null;
  const error = audit.error === undefined ? null : auditErrorMessage(audit.error);

  return (
    <details open={defaultOpen || undefined} className="rounded-lg border border-slate-200 dark:border-slate-800" onToggle={(e) => setOpen(e.currentTarget.open)} data-testid="audit">
      <summary className="cursor-pointer px-3 py-2 text-sm font-semibold">Correction history</summary>
      <div className="max-h-72 overflow-auto px-3 pb-3" tabIndex={0} role="region" aria-label="Correction history entries">
        {error && <p className="text-sm text-slate-500 dark:text-slate-400">{error}</p>}
        {!error && entries == null && open && <p className="text-sm text-slate-500 dark:text-slate-400">Loading…</p>}
        {entries && entries.length === 0 && <p className="text-sm text-slate-500 dark:text-slate-400">No changes yet.</p>}
        {entries && entries.length > 0 && (
          <table className="w-full text-xs">
            <thead>
              <tr className="text-left text-slate-500 dark:text-slate-400">
                <th className="py-1 pr-2 font-medium">When</th>
                <th className="py-1 pr-2 font-medium">Who</th>
                <th className="py-1 pr-2 font-medium">What</th>
                <th className="py-1 pr-2 font-medium">Change</th>
                <th className="py-1 font-medium">Reason</th>
              </tr>
            </thead>
            <tbody>
              {[...entries].reverse().map((e) => (
                <tr key={e.id} className="border-t border-slate-100 align-top dark:border-slate-800" data-testid="audit-entry">
                  <td className="py-1 pr-2 whitespace-nowrap">{formatDateTime(e.at)}</td>
                  <td className="py-1 pr-2">{e.actor}</td>
                  <td className="py-1 pr-2">
                    {e.action}
                    {e.field ? ` · ${e.field}` : ''}
                  </td>
                  <td className="py-1 pr-2 tabular-nums">
                    {e.old_value != null || e.new_value != null ? `${fmt(e.old_value)} → ${fmt(e.new_value)}` : ''}
                  </td>
                  <td className="py-1">{e.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </details>
  );
}

function fmt(v: unknown): string {
  if (v == null) return '–';
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  return JSON.stringify(v);
}
