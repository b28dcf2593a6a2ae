import { useState, type ReactNode } from 'react';
import { browserStorage } from '../lib/batch';
import {
  defaultExportStyle,
  describeFilters,
  exportCsvUrl,
  readRememberedStyle,
  rememberStyle,
  type ExportScope,
  type ExportStyle,
} from '../lib/exportCsv';
import type { Filters } from '../lib/history';
import { DialogForm } from './DialogForm';
import { btnSecondary, Icon } from './ui';

const STYLE_CHOICES: { style: ExportStyle; label: string; note: string }[] = [
  { style: 'comma', label: 'Excel / LibreOffice, comma (1.5)', note: 'Commas between the cells and a decimal point, as English-language spreadsheets expect.' },
  {
    style: 'semicolon',
    label: 'Excel / LibreOffice, semicolon and decimal comma (1,5)',
    note: 'For spreadsheets that write 1,5, e.g. German or French Excel.',
  },
  {
    style: 'raw',
    label: 'For R / Python: raw values, no spreadsheet protection',
    note: 'Cells are written exactly as stored: the guard that stops a file name like =cmd|… from running as a formula in a spreadsheet is off. Its file name ends -raw.csv.',
  },
];

/** The browser's time zone (IANA name), for the export's local-time column. */
function browserTimeZone(): string | null {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

function download(url: string) {
  const a = document.createElement('a');
  a.href = url;
  a.download = ''; // the server names the file (Content-Disposition)
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/**
 * Downloads the records CSV in the spreadsheet format the person picks (their last choice, else
 * the one their language's spreadsheets expect) and, with `filters`, either what the History
 * shows now or every record.
 */
export function ExportDialog({ filters, onClose }: { filters?: Filters | null; onClose: () => void }) {
  const [style, setStyle] = useState<ExportStyle>(() =>
    defaultExportStyle(readRememberedStyle(browserStorage()), typeof navigator === 'undefined' ? undefined : navigator.language),
  );
  const [scope, setScope] = useState<ExportScope>(filters ? 'filtered' : 'all');
  const inForce = filters ? describeFilters(filters) : '';

  const start = () => {
    rememberStyle(browserStorage(), style);
    download(exportCsvUrl({ style, timeZone: browserTimeZone(), filters: scope === 'filtered' ? filters : null }));
    return Promise.resolve(null);
  };

  return (
    <DialogForm
      title="Export the records as CSV"
      description="One row per record with the AI draft and the final scores. Times are in UTC, with a column in your time zone beside the upload time."
      submitLabel="Download CSV"
      onSubmit={start}
      onClose={onClose}
      wide
      testId="export-dialog"
      submitTestId="export-csv-download"
    >
      <Choices legend="Spreadsheet format">
        {STYLE_CHOICES.map((c) => (
          <Choice key={c.style} name="export-style" value={c.style} checked={style === c.style} onChange={() => setStyle(c.style)} label={c.label} note={c.note} />
        ))}
      </Choices>
      {filters ? (
        <Choices legend="Which records">
          <Choice
            name="export-scope"
            value="filtered"
            checked={scope === 'filtered'}
            onChange={() => setScope('filtered')}
            label="What the History shows now (current filters)"
            note={inForce ? `Every page of it: ${inForce}.` : 'No filters are set, so this is every record.'}
          />
          <Choice name="export-scope" value="all" checked={scope === 'all'} onChange={() => setScope('all')} label="All records" />
        </Choices>
      ) : (
        <p className="text-sm text-slate-600 dark:text-slate-300">
          All current records (deleted ones are never exported). To export only some, filter them in the History and export from there.
        </p>
      )}
    </DialogForm>
  );
}

function Choices({ legend, children }: { legend: string; children: ReactNode }) {
  return (
    <fieldset className="flex flex-col gap-2">
      <legend className="mb-1 text-sm font-medium">{legend}</legend>
      {children}
    </fieldset>
  );
}

function Choice({ name, value, checked, onChange, label, note }: { name: string; value: string; checked: boolean; onChange: () => void; label: string; note?: string }) {
  return (
    <label className="flex cursor-pointer items-start gap-2 text-sm">
      <input type="radio" className="mt-0.5 size-4 shrink-0 accent-indigo-600" name={name} value={value} checked={checked} onChange={onChange} />
      <span>
        {label}
        {note && <span className="block text-xs text-slate-500 dark:text-slate-400">{note}</span>}
      </span>
    </label>
  );
}

/** The button that opens the export dialog; `filters`: the History's, to offer "what the History shows". */
export function ExportButton({ filters, className = btnSecondary, label = 'Export CSV', testId }: { filters?: Filters | null; className?: string; label?: string; testId?: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className={className} onClick={() => setOpen(true)} aria-haspopup="dialog" data-testid={testId}>
        <Icon name="download" /> {label}
      </button>
      {open && <ExportDialog filters={filters} onClose={() => setOpen(false)} />}
    </>
  );
}
