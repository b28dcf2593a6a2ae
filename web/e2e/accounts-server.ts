// A second `histoscore serve` for the specs that need accounts (study.spec.ts). The global
// server (global-setup.ts) stays in single-user mode for review.spec.ts; this one gets its own
// temporary data folder and free port, and its accounts are created with the CLI before it
// starts:
//
//   HISTOSCORE_PASSWORD=… histoscore user add NAME --role ROLE --data-dir DIR
//   histoscore serve --bind 127.0.0.1:PORT --data-dir DIR --model MODEL
//
// Always SQLite in the temporary folder (DATABASE_URL is not passed on), so that it never shares
// a database with the global server.

import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sharedDir, tail, waitHealthy } from './global-setup';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type Role = 'admin' | 'pathologist' | 'viewer';

export interface AccountsServer {
  url: string;
  dataDir: string;
  logPath: string;
  stop: () => Promise<void>;
}

/** `logName`: the server's log in test-results/ (a spec with a server of its own names its own). */
export async function startAccountsServer(users: [name: string, role: Role][], password: string, logName = 'server-accounts.log'): Promise<AccountsServer> {
  const bin = process.env.HISTOSCORE_BIN ?? '/var/tmp/histoscore-target/debug/histoscore';
  const model = join(sharedDir(), 'fixtures/reference-model/model.pth');
  if (!existsSync(bin)) throw new Error(`the histoscore binary is missing: ${bin} (build it, or set HISTOSCORE_BIN)`);
  if (!existsSync(model)) throw new Error(`the reference model is missing: ${model} (set HISTOSCORE_SHARED)`);

  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  const dataDir = mkdtempSync(join(tmpdir(), 'histoscore-e2e-accounts-'));
  const logDir = join(webDir, 'test-results');
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, logName);

  try {
    for (const [name, role] of users) {
      const r = spawnSync(bin, ['user', 'add', name, '--role', role, '--data-dir', dataDir], {
        env: { ...env, HISTOSCORE_PASSWORD: password },
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (r.status !== 0) {
        throw new Error(
          `\`histoscore user add ${name} --role ${role} --data-dir ${dataDir}\` failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`,
        );
      }
    }
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }

  const port = await freePort();
  const log = createWriteStream(logPath);
  const child = spawn(bin, ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--model', model], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exit: string | null = null;
  child.on('exit', (code, signal) => {
    exit = `histoscore serve (accounts) exited early (code ${code}, signal ${signal}); its log: ${logPath}`;
  });
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
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

  try {
    await waitHealthy(url, () => (exit ? `${exit}\n${tail(logPath)}` : null), 120_000);
    const session = await fetch(`${url}/api/session`);
    const body = (await session.json()) as { mode?: string };
    if (body.mode !== 'accounts') throw new Error(`the server with accounts says mode ${JSON.stringify(body.mode)} (expected "accounts"); its log: ${logPath}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, dataDir, logPath, stop };
}
