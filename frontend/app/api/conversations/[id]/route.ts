import { jsonError, proxyForCaller } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** GET /api/conversations/{id}: one of the signed-in person's conversations with its messages. */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await context.params;
  // Only a UUID goes into the upstream path (no "..", no extra segments).
  if (!UUID.test(id)) return jsonError(422, 'validation_error', 'conversation id must be a UUID');
  return proxyForCaller(request, `/api/conversations/${id.toLowerCase()}`);
}
