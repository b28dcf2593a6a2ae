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
  /** The zoom toolbar's n-th preset after Fit (0-based): digits 1–6. */
  | { kind: 'preset'; index: number };

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
 * rotate by 90° clockwise / anticlockwise, arrows pan, + / − zoom, 0 fits, 1–6 pick the zoom
 * presets after Fit in the toolbar's order (1×, 2×, 5×, 10×, 20×, 40× on a slide that gives its
 * objective; 1:4, 1:2, 1:1, 2:1 as shown otherwise). Keys with Ctrl, Cmd or Alt are the browser's.
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
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
      return { kind: 'preset', index: Number(e.key) - 1 };
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
  /** Screen pixels per image pixel (level 0 of a slide); null: fit the whole image. */
  zoom: number | null;
  title: string;
  /** The key that picks it while the viewer has focus ("0" for Fit, then "1"…"6"). */
  key: string;
}

const FIT: ZoomPreset = { label: 'Fit', zoom: null, title: 'The whole image in the view', key: '0' };

/** With their keys: Fit is 0, the others 1, 2, … in order; each title names its key. */
function withKeys(presets: Omit<ZoomPreset, 'key'>[]): ZoomPreset[] {
  return [FIT, ...presets.map((p, i) => ({ ...p, key: String(i + 1) }))].map((p) => ({ ...p, title: `${p.title} (key ${p.key})` }));
}

/**
 * The zoom presets of an image without optics in its metadata: zoom levels of its own pixels,
 * fit, 1:4, 1:2, 1:1 and 2:1, each only when it lies between the fitted view and the most the
 * viewer allows (1:1 always).
 */
export function zoomPresets(fitZoom: number | null, maxZoom: number): ZoomPreset[] {
  const all = [
    { label: '1:4', zoom: 0.25, title: 'One screen pixel for four image pixels across' },
    { label: '1:2', zoom: 0.5, title: 'One screen pixel for two image pixels across' },
    { label: '1:1', zoom: 1, title: 'Zoom to full resolution (one image pixel per screen pixel)' },
    { label: '2:1', zoom: 2, title: 'Each image pixel two screen pixels wide' },
  ];
  return withKeys(all.filter((p) => p.zoom <= maxZoom + 1e-9 && (fitZoom == null || p.zoom > fitZoom * 1.05 || p.zoom === 1)));
}

/** The optical magnifications offered on a slide whose scanner gives its objective. */
export const MAGNIFICATIONS = [1, 2, 5, 10, 20, 40] as const;

/**
 * The presets of a slide scanned with an objective of `objective`× (its full resolution): m×
 * shows the slide as that objective would, one screen pixel for objective / m pixels of the
 * slide, i.e. a zoom of m / objective. Those up to twice the objective, and no further than the
 * viewer zooms (`maxZoom` screen pixels per slide pixel).
 */
export function magnificationPresets(objective: number, maxZoom: number): ZoomPreset[] {
  const shown = MAGNIFICATIONS.filter((m) => m <= 2 * objective + 1e-9 && m / objective <= maxZoom + 1e-9);
  return withKeys(
    shown.map((m) => ({
      label: `${m}×`,
      zoom: m / objective,
      title: `As seen through a ${m}× objective (the slide was scanned at ${formatPower(objective)}×)`,
    })),
  );
}

const formatPower = (p: number) => String(Number(p.toFixed(1)));

/** The presets for this image: magnifications when the slide gives its objective, else zoom levels. */
export function presetsFor(objective: number | null | undefined, fitZoom: number | null, maxZoom: number): ZoomPreset[] {
  return objective != null && objective > 0 ? magnificationPresets(objective, maxZoom) : zoomPresets(fitZoom, maxZoom);
}

/** The preset a digit picks (`index` after Fit), or null when there is none. */
export function presetAt(presets: readonly ZoomPreset[], index: number): ZoomPreset | null {
  return presets.filter((p) => p.zoom != null)[index] ?? null;
}

/**
 * A preset the view cannot reach: it would show the image smaller than the most the viewer
 * zooms out (`minZoom`, screen pixels per image pixel), e.g. 1× on a small slide.
 */
export function outOfReach(p: ZoomPreset, minZoom: number | null): boolean {
  return p.zoom != null && minZoom != null && p.zoom < minZoom * 0.98;
}

/** The optical magnification a zoom shows ("10×", "2.5×"), for a slide that gives its objective. */
export function magnificationText(zoom: number | null, objective: number | null | undefined): string | null {
  if (zoom == null || objective == null || !(objective > 0)) return null;
  const m = zoom * objective;
  return `${m >= 10 ? Math.round(m) : Number(m.toFixed(1))}×`;
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
