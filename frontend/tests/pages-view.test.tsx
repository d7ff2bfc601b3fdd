import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { Chat } from '@/components/chat';
import { Memory } from '@/components/memory';
import { OrchestratorBanner } from '@/components/orchestrator-banner';
import type { FrontendHealthReport } from '@/lib/health-types';
import { formatScore, scorePercent, sortResults } from '@/lib/memory';
import { pageBanner } from '@/lib/page-banner';
import { toStatusBoard } from '@/lib/status-board';

const healthy: FrontendHealthReport = {
  status: 'healthy',
  service: 'frontend',
  version: '0.1.0',
  uptime_s: 12,
  timestamp: '2026-01-02T03:04:05.000Z',
  orchestrator: {
    url: 'http://127.0.0.1:8000',
    reachable: true,
    status: 'healthy',
    http_status: 200,
    latency_ms: 1,
    detail: 'HTTP 200',
    checks: { database: { status: 'ok' }, redis: { status: 'ok' } },
  },
};
const unreachable: FrontendHealthReport = {
  ...healthy,
  status: 'degraded',
  orchestrator: { ...healthy.orchestrator, reachable: false, status: null, http_status: null, detail: 'ECONNREFUSED', checks: null },
};
const dbDown: FrontendHealthReport = {
  ...healthy,
  status: 'degraded',
  orchestrator: { ...healthy.orchestrator, status: 'unhealthy', http_status: 503, checks: { database: { status: 'error' }, redis: { status: 'ok' } } },
};

describe('page banner', () => {
  it('says the orchestrator is unreachable, warns about unhealthy services, and is absent when all is well', () => {
    expect(pageBanner(toStatusBoard(unreachable))).toEqual({ tone: 'error', text: expect.stringContaining('unreachable at http://127.0.0.1:8000') });
    expect(pageBanner(toStatusBoard(dbDown))).toEqual({ tone: 'warning', text: expect.stringContaining('(orchestrator, database)') });
    expect(pageBanner(toStatusBoard(healthy))).toBeNull();
  });

  it('renders with its test id only when there is something to say', () => {
    const down = renderToStaticMarkup(<OrchestratorBanner initialReport={unreachable} pollIntervalMs={5000} />);
    expect(down).toContain('data-testid="orchestrator-banner"');
    expect(down).toContain('role="alert"');
    expect(renderToStaticMarkup(<OrchestratorBanner initialReport={healthy} pollIntervalMs={5000} />)).toBe('');
  });
});

describe('<Chat> server render', () => {
  it('has the stable test ids and says how replies stream', () => {
    const html = renderToStaticMarkup(<Chat wsUrl="ws://127.0.0.1:8000" transport="auto" />);
    for (const id of ['chat-input', 'chat-send', 'chat-messages', 'conversation-list', 'chat-new', 'chat-transport']) {
      expect(html).toContain(`data-testid="${id}"`);
    }
    expect(html).toContain('Streaming over WebSocket (SSE fallback)');
    expect(renderToStaticMarkup(<Chat wsUrl={null} transport="auto" />)).toContain('Streaming over SSE');
    expect(renderToStaticMarkup(<Chat wsUrl="ws://x" transport="sse" />)).toContain('Streaming over SSE');
  });
});

describe('<Memory> server render', () => {
  it('has the stable test ids', () => {
    const html = renderToStaticMarkup(<Memory />);
    for (const id of ['memory-input', 'memory-add', 'memory-search-input', 'memory-search']) expect(html).toContain(`data-testid="${id}"`);
  });
});

describe('memory helpers', () => {
  it('formats and orders scores', () => {
    expect(formatScore(0.87349)).toBe('0.873');
    expect(formatScore(1)).toBe('1.000');
    expect(formatScore(Number.NaN)).toBe('n/a');
    expect(scorePercent(0.5)).toBe(50);
    expect(scorePercent(-0.2)).toBe(0);
    expect(scorePercent(1.7)).toBe(100);
    const result = (id: string, score: number) => ({ id, score, content: id, metadata: null, distance: 1 - score, created_at: '' });
    expect(sortResults([result('a', 0.2), result('b', 0.9), result('c', 0.5)]).map((item) => item.id)).toEqual(['b', 'c', 'a']);
  });
});
