import { getServerConfig } from '@/lib/config';
import { errorResponse, jsonError, orchestratorFetch, relayError, requireCaller } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const FORWARDED_PARAMS = ['message', 'conversation_id', 'agent'] as const;

/**
 * GET /api/chat/stream?message=&conversation_id=&agent=: the orchestrator's SSE stream
 * (`meta`, `token`..., `done` | `error`), relayed byte for byte from our own origin. The
 * session cookie authenticates it upstream, so the browser's URL carries no token.
 * Errors before the stream starts are JSON `{error, detail}` with their status.
 */
export async function GET(request: Request): Promise<Response> {
  const config = getServerConfig();
  const checked = requireCaller(request, config);
  if (!checked.ok) return checked.response;
  const { caller } = checked;

  const incoming = new URL(request.url).searchParams;
  const query = new URLSearchParams();
  for (const name of FORWARDED_PARAMS) {
    const value = incoming.get(name);
    if (value !== null && value !== '') query.set(name, value);
  }
  if (!query.has('message')) return jsonError(422, 'validation_error', 'query parameter "message" is required');

  const headers: Record<string, string> = { accept: 'text/event-stream' };
  // A reconnecting EventSource: the orchestrator answers 204 instead of resending the message.
  const lastEventId = request.headers.get('last-event-id');
  if (lastEventId !== null) headers['last-event-id'] = lastEventId;

  let upstream: Response;
  try {
    upstream = await orchestratorFetch(config, `/api/chat/stream?${query}`, caller, {
      headers,
      signal: request.signal,
      stream: true,
    });
  } catch (error) {
    return errorResponse(error);
  }

  const contentType = upstream.headers.get('content-type') ?? '';
  if (upstream.status === 204) return new Response(null, { status: 204 });
  if (!upstream.ok || !contentType.startsWith('text/event-stream') || upstream.body === null) {
    const text = await upstream.text().catch(() => '');
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    if (typeof body === 'object' && body !== null && typeof (body as Record<string, unknown>).error === 'string') {
      return relayError(upstream.status, body, upstream.headers, caller, 'the chat stream');
    }
    return jsonError(502, 'bad_gateway', `the orchestrator answered the chat stream with HTTP ${upstream.status} (${contentType || 'no content type'})`);
  }

  return new Response(upstream.body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      // no-transform: keeps compression (which would buffer the events) off this answer.
      'cache-control': 'no-cache, no-store, no-transform',
      'x-accel-buffering': 'no',
    },
  });
}
