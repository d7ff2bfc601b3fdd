import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { GET, dynamic } from '@/app/api/health/route';
import type { FrontendHealthReport } from '@/lib/health-types';

import {
  orchestratorHealthy,
  orchestratorUnhealthy,
  startJsonServer,
  startServer,
  unusedUrl,
  type TestServer,
} from './support/http-server';

const SECRET = 'sk-test-never-leak-4f9a1c';
const ENV_KEYS = ['ORCHESTRATOR_URL', 'NEXT_PUBLIC_API_URL', 'CARTRITA_API_KEY', 'ORCHESTRATOR_HEALTH_TIMEOUT_MS'];

let saved: Record<string, string | undefined>;
const servers: TestServer[] = [];

beforeEach(() => {
  saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
  for (const key of ENV_KEYS) delete process.env[key];
  process.env.CARTRITA_API_KEY = SECRET;
});

afterEach(async () => {
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function track(server: Promise<TestServer>): Promise<TestServer> {
  const started = await server;
  servers.push(started);
  return started;
}

async function callRoute(): Promise<{ status: number; text: string; body: FrontendHealthReport; headers: Headers }> {
  const response = await GET();
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as FrontendHealthReport, headers: response.headers };
}

describe('GET /api/health', () => {
  it('is marked dynamic', () => {
    expect(dynamic).toBe('force-dynamic');
  });

  it('reports healthy with 200 when the orchestrator is healthy', async () => {
    const orchestrator = await track(startJsonServer(200, orchestratorHealthy));
    process.env.ORCHESTRATOR_URL = `${orchestrator.url}/`;

    const { status, body, headers } = await callRoute();

    expect(status).toBe(200);
    expect(headers.get('cache-control')).toContain('no-store');
    expect(headers.get('content-type')).toContain('application/json');
    expect(body).toMatchObject({
      status: 'healthy',
      service: 'frontend',
      version: expect.any(String),
      uptime_s: expect.any(Number),
      orchestrator: {
        url: orchestrator.url,
        reachable: true,
        status: 'healthy',
        http_status: 200,
        detail: 'HTTP 200',
        checks: { database: { status: 'ok', latency_ms: 1.2 }, redis: { status: 'ok', latency_ms: 0.4 } },
      },
    });
    expect(body.orchestrator.latency_ms).toBeGreaterThanOrEqual(0);
    expect(orchestrator.requests).toHaveLength(1);
    expect(orchestrator.requests[0]).toMatchObject({ method: 'GET', url: '/health' });
  });

  it('returns 200 and relays the checks when the orchestrator answers 503', async () => {
    const orchestrator = await track(startJsonServer(503, orchestratorUnhealthy));
    process.env.ORCHESTRATOR_URL = orchestrator.url;

    const { status, body } = await callRoute();

    expect(status).toBe(200);
    expect(body.status).toBe('degraded');
    expect(body.orchestrator).toMatchObject({
      reachable: true,
      status: 'unhealthy',
      http_status: 503,
      detail: 'HTTP 503',
      checks: { database: { status: 'error', error: 'connection refused' }, redis: { status: 'ok' } },
    });
  });

  it('returns 503 when nothing listens at ORCHESTRATOR_URL', async () => {
    process.env.ORCHESTRATOR_URL = await unusedUrl();

    const { status, body } = await callRoute();

    expect(status).toBe(503);
    expect(body).toMatchObject({
      status: 'degraded',
      service: 'frontend',
      orchestrator: { url: process.env.ORCHESTRATOR_URL, reachable: false, status: null, http_status: null, checks: null },
    });
    expect(body.orchestrator.detail).toMatch(/ECONNREFUSED/);
  });

  it('returns 503 when the orchestrator does not answer within the timeout', async () => {
    const hanging = await track(startServer(() => undefined)); // accepts, never responds
    process.env.ORCHESTRATOR_URL = hanging.url;
    process.env.ORCHESTRATOR_HEALTH_TIMEOUT_MS = '300';

    const started = Date.now();
    const { status, body } = await callRoute();

    expect(Date.now() - started).toBeLessThan(2000);
    expect(status).toBe(503);
    expect(body.orchestrator).toMatchObject({ reachable: false, detail: 'timed out after 300 ms' });
  });

  it('treats a non-JSON answer as reachable without a status', async () => {
    const proxy = await track(
      startServer((_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>Bad Gateway</html>');
      }),
    );
    process.env.ORCHESTRATOR_URL = proxy.url;

    const { status, body } = await callRoute();

    expect(status).toBe(200);
    expect(body.status).toBe('degraded');
    expect(body.orchestrator).toMatchObject({ reachable: true, status: null, http_status: 502, checks: null });
    expect(body.orchestrator.detail).toBe('HTTP 502 (body is not JSON)');
  });

  it('falls back to NEXT_PUBLIC_API_URL when ORCHESTRATOR_URL is unset', async () => {
    const orchestrator = await track(startJsonServer(200, orchestratorHealthy));
    process.env.NEXT_PUBLIC_API_URL = orchestrator.url;

    const { status, body } = await callRoute();

    expect(status).toBe(200);
    expect(body.orchestrator.url).toBe(orchestrator.url);
  });

  it('reads the environment per request, not once', async () => {
    const first = await track(startJsonServer(200, orchestratorHealthy));
    const second = await track(startJsonServer(503, orchestratorUnhealthy));

    process.env.ORCHESTRATOR_URL = first.url;
    expect((await callRoute()).body.orchestrator.status).toBe('healthy');
    process.env.ORCHESTRATOR_URL = second.url;
    expect((await callRoute()).body.orchestrator.status).toBe('unhealthy');
  });

  it('never leaks CARTRITA_API_KEY or URL credentials', async () => {
    const orchestrator = await track(startJsonServer(200, orchestratorHealthy));
    process.env.ORCHESTRATOR_URL = orchestrator.url.replace('http://', `http://user:${SECRET}@`);

    const { text, body } = await callRoute();

    expect(text).not.toContain(SECRET);
    expect(body.orchestrator.url).toBe(orchestrator.url);
    expect(body.orchestrator.reachable).toBe(true);
    expect(orchestrator.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`user:${SECRET}`).toString('base64')}`);
  });
});
