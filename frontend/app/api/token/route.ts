import type { TokenResponse } from '@/lib/api-types';
import { getServerConfig } from '@/lib/config';
import { errorResponse, jsonResponse, mintToken, refuseCrossSite } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * POST /api/token: a short-lived JWT for the browser's WebSocket to the orchestrator.
 * The server exchanges CARTRITA_API_KEY for it; the answer is only `{token, expires_in}`.
 */
export async function POST(request: Request): Promise<Response> {
  const refused = refuseCrossSite(request);
  if (refused !== null) return refused;
  try {
    const minted = await mintToken(getServerConfig(), request.signal);
    return jsonResponse({ token: minted.token, expires_in: minted.expiresIn } satisfies TokenResponse);
  } catch (error) {
    return errorResponse(error);
  }
}
