import type { ReactNode } from 'react';

export const btn =
  'inline-flex items-center justify-center gap-1.5 rounded-md px-3 py-1.5 text-sm font-medium transition-colors disabled:cursor-not-allowed disabled:opacity-50';
export const btnPrimary = `${btn} bg-indigo-600 text-white hover:bg-indigo-500`;
export const btnSecondary = `${btn} border border-slate-300 bg-white text-slate-800 hover:bg-slate-100 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800`;
export const btnGhost = `${btn} text-slate-600 hover:bg-slate-200/60 dark:text-slate-300 dark:hover:bg-slate-800`;
export const btnSmall = 'px-2 py-1 text-xs';
export const input =
  'rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm text-slate-900 placeholder:text-slate-400 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100';
export const card = 'rounded-xl border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900/60';

export type Tone = 'slate' | 'blue' | 'amber' | 'green' | 'red' | 'violet';

const tones: Record<Tone, string> = {
  slate: 'border-slate-300 text-slate-600 dark:border-slate-600 dark:text-slate-300',
  blue: 'border-blue-300 bg-blue-50 text-blue-700 dark:border-blue-700 dark:bg-blue-950/60 dark:text-blue-300',
  amber: 'border-amber-300 bg-amber-50 text-amber-800 dark:border-amber-700 dark:bg-amber-950/60 dark:text-amber-300',
  green: 'border-green-300 bg-green-50 text-green-700 dark:border-green-700 dark:bg-green-950/60 dark:text-green-300',
  red: 'border-red-300 bg-red-50 text-red-700 dark:border-red-700 dark:bg-red-950/60 dark:text-red-300',
  violet: 'border-violet-300 bg-violet-50 text-violet-700 dark:border-violet-700 dark:bg-violet-950/60 dark:text-violet-300',
};

export function Badge({ tone = 'slate', children, title }: { tone?: Tone; children: ReactNode; title?: string }) {
  return (
    <span title={title} className={`inline-flex items-center gap-1 whitespace-nowrap rounded-full border px-2 py-0.5 text-xs font-semibold ${tones[tone]}`}>
      {children}
    </span>
  );
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span role={label ? 'status' : undefined} aria-label={label} className="inline-block size-4 animate-spin rounded-full border-2 border-current border-t-transparent" />
  );
}

export function DemoBanner({ className = '' }: { className?: string }) {
  return (
    <div
      role="alert"
      data-testid="demo-banner"
      className={`rounded-md border border-amber-400 bg-amber-100 px-3 py-2 text-sm font-semibold text-amber-900 dark:border-amber-600 dark:bg-amber-950 dark:text-amber-200 ${className}`}
    >
      ⚠ Demo model — scores are not meaningful. Start the server with <code>--model</code> to score with a trained model.
    </div>
  );
}


const iconPaths = {
  download: 'M12 3v12m0 0l-4-4m4 4l4-4M4 17v2a2 2 0 002 2h12a2 2 0 002-2v-2',
  upload: 'M12 21V9m0 0l-4 4m4-4l4 4M4 7V5a2 2 0 012-2h12a2 2 0 012 2v2',
  plus: 'M12 5v14M5 12h14',
  minus: 'M5 12h14',
  image: 'M4 5h16v14H4zM4 16l5-5 4 4 3-3 4 4M15 9h.01',
  rotateLeft: 'M4 4v5h5M4.6 9A8 8 0 1 1 4 13',
  rotateRight: 'M20 4v5h-5M19.4 9A8 8 0 1 0 20 13',
  expand: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5',
  shrink: 'M9 4v5H4M15 4v5h5M9 20v-5H4M15 20v-5h5',
  region: 'M4 8V4h4M11 4h2M16 4h4v4M20 11v2M20 16v4h-4M13 20h-2M8 20H4v-4M4 13v-2',
  retry: 'M4 4v5h5M4.6 9A8 8 0 1 1 4 13',
  columns: 'M4 5h7v14H4zM13 5h7v14h-7z',
  swap: 'M7 7h13m0 0l-4-4m4 4l-4 4M17 17H4m0 0l4-4m-4 4l4 4',
  restore: 'M4 4v5h5M4.6 9A8 8 0 1 1 4 13M12 8v4l3 2',
} as const;

export function Icon({ name, className = 'size-4' }: { name: keyof typeof iconPaths; className?: string }) {
  return (
    <svg aria-hidden viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={2} strokeLinecap="round" strokeLinejoin="round" className={className}>
      <path d={iconPaths[name]} />
    </svg>
  );
}
