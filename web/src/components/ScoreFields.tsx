// The score editor: one number field per schema metric, with read-only columns before it (the AI
// draft, the blind score…). The caller keeps what was typed; validation is lib/scores.ts's. Used
// as a form (study reading and adjudication) and with autosave (the review panel), where fields
// show the saved scores while nothing is typed in them.

import type { KeyboardEvent, ReactNode, Ref } from 'react';
import type { Metric, Scores } from '../api/types';
import { useConfig } from '../lib/config';
import { clamp, formatScore, keyedScore, scoreField, stepScore, totalScore, type ScoreField } from '../lib/scores';
import { btnSecondary } from './ui';

export interface ScoreColumn {
  header: string;
  values: Scores | null | undefined;
  /** data-testid of each value cell. */
  testId?: string;
  /** Shown after each value (the AI draft's uncertainty). */
  note?: (metric: string) => ReactNode;
}

export interface ScoreFieldsProps {
  /** Input ids are `${idPrefix}-${index}`; field errors have data-testid `${idPrefix}-error`. */
  idPrefix: string;
  /** What was typed, per metric. */
  texts: Record<string, string>;
  onText: (metric: Metric, text: string) => void;
  /** A score chosen with a key, −/+ or a suggestion (default: typed in as text). */
  onValue?: (metric: Metric, value: number) => void;
  /** Autosave: the scores shown while nothing is typed; anything typed is checked at once. */
  saved?: Scores;
  /** Forget what was typed (Escape, or leaving a valid field): the saved score shows again. */
  onClear?: (metric: Metric) => void;
  /** Show "enter a score" for empty fields too (after a submit attempt). */
  showErrors?: boolean;
  columns?: ScoreColumn[];
  inputHeader: string;
  /** Fields that differ from these scores (the AI draft) are marked as corrected. */
  drafted?: Scores | null;
  /** Values only, no fields. */
  readOnly?: boolean;
  disabled?: boolean;
  caption?: ReactNode;
  /** A last row with each column's total. */
  total?: boolean;
  firstInputRef?: Ref<HTMLInputElement>;
  testId?: string;
  /** data-testid of the inputs (default `${idPrefix}-input`). */
  inputTestId?: string;
}

const corrected = (
  <span className="text-xs text-amber-700 dark:text-amber-400" title="Corrected from the AI draft">
    corrected
  </span>
);

export function ScoreFields({
  idPrefix,
  texts,
  onText,
  onValue,
  saved,
  onClear,
  showErrors = false,
  columns = [],
  inputHeader,
  drafted,
  readOnly = false,
  disabled = false,
  caption,
  total = false,
  firstInputRef,
  testId,
  inputTestId = `${idPrefix}-input`,
}: ScoreFieldsProps) {
  const { schema } = useConfig();
  const { step } = schema;
  const choose = onValue ?? ((m: Metric, v: number) => onText(m, formatScore(v, step)));
  const rows = schema.metrics.map((m) => ({ m, f: scoreField(m, step, texts[m.name], saved, showErrors) }));
  const values: Scores = {};
  for (const { m, f } of rows) if (f.value != null) values[m.name] = f.value;

  const onKeyDown = (m: Metric, f: ScoreField, e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Escape') {
      onClear?.(m);
      return;
    }
    // Step from what the field shows when that is a number (clamped into range), else from its score.
    const typed = Number(f.text.trim().replace(',', '.'));
    const current = f.text.trim() && Number.isFinite(typed) ? clamp(typed, 0, m.max) : f.value;
    const next = keyedScore(e.key, e.ctrlKey, current, m, step);
    if (next != null) {
      e.preventDefault();
      choose(m, next);
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
        {rows.map(({ m, f }, i) => {
          const ai = drafted?.[m.name];
          const isCorrected = ai != null && f.value != null && Math.abs(ai - f.value) > 1e-9;
          const inputId = `${idPrefix}-${i}`;
          const errId = `${inputId}-error`;
          return (
            <tr key={m.name} className="border-t border-slate-200 align-top dark:border-slate-800" data-testid="metric-row" data-metric={m.name}>
              <th scope="row" className="py-2 pr-2 text-left font-medium">
                <label htmlFor={readOnly ? undefined : inputId} className="text-xs uppercase tracking-wide text-slate-600 dark:text-slate-300">
                  {m.name}
                </label>
                <div className="text-xs font-normal text-slate-500 dark:text-slate-400">0 – {formatScore(m.max, step)}</div>
              </th>
              {columns.map((c) => (
                <td key={c.header} className="py-2 pl-3 text-right whitespace-nowrap tabular-nums text-slate-600 dark:text-slate-300" data-testid={c.testId} data-metric={m.name}>
                  {formatScore(c.values?.[m.name], step)}
                  {c.note?.(m.name)}
                </td>
              ))}
              <td className="py-1.5 pl-3">
                {readOnly ? (
                  <div className="flex items-center justify-end gap-2 py-1 pr-1 tabular-nums" data-testid="score-value">
                    {isCorrected && corrected}
                    <span className="font-semibold">{formatScore(f.value, step)}</span>
                  </div>
                ) : (
                  <>
                    <div className="flex flex-col items-end gap-0.5 sm:flex-row sm:items-center sm:justify-end sm:gap-1">
                      {isCorrected && <span className="order-last sm:order-none sm:mr-1">{corrected}</span>}
                      <div className="flex items-center gap-1">
                        <button
                          type="button"
                          tabIndex={-1}
                          className={`${btnSecondary} size-8 px-0 py-0`}
                          aria-label={`Decrease ${m.name}`}
                          disabled={disabled || f.value === 0}
                          onClick={() => choose(m, stepScore(f.value, -1, m, step))}
                        >
                          −
                        </button>
                        <input
                          id={inputId}
                          ref={i === 0 ? firstInputRef : undefined}
                          type="text"
                          inputMode="decimal"
                          autoComplete="off"
                          role="spinbutton"
                          aria-valuemin={0}
                          aria-valuemax={m.max}
                          aria-valuenow={f.value ?? undefined}
                          aria-invalid={f.error ? true : undefined}
                          aria-describedby={f.error ? errId : undefined}
                          disabled={disabled}
                          value={f.text}
                          onChange={(e) => onText(m, e.target.value)}
                          onKeyDown={(e) => onKeyDown(m, f, e)}
                          onBlur={() => {
                            if (!f.error) onClear?.(m);
                          }}
                          data-testid={inputTestId}
                          data-metric={m.name}
                          className={`w-16 sm:w-20 rounded-md border px-2 py-1.5 text-right tabular-nums ${
                            f.error
                              ? 'border-red-500 bg-red-50 dark:bg-red-950/50'
                              : isCorrected
                                ? 'border-amber-400 bg-white dark:border-amber-600 dark:bg-slate-900'
                                : 'border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-900'
                          }`}
                        />
                        <button
                          type="button"
                          tabIndex={-1}
                          className={`${btnSecondary} size-8 px-0 py-0`}
                          aria-label={`Increase ${m.name}`}
                          disabled={disabled || f.value === m.max}
                          onClick={() => choose(m, stepScore(f.value, 1, m, step))}
                        >
                          +
                        </button>
                      </div>
                    </div>
                    {f.error && (
                      <p id={errId} role="alert" className="mt-1 text-right text-xs text-red-700 dark:text-red-400" data-testid={`${idPrefix}-error`}>
                        {f.error}
                        {f.suggestion !== undefined && (
                          <button type="button" className="ml-1 underline" onClick={() => choose(m, f.suggestion as number)}>
                            Use {formatScore(f.suggestion, step)}
                          </button>
                        )}
                      </p>
                    )}
                  </>
                )}
              </td>
            </tr>
          );
        })}
        {total && (
          <tr className="border-t-2 border-slate-300 font-semibold dark:border-slate-700">
            <th scope="row" className="py-2 text-left text-xs uppercase tracking-wide">
              Total
            </th>
            {columns.map((c) => (
              <td key={c.header} className="py-2 pl-3 text-right tabular-nums text-slate-600 dark:text-slate-300">
                {formatScore(totalScore(c.values, schema), step)}
              </td>
            ))}
            <td className={`py-2 ${readOnly ? 'pr-1' : 'pr-10'} text-right tabular-nums`} data-testid="total-current">
              {formatScore(totalScore(values, schema), step)}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
