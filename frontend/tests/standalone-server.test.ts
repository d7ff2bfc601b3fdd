import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFakeOrchestrator, type FakeOrchestrator } from './support/fake-orchestrator';
import { SERVER, hasFreshBuild, startStandalone, type StandaloneServer } from './support/standalone';

// The production build with a sentinel API key in its environment (older deployments
// set one; the frontend no longer reads it): no page, no JS chunk and no API answer may
// contain the key, nor the session token. Needs `npm run build` first; skipped (with a
// note) when there is no up-to-date build.
const BUILT = hasFreshBuild();
const SECRET = 'sk-sentinel-9d2e77a4-standalone-must-not-leak';

let orchestrator: FakeOrchestrator;
let server: StandaloneServer;
let base: string;
let session: string;

if (!BUILT) console.warn(`[standalone-server.test] skipped: no up-to-date ${SERVER}; run \`npm run build\` first.`);

describe.skipIf(!BUILT)('standalone production server', () => {
  beforeAll(async () => {
    orchestrator = await startFakeOrchestrator({ apiKey: SECRET });
    orchestrator.addUser('robbie', 'correct horse battery staple');
    server = await startStandalone({
      ORCHESTRATOR_URL: orchestrator.url,
      NEXT_PUBLIC_API_URL: orchestrator.url,
      NEXT_PUBLIC_WS_URL: orchestrator.wsUrl,
      CARTRITA_API_KEY: SECRET,
    });
    base = server.url;
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'robbie', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    session = /cartrita_session=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')?.[1] ?? '';
    expect(session).toHaveLength(43);
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
    await orchestrator?.close();
  });

  const signedIn = (init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, cookie: `cartrita_session=${session}` } });

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
      const response = await fetch(`${base}${page}`, signedIn());
      expect(response.status, page).toBe(200);
      const html = await response.text();
      seen.push({ what: page, text: html + JSON.stringify([...response.headers]) });
      for (const match of html.matchAll(/\/_next\/static\/[^"'\s)\\]+\.(?:js|css)/g)) chunks.add(match[0]);
    }
    expect(chunks.size).toBeGreaterThan(3);
    for (const chunk of chunks) seen.push({ what: chunk, text: await asset(chunk) });

    // Not in the build: handed to the page per request.
    expect(seen.find((entry) => entry.what === '/chat')?.text).toContain(orchestrator.wsUrl);

    const token = await fetch(`${base}/api/token`, signedIn({ method: 'POST' }));
    const tokenBody = (await token.json()) as Record<string, unknown>;
    expect(token.status).toBe(200);
    expect(Object.keys(tokenBody).sort()).toEqual(['expires_in', 'token']);
    seen.push({ what: '/api/token', text: JSON.stringify(tokenBody) + JSON.stringify([...token.headers]) });

    for (const path of ['/api/health', '/api/conversations', '/api/agents']) {
      const response = await fetch(`${base}${path}`, signedIn());
      seen.push({ what: path, text: (await response.text()) + JSON.stringify([...response.headers]) });
    }

    for (const entry of seen) {
      expect(entry.text, `${entry.what} contains the API key`).not.toContain(SECRET);
      expect(entry.text, `${entry.what} contains the session token`).not.toContain(session);
    }
  });

  it('streams SSE through Next.js without buffering (compression stays off)', async () => {
    let release!: () => void;
    orchestrator.chat.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      const response = await fetch(`${base}/api/chat/stream?message=unbuffered`, signedIn({ headers: { 'accept-encoding': 'gzip, deflate, br' } }));
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
