// Issue 17, item 9: no Content-Security-Policy, Permissions-Policy or HSTS. Pages now
// carry a nonce-based CSP (connect-src: the WebSocket origin), the static headers go on
// every answer, HSTS only over TLS; and in a real browser the pages still work under it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NextRequest } from 'next/server';

import { STATIC_SECURITY_HEADERS, contentSecurityPolicy, webSocketOrigin } from '@/lib/security-headers';
import { proxy } from '@/proxy';

import { CHROMIUM, hasChromium, launchChromium, type Browser } from './support/chromium';
import { startFakeOrchestrator, type FakeOrchestrator } from './support/fake-orchestrator';
import { call, cookieFrom } from './support/http-client';
import { stampedHeaders } from './support/peer-stamp';
import { SERVER, hasFreshBuild, startStandalone, type StandaloneServer } from './support/standalone';

const directives = (policy: string) => new Map(policy.split(';').map((part) => {
  const [name = '', ...values] = part.trim().split(/\s+/);
  return [name, values] as const;
}));

describe('the policy', () => {
  it("allows scripts only by nonce, connections only to our origin and the WebSocket's, and no framing", () => {
    const policy = directives(contentSecurityPolicy({ nonce: 'abc123', wsUrl: 'wss://api.example:8443/some/path' }));
    expect(policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('script-src')).toEqual(["'self'", "'nonce-abc123'", "'strict-dynamic'"]);
    expect(policy.get('style-src')).toEqual(["'self'", "'nonce-abc123'"]);
    expect(policy.get('connect-src')).toEqual(["'self'", 'wss://api.example:8443']);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'self'"]);
    expect(contentSecurityPolicy({ nonce: 'n', wsUrl: null })).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(contentSecurityPolicy({ nonce: 'n', wsUrl: null, dev: true })).toContain("'unsafe-eval'");
  });

  it('maps NEXT_PUBLIC_WS_URL to its ws(s) origin', () => {
    expect(webSocketOrigin('ws://127.0.0.1:8000/')).toBe('ws://127.0.0.1:8000');
    expect(webSocketOrigin('https://api.example')).toBe('wss://api.example');
    expect(webSocketOrigin('ftp://x')).toBeNull();
    expect(webSocketOrigin('not a url')).toBeNull();
    expect(webSocketOrigin(null)).toBeNull();
  });

  it('turns off camera, microphone (no voice input in any component) and location', () => {
    const permissions = STATIC_SECURITY_HEADERS.find((header) => header.key === 'Permissions-Policy')?.value ?? '';
    for (const feature of ['camera=()', 'microphone=()', 'geolocation=()']) expect(permissions).toContain(feature);
  });
});

describe('Proxy (proxy.ts)', () => {
  const saved = process.env.TRUSTED_PROXIES;
  afterEach(() => {
    if (saved === undefined) delete process.env.TRUSTED_PROXIES;
    else process.env.TRUSTED_PROXIES = saved;
  });

  const page = async (path: string, peer: string, headers: Record<string, string> = {}) =>
    proxy(new NextRequest(`http://127.0.0.1:3000${path}`, { headers: await stampedHeaders(peer, headers) }));
  const cookie = { cookie: `cartrita_session=${'s'.repeat(43)}` };

  it('sends a page request without a session to the login page, coming back afterwards', async () => {
    const response = await page('/chat?transport=sse', '127.0.0.1');
    expect(response.status).toBe(303);
    expect(new URL(response.headers.get('location') ?? '').pathname + new URL(response.headers.get('location') ?? '').search).toBe('/login?next=%2Fchat%3Ftransport%3Dsse');
    expect((await page('/login', '127.0.0.1')).headers.get('location')).toBeNull();
  });

  it('gives every page a fresh nonce, in its CSP and in the request header Next.js reads it from', async () => {
    const first = await page('/chat', '127.0.0.1', cookie);
    const second = await page('/chat', '127.0.0.1', cookie);
    const nonceOf = (policy: string | null) => /'nonce-([^']+)'/.exec(policy ?? '')?.[1];
    expect(nonceOf(first.headers.get('content-security-policy'))).toBeTruthy();
    expect(nonceOf(first.headers.get('content-security-policy'))).not.toBe(nonceOf(second.headers.get('content-security-policy')));
    expect(first.headers.get('x-middleware-request-content-security-policy')).toBe(first.headers.get('content-security-policy'));
  });

  it('sends HSTS only over TLS: X-Forwarded-Proto counts from a trusted proxy, not from anyone', async () => {
    process.env.TRUSTED_PROXIES = '10.0.0.0/8';
    const https = { ...cookie, 'x-forwarded-proto': 'https' };
    expect((await page('/', '10.0.0.2', https)).headers.get('strict-transport-security')).toMatch(/^max-age=\d{7,}/);
    expect((await page('/', '198.51.100.4', https)).headers.get('strict-transport-security')).toBeNull();
    expect((await page('/', '10.0.0.2', cookie)).headers.get('strict-transport-security')).toBeNull();
    const tls = proxy(new NextRequest('http://127.0.0.1:3000/', { headers: await stampedHeaders('198.51.100.4', cookie, 'https') }));
    expect(tls.headers.get('strict-transport-security')).not.toBeNull();
  });
});

const BUILT = hasFreshBuild();
if (!BUILT) console.warn(`[security-headers.test] built-server and browser parts skipped: no up-to-date ${SERVER}; run \`npm run build\` first.`);
if (BUILT && !hasChromium()) console.warn(`[security-headers.test] browser part skipped: no Chromium at ${CHROMIUM}.`);

describe.skipIf(!BUILT)('the built server', () => {
  let orchestrator: FakeOrchestrator;
  let server: StandaloneServer;
  let session: string;

  beforeAll(async () => {
    orchestrator = await startFakeOrchestrator();
    orchestrator.addUser('robbie', 'robbie-long-password');
    server = await startStandalone({ ORCHESTRATOR_URL: orchestrator.url, NEXT_PUBLIC_WS_URL: orchestrator.wsUrl });
    const login = await call(server.url, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'robbie', password: 'robbie-long-password' }) });
    session = cookieFrom(login) ?? '';
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
    await orchestrator?.close();
  });

  it('puts the CSP nonce on every script tag of every page, and the other headers on everything', async () => {
    const wsOrigin = new URL(orchestrator.wsUrl).origin;
    for (const path of ['/login', '/', '/chat', '/memory']) {
      const answer = await call(server.url, path, { headers: { 'x-forwarded-proto': 'https', ...(path === '/login' ? {} : { cookie: session }) } });
      expect(answer.status, path).toBe(200);
      const policy = String(answer.headers['content-security-policy']);
      const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
      expect(nonce, path).toBeTruthy();
      expect(directives(policy).get('connect-src')).toEqual(["'self'", wsOrigin]);
      expect(directives(policy).get('frame-ancestors')).toEqual(["'none'"]);
      const scripts = [...answer.text.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
      expect(scripts.length, path).toBeGreaterThan(2);
      for (const tag of scripts) expect(tag, `${path}: ${tag}`).toContain(`nonce="${nonce}"`);
      expect(answer.text).not.toMatch(/<[a-z]+[^>]* style="/); // inline style attributes would be blocked
      // Neither the peer stamp (its secret) nor Proxy's internal headers reach the browser.
      expect(JSON.stringify(answer.headers) + answer.text, path).not.toMatch(/cartrita-peer|x-middleware-/);
      // Plain http from a client that is no trusted proxy: no HSTS, whatever it claims.
      expect(answer.headers['strict-transport-security'], path).toBeUndefined();
    }
    const chunk = /\/_next\/static\/[^"]+\.js/.exec((await call(server.url, '/login')).text)?.[0] ?? '';
    for (const path of ['/login', '/api/health', '/api/conversations', chunk]) {
      const answer = await call(server.url, path, { headers: { cookie: session } });
      expect(answer.headers['x-content-type-options'], path).toBe('nosniff');
      expect(answer.headers['referrer-policy'], path).toBe('strict-origin-when-cross-origin');
      expect(answer.headers['x-frame-options'], path).toBe('DENY');
      expect(String(answer.headers['permissions-policy']), path).toContain('microphone=()');
    }
    expect((await call(server.url, '/api/conversations', { headers: { cookie: session } })).headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('sends pages without a valid session to /login: no cookie (Proxy) or one the orchestrator refuses (the page)', async () => {
    const none = await call(server.url, '/memory');
    expect(none.status).toBe(303);
    expect(none.headers.location).toBe('/login?next=%2Fmemory');
    const forged = await call(server.url, '/memory', { headers: { cookie: `cartrita_session=${'f'.repeat(43)}` } });
    expect(forged.status).toBe(307);
    expect(forged.headers.location).toBe('/login?next=%2Fmemory');
    // Signed in already: the login page sends you on.
    const again = await call(server.url, '/login?next=%2Fchat', { headers: { cookie: session } });
    expect(again.status).toBe(307);
    expect(again.headers.location).toBe('/chat');
    // And never off-site.
    const offsite = await call(server.url, '/login?next=%2F%2Fevil.example', { headers: { cookie: session } });
    expect(offsite.headers.location).toBe('/');
  });

  describe.skipIf(!hasChromium())('in Chromium, under the policy', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await launchChromium();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
    }, 20_000);

    it('signs in, chats over the WebSocket, adds and finds a memory, signs out: no CSP violation anywhere', async () => {
      const { page } = browser;
      const testId = (id: string) => `[data-testid="${id}"]`;
      const $ = (id: string) => `document.querySelector('${testId(id)}')`;

      await page.goto(`${server.url}/chat`);
      await page.waitFor(`location.pathname === '/login' && location.search === '?next=%2Fchat'`, 'the redirect to /login');
      await page.waitFor(`${$('login-submit')}`, 'the login form');

      await page.type(testId('login-username'), 'robbie');
      await page.type(testId('login-password'), 'not-the-password');
      await page.waitFor(`!${$('login-submit')}.disabled`, 'the hydrated form');
      await page.click(testId('login-submit'));
      await page.waitFor(`${$('login-error')}?.textContent === 'Wrong username or password.'`, 'the error text');

      await page.type(testId('login-password'), 'robbie-long-password');
      await page.click(testId('login-submit'));
      await page.waitFor(`location.pathname === '/chat' && ${$('signed-in-user')}?.textContent === 'robbie'`, 'the chat page, signed in');
      expect(await page.evaluate<string>('document.cookie')).toBe(''); // HttpOnly: no script sees the session

      await page.waitFor(`${$('chat-transport')}?.textContent.includes('WebSocket')`, 'the chat to be ready');
      await page.type(testId('chat-input'), 'hello under a strict policy');
      await page.waitFor(`!${$('chat-send')}.disabled`, 'the send button');
      await page.click(testId('chat-send'));
      await page.waitFor(`document.querySelector('${testId('chat-message-assistant')}[data-state="done"]')`, 'the reply', 20_000);
      expect(await page.evaluate<string>(`${$('chat-message-assistant')}.dataset.transport`)).toBe('websocket');
      await page.waitFor(`${$('conversation-item')}`, 'the conversation list');

      await page.goto(`${server.url}/memory`);
      await page.type(testId('memory-input'), 'Robbie keeps the spare key under the blue flowerpot');
      await page.waitFor(`!${$('memory-add')}.disabled`, 'the add button');
      await page.click(testId('memory-add'));
      await page.waitFor(`${$('memory-added')}`, 'the saved note');
      await page.type(testId('memory-search-input'), 'where is the spare key');
      await page.click(testId('memory-search'));
      await page.waitFor(`${$('memory-result')}`, 'a search result'); // its score bar is styled from script

      await page.goto(`${server.url}/`);
      await page.waitFor(`${$('status-orchestrator')}?.textContent === 'healthy'`, 'the status board');

      const sessions = orchestrator.sessions.size;
      await page.click(testId('sign-out'));
      await page.waitFor(`location.pathname === '/login'`, 'the login page after signing out');
      expect(orchestrator.sessions.size).toBe(sessions - 1);
      await page.goto(`${server.url}/memory`);
      await page.waitFor(`location.pathname === '/login'`, 'the login page for a signed-out visitor');

      const isViolation = (message: string) => /content security policy|csp violation|refused to (load|execute|apply|connect|frame)/i.test(message);
      expect(page.messages.filter(isViolation)).toEqual([]);

      // The detector itself works: an off-site image is a violation, and is seen.
      await page.evaluate(`new Image().src = 'http://192.0.2.1/pixel.png'`);
      await page.waitFor('true', 'a moment');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(page.messages.filter(isViolation).join('\n')).toContain('img-src');
    }, 90_000);
  });
});
