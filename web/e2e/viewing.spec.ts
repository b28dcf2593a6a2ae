// The reading room (issue 18): the image first (a viewer that fills the page, full screen, an
// overview, rotation, keyboard panning and zoom, zoom presets, the preview at once and the next
// image fetched ahead), nothing lost (the batch after a reload), the history's columns and
// names, plain words (the header's model, the AI by name, audit sentences, errors, sizes, the
// Models page's settings) and widths down to a tablet (768 px) and a phone (390 px).
//
// This file runs after review.spec.ts on the same server (files run in name order, one worker):
// review.spec.ts counts its own records, so the images here come after it. They are fixtures that
// review.spec.ts does not upload (the two 800 × 600 TIFFs and the tiled portrait), plus copies
// with their own content and long names for the history.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIRequestContext, Page } from '@playwright/test';
import { docsImages, expect, fixtureImages, test } from './fixtures';

const GRAY = 'gray_800x600.tif';
const RGBA = 'rgba_800x600.tif';
const PORTRAIT = 'cmu_portrait_deflate_tiled.tif';
const FILES = [GRAY, RGBA, PORTRAIT];

test.describe.configure({ mode: 'serial' });

const item = (page: Page, name: string) => page.locator(`[data-testid=queue-item][data-filename="${name}"]`);

interface Rec {
  id: number;
  filename: string;
  updated_by: string;
  review_status: string;
}

async function recordByName(request: APIRequestContext, filename: string): Promise<Rec> {
  const r = await request.get(`/api/images?search=${encodeURIComponent(filename)}&limit=50`);
  expect(r.ok()).toBeTruthy();
  const list = (await r.json()) as { items: Rec[] };
  const rec = list.items.find((x) => x.filename === filename);
  expect(rec, `record for ${filename}`).toBeTruthy();
  return rec as Rec;
}

async function uploadAndWait(page: Page, names: string[], paths = names.map((n) => join(fixtureImages, n))) {
  await page.getByTestId('file-input').setInputFiles(paths);
  for (const n of names) await expect(item(page, n)).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
}

/** The document does not scroll sideways, nor does the page's own area. */
async function noSidewaysScroll(page: Page, what: string) {
  const m = await page.evaluate(() => {
    const doc = document.scrollingElement as Element;
    const main = document.querySelector('main') as HTMLElement;
    const root = main.firstElementChild as HTMLElement | null;
    return {
      doc: doc.scrollWidth - window.innerWidth,
      main: main.scrollWidth - main.clientWidth,
      root: root ? root.scrollWidth - root.clientWidth : 0,
    };
  });
  expect(m.doc, `${what}: the page scrolls sideways`).toBeLessThanOrEqual(0);
  expect(m.main, `${what}: the main area scrolls sideways`).toBeLessThanOrEqual(1);
  expect(m.root, `${what}: the page's area scrolls sideways`).toBeLessThanOrEqual(1);
}

const num = async (page: Page, testId: string, attr: string) => Number(await page.getByTestId(testId).getAttribute(attr));

test('the image first: a large viewer, full screen, overview, rotation, keys, presets, and the next image at once', async ({ page, request }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  const requested: string[] = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  await page.goto('/');
  await uploadAndWait(page, FILES);

  // The first finished image opens by itself, as large as the page allows.
  const viewer = page.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  const box = await viewer.boundingBox();
  expect(box, 'the viewer is on the page').not.toBeNull();
  const { width, height } = box as { width: number; height: number };
  expect(width, 'viewer width at 1440 × 900').toBeGreaterThan(900);
  expect(height, 'viewer height at 1440 × 900').toBeGreaterThan(600);
  expect((width * height) / (1440 * 900), 'share of the screen').toBeGreaterThan(0.45);

  // The overview navigator, and no spinner once the tiles are in.
  await expect(viewer.locator('.navigator')).toBeVisible();
  await expect(viewer).toHaveAttribute('data-loading', 'false');
  await expect(page.getByTestId('viewer-loading')).toHaveCount(0);

  // Zoom presets: 1:1 is full resolution; Fit shows it all.
  await page.getByRole('button', { name: '1:1' }).click();
  await expect.poll(() => num(page, 'viewer', 'data-zoom')).toBeCloseTo(1, 1);
  await page.getByRole('button', { name: 'Fit' }).click();
  await expect(page.getByRole('button', { name: 'Fit' })).toHaveAttribute('aria-pressed', 'true');

  // Keys on the image: + zooms in, arrows pan, R and Shift+R rotate, 0 fits again.
  await page.locator('[data-testid=viewer] .openseadragon-canvas').first().click({ position: { x: 30, y: 30 } });
  const z0 = await num(page, 'viewer', 'data-zoom');
  await page.keyboard.press('+');
  await expect.poll(() => num(page, 'viewer', 'data-zoom')).toBeGreaterThan(z0 * 1.3);
  const x0 = Number((await viewer.getAttribute('data-center'))?.split(',')[0]);
  await page.keyboard.press('ArrowRight');
  await expect.poll(async () => Number((await viewer.getAttribute('data-center'))?.split(',')[0])).toBeGreaterThan(x0);
  await page.keyboard.press('r');
  await expect(viewer).toHaveAttribute('data-rotation', '90');
  await page.keyboard.press('Shift+R');
  await expect(viewer).toHaveAttribute('data-rotation', '0');
  await page.getByRole('button', { name: 'Rotate clockwise' }).click();
  await expect(viewer).toHaveAttribute('data-rotation', '90');
  await page.getByRole('button', { name: 'Rotate anticlockwise' }).click();
  await expect(viewer).toHaveAttribute('data-rotation', '0');
  await page.keyboard.press('0');
  await expect(page.getByRole('button', { name: 'Fit' })).toHaveAttribute('aria-pressed', 'true');
  // R on the image rotated it: the image was not marked reviewed.
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByText('Not reviewed')).toBeVisible();

  // Full screen with F (from anywhere but a field), Esc leaves; the button too.
  await panel.getByTestId('review-filename').click();
  await page.keyboard.press('f');
  const frame = page.getByTestId('viewer-frame');
  await expect(frame).toHaveAttribute('data-fullscreen', 'true');
  await expect.poll(async () => (await viewer.boundingBox())?.width ?? 0).toBeGreaterThan(1400);
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(docsImages, 'web-viewer-fullscreen.png') });
  await page.keyboard.press('Escape');
  await expect(frame).toHaveAttribute('data-fullscreen', 'false');
  await page.getByTestId('viewer-fullscreen').click();
  await expect(frame).toHaveAttribute('data-fullscreen', 'true');
  await page.getByTestId('viewer-fullscreen').click();
  await expect(frame).toHaveAttribute('data-fullscreen', 'false');
  await page.screenshot({ path: join(docsImages, 'web-reading.png') });

  // The next unreviewed image was fetched ahead (its record, preview and first tiles) …
  const current = await panel.getAttribute('data-record-id');
  const names = await page.locator('[data-testid=queue-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-filename')));
  const next = names[(names.indexOf((await panel.getByTestId('review-filename').innerText()).trim()) + 1) % names.length] as string;
  const nextRec = await recordByName(request, next);
  expect(String(nextRec.id)).not.toBe(current);
  await expect.poll(() => requested.includes(`/api/images/${nextRec.id}/preview.jpg`), { message: 'next preview fetched ahead' }).toBe(true);
  await expect.poll(() => requested.includes(`/api/images/${nextRec.id}/tiles.dzi`), { message: 'next tiles fetched ahead' }).toBe(true);

  // … so “Mark reviewed & next” shows it at once: measured in the page, from the click to the
  // next image's pixels on screen (the save's round trip included).
  const shownAfter = await page.evaluate(async () => {
    const t0 = performance.now();
    const name0 = document.querySelector('[data-testid=review-filename]')?.textContent;
    (document.querySelector('[data-testid=review-next]') as HTMLButtonElement).click();
    return await new Promise<number>((ok) => {
      const tick = () => {
        const t = performance.now() - t0;
        const switched = document.querySelector('[data-testid=review-filename]')?.textContent !== name0;
        const img = document.querySelector<HTMLImageElement>('[data-testid=viewer-preview]');
        const ready = document.querySelector('[data-testid=viewer]')?.getAttribute('data-state') === 'ready';
        if ((switched && ((img?.complete && img.naturalWidth > 0) || ready)) || t > 20_000) ok(t);
        else requestAnimationFrame(tick);
      };
      tick();
    });
  });
  await expect(panel.getByTestId('review-filename')).toHaveText(next);
  // Reported, not asserted (tests make no timing claims; the target is 300 ms, about 100 ms
  // measured on an idle machine): what is asserted is that the preview and first tiles were
  // fetched ahead, above, and that the next image's pixels came up (within the 20 s cap).
  test.info().annotations.push({ type: 'next image visible after (ms)', description: shownAfter.toFixed(0) });
  expect(shownAfter, 'the next image came up').toBeLessThan(20_000);
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  await expect(viewer).toHaveAttribute('data-loading', 'false');
});

test('nothing lost: the batch comes back after a reload, and Processed counts what the server has', async ({ page }) => {
  await page.goto('/');
  await uploadAndWait(page, [GRAY, RGBA]);
  await expect(page.getByTestId('processed-count')).toHaveText('2');
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('histoscore.batch') ?? '[]') as { id: number; name: string; at: number }[]);
  expect(stored.map((e) => e.name).sort()).toEqual([GRAY, RGBA].sort());

  await page.goto('/history');
  await page.reload();
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Score', exact: true }).click();
  for (const n of [GRAY, RGBA]) await expect(item(page, n)).toHaveAttribute('data-stage', 'done');
  await expect(page.getByTestId('processed-count')).toHaveText('2');
  await expect(page.getByTestId('queue-summary')).toContainText('2 done');
  // The restored items open like any other.
  await item(page, RGBA).getByRole('button', { name: `Review ${RGBA}` }).click();
  await expect(page.getByTestId('review-filename')).toHaveText(RGBA);

  // An upload older than 24 h is not in the batch any more.
  await page.evaluate(() => {
    const list = JSON.parse(localStorage.getItem('histoscore.batch') ?? '[]') as { at: number }[];
    for (const e of list) e.at -= 25 * 3600 * 1000;
    localStorage.setItem('histoscore.batch', JSON.stringify(list));
  });
  await page.goto('/');
  await expect(page.getByTestId('processed-count')).toHaveText('0');
  await expect(page.getByTestId('queue-item')).toHaveCount(0);
});

test('history: thumbnails keep their size, columns adapt, names are cut in the middle with the full name on hover', async ({ page, request }, testInfo) => {
  // Two images of one series with long names (their own content: a TIFF with a few bytes after it).
  const bytes = readFileSync(join(fixtureImages, GRAY));
  const long = ['S-3618-10x-HE-pancreas-biopsy_Image004_ch00.tif', 'S-3618-10x-HE-pancreas-biopsy_Image005_ch00.tif'];
  const paths = long.map((n, i) => {
    const p = testInfo.outputPath(n);
    writeFileSync(p, Buffer.concat([bytes, Buffer.from(`\n${n} ${i} ${Date.now()}\n`)]));
    return p;
  });
  await page.goto('/');
  await uploadAndWait(page, long, paths);
  const rec = await recordByName(request, long[0] as string);

  for (const width of [1024, 1280, 1440, 1920]) {
    for (const open of [false, true]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(open ? `/history?search=S-3618&open=${rec.id}` : '/history?search=S-3618');
      const rows = page.getByTestId('history-row');
      await expect(rows).toHaveCount(2);
      if (open && width >= 1024) await expect(page.getByTestId('review-panel')).toBeVisible();
      for (const thumb of await page.getByTestId('row-thumb').all()) {
        const b = await thumb.boundingBox();
        expect(b?.width ?? 0, `thumbnail at ${width} px${open ? ' with the panel open' : ''}`).toBeGreaterThanOrEqual(30);
      }
      // The distinguishing end of each name is visible, the full name is on hover.
      for (const [i, name] of long.entries()) {
        const link = page.locator(`[data-testid=history-row]`).filter({ has: page.locator(`[title="${name}"]`) }).getByTestId('row-filename');
        await expect(link).toHaveAttribute('title', name);
        const shown = await link.innerText();
        expect(shown).toContain('…');
        expect(shown, `name ${i} at ${width} px`).toMatch(/Image00[45]_ch00\.tif$/);
        const fits = await link.evaluate((el) => el.scrollWidth <= el.clientWidth + 1);
        expect(fits, `the cut name fits its cell at ${width} px`).toBe(true);
      }
      // Less important columns give way on narrow tables; the scores stay.
      const visibleHeaders = await page.locator('[data-testid=history-table] thead th').evaluateAll((ths) =>
        ths.filter((th) => getComputedStyle(th).display !== 'none').map((th) => th.textContent?.trim() ?? ''),
      );
      expect(visibleHeaders.join('|')).toContain('Total');
      if (width === 1920 && !open) expect(visibleHeaders.join('|')).toMatch(/Uploaded/);
      if (width === 1024 && open) expect(visibleHeaders.join('|')).not.toMatch(/Uploaded/);
      // … so that the table itself fits: no sideways scrolling inside it either.
      const tableOver = await page.getByTestId('history-table').evaluate((t) => (t.parentElement as HTMLElement).scrollWidth - (t.parentElement as HTMLElement).clientWidth);
      expect(tableOver, `the table scrolls sideways at ${width} px${open ? ' with the panel open' : ''}`).toBeLessThanOrEqual(1);
      await noSidewaysScroll(page, `history at ${width} px${open ? ' with the panel open' : ''}`);
    }
  }
});

test('plain words: the model by name, the AI by name, audit sentences, sizes, settings explained, errors with a way out', async ({ page, request }) => {
  // The header names the active model and when it became active; the engine is on the Models page.
  await page.goto('/');
  const header = page.getByTestId('header-model');
  await expect(header).toHaveText(/.+, activated \d{1,2} [A-Z][a-z]{2}( \d{4})?$/);
  const config = (await (await request.get('/api/config')).json()) as { model: { id: string; engine: string }; schema: { step: number; metrics: { name: string; max: number }[] } };
  await expect(header).not.toContainText(config.model.id.slice(0, 12));
  await expect(header).not.toContainText(config.model.engine);
  const models = (await (await request.get('/api/models')).json()) as { id: string; name: string; active: boolean }[];
  const active = models.find((m) => m.active && m.id === config.model.id) as { name: string };
  await expect(header).toContainText(active.name);

  // Sizes in decimal units: 1 920 240 bytes is 1.9 MB, 480 208 bytes is 480 kB.
  await uploadAndWait(page, [GRAY, RGBA]);
  await expect(item(page, RGBA)).toContainText('1.9 MB');
  await expect(item(page, GRAY)).toContainText('480 kB');

  // An AI change reads “AI (model name)” in the history and the correction history.
  const rec = await recordByName(request, RGBA);
  await page.goto(`/history?search=${encodeURIComponent(RGBA)}&open=${rec.id}`);
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('draft-model')).toContainText(`AI (${active.name})`);
  const audit = panel.getByTestId('audit');
  await expect(audit.getByTestId('audit-sentence').filter({ hasText: `Scored by AI (${active.name})` })).toHaveCount(1);
  if (rec.updated_by.startsWith('model:')) await expect(page.getByTestId('row-changed-by').first()).toContainText(`AI (${active.name})`);

  // A correction reads as a sentence: “Metric changed from a to b by you”.
  const metric = config.schema.metrics[0] as { name: string; max: number };
  const input = panel.getByTestId('score-input').first();
  const before = Number(await input.inputValue());
  const up = before + config.schema.step <= metric.max;
  await input.focus();
  await page.keyboard.press(up ? 'ArrowUp' : 'ArrowDown');
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  const escaped = metric.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await expect(audit.getByTestId('audit-sentence').first()).toHaveText(new RegExp(`^${escaped} changed from [0-9.]+ to [0-9.]+ by you$`));
  await expect(page.getByTestId('row-changed-by').first()).toContainText('you');

  // The Models page: the engine, and one sentence for each setting.
  await page.goto('/models');
  await expect(page.getByTestId('model-engine')).toContainText(/ONNX Runtime|tract/);
  const hints = page.getByTestId('setting-help');
  expect(await hints.count()).toBeGreaterThanOrEqual(5);
  for (const h of await hints.all()) expect((await h.innerText()).trim().length).toBeGreaterThan(20);

  // The server out of reach: what happened, what to do, a button; never the browser's error.
  await page.goto('/history');
  await expect(page.getByTestId('history-row').first()).toBeVisible();
  await page.route('**/api/images?**', (route) => route.abort('failed'));
  await page.getByTestId('history-search').fill('unreachable');
  const alert = page.getByRole('alert').filter({ hasText: 'could not be loaded' });
  await expect(alert).toContainText('The server could not be reached');
  await expect(alert).not.toContainText(/TypeError|Failed to fetch|HTTP/);
  await page.unroute('**/api/images?**');
  await alert.getByRole('button', { name: 'Try again' }).click();
  await expect(alert).toHaveCount(0);

  // Upload refusals in words, with the way out as a button.
  await page.route('**/api/images', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    await route.fulfill({
      status: 409,
      contentType: 'application/json',
      body: JSON.stringify({ error: 'filename_conflict', detail: 'a different image named "x" is already stored; upload with ?on_conflict=keep_both to keep both', existing_id: rec.id }),
    });
  });
  await page.goto('/');
  // The restored batch first (the page settles on its first image).
  await expect(page.getByTestId('processed-count')).toHaveText('2');
  await expect(page.getByTestId('viewer')).toBeVisible();
  await page.getByTestId('file-input').setInputFiles(join(fixtureImages, PORTRAIT));
  const refused = item(page, PORTRAIT);
  await expect(refused).toHaveAttribute('data-stage', 'failed');
  await expect(refused.getByTestId('reason')).toContainText('already stored under this file name');
  await expect(refused.getByTestId('reason')).not.toContainText(/on_conflict|HTTP|\?/);
  await expect(refused.getByRole('button', { name: 'Keep both' })).toBeVisible();
});

test('width: no sideways scrolling down to a tablet in portrait (768 px)', async ({ page, request }) => {
  const rec = await recordByName(request, GRAY);
  await page.setViewportSize({ width: 768, height: 1024 });
  for (const path of ['/', `/?image=${rec.id}`, '/history', `/history?open=${rec.id}`, '/models', '/studies', '/studies/new']) {
    await page.goto(path);
    await expect(page.locator('main')).not.toContainText('Loading…');
    if (path.includes(String(rec.id))) await expect(page.getByTestId('viewer')).toHaveAttribute('data-state', 'ready');
    await noSidewaysScroll(page, `${path} at 768 px`);
  }
});

test('a phone (390 px): upload with the file picker, change a score, see it saved', async ({ page, request }) => {
  const { schema } = (await (await request.get('/api/config')).json()) as { schema: { step: number; metrics: { name: string; max: number }[] } };
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/');
  await expect(page.getByTestId('dropzone')).toBeVisible();
  await expect(page.getByRole('button', { name: 'browse files' })).toBeVisible();
  await noSidewaysScroll(page, 'score page at 390 px');
  await uploadAndWait(page, [PORTRAIT]);
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('review-filename')).toHaveText(PORTRAIT);
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-state', 'ready');
  await noSidewaysScroll(page, 'an open image at 390 px');

  const metric = schema.metrics[0] as { name: string; max: number };
  const input = panel.getByTestId('score-input').first();
  await input.scrollIntoViewIfNeeded();
  const before = Number(await input.inputValue());
  const up = before + schema.step <= metric.max;
  const after = up ? before + schema.step : before - schema.step;
  await input.focus();
  await page.keyboard.press(up ? 'ArrowUp' : 'ArrowDown');
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  const rec = await recordByName(request, PORTRAIT);
  const saved = (await (await request.get(`/api/images/${rec.id}`)).json()) as { scores: Record<string, number> };
  expect(saved.scores[metric.name]).toBe(after);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.locator('main > div').first().evaluate((el) => el.scrollTo(0, 0));
  await page.screenshot({ path: join(docsImages, 'web-score-phone.png') });
});

test('nothing lost: uploading a deleted image again offers to restore it, with its corrections', async ({ page, request }, testInfo) => {
  const name = 'S-3619-10x_Image007_ch00.tif';
  const path = testInfo.outputPath(name);
  writeFileSync(path, Buffer.concat([readFileSync(join(fixtureImages, GRAY)), Buffer.from(`\n${name} ${Date.now()}\n`)]));
  await page.goto('/');
  await uploadAndWait(page, [name], [path]);
  const rec = await recordByName(request, name);
  expect((await request.delete(`/api/images/${rec.id}`, { data: { reason: 'wrong slide' } })).ok()).toBeTruthy();

  // The batch forgets the deleted record after a reload.
  await page.goto('/');
  await expect(page.getByTestId('dropzone')).toBeVisible();
  await expect.poll(() => page.evaluate(() => localStorage.getItem('histoscore.batch'))).toBeNull();
  await expect(page.getByTestId('queue-item')).toHaveCount(0);
  await page.getByTestId('file-input').setInputFiles(path);
  const again = item(page, name);
  await expect(again).toHaveAttribute('data-stage', 'failed');
  await expect(again.getByTestId('reason')).toContainText('This image was deleted earlier.');
  await expect(again.getByTestId('reason')).not.toContainText(/POST|on_conflict|\?/);
  await expect(again.getByRole('button', { name: 'Upload as new' })).toBeVisible();
  await again.getByRole('button', { name: 'Restore' }).click();
  await expect(again).toHaveAttribute('data-stage', 'done');
  await expect(again).toContainText('Already scored');
  expect((await request.get(`/api/images/${rec.id}`)).status()).toBe(200);
  await expect(page.getByTestId('processed-count')).toHaveText('1');
});
