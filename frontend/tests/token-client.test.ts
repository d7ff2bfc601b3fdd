import { afterEach, describe, expect, it } from 'vitest';

import { MIN_REFRESH_DELAY_MS, TokenError, TokenManager, refreshDelayMs } from '@/lib/token-client';

import { startServer, unusedUrl, type TestServer } from './support/http-server';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A /api/token stand-in: token-1, token-2, ... with the given lifetime; or a failure. */
async function tokenServer(expiresIn = 900, fail: { status: number; body: unknown } | null = null) {
  let issued = 0;
  const control = { fail };
  const server = await startServer((req, res) => {
    if (control.fail !== null) {
      res.writeHead(control.fail.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(control.fail.body));
      return;
    }
    issued += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `token-${issued}`, expires_in: expiresIn }));
  });
  servers.push(server);
  return { server, control, issued: () => issued };
}

/** A manual clock: time moves only when the test says so. */
function fakeTime(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('refreshDelayMs', () => {
  it('renews at 80 % of the lifetime, at least 30 s before expiry, never sooner than 5 s', () => {
    expect(refreshDelayMs(900)).toBe(720_000); // 15 min token: renew after 12 min
    expect(refreshDelayMs(3600)).toBe(2_880_000);
    expect(refreshDelayMs(120)).toBe(90_000); // 30 s margin beats 80 % (96 s)
    expect(refreshDelayMs(20)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(0)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(-5)).toBe(MIN_REFRESH_DELAY_MS);
  });
});

describe('TokenManager', () => {
  it('fetches once, reuses the token until it is due, then fetches a new one', async () => {
    const { server, issued } = await tokenServer(900);
    const time = fakeTime();
    const tokens = new TokenManager({ url: `${server.url}/api/token`, ...time });

    expect(await tokens.getToken()).toBe('token-1');
    expect(tokens.peek()).toMatchObject({ refreshAt: time.now() + 720_000, expiresAt: time.now() + 900_000 });
    time.advance(719_000);
    expect(await tokens.getToken()).toBe('token-1');
    time.advance(1_000);
    expect(await tokens.getToken()).toBe('token-2');
    expect(issued()).toBe(2);
    expect(server.requests.every((request) => request.method === 'POST')).toBe(true);
  });

  it('makes one request for concurrent callers', async () => {
    const { server, issued } = await tokenServer();
    const tokens = new TokenManager({ url: `${server.url}/api/token`, ...fakeTime() });
    const all = await Promise.all([tokens.getToken(), tokens.getToken(), tokens.getToken()]);
    expect(all).toEqual(['token-1', 'token-1', 'token-1']);
    expect(issued()).toBe(1);
  });

  it('reports failures with the server detail, and fetches again on the next call', async () => {
    const { server, control } = await tokenServer(900, { status: 502, body: { error: 'orchestrator_unreachable', detail: 'connection refused' } });
    const tokens = new TokenManager({ url: `${server.url}/api/token`, ...fakeTime() });

    const failure = await tokens.getToken().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TokenError);
    expect(failure).toMatchObject({ status: 502, body: { error: 'orchestrator_unreachable', detail: 'connection refused' } });
    expect(tokens.peek()).toBeNull();

    control.fail = null;
    expect(await tokens.getToken()).toBe('token-1');
  });

  it('drops an invalidated token', async () => {
    const { server } = await tokenServer();
    const tokens = new TokenManager({ url: `${server.url}/api/token`, ...fakeTime() });
    expect(await tokens.getToken()).toBe('token-1');
    tokens.invalidate();
    expect(await tokens.getToken()).toBe('token-2');
  });

  it('fails clearly on a network error or a malformed answer', async () => {
    const down = new TokenManager({ url: `${await unusedUrl()}/api/token` });
    await expect(down.getToken()).rejects.toMatchObject({ status: 0, body: { error: 'network_error' } });

    const { server } = await tokenServer(900, { status: 200, body: { access_token: 'wrong shape' } });
    const odd = new TokenManager({ url: `${server.url}/api/token` });
    await expect(odd.getToken()).rejects.toMatchObject({ body: { error: 'bad_token_response' } });
  });
});
