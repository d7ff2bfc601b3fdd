import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { StatusBoard } from '@/components/status-board';
import type { FrontendHealthReport } from '@/lib/health-types';

const unreachable: FrontendHealthReport = {
  status: 'degraded',
  service: 'frontend',
  version: '0.1.0',
  uptime_s: 12,
  timestamp: '2026-01-02T03:04:05.000Z',
  orchestrator: {
    url: 'http://127.0.0.1:9',
    reachable: false,
    status: null,
    http_status: null,
    latency_ms: 1,
    detail: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9',
    checks: null,
  },
};

function badge(html: string, id: string): string | undefined {
  return new RegExp(`data-testid="status-${id}">([^<]*)<`).exec(html)?.[1];
}

describe('<StatusBoard> server render', () => {
  it('renders every badge with a stable test id, and the banner', () => {
    const html = renderToStaticMarkup(<StatusBoard initialReport={unreachable} pollIntervalMs={5000} />);
    expect(badge(html, 'frontend')).toBe('healthy');
    expect(badge(html, 'orchestrator')).toBe('unhealthy');
    expect(badge(html, 'database')).toBe('unhealthy');
    expect(badge(html, 'redis')).toBe('unhealthy');
    expect(html).toContain('data-testid="orchestrator-banner"');
    expect(html).toContain('role="alert"');
    expect(html).toContain('refreshes every 5 s');
  });

  it('has no banner when the orchestrator is up', () => {
    const healthy: FrontendHealthReport = {
      ...unreachable,
      status: 'healthy',
      orchestrator: {
        ...unreachable.orchestrator,
        reachable: true,
        status: 'healthy',
        http_status: 200,
        detail: 'HTTP 200',
        checks: { database: { status: 'ok' }, redis: { status: 'ok' } },
      },
    };
    const html = renderToStaticMarkup(<StatusBoard initialReport={healthy} pollIntervalMs={3000} />);
    for (const id of ['frontend', 'orchestrator', 'database', 'redis']) expect(badge(html, id)).toBe('healthy');
    expect(html).toContain('data-testid="overall-status">healthy<');
    expect(html).not.toContain('orchestrator-banner');
  });
});
