// Pure functions turning GET /api/health JSON into what the status board shows.
// No React, no fetch, no server-only imports: used by the server render, the
// browser poller and the unit tests alike.

import type { DependencyCheck, FrontendHealthReport } from '@/lib/health-types';

export type BadgeState = 'healthy' | 'unhealthy';
export type ServiceId = 'frontend' | 'orchestrator' | 'database' | 'redis';

export interface ServiceStatus {
  id: ServiceId;
  label: string;
  state: BadgeState;
  detail: string;
}

export interface StatusBoardModel {
  overall: 'healthy' | 'degraded';
  services: ServiceStatus[];
  /** Prominent warning (orchestrator unreachable, or /api/health itself unreachable), else null. */
  banner: string | null;
  orchestratorUrl: string | null;
  /** ISO timestamp of the report, or null when none was received. */
  checkedAt: string | null;
  version: string | null;
}

/** Orchestrator checks report "ok"; services report "healthy". Accept the usual spellings. */
const HEALTHY_WORDS = new Set(['ok', 'healthy', 'up', 'pass', 'passing']);

export function isHealthyWord(status: unknown): boolean {
  return typeof status === 'string' && HEALTHY_WORDS.has(status.trim().toLowerCase());
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Narrow unknown JSON (from the network) to a FrontendHealthReport, or null. */
export function parseHealthReport(payload: unknown): FrontendHealthReport | null {
  if (!isRecord(payload) || payload.service !== 'frontend') return null;
  const orchestrator = payload.orchestrator;
  if (!isRecord(orchestrator) || typeof orchestrator.reachable !== 'boolean') return null;
  return payload as unknown as FrontendHealthReport;
}

export function formatDuration(totalSeconds: number): string {
  if (!Number.isFinite(totalSeconds) || totalSeconds < 0) return 'unknown';
  const s = Math.floor(totalSeconds);
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

/** "14:03:07 UTC": identical on server and browser, so hydration never mismatches. */
export function formatCheckedAt(iso: string | null): string {
  if (iso === null) return 'never';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? 'unknown' : `${date.toISOString().slice(11, 19)} UTC`;
}

function describeCheck(check: DependencyCheck): string {
  const parts: string[] = [check.status];
  const text = check.detail ?? check.error ?? check.message;
  if (typeof text === 'string' && text !== '') parts.push(text);
  const latency = check.latency_ms;
  if (typeof latency === 'number') parts.push(`${latency} ms`);
  return parts.join(' · ');
}

function dependency(id: ServiceId, label: string, report: FrontendHealthReport): ServiceStatus {
  const { orchestrator } = report;
  if (!orchestrator.reachable) {
    return { id, label, state: 'unhealthy', detail: 'unknown: orchestrator unreachable' };
  }
  const check = orchestrator.checks?.[id];
  if (check === undefined) {
    return { id, label, state: 'unhealthy', detail: 'not reported by the orchestrator' };
  }
  return { id, label, state: isHealthyWord(check.status) ? 'healthy' : 'unhealthy', detail: describeCheck(check) };
}

/** Model for a /api/health answer (200 or 503 body alike). */
export function toStatusBoard(payload: unknown): StatusBoardModel {
  const report = parseHealthReport(payload);
  if (report === null) return frontendUnreachable('unexpected answer from /api/health');

  const { orchestrator } = report;
  const orchestratorHealthy = orchestrator.reachable && isHealthyWord(orchestrator.status);
  const orchestratorDetail = orchestrator.reachable
    ? `${orchestrator.status ?? 'no status'} · ${orchestrator.detail ?? `HTTP ${orchestrator.http_status}`} · ${orchestrator.latency_ms} ms`
    : `unreachable: ${orchestrator.detail ?? 'no answer'}`;

  const services: ServiceStatus[] = [
    {
      id: 'frontend',
      label: 'Frontend',
      state: 'healthy',
      detail: `v${report.version} · up ${formatDuration(report.uptime_s)}`,
    },
    { id: 'orchestrator', label: 'Orchestrator', state: orchestratorHealthy ? 'healthy' : 'unhealthy', detail: orchestratorDetail },
    dependency('database', 'Database', report),
    dependency('redis', 'Redis', report),
  ];

  return {
    overall: services.every((service) => service.state === 'healthy') ? 'healthy' : 'degraded',
    services,
    banner: orchestrator.reachable
      ? null
      : `The orchestrator is unreachable at ${orchestrator.url} (${orchestrator.detail ?? 'no answer'}). Cartrita cannot answer until it is back.`,
    orchestratorUrl: orchestrator.url,
    checkedAt: report.timestamp,
    version: report.version,
  };
}

/** Model for when the browser could not get a usable answer from /api/health at all. */
export function frontendUnreachable(reason: string): StatusBoardModel {
  const unknown = 'unknown: frontend server unreachable';
  return {
    overall: 'degraded',
    services: [
      { id: 'frontend', label: 'Frontend', state: 'unhealthy', detail: reason },
      { id: 'orchestrator', label: 'Orchestrator', state: 'unhealthy', detail: unknown },
      { id: 'database', label: 'Database', state: 'unhealthy', detail: unknown },
      { id: 'redis', label: 'Redis', state: 'unhealthy', detail: unknown },
    ],
    banner: `Lost contact with the Cartrita frontend server (${reason}). Retrying…`,
    orchestratorUrl: null,
    checkedAt: null,
    version: null,
  };
}
