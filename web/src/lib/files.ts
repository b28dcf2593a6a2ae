// Which files the client sends, and collecting files from dropped folders. The server decides by
// content; the client only refuses what certainly cannot be an image it reads.

import { formatBytes } from './text';

/** Microscope images (a pyramidal .tif / .tiff may also turn out to be a whole slide). */
export const IMAGE_EXTENSIONS = ['.tif', '.tiff', '.png', '.jpg', '.jpeg'] as const;
/** Whole-slide images: Aperio, Hamamatsu, Leica, Ventana, BigTIFF; MIRAX and VMS zipped with their files. */
export const SLIDE_EXTENSIONS = ['.svs', '.ndpi', '.scn', '.bif', '.btf', '.zip'] as const;
/** Slides of several files: only their zip can be sent. */
export const MULTI_FILE_SLIDE_EXTENSIONS = ['.mrxs', '.vms'] as const;
export const ACCEPTED_EXTENSIONS = [...IMAGE_EXTENSIONS, ...SLIDE_EXTENSIONS] as const;
export const ACCEPT_ATTR = ACCEPTED_EXTENSIONS.join(',');

/** The file is certainly a whole-slide image by its name (a .tif may be either). */
export function isSlideFileName(name: string): boolean {
  return (SLIDE_EXTENSIONS as readonly string[]).includes(extensionOf(name));
}

export function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

export { formatBytes };

/** Why the client will not send this file, or null when it will. */
export function rejectReason(name: string, size: number, maxBytes?: number | null): string | null {
  const ext = extensionOf(name);
  if ((MULTI_FILE_SLIDE_EXTENSIONS as readonly string[]).includes(ext)) {
    return `A ${ext === '.mrxs' ? 'MIRAX' : 'VMS'} slide is several files: zip the ${ext} file together with its ${ext === '.mrxs' ? 'folder' : 'JPEG files'} and drop the .zip.`;
  }
  if (!(ACCEPTED_EXTENSIONS as readonly string[]).includes(ext)) {
    const accepted = `only ${IMAGE_EXTENSIONS.join(' ')} images and ${SLIDE_EXTENSIONS.join(' ')} slides are accepted.`;
    return ext ? `Unsupported file type “${ext}”: ${accepted}` : `No file extension: ${accepted}`;
  }
  if (size === 0) return 'The file is empty.';
  if (maxBytes != null && maxBytes > 0 && size > maxBytes) {
    return `Too large: ${formatBytes(size)} is over the server's limit of ${formatBytes(maxBytes)}.`;
  }
  return null;
}

/** Sent as a resumable upload whatever their size: whole slides (zipped ones too). */
export const RESUMABLE_EXTENSIONS = SLIDE_EXTENSIONS;
/** Larger files go as a resumable upload even where one request would be accepted. */
export const RESUMABLE_ABOVE_BYTES = 64 * 1024 * 1024;

/** The server's upload limits (`GET /api/config`); null where it sets none. */
export interface UploadLimits {
  /** The largest upload in one request (`max_upload_bytes`). */
  maxUploadBytes: number | null;
  /** The largest resumable upload (`resumable_max_bytes`); null: the server takes none. */
  resumableMaxBytes: number | null;
  /** The chunk size of resumable uploads (`upload_chunk_bytes`). */
  chunkBytes: number | null;
  /** Hours the server keeps an unfinished resumable upload (`upload_expiry_hours`). */
  expiryHours: number | null;
}

const positive = (n: number | null | undefined): number | null => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null);

export function uploadLimitsOf(config: {
  max_upload_bytes?: number | null;
  resumable_max_bytes?: number | null;
  upload_chunk_bytes?: number | null;
  upload_expiry_hours?: number | null;
}): UploadLimits {
  return {
    maxUploadBytes: positive(config.max_upload_bytes),
    resumableMaxBytes: positive(config.resumable_max_bytes),
    chunkBytes: positive(config.upload_chunk_bytes),
    expiryHours: positive(config.upload_expiry_hours),
  };
}

/** How a file is sent: one multipart request, or resumable (tus) in chunks. */
export type UploadRoute = 'multipart' | 'resumable';

/**
 * Whole slides, and any file over 64 MB or over the one-request limit, go resumable (an
 * interruption costs at most a chunk); the rest in one request. Resumable only where the server
 * takes it, and not for a file over its resumable limit that one request would take.
 */
export function uploadRoute(name: string, size: number, limits: Pick<UploadLimits, 'maxUploadBytes' | 'resumableMaxBytes'>): UploadRoute {
  const resumableMax = positive(limits.resumableMaxBytes);
  if (resumableMax == null) return 'multipart';
  const max = positive(limits.maxUploadBytes);
  const wanted =
    (RESUMABLE_EXTENSIONS as readonly string[]).includes(extensionOf(name)) || size > RESUMABLE_ABOVE_BYTES || (max != null && size > max);
  if (!wanted) return 'multipart';
  return size > resumableMax && max != null && size <= max ? 'multipart' : 'resumable';
}

/** The largest file the client sends one way or the other (null: no limit known). */
export function largestUpload(limits: Pick<UploadLimits, 'maxUploadBytes' | 'resumableMaxBytes'>): number | null {
  const max = positive(limits.maxUploadBytes);
  const resumableMax = positive(limits.resumableMaxBytes);
  if (max == null || resumableMax == null) return resumableMax ?? max;
  return Math.max(max, resumableMax);
}

/** Why the client will not send this file the way it would go, or null when it will. */
export function uploadRejectReason(name: string, size: number, limits: Pick<UploadLimits, 'maxUploadBytes' | 'resumableMaxBytes'>): string | null {
  const route = uploadRoute(name, size, limits);
  return rejectReason(name, size, route === 'resumable' ? limits.resumableMaxBytes : limits.maxUploadBytes);
}

export interface PickedFile {
  file: File;
  path: string;
}

// Minimal typings for the File and Directory Entries API (webkitGetAsEntry).
interface FsEntry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath: string;
}
interface FsFileEntry extends FsEntry {
  file(ok: (f: File) => void, err: (e: unknown) => void): void;
}
interface FsDirectoryEntry extends FsEntry {
  createReader(): { readEntries(ok: (entries: FsEntry[]) => void, err: (e: unknown) => void): void };
}

async function walk(entry: FsEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, err) => (entry as FsFileEntry).file(ok, err));
    out.push({ file, path: entry.fullPath.replace(/^\//, '') });
    return;
  }
  if (entry.isDirectory) {
    const reader = (entry as FsDirectoryEntry).createReader();
    // readEntries returns the entries in batches (100 in Chromium) until it returns none.
    for (;;) {
      const batch = await new Promise<FsEntry[]>((ok, err) => reader.readEntries(ok, err));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, out);
    }
  }
}

/** Every file of a drop, folders searched recursively (in name order within each folder). */
export async function filesFromDataTransfer(dt: DataTransfer): Promise<PickedFile[]> {
  const entries: FsEntry[] = [];
  const loose: PickedFile[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const entry = (item as DataTransferItem & { webkitGetAsEntry?: () => FsEntry | null }).webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push({ file: f, path: f.name });
    }
  }
  if (entries.length === 0 && loose.length === 0) {
    return Array.from(dt.files).map((f) => ({ file: f, path: f.name }));
  }
  const out: PickedFile[] = [];
  for (const e of entries) await walk(e, out);
  return [...out, ...loose];
}

export function filesFromInput(list: FileList | null): PickedFile[] {
  return Array.from(list ?? []).map((f) => ({
    file: f,
    path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name,
  }));
}
