import { test as base, expect } from '@playwright/test';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = process.env.HISTOSCORE_SHARED ?? resolve(webDir, '../../shared');
export const fixtureImages = join(sharedDir, 'fixtures/reference-model/images');
/** Screenshots for the README. */
export const docsImages = resolve(webDir, '../docs/images');

/** Every test talks to the server that global-setup started (or HISTOSCORE_E2E_URL). */
export const test = base.extend({
  // eslint-disable-next-line no-empty-pattern
  baseURL: async ({}, use) => {
    const url = process.env.HISTOSCORE_E2E_URL;
    if (!url) throw new Error('HISTOSCORE_E2E_URL is not set: global-setup did not run');
    await use(url);
  },
});

export { expect };
