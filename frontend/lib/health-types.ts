// Shapes shared by the server (route handler, page) and the browser (status board).
// Keep this file free of server-only imports: client components import it.

/** One entry of the orchestrator's `checks` object, e.g. `checks.database`. */
export interface DependencyCheck {
  status: string;
  [field: string]: string | number | boolean | null;
}

export interface OrchestratorHealth {
  /** Base URL the frontend server uses for the orchestrator (credentials stripped). */
  url: string;
  /** True when the orchestrator sent any HTTP answer (even a 503). */
  reachable: boolean;
  /** The orchestrator's own `status` string ("healthy" / "unhealthy"), or null. */
  status: string | null;
  /** HTTP status code of the orchestrator's /health answer, or null when unreachable. */
  http_status: number | null;
  /** Round-trip time of the probe (time to failure when unreachable). */
  latency_ms: number;
  /** Human-readable explanation: "HTTP 200", "ECONNREFUSED ...", "timed out after 2000 ms", ... */
  detail: string | null;
  /** The orchestrator's `checks` (database, redis, ...), or null when it gave none. */
  checks: Record<string, DependencyCheck> | null;
}

export type OverallStatus = 'healthy' | 'degraded';

/** JSON body of GET /api/health. */
export interface FrontendHealthReport {
  status: OverallStatus;
  service: 'frontend';
  version: string;
  uptime_s: number;
  timestamp: string;
  orchestrator: OrchestratorHealth;
}
