import 'server-only';

// Runtime configuration, read from process.env on the SERVER at request time.
//
// Every lookup goes through `readEnv(env, name)` with a computed key on purpose:
// Next.js replaces literal `process.env.NEXT_PUBLIC_*` expressions with their
// build-time values (in server bundles too), which would freeze them into the
// image. A computed key is never inlined, so the same build honours whatever
// environment it is started with.

export const DEFAULT_ORCHESTRATOR_URL = 'http://localhost:8000';
export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;
export const DEFAULT_POLL_INTERVAL_MS = 5000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

export interface ServerConfig {
  /** Server-side base URL of the Python orchestrator (no trailing slash). */
  orchestratorUrl: string;
  /** Timeout of the orchestrator /health probe. */
  healthTimeoutMs: number;
  /** How often the browser status board polls /api/health. */
  healthPollIntervalMs: number;
  /** Timeout of proxied orchestrator calls (until the response headers, for streams). */
  requestTimeoutMs: number;
  /** TRUSTED_PROXIES: IPs/CIDRs whose X-Forwarded-For / -Proto we believe (lib/client-address.ts). */
  trustedProxies: string | null;
  /**
   * ORCHESTRATOR_PROXY_TOKEN: sent as X-Cartrita-Proxy-Token on every call to the
   * orchestrator, so it believes our X-Forwarded-For (its TRUSTED_PROXY_TOKEN) where it
   * cannot know our address (Compose, Kubernetes). A secret: never sent to the browser
   * or logged.
   */
  proxyToken: string | null;
  otelEndpoint: string | null;
  public: PublicConfig;
}

/** The subset that may be handed to client components as props. */
export interface PublicConfig {
  /** Browser-facing orchestrator HTTP URL (NEXT_PUBLIC_API_URL), if configured. */
  apiUrl: string | null;
  /** Browser-facing orchestrator WebSocket URL (NEXT_PUBLIC_WS_URL), if configured. */
  wsUrl: string | null;
}

type Env = Record<string, string | undefined>;

function readEnv(env: Env, name: string): string | null {
  const value = env[name];
  if (value === undefined) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = readEnv(env, name);
  if (raw === null) return fallback;
  const parsed = Number.parseInt(raw, 10);
  if (!Number.isFinite(parsed)) return fallback;
  return Math.min(max, Math.max(min, parsed));
}

function stripTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

export function getServerConfig(env: Env = process.env): ServerConfig {
  const publicApiUrl = readEnv(env, 'NEXT_PUBLIC_API_URL');
  const orchestratorUrl = readEnv(env, 'ORCHESTRATOR_URL') ?? publicApiUrl ?? DEFAULT_ORCHESTRATOR_URL;
  return {
    orchestratorUrl: stripTrailingSlashes(orchestratorUrl),
    healthTimeoutMs: readInt(env, 'ORCHESTRATOR_HEALTH_TIMEOUT_MS', DEFAULT_HEALTH_TIMEOUT_MS, 100, 30_000),
    healthPollIntervalMs: readInt(env, 'HEALTH_POLL_INTERVAL_MS', DEFAULT_POLL_INTERVAL_MS, 1000, 300_000),
    requestTimeoutMs: readInt(env, 'ORCHESTRATOR_TIMEOUT_MS', DEFAULT_REQUEST_TIMEOUT_MS, 500, 300_000),
    trustedProxies: readEnv(env, 'TRUSTED_PROXIES'),
    proxyToken: readEnv(env, 'ORCHESTRATOR_PROXY_TOKEN'),
    otelEndpoint: readEnv(env, 'OTEL_EXPORTER_OTLP_ENDPOINT'),
    public: {
      apiUrl: publicApiUrl === null ? null : stripTrailingSlashes(publicApiUrl),
      wsUrl: (() => {
        const ws = readEnv(env, 'NEXT_PUBLIC_WS_URL');
        return ws === null ? null : stripTrailingSlashes(ws);
      })(),
    },
  };
}

/** The header that authenticates this server to the orchestrator as its proxy. */
export const PROXY_TOKEN_HEADER = 'x-cartrita-proxy-token';

/** The proxy-token header for an orchestrator call: none when ORCHESTRATOR_PROXY_TOKEN is unset. */
export function proxyTokenHeaders(config: Pick<ServerConfig, 'proxyToken'>): Record<string, string> {
  return config.proxyToken === null ? {} : { [PROXY_TOKEN_HEADER]: config.proxyToken };
}

/** A URL safe to show to users and logs: user-info (user:password@) removed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return stripTrailingSlashes(parsed.toString());
  } catch {
    return url;
  }
}
