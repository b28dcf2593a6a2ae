import { describe, expect, it } from 'vitest';
import type { FieldRow, SlideMeta } from '../api/slides';
import type { ImageRecord, Schema } from '../api/types';
import {
  chooseScaleBar,
  distributionText,
  fieldCells,
  fieldCounts,
  fieldCountText,
  fieldProgressText,
  fieldSummary,
  formatLength,
  formatMpp,
  isSlide,
  legendGradient,
  legendTicks,
  progressOf,
  rampRgb,
  scoreColour,
  slideFacts,
  slideOf,
  validProgress,
  vendorLabel,
  warningSentence,
} from './slides';

const schema = {
  step: 0.5,
  metrics: [
    { name: 'inflammation', max: 3 },
    { name: 'fibrosis', max: 4 },
  ],
} as unknown as Schema;

const meta: SlideMeta = {
  vendor: 'aperio',
  levels: [
    { width: 46000, height: 32914, downsample: 1 },
    { width: 11500, height: 8228, downsample: 4 },
    { width: 2875, height: 2057, downsample: 16 },
  ],
  mpp_x: 0.499,
  mpp_y: 0.499,
  objective_power: 20,
  warnings: [],
};

const record = (extra: Record<string, unknown>) =>
  ({ id: 1, version: 1, status: 'scored', filename: 'CMU-1.svs', scores: {}, draft: null, width: 46000, height: 32914, ...extra }) as unknown as ImageRecord;

const field = (index: number, x: number, y: number, scores: Record<string, number> | null, extra: Partial<FieldRow> = {}): FieldRow => ({
  index,
  x,
  y,
  width: 1000,
  height: 1000,
  tissue_share: 0.64,
  scores,
  raw: null,
  error: scores ? null : 'unreadable: bad tile',
  roi: false,
  ...extra,
});

describe('a record is a slide', () => {
  it('by its kind or its metadata; images have neither', () => {
    expect(isSlide(record({ kind: 'slide', slide: meta }))).toBe(true);
    expect(isSlide(record({ kind: 'image' }))).toBe(false);
    expect(isSlide(record({}))).toBe(false);
    expect(slideOf(record({ kind: 'image' }))).toBeNull();
    expect(slideOf(record({ kind: 'slide', slide: meta }))?.mpp_x).toBe(0.499);
  });
  it('reads unusable numbers in the metadata as unknown', () => {
    const s = slideOf(record({ kind: 'slide', slide: { ...meta, mpp_x: 0, mpp_y: null, objective_power: -1, warnings: ['', 'x'] } }));
    expect(s?.mpp_x).toBeNull();
    expect(s?.objective_power).toBeNull();
    expect(s?.warnings).toEqual(['x']);
  });
});

describe('scoring progress', () => {
  it('counts the fields while the slide is scored', () => {
    expect(fieldProgressText('scoring', { done: 3, total: 10 })).toBe('Scoring fields 3 / 10');
    expect(fieldProgressText('queued', { done: 0, total: 40 })).toBe('Scoring fields 0 / 40');
    expect(fieldProgressText('scored', { done: 40, total: 40 })).toBeNull();
    expect(fieldProgressText('scoring', null)).toBeNull();
  });
  it('ignores a count that makes no sense', () => {
    expect(validProgress({ done: 1, total: 0 })).toBeNull();
    expect(validProgress({ done: 'x', total: 3 })).toBeNull();
    expect(validProgress({ done: 12, total: 10 })).toEqual({ done: 10, total: 10 });
    expect(progressOf(record({ progress: { done: 12, total: 40 } }))).toEqual({ done: 12, total: 40 });
    expect(progressOf(record({}))).toBeNull();
  });
});

describe('slide facts', () => {
  it('show the scanner, size, resolution, objective and pyramid in words', () => {
    const facts = Object.fromEntries(slideFacts(meta, 46000, 32914).map((f) => [f.label, f.value]));
    expect(facts).toEqual({
      Scanner: 'Aperio',
      Size: '46\u202f000 × 32\u202f914 px',
      Resolution: '0.499 µm per pixel',
      Objective: '20×',
      Pyramid: '3 levels',
    });
  });
  it('say when the resolution or objective is unknown', () => {
    const facts = Object.fromEntries(slideFacts({ ...meta, mpp_x: null, mpp_y: null, objective_power: null, levels: [meta.levels[0] as SlideMeta['levels'][number]] }, 2220, 2967).map((f) => [f.label, f.value]));
    expect(facts.Resolution).toBe('resolution unknown');
    expect(facts.Objective).toBe('not recorded');
    expect(facts.Pyramid).toBe('one level');
  });
  it('name scanners people know and keep others as the file says', () => {
    expect(vendorLabel('hamamatsu')).toBe('Hamamatsu');
    expect(vendorLabel('generic-tiff')).toBe('pyramidal TIFF');
    expect(vendorLabel('zeiss')).toBe('zeiss');
    expect(formatMpp(0.2527, 0.2601)).toBe('0.253 × 0.26 µm per pixel');
  });
  it('turn warnings into sentences', () => {
    expect(warningSentence('the slide gives no usable resolution')).toBe('The slide gives no usable resolution.');
  });
});

describe('field scores', () => {
  it('give the range of the field scores beside the draft', () => {
    expect(distributionText({ metric: 'inflammation', draft: 1.5, p10: 1, p50: 1.5, p90: 2.5 }, 0.5)).toBe('fields p10–p90: 1.0–2.5, median 1.5');
    expect(distributionText({ metric: 'x', draft: 1, p10: 0.125, p50: 1, p90: 2 }, 0.25)).toBe('fields p10–p90: 0.13–2.00, median 1.00');
  });
  it('count the fields the draft is made of', () => {
    const fields = [field(0, 0, 0, { inflammation: 1 }), field(1, 500, 0, null), field(2, 0, 500, { inflammation: 2 }), field(0, 0, 0, { inflammation: 3 }, { roi: true })];
    const c = fieldCounts(fields);
    expect(c).toEqual({ scored: 2, unreadable: 1, regions: 1 });
    expect(fieldCountText(c)).toBe('Scored on 2 fields (1 could not be read)');
    expect(fieldCountText({ scored: 38, unreadable: 0, regions: 0 })).toBe('Scored on 38 fields');
    expect(fieldCountText({ scored: 1, unreadable: 0, regions: 0 })).toBe('Scored on 1 field');
  });
  it('show a hovered field’s number, tissue and scores, or why it has none', () => {
    expect(fieldSummary(field(12, 0, 0, { inflammation: 1.5, fibrosis: 2 }), schema)).toEqual({
      title: 'Field 12 · tissue 64 %',
      lines: ['inflammation: 1.5', 'fibrosis: 2'],
    });
    expect(fieldSummary(field(3, 0, 0, null), schema).lines).toEqual(['unreadable: bad tile']);
  });
});

describe('heatmap colours', () => {
  it('run from viridis purple at 0 to yellow at the maximum', () => {
    expect(rampRgb(0)).toEqual([68, 1, 84]);
    expect(rampRgb(1)).toEqual([253, 231, 37]);
    expect(rampRgb(0.5)).toEqual([33, 145, 140]);
    expect(rampRgb(0.125)).toEqual([64, 42, 112]);
    expect(scoreColour(3, 3)).toBe('rgb(253, 231, 37)');
    expect(scoreColour(0, 3)).toBe('rgb(68, 1, 84)');
  });
  it('clamp scores outside the range', () => {
    expect(rampRgb(-1)).toEqual([68, 1, 84]);
    expect(scoreColour(5, 3)).toBe('rgb(253, 231, 37)');
    expect(rampRgb(Number.NaN)).toEqual([68, 1, 84]);
  });
  it('label the legend 0, the middle and the maximum over the same ramp', () => {
    expect(legendTicks(3).map((t) => t.label)).toEqual(['0', '1.5', '3']);
    expect(legendGradient()).toBe(
      'linear-gradient(to right, rgb(68, 1, 84) 0%, rgb(59, 82, 139) 25%, rgb(33, 145, 140) 50%, rgb(94, 201, 98) 75%, rgb(253, 231, 37) 100%)',
    );
  });
});

describe('heatmap cells', () => {
  it('draw half-overlapping fields as tiles around their centres, clipped to the slide', () => {
    // A 2 × 2 grid of 1000 px fields laid every 500 px, the first padded past the left edge.
    const fields = [field(0, -250, 0, { a: 1 }), field(1, 250, 0, { a: 1 }), field(2, -250, 500, { a: 1 }), field(3, 250, 500, { a: 1 })];
    const cells = fieldCells(fields, 1200, 1400);
    expect(cells).toEqual([
      { field: 0, x: 0, y: 250, width: 500, height: 500 },
      { field: 1, x: 500, y: 250, width: 500, height: 500 },
      { field: 2, x: 0, y: 750, width: 500, height: 500 },
      { field: 3, x: 500, y: 750, width: 500, height: 500 },
    ]);
  });
  it('draw a lone field and a region of interest whole', () => {
    expect(fieldCells([field(0, 100, 100, { a: 1 })])).toEqual([{ field: 0, x: 100, y: 100, width: 1000, height: 1000 }]);
    const cells = fieldCells([field(0, 0, 0, { a: 1 }), field(1, 500, 0, { a: 1 }), field(0, 200, 200, { a: 1 }, { roi: true, width: 300, height: 300 })]);
    expect(cells[2]).toEqual({ field: 2, x: 200, y: 200, width: 300, height: 300 });
  });
});

describe('scale bar', () => {
  it('picks 100 µm at 0.5 µm per pixel when 250 image pixels take 125 screen pixels', () => {
    const bar = chooseScaleBar(0.5, 125 / 250);
    expect(bar).toEqual({ um: 100, px: 100, label: '100 µm' });
  });
  it('picks a shorter round length when zoomed in', () => {
    // Two screen pixels per image pixel: 50 µm is 100 image pixels, 200 on the screen.
    expect(chooseScaleBar(0.5, 250 / 125)).toEqual({ um: 50, px: 200, label: '50 µm' });
    expect(chooseScaleBar(0.25, 2)?.label).toBe('20 µm');
  });
  it('switches to millimetres for whole-slide views', () => {
    // The whole of a 46 000 px slide in 1000 screen pixels.
    const bar = chooseScaleBar(0.499, 1000 / 46000);
    expect(bar?.label).toBe('5 mm');
    expect(bar?.px).toBeGreaterThanOrEqual(100);
    expect(bar?.px).toBeLessThan(250);
    expect(formatLength(1000)).toBe('1 mm');
    expect(formatLength(0.5)).toBe('0.5 µm');
  });
  it('is not shown without a resolution or a zoom', () => {
    expect(chooseScaleBar(null, 1)).toBeNull();
    expect(chooseScaleBar(0.5, null)).toBeNull();
    expect(chooseScaleBar(0.5, 0)).toBeNull();
  });
  it('always lies between 100 and 250 screen pixels', () => {
    for (let z = 0.001; z < 4; z *= 1.37) {
      const bar = chooseScaleBar(0.5, z);
      if (!bar) continue;
      expect(bar.px).toBeGreaterThanOrEqual(100);
      expect(bar.px).toBeLessThan(250);
    }
  });
});
