import 'server-only';

import { toApiError, type ApiErrorBody } from '@/lib/api-types';
import { getServerConfig, redactUrl, type ServerConfig } from '@/lib/config';
import { describeFetchError } from '@/lib/health';

// Server-side client of the orchestrator's /api. The browser never talks to these
// endpoints directly (no CORS needed) and never sees CARTRITA_API_KEY: the key is
// exchanged here for a short-lived JWT (POST /api/auth/token), which authenticates
// every proxied call as `Authorization: Bearer <jwt>`.

/** Largest JSON body the proxy routes accept from the browser (the orchestrator caps at 1 MB too). */
export const MAX_BODY_BYTES = 1_000_000;

/** A failed orchestrator call, already in the shape our routes answer with. */
export class OrchestratorCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${body.error}: ${body.detail}`);
    this.name = 'OrchestratorCallError';
  }
}

const NO_STORE = { 'cache-control': 'no-store, max-age=0' } as const;

/** A JSON error answer `{error, detail}`, never cached. */
export function jsonError(status: number, error: string, detail: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error, detail } satisfies ApiErrorBody, { status, headers: { ...NO_STORE, ...headers } });
}

/** A JSON answer, never cached. */
export function jsonResponse(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: NO_STORE });
}

/** Turn anything thrown by the helpers below into an answer for the browser (never a stack or a secret). */
export function errorResponse(error: unknown): Response {
  if (error instanceof OrchestratorCallError) {
    return jsonError(error.status, error.body.error, error.body.detail, error.headers);
  }
  console.error('[orchestrator] unexpected failure:', error instanceof Error ? error.message : error);
  return jsonError(500, 'internal_error', 'the frontend server failed unexpectedly; see its log');
}

function isAbortFromCaller(error: unknown, caller: AbortSignal | undefined): boolean {
  return caller?.aborted === true && error instanceof Error && (error.name === 'AbortError' || error === caller.reason);
}

interface SendOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The browser's request signal: aborting it aborts the call (a closed tab stops the stream). */
  signal?: AbortSignal;
  /**
   * Streams: the timeout covers only the wait for the response headers, not the body.
   * Otherwise it covers the whole call (the caller reads the body before it fires).
   */
  stream?: boolean;
}

/** One HTTP call to the orchestrator, with the errors mapped to 502 (unreachable) and 504 (timeout). */
async function send(config: ServerConfig, path: string, options: SendOptions): Promise<Response> {
  let target: URL;
  try {
    target = new URL(`${config.orchestratorUrl}${path}`);
  } catch {
    throw new OrchestratorCallError(502, {
      error: 'orchestrator_unreachable',
      detail: `invalid orchestrator URL ${redactUrl(config.orchestratorUrl)}`,
    });
  }
  // fetch() refuses URLs with user-info; the Authorization header is ours anyway.
  target.username = '';
  target.password = '';

  const timeoutMs = config.requestTimeoutMs;
  const timer = new AbortController();
  const handle = setTimeout(() => timer.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  const signal = options.signal ? AbortSignal.any([timer.signal, options.signal]) : timer.signal;
  try {
    const response = await fetch(target, {
      method: options.method ?? 'GET',
      headers: options.headers,
      body: options.body,
      cache: 'no-store',
      redirect: 'manual',
      signal,
    });
    if (options.stream) clearTimeout(handle);
    return response;
  } catch (error) {
    clearTimeout(handle);
    if (isAbortFromCaller(error, options.signal)) throw error;
    if (timer.signal.aborted) {
      throw new OrchestratorCallError(504, {
        error: 'orchestrator_timeout',
        detail: `the orchestrator at ${redactUrl(config.orchestratorUrl)} did not answer within ${timeoutMs} ms`,
      });
    }
    throw new OrchestratorCallError(502, {
      error: 'orchestrator_unreachable',
      detail: `cannot reach the orchestrator at ${redactUrl(config.orchestratorUrl)}: ${describeFetchError(error, timeoutMs)}`,
    });
  } finally {
    // Non-streaming callers read the body right away; a timer left running would only
    // abort an already-finished call, so clearing it here (after the headers) is safe
    // for them too as long as bodies are small, which the orchestrator's JSON answers are.
    if (!options.stream) clearTimeout(handle);
  }
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return JSON.parse(await response.text());
  } catch {
    return null;
  }
}

export interface MintedToken {
  token: string;
  /** Lifetime in seconds, as the orchestrator stated it. */
  expiresIn: number;
}

/** POST /api/auth/token with the API key: a fresh short-lived JWT. */
export async function mintToken(config: ServerConfig, signal?: AbortSignal): Promise<MintedToken> {
  if (config.apiKey === null) {
    throw new OrchestratorCallError(503, {
      error: 'auth_not_configured',
      detail: 'CARTRITA_API_KEY is not set on the frontend server, so it cannot obtain a token from the orchestrator',
    });
  }
  const response = await send(config, '/api/auth/token', {
    method: 'POST',
    headers: { 'x-api-key': config.apiKey, accept: 'application/json' },
    signal,
  });
  const body = await readJson(response);
  if (!response.ok) {
    const upstream = toApiError(body, response.status);
    if (response.status === 401 || response.status === 403) {
      // The browser did nothing wrong: our key is refused. A deployment problem.
      throw new OrchestratorCallError(502, {
        error: 'orchestrator_auth_failed',
        detail: `the orchestrator refused the frontend's CARTRITA_API_KEY (${upstream.detail})`,
      });
    }
    const retryAfter = response.headers.get('retry-after');
    throw new OrchestratorCallError(response.status, upstream, retryAfter === null ? {} : { 'retry-after': retryAfter });
  }
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const token = record.access_token;
  const expiresIn = record.expires_in;
  if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
    throw new OrchestratorCallError(502, {
      error: 'bad_gateway',
      detail: 'the orchestrator answered POST /api/auth/token without access_token and expires_in',
    });
  }
  return { token, expiresIn };
}

// ---- the server's own token, shared by every proxied call --------------------------

interface CachedToken {
  cacheKey: string;
  token: string;
  refreshAt: number;
}

let cached: CachedToken | null = null;
let inflight: { cacheKey: string; promise: Promise<string> } | null = null;

/** Renew the server's token once this little of its lifetime is left. */
export function serverTokenRefreshAt(mintedAt: number, expiresInSeconds: number): number {
  const lifetimeMs = expiresInSeconds * 1000;
  return mintedAt + Math.max(0, lifetimeMs - Math.max(30_000, lifetimeMs * 0.2));
}

function cacheKeyOf(config: ServerConfig): string {
  // The environment is read per request: a changed URL or key must not reuse an old token.
  return `${config.orchestratorUrl}\n${config.apiKey ?? ''}`;
}

/** The token for server-to-orchestrator calls, minted once and renewed before it expires. */
export async function getServiceToken(config: ServerConfig, now: () => number = Date.now): Promise<string> {
  const cacheKey = cacheKeyOf(config);
  if (cached !== null && cached.cacheKey === cacheKey && now() < cached.refreshAt) return cached.token;
  if (inflight !== null && inflight.cacheKey === cacheKey) return inflight.promise;
  const promise = (async () => {
    const mintedAt = now();
    const minted = await mintToken(config);
    cached = { cacheKey, token: minted.token, refreshAt: serverTokenRefreshAt(mintedAt, minted.expiresIn) };
    return minted.token;
  })();
  inflight = { cacheKey, promise };
  try {
    return await promise;
  } finally {
    if (inflight?.promise === promise) inflight = null;
  }
}

/** Forget the cached token (the orchestrator refused it: restarted with a new secret, clock skew, ...). */
export function clearServiceToken(): void {
  cached = null;
}

/**
 * An authenticated call to the orchestrator. A 401 (token expired or revoked) is
 * retried once with a freshly minted token.
 */
export async function orchestratorFetch(config: ServerConfig, path: string, options: SendOptions = {}): Promise<Response> {
  const call = async (token: string) =>
    send(config, path, { ...options, headers: { ...options.headers, authorization: `Bearer ${token}` } });
  const response = await call(await getServiceToken(config));
  if (response.status !== 401) return response;
  await response.body?.cancel();
  clearServiceToken();
  return call(await getServiceToken(config));
}

/**
 * Proxy one JSON call: the orchestrator's status and JSON body are relayed as they
 * are (its `{error, detail}` answers included, with Retry-After on 429/503).
 */
export async function proxyJson(config: ServerConfig, path: string, options: SendOptions = {}): Promise<Response> {
  let response: Response;
  let text: string;
  try {
    response = await orchestratorFetch(config, path, { ...options, headers: { accept: 'application/json', ...options.headers } });
    text = await response.text();
  } catch (error) {
    return errorResponse(error);
  }
  try {
    JSON.parse(text);
  } catch {
    return jsonError(502, 'bad_gateway', `the orchestrator answered ${path} with HTTP ${response.status} and no JSON`);
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', ...NO_STORE };
  const retryAfter = response.headers.get('retry-after');
  if (retryAfter !== null) headers['retry-after'] = retryAfter;
  return new Response(text, { status: response.status, headers });
}

/**
 * The browser's JSON body, checked before it is forwarded: at most MAX_BODY_BYTES and
 * valid JSON (else our own 413 / 400, in the orchestrator's error shape).
 */
export async function readJsonBody(request: Request): Promise<{ ok: true; text: string } | { ok: false; response: Response }> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) {
    return { ok: false, response: jsonError(413, 'payload_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`) };
  }
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    return { ok: false, response: jsonError(413, 'payload_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`) };
  }
  try {
    JSON.parse(text);
  } catch {
    return { ok: false, response: jsonError(400, 'invalid_json', 'the request body is not valid JSON') };
  }
  return { ok: true, text };
}

/**
 * Refuse requests that a browser marks as coming from another site: our routes act
 * with the server's credentials, so only our own pages may call them.
 */
export function refuseCrossSite(request: Request): Response | null {
  return request.headers.get('sec-fetch-site') === 'cross-site'
    ? jsonError(403, 'forbidden', 'cross-site requests are not allowed')
    : null;
}

/**
 * A same-origin JSON POST forwarded to the orchestrator's `path` with the server's
 * credentials: cross-site callers refused, the body checked (readJsonBody), the answer
 * relayed (proxyJson).
 */
export async function forwardJsonPost(request: Request, path: string): Promise<Response> {
  const refused = refuseCrossSite(request);
  if (refused !== null) return refused;
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  return proxyJson(getServerConfig(), path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body.text,
    signal: request.signal,
  });
}
