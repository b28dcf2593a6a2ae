// The records CSV export dialog (docs/export.md, "Spreadsheet formats") against a server of its
// own (e2e/accounts-server.ts: a fresh data folder, so the rows counted are this spec's only):
// two images of two groups uploaded; the History filtered to one group; the dialog's semicolon
// format and "what the History shows" download that group's row alone, semicolon-separated, with
// the local-time column; then raw and all records download both rows. The dialog's default
// follows the browser's language (German: semicolons) until a choice is remembered.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect, type Download, type Page } from '@playwright/test';
import { startAccountsServer, type AccountsServer } from './accounts-server';
import { parseCsv } from './csv';
import { fixtureImages } from './fixtures';

const PASSWORD = 'e2e-password-0003';
/** Two groups, S-0001 and S-0002, with contents of their own (different fixtures). */
const FILES = [
  { name: 'S-0001-10X_Image001_ch00.tif', from: 'S-3602-10X_Image001_ch00.tif', group: 'S-0001' },
  { name: 'S-0002-10X_Image001_ch00.tif', from: 'S-4500-10x_Image123_RAW_ch00.tif', group: 'S-0002' },
];

const test = base.extend<object, { server: AccountsServer }>({
  server: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const server = await startAccountsServer([['admin', 'admin']], PASSWORD, 'server-export.log');
      await use(server);
      await server.stop();
    },
    { scope: 'worker', timeout: 240_000 },
  ],
  baseURL: async ({ server }, use) => {
    await use(server.url);
  },
});

test.describe.configure({ mode: 'serial' });
// English (decimal point) unless a test says otherwise; a time zone that is not UTC, for the local-time column.
test.use({ locale: 'en-US', timezoneId: 'Europe/Berlin' });

async function logIn(page: Page) {
  await expect(page.getByRole('heading', { name: 'Log in to Histoscore' })).toBeVisible();
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user-name')).toHaveText('admin');
}

/** The file's rows (the byte-order mark dropped, empty lines left out). */
async function rowsOf(download: Download, sep: string): Promise<string[][]> {
  const text = readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '');
  return parseCsv(text, sep).filter((r) => r.length > 1);
}

const styleRadio = (page: Page, style: 'comma' | 'semicolon' | 'raw') =>
  page
    .getByTestId('export-dialog')
    .getByRole('radio', { name: { comma: /comma \(1\.5\)/, semicolon: /semicolon and decimal comma/, raw: /raw values/ }[style] });

test('export what the History shows, semicolon-separated; then every record, raw', async ({ page }, testInfo) => {
  const paths = FILES.map((f) => {
    const p = testInfo.outputPath(f.name);
    writeFileSync(p, readFileSync(join(fixtureImages, f.from)));
    return p;
  });
  await page.goto('/');
  await logIn(page);
  await page.getByTestId('file-input').setInputFiles(paths);
  for (const f of FILES) {
    await expect(page.locator(`[data-testid=queue-item][data-filename="${f.name}"]`)).toHaveAttribute('data-stage', 'done', { timeout: 150_000 });
  }

  // The History, filtered to one group.
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History', exact: true }).click();
  const rows = page.getByTestId('history-row');
  await expect(rows).toHaveCount(2);
  // The group filter is case-insensitive and matches the start of the group's name.
  await page.getByLabel('Group', { exact: true }).fill('s-000');
  await expect(rows).toHaveCount(2);
  await page.getByLabel('Group', { exact: true }).fill('s-0002');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(FILES[1]?.name as string);
  await page.getByLabel('Group', { exact: true }).fill('S-0001');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(FILES[0]?.name as string);
  // One export button on the History: its own, which can follow the filters.
  await expect(page.getByTestId('header-export-csv')).toHaveCount(0);

  await page.getByTestId('export-csv').click();
  const dialog = page.getByTestId('export-dialog');
  await expect(dialog).toBeVisible();
  // English: comma by default; the History's view is the default set of records, its filter named.
  await expect(styleRadio(page, 'comma')).toBeChecked();
  const filtered = dialog.getByRole('radio', { name: /What the History shows now/ });
  await expect(filtered).toBeChecked();
  await expect(dialog).toContainText('group S-0001');
  await expect(dialog).toContainText('=cmd|'); // what raw gives up, said in the dialog
  await styleRadio(page, 'semicolon').check();
  const [semicolon] = await Promise.all([page.waitForEvent('download'), dialog.getByTestId('export-csv-download').click()]);
  await expect(dialog).toHaveCount(0);
  expect(semicolon.suggestedFilename()).toMatch(/-semicolon\.csv$/);
  const firstLine = readFileSync(await semicolon.path(), 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/)[0] as string;
  expect(firstLine).toContain(';');
  expect(firstLine).not.toContain(',');
  const s = await rowsOf(semicolon, ';');
  const sHeader = s[0] as string[];
  const sFile = sHeader.indexOf('filename');
  const sGroup = sHeader.indexOf('group');
  expect(sFile, `filename in ${firstLine}`).toBeGreaterThanOrEqual(0);
  expect(sHeader, 'the local-time column for the tz sent').toContain('created_at_local');
  expect(s.slice(1).map((r) => r[sFile])).toEqual([FILES[0]?.name]);
  expect(s[1]?.[sGroup]).toBe('S-0001');

  // Again: the remembered choice is the default now; raw, every record.
  await page.getByTestId('export-csv').click();
  await expect(styleRadio(page, 'semicolon')).toBeChecked();
  await styleRadio(page, 'raw').check();
  await dialog.getByRole('radio', { name: 'All records' }).check();
  const [raw] = await Promise.all([page.waitForEvent('download'), dialog.getByTestId('export-csv-download').click()]);
  expect(raw.suggestedFilename()).toMatch(/-raw\.csv$/);
  const r = await rowsOf(raw, ',');
  const rFile = (r[0] as string[]).indexOf('filename');
  expect(rFile).toBeGreaterThanOrEqual(0);
  expect(r.length, 'a header and two rows').toBe(3);
  expect(r.slice(1).map((x) => x[rFile]).sort()).toEqual(FILES.map((f) => f.name).sort());
});

test('German browser: semicolons by default until another format is chosen; the Score page exports every record', async ({ browser, server }) => {
  const context = await browser.newContext({ baseURL: server.url, locale: 'de-DE', viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page);
  await page.getByTestId('header-export-csv').click();
  const dialog = page.getByTestId('export-dialog');
  await expect(styleRadio(page, 'semicolon')).toBeChecked();
  // The Score page has no filters to follow: no choice of records.
  await expect(dialog.getByRole('radio', { name: /What the History shows/ })).toHaveCount(0);
  await expect(dialog).toContainText('All current records');
  // The dialog passes axe, light and dark.
  const { default: AxeBuilder } = await import('@axe-core/playwright');
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const result = await new AxeBuilder({ page }).include('[data-testid=export-dialog]').withTags(['wcag2a', 'wcag2aa']).analyze();
    const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target.join(' ')} — ${v.help}`);
    expect(summary, `the export dialog in ${scheme}`).toEqual([]);
  }
  await styleRadio(page, 'comma').check();
  const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByTestId('export-csv-download').click()]);
  expect(download.suggestedFilename()).toBe('histoscore-export.csv');
  expect((await rowsOf(download, ',')).length).toBe(FILES.length + 1);
  // Remembered over the language, after a reload too.
  await page.reload();
  await page.getByTestId('header-export-csv').click();
  await expect(styleRadio(page, 'comma')).toBeChecked();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await context.close();
});
