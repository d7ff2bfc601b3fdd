import { getServerConfig } from '@/lib/config';
import { callerOf, orchestratorFetch, refuseCrossSite } from '@/lib/orchestrator';
import { clearedSessionCookie } from '@/lib/session';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * POST /api/auth/logout: ends the session at the orchestrator and deletes the cookie.
 * 204 even when the orchestrator could not be told: the browser forgets the session either way.
 */
export async function POST(request: Request): Promise<Response> {
  const refused = refuseCrossSite(request);
  if (refused !== null) return refused;
  const config = getServerConfig();
  const caller = callerOf(request, config);
  if (caller.session !== null) {
    try {
      const response = await orchestratorFetch(config, '/api/auth/logout', caller, { method: 'POST', signal: request.signal });
      await response.body?.cancel();
    } catch (error) {
      console.warn('[auth] logout could not reach the orchestrator:', error instanceof Error ? error.message : error);
    }
  }
  return new Response(null, {
    status: 204,
    headers: { 'set-cookie': clearedSessionCookie(caller.https), 'cache-control': 'no-store, max-age=0' },
  });
}
