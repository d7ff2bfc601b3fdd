import { afterEach, describe, expect, it } from 'vitest';

import { fetchHealth } from '@/lib/health-client';

import { startJsonServer, startServer, unusedUrl, type TestServer } from './support/http-server';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('fetchHealth', () => {
  it('returns the JSON body of a 503 as a successful fetch', async () => {
    const server = await startJsonServer(503, { service: 'frontend', status: 'degraded' });
    servers.push(server);
    await expect(fetchHealth(`${server.url}/api/health`)).resolves.toEqual({
      ok: true,
      payload: { service: 'frontend', status: 'degraded' },
    });
  });

  it('fails on a non-JSON answer', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('boom');
    });
    servers.push(server);
    await expect(fetchHealth(`${server.url}/api/health`)).resolves.toEqual({ ok: false, error: 'HTTP 500 without a JSON body' });
  });

  it('fails on a network error and on a timeout', async () => {
    const refused = await fetchHealth(`${await unusedUrl()}/api/health`);
    expect(refused.ok).toBe(false);

    const hanging = await startServer(() => undefined);
    servers.push(hanging);
    await expect(fetchHealth(`${hanging.url}/api/health`, 200)).resolves.toEqual({ ok: false, error: 'timed out after 200 ms' });
  });
});
