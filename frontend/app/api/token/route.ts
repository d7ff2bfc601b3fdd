import type { TokenResponse } from '@/lib/api-types';
import { getServerConfig } from '@/lib/config';
import { callJson, errorResponse, jsonError, jsonResponse, relayError, requireCaller, type JsonAnswer } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * POST /api/token: a 60-second token (`aud: ws`) for the browser's WebSocket URL, minted
 * by the orchestrator for the signed-in person's session. The answer is only
 * `{token, expires_in}`; the session itself never reaches page scripts.
 */
export async function POST(request: Request): Promise<Response> {
  const config = getServerConfig();
  const checked = requireCaller(request, config);
  if (!checked.ok) return checked.response;
  const { caller } = checked;
  let answer: JsonAnswer;
  try {
    answer = await callJson(config, '/api/auth/token', caller, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ purpose: 'ws' }),
      signal: request.signal,
    });
  } catch (error) {
    return errorResponse(error);
  }
  if (answer.status !== 200) return relayError(answer.status, answer.body, answer.headers, caller, 'POST /api/auth/token');
  const body = typeof answer.body === 'object' && answer.body !== null ? (answer.body as Record<string, unknown>) : {};
  const token = body.access_token;
  const expiresIn = body.expires_in;
  if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
    return jsonError(502, 'bad_gateway', 'the orchestrator answered POST /api/auth/token without access_token and expires_in');
  }
  return jsonResponse({ token, expires_in: expiresIn } satisfies TokenResponse);
}
