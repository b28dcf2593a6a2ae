import { defineConfig, devices } from '@playwright/test';

// The original system's Next.js page (../shared/reference/original-frontend, unmodified) driven in
// Chromium against Histoscore's compatibility API. Not part of `npm run e2e` (testDir ./e2e):
// scripts/test-original-page builds the page, starts both servers and runs this config with
//   ORIGINAL_PAGE_URL  the page (`next start`), e.g. http://127.0.0.1:41234
//   HISTOSCORE_URL     the server (`histoscore serve --original-api --cors-origins <page origin>`)
//   HISTOSCORE_SHARED  the shared fixtures folder (default ../../shared from web/)
//   CHROMIUM_PATH      the browser (default /usr/bin/chromium, Debian's package)
export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  timeout: 300_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: '../test-results/original-page',
  use: {
    ...devices['Desktop Chrome'],
    viewport: { width: 1600, height: 1000 },
    deviceScaleFactor: 1,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
  },
});
