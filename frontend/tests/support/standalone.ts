// The production build, run as the AppHost and the container run it (node
// .next/standalone/server.js). Tests that need it are skipped, with a note, when there
// is no build or it is older than the sources (it would test old code).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { unusedUrl } from './http-server';

export const ROOT = join(import.meta.dirname, '..', '..');
export const SERVER = join(ROOT, '.next', 'standalone', 'server.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(tsx?|css)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** True when .next/standalone/server.js exists and is newer than every source it is built from. */
export function hasFreshBuild(): boolean {
  if (!existsSync(SERVER)) return false;
  const sources = Math.max(
    ...['app', 'components', 'lib'].map((dir) => newestSource(join(ROOT, dir))),
    ...['proxy.ts', 'instrumentation.ts', 'next.config.ts'].filter((file) => existsSync(join(ROOT, file))).map((file) => statSync(join(ROOT, file)).mtimeMs),
  );
  return sources <= statSync(SERVER).mtimeMs;
}

export interface StandaloneServer {
  url: string;
  pid: number;
  /** Everything it printed so far. */
  output: () => string;
  /** Peak resident memory (VmHWM) and current (VmRSS) of the server process, in bytes (Linux). */
  memory: () => { peak: number; current: number };
  stop: () => Promise<void>;
}

function readStatus(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) * 1024;
}

/** Start the standalone server on a free loopback port with this environment (plus the basics), ready when /api/health answers. */
export async function startStandalone(env: Record<string, string>): Promise<StandaloneServer> {
  const port = new URL(await unusedUrl()).port;
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [SERVER], {
    cwd: join(ROOT, '.next', 'standalone'),
    env: { PATH: process.env.PATH, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', PORT: port, HOSTNAME: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      // Any answer will do: 503 only says the orchestrator is not there.
      await fetch(`${url}/api/health`);
      break;
    } catch {
      /* not yet */
    }
    if (child.exitCode !== null) throw new Error(`the standalone server exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the standalone server did not come up:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  const pid = child.pid ?? 0;
  return {
    url,
    pid,
    output: () => output,
    memory: () => ({ peak: readStatus(pid, 'VmHWM'), current: readStatus(pid, 'VmRSS') }),
    stop,
  };
}
