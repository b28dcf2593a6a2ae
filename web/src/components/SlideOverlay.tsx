// What the viewer draws over a whole slide: the heatmap of one metric's field scores and the
// regions of interest (SVGs in level-0 pixels that OpenSeadragon places over the image), the
// heatmap's legend, the hovered field's or region's scores, and the scale bar. Positions and
// colours come from lib/slides.ts.

import { memo, useMemo, type PointerEvent } from 'react';
import type { FieldRow } from '../api/slides';
import type { Schema } from '../api/types';
import { fieldCells, fieldSummary, legendGradient, legendTicks, roiLabel, scoreColour, screenTopLeft, type Rect, type ScaleBar } from '../lib/slides';

/** The hatching of fields that could not be read (also in the legend). */
const HATCH_CSS = 'repeating-linear-gradient(45deg, rgb(148 163 184) 0 3px, rgb(71 85 105) 3px 5px)';

export interface HeatmapProps {
  /** Names the hatch pattern (one viewer per image). */
  imageId: number;
  fields: readonly FieldRow[];
  /** Level-0 size of the slide. */
  width: number;
  height: number;
  metric: string;
  max: number;
  opacity: number;
  /** The field under the pointer, null when it leaves them. */
  onHover: (field: FieldRow | null, clientX: number, clientY: number) => void;
}

/** The pointer's field: the `data-field` (an index into `fields`) of the element under it. */
function fieldUnder(e: PointerEvent<SVGSVGElement>, fields: readonly FieldRow[]): FieldRow | null {
  const v = (e.target as Element).getAttribute?.('data-field');
  return v == null ? null : (fields[Number(v)] ?? null);
}

/** Stacked in the overlay's element (the heatmap under the regions). */
const LAYER_STYLE = { position: 'absolute', top: 0, left: 0, display: 'block', pointerEvents: 'none', overflow: 'visible' } as const;

/**
 * The grid's fields as coloured cells; unreadable ones hatched. Regions of interest are drawn by
 * RegionLayer. Re-drawn only when its inputs change.
 */
export const HeatmapLayer = memo(function HeatmapLayer({ imageId, fields, width, height, metric, max, opacity, onHover }: HeatmapProps) {
  const cells = useMemo(() => fieldCells(fields, width, height).filter((c) => fields[c.field]?.roi !== true), [fields, width, height]);
  // Hatching a sixth of a cell wide, whatever the zoom.
  const hatch = Math.max(4, (cells[0]?.width ?? width / 20) / 6);
  const hatchId = `heatmap-hatch-${imageId}`;
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      width="100%"
      height="100%"
      style={LAYER_STYLE}
      data-testid="heatmap"
      data-metric={metric}
      onPointerMove={(e) => onHover(fieldUnder(e, fields), e.clientX, e.clientY)}
      onPointerLeave={(e) => onHover(null, e.clientX, e.clientY)}
    >
      <defs>
        <pattern id={hatchId} patternUnits="userSpaceOnUse" width={hatch} height={hatch} patternTransform="rotate(45)">
          <rect width={hatch} height={hatch} fill="rgb(148 163 184)" />
          <rect width={hatch / 3} height={hatch} fill="rgb(71 85 105)" />
        </pattern>
      </defs>
      <g opacity={opacity} shapeRendering="crispEdges">
        {cells.map((c) => {
          const f = fields[c.field] as FieldRow;
          const v = f.scores?.[metric];
          const fill = f.scores == null ? `url(#${hatchId})` : typeof v === 'number' ? scoreColour(v, max) : 'none';
          return (
            <rect
              key={c.field}
              x={c.x}
              y={c.y}
              width={c.width}
              height={c.height}
              fill={fill}
              style={{ pointerEvents: 'all' }}
              data-field={c.field}
              data-index={f.index}
              data-scored={f.scores == null ? 'false' : 'true'}
              data-testid="heatmap-field"
            />
          );
        })}
      </g>
    </svg>
  );
});

/** The outline of regions of interest: amber on a dark edge, seen on pale and dark tissue alike. */
const ROI_STROKE = 'rgb(251 191 36)';
const ROI_EDGE = 'rgb(15 23 42 / 0.75)';

export interface RegionProps {
  /** The regions of interest to draw (fields with `roi: true`). */
  regions: readonly FieldRow[];
  /** Level-0 size of the slide. */
  width: number;
  height: number;
  /** Screen pixels per level-0 pixel: labels and lines keep their size on the screen. */
  scale: number;
  /** The view's rotation (degrees clockwise): labels stay upright, at the top left on the screen. */
  rotation: number;
  /** The rectangle being dragged (level-0 pixels, clamped to the slide), and whether it is large enough. */
  draft: Rect | null;
  draftOk: boolean;
  /** The region sent and not yet answered. */
  pending: Rect | null;
  onHover: (field: FieldRow | null, clientX: number, clientY: number) => void;
}

/**
 * Regions of interest as outlined rectangles numbered "ROI 1", "ROI 2" (the heatmap's cells are
 * filled, regions are not), the rectangle being drawn (dashed) and the one being scored.
 */
export const RegionLayer = memo(function RegionLayer({ regions, width, height, scale, rotation, draft, draftOk, pending, onHover }: RegionProps) {
  const px = (n: number) => n / scale;
  const label = (r: Rect, text: string, testId?: string) => {
    const at = screenTopLeft(r, rotation);
    return (
      <text
        transform={`translate(${at.x} ${at.y}) rotate(${-rotation})`}
        x={px(4)}
        y={px(15)}
        fontSize={px(12)}
        fontWeight={600}
        fontFamily="ui-sans-serif, system-ui, sans-serif"
        fill="white"
        stroke={ROI_EDGE}
        strokeWidth={px(3)}
        paintOrder="stroke"
        style={{ pointerEvents: 'none' }}
        data-testid={testId}
      >
        {text}
      </text>
    );
  };
  const outline = (r: Rect, colour: string, dashed: boolean) => (
    <>
      <rect x={r.x} y={r.y} width={r.width} height={r.height} fill="none" stroke={ROI_EDGE} strokeWidth={4} vectorEffect="non-scaling-stroke" />
      <rect
        x={r.x}
        y={r.y}
        width={r.width}
        height={r.height}
        fill="none"
        stroke={colour}
        strokeWidth={2}
        strokeDasharray={dashed ? '6 4' : undefined}
        vectorEffect="non-scaling-stroke"
      />
    </>
  );
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      width="100%"
      height="100%"
      style={LAYER_STYLE}
      data-testid="roi-layer"
      onPointerMove={(e) => onHover(fieldUnder(e, regions), e.clientX, e.clientY)}
      onPointerLeave={(e) => onHover(null, e.clientX, e.clientY)}
    >
      {regions.map((f, i) => (
        <g key={f.index} data-testid="roi-outline" data-index={f.index} data-label={roiLabel(f)}>
          {outline(f, ROI_STROKE, false)}
          {/* The whole rectangle answers the pointer (its scores on hover); nothing is painted. */}
          <rect x={f.x} y={f.y} width={f.width} height={f.height} fill="none" style={{ pointerEvents: 'all' }} data-field={i} data-testid="roi-hit" />
          {label(f, roiLabel(f), 'roi-label')}
        </g>
      ))}
      {pending && (
        <g data-testid="roi-pending">
          {outline(pending, ROI_STROKE, true)}
          {label(pending, 'Scoring…')}
        </g>
      )}
      {draft && (
        <g data-testid="roi-draft" data-ok={draftOk ? 'true' : 'false'}>
          {outline(draft, draftOk ? 'white' : 'rgb(248 113 113)', true)}
        </g>
      )}
    </svg>
  );
});

/** The colour ramp of the metric shown, 0 to its maximum; the hatching when a field was unreadable. */
export function HeatmapLegend({ metric, max, unreadable }: { metric: string; max: number; unreadable: boolean }) {
  const ticks = legendTicks(max);
  return (
    <div
      className="pointer-events-none absolute top-2 right-2 rounded-md bg-white/90 px-2.5 py-1.5 text-xs text-slate-700 shadow-sm dark:bg-slate-900/90 dark:text-slate-200"
      data-testid="heatmap-legend"
    >
      <div className="mb-1 font-semibold">
        <span className="uppercase tracking-wide">{metric}</span> per field
      </div>
      <div className="h-2.5 w-40 rounded-sm" style={{ background: legendGradient() }} aria-hidden />
      <div className="relative mt-0.5 h-4 w-40 tabular-nums">
        {ticks.map((t) => (
          <span
            key={t.at}
            className="absolute"
            style={t.at === 0 ? { left: 0 } : t.at === 100 ? { right: 0 } : { left: '50%', transform: 'translateX(-50%)' }}
          >
            {t.label}
          </span>
        ))}
      </div>
      {unreadable && (
        <div className="mt-0.5 flex items-center gap-1.5">
          <span className="inline-block size-2.5 rounded-sm" style={{ background: HATCH_CSS }} aria-hidden />
          could not be read
        </div>
      )}
    </div>
  );
}

/** The hovered field's number, tissue share and scores, beside the pointer. */
export function FieldTooltip({
  field,
  schema,
  x,
  y,
  frameWidth,
  frameHeight,
}: {
  field: FieldRow;
  schema: Schema;
  /** The pointer, in the frame's pixels. */
  x: number;
  y: number;
  frameWidth: number;
  frameHeight: number;
}) {
  const { title, lines } = fieldSummary(field, schema);
  // Below right of the pointer; left of it near the right edge, above it near the bottom.
  const width = 200;
  const height = 18 * (lines.length + 1) + 12;
  const left = x + 14 + width > frameWidth ? Math.max(4, x - 14 - width) : x + 14;
  const top = y + 14 + height > frameHeight ? Math.max(4, y - 14 - height) : y + 14;
  return (
    <div
      className="pointer-events-none absolute z-10 w-[200px] rounded-md bg-slate-900/90 px-2.5 py-1.5 text-xs text-white shadow-lg"
      style={{ left, top }}
      data-testid="heatmap-tooltip"
    >
      <div className="font-semibold">{title}</div>
      {lines.map((l) => (
        <div key={l} className="tabular-nums">
          {l}
        </div>
      ))}
    </div>
  );
}

/** A bar of a round length in µm at the current zoom. */
export function ScaleBarView({ bar }: { bar: ScaleBar }) {
  return (
    <div
      className="pointer-events-none absolute bottom-2 left-2 rounded-md bg-white/85 px-2 py-1 text-xs text-slate-800 shadow-sm dark:bg-slate-900/85 dark:text-slate-100"
      data-testid="scale-bar"
      data-um={bar.um}
      data-px={bar.px.toFixed(1)}
    >
      <div className="h-2 border-x-2 border-b-2 border-current" style={{ width: `${bar.px}px` }} aria-hidden />
      <div className="mt-0.5 text-center font-medium tabular-nums">{bar.label}</div>
    </div>
  );
}
