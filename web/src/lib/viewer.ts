// The image viewer's keys and zoom presets, and what to fetch ahead for the next image. Pure
// functions; components/Viewer.tsx applies them to OpenSeadragon.

/** What a key does in the viewer. */
export type ViewerAction =
  | { kind: 'fullscreen' }
  | { kind: 'exit-fullscreen' }
  | { kind: 'rotate'; degrees: number }
  | { kind: 'pan'; dx: number; dy: number }
  | { kind: 'zoom'; factor: number }
  | { kind: 'fit' }
  | { kind: 'actual' };

export interface KeyLike {
  key: string;
  shiftKey?: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

/** One arrow press pans this share of the view (Shift: four times as far). */
export const PAN_STEP = 0.1;
export const ZOOM_STEP = 1.5;

/**
 * The viewer's keys while it has focus (or fills the screen): F full screen, Esc leaves it, R / Shift+R
 * rotate by 90° clockwise / anticlockwise, arrows pan, + / − zoom, 0 fits, 1 shows 1:1. Keys with
 * Ctrl, Cmd or Alt are the browser's.
 */
export function viewerKeyAction(e: KeyLike, fullscreen: boolean): ViewerAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  const step = e.shiftKey ? PAN_STEP * 4 : PAN_STEP;
  switch (e.key) {
    case 'f':
    case 'F':
      return { kind: 'fullscreen' };
    case 'Escape':
      return fullscreen ? { kind: 'exit-fullscreen' } : null;
    case 'r':
      return { kind: 'rotate', degrees: e.shiftKey ? -90 : 90 };
    case 'R':
      return { kind: 'rotate', degrees: e.shiftKey ? -90 : 90 };
    case 'ArrowLeft':
      return { kind: 'pan', dx: -step, dy: 0 };
    case 'ArrowRight':
      return { kind: 'pan', dx: step, dy: 0 };
    case 'ArrowUp':
      return { kind: 'pan', dx: 0, dy: -step };
    case 'ArrowDown':
      return { kind: 'pan', dx: 0, dy: step };
    case '+':
    case '=':
      return { kind: 'zoom', factor: ZOOM_STEP };
    case '-':
    case '_':
      return { kind: 'zoom', factor: 1 / ZOOM_STEP };
    case '0':
      return { kind: 'fit' };
    case '1':
      return { kind: 'actual' };
    default:
      return null;
  }
}

/** A rotation in [0, 360). */
export function normaliseRotation(degrees: number): number {
  return ((Math.round(degrees) % 360) + 360) % 360;
}

export interface ZoomPreset {
  label: string;
  /** Screen pixels per image pixel; null: fit the whole image. */
  zoom: number | null;
  title: string;
}

/**
 * The zoom presets. The API gives no objective power or pixel size for a record, so the presets
 * are zoom levels of the image's own pixels (not 1×…40× of the microscope's optics): fit, 1:4,
 * 1:2, 1:1 and 2:1, each only when it lies between the fitted view and the most the viewer allows.
 */
export function zoomPresets(fitZoom: number | null, maxZoom: number): ZoomPreset[] {
  const all: ZoomPreset[] = [
    { label: '1:4', zoom: 0.25, title: 'One screen pixel for four image pixels across' },
    { label: '1:2', zoom: 0.5, title: 'One screen pixel for two image pixels across' },
    { label: '1:1', zoom: 1, title: 'Zoom to full resolution (one image pixel per screen pixel)' },
    { label: '2:1', zoom: 2, title: 'Each image pixel two screen pixels wide' },
  ];
  const fit: ZoomPreset = { label: 'Fit', zoom: null, title: 'The whole image in the view (0)' };
  return [fit, ...all.filter((p) => (p.zoom as number) <= maxZoom + 1e-9 && (fitZoom == null || (p.zoom as number) > fitZoom * 1.05 || p.zoom === 1))];
}

/** The preset that matches the zoom now (within 2 %), for the toolbar's pressed state. */
export function activePreset(presets: readonly ZoomPreset[], zoom: number | null, atHome: boolean): string | null {
  if (atHome) return 'Fit';
  if (zoom == null) return null;
  return presets.find((p) => p.zoom != null && Math.abs(zoom - p.zoom) / p.zoom < 0.02)?.label ?? null;
}

// ---- Fetching ahead ----

export interface DziInfo {
  width: number;
  height: number;
  tileSize: number;
  overlap: number;
  format: string;
}

/** The Deep Zoom descriptor's size and tiling; null when it is not one. */
export function parseDzi(xml: string): DziInfo | null {
  const attr = (name: string, text: string) => new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i').exec(text)?.[1];
  const image = /<Image\b[^>]*>/i.exec(xml)?.[0];
  const size = /<Size\b[^>]*>/i.exec(xml)?.[0];
  if (!image || !size) return null;
  const width = Number(attr('Width', size));
  const height = Number(attr('Height', size));
  const tileSize = Number(attr('TileSize', image));
  const overlap = Number(attr('Overlap', image) ?? 0);
  const format = attr('Format', image) ?? 'jpeg';
  if (!(width > 0 && height > 0 && tileSize > 0)) return null;
  return { width, height, tileSize, overlap: Number.isFinite(overlap) ? overlap : 0, format };
}

/**
 * The tiles of the largest level no bigger than `maxDim` pixels across: what the viewer shows
 * first, fetched ahead for the next image. Paths relative to `…/tiles_files/`.
 */
export function firstTiles(info: DziInfo, maxDim = 512): string[] {
  const maxLevel = Math.ceil(Math.log2(Math.max(info.width, info.height)));
  for (let level = maxLevel; level >= 0; level--) {
    const scale = 2 ** (maxLevel - level);
    const w = Math.ceil(info.width / scale);
    const h = Math.ceil(info.height / scale);
    if (Math.max(w, h) > maxDim) continue;
    const cols = Math.ceil(w / info.tileSize);
    const rows = Math.ceil(h / info.tileSize);
    const out: string[] = [];
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out.push(`${level}/${c}_${r}.${info.format}`);
    return out;
  }
  return [];
}

/** Whether a key event belongs to an image viewer (focus in it, or one fills the screen). */
export function viewerHasKeys(target: EventTarget | null): boolean {
  const t = target as HTMLElement | null;
  return !!t?.closest?.('.osd-host') || (typeof document !== 'undefined' && !!document.querySelector('.osd-host[data-fullscreen="true"]'));
}
