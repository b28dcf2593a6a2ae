// Automated retraining on the Models page (docs/models.md) against a server of its own with
// accounts (e2e/accounts-server.ts: a fresh data folder, so that the policy set here never starts
// runs on the global server the other specs share, and nothing here is reviewed): the
// administrator sets a retraining policy (after 5 newly reviewed images, waiting for approval) and
// the page says it in sentences, also after a reload; the evaluation set is not chosen yet, the
// server refuses a change without a reason (the form shows its words) and the administrator
// chooses 25 % of the groups, shown also after a reload; and a registered model without
// comparisons (a copy of the reference weights with one value changed), compared now, gets a
// "not enough data" verdict with the server's reason, downloadable as JSON and CSV.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';
import { startAccountsServer, type AccountsServer } from './accounts-server';
import { sharedDir } from './fixtures';

const PASSWORD = 'e2e-password-0005';
const SAFETENSORS = join(sharedDir, 'fixtures/reference-model/model.safetensors');

const test = base.extend<object, { server: AccountsServer }>({
  server: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const server = await startAccountsServer([['admin', 'admin']], PASSWORD, 'server-retraining.log');
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

async function logIn(page: Page) {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Log in to Histoscore' })).toBeVisible();
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user-name')).toHaveText('admin');
}

async function openModels(page: Page) {
  await logIn(page);
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Models', exact: true }).click();
  await expect(page).toHaveURL(/\/models$/);
  await expect(page.locator('[data-testid=model-row]').first()).toBeVisible();
}

interface Policy {
  after_reviewed: number | null;
  every_hours: number | null;
  head_only: boolean;
  layers: string[];
  auto_promote: boolean;
  metrics: string[];
  updated_by: string | null;
  updated_at: string | null;
}

test('an administrator sets a retraining policy; the page says it in sentences, also after a reload', async ({ page }) => {
  await openModels(page);
  const card = page.getByTestId('retrain-policy');
  // Never set: off, with the defaults.
  await expect(card.getByTestId('policy-trigger')).toHaveText('Off: the server does not retrain on its own.');
  await expect(card.getByTestId('policy-state')).toHaveAttribute('data-enabled', 'false');
  await expect(card.getByTestId('policy-set-by')).toHaveText('Never set: these are the defaults.');
  await expect(card.getByTestId('policy-promotion')).toHaveText('A better model waits for your approval.');
  // Plain words in the main text; the layer names only in the detail.
  await expect(card.getByTestId('policy-kind')).toContainText('Fine-tunes the last layers of the network');

  await card.getByRole('button', { name: /^Change/ }).click();
  const form = card.getByTestId('policy-form');
  await expect(form).toBeVisible();
  await expect(form.getByRole('radio', { name: /^Fine-tune the last layers of the network/ })).toBeChecked();
  await expect(form.getByRole('radio', { name: /^Waits for an administrator’s approval/ })).toBeChecked();
  const after = form.getByLabel('Newly reviewed images before retraining');
  await expect(after).toBeDisabled();
  await form.getByRole('checkbox', { name: 'After', exact: true }).check();
  await expect(after).toBeEnabled();
  // Checked before anything is sent.
  await after.fill('0');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByTestId('policy-error')).toContainText('1 or more');
  await after.fill('5');

  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/models/policy' && r.request().method() === 'PUT'),
    form.getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(res.status(), `PUT /api/models/policy answered ${res.status()}: ${await res.text()}`).toBe(200);
  expect(res.request().postDataJSON()).toEqual({
    after_reviewed: 5,
    every_hours: null,
    head_only: false,
    layers: ['layer3', 'layer4', 'fc'],
    auto_promote: false,
    metrics: [],
  });
  await expect(form).toHaveCount(0);
  await expect(card.getByTestId('policy-saved')).toBeVisible();
  await expect(card.getByTestId('policy-trigger')).toHaveText('Retrains after 5 newly reviewed images.');

  // The server's policy, and the same sentences after a reload.
  const saved = (await (await page.request.get('/api/models/policy')).json()) as Policy;
  expect(saved).toMatchObject({ after_reviewed: 5, every_hours: null, head_only: false, auto_promote: false, metrics: [], updated_by: 'admin' });
  await page.reload();
  await expect(card.getByTestId('policy-trigger')).toHaveText('Retrains after 5 newly reviewed images.');
  await expect(card.getByTestId('policy-state')).toHaveAttribute('data-enabled', 'true');
  await expect(card.getByTestId('policy-promotion')).toHaveText('A better model waits for your approval.');
  await expect(card.getByTestId('policy-metrics')).toHaveText('Must improve: every metric.');
  await expect(card.getByTestId('policy-set-by')).toContainText('Set by admin on');
  await expect(page.getByRole('alert')).toHaveCount(0);
});

interface EvaluationSetAnswer {
  set: { id: number; share: number; groups: string[]; trained: string[]; reason: string; chosen_by: string } | null;
  members: { group: string; images: number }[];
  evaluation_images: number;
  training_images: number;
  min_images: number;
  min_groups: number;
}

test('the evaluation set is not chosen yet; an administrator chooses a quarter of the groups, with a reason the server insists on', async ({ page }) => {
  await openModels(page);
  const answer = await page.request.get('/api/models/evaluation-set');
  expect(answer.status()).toBe(200);
  expect((await answer.json()) as EvaluationSetAnswer).toMatchObject({ set: null, members: [], evaluation_images: 0, min_images: 20, min_groups: 5 });

  const card = page.getByTestId('evaluation-set');
  await expect(card.getByRole('heading', { name: 'Evaluation set' })).toBeVisible();
  await expect(card.getByTestId('evaluation-set-none')).toContainText('Not chosen yet — it is chosen automatically at the first training run.');
  await expect(card.getByTestId('evaluation-set-groups')).toHaveCount(0);
  await expect(card.getByTestId('evaluation-set-share')).toHaveCount(0);

  // Cancel leaves the set as it was.
  await card.getByRole('button', { name: /^Change/ }).click();
  let form = card.getByTestId('evaluation-set-form');
  await expect(form.getByLabel('Share of the sample groups (%)')).toHaveValue('20');
  await form.getByRole('button', { name: 'Cancel' }).click();
  await expect(form).toHaveCount(0);
  await expect(card.getByTestId('evaluation-set-none')).toBeVisible();

  await card.getByRole('button', { name: /^Change/ }).click();
  form = card.getByTestId('evaluation-set-form');
  const share = form.getByLabel('Share of the sample groups (%)');
  const reason = form.getByLabel('Reason (required)');
  await expect(form.getByLabel('Extra sample groups (optional)')).toHaveValue('');
  await expect(form.getByRole('checkbox', { name: /^Pick the groups afresh \(new seed\)/ })).not.toBeChecked();

  // A share outside 0–50 % is refused before anything is sent.
  let sent = 0;
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/models/evaluation-set' && r.method() === 'PUT') sent++;
  });
  await share.fill('60');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByTestId('evaluation-set-error')).toHaveText('The share must be a percentage from 0 to 50.');
  expect(sent).toBe(0);

  // Without a reason the server refuses, and the form says its words by the reason.
  await share.fill('25');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/models/evaluation-set' && r.request().method() === 'PUT'),
    form.getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(refused.status()).toBe(422);
  const refusal = (await refused.json()) as { detail: string; field?: string };
  expect(refusal.field).toBe('reason');
  // The server's words, without the field's name it starts them with (the form says it in words).
  const words = refusal.detail.replace(/^reason:\s*/, '').replace(/\.$/, '');
  expect(words).toContain('say why');
  await expect(form.getByTestId('evaluation-set-error')).toContainText(`The server refused this evaluation set (reason): ${words}`);
  await expect(reason).toHaveAttribute('aria-invalid', 'true');
  await expect(reason).toBeFocused();

  await reason.fill('e2e: a quarter of the groups');
  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/models/evaluation-set' && r.request().method() === 'PUT'),
    form.getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(res.status(), `PUT /api/models/evaluation-set answered ${res.status()}: ${await res.text()}`).toBe(200);
  expect(res.request().postDataJSON()).toEqual({ share: 0.25, groups: [], reason: 'e2e: a quarter of the groups' });
  await expect(form).toHaveCount(0);
  await expect(card.getByTestId('evaluation-set-saved')).toBeVisible();

  const shows = async () => {
    await expect(card.getByTestId('evaluation-set-share')).toHaveText('about 25 % of the sample groups');
    await expect(card.getByTestId('evaluation-set-rule')).toHaveText(
      'About 25 % of the sample groups are kept aside to compare models on; no model trains on them. Groups are assigned by a fixed rule, so new samples also land on one side for good.',
    );
    // Nothing is reviewed on this server: no member yet, too few to compare.
    await expect(card.getByTestId('evaluation-set-counts')).toContainText('0 reviewed images in the evaluation set');
    await expect(card.getByTestId('evaluation-set-short')).toContainText('Comparisons need at least 20 reviewed images from 5 groups in the set');
    await expect(card.getByTestId('evaluation-set-reason')).toContainText('e2e: a quarter of the groups');
    await expect(card.getByTestId('evaluation-set-chosen')).toContainText('chosen by admin on');
    await expect(card.getByTestId('evaluation-set-none')).toHaveCount(0);
  };
  await shows();

  const saved = (await (await page.request.get('/api/models/evaluation-set')).json()) as EvaluationSetAnswer;
  expect(saved.set).toMatchObject({ share: 0.25, groups: [], reason: 'e2e: a quarter of the groups', chosen_by: 'admin' });
  await page.reload();
  await shows();
  // The form starts from the set as it is now.
  await card.getByRole('button', { name: /^Change/ }).click();
  await expect(card.getByTestId('evaluation-set-form').getByLabel('Share of the sample groups (%)')).toHaveValue('25');
  await page.keyboard.press('Escape');
  await expect(card.getByTestId('evaluation-set-form')).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
});

/**
 * A copy of the reference weights with one value of the last layer changed a little: a model of its
 * own (another id) that the server accepts, never trained here and so never compared.
 */
function variantWeights(out: string) {
  const body = readFileSync(SAFETENSORS);
  const headerLength = Number(body.readBigUInt64LE(0));
  const header = JSON.parse(body.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype?: string; data_offsets?: [number, number] }>;
  const tensors = Object.entries(header).filter(([k, t]) => k !== '__metadata__' && t.dtype === 'F32' && Array.isArray(t.data_offsets));
  const chosen = tensors.find(([k]) => k.startsWith('fc') && k.endsWith('bias')) ?? tensors[0];
  expect(chosen, 'an F32 tensor in the reference weights').toBeTruthy();
  const [start] = (chosen as [string, { data_offsets: [number, number] }])[1].data_offsets;
  const at = 8 + headerLength + start;
  const copy = Buffer.from(body);
  copy.writeFloatLE(copy.readFloatLE(at) + 0.01, at);
  writeFileSync(out, copy);
}

interface Evaluation {
  id: number;
  model_id: string;
  verdict: string;
  report: { summary?: string };
}

test('a model without comparisons, compared now, gets a not-enough-data verdict', async ({ page }, testInfo) => {
  const file = testInfo.outputPath('variant.safetensors');
  variantWeights(file);
  await openModels(page);
  const activeId = await page.locator('[data-testid=model-row][data-active=true]').first().getAttribute('data-model-id');
  expect(activeId).toBeTruthy();

  await page.getByLabel('Weights file').setInputFiles(file);
  await page.getByLabel('Name (optional)').fill('e2e variant');
  const [imported] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/models' && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Import model' }).click(),
  ]);
  expect(imported.status(), `POST /api/models answered ${imported.status()}: ${await imported.text()}`).toBe(201);
  const id = ((await imported.json()) as { id: string }).id;
  expect(id).not.toBe(activeId);
  expect(await (await page.request.get(`/api/models/${id}/evaluations`)).json()).toEqual([]);

  // The active model is what others are compared with: it offers no Compare now.
  const activeSection = page.locator(`[data-testid=model-comparison][data-model-id="${activeId}"]`);
  await activeSection.locator('summary').first().click();
  await expect(activeSection.getByTestId('compare-now')).toHaveCount(0);

  const section = page.locator(`[data-testid=model-comparison][data-model-id="${id}"]`);
  await section.locator('summary').first().click();
  await expect(section.getByTestId('comparison-none')).toContainText('Not compared yet');
  await expect(section.getByTestId('download-evaluation-csv')).toHaveCount(0);

  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === `/api/models/${id}/evaluate` && r.request().method() === 'POST'),
    section.getByTestId('compare-now').click(),
  ]);
  expect(res.ok(), `POST /api/models/${id}/evaluate answered ${res.status()}: ${await res.text()}`).toBe(true);
  const made = (await res.json()) as Evaluation;
  expect(made.verdict).toBe('not_enough_data');

  const evaluation = section.locator(`[data-testid=evaluation][data-evaluation-id="${made.id}"]`);
  await expect(evaluation).toHaveAttribute('data-verdict', 'not_enough_data');
  await expect(evaluation.getByTestId('evaluation-verdict')).toHaveText('not enough data');
  await expect(evaluation.getByTestId('evaluation-summary')).toContainText(/not enough reviewed data/i);
  await expect(section.getByTestId('comparison-latest')).toHaveText('not enough data');
  // No figures to show, and nothing to promote.
  await expect(evaluation.getByTestId('comparison-table')).toHaveCount(0);
  await expect(section.getByTestId('promote')).toHaveCount(0);
  await expect(section.getByTestId('comparison-error')).toHaveCount(0);

  // The comparison downloads as JSON (made on the page) and as CSV (the server's).
  const [json] = await Promise.all([page.waitForEvent('download'), evaluation.getByTestId('download-evaluation-json').click()]);
  expect(json.suggestedFilename()).toBe(`evaluation-${id.slice(0, 12)}-${made.id}.json`);
  const saved = JSON.parse(readFileSync(await json.path(), 'utf8')) as Evaluation;
  expect(saved).toMatchObject({ id: made.id, model_id: id, verdict: 'not_enough_data' });
  const csvHref = await section.getByTestId('download-evaluation-csv').getAttribute('href');
  expect(csvHref).toBe(`/api/models/${id}/evaluation.csv`);
  const csv = await page.request.get(csvHref as string);
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toContain('not_enough_data');

  // The server keeps it: listed again after a reload.
  await page.reload();
  await section.locator('summary').first().click();
  await expect(section.locator(`[data-testid=evaluation][data-evaluation-id="${made.id}"]`)).toHaveAttribute('data-verdict', 'not_enough_data');
  // Comparing never changes the active model.
  await expect(page.locator('[data-testid=model-row][data-active=true]').first()).toHaveAttribute('data-model-id', activeId as string);
});
