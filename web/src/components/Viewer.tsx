// The zoomable image. The server's 1024 px preview shows at once (a plain <img>, then the bottom
// layer of the viewer) while OpenSeadragon, loaded on first use, opens the deep-zoom tiles on top
// of it; if the tiles cannot be opened the preview stays. Full screen (F), an overview navigator,
// rotation (R, Shift+R), keyboard panning (arrows) and zoom (+ −), zoom presets (0 fits, 1–6 the
// others): a slide whose scanner gives its objective gets optical magnifications (1×…40×), any
// other image zoom levels of its own pixels (1:4…2:1). The component is keyed by record (one viewer
// per image).
//
// Side by side (pages/ComparePage.tsx), two viewers share their view through a ViewSync channel in
// image-normalised coordinates; elsewhere "Side by side…" picks the image to compare with.
//
// A scale bar in µm shows when the resolution is known (a slide's, or an ordinary image's TIFF or
// PNG resolution tags). A whole slide also gets a heatmap of
// one metric's field scores over the image, with its legend and the hovered field's scores, and
// its regions of interest: "Draw region" turns dragging on the image into drawing a rectangle
// (panning stops meanwhile; Esc cancels), which is sent to the server to be scored and then
// shown, numbered, with the regions drawn before.

import { useCallback, useEffect, useMemo, useRef, useState, type PointerEvent as ReactPointerEvent } from 'react';
import { createPortal } from 'react-dom';
import type OpenSeadragon from 'openseadragon';
import type { FieldRow, Region } from '../api/slides';
import { imageUrls } from '../api/client';
import { useConfig } from '../lib/config';
import { useRecord } from '../lib/records';
import { canScore } from '../lib/roles';
import { useSession } from '../lib/session';
import { drawRegion, useSlideFields } from '../lib/slideFields';
import {
  chooseScaleBar,
  clampRect,
  fieldCounts,
  largeEnough,
  MIN_REGION_SIDE,
  rectFromPoints,
  regionErrorText,
  regionFromDrag,
  regionsOf,
  roiLabel,
  roiScoresText,
  slideOf,
  withRegion,
  type Point,
} from '../lib/slides';
import {
  activePreset,
  magnificationText,
  normaliseRotation,
  outOfReach,
  presetAt,
  presetsFor,
  viewerKeyAction,
  ZOOM_STEP,
  type ViewerAction,
  type ZoomPreset,
} from '../lib/viewer';
import { fromShared, sameView, toShared, type SharedView, type Side, type ViewSync } from '../lib/viewSync';
import { CompareDialog } from './CompareDialog';
import { FieldTooltip, HeatmapLayer, HeatmapLegend, RegionLayer, ScaleBarView } from './SlideOverlay';
import { btnSecondary, btnSmall, Icon, Spinner } from './ui';

type OSDViewer = OpenSeadragon.Viewer;
type OSDModule = typeof OpenSeadragon;
type TiledImage = OpenSeadragon.TiledImage;

/** The most the viewer zooms in: two screen pixels per image pixel. */
const MAX_ZOOM = 2;

export type ViewerState = 'loading' | 'ready' | 'preview' | 'error';

const typingIn = (t: EventTarget | null) => {
  const el = t as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
};

export interface ViewerProps {
  id: number;
  filename: string;
  /** Take the parent's height (the Score page) instead of half the window's. */
  fill?: boolean;
  /** Offer "Side by side…": pick another image to look at beside this one. */
  compare?: boolean;
  /** Side by side: this viewer's side, and the channel its view goes to the other one through. */
  sync?: { channel: ViewSync; side: Side };
}

/** One viewer per image: a new id starts afresh (preview first again). */
export function Viewer(props: ViewerProps) {
  return <ImageViewer key={props.id} {...props} />;
}

function ImageViewer({ id, filename, fill = false, compare = false, sync }: ViewerProps) {
  const wrapper = useRef<HTMLDivElement>(null);
  const host = useRef<HTMLDivElement>(null);
  const viewer = useRef<OSDViewer | null>(null);
  const osd = useRef<OSDModule | null>(null);
  /** The deep-zoom layer once it is open (zoom figures refer to its pixels). */
  const main = useRef<TiledImage | null>(null);
  const [state, setState] = useState<ViewerState>('loading');
  const [zoom, setZoom] = useState<number | null>(null);
  const [fitZoom, setFitZoom] = useState<number | null>(null);
  const [atHome, setAtHome] = useState(true);
  /** The view's centre in viewport coordinates, for tests of panning. */
  const [center, setCenter] = useState('');
  /** The view in image-normalised terms (what side by side shares), for tests: zoom, and centre x,y as shares of the image. */
  const [shared, setShared] = useState<{ zoom: string; center: string }>({ zoom: '', center: '' });
  /** The least zoom the viewer allows, in screen pixels per image pixel (presets below it cannot be reached). */
  const [minZoom, setMinZoom] = useState<number | null>(null);
  const [comparing, setComparing] = useState(false);
  const [rotation, setRotation] = useState(0);
  /** The preview <img> until the viewer has drawn its own layers. */
  const [previewShown, setPreviewShown] = useState(true);
  const [previewFailed, setPreviewFailed] = useState(false);
  /** Tiles for the current view are still on their way. */
  const [tilesLoading, setTilesLoading] = useState(true);
  const [fullscreen, setFullscreen] = useState(false);
  /** Screen pixels per viewport unit (the image's width is one unit), for the scale bar. */
  const [pxPerUnit, setPxPerUnit] = useState<number | null>(null);
  const urls = imageUrls(id);

  // A whole slide: its resolution, and its fields for the heatmap.
  const { schema } = useConfig();
  const record = useRecord(id)?.record;
  const meta = slideOf(record);
  const level0W = record?.width ?? meta?.levels[0]?.width ?? null;
  const level0H = record?.height ?? meta?.levels[0]?.height ?? null;
  const fieldsQuery = useSlideFields(meta ? record : null);
  const fields = fieldsQuery.data?.fields ?? null;
  const [heatMetric, setHeatMetric] = useState('');
  const [opacity, setOpacity] = useState(0.55);
  const [hover, setHover] = useState<{ field: FieldRow; x: number; y: number; width: number; height: number } | null>(null);
  // Regions of interest: drawing one (a drag in level-0 pixels), sending it, what came of it.
  const { user } = useSession();
  const [drawing, setDrawing] = useState(false);
  const drawingRef = useRef(false);
  const [drag, setDrag] = useState<{ a: Point; b: Point } | null>(null);
  const dragRef = useRef<{ a: Point; b: Point; pointer: number } | null>(null);
  const [pendingRegion, setPendingRegion] = useState<Region | null>(null);
  /** The region last scored here, shown until the fields are reloaded (with it among them). */
  const [drawn, setDrawn] = useState<{ field: FieldRow; before: unknown } | null>(null);
  const [roiMessage, setRoiMessage] = useState<{ kind: 'status' | 'error'; text: string } | null>(null);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  // What came of a region goes after a while (errors stay until the next try).
  useEffect(() => {
    if (roiMessage?.kind !== 'status' || roiMessage.text.endsWith('…')) return;
    const t = setTimeout(() => setRoiMessage((m) => (m === roiMessage ? null : m)), 15_000);
    return () => clearTimeout(t);
  }, [roiMessage]);
  const stage = useRef<HTMLDivElement>(null);
  /** The heatmap's element, placed over the image by OpenSeadragon. */
  const [overlayHost] = useState(() => document.createElement('div'));

  // Side by side: the channel and side now (a swap changes the side, not the viewer), what was
  // last applied from the other viewer (not passed back), and this viewer's part once it is open.
  const syncRef = useRef(sync);
  useEffect(() => {
    syncRef.current = sync;
  });
  const applying = useRef(false);
  const lastApplied = useRef<SharedView | null>(null);
  const syncOps = useRef<{ apply: (view: SharedView) => void; current: () => SharedView | null } | null>(null);
  const channel = sync?.channel;
  const side = sync?.side;
  useEffect(() => {
    if (!channel || !side) return;
    return channel.join(side, {
      apply: (view) => syncOps.current?.apply(view),
      current: () => syncOps.current?.current() ?? null,
    });
  }, [channel, side]);

  useEffect(() => {
    let cancelled = false;
    let v: OSDViewer | null = null;
    // The viewer starts after the browser has painted the preview (creating it, a WebGL context
    // among other things, takes a while on a slow machine: the image should not wait for it).
    const afterPaint = () => new Promise<void>((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
    void Promise.all([import('openseadragon'), afterPaint()])
      .then(([mod]) => {
        if (cancelled || !host.current) return;
        const OSD = mod.default;
        osd.current = OSD;
        let phase: 'preview' | 'direct' = 'preview';
        v = OSD({
          element: host.current,
          // The preview first (cached, one request), the tiles added on top of it.
          tileSources: { type: 'image', url: urls.preview },
          showNavigationControl: false,
          showNavigator: true,
          navigatorPosition: 'BOTTOM_RIGHT',
          navigatorAutoFade: false,
          navigatorSizeRatio: 0.18,
          keyboardNavEnabled: false,
          animationTime: 0.4,
          maxZoomPixelRatio: MAX_ZOOM,
          visibilityRatio: 0.5,
          minZoomImageRatio: 0.5,
          gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
          crossOriginPolicy: false,
          preserveImageSizeOnResize: true,
        });
        viewer.current = v;
        const item = () => main.current ?? (v && v.world.getItemCount() > 0 ? v.world.getItemAt(0) : null);
        /** Height over width of the image in viewport units (it is one unit wide). */
        const aspect = () => {
          const b = item()?.getBounds();
          return b && b.width > 0 ? b.height / b.width : 1;
        };
        let opened = false;
        const currentShared = (): SharedView | null => {
          if (!v || !opened || !item()) return null;
          const c = v.viewport.getCenter(true);
          return toShared(c.x, c.y, v.viewport.getZoom(true), v.viewport.getRotation(true), aspect());
        };
        const applyShared = (view: SharedView) => {
          if (!v || !opened || !item()) return;
          applying.current = true;
          try {
            if (Math.abs(v.viewport.getRotation(true) - view.rotation) > 1e-3) v.viewport.setRotation(view.rotation, true);
            v.viewport.zoomTo(view.zoom, undefined, true);
            const c = fromShared(view, aspect());
            v.viewport.panTo(new OSD.Point(c.x, c.y), true);
          } finally {
            applying.current = false;
          }
          lastApplied.current = currentShared();
          setRotation(normaliseRotation(v.viewport.getRotation()));
          report();
        };
        syncOps.current = { apply: applyShared, current: currentShared };
        const report = () => {
          const it = item();
          if (!v || !it) return;
          setPxPerUnit(v.viewport.deltaPixelsFromPointsNoRotate(new OSD.Point(1, 0), true).x);
          setZoom(it.viewportToImageZoom(v.viewport.getZoom(true)));
          const c = v.viewport.getCenter(true);
          setCenter(`${c.x.toFixed(4)},${c.y.toFixed(4)}`);
          setFitZoom(it.viewportToImageZoom(v.viewport.getHomeZoom()));
          setMinZoom(it.viewportToImageZoom(v.viewport.getMinZoom()));
          setAtHome(Math.abs(v.viewport.getZoom(true) / v.viewport.getHomeZoom() - 1) < 0.01 && v.viewport.getCenter(true).distanceTo(v.viewport.getHomeBounds().getCenter()) < 1e-3);
          const view = currentShared();
          if (view) {
            setShared({ zoom: view.zoom.toFixed(4), center: `${view.x.toFixed(4)},${view.y.toFixed(4)}` });
            // Moved here (not by the other viewer): the other one follows.
            const s = syncRef.current;
            if (s && !applying.current && !sameView(view, lastApplied.current)) {
              lastApplied.current = null;
              s.channel.publish(s.side, view);
            }
          }
        };
        const addTiles = () => {
          if (!v) return;
          const base = v.world.getItemAt(0);
          base?.whenFullyLoaded(() => {
            if (!cancelled) setPreviewShown(false);
          });
          v.addTiledImage({
            tileSource: urls.dzi,
            x: 0,
            y: 0,
            width: base ? base.getBounds().width : 1,
            success: (e) => {
              if (cancelled) return;
              main.current = (e as unknown as { item: TiledImage }).item;
              setState('ready');
              report();
            },
            error: () => {
              if (!cancelled) setState('preview');
            },
          });
        };
        v.addHandler('open', () => {
          if (cancelled || !v) return;
          opened = true;
          // Side by side: the viewer that opens second takes the other one's view.
          const s = syncRef.current;
          const peer = s ? s.channel.peer(s.side) : null;
          if (peer) applyShared(peer);
          if (phase === 'preview') addTiles();
          else {
            main.current = v.world.getItemAt(0);
            setState('ready');
            setPreviewShown(false);
          }
          report();
        });
        v.addHandler('open-failed', () => {
          if (cancelled || !v) return;
          if (phase === 'preview') {
            // No preview: the tiles alone.
            phase = 'direct';
            v.open({ tileSource: urls.dzi });
          } else {
            setState('error');
          }
        });
        v.addHandler('animation', report);
        v.addHandler('zoom', report);
        v.addHandler('pan', report);
        v.addHandler('rotate', report);
        v.addHandler('resize', report);
        v.addHandler('fully-loaded-change', (e: { fullyLoaded: boolean }) => {
          if (!cancelled) setTilesLoading(!e.fullyLoaded);
        });
      })
      .catch(() => {
        if (!cancelled) setState('error');
      });
    return () => {
      cancelled = true;
      // Taken down after the next image has been painted.
      const old = v;
      if (old) setTimeout(() => old.destroy(), 50);
      viewer.current = null;
      main.current = null;
      syncOps.current = null;
    };
  }, [urls.dzi, urls.preview]);

  const mainItem = () => {
    const v = viewer.current;
    return main.current ?? (v && v.world.getItemCount() > 0 ? v.world.getItemAt(0) : null);
  };
  const zoomBy = (factor: number) => viewer.current?.viewport.zoomBy(factor);
  const fit = () => viewer.current?.viewport.goHome();
  const zoomToImage = (z: number) => {
    const v = viewer.current;
    const it = mainItem();
    if (v && it) v.viewport.zoomTo(it.imageToViewportZoom(z));
  };
  const rotateBy = useCallback((deg: number) => {
    const v = viewer.current;
    if (!v) return;
    const next = normaliseRotation(v.viewport.getRotation() + deg);
    v.viewport.setRotation(next);
    setRotation(next);
  }, []);
  const pan = (dx: number, dy: number) => {
    const v = viewer.current;
    const OSD = osd.current;
    if (!v || !OSD) return;
    const size = v.viewport.getContainerSize();
    v.viewport.panBy(v.viewport.deltaPointsFromPixels(new OSD.Point(dx * size.x, dy * size.y)));
  };

  const toggleFullscreen = useCallback(() => setFullscreen((f) => !f), []);
  // Full screen takes the keys (the wrapper gets focus); leaving it gives focus back.
  useEffect(() => {
    if (!fullscreen) return;
    const before = document.activeElement as HTMLElement | null;
    wrapper.current?.focus();
    return () => before?.focus?.();
  }, [fullscreen]);

  const ready = state === 'ready' || state === 'preview';
  /** A slide that gives its scanner's objective gets magnifications (1×…40×); other images zoom levels. */
  const objective = meta?.objective_power ?? null;
  const presets = presetsFor(objective, fitZoom, MAX_ZOOM);
  /** Why a preset's button is off, or null when it can be pressed. */
  const presetOff = (p: ZoomPreset): string | null => {
    if (!ready) return 'The image is still loading.';
    if (p.zoom != null && state !== 'ready') return 'Only the preview could be loaded: there is no full resolution to zoom to.';
    if (outOfReach(p, minZoom)) return `At ${p.label} the whole image would be smaller than the view: Fit shows all of it.`;
    return null;
  };
  const choosePreset = (p: ZoomPreset) => {
    if (presetOff(p)) return;
    if (p.zoom == null) fit();
    else zoomToImage(p.zoom);
  };
  const act = (a: ViewerAction) => {
    switch (a.kind) {
      case 'fullscreen':
        toggleFullscreen();
        break;
      case 'exit-fullscreen':
        setFullscreen(false);
        break;
      case 'rotate':
        rotateBy(a.degrees);
        break;
      case 'pan':
        pan(a.dx, a.dy);
        break;
      case 'zoom':
        zoomBy(a.factor);
        break;
      case 'fit':
        fit();
        break;
      case 'preset': {
        const p = presetAt(presets, a.index);
        if (p) choosePreset(p);
        break;
      }
    }
  };
  const actRef = useRef(act);
  useEffect(() => {
    actRef.current = act;
  });

  // Keys: all of them while the viewer has focus or fills the screen; F from anywhere but a field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // Drawing a region: Esc drops the rectangle and stops drawing (before it leaves full screen).
      if (e.key === 'Escape' && drawingRef.current) {
        e.preventDefault();
        dragRef.current = null;
        setDrag(null);
        setDrawing(false);
        setRoiMessage(null);
        return;
      }
      const inside = !!wrapper.current && (wrapper.current.contains(e.target as Node) || wrapper.current.dataset.fullscreen === 'true');
      if (typingIn(e.target) && !inside) return;
      // The heatmap's choice and opacity keep their own keys (arrows, letters); Esc still leaves.
      if (typingIn(e.target) && e.key !== 'Escape') return;
      const a = viewerKeyAction(e, wrapper.current?.dataset.fullscreen === 'true');
      if (!a) return;
      if (!inside && a.kind !== 'fullscreen') return;
      // Buttons in the toolbar keep their own Enter and Space; arrows on them pan too.
      e.preventDefault();
      actRef.current(a);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // The heatmap: one metric's field scores over the image, while it is chosen.
  const heatMax = schema.metrics.find((m) => m.name === heatMetric)?.max ?? null;
  const showHeat = ready && heatMax != null && !!fields && fields.length > 0 && !!level0W && !!level0H;
  // The regions of interest: the fields' own, and the one just scored until the reload lists it.
  const justDrawn = drawn && drawn.before === fieldsQuery.data ? drawn.field : null;
  const regions = useMemo(() => withRegion(regionsOf(fields), justDrawn), [fields, justDrawn]);
  /** Screen pixels per level-0 pixel. */
  const scale = pxPerUnit != null && level0W ? pxPerUnit / level0W : null;
  const draftRect = drag && level0W && level0H ? clampRect(rectFromPoints(drag.a, drag.b), level0W, level0H) : null;
  const showRegions = ready && scale != null && !!level0W && !!level0H && (regions.length > 0 || draftRect != null || pendingRegion != null);
  const overlayOn = showHeat || showRegions;
  useEffect(() => {
    const v = viewer.current;
    const OSD = osd.current;
    if (!overlayOn || !v || !OSD || !level0W || !level0H) return;
    v.addOverlay({ element: overlayHost, location: new OSD.Rect(0, 0, 1, level0H / level0W) });
    return () => {
      v.removeOverlay(overlayHost);
    };
  }, [overlayOn, overlayHost, level0W, level0H]);
  const onHover = useCallback((field: FieldRow | null, clientX: number, clientY: number) => {
    const box = stage.current?.getBoundingClientRect();
    setHover(field == null || !box ? null : { field, x: clientX - box.left, y: clientY - box.top, width: box.width, height: box.height });
  }, [setHover]);
  const unreadable = useMemo(() => (fields ? fieldCounts(fields).unreadable > 0 : false), [fields]);

  // Drawing a region of interest: for a scored slide whose fields the caller sees, by whoever may
  // score (the server scores it with the model that drafted the slide).
  const canDraw =
    ready &&
    fieldsQuery.data != null &&
    record?.status === 'scored' &&
    record.draft != null &&
    record.locked_by_study == null &&
    canScore(user.role) &&
    !!level0W &&
    !!level0H;
  const drawOn = drawing && canDraw;
  /** The field or region under the pointer (none while drawing). */
  const hovered = overlayOn && !drawOn && hover ? hover.field : undefined;
  useEffect(() => {
    drawingRef.current = drawOn;
    // Dragging draws instead of panning (the drawing layer takes the pointer; this stops the rest).
    const v = viewer.current;
    if (!drawOn || !v) return;
    v.setMouseNavEnabled(false);
    return () => {
      v.setMouseNavEnabled(true);
    };
  }, [drawOn]);
  const toggleDrawing = () => {
    if (drawing) {
      dragRef.current = null;
      setDrag(null);
      setDrawing(false);
      setRoiMessage(null);
    } else {
      setHover(null);
      setRoiMessage(null);
      setDrawing(true);
    }
  };
  /** A point of the viewer (client pixels) in level-0 pixels of the slide. */
  const toSlide = (clientX: number, clientY: number): Point | null => {
    const OSD = osd.current;
    const it = mainItem();
    const el = host.current;
    if (!OSD || !it || !el || !level0W) return null;
    const box = el.getBoundingClientRect();
    const p = it.viewerElementToImageCoordinates(new OSD.Point(clientX - box.left, clientY - box.top));
    // The item's own pixels: the deep-zoom tiles (level 0), or the preview while they are missing.
    const k = level0W / (it.getContentSize().x || level0W);
    return { x: p.x * k, y: p.y * k };
  };
  const onDrawDown = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (e.button !== 0 || pendingRegion) return;
    const p = toSlide(e.clientX, e.clientY);
    if (!p) return;
    e.preventDefault();
    e.currentTarget.setPointerCapture?.(e.pointerId);
    dragRef.current = { a: p, b: p, pointer: e.pointerId };
    setDrag({ a: p, b: p });
    setRoiMessage(null);
  };
  const onDrawMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    const d = dragRef.current;
    if (!d || d.pointer !== e.pointerId) return;
    const p = toSlide(e.clientX, e.clientY);
    if (!p) return;
    d.b = p;
    setDrag({ a: d.a, b: p });
  };
  const onDrawUp = (e: ReactPointerEvent<HTMLDivElement>) => {
    const d = dragRef.current;
    if (!d || d.pointer !== e.pointerId) return;
    dragRef.current = null;
    setDrag(null);
    const end = toSlide(e.clientX, e.clientY) ?? d.b;
    if (!level0W || !level0H) return;
    const r = regionFromDrag(d.a, end, level0W, level0H);
    if (!r.ok) {
      // Drawing stays on: the next drag tries again.
      setRoiMessage({ kind: 'error', text: r.message });
      return;
    }
    setDrawing(false);
    setPendingRegion(r.region);
    setRoiMessage({ kind: 'status', text: 'Scoring the region…' });
    const before = fieldsQuery.data;
    drawRegion(id, r.region).then(
      (f) => {
        if (!alive.current) return;
        setPendingRegion(null);
        setDrawn({ field: f, before });
        setRoiMessage({ kind: 'status', text: `${roiLabel(f)} scored: ${roiScoresText(f, schema)}.` });
      },
      (err: unknown) => {
        if (!alive.current) return;
        setPendingRegion(null);
        setRoiMessage({ kind: 'error', text: regionErrorText(err) });
      },
    );
  };
  const onDrawCancel = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (dragRef.current?.pointer !== e.pointerId) return;
    dragRef.current = null;
    setDrag(null);
  };

  // The scale bar: µm across the screen's horizontal (the slide's y after a quarter turn); an
  // ordinary image's pixel size comes from its resolution tags when the file gives one.
  const umPerPx = meta ? (rotation % 180 === 0 ? meta.mpp_x : (meta.mpp_y ?? meta.mpp_x)) : (record?.pixel_size_um ?? null);
  const scaleBar = ready && level0W ? chooseScaleBar(umPerPx, pxPerUnit != null ? pxPerUnit / level0W : null) : null;

  const pressed = activePreset(presets, zoom, atHome);
  const tool = `${btnSecondary} ${btnSmall}`;
  const magnification = magnificationText(zoom, objective);

  return (
    <div
      ref={wrapper}
      tabIndex={-1}
      className={`osd-host flex flex-col gap-2 outline-none ${fullscreen ? 'fixed inset-0 z-50 bg-slate-950 p-2' : fill ? 'h-full min-h-0' : ''}`}
      data-fullscreen={fullscreen ? 'true' : 'false'}
      data-testid="viewer-frame"
      role={fullscreen ? 'dialog' : undefined}
      aria-modal={fullscreen ? true : undefined}
      aria-label={fullscreen ? `${filename}, full screen` : undefined}
    >
      <div
        ref={stage}
        className={`relative overflow-hidden rounded-lg border border-slate-200 bg-slate-100 dark:border-slate-800 dark:bg-black ${
          fullscreen || fill ? 'min-h-64 flex-1' : 'h-[50vh] min-h-64'
        }`}
        data-testid="viewer"
        data-state={state}
        data-zoom={zoom == null ? '' : zoom.toFixed(4)}
        data-rotation={rotation}
        data-center={center}
        data-view-zoom={shared.zoom}
        data-norm-center={shared.center}
        data-objective={objective ?? ''}
        data-loading={state === 'loading' || (state === 'ready' && tilesLoading) ? 'true' : 'false'}
      >
        {previewShown && !previewFailed && (
          <img
            src={urls.preview}
            alt=""
            className="pointer-events-none absolute inset-0 size-full object-contain"
            data-testid="viewer-preview"
            onError={() => setPreviewFailed(true)}
          />
        )}
        <div ref={host} className="absolute inset-0" role="img" aria-label={`Zoomable image of ${filename}`} />
        {(state === 'loading' || (state === 'ready' && tilesLoading)) && (
          <div
            className="pointer-events-none absolute top-2 left-2 flex items-center gap-1.5 rounded-md bg-white/85 px-2 py-1 text-xs text-slate-700 shadow-sm dark:bg-slate-900/85 dark:text-slate-200"
            data-testid="viewer-loading"
            role="status"
          >
            <Spinner /> {state === 'loading' ? 'Loading image…' : 'Loading detail…'}
          </div>
        )}
        {scaleBar && <ScaleBarView bar={scaleBar} />}
        {showHeat && heatMax != null && <HeatmapLegend metric={heatMetric} max={heatMax} unreadable={unreadable} />}
        {hovered && hover && (
          <FieldTooltip field={hovered} schema={schema} x={hover.x} y={hover.y} frameWidth={hover.width} frameHeight={hover.height} />
        )}
        {overlayOn &&
          level0W &&
          level0H &&
          createPortal(
            <>
              {showHeat && fields && heatMax != null && (
                <HeatmapLayer imageId={id} fields={fields} width={level0W} height={level0H} metric={heatMetric} max={heatMax} opacity={opacity} onHover={onHover} />
              )}
              {showRegions && scale != null && (
                <RegionLayer
                  regions={regions}
                  width={level0W}
                  height={level0H}
                  scale={scale}
                  rotation={rotation}
                  draft={draftRect}
                  draftOk={draftRect != null && largeEnough(draftRect)}
                  pending={pendingRegion}
                  onHover={onHover}
                />
              )}
            </>,
            overlayHost,
          )}
        {(drawOn || roiMessage) && (
          <p
            className={`pointer-events-none absolute top-2 left-1/2 z-10 max-w-[80%] -translate-x-1/2 rounded-md px-2.5 py-1 text-center text-xs shadow-sm ${
              roiMessage?.kind === 'error'
                ? 'bg-red-50/95 text-red-800 dark:bg-red-950/90 dark:text-red-200'
                : 'bg-white/90 text-slate-800 dark:bg-slate-900/90 dark:text-slate-100'
            }`}
            role={roiMessage?.kind === 'error' ? 'alert' : 'status'}
            data-testid="roi-message"
            data-kind={roiMessage?.kind ?? 'hint'}
          >
            {roiMessage?.text ?? `Drag over the image to draw a region of at least ${MIN_REGION_SIDE} × ${MIN_REGION_SIDE} pixels of the slide. Esc cancels.`}
          </p>
        )}
        {drawOn && (
          <div
            className="absolute inset-0 z-[5] cursor-crosshair touch-none select-none"
            onPointerDown={onDrawDown}
            onPointerMove={onDrawMove}
            onPointerUp={onDrawUp}
            onPointerCancel={onDrawCancel}
            data-testid="roi-draw-layer"
            aria-hidden
          />
        )}
        {state === 'error' && (
          <div className="absolute inset-0 flex items-center justify-center p-4 text-center text-sm text-red-700 dark:text-red-400">
            The image could not be shown: the server has no tiles or preview for it yet. Reload the page in a moment.
          </div>
        )}
      </div>
      <div className={`flex flex-wrap items-center gap-1.5 ${fullscreen ? 'text-slate-200' : ''}`} role="toolbar" aria-label="Image view">
        <button className={tool} onClick={() => zoomBy(ZOOM_STEP)} disabled={!ready} aria-label="Zoom in" title="Zoom in (+)">
          <Icon name="plus" className="size-3.5" />
          <span className="hidden sm:inline">Zoom in</span>
        </button>
        <button className={tool} onClick={() => zoomBy(1 / ZOOM_STEP)} disabled={!ready} aria-label="Zoom out" title="Zoom out (−)">
          <Icon name="minus" className="size-3.5" />
          <span className="hidden sm:inline">Zoom out</span>
        </button>
        <span className="flex flex-wrap gap-1" role="group" aria-label={objective != null ? 'Magnification' : 'Zoom presets'} data-testid="zoom-presets">
          {presets.map((p) => {
            const off = presetOff(p);
            return (
              <button
                key={p.label}
                className={`${tool} ${pressed === p.label ? 'ring-2 ring-indigo-500' : ''}`}
                onClick={() => choosePreset(p)}
                disabled={off != null}
                aria-pressed={pressed === p.label}
                aria-keyshortcuts={p.key}
                title={off && ready ? `${p.title}. ${off}` : p.title}
                data-testid="zoom-preset"
                data-zoom={p.zoom ?? ''}
              >
                {p.label}
              </button>
            );
          })}
        </span>
        <button className={tool} onClick={() => rotateBy(-90)} disabled={!ready} aria-label="Rotate anticlockwise" title="Rotate 90° anticlockwise (Shift+R)">
          <Icon name="rotateLeft" className="size-3.5" />
        </button>
        <button className={tool} onClick={() => rotateBy(90)} disabled={!ready} aria-label="Rotate clockwise" title="Rotate 90° clockwise (R)">
          <Icon name="rotateRight" className="size-3.5" />
        </button>
        <button
          className={tool}
          onClick={toggleFullscreen}
          aria-pressed={fullscreen}
          aria-label={fullscreen ? 'Leave full screen' : 'Full screen'}
          title={fullscreen ? 'Leave full screen (F or Esc)' : 'Full screen (F)'}
          data-testid="viewer-fullscreen"
        >
          <Icon name={fullscreen ? 'shrink' : 'expand'} className="size-3.5" />
          <span className="hidden sm:inline">{fullscreen ? 'Exit full screen' : 'Full screen'}</span>
        </button>
        {fields && fields.length > 0 && (
          <span className="flex flex-wrap items-center gap-1.5 text-xs" role="group" aria-label="Heatmap of the field scores">
            <label className="flex items-center gap-1">
              Heatmap
              <select
                className="rounded-md border border-slate-300 bg-white px-1.5 py-1 text-xs text-slate-800 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
                value={heatMetric}
                onChange={(e) => {
                  setHeatMetric(e.target.value);
                  setHover(null);
                }}
                disabled={!ready}
                data-testid="heatmap-metric"
                title="Colour each field by its score for one metric"
              >
                <option value="">Off</option>
                {schema.metrics.map((m) => (
                  <option key={m.name} value={m.name}>
                    {m.name}
                  </option>
                ))}
              </select>
            </label>
            {heatMetric !== '' && (
              <label className="flex items-center gap-1" title="How strongly the heatmap covers the image">
                Opacity
                <input
                  type="range"
                  min={0.1}
                  max={1}
                  step={0.05}
                  value={opacity}
                  onChange={(e) => setOpacity(Number(e.target.value))}
                  className="w-20 accent-indigo-600"
                  aria-valuetext={`${Math.round(opacity * 100)} %`}
                  data-testid="heatmap-opacity"
                />
              </label>
            )}
          </span>
        )}
        {compare && (
          <button
            className={tool}
            onClick={() => setComparing(true)}
            aria-label="Side by side…"
            title="Look at another image beside this one, panning and zooming together"
            data-testid="viewer-compare"
          >
            <Icon name="columns" className="size-3.5" />
            <span className="hidden sm:inline">Side by side…</span>
          </button>
        )}
        {canDraw && (
          <button
            className={`${tool} ${drawing ? 'ring-2 ring-amber-500' : ''}`}
            onClick={toggleDrawing}
            disabled={pendingRegion != null}
            aria-pressed={drawing}
            aria-label="Draw region"
            title="Drag over the image to draw a region of interest; the AI scores it (Esc cancels)"
            data-testid="roi-draw"
          >
            <Icon name="region" className="size-3.5" />
            <span className="hidden sm:inline">Draw region</span>
          </button>
        )}
        <span className={`ml-auto text-xs ${fullscreen ? 'text-slate-300' : 'text-slate-500 dark:text-slate-400'}`} aria-live="off" data-testid="viewer-zoom">
          {magnification != null && <span title={`As seen through a ${magnification} objective`}>{magnification} · </span>}
          {zoom != null && `${Math.round(zoom * 100)}%`}
          {rotation !== 0 && ` · ${rotation}°`}
          {state === 'preview' && ' · preview only (no deep-zoom tiles)'}
        </span>
      </div>
      {comparing && <CompareDialog id={id} filename={filename} onClose={() => setComparing(false)} />}
      <p className={`text-xs ${fullscreen ? 'text-slate-400' : 'hidden text-slate-500 lg:block dark:text-slate-400'}`} data-testid="viewer-keys">
        Image keys (click the image first): arrows pan · + − zoom · 0 fit · {presets.length > 2 ? `1–${presets.length - 1}` : '1'} the{' '}
        {objective != null ? 'magnifications' : 'zoom levels'} in order · R / Shift+R rotate · F full screen
        {fullscreen ? ' · Esc leaves' : ''}
      </p>
    </div>
  );
}
