import { describe, expect, it } from 'vitest';

import type { FrontendHealthReport } from '@/lib/health-types';
import {
  formatCheckedAt,
  formatDuration,
  frontendUnreachable,
  isHealthyWord,
  parseHealthReport,
  toStatusBoard,
  type StatusBoardModel,
} from '@/lib/status-board';

function report(overrides: Partial<FrontendHealthReport['orchestrator']> = {}): FrontendHealthReport {
  return {
    status: 'healthy',
    service: 'frontend',
    version: '0.1.0',
    uptime_s: 3725.4,
    timestamp: '2026-01-02T03:04:05.678Z',
    orchestrator: {
      url: 'http://127.0.0.1:8000',
      reachable: true,
      status: 'healthy',
      http_status: 200,
      latency_ms: 4.2,
      detail: 'HTTP 200',
      checks: { database: { status: 'ok', latency_ms: 1.5 }, redis: { status: 'ok' } },
      ...overrides,
    },
  };
}

function states(model: StatusBoardModel): Record<string, string> {
  return Object.fromEntries(model.services.map((service) => [service.id, service.state]));
}

describe('toStatusBoard', () => {
  it('shows everything healthy when the orchestrator and its checks are healthy', () => {
    const model = toStatusBoard(report());
    expect(states(model)).toEqual({ frontend: 'healthy', orchestrator: 'healthy', database: 'healthy', redis: 'healthy' });
    expect(model.overall).toBe('healthy');
    expect(model.banner).toBeNull();
    expect(model.checkedAt).toBe('2026-01-02T03:04:05.678Z');
    expect(model.services.map((service) => service.id)).toEqual(['frontend', 'orchestrator', 'database', 'redis']);
    expect(model.services[0]?.detail).toBe('v0.1.0 · up 1h 2m');
    expect(model.services[2]?.detail).toBe('ok · 1.5 ms');
  });

  it('marks the failing dependency when the orchestrator answers 503', () => {
    const model = toStatusBoard(
      report({
        status: 'unhealthy',
        http_status: 503,
        detail: 'HTTP 503',
        checks: { database: { status: 'error', error: 'connection refused' }, redis: { status: 'ok' } },
      }),
    );
    expect(states(model)).toEqual({ frontend: 'healthy', orchestrator: 'unhealthy', database: 'unhealthy', redis: 'healthy' });
    expect(model.overall).toBe('degraded');
    expect(model.banner).toBeNull(); // reachable: no "unreachable" banner
    expect(model.services[2]?.detail).toBe('error · connection refused');
    expect(model.services[1]?.detail).toContain('HTTP 503');
  });

  it('shows a banner and unhealthy dependencies when the orchestrator is unreachable', () => {
    const model = toStatusBoard(
      report({ reachable: false, status: null, http_status: null, detail: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8000', checks: null }),
    );
    expect(states(model)).toEqual({ frontend: 'healthy', orchestrator: 'unhealthy', database: 'unhealthy', redis: 'unhealthy' });
    expect(model.banner).toContain('unreachable at http://127.0.0.1:8000');
    expect(model.banner).toContain('ECONNREFUSED');
    expect(model.services[2]?.detail).toBe('unknown: orchestrator unreachable');
  });

  it('treats a check the orchestrator did not report as unhealthy', () => {
    const model = toStatusBoard(report({ checks: { database: { status: 'ok' } } }));
    expect(states(model).redis).toBe('unhealthy');
    expect(model.services[3]?.detail).toBe('not reported by the orchestrator');
  });

  it('handles garbage input as an unusable /api/health answer', () => {
    for (const payload of [null, 'oops', 42, [], {}, { service: 'frontend' }, { service: 'other', orchestrator: { reachable: true } }]) {
      const model = toStatusBoard(payload);
      expect(model.services.every((service) => service.state === 'unhealthy')).toBe(true);
      expect(model.banner).toContain('unexpected answer');
    }
  });
});

describe('frontendUnreachable', () => {
  it('marks every service unhealthy and explains why', () => {
    const model = frontendUnreachable('Failed to fetch');
    expect(model.services.map((service) => service.state)).toEqual(['unhealthy', 'unhealthy', 'unhealthy', 'unhealthy']);
    expect(model.banner).toContain('Failed to fetch');
    expect(model.checkedAt).toBeNull();
  });
});

describe('helpers', () => {
  it('recognises healthy spellings', () => {
    expect(['ok', 'OK', 'healthy', ' up ', 'pass'].every(isHealthyWord)).toBe(true);
    expect(['error', 'unhealthy', 'degraded', '', null, undefined, 1].some(isHealthyWord)).toBe(false);
  });

  it('parses only frontend health reports', () => {
    expect(parseHealthReport(report())).not.toBeNull();
    expect(parseHealthReport({ service: 'frontend', orchestrator: {} })).toBeNull();
  });

  it('formats durations and timestamps deterministically', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59.9)).toBe('59s');
    expect(formatDuration(61)).toBe('1m 1s');
    expect(formatDuration(90_000)).toBe('1d 1h');
    expect(formatDuration(-1)).toBe('unknown');
    expect(formatCheckedAt('2026-01-02T03:04:05.678Z')).toBe('03:04:05 UTC');
    expect(formatCheckedAt(null)).toBe('never');
    expect(formatCheckedAt('not a date')).toBe('unknown');
  });
});
