import 'server-only';

import type { ApiErrorBody } from '@/lib/api-types';
import { clientOrigin } from '@/lib/client-address';
import { getServerConfig, proxyTokenHeaders, redactUrl, type ServerConfig } from '@/lib/config';
import { describeFetchError } from '@/lib/health';
import { clearedSessionCookie, readSessionCookie } from '@/lib/session';

// Server-side client of the orchestrator's /api. The browser never talks to these
// endpoints directly (no CORS needed). Every call acts for the signed-in person: their
// session cookie goes upstream as `Authorization: Session <token>` and their address as
// X-Forwarded-For, so the orchestrator scopes data and rate limits to them. The server
// holds no credentials of its own for anyone's data; its one secret, the optional proxy
// token (ORCHESTRATOR_PROXY_TOKEN), only vouches for that X-Forwarded-For (see send()).

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

/**
 * One HTTP call to the orchestrator, with the errors mapped to 502 (unreachable) and 504
 * (timeout). Every call upstream goes through here (the /health probe aside, which adds
 * the same header): with ORCHESTRATOR_PROXY_TOKEN set, each carries X-Cartrita-Proxy-Token
 * so the orchestrator believes our X-Forwarded-For. The token is never logged, never in
 * an answer to the browser (our answers are built from the orchestrator's bodies, not
 * from our request headers).
 */
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
      headers: { ...options.headers, ...proxyTokenHeaders(config) },
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

/** Who a call is made for. */
export interface Caller {
  /** The orchestrator session token (the cartrita_session cookie), or null before login. */
  session: string | null;
  /** The client's address for X-Forwarded-For; null when unknown (the orchestrator then sees only us). */
  address: string | null;
  /** The request came over TLS: cookies we set get Secure. */
  https: boolean;
}

/** The caller as far as this request shows it (no checks); a page passes `{headers: await headers()}`. */
export function callerOf(request: { headers: Pick<Headers, 'get'> }, config: ServerConfig = getServerConfig()): Caller {
  const origin = clientOrigin(request.headers, config.trustedProxies);
  return { session: readSessionCookie(request.headers), address: origin.address, https: origin.https };
}

/** The headers that say who a call is for. */
function callerHeaders(caller: Caller): Record<string, string> {
  const headers: Record<string, string> = {};
  if (caller.session !== null) headers.authorization = `Session ${caller.session}`;
  if (caller.address !== null) headers['x-forwarded-for'] = caller.address;
  return headers;
}

/**
 * The checks in front of every data route: a same-site request (defence in depth next to
 * the SameSite=Strict cookie) that carries a session cookie.
 */
export function requireCaller(request: Request, config: ServerConfig = getServerConfig()): { ok: true; caller: Caller } | { ok: false; response: Response } {
  const refused = refuseCrossSite(request);
  if (refused !== null) return { ok: false, response: refused };
  const caller = callerOf(request, config);
  if (caller.session === null) return { ok: false, response: jsonError(401, 'unauthorized', 'sign in first') };
  return { ok: true, caller };
}

/** A call to the orchestrator on the caller's behalf. */
export async function orchestratorFetch(config: ServerConfig, path: string, caller: Caller, options: SendOptions = {}): Promise<Response> {
  return send(config, path, { ...options, headers: { ...options.headers, ...callerHeaders(caller) } });
}

/** An orchestrator JSON answer, read whole (they are small). */
export interface JsonAnswer {
  status: number;
  /** Parsed body; undefined when it was not JSON. */
  body: unknown;
  text: string;
  headers: Headers;
}

/** One JSON call on the caller's behalf (errors thrown as OrchestratorCallError, for errorResponse). */
export async function callJson(config: ServerConfig, path: string, caller: Caller, options: SendOptions = {}): Promise<JsonAnswer> {
  const response = await orchestratorFetch(config, path, caller, { ...options, headers: { accept: 'application/json', ...options.headers } });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text, headers: response.headers };
}

/** Headers to relay with an orchestrator answer: Retry-After, and a cleared cookie when it refused the session. */
export function relayedHeaders(status: number, upstream: Headers, caller: Caller): Record<string, string> {
  const headers: Record<string, string> = {};
  const retryAfter = upstream.get('retry-after');
  if (retryAfter !== null) headers['retry-after'] = retryAfter;
  // Expired, logged out elsewhere or forged: the browser should stop sending it.
  if (status === 401 && caller.session !== null) headers['set-cookie'] = clearedSessionCookie(caller.https);
  return headers;
}

/**
 * An orchestrator answer that is not the success the route expected, relayed as our
 * `{error, detail}` with its status (502 when it is no such error, or a 2xx).
 */
export function relayError(status: number, body: unknown, upstream: Headers, caller: Caller, what: string): Response {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : null;
  if (record === null || typeof record.error !== 'string') {
    return jsonError(502, 'bad_gateway', `the orchestrator answered ${what} with HTTP ${status} and no JSON error`);
  }
  const relayed = status >= 400 ? status : 502;
  const detail = typeof record.detail === 'string' ? record.detail : record.error;
  return jsonError(relayed, record.error, detail, relayedHeaders(relayed, upstream, caller));
}

/**
 * Proxy one JSON call: the orchestrator's status and JSON body are relayed as they
 * are (its `{error, detail}` answers included, with Retry-After on 429/503).
 */
export async function proxyJson(config: ServerConfig, path: string, caller: Caller, options: SendOptions = {}): Promise<Response> {
  let answer: JsonAnswer;
  try {
    answer = await callJson(config, path, caller, options);
  } catch (error) {
    return errorResponse(error);
  }
  if (answer.body === undefined) {
    return jsonError(502, 'bad_gateway', `the orchestrator answered ${path} with HTTP ${answer.status} and no JSON`);
  }
  return new Response(answer.text, {
    status: answer.status,
    headers: { 'content-type': 'application/json', ...NO_STORE, ...relayedHeaders(answer.status, answer.headers, caller) },
  });
}

/** A data route: the caller checked (requireCaller), then the call relayed (proxyJson). */
export async function proxyForCaller(request: Request, path: string, options: SendOptions = {}): Promise<Response> {
  const config = getServerConfig();
  const checked = requireCaller(request, config);
  if (!checked.ok) return checked.response;
  return proxyJson(config, path, checked.caller, { signal: request.signal, ...options });
}

function tooLarge(): Response {
  // Connection: close stops the rest of an oversized upload instead of reading it to the end.
  return jsonError(413, 'payload_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
}

/** The request says its body is JSON: `Content-Type: application/json` (parameters such as charset allowed). */
function declaresJson(request: Request): boolean {
  const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json';
}

/**
 * The browser's JSON body, checked before it is forwarded: declared as application/json
 * (else 415: a cross-site HTML form can only send text/plain, urlencoded or multipart,
 * so this keeps forms out even where Sec-Fetch-Site is missing), at most MAX_BODY_BYTES
 * and valid JSON (else our own 413 / 400, in the orchestrator's error shape). Read chunk
 * by chunk, so a huge (chunked) upload is refused after MAX_BODY_BYTES, not buffered first.
 */
export async function readJsonBody(request: Request): Promise<{ ok: true; text: string; value: unknown } | { ok: false; response: Response }> {
  if (!declaresJson(request)) {
    return { ok: false, response: jsonError(415, 'unsupported_media_type', 'the request body must be JSON, sent with Content-Type: application/json') };
  }
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) return { ok: false, response: tooLarge() };
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    const reader = request.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        void reader.cancel().catch(() => undefined);
        return { ok: false, response: tooLarge() };
      }
      chunks.push(value);
    }
  }
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size));
    value = JSON.parse(text);
  } catch {
    return { ok: false, response: jsonError(400, 'invalid_json', 'the request body is not valid JSON') };
  }
  return { ok: true, text, value };
}

/**
 * The Origin header names this site: its host (and port) is the Host we were called
 * at, or one named in X-Forwarded-Host by a proxy in front of us. The scheme is not
 * compared: behind a TLS-terminating proxy the browser's https is plain http here.
 * (X-Forwarded-Host can only widen this to what a request says about itself; a page on
 * another site cannot add it to a victim's request without a CORS preflight we never pass.)
 */
function originIsThisSite(origin: string, headers: Headers): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, privacy-sensitive redirects) and garbage
  }
  if (parsed.origin === 'null' || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) return false;
  const hosts = [headers.get('host') ?? '', ...(headers.get('x-forwarded-host') ?? '').split(',')]
    .map((host) => host.trim())
    .filter((host) => host !== '');
  return hosts.some((host) => {
    try {
      // Parsed with the Origin's scheme, so a default port written out (":443") still matches.
      return new URL(`${parsed.protocol}//${host}`).host === parsed.host;
    } catch {
      return false;
    }
  });
}

/**
 * Refuse requests that a browser marks as coming from another site: our routes act
 * for the signed-in person, so only our own pages may call them (the SameSite=Strict
 * cookie already keeps other sites out; this is the second lock). POSTs with an
 * Origin that is not this site are refused too, for browsers that send no
 * Sec-Fetch-Site (a request without Origin, such as curl's, passes).
 */
export function refuseCrossSite(request: Request): Response | null {
  const origin = request.headers.get('origin');
  const crossSite =
    request.headers.get('sec-fetch-site') === 'cross-site' ||
    (request.method === 'POST' && origin !== null && !originIsThisSite(origin, request.headers));
  return crossSite ? jsonError(403, 'forbidden', 'cross-site requests are not allowed') : null;
}

/**
 * A same-origin JSON POST forwarded to the orchestrator's `path` for the signed-in
 * caller: caller checked (requireCaller), the body checked (readJsonBody), the answer
 * relayed (proxyJson).
 */
export async function forwardJsonPost(request: Request, path: string): Promise<Response> {
  const config = getServerConfig();
  const checked = requireCaller(request, config);
  if (!checked.ok) return checked.response;
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  return proxyJson(config, path, checked.caller, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body.text,
    signal: request.signal,
  });
}
