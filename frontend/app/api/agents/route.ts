import { proxyForCaller } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** GET /api/agents: `{agents: [{name, description, enabled}]}`. */
export async function GET(request: Request): Promise<Response> {
  return proxyForCaller(request, '/api/agents');
}
