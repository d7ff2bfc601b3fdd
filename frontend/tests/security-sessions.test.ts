// Issue 17, item 1: the frontend gave full access to anyone (POST /api/token minted a
// JWT for the API key's principal; /api/conversations and /api/memory/search returned
// all data with no credentials). Each test below replays such a request.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { call, cookieFrom } from './support/http-client';
import { DATA_ROUTES, PASSWORDS, startFrontend, type FrontendUnderTest } from './support/frontend';

let stack: FrontendUnderTest;
let base: string;

beforeEach(async () => {
  stack = await startFrontend();
  base = stack.frontend.url;
});

afterEach(async () => {
  await stack.close();
});

async function login(username: keyof typeof PASSWORDS): Promise<string> {
  const answer = await call(base, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username, password: PASSWORDS[username] }) });
  expect(answer.status).toBe(200);
  const cookie = cookieFrom(answer);
  if (cookie === null) throw new Error('no cookie');
  return cookie;
}

describe('without a session', () => {
  it('every data route answers 401 "sign in first" (curl sends no sec-fetch-site), and nothing reaches the orchestrator', async () => {
    for (const [method, path, body] of DATA_ROUTES) {
      const answer = await call(base, path, { method, body });
      expect(answer.status, `${method} ${path}`).toBe(401);
      expect(answer.json, `${method} ${path}`).toEqual({ error: 'unauthorized', detail: 'sign in first' });
    }
    expect(stack.orchestrator.requests).toEqual([]);
    expect(stack.orchestrator.minted).toEqual([]);
  });

  it('a cookie that is not even token-shaped counts as none', async () => {
    for (const cookie of ['cartrita_session=', 'cartrita_session=a b', `cartrita_session=${'x'.repeat(300)}`, 'other_session=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG']) {
      const answer = await call(base, '/api/conversations', { headers: { cookie } });
      expect(answer.status, cookie).toBe(401);
      expect(answer.json?.detail).toBe('sign in first');
    }
    expect(stack.orchestrator.requests).toEqual([]);
  });

  it('/api/health stays open', async () => {
    const answer = await call(base, '/api/health');
    expect(answer.status).toBe(200);
    expect(answer.json?.service).toBe('frontend');
  });
});

describe('a forged or unknown session cookie', () => {
  it("is passed to the orchestrator, whose 401 comes back, with the cookie cleared", async () => {
    const forged = 'cartrita_session=Zm9yZ2VkLXNlc3Npb24tdG9rZW4tdGhhdC1uby1vbmUtaXNzdWVk';
    for (const [method, path, body] of DATA_ROUTES) {
      const answer = await call(base, path, { method, body, headers: { cookie: forged } });
      expect(answer.status, `${method} ${path}`).toBe(401);
      expect(answer.json?.error).toBe('unauthorized');
      expect(answer.json?.detail).not.toBe('sign in first'); // the orchestrator's answer, relayed
      expect(String(answer.headers['set-cookie'])).toMatch(/^cartrita_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict/);
    }
    const upstreamCalls = stack.orchestrator.requests;
    expect(upstreamCalls).toHaveLength(DATA_ROUTES.length);
    for (const request of upstreamCalls) {
      expect(request.headers.authorization).toBe('Session Zm9yZ2VkLXNlc3Npb24tdG9rZW4tdGhhdC1uby1vbmUtaXNzdWVk');
      expect(request.headers['x-api-key']).toBeUndefined();
    }
    expect(stack.orchestrator.minted).toEqual([]);
  });
});

describe('login, session, logout', () => {
  it('a wrong password gets the orchestrator\'s 401 and no cookie', async () => {
    const answer = await call(base, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'alice', password: 'not-her-password' }) });
    expect(answer.status).toBe(401);
    expect(answer.json).toEqual({ error: 'unauthorized', detail: 'invalid username or password' });
    expect(answer.headers['set-cookie']).toBeUndefined();
    const missing = await call(base, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'alice' }) });
    expect(missing.status).toBe(422);
  });

  it('login sets an HttpOnly SameSite=Strict cookie (not Secure over plain http) and answers only {user}', async () => {
    const answer = await call(base, '/api/auth/login', { method: 'POST', body: JSON.stringify({ username: 'Alice', password: PASSWORDS.alice }) });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ user: { id: expect.any(String), username: 'alice' } });
    const setCookie = String(answer.headers['set-cookie']);
    expect(setCookie).toMatch(/^cartrita_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    const token = setCookie.split(';')[0]?.split('=')[1] ?? '';
    expect(answer.text).not.toContain(token);
    expect(answer.headers['cache-control']).toContain('no-store');
    // The orchestrator saw the client's address, and no credentials of ours.
    const [upstreamLogin] = stack.upstream('/api/auth/login');
    expect(upstreamLogin?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(upstreamLogin?.headers.authorization).toBeUndefined();
    expect(upstreamLogin?.headers['x-api-key']).toBeUndefined();
  });

  it('me, data and the WebSocket token all act for the signed-in user, by session', async () => {
    const cookie = await login('alice');
    const whoami = await call(base, '/api/auth/me', { headers: { cookie } });
    expect(whoami.json).toEqual({ user: { id: expect.any(String), username: 'alice' } });

    const token = await call(base, '/api/token', { method: 'POST', headers: { cookie } });
    expect(token.status).toBe(200);
    expect(Object.keys(token.json ?? {}).sort()).toEqual(['expires_in', 'token']);
    expect(token.json?.expires_in).toBe(60);
    const issued = stack.orchestrator.tokens.get(String(token.json?.token));
    expect(issued).toMatchObject({ audience: 'ws', principal: { kind: 'user', user: { username: 'alice' } } });
    expect(JSON.parse(stack.upstream('/api/auth/token')[0]?.body ?? '{}')).toEqual({ purpose: 'ws' });

    for (const request of stack.orchestrator.requests.filter((r) => r.url !== '/api/auth/login')) {
      expect(request.headers.authorization).toMatch(/^Session [A-Za-z0-9_-]{43}$/);
      expect(request.headers['x-api-key']).toBeUndefined();
    }
  });

  it("one user's conversations and memories are not another's", async () => {
    const alice = await login('alice');
    const bob = await login('bob');
    const stream = await call(base, '/api/chat/stream?message=alice%20secret%20plans', { headers: { cookie: alice } });
    expect(stream.status).toBe(200);
    const conversationId = /"conversation_id":"([^"]+)"/.exec(stream.text)?.[1] ?? '';
    await call(base, '/api/memory', { method: 'POST', headers: { cookie: alice }, body: JSON.stringify({ content: 'alice pin code 4321' }) });

    expect((await call(base, '/api/conversations', { headers: { cookie: alice } })).json?.conversations).toHaveLength(1);
    expect((await call(base, '/api/conversations', { headers: { cookie: bob } })).json?.conversations).toEqual([]);
    expect((await call(base, `/api/conversations/${conversationId}`, { headers: { cookie: bob } })).status).toBe(404);
    expect((await call(base, '/api/memory/search', { method: 'POST', headers: { cookie: bob }, body: JSON.stringify({ query: 'alice pin code' }) })).json?.results).toEqual([]);
    expect((await call(base, '/api/memory/search', { method: 'POST', headers: { cookie: alice }, body: JSON.stringify({ query: 'alice pin code' }) })).json?.results).toHaveLength(1);
  });

  it('logout ends the session at the orchestrator and clears the cookie; the old cookie is then refused', async () => {
    const cookie = await login('alice');
    const out = await call(base, '/api/auth/logout', { method: 'POST', headers: { cookie } });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^cartrita_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    expect(stack.orchestrator.sessions.size).toBe(0);
    expect((await call(base, '/api/conversations', { headers: { cookie } })).status).toBe(401);
  });

  it('signing in again ends the previous session at the orchestrator', async () => {
    const first = await login('alice');
    const firstToken = first.split('=')[1] ?? '';
    const again = await call(base, '/api/auth/login', { method: 'POST', headers: { cookie: first }, body: JSON.stringify({ username: 'bob', password: PASSWORDS.bob }) });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ user: { id: expect.any(String), username: 'bob' } });
    const second = cookieFrom(again) ?? '';
    expect(second).not.toBe(first);

    const logouts = stack.upstream('/api/auth/logout');
    expect(logouts).toHaveLength(1);
    expect(logouts[0]?.method).toBe('POST');
    expect(logouts[0]?.headers.authorization).toBe(`Session ${firstToken}`);
    expect(logouts[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
    // The new login itself went up without the old session.
    expect(stack.upstream('/api/auth/login').at(-1)?.headers.authorization).toBeUndefined();
    expect(stack.orchestrator.sessions.has(firstToken)).toBe(false);
    expect(stack.orchestrator.sessions.size).toBe(1);
    expect((await call(base, '/api/conversations', { headers: { cookie: first } })).status).toBe(401);
    expect((await call(base, '/api/auth/me', { headers: { cookie: second } })).json?.user).toMatchObject({ username: 'bob' });
  });

  it('a failed new login leaves the old session alone; a stale old cookie does not stop the new login', async () => {
    const first = await login('alice');
    const wrong = await call(base, '/api/auth/login', { method: 'POST', headers: { cookie: first }, body: JSON.stringify({ username: 'bob', password: 'wrong' }) });
    expect(wrong.status).toBe(401);
    expect(stack.upstream('/api/auth/logout')).toEqual([]);
    expect((await call(base, '/api/auth/me', { headers: { cookie: first } })).status).toBe(200);

    // Ended elsewhere already: its logout fails upstream (401), which is ignored.
    const stale = 'cartrita_session=c3RhbGUtc2Vzc2lvbi10b2tlbi10aGF0LW5vLW9uZS1rbm93cw';
    const fresh = await call(base, '/api/auth/login', { method: 'POST', headers: { cookie: stale }, body: JSON.stringify({ username: 'bob', password: PASSWORDS.bob }) });
    expect(fresh.status).toBe(200);
    expect(String(fresh.headers['set-cookie'])).toMatch(/^cartrita_session=[A-Za-z0-9_-]{43};/);
    expect(stack.upstream('/api/auth/logout').map((request) => request.headers.authorization)).toEqual(['Session c3RhbGUtc2Vzc2lvbi10b2tlbi10aGF0LW5vLW9uZS1rbm93cw']);
  });

  it('the session cookie is Secure when the request came over https through a trusted proxy', async () => {
    process.env.TRUSTED_PROXIES = '127.0.0.1';
    const body = JSON.stringify({ username: 'alice', password: PASSWORDS.alice });
    const proxied = await call(base, '/api/auth/login', { method: 'POST', body, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } });
    expect(String(proxied.headers['set-cookie'])).toMatch(/; SameSite=Strict; Secure$/);
    // The same header from a client we do not trust changes nothing.
    const direct = await call(base, '/api/auth/login', { method: 'POST', body, from: '127.0.0.2', headers: { 'x-forwarded-proto': 'https' } });
    expect(String(direct.headers['set-cookie'])).not.toContain('Secure');
  });
});

describe('defence in depth', () => {
  it('still refuses requests a browser marks cross-site, session or not', async () => {
    const cookie = await login('alice');
    const before = stack.orchestrator.requests.length;
    for (const [method, path, body] of [...DATA_ROUTES, ['POST', '/api/auth/login', JSON.stringify({ username: 'alice', password: PASSWORDS.alice })] as const]) {
      const answer = await call(base, path, { method, body, headers: { cookie, 'sec-fetch-site': 'cross-site' } });
      expect(answer.status, `${method} ${path}`).toBe(403);
    }
    expect(stack.orchestrator.requests.length).toBe(before);
  });

  it('login CSRF: a form POST (text/plain, JSON-looking body) is refused with 415 even without Sec-Fetch-Site', async () => {
    const body = JSON.stringify({ username: 'alice', password: PASSWORDS.alice });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const answer = await call(base, '/api/auth/login', { method: 'POST', body, headers: { 'content-type': type } });
      expect(answer.status, type).toBe(415);
      expect(answer.json, type).toEqual({ error: 'unsupported_media_type', detail: 'the request body must be JSON, sent with Content-Type: application/json' });
      expect(answer.headers['set-cookie'], type).toBeUndefined();
    }
    // The JSON routes behind a session want it too.
    const cookie = await login('alice');
    const before = stack.orchestrator.requests.length;
    for (const path of ['/api/memory', '/api/memory/search']) {
      const answer = await call(base, path, { method: 'POST', body: JSON.stringify({ content: 'x', query: 'x' }), headers: { cookie, 'content-type': 'text/plain' } });
      expect(answer.status, path).toBe(415);
    }
    expect(stack.orchestrator.requests.length).toBe(before);
  });

  it('a POST whose Origin is another site is refused (403) even without Sec-Fetch-Site; our own Origin passes', async () => {
    const body = JSON.stringify({ username: 'alice', password: PASSWORDS.alice });
    const host = new URL(base).host;
    for (const origin of ['https://evil.example', 'null', `http://${host}.evil.example`, `http://127.0.0.2:${new URL(base).port}`, 'file://', 'garbage']) {
      const answer = await call(base, '/api/auth/login', { method: 'POST', body, headers: { origin } });
      expect(answer.status, origin).toBe(403);
      expect(answer.json, origin).toEqual({ error: 'forbidden', detail: 'cross-site requests are not allowed' });
      expect(answer.headers['set-cookie'], origin).toBeUndefined();
    }
    expect(stack.upstream('/api/auth/login')).toEqual([]);

    const cookie = await login('alice');
    const before = stack.orchestrator.requests.length;
    for (const [method, path, data] of [...DATA_ROUTES, ['POST', '/api/auth/logout', undefined] as const]) {
      if (method !== 'POST') continue;
      const answer = await call(base, path, { method, body: data, headers: { cookie, origin: 'https://evil.example' } });
      expect(answer.status, path).toBe(403);
    }
    expect(stack.orchestrator.requests.length).toBe(before);

    // Same origin (any scheme: TLS may end at a proxy), or the host a proxy forwarded.
    expect((await call(base, '/api/auth/login', { method: 'POST', body, headers: { origin: `http://${host}` } })).status).toBe(200);
    expect((await call(base, '/api/auth/login', { method: 'POST', body, headers: { origin: `https://${host}` } })).status).toBe(200);
    expect((await call(base, '/api/auth/login', { method: 'POST', body, headers: { origin: 'https://chat.example', 'x-forwarded-host': 'chat.example:443' } })).status).toBe(200);
    // GETs do not carry a form's side effects: an Origin there changes nothing.
    expect((await call(base, '/api/auth/me', { headers: { cookie, origin: 'https://evil.example' } })).status).toBe(200);
  });

  it('no long-lived token in the chat stream URL: a ?token= from the browser is dropped, the session goes in a header', async () => {
    const cookie = await login('alice');
    const answer = await call(base, '/api/chat/stream?message=hi&token=stolen.jwt.value', { headers: { cookie } });
    expect(answer.status).toBe(200);
    const [upstreamStream] = stack.upstream('/api/chat/stream');
    expect(upstreamStream?.url).toBe('/api/chat/stream?message=hi');
    expect(upstreamStream?.headers.authorization).toMatch(/^Session /);
  });
});
