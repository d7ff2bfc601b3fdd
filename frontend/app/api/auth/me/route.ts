import { proxyForCaller } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** GET /api/auth/me: `{user: {id, username}}` for the session cookie. */
export async function GET(request: Request): Promise<Response> {
  return proxyForCaller(request, '/api/auth/me');
}
