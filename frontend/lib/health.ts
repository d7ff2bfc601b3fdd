import 'server-only';

import packageJson from '@/package.json';
import { proxyTokenHeaders, redactUrl, type ServerConfig } from '@/lib/config';
import type { DependencyCheck, FrontendHealthReport, OrchestratorHealth } from '@/lib/health-types';

const MAX_FIELD_LENGTH = 300;

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function truncate(text: string): string {
  return text.length > MAX_FIELD_LENGTH ? `${text.slice(0, MAX_FIELD_LENGTH)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Keep only the flat, primitive fields of each orchestrator check (status,
 * latency, error text...), so nothing unexpected or huge is relayed to browsers.
 */
export function sanitizeChecks(raw: unknown): Record<string, DependencyCheck> | null {
  if (!isRecord(raw)) return null;
  const checks: Record<string, DependencyCheck> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!isRecord(value)) continue;
    const check: DependencyCheck = { status: typeof value.status === 'string' ? value.status : 'unknown' };
    for (const [field, fieldValue] of Object.entries(value)) {
      if (field === 'status') continue;
      if (typeof fieldValue === 'string') check[field] = truncate(fieldValue);
      else if (typeof fieldValue === 'number' || typeof fieldValue === 'boolean' || fieldValue === null) {
        check[field] = fieldValue;
      }
    }
    checks[name] = check;
  }
  return checks;
}

/** Why a fetch failed, in one line ("ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9"). */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      return truncate(typeof code === 'string' && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message);
    }
    return truncate(error.message);
  }
  return truncate(String(error));
}

/**
 * Call the orchestrator's GET /health. Any HTTP answer counts as reachable
 * (a 503 from the orchestrator still means it is up and reporting); only
 * network errors, invalid URLs and timeouts count as unreachable.
 * `extraHeaders`: the proxy token (config.proxyTokenHeaders), like every call of ours upstream.
 */
export async function probeOrchestrator(baseUrl: string, timeoutMs: number, extraHeaders: Record<string, string> = {}): Promise<OrchestratorHealth> {
  const url = redactUrl(baseUrl);
  const started = performance.now();
  const elapsed = () => round1(performance.now() - started);

  let target: URL;
  try {
    target = new URL(`${baseUrl.replace(/\/+$/, '')}/health`);
  } catch {
    return { url, reachable: false, status: null, http_status: null, latency_ms: 0, detail: 'invalid orchestrator URL', checks: null };
  }
  const headers: Record<string, string> = { ...extraHeaders, accept: 'application/json' };
  if (target.username !== '' || target.password !== '') {
    // fetch() rejects URLs with user-info (and its error would echo them): send Basic auth instead.
    const user = decodeURIComponent(target.username);
    const password = decodeURIComponent(target.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    target.username = '';
    target.password = '';
  }

  let response: Response;
  try {
    response = await fetch(target, {
      method: 'GET',
      headers,
      cache: 'no-store',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { url, reachable: false, status: null, http_status: null, latency_ms: elapsed(), detail: describeFetchError(error, timeoutMs), checks: null };
  }

  let body: unknown = null;
  let bodyNote = '';
  try {
    body = JSON.parse(await response.text());
  } catch (error) {
    bodyNote = error instanceof SyntaxError ? ' (body is not JSON)' : ` (body unreadable: ${describeFetchError(error, timeoutMs)})`;
  }
  const record = isRecord(body) ? body : null;
  return {
    url,
    reachable: true,
    status: record !== null && typeof record.status === 'string' ? record.status : null,
    http_status: response.status,
    latency_ms: elapsed(),
    detail: `HTTP ${response.status}${bodyNote}`,
    checks: record === null ? null : sanitizeChecks(record.checks),
  };
}

/** Build the body of GET /api/health. */
export async function buildHealthReport(config: ServerConfig): Promise<FrontendHealthReport> {
  const orchestrator = await probeOrchestrator(config.orchestratorUrl, config.healthTimeoutMs, proxyTokenHeaders(config));
  const healthy = orchestrator.reachable && orchestrator.status?.toLowerCase() === 'healthy';
  return {
    status: healthy ? 'healthy' : 'degraded',
    service: 'frontend',
    version: packageJson.version,
    uptime_s: round1(process.uptime()),
    timestamp: new Date().toISOString(),
    orchestrator,
  };
}
