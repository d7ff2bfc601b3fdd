import { getServerConfig, type ServerConfig } from '@/lib/config';
import { callJson, callerOf, errorResponse, jsonError, jsonResponse, orchestratorFetch, readJsonBody, refuseCrossSite, relayError, type Caller, type JsonAnswer } from '@/lib/orchestrator';
import { isSessionToken, sessionCookie } from '@/lib/session';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/**
 * End the browser's previous session at the orchestrator (else it would stay valid there
 * for its whole lifetime after the cookie was replaced). Best effort: a failure is only
 * logged, the new login stands. No request signal: it is ended even if the browser has gone away.
 */
async function endSession(config: ServerConfig, previous: Caller): Promise<void> {
  try {
    const response = await orchestratorFetch(config, '/api/auth/logout', previous, { method: 'POST' });
    await response.body?.cancel();
  } catch (error) {
    console.warn('[auth] could not end the previous session at the orchestrator:', error instanceof Error ? error.message : error);
  }
}

/**
 * POST /api/auth/login `{username, password}`: the orchestrator checks them (rate limited
 * per client address, which goes along as X-Forwarded-For); on success the session token
 * goes into the HttpOnly cookie and the browser gets only `{user}`. A session the browser
 * still had (an old cartrita_session cookie) is logged out upstream.
 */
export async function POST(request: Request): Promise<Response> {
  const refused = refuseCrossSite(request);
  if (refused !== null) return refused;
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const input = record(body.value);
  const username = input?.username;
  const password = input?.password;
  if (typeof username !== 'string' || typeof password !== 'string' || username.trim() === '' || password === '') {
    return jsonError(422, 'validation_error', 'username and password are required');
  }

  const config = getServerConfig();
  // A login replaces whatever session the browser had: none goes upstream with it (the
  // old one is ended below once the new one exists).
  const previous = callerOf(request, config);
  const caller: Caller = { ...previous, session: null };
  let answer: JsonAnswer;
  try {
    answer = await callJson(config, '/api/auth/login', caller, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
      signal: request.signal,
    });
  } catch (error) {
    return errorResponse(error);
  }
  if (answer.status !== 200) return relayError(answer.status, answer.body, answer.headers, caller, 'POST /api/auth/login');
  const result = record(answer.body);

  const token = result?.session_token;
  const expiresIn = result?.expires_in;
  const user = record(result?.user);
  if (!isSessionToken(token) || typeof expiresIn !== 'number' || !(expiresIn > 0) || typeof user?.id !== 'string' || typeof user.username !== 'string') {
    return jsonError(502, 'bad_gateway', 'the orchestrator answered the login without session_token, expires_in and user');
  }
  if (previous.session !== null && previous.session !== token) await endSession(config, previous);
  const response = jsonResponse({ user: { id: user.id, username: user.username } });
  response.headers.append('set-cookie', sessionCookie(token, expiresIn, caller.https));
  return response;
}
