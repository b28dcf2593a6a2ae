import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { btnPrimary, btnSecondary, Spinner } from './ui';

export interface DialogFormProps {
  title: ReactNode;
  /** A paragraph under the title that says what submitting does. */
  description?: ReactNode;
  /** The fields. */
  children: ReactNode;
  submitLabel: string;
  /** Checks the fields before anything is sent: why not, or null. */
  check?: () => string | null;
  /** Sends the form: why it failed, or null when it is done. */
  onSubmit: () => Promise<string | null>;
  /** Shown in place of the fields once done (the dialog stays open); without it, done closes the dialog. */
  done?: ReactNode;
  /** The dialog closed: Cancel, Escape, or done. */
  onClose: () => void;
  wide?: boolean;
  testId?: string;
  /** data-testid of the submit button. */
  submitTestId?: string;
}

/**
 * A form in a modal dialog (native <dialog>: focus stays inside, Escape closes), shown while
 * mounted: its first field takes focus; while it is sent the submit button waits; why it was
 * refused shows above the buttons.
 */
export function DialogForm({ title, description, children, submitLabel, check, onSubmit, done, onClose, wide = false, testId, submitTestId }: DialogFormProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [finished, setFinished] = useState(false);

  // No close() on cleanup: its close event would arrive after StrictMode's second mount;
  // unmounting removes the element, which ends the modal state.
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (!d.open) d.showModal();
    // A radio group takes focus on its chosen option (arrow keys then move from there).
    d.querySelector<HTMLElement>('input:not([type=radio]), input[type=radio]:checked, select, textarea')?.focus();
  }, []);

  useEffect(() => {
    if (finished) closeButton.current?.focus();
  }, [finished]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const problem = check?.() ?? null;
    setError(problem);
    if (problem) return;
    setBusy(true);
    const refused = await onSubmit();
    setBusy(false);
    if (refused != null) setError(refused);
    else if (done) setFinished(true);
    else ref.current?.close();
  };

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      onClose={onClose}
      className={`m-auto w-full ${wide ? 'max-w-lg' : 'max-w-md'} rounded-xl border border-slate-200 bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100`}
      data-testid={testId}
    >
      <form className="flex flex-col gap-4 p-6" onSubmit={(e) => void submit(e)} noValidate>
        <h2 id={titleId} className="text-lg font-semibold">
          {title}
        </h2>
        {description && (
          <p id={descriptionId} className="text-sm text-slate-600 dark:text-slate-300">
            {description}
          </p>
        )}
        {finished ? (
          <p role="status" className="text-sm text-green-700 dark:text-green-400">
            {done}
          </p>
        ) : (
          <>
            {children}
            {error && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-400">
                {error}
              </p>
            )}
          </>
        )}
        <div className="flex justify-end gap-2">
          <button ref={closeButton} type="button" className={btnSecondary} onClick={() => ref.current?.close()}>
            {finished ? 'Close' : 'Cancel'}
          </button>
          {!finished && (
            <button type="submit" className={btnPrimary} disabled={busy} data-testid={submitTestId}>
              {busy && <Spinner />} {submitLabel}
            </button>
          )}
        </div>
      </form>
    </dialog>
  );
}
