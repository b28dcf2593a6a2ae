// The zoomable image. OpenSeadragon is loaded on first use (dynamic import: not in the first
// page load) and shown the server's deep-zoom tiles; if those cannot be opened it falls back to
// the 1024 px preview. The component is keyed by record (one viewer per image).

import { useEffect, useRef, useState } from 'react';
import type OpenSeadragon from 'openseadragon';
import { imageUrls } from '../api/client';
import { btnSecondary, btnSmall, Icon } from './ui';

type OSDViewer = OpenSeadragon.Viewer;

export function Viewer({ id, filename }: { id: number; filename: string }) {
  const host = useRef<HTMLDivElement>(null);
  const viewer = useRef<OSDViewer | null>(null);
  const [state, setState] = useState<'loading' | 'ready' | 'preview' | 'error'>('loading');
  const [zoom, setZoom] = useState<number | null>(null);

  useEffect(() => {
    let cancelled = false;
    let v: OSDViewer | null = null;
    void import('openseadragon')
      .then((mod) => {
        if (cancelled || !host.current) return;
        const OSD = mod.default;
        const urls = imageUrls(id);
        let fellBack = false;
        v = OSD({
          element: host.current,
          tileSources: urls.dzi,
          showNavigationControl: false,
          showNavigator: false,
          animationTime: 0.4,
          maxZoomPixelRatio: 2,
          visibilityRatio: 0.5,
          minZoomImageRatio: 0.5,
          gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
          crossOriginPolicy: false,
          preserveImageSizeOnResize: true,
        });
        viewer.current = v;
        const report = () => {
          if (!v || v.world.getItemCount() === 0) return;
          const item = v.world.getItemAt(0);
          setZoom(item.viewportToImageZoom(v.viewport.getZoom(true)));
        };
        v.addHandler('open', () => {
          if (cancelled) return;
          setState(fellBack ? 'preview' : 'ready');
          report();
        });
        v.addHandler('animation', report);
        v.addHandler('zoom', report);
        v.addHandler('open-failed', () => {
          if (cancelled || !v) return;
          if (!fellBack) {
            fellBack = true;
            v.open({ tileSource: { type: 'image', url: urls.preview } });
          } else {
            setState('error');
          }
        });
      })
      .catch(() => {
        if (!cancelled) setState('error');
      });
    return () => {
      cancelled = true;
      v?.destroy();
      viewer.current = null;
    };
  }, [id]);

  const zoomBy = (factor: number) => viewer.current?.viewport.zoomBy(factor);
  const fit = () => viewer.current?.viewport.goHome();
  const fullRes = () => {
    const v = viewer.current;
    if (!v || v.world.getItemCount() === 0) return;
    v.viewport.zoomTo(v.world.getItemAt(0).imageToViewportZoom(1));
  };
  const disabled = state !== 'ready' && state !== 'preview';

  return (
    <div className="flex flex-col gap-2">
      <div
        className="osd-host relative h-[38vh] min-h-64 overflow-hidden rounded-lg border border-slate-200 bg-slate-100 dark:border-slate-800 dark:bg-black"
        data-testid="viewer"
        data-state={state}
        data-zoom={zoom == null ? '' : zoom.toFixed(4)}
      >
        <div ref={host} className="absolute inset-0" role="img" aria-label={`Zoomable image of ${filename}`} />
        {state === 'loading' && (
          <div className="pointer-events-none absolute inset-0 flex items-center justify-center text-sm text-slate-500 dark:text-slate-400">Loading image…</div>
        )}
        {state === 'error' && (
          <div className="absolute inset-0 flex items-center justify-center p-4 text-center text-sm text-red-700 dark:text-red-400">
            The image could not be shown (the server has no tiles or preview for it).
          </div>
        )}
      </div>
      <div className="flex flex-wrap items-center gap-1.5" role="toolbar" aria-label="Image zoom">
        <button className={`${btnSecondary} ${btnSmall}`} onClick={() => zoomBy(1.5)} disabled={disabled} aria-label="Zoom in">
          <Icon name="plus" className="size-3.5" /> Zoom in
        </button>
        <button className={`${btnSecondary} ${btnSmall}`} onClick={() => zoomBy(1 / 1.5)} disabled={disabled} aria-label="Zoom out">
          <Icon name="minus" className="size-3.5" /> Zoom out
        </button>
        <button className={`${btnSecondary} ${btnSmall}`} onClick={fit} disabled={disabled}>
          Fit
        </button>
        <button
          className={`${btnSecondary} ${btnSmall}`}
          onClick={fullRes}
          disabled={disabled || state === 'preview'}
          title="Zoom to full resolution (one image pixel per screen pixel)"
        >
          1:1
        </button>
        <span className="ml-auto text-xs text-slate-500 dark:text-slate-400" aria-live="off">
          {zoom != null && `${Math.round(zoom * 100)}%`}
          {state === 'preview' && ' · preview only (no deep-zoom tiles)'}
        </span>
      </div>
    </div>
  );
}
