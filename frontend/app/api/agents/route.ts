import { getServerConfig } from '@/lib/config';
import { proxyJson } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** GET /api/agents: `{agents: [{name, description, enabled}]}`. */
export async function GET(request: Request): Promise<Response> {
  return proxyJson(getServerConfig(), '/api/agents', { signal: request.signal });
}
