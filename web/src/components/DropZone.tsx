import { useRef, useState, type DragEvent } from 'react';
import { Icon } from './ui';
import { filesFromDataTransfer, filesFromInput, formatBytes, IMAGE_EXTENSIONS, ACCEPT_ATTR, SLIDE_EXTENSIONS, type PickedFile } from '../lib/files';

export function DropZone({
  onFiles,
  busy,
  maxUploadBytes,
  compact = false,
}: {
  onFiles: (files: PickedFile[]) => void;
  busy: boolean;
  maxUploadBytes?: number | null;
  /** One line beside the open image instead of the large area of an empty page. */
  compact?: boolean;
}) {
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const files = await filesFromDataTransfer(e.dataTransfer);
    if (files.length) onFiles(files);
  };


  return (
    <section
      aria-label="Add images"
      data-testid="dropzone"
      onClick={(e) => {
        if (e.target === e.currentTarget || !(e.target as HTMLElement).closest('button')) fileInput.current?.click();
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => void onDrop(e)}
      className={`flex cursor-pointer flex-col items-center rounded-xl border-2 border-dashed text-center transition-colors ${
        compact ? 'gap-1 px-3 py-2.5' : 'gap-2 px-4 py-8 sm:px-6 lg:min-h-0 lg:flex-1 lg:justify-center'
      } ${
        over
          ? 'border-indigo-500 bg-indigo-50 dark:bg-indigo-950/40'
          : 'border-slate-300 bg-white hover:border-slate-400 dark:border-slate-700 dark:bg-slate-900/40 dark:hover:border-slate-500'
      }`}
    >
      {!compact && (
        <div aria-hidden className="flex size-14 items-center justify-center rounded-full bg-slate-100 text-slate-500 dark:bg-slate-800 dark:text-slate-300">
          <Icon name="upload" className="size-7" />
        </div>
      )}
      <p className={compact ? 'flex items-center gap-1.5 text-sm font-semibold' : 'text-lg font-semibold'}>
        {compact && <Icon name="upload" className="size-4" />}
        {busy ? 'Processing queue… drop more to add them' : compact ? 'Drop more images here' : 'Drop your microscope images here'}
      </p>
      <p className={compact ? 'text-xs text-slate-500 dark:text-slate-400' : 'text-sm text-slate-500 dark:text-slate-400'}>
        or{' '}
        <button
          type="button"
          className="font-medium text-indigo-700 underline hover:text-indigo-500 dark:text-indigo-300"
          onClick={() => fileInput.current?.click()}
        >
          browse files
        </button>{' '}
        {compact ? '' : '(several at once) '}or{' '}
        <button
          type="button"
          className="font-medium text-indigo-700 underline hover:text-indigo-500 dark:text-indigo-300"
          onClick={() => folderInput.current?.click()}
        >
          choose a folder
        </button>
      </p>
      <p className={compact ? 'sr-only' : 'max-w-prose text-xs text-slate-500 dark:text-slate-400'}>
        <span aria-hidden className="text-amber-600">
          ⚠{' '}
        </span>
        TIFF, PNG or JPEG ({IMAGE_EXTENSIONS.join(' ')}) or whole slides ({SLIDE_EXTENSIONS.join(' ')}; a MIRAX or VMS slide as one .zip of its files)
        {maxUploadBytes ? `, up to ${formatBytes(maxUploadBytes)} each` : ''}; other files are listed as rejected. Uploaded one at a time
        unless you raise the parallel uploads.
      </p>
      <input
        ref={fileInput}
        type="file"
        multiple
        accept={ACCEPT_ATTR}
        className="hidden"
        data-testid="file-input"
        aria-label="Choose image files"
        onClick={(e) => e.stopPropagation()}
        onChange={(e) => {
          const files = filesFromInput(e.currentTarget.files);
          e.currentTarget.value = '';
          if (files.length) onFiles(files);
        }}
      />
      <input
        ref={folderInput}
        type="file"
        multiple
        className="hidden"
        aria-label="Choose a folder of images"
        {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
        onClick={(e) => e.stopPropagation()}
        onChange={(e) => {
          const files = filesFromInput(e.currentTarget.files);
          e.currentTarget.value = '';
          if (files.length) onFiles(files);
        }}
      />
    </section>
  );
}

export type { PickedFile };
