import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFakeOrchestrator, type FakeOrchestrator } from './support/fake-orchestrator';
import { unusedUrl } from './support/http-server';

// The production build, run as the AppHost and the container run it (node
// .next/standalone/server.js), with a sentinel API key in its environment: no page,
// no JS chunk and no API answer may contain the key. Needs `npm run build` first;
// skipped (with a note) when there is no build.
const ROOT = join(import.meta.dirname, '..');
const SERVER = join(ROOT, '.next', 'standalone', 'server.js');
const SOURCES = ['app/chat/page.tsx', 'app/api/token/route.ts', 'app/api/chat/stream/route.ts', 'components/chat.tsx', 'lib/orchestrator.ts'];
// A stale build would test old code: then the suite is skipped too, with a note.
const BUILT = existsSync(SERVER) && Math.max(...SOURCES.map((file) => statSync(join(import.meta.dirname, '..', file)).mtimeMs)) <= statSync(SERVER).mtimeMs;
const SECRET = 'sk-sentinel-9d2e77a4-standalone-must-not-leak';

let orchestrator: FakeOrchestrator;
let child: ChildProcess;
let base: string;
let output = '';

async function waitUntilUp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/api/health`);
      if (response.status === 200) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`the standalone server did not come up:\n${output}`);
    if (child.exitCode !== null) throw new Error(`the standalone server exited (${child.exitCode}):\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

if (!BUILT) console.warn(`[standalone-server.test] skipped: no up-to-date ${SERVER}; run \`npm run build\` first.`);

describe.skipIf(!BUILT)('standalone production server', () => {
  beforeAll(async () => {
    orchestrator = await startFakeOrchestrator({ apiKey: SECRET });
    const port = new URL(await unusedUrl()).port;
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [SERVER], {
      cwd: join(ROOT, '.next', 'standalone'),
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        PORT: port,
        HOSTNAME: '127.0.0.1',
        ORCHESTRATOR_URL: orchestrator.url,
        NEXT_PUBLIC_API_URL: orchestrator.url,
        NEXT_PUBLIC_WS_URL: orchestrator.wsUrl,
        CARTRITA_API_KEY: SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitUntilUp(base, 20_000);
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await orchestrator?.close();
  });

  /** A static asset as the server serves it (postbuild copies .next/static next to server.js; without it pages load no JS). */
  async function asset(path: string): Promise<string> {
    const response = await fetch(`${base}${path}`);
    expect(response.status, `${path} is not served: was .next/static copied into .next/standalone?`).toBe(200);
    return response.text();
  }

  it('serves pages, chunks and API answers without the API key, and the WebSocket URL read at run time', async () => {
    const seen: { what: string; text: string }[] = [];
    const chunks = new Set<string>();
    for (const page of ['/', '/chat', '/memory', '/chat?transport=sse']) {
      const response = await fetch(`${base}${page}`);
      expect(response.status, page).toBe(200);
      const html = await response.text();
      seen.push({ what: page, text: html + JSON.stringify([...response.headers]) });
      for (const match of html.matchAll(/\/_next\/static\/[^"'\s)\\]+\.(?:js|css)/g)) chunks.add(match[0]);
    }
    expect(chunks.size).toBeGreaterThan(3);
    for (const chunk of chunks) seen.push({ what: chunk, text: await asset(chunk) });

    // Not in the build: handed to the page per request.
    expect(seen.find((entry) => entry.what === '/chat')?.text).toContain(orchestrator.wsUrl);

    const token = await fetch(`${base}/api/token`, { method: 'POST' });
    const tokenBody = (await token.json()) as Record<string, unknown>;
    expect(token.status).toBe(200);
    expect(Object.keys(tokenBody).sort()).toEqual(['expires_in', 'token']);
    seen.push({ what: '/api/token', text: JSON.stringify(tokenBody) + JSON.stringify([...token.headers]) });

    for (const path of ['/api/health', '/api/conversations', '/api/agents']) {
      const response = await fetch(`${base}${path}`);
      seen.push({ what: path, text: (await response.text()) + JSON.stringify([...response.headers]) });
    }

    for (const entry of seen) expect(entry.text, `${entry.what} contains the API key`).not.toContain(SECRET);
  });

  it('streams SSE through Next.js without buffering (compression stays off)', async () => {
    let release!: () => void;
    orchestrator.chat.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      const response = await fetch(`${base}/api/chat/stream?message=unbuffered`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-encoding')).toBeNull();
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const deadline = Date.now() + 5000;
      while (!text.includes('event: token')) {
        const next = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no token event before the upstream finished; got: ${text}`)), Math.max(0, deadline - Date.now()))),
        ]);
        if (next.done) throw new Error('stream ended early');
        text += next.value;
      }
      release();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      expect(text).toContain('event: done');
    } finally {
      release();
      orchestrator.chat.gate = null;
    }
  });
});
