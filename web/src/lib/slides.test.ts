import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import type { FieldRow, SlideMeta } from '../api/slides';
import type { ImageRecord, Schema } from '../api/types';
import {
  chooseScaleBar,
  clampRect,
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
  largeEnough,
  legendTicks,
  MIN_REGION_SIDE,
  progressOf,
  rampRgb,
  rectFromPoints,
  REGION_OUTSIDE,
  REGION_TOO_SMALL,
  regionErrorText,
  regionFromDrag,
  regionsOf,
  roiChanges,
  roiLabel,
  roiReason,
  roiScores,
  roiScoresText,
  roiText,
  roundRect,
  scoreColour,
  screenTopLeft,
  slideFacts,
  slideOf,
  validProgress,
  vendorLabel,
  warningSentence,
  withRegion,
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
  it('show a hovered region’s label, who drew it and its scores', () => {
    const roi = field(1, 200, 300, { inflammation: 1, fibrosis: 2.5 }, { roi: true, tissue_share: 1, created_by: 'dr. Ames' });
    expect(fieldSummary(roi, schema)).toEqual({ title: 'ROI 1 · drawn by dr. Ames', lines: ['inflammation: 1', 'fibrosis: 2.5'] });
    // Single-user mode: "local" is the person at the screen.
    expect(fieldSummary({ ...roi, created_by: 'local' }, schema).title).toBe('ROI 1 · drawn by you');
    expect(fieldSummary({ ...roi, created_by: null }, schema).title).toBe('ROI 1 · drawn by someone');
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

describe('drawing a region of interest', () => {
  it('makes a rectangle of two corners, whichever way the drag went', () => {
    expect(rectFromPoints({ x: 10, y: 20 }, { x: 110, y: 220 })).toEqual({ x: 10, y: 20, width: 100, height: 200 });
    expect(rectFromPoints({ x: 110, y: 220 }, { x: 10, y: 20 })).toEqual({ x: 10, y: 20, width: 100, height: 200 });
    expect(rectFromPoints({ x: 110, y: 20 }, { x: 10, y: 220 })).toEqual({ x: 10, y: 20, width: 100, height: 200 });
  });
  it('keeps the part on the slide', () => {
    expect(clampRect({ x: -50, y: -10, width: 200, height: 100 }, 1000, 800)).toEqual({ x: 0, y: 0, width: 150, height: 90 });
    expect(clampRect({ x: 900, y: 700, width: 300, height: 300 }, 1000, 800)).toEqual({ x: 900, y: 700, width: 100, height: 100 });
    expect(clampRect({ x: 1200, y: 0, width: 100, height: 100 }, 1000, 800)).toBeNull();
    expect(clampRect({ x: -300, y: 0, width: 100, height: 100 }, 1000, 800)).toBeNull();
  });
  it('rounds to whole pixels without leaving the slide', () => {
    expect(roundRect({ x: 10.4, y: 20.6, width: 99.4, height: 100 })).toEqual({ x: 10, y: 21, width: 100, height: 100 });
    const r = roundRect({ x: 900.5, y: 0, width: 99.5, height: 64.2 });
    expect(r.x + r.width).toBe(1000);
    for (const v of Object.values(r)) expect(Number.isInteger(v)).toBe(true);
  });
  it('needs at least 64 × 64 pixels of the slide', () => {
    expect(MIN_REGION_SIDE).toBe(64);
    expect(largeEnough({ x: 0, y: 0, width: 64, height: 64 })).toBe(true);
    expect(largeEnough({ x: 0, y: 0, width: 63.9, height: 500 })).toBe(false);
  });
  it('turns a drag into the region sent, clamped and whole, or says what is wrong in words', () => {
    expect(regionFromDrag({ x: 1100.7, y: 400.2 }, { x: 100.2, y: -30 }, 2220, 2967)).toEqual({
      ok: true,
      region: { x: 100, y: 0, width: 1001, height: 400 },
    });
    expect(regionFromDrag({ x: 2100, y: 2900 }, { x: 2600, y: 3400 }, 2220, 2967)).toEqual({ ok: true, region: { x: 2100, y: 2900, width: 120, height: 67 } });
    expect(regionFromDrag({ x: 10, y: 10 }, { x: 50, y: 500 }, 2220, 2967)).toEqual({ ok: false, message: REGION_TOO_SMALL });
    // A click (no drag) is too small too; a drag off the slide lies outside it.
    expect(regionFromDrag({ x: 10, y: 10 }, { x: 10, y: 10 }, 2220, 2967)).toEqual({ ok: false, message: REGION_TOO_SMALL });
    expect(regionFromDrag({ x: 10, y: 10 }, { x: 400, y: 10 }, 2220, 2967)).toEqual({ ok: false, message: REGION_TOO_SMALL });
    expect(regionFromDrag({ x: -500, y: 10 }, { x: -100, y: 500 }, 2220, 2967)).toEqual({ ok: false, message: REGION_OUTSIDE });
    // At the slide's edge a region smaller once clamped is refused.
    expect(regionFromDrag({ x: 2200, y: 10 }, { x: 2400, y: 500 }, 2220, 2967)).toEqual({ ok: false, message: REGION_TOO_SMALL });
    expect(REGION_TOO_SMALL).toBe('Draw a larger region: at least 64 × 64 pixels of the slide.');
  });
});

describe('regions of interest', () => {
  it('are labelled at the corner the screen shows top left, however the view is turned', () => {
    const r = { x: 10, y: 20, width: 100, height: 50 };
    expect(screenTopLeft(r, 0)).toEqual({ x: 10, y: 20 });
    expect(screenTopLeft(r, 90)).toEqual({ x: 10, y: 70 });
    expect(screenTopLeft(r, 180)).toEqual({ x: 110, y: 70 });
    expect(screenTopLeft(r, 270)).toEqual({ x: 110, y: 20 });
    expect(screenTopLeft(r, -90)).toEqual({ x: 110, y: 20 });
  });
  const roi = field(1, 200, 300, { fibrosis: 2, inflammation: 1.5, other: 9 }, { roi: true, tissue_share: 1, created_by: 'dr. Ames' });
  it('are named "ROI n", with who drew them and their scores in the schema’s order', () => {
    expect(roiLabel(roi)).toBe('ROI 1');
    expect(roiScoresText(roi, schema)).toBe('inflammation 1.5, fibrosis 2.0');
    expect(roiText(roi, schema)).toBe('ROI 1 (dr. Ames): inflammation 1.5, fibrosis 2.0');
    expect(roiText({ ...roi, index: 2, created_by: 'local' }, schema)).toBe('ROI 2 (you): inflammation 1.5, fibrosis 2.0');
    expect(roiText({ ...roi, scores: null, error: 'unreadable: bad tile' }, schema)).toBe('ROI 1 (dr. Ames): unreadable: bad tile');
    expect(roiReason(roi)).toBe('scores of ROI 1');
  });
  it('are the fields marked roi, after the grid', () => {
    const grid = [field(0, 0, 0, { inflammation: 1 }), field(1, 500, 0, { inflammation: 2 })];
    expect(regionsOf([...grid, roi])).toEqual([roi]);
    expect(regionsOf(null)).toEqual([]);
  });
  it('give the schema’s metrics as scores, and what using them would change', () => {
    expect(roiScores(roi, schema)).toEqual({ inflammation: 1.5, fibrosis: 2 });
    expect(roiScores({ ...roi, scores: null }, schema)).toBeNull();
    expect(roiScores({ ...roi, scores: { other: 1 } }, schema)).toBeNull();
    expect(roiChanges({ inflammation: 1.5, fibrosis: 2 }, { inflammation: 1.5, fibrosis: 1 })).toEqual(['fibrosis']);
    expect(roiChanges({ inflammation: 1.5, fibrosis: 2 }, { inflammation: 1.5, fibrosis: 2 })).toEqual([]);
    expect(roiChanges({ inflammation: 1.5 }, {})).toEqual(['inflammation']);
  });
  it('show the one just drawn until the fields list it', () => {
    const listed = [field(0, 0, 0, { inflammation: 1 }, { roi: true })];
    expect(withRegion(listed, null)).toBe(listed);
    expect(withRegion(listed, roi)).toEqual([...listed, roi]);
    expect(withRegion([...listed, roi], { ...roi })).toHaveLength(2);
  });
  it('explain the server’s refusals in plain words', () => {
    const refusal = (status: number, error: string, detail: string, field?: string) => new ApiError(status, { error, detail, field });
    expect(regionErrorText(refusal(422, 'invalid', 'draw a region of at least 64 × 64 level-0 pixels', 'width'))).toBe(REGION_TOO_SMALL);
    expect(regionErrorText(refusal(422, 'invalid', 'the region must lie inside the slide (0, 0)–(2220, 2967) in level-0 pixels', 'x'))).toBe(
      'Draw the region inside the slide: part of it lies outside.',
    );
    expect(regionErrorText(refusal(422, 'invalid', 'openslide: cannot read region', 'width'))).toBe('This region could not be read from the slide. Draw a smaller one.');
    expect(regionErrorText(refusal(403, 'blinded_read', 'you read image 3 in a blinded study'))).toMatch(/^You read this slide in a blinded study/);
    expect(regionErrorText(refusal(403, 'forbidden', 'pathologists only'))).toBe('Your account may not draw regions.');
    const net = regionErrorText(new ApiError(0, { error: 'network', detail: 'the server could not be reached' }));
    expect(net).toMatch(/^The region was not scored\. The server could not be reached\./);
    expect(net).not.toMatch(/HTTP|TypeError/);
  });
});
