// The model registry (docs/models.md) against the global single-user server of global-setup.ts,
// which was started with fixtures/reference-model/model.pth: the Models page shows that model as
// active, importing the same weights as .safetensors is no error and activates nothing, rollback
// with nothing to go back to says so, the exports download, the active model's field on slides
// can be set and put back to the default, the history can be ordered
// least-confident first, and a training run started on the page ends in a state the page shows
// (failed, asking for more reviewed images, while the server has fewer than four). This spec
// uploads no images: review.spec.ts counts its own records on the same server.

import { join } from 'node:path';
import type { APIRequestContext, Page } from '@playwright/test';
import { expect, sharedDir, test } from './fixtures';

const SAFETENSORS = join(sharedDir, 'fixtures/reference-model/model.safetensors');

test.describe.configure({ mode: 'serial' });

interface Entry {
  id: string;
  name: string;
  active: boolean;
  format: string;
  /** [width, height] in µm of one field on slides; null: the default (2040 × 1388 µm). */
  field_um?: number[] | null;
}

async function configModel(request: APIRequestContext): Promise<{ id: string; demo: boolean }> {
  const r = await request.get('/api/config');
  expect(r.ok()).toBeTruthy();
  return ((await r.json()) as { model: { id: string; demo: boolean } }).model;
}

async function registry(request: APIRequestContext): Promise<Entry[]> {
  const r = await request.get('/api/models');
  expect(r.status(), 'GET /api/models').toBe(200);
  return (await r.json()) as Entry[];
}

/** The ids of the active entries (one id; the contract allows a second entry for the same weights). */
const activeIds = (list: Entry[]) => [...new Set(list.filter((m) => m.active).map((m) => m.id))];

const modelRow = (page: Page, id: string) => page.locator(`[data-testid=model-row][data-model-id="${id}"]`).first();

test('the Models page lists the model the server was started with as active', async ({ page, request }) => {
  const model = await configModel(request);
  expect(model.demo, 'the server runs the reference model, not the demo').toBe(false);
  expect(activeIds(await registry(request))).toEqual([model.id]);

  await page.goto('/');
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Models', exact: true }).click();
  await expect(page).toHaveURL(/\/models$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
  const row = modelRow(page, model.id);
  await expect(row).toHaveAttribute('data-active', 'true');
  await expect(row.getByTestId('model-status')).toContainText('Active');
  await expect(page.locator('[data-testid=model-row][data-active=true]').first()).toHaveAttribute('data-model-id', model.id);
  // The header names the active model.
  await expect(page.getByTestId('header-model')).toHaveAttribute('data-model-id', model.id);
  // Single-user mode works as an administrator: import and rollback are offered; the active model
  // cannot be activated again.
  await expect(page.getByRole('button', { name: 'Import model' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Roll back' })).toBeVisible();
  await expect(row.getByRole('button', { name: /^Activate/ })).toHaveCount(0);
});

test('importing the same weights again (as .safetensors) shows no error and activates nothing', async ({ page, request }) => {
  const model = await configModel(request);
  await page.goto('/models');
  await expect(modelRow(page, model.id)).toBeVisible();

  await page.getByLabel('Weights file').setInputFiles(SAFETENSORS);
  await page.getByLabel('Name (optional)').fill('reference (safetensors)');
  await expect(page.getByTestId('model-import-error')).toHaveCount(0);
  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/models' && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Import model' }).click(),
  ]);
  // 200 with the existing entry (already registered), or 201 with an entry for the same weights.
  expect([200, 201], `POST /api/models answered ${res.status()}: ${await res.text()}`).toContain(res.status());
  const entry = (await res.json()) as Entry;
  expect(entry.id).toBe(model.id);

  const message = page.getByTestId('models-message');
  await expect(message).toHaveAttribute('data-tone', 'ok');
  await expect(message).toContainText(res.status() === 200 ? 'registered already' : 'Imported');
  await expect(page.getByTestId('model-import-error')).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);

  // Importing never activates: the same model is active, in the API and on the page.
  expect(activeIds(await registry(request))).toEqual([model.id]);
  await expect(page.locator('[data-testid=model-row][data-active=true]').first()).toHaveAttribute('data-model-id', model.id);
  expect((await configModel(request)).id).toBe(model.id);
});

test('rollback with no earlier activation says there is nothing to roll back to', async ({ page, request }) => {
  const model = await configModel(request);
  await page.goto('/models');
  await expect(modelRow(page, model.id)).toBeVisible();
  page.once('dialog', (d) => void d.accept());
  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/models/rollback'),
    page.getByRole('button', { name: 'Roll back' }).click(),
  ]);
  expect(res.status()).toBe(409);
  const message = page.getByTestId('models-message');
  await expect(message).toHaveAttribute('data-tone', 'error');
  await expect(message).toContainText('Nothing to roll back to');
  expect(activeIds(await registry(request))).toEqual([model.id]);
});

test('the active model downloads as .safetensors and .onnx', async ({ page }) => {
  const model = await configModel(page.request);
  await page.goto('/models');
  const row = modelRow(page, model.id);

  const safetensors = await row.getByTestId('download-safetensors').getAttribute('href');
  expect(safetensors).toBe(`/api/models/${model.id}/model.safetensors`);
  const st = await page.request.get(safetensors as string);
  expect(st.status()).toBe(200);
  const body = await st.body();
  // safetensors: an 8-byte little-endian header length, then the JSON header.
  expect(body.length).toBeGreaterThan(8);
  const headerLength = Number(body.readBigUInt64LE(0));
  expect(headerLength).toBeGreaterThan(1);
  expect(8 + headerLength).toBeLessThanOrEqual(body.length);
  const header = JSON.parse(body.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype?: string; shape?: number[] }>;
  const tensors = Object.entries(header).filter(([k]) => k !== '__metadata__');
  expect(tensors.length).toBeGreaterThan(0);
  expect(tensors.every(([, t]) => typeof t.dtype === 'string' && Array.isArray(t.shape))).toBe(true);

  const onnx = await row.getByTestId('download-onnx').getAttribute('href');
  expect(onnx).toBe(`/api/models/${model.id}/model.onnx`);
  const ox = await page.request.get(onnx as string);
  expect(ox.status()).toBe(200);
  expect((await ox.body()).length).toBeGreaterThan(1024);
});

/** `PUT /api/models/{id}/field` with the page's session (and its CSRF token, where the mode has one). */
async function putField(page: Page, id: string, fieldUm: [number, number] | null) {
  const session = (await (await page.request.get('/api/session')).json()) as { csrf_token?: string | null };
  return page.request.put(`/api/models/${id}/field`, {
    headers: session.csrf_token ? { 'X-CSRF-Token': session.csrf_token } : {},
    data: { field_um: fieldUm },
  });
}

test('the field on slides of the active model is set on the page, then put back to the default', async ({ page }) => {
  const model = await configModel(page.request);
  const fieldOf = async () => {
    const r = await page.request.get(`/api/models/${model.id}`);
    expect(r.status(), `GET /api/models/${model.id}`).toBe(200);
    return ((await r.json()) as Entry).field_um ?? null;
  };
  // The server was started without a field size: the default applies.
  expect(await fieldOf()).toBeNull();

  await page.goto('/models');
  const row = modelRow(page, model.id);
  const field = row.getByTestId('model-field');
  await expect(field).toHaveText('2040 × 1388 µm (default)');
  await expect(page.getByTestId('setting-help').filter({ hasText: 'Field on slides' })).toContainText('The area of a slide one score covers');

  try {
    // Single-user mode works as an administrator: the size can be changed.
    await row.getByRole('button', { name: /^Change/ }).click();
    const form = row.getByTestId('model-field-form');
    await expect(form.getByLabel('Width (µm)')).toHaveValue('2040');
    await expect(form.getByLabel('Height (µm)')).toHaveValue('1388');
    // Checked before anything is sent.
    await form.getByLabel('Width (µm)').fill('0');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect(form.getByTestId('model-field-error')).toHaveText('The width must be more than 0 µm.');

    await form.getByLabel('Width (µm)').fill('1000');
    await form.getByLabel('Height (µm)').fill('800');
    const [res] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === `/api/models/${model.id}/field` && r.request().method() === 'PUT'),
      form.getByRole('button', { name: 'Save' }).click(),
    ]);
    expect(res.status(), `PUT /api/models/${model.id}/field answered ${res.status()}: ${await res.text()}`).toBe(200);
    expect(res.request().postDataJSON()).toEqual({ field_um: [1000, 800] });
    await expect(field).toHaveText('1000 × 800 µm (set)');
    await expect(row.getByTestId('model-field-saved')).toContainText('re-score');
    await expect(row.getByTestId('model-field-error')).toHaveCount(0);
    expect(await fieldOf()).toEqual([1000, 800]);
    // The server's list says the same after a reload.
    await page.reload();
    await expect(field).toHaveText('1000 × 800 µm (set)');

    await row.getByRole('button', { name: /^Change/ }).click();
    await expect(form.getByLabel('Width (µm)')).toHaveValue('1000');
    const [back] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === `/api/models/${model.id}/field` && r.request().method() === 'PUT'),
      form.getByRole('button', { name: 'Use the default' }).click(),
    ]);
    expect(back.status(), `PUT /api/models/${model.id}/field answered ${back.status()}: ${await back.text()}`).toBe(200);
    expect(back.request().postDataJSON()).toEqual({ field_um: null });
    await expect(field).toHaveText('2040 × 1388 µm (default)');
    expect(await fieldOf()).toBeNull();
    await expect(page.getByRole('alert')).toHaveCount(0);
  } finally {
    // The slides spec scores on the same server with this model: leave it at the default whatever
    // happened above (without hiding why it failed).
    await putField(page, model.id, null).catch(() => undefined);
  }
});

test('the history orders least confident first', async ({ page }) => {
  await page.goto('/history');
  await expect(page.getByTestId('history-table')).toBeVisible();
  const order = page.getByLabel('Order');
  await expect(order).toHaveValue('newest');

  const [res] = await Promise.all([
    page.waitForResponse((r) => {
      const u = new URL(r.url());
      return u.pathname === '/api/images' && u.searchParams.get('sort') === 'uncertainty' && u.searchParams.get('dir') === 'desc';
    }),
    order.selectOption({ label: 'Least confident first' }),
  ]);
  expect(res.status(), `GET /api/images?sort=uncertainty&dir=desc answered ${res.status()}`).toBe(200);
  const list = (await res.json()) as { items: { id: number }[]; total: number };
  await expect(page).toHaveURL(/[?&]sort=uncertainty/);
  await expect(page.getByRole('alert')).toHaveCount(0);

  // The list renders in the server's order.
  await expect(page.getByTestId('history-total')).toContainText(`${list.total.toLocaleString('en-US')} record`);
  const rows = page.getByTestId('history-row');
  await expect(rows).toHaveCount(list.items.length);
  await expect.poll(() => rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-record-id'))))).toEqual(list.items.map((i) => i.id));
  if (list.items.length === 0) await expect(page.getByText('No records match.')).toBeVisible();

  // The order is in the address: a reload keeps it.
  await page.reload();
  await expect(page.getByLabel('Order')).toHaveValue('least-confident');
});

interface Run {
  id: number;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  error: string | null;
  model_id: string | null;
}

test('a training run started on the page ends in a state the page shows', async ({ page, request }) => {
  const model = await configModel(request);
  // Reviewed images with every metric scored are what training uses; under four the server fails
  // the run. This spec runs before review.spec.ts reviews any, but it may share a server with more.
  const reviewed = await request.get('/api/images?review_status=reviewed&limit=1');
  expect(reviewed.ok()).toBeTruthy();
  const reviewedCount = ((await reviewed.json()) as { total: number }).total;

  await page.goto('/models');
  const form = page.getByTestId('train-form');
  await expect(form.getByRole('heading', { name: 'Train a new model' })).toBeVisible();
  await expect(form).toContainText('by sample group');
  await expect(form).toContainText('not activated');
  await expect(form.getByLabel('Seed')).toHaveValue('42');
  await expect(form.getByLabel('Most epochs')).toHaveValue('300');
  await expect(form.getByLabel('Validation share')).toHaveValue('0.2');
  await expect(form.getByTestId('train-mode')).toHaveValue('full');
  await form.getByTestId('train-mode').selectOption('head');
  await form.getByLabel('Name of the new model (optional)').fill('e2e head');
  // Few epochs, should this server have enough reviewed images to really train.
  await form.getByLabel('Most epochs').fill('5');

  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/training' && r.request().method() === 'POST'),
    form.getByRole('button', { name: 'Start training' }).click(),
  ]);
  expect(res.status(), `POST /api/training answered ${res.status()}: ${await res.text()}`).toBe(202);
  expect(res.request().postDataJSON()).toEqual({ head_only: true, seed: 42, epochs: 5, val_fraction: 0.2, name: 'e2e head' });
  const run = (await res.json()) as Run;
  await expect(page.getByTestId('train-started')).toContainText(`Training run ${run.id} started`);

  // The run is listed at once and polled until it ends.
  const item = page.locator(`[data-testid=training-run][data-run-id="${run.id}"]`);
  await expect(item).toBeVisible();
  await expect(item).toHaveAttribute('data-state', /^(done|failed)$/, { timeout: 150_000 });
  const final = (await (await request.get(`/api/training/${run.id}`)).json()) as Run;
  expect(['done', 'failed'], `run ${run.id}: ${JSON.stringify(final)}`).toContain(final.state);
  await expect(item).toHaveAttribute('data-state', final.state);
  await expect(item.getByTestId('training-state')).toHaveText(final.state);
  await expect(item.getByTestId('training-progress')).toHaveCount(0);
  await expect(item.getByRole('button', { name: /^Cancel/ })).toHaveCount(0);

  if (final.state === 'failed') {
    expect(final.error, 'a failed run says why').toBeTruthy();
    await expect(item.getByTestId('training-error')).toHaveText((final.error as string).trim());
    if (reviewedCount < 4) expect(final.error).toMatch(/review more images/);
  } else {
    // Done: the new model is in the registry table, not active, and the run names it.
    expect(final.model_id).toBeTruthy();
    await expect(item.getByTestId('training-model')).toHaveAttribute('data-model-id', final.model_id as string);
    await expect(modelRow(page, final.model_id as string)).toHaveAttribute('data-active', 'false');
  }
  // Training never activates a model.
  expect(activeIds(await registry(request))).toEqual([model.id]);

  // The list is the server's: a reload shows the same final state.
  await page.reload();
  await expect(page.locator(`[data-testid=training-run][data-run-id="${run.id}"]`)).toHaveAttribute('data-state', final.state);
});

test('accessibility: no axe violations on the Models page, light and dark', async ({ page }) => {
  const { default: AxeBuilder } = await import('@axe-core/playwright');
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto('/models');
    await expect(page.locator('[data-testid=model-row]').first()).toBeVisible();
    const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
    const summary = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target.join(' ')} — ${v.help}`);
    expect(summary, `/models in ${scheme}`).toEqual([]);
  }
});
