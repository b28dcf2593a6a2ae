// The scenario against the real server: drop three TIFFs and an invalid file, watch the
// queue, review one (zoom, keyboard correction, autosave), reload, re-upload, export; then the
// history page, a concurrent-edit conflict, dark mode and the supported widths.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIRequestContext, Page } from '@playwright/test';
import { columnName, parseCsv } from './csv';
import { docsImages, expect, fixtureImages, test } from './fixtures';

const TIFFS = ['S-3602-10X_Image001_ch00.tif', 'S-3602-10X_Image002_ch00.tif', 'S-4500-10x_Image123_RAW_ch00.tif'];
const OPENED = TIFFS[1] as string;

test.describe.configure({ mode: 'serial' });

interface Config {
  schema: { step: number; metrics: { name: string; max: number }[] };
}

async function config(request: APIRequestContext): Promise<Config> {
  const r = await request.get('/api/config');
  expect(r.ok()).toBeTruthy();
  return (await r.json()) as Config;
}

/** Formats like the UI: no trailing zeros. */
const fmt = (v: number) => String(Number(v.toFixed(4)));

const item = (page: Page, name: string) => page.locator(`[data-testid=queue-item][data-filename="${name}"]`);

async function recordByName(request: APIRequestContext, filename: string) {
  const r = await request.get(`/api/images?search=${encodeURIComponent(filename)}&limit=10`);
  expect(r.ok()).toBeTruthy();
  const list = (await r.json()) as { items: { id: number; filename: string; scores: Record<string, number> }[] };
  const rec = list.items.find((x) => x.filename === filename);
  expect(rec, `record for ${filename}`).toBeTruthy();
  return rec as { id: number; filename: string; scores: Record<string, number> };
}

let corrected: { metric: string; value: number } | null = null;

test('drop, watch the queue, review, correct with the keyboard, reload, re-upload, export', async ({ page, request }, testInfo) => {
  const { schema } = await config(request);
  mkdirSync(docsImages, { recursive: true });
  const invalid = testInfo.outputPath('not-an-image.tif');
  writeFileSync(invalid, 'This is a text file renamed to .tif; the server must refuse it.\n'.repeat(8));
  const notes = testInfo.outputPath('notes.txt');
  writeFileSync(notes, 'not an image');

  await page.goto('/');
  await expect(page.getByText('Drop your microscope images here')).toBeVisible();
  await page.getByTestId('file-input').setInputFiles([...TIFFS.map((f) => join(fixtureImages, f)), invalid, notes]);

  // The client refuses what it cannot send, with the reason.
  await expect(item(page, 'notes.txt')).toHaveAttribute('data-stage', 'rejected');
  await expect(item(page, 'notes.txt').getByTestId('reason')).toContainText('Unsupported file type “.txt”');

  // The queue finishes: three scored, the invalid one refused by the server with its reason.
  for (const f of TIFFS) await expect(item(page, f)).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
  const bad = item(page, 'not-an-image.tif');
  await expect(bad).toHaveAttribute('data-stage', 'failed');
  // In words, with what to do: never the raw status (“HTTP 422”).
  await expect(bad.getByTestId('reason')).toContainText('could not read this file as an image');
  await expect(bad.getByTestId('reason')).not.toContainText('HTTP');
  expect((await bad.getByTestId('reason').innerText()).length).toBeGreaterThan(20);
  await expect(bad.getByRole('button', { name: 'Retry not-an-image.tif' })).toBeVisible();
  await expect(page.getByTestId('processed-count')).toHaveText('3');
  for (const f of TIFFS) await expect(item(page, f).getByTestId('total')).toContainText(/Score: \d/);

  // Open one while nothing else is selected.
  await item(page, OPENED).getByRole('button', { name: `Review ${OPENED}` }).click();
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('review-filename')).toHaveText(OPENED);
  await expect(panel.getByTestId('review-serial')).toHaveText('S-3602-02');
  await expect(panel.getByTestId('demo-banner')).toHaveCount(0);
  await expect(panel.getByTestId('metric-row')).toHaveCount(schema.metrics.length);

  // The viewer (beside the panel on this page) opens the deep-zoom tiles; zoom in, then to full
  // resolution.
  const viewer = page.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  await expect(viewer).not.toHaveAttribute('data-zoom', '');
  const z0 = Number(await viewer.getAttribute('data-zoom'));
  await page.getByRole('button', { name: 'Zoom in' }).click();
  await expect.poll(async () => Number(await viewer.getAttribute('data-zoom'))).toBeGreaterThan(z0 * 1.3);
  await page.getByRole('button', { name: '1:1' }).click();
  await expect.poll(async () => Number(await viewer.getAttribute('data-zoom'))).toBeCloseTo(1, 1);

  // Correct the first metric with the keyboard: one step.
  const metric = schema.metrics[0] as { name: string; max: number };
  const input = panel.getByTestId('score-input').first();
  const before = Number(await input.inputValue());
  const up = before + schema.step <= metric.max;
  const after = up ? before + schema.step : before - schema.step;
  await input.focus();
  await page.keyboard.press(up ? 'ArrowUp' : 'ArrowDown');
  await expect(input).toHaveValue(fmt(after));
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  await expect(panel.locator('[data-testid=metric-row]').first()).toContainText('corrected');
  corrected = { metric: metric.name, value: after };

  // Invalid input is explained in place and not saved.
  const second = panel.getByTestId('score-input').nth(1);
  await page.keyboard.press('Tab');
  await expect(second).toBeFocused();
  const secondValue = await second.inputValue();
  await second.fill('9.9');
  await expect(panel.getByTestId('score-error')).toContainText('The maximum');
  await expect(panel.getByTestId('save-status')).toHaveAttribute('data-kind', 'invalid');
  await page.keyboard.press('Escape');
  await expect(second).toHaveValue(secondValue);
  await expect(panel.getByTestId('score-error')).toHaveCount(0);

  await page.getByRole('button', { name: 'Fit' }).click();
  await page.waitForTimeout(600); // the zoom animation
  await page.screenshot({ path: join(docsImages, 'web-score.png') });

  // Reload: the open image and the corrected value are still there.
  await page.reload();
  await expect(panel.getByTestId('review-filename')).toHaveText(OPENED);
  await expect(panel.getByTestId('score-input').first()).toHaveValue(fmt(after));

  // The reload kept the batch (this browser's uploads of the last 24 h).
  for (const f of TIFFS) await expect(item(page, f)).toHaveAttribute('data-stage', 'done');
  await expect(page.getByTestId('processed-count')).toHaveText('3');

  // Upload the same file again: the server returns the saved, corrected scores, and the upload
  // takes the place of the restored item.
  await page.getByTestId('file-input').setInputFiles(join(fixtureImages, OPENED));
  const again = item(page, OPENED);
  await expect(again).toHaveAttribute('data-stage', 'done');
  await expect(again).toContainText('Already scored');
  await again.getByRole('button', { name: `Review ${OPENED}` }).click();
  await expect(panel.getByTestId('known-note')).toContainText('these are your saved scores, last changed by');
  await expect(panel.getByTestId('score-input').first()).toHaveValue(fmt(after));

  // Ctrl+Enter (even inside a field) marks it reviewed and opens the next unreviewed image of the
  // batch (the queue wraps round to the first).
  await panel.getByTestId('score-input').first().focus();
  await page.keyboard.press('Control+Enter');
  await expect(again).toContainText('Reviewed ✓');
  await expect(panel.getByTestId('review-filename')).toHaveText(TIFFS[0] as string);

  // Export CSV (the header's button opens the export dialog; comma-separated): the correction is in it.
  await page.getByTestId('header-export-csv').click();
  const exportDialog = page.getByTestId('export-dialog');
  await exportDialog.getByRole('radio', { name: /comma \(1\.5\)/ }).check();
  const [download] = await Promise.all([page.waitForEvent('download'), exportDialog.getByTestId('export-csv-download').click()]);
  await expect(exportDialog).toHaveCount(0);
  const rows = parseCsv(readFileSync(await download.path(), 'utf8'));
  const header = rows[0] as string[];
  const col = header.findIndex((h) => h === metric.name || h === columnName(metric.name));
  const fileCol = header.indexOf('filename');
  expect(col).toBeGreaterThanOrEqual(0);
  expect(fileCol).toBeGreaterThanOrEqual(0);
  const row = rows.find((r) => r[fileCol] === OPENED);
  expect(row, 'the opened file is in the export').toBeTruthy();
  expect(Number((row as string[])[col])).toBe(after);
  const reviewCol = header.indexOf('review_status');
  if (reviewCol >= 0) expect((row as string[])[reviewCol]).toBe('reviewed');
});

test('reviewing jumps to the next unreviewed image', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(TIFFS.map((f) => join(fixtureImages, f)));
  for (const f of TIFFS) await expect(item(page, f)).toHaveAttribute('data-stage', 'done');
  const panel = page.getByTestId('review-panel');
  await item(page, TIFFS[0] as string).getByRole('button', { name: `Review ${TIFFS[0]}` }).click();
  await expect(panel.getByTestId('review-filename')).toHaveText(TIFFS[0] as string);
  // R outside a field: reviewed, and the next unreviewed opens (TIFFS[1] was reviewed before).
  await panel.getByTestId('review-filename').click();
  await page.keyboard.press('r');
  await expect(panel.getByTestId('review-filename')).toHaveText(TIFFS[2] as string);
  await expect(item(page, TIFFS[0] as string)).toContainText('Reviewed ✓');
  // The keyboard flow goes on in the next image's first score field.
  await expect(panel.getByTestId('score-input').first()).toBeFocused();
  await expect(panel.getByTestId('shortcut-help')).toContainText('Ctrl+Enter');
});

test('history: search, sort, filter, open a record with its correction history', async ({ page }) => {
  await page.goto('/history');
  const rows = page.getByTestId('history-row');
  await expect(page.getByTestId('history-total')).toContainText('3 records');
  await expect(rows).toHaveCount(3);

  // Sort by file name, ascending.
  await page.getByRole('button', { name: /^File/ }).click();
  await expect(rows.first()).toContainText(TIFFS[0] as string);
  await expect(page.locator('th[aria-sort=ascending]')).toContainText('File');

  // Filter: reviewed only (two were reviewed above).
  await page.getByLabel('Reviewed').selectOption('reviewed');
  await expect(rows).toHaveCount(2);
  await page.getByLabel('Reviewed').selectOption('');
  await expect(rows).toHaveCount(3);

  // Per-group summary.
  const groups = page.getByTestId('group-summary');
  await expect(groups).toContainText('S-3602');
  await expect(groups).toContainText('S-4500');

  // Search, then open the corrected record: the correction shows, with its history.
  await page.getByTestId('history-search').fill('Image002');
  await expect(rows).toHaveCount(1);
  await rows.first().click();
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('review-filename')).toHaveText(OPENED);
  expect(corrected).not.toBeNull();
  const c = corrected as { metric: string; value: number };
  await expect(panel.getByTestId('score-input').first()).toHaveValue(fmt(c.value));
  await expect(rows.first().locator(`[data-metric="${c.metric}"]`)).toContainText(fmt(c.value));
  const audit = panel.getByTestId('audit');
  await expect(audit.getByTestId('audit-entry').first()).toBeVisible();
  await expect(audit).toContainText(c.metric);

  await page.getByTestId('history-search').fill('');
  await expect(rows).toHaveCount(3);
  await page.screenshot({ path: join(docsImages, 'web-history.png') });
});

test('a concurrent change is shown with a choice; overwrite with mine', async ({ page, request }) => {
  const { schema } = await config(request);
  const target = TIFFS[2] as string;
  const rec = await recordByName(request, target);
  const metric = schema.metrics[1] as { name: string; max: number };
  const v = rec.scores[metric.name] as number;
  const mine = v + schema.step <= metric.max ? v + schema.step : v - schema.step;
  const theirs = [0, metric.max, schema.step].find((x) => x !== v && x !== mine) as number;

  await page.goto(`/?image=${rec.id}`);
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('review-filename')).toHaveText(target);

  // Someone else saves between our edit and our save.
  await page.route(
    `**/api/images/${rec.id}/scores`,
    async (route) => {
      const cur = await request.get(`/api/images/${rec.id}`);
      const res = await request.patch(`/api/images/${rec.id}/scores`, {
        headers: { 'If-Match': cur.headers()['etag'] ?? '' },
        data: { scores: { [metric.name]: theirs } },
      });
      expect(res.ok()).toBeTruthy();
      await route.continue();
    },
    { times: 1 },
  );
  const input = panel.getByTestId('score-input').nth(1);
  await input.focus();
  await page.keyboard.press(mine > v ? 'ArrowUp' : 'ArrowDown');
  const conflict = panel.getByTestId('conflict');
  await expect(conflict).toBeVisible();
  await expect(conflict).toContainText(metric.name);
  await expect(conflict).toContainText(fmt(theirs));
  await expect(conflict).toContainText(fmt(mine));
  await conflict.getByRole('button', { name: 'Overwrite with mine' }).click();
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  const after = await (await request.get(`/api/images/${rec.id}`)).json();
  expect(after.scores[metric.name]).toBe(mine);
});

test('dark mode, and no horizontal scrolling from 1280 to 2560 px', async ({ page, request }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(TIFFS.map((f) => join(fixtureImages, f)));
  for (const f of TIFFS) await expect(item(page, f)).toHaveAttribute('data-stage', 'done');
  const rec = await recordByName(request, OPENED);
  await item(page, OPENED).getByRole('button', { name: `Review ${OPENED}` }).click();
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-state', 'ready');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(bg).not.toBe('rgb(248, 250, 252)'); // not the light background
  await page.waitForTimeout(500); // let the tiles settle for the screenshot
  await page.screenshot({ path: join(docsImages, 'web-score-dark.png') });

  for (const width of [1280, 2560]) {
    await page.setViewportSize({ width, height: 1000 });
    for (const path of [`/?image=${rec.id}`, `/history?open=${rec.id}`]) {
      await page.goto(path);
      await expect(page.getByTestId('review-panel')).toBeVisible();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${path} at ${width}px`).toBeLessThanOrEqual(0);
    }
  }
});

test('a busy server (503 + Retry-After) pauses the queue, which then resumes by itself', async ({ page }) => {
  let refused = false;
  await page.route('**/api/images', async (route) => {
    if (route.request().method() === 'POST' && !refused) {
      refused = true;
      await route.fulfill({
        status: 503,
        headers: { 'Retry-After': '2', 'Content-Type': 'application/json' },
        body: JSON.stringify({ error: 'busy', detail: 'the scoring queue is full; try again shortly' }),
      });
      return;
    }
    await route.continue();
  });
  await page.goto('/');
  const name = TIFFS[2] as string;
  await page.getByTestId('file-input').setInputFiles(join(fixtureImages, name));
  await expect(page.getByText(/Server busy — resuming in \d s/)).toBeVisible();
  await expect(item(page, name)).toHaveAttribute('data-stage', 'pending');
  await expect(item(page, name).getByTestId('reason')).toContainText('the scoring queue is full');
  await expect(item(page, name)).toHaveAttribute('data-stage', 'done');
  expect(refused).toBe(true);
});

test('a demo model is announced in a banner', async ({ page }) => {
  await page.route('**/api/config', async (route) => {
    const res = await route.fetch();
    const body = (await res.json()) as { model: { demo: boolean } };
    body.model.demo = true;
    await route.fulfill({ response: res, json: body });
  });
  await page.goto('/');
  await expect(page.getByTestId('demo-banner').first()).toContainText('Demo model — scores are not meaningful');
});

test('accessibility: no axe violations on the score and history pages, light and dark', async ({ page, request }) => {
  const { default: AxeBuilder } = await import('@axe-core/playwright');
  const rec = await recordByName(request, OPENED);
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of [`/?image=${rec.id}`, `/history?open=${rec.id}`]) {
      await page.goto(path);
      await expect(page.getByTestId('review-panel')).toBeVisible();
      await expect(page.getByTestId('viewer')).toHaveAttribute('data-state', 'ready');
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target.join(' ')} — ${v.help}`);
      expect(summary, `${path} in ${scheme}`).toEqual([]);
    }
  }
});

test('delete (with a reason) hides a record from the history; restore brings it back', async ({ page, request }) => {
  const target = TIFFS[0] as string;
  const rec = await recordByName(request, target);
  await page.goto(`/history?open=${rec.id}`);
  const rows = page.getByTestId('history-row');
  await expect(rows).toHaveCount(3);
  page.once('dialog', (d) => void d.accept('wrong slide'));
  await page.getByRole('button', { name: 'Delete image…' }).click();
  await expect(page.getByText('This image is deleted')).toBeVisible();
  await expect(rows).toHaveCount(2);
  expect((await request.get(`/api/images/${rec.id}`)).status()).toBe(404);
  await page.getByRole('button', { name: 'Restore' }).click();
  await expect(page.getByText('This image is deleted')).toHaveCount(0);
  await expect(rows).toHaveCount(3);
  const audit = (await (await request.get(`/api/images/${rec.id}/audit`)).json()) as { entries: { action: string; reason: string | null }[] };
  expect(audit.entries.some((e) => e.action === 'delete' && e.reason === 'wrong slide')).toBe(true);
});
