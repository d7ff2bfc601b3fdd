import { afterEach, describe, expect, it } from 'vitest';

import { MIN_REFRESH_DELAY_MS, RETRY_DELAY_MS, TokenError, TokenManager, refreshDelayMs } from '@/lib/token-client';

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

/** A manual clock and timer queue: time moves only when the test says so. */
function fakeTime(start = 1_000_000) {
  let now = start;
  const timers: { id: number; at: number; callback: () => void }[] = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimer: (callback: () => void, ms: number) => {
      const id = nextId++;
      timers.push({ id, at: now + ms, callback });
      return id;
    },
    clearTimer: (handle: unknown) => {
      const index = timers.findIndex((timer) => timer.id === handle);
      if (index !== -1) timers.splice(index, 1);
    },
    /** Scheduled timers as delays from now. */
    pending: () => timers.map((timer) => timer.at - now).sort((a, b) => a - b),
    /** Move the clock to the next timer and fire it. */
    fireNext: () => {
      timers.sort((a, b) => a.at - b.at);
      const timer = timers.shift();
      if (timer === undefined) throw new Error('no timer scheduled');
      now = timer.at;
      timer.callback();
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

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

  it('once started, renews ahead of expiry on its own', async () => {
    const { server } = await tokenServer(600);
    const time = fakeTime();
    const tokens = new TokenManager({ url: `${server.url}/api/token`, ...time });
    tokens.start();
    expect(time.pending()).toEqual([0]); // first fetch right away
    time.fireNext();
    await settle();
    expect(tokens.peek()?.token).toBe('token-1');
    expect(time.pending()).toEqual([480_000]); // 80 % of 10 min

    time.fireNext();
    await settle();
    expect(tokens.peek()?.token).toBe('token-2');
    expect(time.pending()).toEqual([480_000]);
    // The renewed token is handed out without another request: it was fetched ahead of time.
    expect(await tokens.getToken()).toBe('token-2');

    tokens.stop();
    expect(time.pending()).toEqual([]);
  });

  it('retries a failed renewal later and reports failures with the server detail', async () => {
    const { server, control } = await tokenServer(900, { status: 502, body: { error: 'orchestrator_unreachable', detail: 'connection refused' } });
    const time = fakeTime();
    const tokens = new TokenManager({ url: `${server.url}/api/token`, ...time });

    const failure = await tokens.getToken().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TokenError);
    expect(failure).toMatchObject({ status: 502, body: { error: 'orchestrator_unreachable', detail: 'connection refused' } });

    tokens.start();
    time.fireNext();
    await settle();
    expect(time.pending()).toEqual([RETRY_DELAY_MS]);
    control.fail = null;
    time.fireNext();
    await settle();
    expect(tokens.peek()?.token).toBe('token-1');
    tokens.stop();
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
