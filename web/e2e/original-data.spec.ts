// Coming from the original system, as a lab does it with accounts on (its own server, see
// accounts-server.ts): the original's scores imported from its PostgreSQL table with
// `histoscore import-original` while the server runs, shown in History with the out-of-range
// values flagged "needs review"; and an API token made on the account's page, used by a
// script, then revoked. Needs PostgreSQL on 127.0.0.1:5432 (trust; `psql`), as the Rust tests do.

import { spawnSync } from 'node:child_process';
import { test as base, expect } from '@playwright/test';
import { startAccountsServer, type AccountsServer } from './accounts-server';

const PASSWORD = 'e2e-password-0003';
const ADMIN_PG = process.env.HISTOSCORE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ORIGINAL_DB = `hs_e2e_original_${process.pid}`;

const test = base.extend<object, { accounts: AccountsServer }>({
  accounts: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const server = await startAccountsServer([['ada', 'admin']], PASSWORD);
      await use(server);
      await server.stop();
    },
    { scope: 'worker', timeout: 180_000 },
  ],
  baseURL: async ({ accounts }, use) => {
    await use(accounts.url);
  },
});

function psql(url: string, sql: string) {
  const r = spawnSync('psql', [url, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr || String(r.error)}`);
}

const originalUrl = () => ADMIN_PG.replace(/\/[^/]*$/, `/${ORIGINAL_DB}`);

test.beforeAll(() => {
  psql(ADMIN_PG, `DROP DATABASE IF EXISTS ${ORIGINAL_DB}`);
  psql(ADMIN_PG, `CREATE DATABASE ${ORIGINAL_DB}`);
  // The original's table as its backend creates it, and two rows as its API wrote them (the
  // second after a PUT of 200, which the original stored).
  psql(
    originalUrl(),
    `CREATE TABLE image_scores (id SERIAL PRIMARY KEY, filename VARCHAR NOT NULL UNIQUE, serial_number VARCHAR,
       sample_id VARCHAR, created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ DEFAULT now(),
       score_architecture FLOAT, score_atrophy FLOAT, score_complexes FLOAT, score_fibrosis FLOAT, score_total FLOAT NOT NULL);
     INSERT INTO image_scores (filename, serial_number, sample_id, score_architecture, score_atrophy, score_complexes, score_fibrosis, score_total)
     VALUES ('S-7001-10X_Image001.tif', 'S-7001-01', 'S-7001', 2, 1.5, 1, 3, 7.5),
            ('S-7001-10X_Image002.tif', 'S-7001-02', 'S-7001', 1, 1, 1, 200, 203);`,
  );
});

test.afterAll(() => {
  psql(ADMIN_PG, `DROP DATABASE IF EXISTS ${ORIGINAL_DB}`);
});

async function logIn(page: import('@playwright/test').Page) {
  await page.goto('/');
  await page.getByLabel('User name').fill('ada');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user-name')).toHaveText('ada');
}

test('imported scores from the original system show in History, the out-of-range one flagged', async ({ page, accounts }) => {
  const bin = process.env.HISTOSCORE_BIN ?? '/var/tmp/histoscore-target/debug/histoscore';
  const r = spawnSync(bin, ['import-original', '--from', originalUrl(), '--data-dir', accounts.dataDir], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('2 imported (1 need review)');

  await logIn(page);
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History', exact: true }).click();
  const flagged = page.getByRole('row').filter({ hasText: 'Image002' });
  await expect(flagged.getByTestId('row-needs-review')).toBeVisible();
  await expect(flagged.locator('[data-metric="Fibrosis"]')).toContainText('200');
  await expect(flagged.locator('[data-metric="Fibrosis"]')).toHaveAttribute('title', /needs review: the original system stored 200/);
  const clean = page.getByRole('row').filter({ hasText: 'Image001' });
  await expect(clean.getByText('no image file yet')).toBeVisible();
  await expect(clean.getByTestId('row-needs-review')).toHaveCount(0);
});

test('an API token made on the account page works for a script until it is revoked', async ({ page, accounts, playwright }) => {
  await logIn(page);
  await page.getByRole('button', { name: 'API tokens' }).click();
  const dialog = page.getByTestId('tokens-dialog');
  await dialog.getByLabel('What it is for').fill('nightly export');
  await dialog.getByLabel('Stops working after').selectOption('30');
  await dialog.getByRole('button', { name: 'Make a token' }).click();
  const token = await dialog.getByLabel('New token').inputValue();
  expect(token).toMatch(/^hst_[0-9a-f]{64}$/);
  await expect(dialog.getByTestId('token-row').filter({ hasText: 'nightly export' })).toContainText('not yet');

  // A script: no cookie, no CSRF header, only the token.
  const script = await playwright.request.newContext({ baseURL: accounts.url });
  const bearer = { Authorization: `Bearer ${token}` };
  expect((await script.get('/api/images')).status()).toBe(401);
  expect((await script.get('/api/images', { headers: bearer })).status()).toBe(200);

  // Revoked on the page: the script is refused at once.
  const row = dialog.getByTestId('token-row').filter({ hasText: 'nightly export' });
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row.getByText('revoked')).toBeVisible();
  expect((await script.get('/api/images', { headers: bearer })).status()).toBe(401);
  await script.dispose();
});
