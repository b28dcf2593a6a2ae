import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function sharedDir(): string {
  return process.env.HISTOSCORE_SHARED ?? resolve(webDir, '../../shared');
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export async function waitHealthy(url: string, exited: () => string | null, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const gone = exited();
    if (gone) throw new Error(gone);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`histoscore serve did not answer ${url}/healthz within ${timeoutMs / 1000} s`);
}

export default async function globalSetup(): Promise<(() => Promise<void>) | void> {
  if (process.env.HISTOSCORE_E2E_URL) return; // an already running server
  const bin = process.env.HISTOSCORE_BIN ?? '/var/tmp/histoscore-target/debug/histoscore';
  const model = join(sharedDir(), 'fixtures/reference-model/model.pth');
  if (!existsSync(bin)) throw new Error(`the histoscore binary is missing: ${bin} (build it, or set HISTOSCORE_BIN)`);
  if (!existsSync(model)) throw new Error(`the reference model is missing: ${model} (set HISTOSCORE_SHARED)`);

  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'histoscore-e2e-'));
  const logDir = join(webDir, 'test-results');
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, 'server.log');
  const log = createWriteStream(logPath);
  const args = ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--model', model];
  // Resumable uploads in small chunks, so that a slide of a few MB takes several requests (resumable.spec.ts).
  const env = { HISTOSCORE_UPLOAD_CHUNK_KB: '256', ...process.env };
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exit: string | null = null;
  child.on('exit', (code, signal) => {
    exit = `histoscore serve exited early (code ${code}, signal ${signal}); its log: ${logPath}`;
  });

  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, () => (exit ? `${exit}\n${tail(logPath)}` : null), 120_000);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  // Fail fast when the binary carries the placeholder page instead of the UI.
  const index = await (await fetch(`${url}/`)).text();
  if (!index.includes('id="root"')) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    const why = index.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
    throw new Error(`the server does not serve the web UI (${why}); rebuild the binary with the UI, or set HISTOSCORE_WEB_DIR=${join(webDir, 'dist')} after npm run build`);
  }
  process.env.HISTOSCORE_E2E_URL = url;
  process.env.HISTOSCORE_E2E_DATA = dataDir;

  return async () => {
    if (!exit) {
      child.kill('SIGTERM');
      await new Promise<void>((ok) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          ok();
        }, 10_000);
        child.on('exit', () => {
          clearTimeout(t);
          ok();
        });
      });
    }
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
  };
}

export function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}
