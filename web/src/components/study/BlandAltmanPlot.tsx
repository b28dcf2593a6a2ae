// A Bland–Altman plot (difference against mean, with the mean difference and the 95% limits of
// agreement as horizontal lines) drawn by uPlot. This module is loaded on first use (React.lazy),
// so uPlot is not part of the first page load.

import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { baYRange } from '../../lib/stats';

export interface BlandAltmanPlotProps {
  /** [mean of a and b, a − b] per image. */
  points: [number, number][];
  meanDiff: number | null;
  loaLow: number | null;
  loaHigh: number | null;
  /** Axis label of the difference, e.g. "AI − reader1". */
  diffLabel: string;
  /** The schema step: the smallest sensible axis span. */
  step: number;
  /** What a screen reader hears for the picture. */
  label: string;
  height?: number;
}

const isDark = () => typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;

export function BlandAltmanPlot({ points, meanDiff, loaLow, loaHigh, diffLabel, step, label, height = 220 }: BlandAltmanPlotProps) {
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const pts = points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])).sort((p, q) => p[0] - q[0]);
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    const dark = isDark();
    const ink = dark ? '#cbd5e1' : '#334155';
    const grid = dark ? 'rgba(148,163,184,0.15)' : 'rgba(100,116,139,0.15)';
    const dot = dark ? '#818cf8' : '#4f46e5';
    const lineColour = dark ? '#fbbf24' : '#b45309';
    const [ylo, yhi] = baYRange(ys, [meanDiff, loaLow, loaHigh], step * 2);
    const xmin = xs.length ? Math.min(...xs) : 0;
    const xmax = xs.length ? Math.max(...xs) : 1;
    const xpad = Math.max((xmax - xmin) * 0.08, step);
    const lines: { v: number | null; text: string; dash: number[] }[] = [
      { v: meanDiff, text: 'mean', dash: [] },
      { v: loaLow, text: '−1.96 SD', dash: [6, 4] },
      { v: loaHigh, text: '+1.96 SD', dash: [6, 4] },
    ];

    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: false, range: () => [xmin - xpad, xmax + xpad] },
        y: { range: () => [ylo, yhi] },
      },
      axes: [
        { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, label: 'Mean of the two scores', labelSize: 18, size: 36 },
        { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, label: diffLabel, labelSize: 18, size: 48 },
      ],
      series: [
        {},
        {
          label: 'difference',
          stroke: dot,
          width: 0,
          paths: () => null,
          points: { show: true, size: 7, width: 1, stroke: dot, fill: dot },
        },
      ],
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { left, top, width, height: h } = u.bbox;
            const dpr = devicePixelRatio || 1;
            ctx.save();
            ctx.beginPath();
            ctx.rect(left, top, width, h);
            ctx.clip();
            ctx.font = `${11 * dpr}px system-ui, sans-serif`;
            // uPlot leaves its axis text alignment on the context.
            ctx.textAlign = 'right';
            ctx.textBaseline = 'bottom';
            for (const line of lines) {
              if (line.v == null || !Number.isFinite(line.v)) continue;
              const y = u.valToPos(line.v, 'y', true);
              ctx.strokeStyle = lineColour;
              ctx.fillStyle = lineColour;
              ctx.lineWidth = 1.5 * dpr;
              ctx.setLineDash(line.dash.map((d) => d * dpr));
              ctx.beginPath();
              ctx.moveTo(left, y);
              ctx.lineTo(left + width, y);
              ctx.stroke();
              ctx.fillText(`${line.text} ${line.v.toFixed(2)}`, left + width - 4 * dpr, y - 3 * dpr);
            }
            ctx.restore();
          },
        ],
      },
    };
    const plot = new uPlot(opts, [xs, ys], el);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== plot.width) plot.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [points, meanDiff, loaLow, loaHigh, diffLabel, step, height]);

  return <div ref={host} role="img" aria-label={label} className="w-full overflow-hidden" data-testid="ba-plot" />;
}
