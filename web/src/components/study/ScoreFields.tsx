// One number field per schema metric, with optional read-only columns before it (the AI draft,
// the blind score…). The caller keeps the texts; validation is lib/scores.ts's.

import type { KeyboardEvent, ReactNode } from 'react';
import type { Metric, Scores } from '../../api/types';
import { useConfig } from '../../lib/config';
import { clamp, formatScore, parseScoreInput, stepScore } from '../../lib/scores';
import { btnSecondary } from '../ui';

export interface ScoreColumn {
  header: string;
  values: Scores | null | undefined;
  /** data-testid of each value cell. */
  testId?: string;
}

export function ScoreFields({
  idPrefix,
  texts,
  onText,
  showErrors,
  columns = [],
  inputHeader,
  disabled,
  caption,
  testId,
  inputTestId,
}: {
  idPrefix: string;
  texts: Record<string, string>;
  onText: (metric: string, text: string) => void;
  /** Show "enter a score" for empty fields too (after a submit attempt). */
  showErrors: boolean;
  columns?: ScoreColumn[];
  inputHeader: string;
  disabled?: boolean;
  caption?: ReactNode;
  testId?: string;
  /** data-testid of the inputs (default `${idPrefix}-input`). */
  inputTestId?: string;
}) {
  const { schema } = useConfig();

  const onKeyDown = (m: Metric, e: KeyboardEvent<HTMLInputElement>) => {
    const typed = Number((texts[m.name] ?? '').trim().replace(',', '.'));
    const base = texts[m.name]?.trim() && Number.isFinite(typed) ? clamp(typed, 0, m.max) : null;
    let next: number | null = null;
    if (e.key === 'ArrowUp') next = stepScore(base, 1, m, schema.step);
    else if (e.key === 'ArrowDown') next = stepScore(base, -1, m, schema.step);
    else if (e.key === 'PageUp') next = stepScore(base, 1, m, schema.step, 4);
    else if (e.key === 'PageDown') next = stepScore(base, -1, m, schema.step, 4);
    if (next != null) {
      e.preventDefault();
      onText(m.name, formatScore(next, schema.step));
    }
  };

  return (
    <table className="w-full text-sm" data-testid={testId}>
      {caption && <caption className="mb-1 text-left text-xs text-slate-500 dark:text-slate-400">{caption}</caption>}
      <thead>
        <tr className="text-left text-xs uppercase tracking-wide text-slate-500 dark:text-slate-400">
          <th scope="col" className="py-1 font-medium">
            Metric
          </th>
          {columns.map((c) => (
            <th key={c.header} scope="col" className="py-1 pl-3 text-right font-medium">
              {c.header}
            </th>
          ))}
          <th scope="col" className="py-1 pl-3 text-right font-medium">
            {inputHeader}
          </th>
        </tr>
      </thead>
      <tbody>
        {schema.metrics.map((m, i) => {
          const text = texts[m.name] ?? '';
          const parsed = parseScoreInput(text, m, schema.step);
          const err = !parsed.ok && (showErrors || text.trim() !== '') ? parsed.message : null;
          const inputId = `${idPrefix}-${i}`;
          const errId = `${inputId}-error`;
          return (
            <tr key={m.name} className="border-t border-slate-200 align-top dark:border-slate-800" data-metric={m.name}>
              <th scope="row" className="py-2 pr-2 text-left font-medium">
                <label htmlFor={inputId} className="text-xs uppercase tracking-wide text-slate-600 dark:text-slate-300">
                  {m.name}
                </label>
                <div className="text-xs font-normal text-slate-500 dark:text-slate-400">0 – {formatScore(m.max, schema.step)}</div>
              </th>
              {columns.map((c) => (
                <td key={c.header} className="py-2 pl-3 text-right tabular-nums text-slate-600 dark:text-slate-300" data-testid={c.testId} data-metric={m.name}>
                  {formatScore(c.values?.[m.name], schema.step)}
                </td>
              ))}
              <td className="py-1.5 pl-3">
                <div className="flex items-center justify-end gap-1">
                  <button
                    type="button"
                    tabIndex={-1}
                    className={`${btnSecondary} size-8 px-0 py-0`}
                    aria-label={`Decrease ${m.name}`}
                    disabled={disabled}
                    onClick={() => onText(m.name, formatScore(stepScore(parsed.ok ? parsed.value : null, -1, m, schema.step), schema.step))}
                  >
                    −
                  </button>
                  <input
                    id={inputId}
                    type="text"
                    inputMode="decimal"
                    autoComplete="off"
                    role="spinbutton"
                    aria-valuemin={0}
                    aria-valuemax={m.max}
                    aria-valuenow={parsed.ok ? parsed.value : undefined}
                    aria-invalid={err ? true : undefined}
                    aria-describedby={err ? errId : undefined}
                    disabled={disabled}
                    value={text}
                    onChange={(e) => onText(m.name, e.target.value)}
                    onKeyDown={(e) => onKeyDown(m, e)}
                    data-testid={inputTestId ?? `${idPrefix}-input`}
                    data-metric={m.name}
                    className={`w-20 rounded-md border px-2 py-1.5 text-right tabular-nums ${
                      err ? 'border-red-500 bg-red-50 dark:bg-red-950/50' : 'border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-900'
                    }`}
                  />
                  <button
                    type="button"
                    tabIndex={-1}
                    className={`${btnSecondary} size-8 px-0 py-0`}
                    aria-label={`Increase ${m.name}`}
                    disabled={disabled}
                    onClick={() => onText(m.name, formatScore(stepScore(parsed.ok ? parsed.value : null, 1, m, schema.step), schema.step))}
                  >
                    +
                  </button>
                </div>
                {err && (
                  <p id={errId} className="mt-1 text-right text-xs text-red-700 dark:text-red-400" data-testid={`${idPrefix}-error`}>
                    {err}
                    {!parsed.ok && parsed.suggestion !== undefined && (
                      <button type="button" className="ml-1 underline" onClick={() => onText(m.name, formatScore(parsed.suggestion, schema.step))}>
                        Use {formatScore(parsed.suggestion, schema.step)}
                      </button>
                    )}
                  </p>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
