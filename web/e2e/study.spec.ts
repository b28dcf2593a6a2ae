// A blinded reader study against a server WITH accounts (its own instance, see
// accounts-server.ts): the admin uploads images and creates the study; two readers score blind
// (no AI value on screen before submitting), see the AI draft after, one revises; the admin
// adjudicates, reads the agreement and downloads the study export. Then: what a viewer may not
// do, CSRF refusals, session end, and the admin's user management.
//
// Blinded readers never see a file name: each image has a study-local code (`3-007`) and reads
// as `case 3-007`; each reader gets the images in an order of their own. The tests know an image
// by its id, and its name and code from the administrator's view of the study.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { startAccountsServer, type AccountsServer } from './accounts-server';
import { parseCsv } from './csv';
import { docsImages, fixtureImages } from './fixtures';

const PASSWORD = 'e2e-password-0001';
const NEW_PASSWORD = 'e2e-password-0002';
const FILES = ['S-3602-10X_Image001_ch00.tif', 'S-4500-10x_Image123_RAW_ch00.tif'];
const STUDY = 'Blinded e2e study';

/**
 * The accounts server is a worker fixture: started once (before the first test that needs it)
 * and stopped with the worker. Every page of this spec talks to it.
 */
const test = base.extend<object, { accounts: AccountsServer }>({
  accounts: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const server = await startAccountsServer(
        [
          ['admin', 'admin'],
          ['reader1', 'pathologist'],
          ['reader2', 'pathologist'],
          ['viewer1', 'viewer'],
        ],
        PASSWORD,
      );
      await use(server);
      await server.stop();
    },
    { scope: 'worker', timeout: 240_000 },
  ],
  baseURL: async ({ accounts }, use) => {
    await use(accounts.url);
  },
});

test.describe.configure({ mode: 'serial' });

interface Metric {
  name: string;
  max: number;
}
interface Schema {
  step: number;
  metrics: Metric[];
}

/** What the tests learn on the way and use later. */
const shared: {
  schema: Schema | null;
  images: Map<string, { id: number; ai: Record<string, number> }>;
  /** Image id → its study-local code and real file name (the administrator's view). */
  codes: Map<number, { code: string; filename: string }>;
  studyId: string | null;
  /** Reader 1's blind and revised score of the image they revised. */
  revised: { file: string; metric: string; blind: number; revised: number } | null;
  final: { file: string; metric: string; value: number } | null;
} = { schema: null, images: new Map(), codes: new Map(), studyId: null, revised: null, final: null };

const schemaOf = () => shared.schema as Schema;
const studyId = () => shared.studyId as string;

/** Formats like the UI: no trailing zeros. */
const fmt = (v: number) => String(Number(v.toFixed(4)));

interface StudyImageRow {
  image_id: number;
  code: string;
  filename: string;
  serial: string | null;
  group: string | null;
}

/** `GET /api/studies/{id}/images` as the page's user sees it (a reader: in their own order). */
async function studyImages(page: Page): Promise<StudyImageRow[]> {
  const res = await page.request.get(`/api/studies/${studyId()}/images`);
  expect(res.ok()).toBeTruthy();
  return (await res.json()) as StudyImageRow[];
}

/** What a blinded reader sees instead of the image's name. */
const coded = (imageId: number) => `case ${shared.codes.get(imageId)?.code ?? '?'}`;

/** The real file name of a study image. */
function fileOf(imageId: number): string {
  const file = shared.codes.get(imageId)?.filename;
  expect(file, `image ${imageId} is in the study`).toBeTruthy();
  return file as string;
}

/**
 * A blinded reader's view: the worklist lists the images in the reader's own order (the order of
 * their `GET …/images`), each as `case <code>` without serial or group, and no real file name is
 * anywhere in the page (text or attributes).
 */
async function expectCodedWorklist(page: Page) {
  const mine = await studyImages(page);
  expect(mine.map((i) => i.image_id).sort()).toEqual([...shared.codes.keys()].sort());
  for (const i of mine) expect(i, `the reader's row of image ${i.image_id}`).toMatchObject({ filename: coded(i.image_id), serial: null, group: null });
  const items = page.getByTestId('worklist-item');
  await expect(items).toHaveCount(mine.length);
  expect(await items.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image-id'))))).toEqual(mine.map((i) => i.image_id));
  for (const i of mine) await expect(page.locator(`[data-testid=worklist-item][data-image-id="${i.image_id}"]`)).toContainText(coded(i.image_id));
  await expectNoFileNames(page);
}

/** None of the study's real file names (nor their stems) in the page's text or attributes. */
async function expectNoFileNames(page: Page) {
  const html = await page.content();
  for (const f of FILES) {
    expect(html.includes(f), `${f} is not on the reader's page`).toBe(false);
    expect(html.includes(f.replace(/\.tif$/, '')), `${f} (stem) is not on the reader's page`).toBe(false);
  }
}

async function logIn(page: Page, name: string, password = PASSWORD) {
  await expect(page.getByRole('heading', { name: 'Log in to Histoscore' })).toBeVisible();
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user-name')).toHaveText(name);
}

/** A browser context of its own (its own cookie), logged in as `name`. */
async function session(browser: Browser, url: string, name: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: url, viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, name);
  return { context, page };
}

/** The header's page links (the study page has a breadcrumb link "Studies" too). */
const navLink = (page: Page, name: string) => page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true });
const queueItem = (page: Page, name: string) => page.locator(`[data-testid=queue-item][data-filename="${name}"]`);
const input = (scope: Locator | Page, testId: string, metric: string) => scope.locator(`[data-testid=${testId}][data-metric="${metric}"]`);

/** Opens the study from the list, as a person would. */
async function openStudy(page: Page) {
  await navLink(page, 'Studies').click();
  await page.getByRole('link', { name: STUDY }).click();
  await expect(page.getByTestId('study-name')).toHaveText(STUDY);
}

/**
 * Reads the image the panel shows: checks it is named by its code only and nothing of the AI is
 * on screen, enters the blind score, submits, and checks that the AI draft appears. Returns the
 * image's real file name.
 */
let blindShotTaken = false;

async function readBlind(page: Page, values: (m: Metric) => number): Promise<string> {
  const { metrics } = schemaOf();
  const panel = page.getByTestId('read-panel');
  await expect(panel).toHaveAttribute('data-mode', 'blind');
  const imageId = Number(await panel.getAttribute('data-image-id'));
  const file = fileOf(imageId);
  // The code, not the name: in the heading, the worklist, anywhere on the page.
  await expect(panel.getByTestId('read-filename')).toHaveText(coded(imageId));
  await expect(panel).toContainText('Serial – · group –');
  await expectNoFileNames(page);
  // Blind: no AI value anywhere on the page.
  await expect(panel.getByTestId('blind-note')).toBeVisible();
  await expect(page.getByTestId('read-ai-value')).toHaveCount(0);
  await expect(page.getByRole('columnheader', { name: 'AI draft' })).toHaveCount(0);
  await expect(panel.getByTestId('read-scores')).not.toContainText('AI');
  for (const m of metrics) await input(panel, 'read-input', m.name).fill(fmt(values(m)));
  if (!blindShotTaken) {
    blindShotTaken = true;
    await page.screenshot({ path: join(docsImages, 'web-study-blind.png') });
  }
  await panel.getByRole('button', { name: 'Submit blind score' }).click();
  await expect(panel.getByTestId('read-notice')).toContainText('Blind score saved');
  await expect(panel).toHaveAttribute('data-mode', 'revise');
  // Revealed: the AI draft beside each field, and the blind score kept.
  const ai = shared.images.get(file)?.ai ?? {};
  await expect(panel.getByTestId('read-ai-value')).toHaveCount(metrics.length);
  for (const m of metrics) {
    await expect(input(panel, 'read-ai-value', m.name)).toHaveText(ai[m.name] == null ? '–' : fmt(ai[m.name] as number));
    await expect(input(panel, 'read-blind-value', m.name)).toHaveText(fmt(values(m)));
    await expect(input(panel, 'read-input', m.name)).toHaveValue(fmt(values(m)));
  }
  // Still the code after the reveal (the name stays hidden until the adjudication).
  await expect(panel.getByTestId('read-filename')).toHaveText(coded(imageId));
  await expectNoFileNames(page);
  return file;
}

test('admin: upload, wait for the scores, create a blinded study', async ({ page }) => {
  await page.goto('/');
  await logIn(page, 'admin');
  await expect(page.getByTestId('user-role')).toHaveText('Administrator');
  await expect(navLink(page, 'Users')).toBeVisible();

  const config = await page.request.get('/api/config');
  expect(config.ok()).toBeTruthy();
  shared.schema = ((await config.json()) as { schema: Schema }).schema;

  // Uploads go through XMLHttpRequest with the CSRF header.
  await page.getByTestId('file-input').setInputFiles(FILES.map((f) => join(fixtureImages, f)));
  for (const f of FILES) await expect(queueItem(page, f)).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });

  const list = await page.request.get('/api/images?limit=50');
  expect(list.ok()).toBeTruthy();
  const items = ((await list.json()) as {
    items: { id: number; filename: string; group?: string | null; group_name?: string | null; draft: { rounded: Record<string, number> } | null }[];
  }).items;
  for (const f of FILES) {
    const rec = items.find((r) => r.filename === f);
    expect(rec, `record of ${f}`).toBeTruthy();
    expect(rec?.draft, `AI draft of ${f}`).toBeTruthy();
    shared.images.set(f, { id: rec?.id as number, ai: rec?.draft?.rounded ?? {} });
  }

  // New study: blinded, reasons required, two readers, the images by sample group (or by id
  // for images without one).
  await navLink(page, 'Studies').click();
  await page.getByRole('link', { name: 'New study' }).click();
  await page.getByLabel('Name', { exact: true }).fill(STUDY);
  await page.getByLabel(/^Description/).fill('Two readers, blind first.');
  await expect(page.getByRole('checkbox', { name: /^Blinded/ })).toBeChecked();
  await page.getByRole('checkbox', { name: /^Reasons required/ }).check();
  await page.getByRole('checkbox', { name: /^reader1\b/ }).check();
  await page.getByRole('checkbox', { name: /^reader2\b/ }).check();
  await expect(page.getByRole('checkbox', { name: /^viewer1\b/ })).toHaveCount(0); // viewers cannot read
  const ours = items.filter((r) => FILES.includes(r.filename));
  const groups = [...new Set(ours.map((r) => r.group ?? r.group_name ?? '').filter(Boolean))];
  const withoutGroup = ours.filter((r) => !(r.group ?? r.group_name));
  for (const g of groups) {
    await page.getByTestId('group-choices').getByRole('checkbox', { name: new RegExp(`^${g.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`) }).check();
  }
  if (withoutGroup.length) await page.getByLabel(/^Image ids/).fill(withoutGroup.map((r) => r.id).join(', '));
  await page.getByRole('button', { name: 'Create study' }).click();

  await expect(page).toHaveURL(/\/studies\/[^/?]+(\?|$)/);
  await expect(page.getByTestId('study-name')).toHaveText(STUDY);
  shared.studyId = new URL(page.url()).pathname.split('/')[2] as string;
  // The admin is not a reader here: adjudication and agreement only.
  await expect(page.getByRole('tab', { name: 'Adjudicate' })).toBeVisible();
  await expect(page.getByRole('tab', { name: 'My reading' })).toHaveCount(0);
  const study = (await (await page.request.get(`/api/studies/${studyId()}`)).json()) as { image_count: number; blinded: boolean; readers: string[]; order_seed: number };
  expect(study).toMatchObject({ image_count: FILES.length, blinded: true, readers: ['reader1', 'reader2'] });
  expect(Number.isInteger(study.order_seed)).toBe(true);
  // The administrator sees each image's real name beside its study-local code.
  const rows = await studyImages(page);
  expect(rows.map((r) => r.filename).sort()).toEqual([...FILES].sort());
  for (const r of rows) {
    expect(r.code, `the code of ${r.filename}`).toMatch(new RegExp(`^${studyId()}-\\d+$`));
    expect(r.image_id).toBe(shared.images.get(r.filename)?.id);
    shared.codes.set(r.image_id, { code: r.code, filename: r.filename });
  }
  expect(new Set(rows.map((r) => r.code)).size, 'codes are unique in the study').toBe(rows.length);
});

test('reader1: a study image cannot be scored from History while the blinded read is open', async ({ browser, accounts }) => {
  const { context, page } = await session(browser, accounts.url, 'reader1');
  const { id } = shared.images.get(FILES[0] as string) as { id: number };
  // The History leaves the study's images out for the reader: a search by name finds nothing.
  for (const f of FILES) {
    const found = (await (await page.request.get(`/api/images?search=${encodeURIComponent(f)}&limit=50`)).json()) as { items: { id: number }[] };
    expect(found.items, `a search for ${f}`).toEqual([]);
  }
  const all = (await (await page.request.get('/api/images?limit=200')).json()) as { items: { id: number }[] };
  expect(all.items.filter((r) => shared.codes.has(r.id))).toEqual([]);
  await navLink(page, 'History').click();
  await page.goto(`/history?open=${id}`);
  const panel = page.getByTestId('review-panel');
  await expect(panel).toBeVisible();
  // Opened by its address: named by its code.
  await expect(panel).toContainText(coded(id));
  await expectNoFileNames(page);
  // No field to type in, no review or delete button: a note that sends the reader to the study.
  await expect(panel.getByTestId('blinded-read-note')).toBeVisible();
  await expect(panel.getByTestId('score-input')).toHaveCount(0);
  await expect(panel.getByTestId('review-next')).toHaveCount(0);
  await expect(panel.getByRole('button', { name: 'Delete image…' })).toHaveCount(0);
  // Nor does the score or the draft show (the blind score is not in).
  await expect(panel.getByTestId('total-current')).not.toContainText(/\d/);
  // The server refuses the change even when sent by hand with the session's token.
  const token = ((await (await page.request.get('/api/session')).json()) as { csrf_token: string }).csrf_token;
  const version = ((await (await page.request.get(`/api/images/${id}`)).json()) as { version: number }).version;
  const res = await page.request.patch(`/api/images/${id}/scores`, {
    headers: { 'X-CSRF-Token': token, 'If-Match': `"${version}"` },
    data: { scores: { [schemaOf().metrics[0]?.name as string]: 0 } },
  });
  expect(res.status()).toBe(403);
  expect(((await res.json()) as { error: string }).error).toBe('blinded_read');
  // The note's link opens the image in the study.
  await panel.getByTestId('blinded-read-note').getByRole('link', { name: 'in the study' }).click();
  await expect(page.getByTestId('study-name')).toHaveText(STUDY);
  await expect(page.getByTestId('read-panel')).toHaveAttribute('data-mode', 'blind');
  await context.close();
});

test('reader1: blind score without the AI, then the reveal, then a revision with a reason', async ({ browser, accounts }) => {
  const { context, page } = await session(browser, accounts.url, 'reader1');
  const { metrics, step } = schemaOf();
  await expect(page.getByTestId('user-role')).toHaveText('Pathologist');

  // The server sends no AI draft before the blind score.
  const firstRead = page.waitForResponse((r) => /\/api\/studies\/[^/]+\/images\/\d+\/read$/.test(r.url()) && r.request().method() === 'GET');
  await openStudy(page);
  await expect(page.getByRole('tab', { name: 'My reading' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: 'Agreement' })).toHaveCount(0); // it holds the other readers' scores
  const answer = (await (await firstRead).json()) as { state: string; ai: unknown; blinded: boolean; image: { id: number; filename: string; serial: unknown; group: unknown } };
  expect(answer).toMatchObject({ state: 'blind', ai: null, blinded: true });
  expect(answer.image).toMatchObject({ filename: coded(answer.image.id), serial: null, group: null });
  await expectCodedWorklist(page);

  const blind = (m: Metric) => Math.min(m.max, step);
  const file = await readBlind(page, blind);

  // Revise the first metric: the study asks for a reason.
  const metric = metrics[0] as Metric;
  const before = blind(metric);
  const after = before + step <= metric.max ? before + step : before - step;
  const panel = page.getByTestId('read-panel');
  await input(panel, 'read-input', metric.name).fill(fmt(after));
  await panel.getByRole('button', { name: 'Save revision' }).click();
  await expect(panel.getByTestId('read-error')).toContainText('reason');
  await panel.getByTestId('read-reason').fill('second look at the invasive front');
  await panel.getByRole('button', { name: 'Save revision' }).click();
  await expect(panel.getByTestId('read-notice')).toHaveText('Revision saved.');
  await expect(input(panel, 'read-blind-value', metric.name)).toHaveText(fmt(before)); // the blind score is kept
  await expect(input(panel, 'read-input', metric.name)).toHaveValue(fmt(after));
  const id = shared.images.get(file)?.id as number;
  await expect(page.locator(`[data-testid=worklist-item][data-image-id="${id}"]`)).toHaveAttribute('data-state', 'revised');
  await expect(panel.getByTestId('read-revision-time')).toHaveText(/^saved/);
  shared.revised = { file, metric: metric.name, blind: before, revised: after };

  // Next image: blind again.
  await panel.getByRole('button', { name: /Next image/ }).click();
  await expect(page.getByTestId('read-panel')).not.toHaveAttribute('data-image-id', String(id));
  await readBlind(page, blind);
  await expect(page.getByTestId('worklist-summary')).toHaveText(`${FILES.length} of ${FILES.length} blind-scored`);
  await context.close();
});

/** Makes the page hidden or visible again as a tab switch would (the app reads visibilityState). */
async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((h) => {
    if (h) Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    else delete (document as unknown as Record<string, unknown>).visibilityState;
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('reader2: blind scores for both images, no revision; time on task is active viewing only', async ({ browser, accounts }) => {
  const { context, page } = await session(browser, accounts.url, 'reader2');
  // Before the read is opened: the wall time below covers all of it.
  const openedAt = Date.now();
  await openStudy(page);
  await expectCodedWorklist(page);
  const panel = page.getByTestId('read-panel');
  await expect(panel).toHaveAttribute('data-mode', 'blind');
  const firstId = Number(await panel.getAttribute('data-image-id'));

  // Time on task: a few seconds of work, then the tab hidden for a while (not counted), then
  // back. The server's time is what the page reported, so it is above zero and below the time
  // the page was open less the hidden time (the time since opening would include it). Idle time
  // (a minute without input) is left to the unit tests (lib/activeTime.test.ts).
  const work = async (seconds: number) => {
    for (let i = 0; i < seconds * 2; i++) {
      await page.mouse.move(500 + (i % 10) * 20, 500);
      await page.waitForTimeout(500);
    }
  };
  await work(3);
  const hiddenAt = Date.now();
  const reported = page.waitForRequest((r) => r.url().endsWith(`/images/${firstId}/active`) && r.method() === 'POST');
  await setHidden(page, true);
  const report = await reported; // hiding the page reports at once
  expect((JSON.parse(report.postData() ?? '{}') as { ms: number }).ms).toBeGreaterThan(0);
  expect(await report.headerValue('x-csrf-token'), 'the report carries the CSRF header').toBeTruthy();
  await page.waitForTimeout(12_000);
  await setHidden(page, false);
  const hiddenMs = Date.now() - hiddenAt;
  await work(2);

  const first = await readBlind(page, () => 0);
  const wallS = (Date.now() - openedAt) / 1000;
  const read = (await (await page.request.get(`/api/studies/${studyId()}/images/${firstId}/read`)).json()) as { blind_seconds: number | null };
  expect(read.blind_seconds, 'active viewing was reported').toBeGreaterThan(0);
  expect(read.blind_seconds as number, `${read.blind_seconds} s of active viewing in ${wallS.toFixed(1)} s, ${(hiddenMs / 1000).toFixed(1)} s of them hidden`).toBeLessThan(wallS - hiddenMs / 1000 + 1.5);
  await expect(panel.getByTestId('read-blind-time')).toHaveText(/^saved · \d+ s of active viewing$/);
  // No revision: the time after the reveal is no revision.
  await expect(panel.getByTestId('read-revision-time')).toHaveText(/^none/);

  await panel.getByRole('button', { name: /Next image/ }).click();
  await expect(panel).not.toHaveAttribute('data-image-id', String(firstId));
  await readBlind(page, () => 0);
  expect(first).toBe(fileOf(firstId));
  await expect(page.locator(`[data-testid=worklist-item][data-image-id="${firstId}"]`)).toHaveAttribute('data-state', 'blind_done');
  // Reader 2 sees only their own work: nothing of reader 1's.
  await expect(page.getByRole('tabpanel')).not.toContainText('reader1');
  await expect(page.getByTestId('worklist-summary')).toHaveText(`${FILES.length} of ${FILES.length} blind-scored`);
  await context.close();
});

test('admin: adjudicate a final score, read the agreement, download the exports', async ({ page }) => {
  const { metrics } = schemaOf();
  const revised = shared.revised as NonNullable<typeof shared.revised>;
  const image = shared.images.get(revised.file) as { id: number; ai: Record<string, number> };
  await page.goto(`/studies/${studyId()}?tab=adjudicate`);
  await logIn(page, 'admin'); // a fresh context: log in, and land on the same address
  await expect(page.getByRole('tab', { name: 'Adjudicate' })).toHaveAttribute('aria-selected', 'true');

  const card = page.locator(`[data-testid=adjudication][data-image-id="${image.id}"]`);
  // The adjudicator sees the real name (and the code the readers saw).
  await expect(card.getByRole('heading', { level: 3 })).toContainText(revised.file);
  await expect(card.getByRole('heading', { level: 3 })).toContainText(coded(image.id));
  for (const [id, { filename }] of shared.codes) {
    await expect(page.locator(`[data-testid=adjudication][data-image-id="${id}"]`).getByRole('heading', { level: 3 })).toContainText(filename);
  }
  // Reader 1's revision is there beside the AI draft.
  await expect(card.locator(`[data-testid=adj-reader-value][data-metric="${revised.metric}"]`).filter({ hasText: fmt(revised.revised) }).first()).toBeVisible();
  // The image itself, beside the scores (left of the table, level with it), loaded, large enough to
  // judge, and a way to open it at full resolution.
  const preview = card.getByTestId('adj-preview');
  await preview.scrollIntoViewIfNeeded();
  await expect(preview).toBeVisible();
  await expect.poll(() => preview.evaluate((el: HTMLImageElement) => (el.complete ? el.naturalWidth : 0))).toBeGreaterThan(0);
  const imageBox = await preview.boundingBox();
  const scoresBox = await card.getByRole('table').boundingBox();
  expect(imageBox && scoresBox, 'the image and the scores are laid out').toBeTruthy();
  if (imageBox && scoresBox) {
    expect(imageBox.width).toBeGreaterThanOrEqual(280);
    expect(imageBox.x + imageBox.width, 'the image is left of the scores').toBeLessThanOrEqual(scoresBox.x);
    expect(imageBox.y, 'the image is level with the scores').toBeLessThan(scoresBox.y + scoresBox.height);
    expect(scoresBox.y).toBeLessThan(imageBox.y + imageBox.height);
  }
  await expect(card.getByTestId('adj-open-viewer')).toHaveAttribute('href', `/history?open=${image.id}`);
  await card.getByRole('button', { name: `Edit final score of ${revised.file}` }).click();
  const metric = metrics[0] as Metric;
  const value = metric.max;
  await input(card, 'final-input', metric.name).fill(fmt(value));
  await card.getByRole('button', { name: 'Save final score' }).click();
  await expect(card.getByTestId('final-error')).toContainText('reason'); // the study requires one
  await card.getByTestId('final-reason').fill('consensus at the multi-head microscope');
  await card.getByRole('button', { name: 'Save final score' }).click();
  await expect(input(card, 'final-value', metric.name)).toHaveText(fmt(value));
  shared.final = { file: revised.file, metric: metric.name, value };
  // It is the image's score everywhere.
  const rec = (await (await page.request.get(`/api/images/${image.id}`)).json()) as { scores: Record<string, number> };
  expect(rec.scores[metric.name]).toBe(value);

  // Agreement: a table per metric, "not defined" (never NaN) with only two images.
  await page.getByRole('tab', { name: 'Agreement' }).click();
  const agreement = page.getByTestId('agreement');
  await expect(agreement.getByTestId('agreement-metric')).toHaveCount(metrics.length);
  const section = agreement.locator(`[data-testid=agreement-metric][data-metric="${metric.name}"]`);
  await expect(section.getByTestId('pair-row')).toHaveCount(3); // AI–reader1, AI–reader2, reader1–reader2
  const readers = section.locator('[data-testid=pair-row][data-a="reader1"][data-b="reader2"]');
  await expect(readers.locator('td').first()).toHaveText(String(FILES.length));
  await expect(readers.getByTestId('not-defined').first()).toBeVisible();
  await expect(readers.getByTestId('not-defined').first()).toHaveAttribute('title', /.+/);
  await expect(section.getByRole('list', { name: 'Notes' })).toContainText('Not defined:');
  await expect(agreement).not.toContainText('NaN');
  await expect(section.getByTestId('readers-icc')).toBeVisible();
  // The shift after the reveal: reader 1 changed one image on this metric, reader 2 none.
  const shift1 = section.locator('[data-testid=shift-row][data-reader="reader1"] td');
  await expect(shift1.nth(1)).toHaveText('1');
  await expect(section.locator('[data-testid=shift-row][data-reader="reader2"] td').nth(1)).toHaveText('0');
  // Bland–Altman plots (uPlot, loaded on demand) and the confusion matrix.
  await expect(section.getByTestId('ba-figure')).toHaveCount(3);
  await expect(section.getByTestId('ba-plot').first().locator('canvas')).toBeVisible();
  await expect(section.getByTestId('confusion-matrix')).toBeVisible();

  // Each kappa and ICC carries a plain reading (Landis–Koch, Koo–Li). Two images define none of
  // them here, so the answer is given values the bands can be checked on.
  await page.route('**/api/studies/*/agreement', async (route) => {
    const res = await route.fetch();
    const body = (await res.json()) as { metrics: { metric: string; pairs: { a: string; b: string; qwk: unknown; icc2_1: unknown }[]; icc_readers: { icc3_1: unknown } }[] };
    const m = body.metrics.find((x) => x.metric === metric.name);
    const pair = m?.pairs.find((p) => p.a === 'reader1' && p.b === 'reader2');
    if (m && pair) {
      pair.qwk = { value: 0.17 };
      pair.icc2_1 = { value: 0.93, ci95: [0.8, 0.98] };
      m.icc_readers.icc3_1 = { value: 0.62, ci95: [0.3, 0.85] };
    }
    await route.fulfill({ response: res, json: body });
  });
  await agreement.getByRole('button', { name: 'Refresh' }).click();
  await expect(readers.getByTestId('plain-reading').first()).toHaveText('slight agreement');
  await expect(readers.getByTestId('plain-reading').nth(1)).toHaveText('excellent reliability');
  await expect(section.getByTestId('readers-icc')).toContainText('0.62 [0.30, 0.85] (moderate reliability)');
  await expect(section.getByTestId('reading-bands')).toContainText('Landis');
  await page.unroute('**/api/studies/*/agreement');

  // The study export: a column block per reader and the final score.
  const [download] = await Promise.all([page.waitForEvent('download'), agreement.getByTestId('study-export-csv').click()]);
  const rows = parseCsv(readFileSync(await download.path(), 'utf8'));
  const header = rows[0] as string[];
  expect(header.some((h) => h.includes('reader1')), `reader1 columns in ${header.join(',')}`).toBe(true);
  expect(header.some((h) => h.includes('reader2')), `reader2 columns in ${header.join(',')}`).toBe(true);
  const finalCol = header.findIndex((h) => h.toLowerCase().includes('final') && h.includes(metric.name));
  const fileCol = header.indexOf('filename');
  expect(finalCol, `a final ${metric.name} column in ${header.join(',')}`).toBeGreaterThanOrEqual(0);
  expect(fileCol).toBeGreaterThanOrEqual(0);
  const row = rows.find((r) => r[fileCol] === revised.file);
  expect(row, `${revised.file} in the export`).toBeTruthy();
  expect(Number((row as string[])[finalCol])).toBe(value);
  expect(rows.filter((r) => r.length > 1).length).toBe(FILES.length + 1);

  for (const testId of ['agreement-csv', 'study-audit-csv']) {
    const [d] = await Promise.all([page.waitForEvent('download'), agreement.getByTestId(testId).click()]);
    expect(readFileSync(await d.path(), 'utf8').trim().length, `${testId} has content`).toBeGreaterThan(0);
  }
});

test('a viewer sees no upload or edit controls', async ({ browser, accounts }) => {
  const context = await browser.newContext({ baseURL: accounts.url, viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  await page.goto('/');
  // A wrong password first: the server's answer is shown.
  await page.getByLabel('User name').fill('viewer1');
  await page.getByLabel('Password', { exact: true }).fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('login-error')).toContainText('try again');
  await logIn(page, 'viewer1');
  await expect(page.getByTestId('user-role')).toHaveText('Viewer');

  await expect(page.getByTestId('viewer-note')).toBeVisible();
  await expect(page.getByTestId('dropzone')).toHaveCount(0);
  await expect(page.getByTestId('file-input')).toHaveCount(0);
  await expect(navLink(page, 'Users')).toHaveCount(0);

  const { id } = shared.images.get(FILES[0] as string) as { id: number };
  await page.goto(`/history?open=${id}`);
  const panel = page.getByTestId('review-panel');
  await expect(panel).toBeVisible();
  await expect(panel.getByTestId('score-value')).toHaveCount(schemaOf().metrics.length);
  await expect(panel.getByTestId('score-input')).toHaveCount(0);
  await expect(panel.getByTestId('review-next')).toHaveCount(0);
  await expect(panel.getByRole('button', { name: 'Delete image…' })).toHaveCount(0);
  await expect(panel.getByTestId('read-only-note')).toBeVisible();

  // Studies: readable, but no new study, no adjudication, no reading.
  await openStudy(page);
  await expect(page.getByRole('tab')).toHaveText(['Agreement']);
  await navLink(page, 'Studies').click();
  await expect(page.getByRole('link', { name: 'New study' })).toHaveCount(0);

  // The server refuses changes from a viewer even with the right token.
  const token = ((await (await page.request.get('/api/session')).json()) as { csrf_token: string }).csrf_token;
  const res = await page.request.patch(`/api/images/${id}/scores`, {
    headers: { 'X-CSRF-Token': token },
    data: { scores: { [schemaOf().metrics[0]?.name as string]: 0 } },
  });
  expect(res.status()).toBe(403);
  await context.close();
});

test('changes without the CSRF header are refused; a session that ends shows the login page', async ({ browser, accounts }) => {
  const { context, page } = await session(browser, accounts.url, 'reader1');
  // Playwright's request API shares the page's cookie, but sends no X-CSRF-Token.
  const noHeader = await page.request.post('/api/logout');
  expect(noHeader.status()).toBe(403);
  // Nor does a script on the page that forgets it.
  const fromPage = await page.evaluate(async () => (await fetch('/api/account/password', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ current: 'x', new: 'yyyyyyyyyyyy' }) })).status);
  expect(fromPage).toBe(403);
  // With the token the same logout works: the session ends behind the app's back…
  const ended = await page.evaluate(async () => {
    const s = (await (await fetch('/api/session')).json()) as { csrf_token: string };
    return (await fetch('/api/logout', { method: 'POST', headers: { 'X-CSRF-Token': s.csrf_token } })).status;
  });
  expect([200, 204]).toContain(ended);
  // …and the next request the app makes answers 401: back to the login page, with a word why.
  const history = navLink(page, 'History');
  if (await history.isVisible()) await history.click();
  await expect(page.getByRole('heading', { name: 'Log in to Histoscore' })).toBeVisible();
  await expect(page.getByTestId('login-notice')).toContainText('session has ended');
  await logIn(page, 'reader1');
  await context.close();
});

test('admin: users page (add, the last-admin rule), and a password change', async ({ page, browser, accounts }) => {
  await page.goto('/users');
  await logIn(page, 'admin');
  const table = page.getByTestId('users-table');
  await expect(table.locator('[data-testid=user-row]')).toHaveCount(4);
  await expect(table.locator('[data-testid=user-row][data-name="viewer1"]')).toContainText('Active');

  // Add a user.
  await page.getByLabel('Name', { exact: true }).fill('carol');
  await page.getByLabel('Role', { exact: true }).selectOption('pathologist');
  await page.getByLabel('Initial password').fill('short');
  await page.getByRole('button', { name: 'Add user' }).click();
  await expect(page.getByTestId('new-user-error')).toContainText('at least 10 characters');
  await page.getByLabel('Initial password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Add user' }).click();
  await expect(page.getByTestId('users-message')).toContainText('carol was added');
  await expect(table.locator('[data-testid=user-row][data-name="carol"]')).toBeVisible();

  // The last administrator cannot demote themselves: the server's 409 is shown.
  page.once('dialog', (d) => void d.accept());
  await page.getByLabel('Role of admin').selectOption('viewer');
  await expect(page.getByTestId('users-message')).toContainText('admin was not changed');
  await expect(page.getByLabel('Role of admin')).toHaveValue('admin');

  // Disable and enable again.
  const viewerRow = table.locator('[data-testid=user-row][data-name="viewer1"]');
  await viewerRow.getByRole('button', { name: 'Disable viewer1' }).click();
  await expect(viewerRow).toContainText('Disabled');
  await viewerRow.getByRole('button', { name: 'Enable viewer1' }).click();
  await expect(viewerRow).toContainText('Active');

  // carol changes her password; the renewed session still works (its new CSRF token), and
  // the new password logs in.
  const { context, page: carol } = await session(browser, accounts.url, 'carol');
  await carol.getByRole('button', { name: 'Change password' }).click();
  const dialog = carol.getByTestId('password-dialog');
  await dialog.getByLabel('Current password').fill(PASSWORD);
  await dialog.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await dialog.getByLabel('New password again').fill(NEW_PASSWORD);
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await expect(dialog).toContainText('Your password was changed');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await carol.getByRole('button', { name: 'Log out' }).click();
  await logIn(carol, 'carol', NEW_PASSWORD);
  await context.close();
});
