import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { GET as getAgents } from '@/app/api/agents/route';
import { GET as streamChat } from '@/app/api/chat/stream/route';
import { GET as getConversation } from '@/app/api/conversations/[id]/route';
import { GET as listConversations } from '@/app/api/conversations/route';
import { POST as addMemory } from '@/app/api/memory/route';
import { POST as searchMemory } from '@/app/api/memory/search/route';
import { POST as postToken } from '@/app/api/token/route';

import { startFakeOrchestrator, type FakeOrchestrator } from './support/fake-orchestrator';
import { startServer, unusedUrl, type TestServer } from './support/http-server';

// A sentinel API key, still in the frontend's environment as older deployments set it:
// the routes must never use it, and no answer of ours may ever contain it.
const SECRET = 'sk-sentinel-3b1f0c9e-never-in-a-response';
const ENV_KEYS = ['ORCHESTRATOR_URL', 'NEXT_PUBLIC_API_URL', 'NEXT_PUBLIC_WS_URL', 'CARTRITA_API_KEY', 'ORCHESTRATOR_TIMEOUT_MS', 'TRUSTED_PROXIES'];

let saved: Record<string, string | undefined>;
let orchestrator: FakeOrchestrator;
/** Robbie's login session (the cartrita_session cookie a browser would send). */
let session: string;
const extraServers: TestServer[] = [];
/** Every answer our routes gave in this file, checked for the secret at the end of each test. */
const answers: { status: number; headers: string; text: string }[] = [];

beforeEach(async () => {
  saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
  for (const key of ENV_KEYS) delete process.env[key];
  orchestrator = await startFakeOrchestrator({ apiKey: SECRET });
  process.env.ORCHESTRATOR_URL = orchestrator.url;
  process.env.CARTRITA_API_KEY = SECRET;
  orchestrator.addUser('robbie', 'correct horse battery staple');
  session = orchestrator.openSession('robbie');
  answers.length = 0;
});

afterEach(async () => {
  for (const answer of answers) {
    expect(answer.text).not.toContain(SECRET);
    expect(answer.headers).not.toContain(SECRET);
  }
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  await orchestrator.close();
  await Promise.all(extraServers.splice(0).map((server) => server.close()));
});

async function read(response: Response): Promise<{ status: number; body: Record<string, unknown>; headers: Headers; text: string }> {
  const text = await response.text();
  answers.push({ status: response.status, headers: JSON.stringify([...response.headers]), text });
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: response.status, body, headers: response.headers, text };
}

/** A request from Robbie's browser: his session cookie goes along (pass `cookie: ''` for none). */
const local = (path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  if (!headers.has('cookie')) headers.set('cookie', `theme=dark; cartrita_session=${session}`);
  if (headers.get('cookie') === '') headers.delete('cookie');
  return new Request(`http://127.0.0.1:3000${path}`, { ...init, headers });
};
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  local(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
/** A conversation of Robbie's, made straight at the orchestrator. */
const chatDirect = (message: string) =>
  fetch(`${orchestrator.url}/api/chat`, {
    method: 'POST',
    headers: { authorization: `Session ${session}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  }).then((response) => response.json() as Promise<{ conversation_id: string }>);
const params = (id: string) => ({ params: Promise.resolve({ id }) });
const upstream = (path: string) => orchestrator.requests.filter((request) => request.url.split('?')[0] === path);

describe('POST /api/token', () => {
  it('asks the orchestrator for a 60-second WebSocket token with the session and answers only {token, expires_in}', async () => {
    const { status, body, headers } = await read(await postToken(post('/api/token', '')));

    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['expires_in', 'token']);
    expect(body.expires_in).toBe(60);
    expect(orchestrator.minted).toEqual([body.token]);
    expect(orchestrator.tokens.get(body.token as string)).toMatchObject({ audience: 'ws', principal: { kind: 'user', user: { username: 'robbie' } } });
    expect(headers.get('cache-control')).toContain('no-store');
    const [call] = upstream('/api/auth/token');
    expect(call?.method).toBe('POST');
    expect(call?.headers.authorization).toBe(`Session ${session}`);
    expect(JSON.parse(call?.body ?? '')).toEqual({ purpose: 'ws' });
    expect(call?.headers['x-api-key']).toBeUndefined();
  });

  it('mints a fresh token per call (each browser gets its own)', async () => {
    const first = await read(await postToken(post('/api/token', '')));
    const second = await read(await postToken(post('/api/token', '')));
    expect(first.body.token).not.toBe(second.body.token);
  });

  it('never falls back to CARTRITA_API_KEY: no session cookie, no token', async () => {
    const { status, body } = await read(await postToken(post('/api/token', '', { cookie: '' })));
    expect(status).toBe(401);
    expect(body).toEqual({ error: 'unauthorized', detail: 'sign in first' });
    expect(orchestrator.requests).toHaveLength(0);
  });

  it('passes a session the orchestrator refuses through as 401 and clears the cookie', async () => {
    orchestrator.sessions.clear(); // logged out elsewhere, or expired
    const { status, body, headers } = await read(await postToken(post('/api/token', '')));
    expect(status).toBe(401);
    expect(body.error).toBe('unauthorized');
    expect(headers.get('set-cookie')).toMatch(/^cartrita_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
  });

  it('answers 502 when the orchestrator is down and 504 when it hangs', async () => {
    process.env.ORCHESTRATOR_URL = await unusedUrl();
    const down = await read(await postToken(post('/api/token', '')));
    expect(down.status).toBe(502);
    expect(down.body.error).toBe('orchestrator_unreachable');
    expect(down.body.detail).toMatch(/ECONNREFUSED/);

    const hanging = await startServer(() => undefined);
    extraServers.push(hanging);
    process.env.ORCHESTRATOR_URL = hanging.url;
    process.env.ORCHESTRATOR_TIMEOUT_MS = '500';
    const started = Date.now();
    const slow = await read(await postToken(post('/api/token', '')));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({ error: 'orchestrator_timeout' });
  });

  it('refuses cross-site callers', async () => {
    const { status } = await read(await postToken(post('/api/token', '', { 'sec-fetch-site': 'cross-site' })));
    expect(status).toBe(403);
    expect(orchestrator.requests).toHaveLength(0);
  });
});

describe('REST proxy routes', () => {
  it("relay the signed-in person's conversations with their session, and nothing of the server's", async () => {
    const turn = await chatDirect('hello there');
    orchestrator.requests.length = 0;

    const list = await read(await listConversations(local('/api/conversations?limit=5&evil=1')));
    expect(list.status).toBe(200);
    expect(list.body.conversations).toEqual([expect.objectContaining({ id: turn.conversation_id, message_count: 2, title: 'hello there' })]);
    expect(upstream('/api/conversations')[0]?.url).toBe('/api/conversations?limit=5');

    const detail = await read(await getConversation(local(`/api/conversations/${turn.conversation_id}`), params(turn.conversation_id)));
    expect(detail.status).toBe(200);
    expect((detail.body.messages as { role: string }[]).map((message) => message.role)).toEqual(['user', 'assistant']);

    // Each call carried the browser's session; no token of the server's, no API key, no other cookie.
    expect(orchestrator.minted).toHaveLength(0);
    for (const request of orchestrator.requests) {
      expect(request.headers.authorization).toBe(`Session ${session}`);
      expect(request.headers['x-api-key']).toBeUndefined();
      expect(request.headers.cookie).toBeUndefined();
    }
  });

  it('pass a 401 from the orchestrator through instead of retrying with other credentials', async () => {
    const first = await read(await getAgents(local('/api/agents')));
    expect(first.status).toBe(200);
    expect((first.body.agents as unknown[]).length).toBe(3);
    orchestrator.sessions.clear();

    const { status, body, headers } = await read(await getAgents(local('/api/agents')));
    expect(status).toBe(401);
    expect(body.error).toBe('unauthorized');
    expect(headers.get('set-cookie')).toContain('Max-Age=0');
    expect(upstream('/api/agents')).toHaveLength(2);
    expect(upstream('/api/auth/token')).toHaveLength(0);
  });

  it('validates conversation ids before they reach the upstream path', async () => {
    for (const id of ['..', 'abc', '../health', '00000000-0000-0000-0000-00000000000g']) {
      const { status, body } = await read(await getConversation(local(`/api/conversations/x`), params(id)));
      expect(status).toBe(422);
      expect(body.error).toBe('validation_error');
    }
    expect(orchestrator.requests).toHaveLength(0);

    const missing = await read(await getConversation(local('/api/conversations/x'), params('0b5a1f1e-8d7c-4b8a-9d55-3f1e2d3c4b5a')));
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: 'not_found' });
  });

  it('adds a memory and finds it by search with a score', async () => {
    const added = await read(await addMemory(post('/api/memory', { content: 'Robbie prefers green tea in the morning' })));
    expect(added.status).toBe(201);
    expect(added.body.count).toBe(1);
    await read(await addMemory(post('/api/memory', { content: 'The office wifi password rotates monthly' })));

    const found = await read(await searchMemory(post('/api/memory/search', { query: 'what tea does Robbie like', k: 5 })));
    expect(found.status).toBe(200);
    const results = found.body.results as { content: string; score: number }[];
    expect(results[0]?.content).toBe('Robbie prefers green tea in the morning');
    expect(results[0]?.score).toBeGreaterThan(results[1]?.score ?? 1);
    expect(upstream('/api/memory/search')[0]?.body).toBe(JSON.stringify({ query: 'what tea does Robbie like', k: 5 }));
  });

  it('relays validation errors, and rejects bad JSON itself', async () => {
    const invalid = await read(await addMemory(post('/api/memory', { content: '   ' })));
    expect(invalid.status).toBe(422);
    expect(invalid.body).toMatchObject({ error: 'validation_error', detail: expect.stringContaining('content') });

    const before = orchestrator.requests.length;
    const broken = await read(await searchMemory(post('/api/memory/search', '{"query": ')));
    expect(broken.status).toBe(400);
    expect(broken.body.error).toBe('invalid_json');
    expect(orchestrator.requests.length).toBe(before);

    const huge = await read(await addMemory(post('/api/memory', { content: 'x'.repeat(1_100_000) })));
    expect(huge.status).toBe(413);
  });

  it('answers 502 with a clear reason when the orchestrator is unreachable or answers garbage', async () => {
    process.env.ORCHESTRATOR_URL = await unusedUrl();
    const down = await read(await listConversations(local('/api/conversations')));
    expect(down.status).toBe(502);
    expect(down.body.error).toBe('orchestrator_unreachable');

    const html = await startServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    });
    extraServers.push(html);
    process.env.ORCHESTRATOR_URL = html.url;
    const garbage = await read(await listConversations(local('/api/conversations')));
    expect(garbage.status).toBe(502);
    expect(garbage.body.error).toBe('bad_gateway');
  });
});

describe('GET /api/chat/stream (SSE proxy)', () => {
  it('relays events as they come, before the upstream stream has finished', async () => {
    let release!: () => void;
    orchestrator.chat.gate = new Promise<void>((resolve) => {
      release = resolve;
    });

    const response = await streamChat(local('/api/chat/stream?message=stream%20me%20please&token=ignored&extra=1'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('cache-control')).toContain('no-transform');

    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('event: token')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended early: ${text}`);
      text += value;
    }
    // The upstream is paused after its first token: what we have came through unbuffered.
    expect(text).toContain('event: meta');
    expect(text).not.toContain('event: done');

    release();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(text).toContain('event: done');
    answers.push({ status: 200, headers: '', text });

    const [call] = upstream('/api/chat/stream');
    // No token in the upstream URL (a `token` from the browser is dropped): the session is in a header.
    expect(call?.url).toBe('/api/chat/stream?message=stream+me+please');
    expect(call?.headers.authorization).toBe(`Session ${session}`);
  });

  it('relays errors before the stream as JSON with their status', async () => {
    orchestrator.chat.failure = { when: 'before', status: 429, error: 'rate_limited', detail: 'too many requests; retry in 7 s' };
    const limited = await read(await streamChat(local('/api/chat/stream?message=hi')));
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: 'rate_limited', detail: 'too many requests; retry in 7 s' });
    expect(limited.headers.get('retry-after')).toBe('7');

    const unknown = await read(await streamChat(local('/api/chat/stream?message=hi&conversation_id=0b5a1f1e-8d7c-4b8a-9d55-3f1e2d3c4b5a')));
    expect(unknown.status).toBe(404);

    const empty = await read(await streamChat(local('/api/chat/stream?message=')));
    expect(empty.status).toBe(422);
  });

  it('answers 204 to a reconnecting EventSource instead of resending the message', async () => {
    const { status } = await read(await streamChat(local('/api/chat/stream?message=hi', { headers: { 'last-event-id': 'x' } })));
    expect(status).toBe(204);
    expect(orchestrator.conversations.size).toBe(0);
  });

  it('answers 502 when the orchestrator is down', async () => {
    process.env.ORCHESTRATOR_URL = await unusedUrl();
    const { status, body } = await read(await streamChat(local('/api/chat/stream?message=hi')));
    expect(status).toBe(502);
    expect(body.error).toBe('orchestrator_unreachable');
  });
});

describe('the server holds no credentials of its own', () => {
  it('makes no orchestrator call at all for a browser without a session', async () => {
    for (const response of [
      await listConversations(local('/api/conversations', { headers: { cookie: '' } })),
      await getAgents(local('/api/agents', { headers: { cookie: '' } })),
      await streamChat(local('/api/chat/stream?message=hi', { headers: { cookie: '' } })),
    ]) {
      expect((await read(response)).status).toBe(401);
    }
    expect(orchestrator.requests).toHaveLength(0);
  });
});
