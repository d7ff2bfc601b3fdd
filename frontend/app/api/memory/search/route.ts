import { getServerConfig } from '@/lib/config';
import { proxyJson, readJsonBody, refuseCrossSite } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** POST /api/memory/search: `{query, k?}` → `{results: [{id, content, metadata, score, distance, created_at}]}`. */
export async function POST(request: Request): Promise<Response> {
  const refused = refuseCrossSite(request);
  if (refused !== null) return refused;
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  return proxyJson(getServerConfig(), '/api/memory/search', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body.text,
    signal: request.signal,
  });
}
