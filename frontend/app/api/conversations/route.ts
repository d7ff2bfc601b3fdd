import { proxyForCaller } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** GET /api/conversations[?limit=&offset=]: the signed-in person's list, most recent first. */
export async function GET(request: Request): Promise<Response> {
  const incoming = new URL(request.url).searchParams;
  const query = new URLSearchParams();
  for (const name of ['limit', 'offset']) {
    const value = incoming.get(name);
    if (value !== null) query.set(name, value);
  }
  const suffix = query.size > 0 ? `?${query}` : '';
  return proxyForCaller(request, `/api/conversations${suffix}`);
}
