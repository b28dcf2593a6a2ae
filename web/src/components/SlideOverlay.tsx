// What the viewer draws over a whole slide: the heatmap of one metric's field scores (an SVG in
// level-0 pixels that OpenSeadragon places over the image), its legend, the hovered field's
// scores, and the scale bar. Positions and colours come from lib/slides.ts.

import { memo, useMemo, type PointerEvent } from 'react';
import type { FieldRow } from '../api/slides';
import type { Schema } from '../api/types';
import { fieldCells, fieldSummary, legendGradient, legendTicks, scoreColour, type ScaleBar } from '../lib/slides';

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
  /** The field under the pointer (an index into `fields`), null when it leaves them. */
  onHover: (field: number | null, clientX: number, clientY: number) => void;
}

/** The fields as coloured cells; unreadable ones hatched. Re-drawn only when its inputs change. */
export const HeatmapLayer = memo(function HeatmapLayer({ imageId, fields, width, height, metric, max, opacity, onHover }: HeatmapProps) {
  const cells = useMemo(() => fieldCells(fields, width, height), [fields, width, height]);
  // Hatching a sixth of a cell wide, whatever the zoom.
  const hatch = Math.max(4, (cells[0]?.width ?? width / 20) / 6);
  const hatchId = `heatmap-hatch-${imageId}`;
  const fieldOf = (e: PointerEvent<SVGSVGElement>): number | null => {
    const v = (e.target as Element).getAttribute?.('data-field');
    return v == null ? null : Number(v);
  };
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      width="100%"
      height="100%"
      style={{ display: 'block', pointerEvents: 'none', overflow: 'visible' }}
      data-testid="heatmap"
      data-metric={metric}
      onPointerMove={(e) => onHover(fieldOf(e), e.clientX, e.clientY)}
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
              stroke={f.roi ? 'white' : undefined}
              strokeWidth={f.roi ? hatch / 2 : undefined}
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
