import { defineConfig, devices } from '@playwright/test';

// End-to-end tests in real Chromium against the real `histoscore serve` binary, started by
// e2e/global-setup.ts on a free port with a fresh data directory (SQLite). Environment:
//   HISTOSCORE_BIN      the binary (default /var/tmp/histoscore-target/debug/histoscore)
//   HISTOSCORE_SHARED   the shared fixtures folder (default ../../shared from web/, i.e. beside the clone)
//   HISTOSCORE_WEB_DIR  passed through: serve the UI from disk instead of the embedded copy
//   HISTOSCORE_UPLOAD_CHUNK_KB  passed through; default 256 (resumable uploads in several chunks)
//   HISTOSCORE_E2E_URL  test an already running server instead of starting one
//   CHROMIUM_PATH       the browser (default /usr/bin/chromium, Debian's package)
export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  globalSetup: './e2e/global-setup.ts',
  outputDir: './test-results',
  use: {
    ...devices['Desktop Chrome'],
    viewport: { width: 1600, height: 1000 },
    deviceScaleFactor: 1,
    acceptDownloads: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
  },
});
