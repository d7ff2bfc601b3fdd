import { getServerConfig } from '@/lib/config';
import { jsonError, proxyJson } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** GET /api/conversations/{id}: one conversation with its messages. */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await context.params;
  // Only a UUID goes into the upstream path (no "..", no extra segments).
  if (!UUID.test(id)) return jsonError(422, 'validation_error', 'conversation id must be a UUID');
  return proxyJson(getServerConfig(), `/api/conversations/${id.toLowerCase()}`, { signal: request.signal });
}
