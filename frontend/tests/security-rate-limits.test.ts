// Issue 17, item 5: all frontend users shared one rate-limit bucket (the API key's
// principal), and a client could pick its own address with X-Forwarded-For. Now each
// call goes upstream as its user (Session) with the real client address, which only a
// proxy listed in TRUSTED_PROXIES may supply.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { PEER_HEADER, clientOrigin, parseTrustedProxies } from '@/lib/client-address';

import { startFakeOrchestrator, type FakeOrchestrator } from './support/fake-orchestrator';
import { unusedUrl } from './support/http-server';
import { call, cookieFrom } from './support/http-client';
import { DATA_ROUTES, PASSWORDS, startFrontend, type FrontendUnderTest } from './support/frontend';
import { stampedHeaders } from './support/peer-stamp';
import { SERVER, hasFreshBuild, startStandalone, type StandaloneServer } from './support/standalone';

let stack: FrontendUnderTest | null = null;

afterEach(async () => {
  await stack?.close();
  stack = null;
});

async function login(base: string, username: keyof typeof PASSWORDS): Promise<string> {
  const cookie = cookieFrom(await call(base, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username, password: PASSWORDS[username] }) }));
  if (cookie === null) throw new Error(`${username} could not sign in`);
  return cookie;
}

describe('per-user buckets', () => {
  it("one user spending their limit does not touch another's", async () => {
    stack = await startFrontend();
    const base = stack.frontend.url;
    const alice = await login(base, 'alice');
    const bob = await login(base, 'bob');
    stack.orchestrator.limits.perPrincipal = 3;

    const aliceStatuses = [];
    for (let index = 0; index < 4; index += 1) aliceStatuses.push((await call(base, '/api/conversations', { headers: { cookie: alice } })).status);
    expect(aliceStatuses).toEqual([200, 200, 200, 429]);
    const limited = await call(base, '/api/conversations', { headers: { cookie: alice } });
    expect(limited.headers['retry-after']).toBe('7');

    // Same machine, same frontend: Bob still has his whole allowance.
    expect((await call(base, '/api/conversations', { headers: { cookie: bob } })).status).toBe(200);
    expect([...stack.orchestrator.hits.keys()].filter((key) => key.startsWith('principal:user:'))).toHaveLength(2);
    expect(stack.orchestrator.hits.has('principal:service')).toBe(false);
  });
});

describe('X-Forwarded-For rotation', () => {
  it('from a client we do not trust changes nothing: the token endpoint limit holds', async () => {
    stack = await startFrontend(); // TRUSTED_PROXIES unset: trust no one
    const base = stack.frontend.url;
    const cookie = await login(base, 'alice');
    stack.orchestrator.resetLimits();
    stack.orchestrator.limits.perAddress = 3;

    const statuses = [];
    for (let index = 0; index < 5; index += 1) {
      const answer = await call(base, '/api/token', { method: 'POST', headers: { cookie, 'x-forwarded-for': `198.51.100.${index}`, 'x-real-ip': `198.51.100.${index}` } });
      statuses.push(answer.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Upstream every call came from the real peer, whatever the client claimed.
    expect(new Set(stack.upstream('/api/auth/token').map((request) => request.headers['x-forwarded-for']))).toEqual(new Set(['127.0.0.1']));
  });

  it('does not open new login buckets either', async () => {
    stack = await startFrontend();
    const base = stack.frontend.url;
    stack.orchestrator.limits.perAddress = 2;
    const statuses = [];
    for (let index = 0; index < 4; index += 1) {
      const answer = await call(base, '/api/auth/login', {
        method: 'POST',
        body: JSON.stringify({ username: 'alice', password: `guess-number-${index}` }),
        headers: { 'x-forwarded-for': `203.0.113.${index}` },
        from: '127.0.0.2',
      });
      statuses.push(answer.status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(new Set(stack.upstream('/api/auth/login').map((request) => request.headers['x-forwarded-for']))).toEqual(new Set(['127.0.0.2']));
  });

  it('from a proxy in TRUSTED_PROXIES gives the right-most address that is not a proxy', async () => {
    stack = await startFrontend({ TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' });
    const base = stack.frontend.url;
    const cookie = await login(base, 'alice');
    await call(base, '/api/agents', { headers: { cookie, 'x-forwarded-for': '192.0.2.66, 203.0.113.7, 10.1.2.3' } });
    // The same header straight from a client (127.0.0.2 is not listed) is ignored.
    await call(base, '/api/agents', { headers: { cookie, 'x-forwarded-for': '203.0.113.7' }, from: '127.0.0.2' });
    expect(stack.upstream('/api/agents').map((request) => request.headers['x-forwarded-for'])).toEqual(['203.0.113.7', '127.0.0.2']);
  });
});

describe('the proxy token (ORCHESTRATOR_PROXY_TOKEN → X-Cartrita-Proxy-Token)', () => {
  const SECRET = 'proxy-token-4f9c2a7e1b0d8c6f5e3a2b1c0d9e8f7a';

  /** Every kind of call we make upstream: health, login (and re-login), each data route, logout. */
  async function everyRoute(base: string) {
    const answers = [await call(base, '/api/health')];
    const body = JSON.stringify({ username: 'alice', password: PASSWORDS.alice });
    const first = await call(base, '/api/auth/login', { method: 'POST', body });
    answers.push(first);
    const again = await call(base, '/api/auth/login', { method: 'POST', body, headers: { cookie: cookieFrom(first) ?? '' } });
    answers.push(again);
    const cookie = cookieFrom(again) ?? '';
    for (const [method, path, data] of DATA_ROUTES) answers.push(await call(base, path, { method, body: data, headers: { cookie } }));
    answers.push(await call(base, '/api/auth/logout', { method: 'POST', headers: { cookie } }));
    return answers;
  }

  it('goes with every call upstream when configured, and never back to the browser or into the log', async () => {
    const logged: unknown[] = [];
    const spies = (['log', 'info', 'warn', 'error'] as const).map((level) => vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(...args)));
    try {
      stack = await startFrontend({ ORCHESTRATOR_PROXY_TOKEN: ` ${SECRET} ` });
      const answers = await everyRoute(stack.frontend.url);
      const upstream = stack.orchestrator.requests;
      const paths = new Set(upstream.map((request) => request.url.split('?')[0]));
      for (const path of ['/health', '/api/auth/login', '/api/auth/logout', '/api/auth/me', '/api/auth/token', '/api/conversations', '/api/memory', '/api/memory/search', '/api/agents', '/api/chat/stream']) {
        expect(paths.has(path), path).toBe(true);
      }
      for (const request of upstream) expect(request.headers['x-cartrita-proxy-token'], `${request.method} ${request.url}`).toBe(SECRET);
      for (const answer of answers) {
        expect(answer.text).not.toContain(SECRET);
        expect(JSON.stringify(answer.headers)).not.toContain(SECRET);
      }
      // Failures too: an orchestrator that is gone (502s, and a logged logout failure).
      process.env.ORCHESTRATOR_URL = await unusedUrl();
      for (const answer of await everyRoute(stack.frontend.url)) {
        expect(answer.text).not.toContain(SECRET);
        expect(JSON.stringify(answer.headers)).not.toContain(SECRET);
      }
      expect(JSON.stringify(logged.map(String))).not.toContain(SECRET);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('is not sent when ORCHESTRATOR_PROXY_TOKEN is unset or blank', async () => {
    const unset: Record<string, string>[] = [{}, { ORCHESTRATOR_PROXY_TOKEN: '  ' }];
    for (const env of unset) {
      stack = await startFrontend(env);
      await everyRoute(stack.frontend.url);
      expect(stack.orchestrator.requests.length).toBeGreaterThan(DATA_ROUTES.length);
      for (const request of stack.orchestrator.requests) expect(request.headers['x-cartrita-proxy-token'], request.url).toBeUndefined();
      await stack.close();
      stack = null;
    }
  });
});

describe('clientOrigin (lib/client-address.ts, the one helper)', () => {
  it('ignores X-Forwarded-For and -Proto from an untrusted peer', async () => {
    const headers = await stampedHeaders('198.51.100.20', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' });
    expect(clientOrigin(headers, null)).toEqual({ address: '198.51.100.20', https: false });
    expect(clientOrigin(headers, '10.0.0.0/8')).toEqual({ address: '198.51.100.20', https: false });
  });

  it('walks X-Forwarded-For from the right through trusted proxies only', async () => {
    const headers = await stampedHeaders('::ffff:10.0.0.5', { 'x-forwarded-for': '6.6.6.6, 198.51.100.1, 10.0.0.9', 'x-forwarded-proto': 'http, https' });
    expect(clientOrigin(headers, '10.0.0.0/8')).toEqual({ address: '198.51.100.1', https: true });
    // Everything a proxy: the left-most hop.
    expect(clientOrigin(await stampedHeaders('10.0.0.5', { 'x-forwarded-for': '10.0.0.7' }), '10.0.0.0/8').address).toBe('10.0.0.7');
    // Garbage from a trusted proxy: the last address vouched for.
    expect(clientOrigin(await stampedHeaders('10.0.0.5', { 'x-forwarded-for': 'evil, 10.0.0.8' }), '10.0.0.0/8').address).toBe('10.0.0.8');
    expect(clientOrigin(await stampedHeaders('2001:db8::1', { 'x-forwarded-for': '2001:db8:ffff::42' }), '2001:db8::/64').address).toBe('2001:db8:ffff::42');
  });

  it('takes X-Forwarded-Proto from the right: an appending proxy puts its own value last, the client\'s first', async () => {
    // The client claimed https, the trusted proxy saw (and appended) http.
    expect(clientOrigin(await stampedHeaders('10.0.0.5', { 'x-forwarded-proto': 'https, http' }), '10.0.0.0/8').https).toBe(false);
    expect(clientOrigin(await stampedHeaders('10.0.0.5', { 'x-forwarded-proto': 'http,HTTPS ' }), '10.0.0.0/8').https).toBe(true);
    expect(clientOrigin(await stampedHeaders('10.0.0.5', { 'x-forwarded-proto': 'https' }), '10.0.0.0/8').https).toBe(true);
    // A TLS connection to us is https whatever the header says.
    expect(clientOrigin(await stampedHeaders('10.0.0.5', { 'x-forwarded-proto': 'http' }, 'https'), '10.0.0.0/8').https).toBe(true);
  });

  it('treats a missing or forged stamp as an unknown client (no X-Forwarded-For is sent for it)', async () => {
    expect(clientOrigin(new Headers({ 'x-forwarded-for': '1.2.3.4' }), '0.0.0.0/0')).toEqual({ address: null, https: false });
    expect(clientOrigin(new Headers({ [PEER_HEADER]: 'guessed http 10.0.0.1' }), '0.0.0.0/0')).toEqual({ address: null, https: false });
  });

  it('parses TRUSTED_PROXIES as IPs and CIDRs and ignores the rest', () => {
    const trusted = parseTrustedProxies(' 127.0.0.1 ,10.0.0.0/8, ::1, fd00::/8, nonsense, 10.0.0.0/33 ');
    expect(trusted.invalid).toEqual(['nonsense', '10.0.0.0/33']);
    for (const yes of ['127.0.0.1', '::ffff:127.0.0.1', '10.255.0.1', '::1', 'fd12::5']) expect(trusted.has(yes), yes).toBe(true);
    for (const no of ['127.0.0.2', '11.0.0.1', 'fe80::1', 'nonsense', '']) expect(trusted.has(no), no).toBe(false);
    expect(parseTrustedProxies(null).has('127.0.0.1')).toBe(false);
  });
});

const BUILT = hasFreshBuild();
if (!BUILT) console.warn(`[security-rate-limits.test] built-server part skipped: no up-to-date ${SERVER}; run \`npm run build\` first.`);

describe.skipIf(!BUILT)('the built server (TRUSTED_PROXIES=127.0.0.1)', () => {
  let orchestrator: FakeOrchestrator;
  let server: StandaloneServer;

  beforeAll(async () => {
    orchestrator = await startFakeOrchestrator();
    orchestrator.addUser('alice', PASSWORDS.alice);
    server = await startStandalone({ ORCHESTRATOR_URL: orchestrator.url, TRUSTED_PROXIES: '127.0.0.1', ORCHESTRATOR_PROXY_TOKEN: 'built-server-proxy-token' });
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
    await orchestrator?.close();
  });

  it('stamps the real peer on each request before Next.js sees it: a client cannot forge its address, the proxy can tell it', async () => {
    const cookie = await login(server.url, 'alice');
    const forged = { 'x-forwarded-for': '203.0.113.50', [PEER_HEADER]: 'forged-secret http 10.9.9.9' };
    // A client at 127.0.0.2 (not a trusted proxy), with made-up headers.
    await call(server.url, '/api/agents', { headers: { cookie, ...forged }, from: '127.0.0.2' });
    // The trusted proxy at 127.0.0.1, passing on its client's address.
    await call(server.url, '/api/agents', { headers: { cookie, 'x-forwarded-for': '198.51.100.23' } });
    const seen = orchestrator.requests.filter((request) => request.url === '/api/agents').map((request) => request.headers['x-forwarded-for']);
    expect(seen).toEqual(['127.0.0.2', '198.51.100.23']);
    // The proxy token from the environment the build was started with, on every call.
    expect(orchestrator.requests.length).toBeGreaterThan(0);
    for (const request of orchestrator.requests) expect(request.headers['x-cartrita-proxy-token'], request.url).toBe('built-server-proxy-token');
  });
});
