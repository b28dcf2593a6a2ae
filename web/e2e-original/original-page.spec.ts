// The original system's Next.js page (../shared/reference/original-frontend, unmodified), built
// with NEXT_PUBLIC_API_URL pointing at Histoscore, used the way a lab used it: three TIFFs dropped
// on it, their scores shown, one score changed in the sidebar ("Saved"); then Histoscore's own API
// and History page show the three records, the changed value and its audit entry. Started by
// scripts/test-original-page, which sets ORIGINAL_PAGE_URL and HISTOSCORE_URL.
import { expect, test, type Locator, type Page, type Request, type Response } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = process.env.HISTOSCORE_SHARED ?? resolve(webDir, '../../shared');
const fixtures = join(sharedDir, 'fixtures/reference-model');

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run scripts/test-original-page`);
  return v.replace(/\/+$/, '');
}
const PAGE = env('ORIGINAL_PAGE_URL');
const API = env('HISTOSCORE_URL');

/** The original's four metrics, in the order its API answered them (so its page lists them so). */
const METRICS = ['Pancreatic Architecture', 'Glandular Atrophy', 'Pseudotubular Complexes', 'Fibrosis'] as const;
type Metric = (typeof METRICS)[number];
type Scores = Record<Metric | 'Total', number>;

const FILES = ['S-3602-10X_Image002_ch00.tif', 'S-4500-10x_Image123_RAW_ch00.tif', 'cmu_portrait_deflate_tiled.tif'] as const;
const [EDITED, REJECTED] = FILES;

/** What the original system computes for each fixture image (PyTorch ground truth). */
const expected = (JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8')) as { images: Record<string, { scores: Record<Metric, number>; total: number }> }).images;

/** The original's serial number and sample id (original-backend/app/utils.py, generate_thumbnail_and_metadata). */
function originalSerial(filename: string): { sample_id: string; serial_number: string } {
  const parts = filename.split('-');
  const sample = parts.length >= 2 ? `${parts[0]}-${parts[1]}` : 'UNKNOWN';
  const raw = /Image(\d+)/i.exec(filename)?.[1];
  const suffix = raw === undefined ? '00' : raw.length >= 2 ? raw.slice(-2) : raw.padStart(2, '0');
  return { sample_id: sample, serial_number: `${sample}-${suffix}` };
}

/** The original's answer to POST /api/upload-image. */
interface UploadAnswer {
  status: string;
  filename: string;
  serial_number: string;
  sample_id: string;
  scores: Scores;
  display_url: string;
  db_id: number;
}

/** The parts of Histoscore's own records and audit entries checked here (docs/openapi.json). */
interface ImageRecord {
  id: number;
  filename: string;
  status: string;
  scores: Record<string, number>;
  draft?: { rounded: Record<string, number> } | null;
}
interface AuditEntry {
  action: string;
  field?: string | null;
  old_value?: string | null;
  new_value?: string | null;
}

const sum = (s: Record<Metric, number>) => Math.round(METRICS.reduce((t, m) => t + s[m], 0) * 100) / 100;
/** A score as the UI may print it: 1.5 as "1.5" or "1.50", 2 as "2" or "2.00". */
const numRe = (v: number) => (Number.isInteger(v) ? `${v}(\\.0+)?` : `${String(v).replace('.', '\\.')}0*`);

/** One row of the page's "Processing Queue". */
const queueItem = (page: Page, filename: string): Locator => page.locator('div.group').filter({ has: page.getByText(filename, { exact: true }) });

/** The sidebar's input for a metric: the page lists the answer's score keys in their order. */
async function scoreField(aside: Locator, metric: Metric): Promise<Locator> {
  const labels = (await aside.locator('label').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
  const i = labels.indexOf(metric);
  expect(i, `the sidebar lists ${metric} (it lists ${labels.join(', ')})`).toBeGreaterThanOrEqual(0);
  return aside.locator('input[type=number]').nth(i);
}

/** Checks that are reported without stopping the test, so that one run lists every difference. */
const soft = expect.configure({ soft: true });

test('the original page scores three TIFFs through Histoscore and saves a correction that Histoscore audits', async ({ page, context, request }) => {
  const pageOrigin = new URL(PAGE).origin;
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} [${m.location().url}]`);
  });
  const uploads: Response[] = [];
  const puts: Request[] = [];
  page.on('response', (r) => {
    if (r.request().method() === 'POST' && r.url().startsWith(`${API}/api/upload-image`)) uploads.push(r);
  });
  page.on('request', (r) => {
    if (r.method() === 'PUT' && r.url().startsWith(`${API}/api/scores/`)) puts.push(r);
  });

  await test.step("the original's health check answers", async () => {
    const r = await request.get(`${API}/health`);
    expect(r.status(), await r.text()).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'healthy', model_loaded: true });
  });

  const answers = new Map<string, UploadAnswer>();
  await test.step('three TIFFs dropped on the page are scored, one after another', async () => {
    await page.goto(PAGE);
    await expect(page.getByRole('heading', { name: 'Drop your TIFF files here' })).toBeVisible();
    await page.locator('input[type=file]').setInputFiles(FILES.map((f) => join(fixtures, 'images', f)));
    await expect(page.getByText('Processing Queue (3 files)')).toBeVisible();
    for (const f of FILES) {
      await expect(queueItem(page, f).getByText(/^(Done|Failed)$/), `${f} is processed`).toBeVisible({ timeout: 240_000 });
    }

    // What the server answered (its error, if any, before the page's summary of it).
    expect(uploads).toHaveLength(3);
    for (const r of uploads) {
      const text = await r.text();
      expect(r.status(), `POST ${r.url()}: ${text.slice(0, 500)}`).toBe(200);
      // The browser let the page read it: the page's origin is allowed.
      expect(r.headers()['access-control-allow-origin']).toBe(pageOrigin);
      const a = JSON.parse(text) as UploadAnswer;
      answers.set(a.filename, a);
    }
    expect([...answers.keys()].sort()).toEqual([...FILES].sort());
    for (const f of FILES) {
      const a = answers.get(f) as UploadAnswer;
      const want = expected[f] as { scores: Record<Metric, number>; total: number };
      expect(a.status).toBe('success');
      expect(a.scores).toEqual({ ...want.scores, Total: want.total });
      // The four metrics and Total in the original's order: the page lists its inputs in key order.
      soft(Object.keys(a.scores), 'the order of the keys of `scores`').toEqual([...METRICS, 'Total']);
      expect(Number.isInteger(a.db_id)).toBe(true);
      expect(typeof a.serial_number).toBe('string');
      expect(typeof a.sample_id).toBe('string');
      if (f.startsWith('S-')) soft({ sample_id: a.sample_id, serial_number: a.serial_number }, 'as the original names them').toEqual(originalSerial(f));
      // display_url: the preview, as a data: URL (the original's form) or a URL of it.
      if (a.display_url.startsWith('data:')) {
        expect(a.display_url).toMatch(/^data:image\/(jpeg|png|webp);base64,/);
      } else {
        const preview = await request.get(new URL(a.display_url, API).href);
        expect(preview.status(), `GET ${a.display_url}`).toBe(200);
        expect(preview.headers()['content-type']).toMatch(/^image\//);
      }
    }
    expect(new Set([...answers.values()].map((a) => a.db_id)).size).toBe(3);

    // The page shows each one done, with its total.
    for (const f of FILES) {
      const item = queueItem(page, f);
      await expect(item).toContainText('Done');
      await expect(item).toContainText(`Score: ${expected[f]?.total}`);
    }
  });

  const aside = page.locator('aside');
  const heading = aside.getByRole('heading', { level: 2 });
  const saved = aside.getByText('Saved', { exact: true });
  const edited = answers.get(EDITED) as UploadAnswer;
  const before = edited.scores.Fibrosis;
  const after = before >= 2 ? before - 1.25 : before + 1.25;
  const newTotal = sum({ ...edited.scores, Fibrosis: after });

  await test.step("the sidebar shows the selected image's preview and scores", async () => {
    await queueItem(page, EDITED).click();
    await expect(heading).toHaveText(EDITED);
    await expect(aside).toContainText(`Serial: ${edited.serial_number}`);
    await soft(aside.locator('label'), "the original's order of the metrics").toHaveText([...METRICS], { timeout: 5_000 });
    await expect(await scoreField(aside, 'Fibrosis')).toHaveValue(String(before));
    await expect(aside).toContainText(edited.scores.Total.toFixed(2));
    // The preview: the page hands display_url to next/image, whose optimizer (/_next/image) serves
    // it unless it is a data: URL (the original's).
    const img = aside.getByAltText('Preview');
    await expect(img).toBeVisible();
    await soft
      .poll(() => img.evaluate((el: HTMLImageElement) => (el.complete ? el.naturalWidth : -1)), {
        message: `the preview loads in the page (display_url ${edited.display_url.slice(0, 80)}, img src ${await img.getAttribute('src')})`,
        timeout: 10_000,
      })
      .toBeGreaterThan(0);
  });

  await test.step('a score changed in the sidebar is saved', async () => {
    const answered = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url() === `${API}/api/scores/${edited.db_id}`);
    await (await scoreField(aside, 'Fibrosis')).fill(String(after));
    await expect(aside.getByText('Auto-saving...')).toBeVisible();
    const put = await answered;
    const text = await put.text();
    expect(put.status(), text).toBe(200);
    expect(put.request().postDataJSON()).toEqual({ Fibrosis: after });
    expect(JSON.parse(text)).toMatchObject({ status: 'updated', new_total: newTotal });
    await expect(saved).toBeVisible();
    await expect(aside).toContainText(newTotal.toFixed(2));
    await expect(queueItem(page, EDITED)).toContainText(`Score: ${newTotal}`);
  });

  await test.step('an out-of-range score typed in the sidebar is refused (422), readable by the page', async () => {
    const other = answers.get(REJECTED) as UploadAnswer;
    await queueItem(page, REJECTED).click();
    await expect(heading).toHaveText(REJECTED);
    const answered = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url() === `${API}/api/scores/${other.db_id}`);
    await (await scoreField(aside, 'Glandular Atrophy')).fill('7');
    const put = await answered;
    const text = await put.text();
    expect(put.status(), text).toBe(422);
    expect(put.headers()['access-control-allow-origin']).toBe(pageOrigin);
    expect(text).toContain('Glandular Atrophy');
    // The original page only logs a failed save, and says "Saved" again.
    await expect(saved).toBeVisible();
  });

  expect(puts.map((r) => `${r.url()} ${r.postData()}`)).toHaveLength(2);

  const records = new Map<string, ImageRecord>();
  await test.step("Histoscore's API has the three records, the corrected value and its audit entry", async () => {
    const r = await request.get(`${API}/api/images?limit=1000`);
    expect(r.status(), await r.text()).toBe(200);
    const items = ((await r.json()) as { items: ImageRecord[] }).items;
    expect(items.map((i) => i.filename).sort()).toEqual([...FILES].sort());
    for (const f of FILES) {
      const rec = items.find((i) => i.filename === f) as ImageRecord;
      const a = answers.get(f) as UploadAnswer;
      records.set(f, rec);
      expect(rec.id).toBe(a.db_id);
      expect(rec.status).toBe('scored');
      const ai = Object.fromEntries(METRICS.map((m) => [m, a.scores[m]]));
      expect(rec.draft?.rounded).toEqual(ai);
      expect(rec.scores).toEqual(f === EDITED ? { ...ai, Fibrosis: after } : ai);
    }

    const audit = async (id: number) => {
      const res = await request.get(`${API}/api/images/${id}/audit`);
      expect(res.status(), await res.text()).toBe(200);
      return ((await res.json()) as { entries: AuditEntry[] }).entries;
    };
    const changes = (await audit(edited.db_id)).filter((e) => e.action === 'score');
    expect(changes).toHaveLength(1);
    const change = changes[0] as AuditEntry;
    expect(change.field).toBe('Fibrosis');
    expect(Number(change.old_value)).toBe(before);
    expect(Number(change.new_value)).toBe(after);
    expect((await audit((answers.get(REJECTED) as UploadAnswer).db_id)).filter((e) => e.action === 'score')).toEqual([]);
  });

  await test.step("Histoscore's History page shows them, with the correction and its audit entry", async () => {
    const history = await context.newPage();
    await history.goto(`${API}/history`);
    const rows = history.getByTestId('history-row');
    await expect(rows).toHaveCount(3);
    for (const f of FILES) {
      // (The table may shorten long names; the full one is the cell's title.)
      await expect(history.locator(`[data-testid="history-row"][data-record-id="${records.get(f)?.id}"] [title="${f}"]`)).toBeVisible();
    }
    const row = history.locator(`[data-testid="history-row"][data-record-id="${edited.db_id}"]`);
    // The corrected value, with the AI's in brackets.
    await expect(row.locator('[data-metric="Fibrosis"]')).toHaveText(new RegExp(`^\\s*${numRe(after)}\\s*\\(${numRe(before)}\\)\\s*$`));

    await history.goto(`${API}/history?open=${edited.db_id}`);
    const panel = history.getByTestId('review-panel');
    // The correction: Fibrosis, from the AI's value to the new one (the AI's own entries set it, from nothing).
    const entries = panel
      .getByTestId('audit')
      .getByTestId('audit-entry')
      .filter({ hasText: 'Fibrosis' })
      .filter({ hasText: new RegExp(`(^|[^\\d.])${numRe(before)}\\D+${numRe(after)}($|[^\\d.])`) });
    await expect(entries).toHaveCount(1);
    await history.close();
  });

  // Nothing else went wrong in the page: the only errors it logged are the refused save (Chromium's
  // 422 line, axios' "Failed to save score update"), a preview that did not load (checked above) and
  // what the original page lacks wherever it runs (its icons, not shipped with its sources; Vercel
  // Analytics' script, served only on Vercel).
  const expectedErrors = /status of 422|Failed to save score update|\/_next\/image\?|\/(icon-(light|dark)-32x32\.png|icon\.svg|apple-icon\.png)\]$|\/_vercel\/insights\//;
  expect(consoleErrors.filter((e) => !expectedErrors.test(e))).toEqual([]);
});
