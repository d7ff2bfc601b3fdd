import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';

import { GET as streamRoute } from '@/app/api/chat/stream/route';
import { POST as tokenRoute } from '@/app/api/token/route';
import type { ChatStreamEvent } from '@/lib/chat/events';
import type { Transport } from '@/lib/chat/state';
import { sendChat, streamOverSse, streamOverWebSocket, webSocketChatUrl, type SocketFactory } from '@/lib/chat/transport';
import { TokenManager } from '@/lib/token-client';

import { replyFor, splitWords, startFakeOrchestrator, type FakeOrchestrator } from './support/fake-orchestrator';
import { unusedUrl } from './support/http-server';
import { startRouteServer, type RouteServer } from './support/route-server';

// The browser-side transports against real servers: the fake orchestrator (HTTP + WS)
// and our own route handlers (/api/token, /api/chat/stream) on a loopback port, called
// as a signed-in browser (its session cookie on every request to our origin).
const KEY = 'transport-test-key';
const ENV_KEYS = ['ORCHESTRATOR_URL', 'CARTRITA_API_KEY'];
const WebSocketImpl = NodeWebSocket as unknown as SocketFactory;

let saved: Record<string, string | undefined>;
let orchestrator: FakeOrchestrator;
let frontend: RouteServer;
let tokens: TokenManager;
let session: string;

/** fetch as the browser does it for our origin: with the session cookie. */
const withSession: typeof fetch = (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set('cookie', `cartrita_session=${session}`);
  return fetch(input, { ...init, headers });
};

beforeEach(async () => {
  saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
  orchestrator = await startFakeOrchestrator({ apiKey: KEY });
  process.env.ORCHESTRATOR_URL = orchestrator.url;
  delete process.env.CARTRITA_API_KEY;
  orchestrator.addUser('robbie', 'correct horse battery staple');
  session = orchestrator.openSession('robbie');
  frontend = await startRouteServer([
    { path: '/api/token', POST: tokenRoute },
    { path: '/api/chat/stream', GET: streamRoute },
  ]);
  tokens = new TokenManager({ url: `${frontend.url}/api/token`, fetchImpl: withSession });
});

afterEach(async () => {
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  await frontend.close();
  await orchestrator.close();
});

function recorder() {
  const events: { event: ChatStreamEvent; transport: Transport; at: number }[] = [];
  return {
    events,
    onEvent: (event: ChatStreamEvent, transport: Transport = 'websocket') => events.push({ event, transport, at: Date.now() }),
    types: () => events.map((entry) => entry.event.type),
    text: () => events.flatMap((entry) => (entry.event.type === 'token' ? [entry.event.token] : [])).join(''),
  };
}

const baseOptions = () => ({
  getToken: () => tokens.getToken(),
  invalidateToken: () => tokens.invalidate(),
  WebSocketImpl,
  ssePath: `${frontend.url}/api/chat/stream`,
  fetchImpl: withSession,
});

describe('webSocketChatUrl', () => {
  it('adds the path and the token, and maps http(s) to ws(s)', () => {
    expect(webSocketChatUrl('ws://localhost:8000/', 'a.b.c')).toBe('ws://localhost:8000/ws/chat?token=a.b.c');
    expect(webSocketChatUrl('https://api.example', 'x y')).toBe('wss://api.example/ws/chat?token=x+y');
  });
});

describe('streamOverWebSocket', () => {
  it('streams meta, every token in order and done', async () => {
    const log = recorder();
    const outcome = await streamOverWebSocket({
      baseUrl: orchestrator.wsUrl,
      token: await tokens.getToken(),
      request: { message: 'hello over the socket' },
      onEvent: (event) => log.onEvent(event),
      WebSocketImpl,
    });
    const reply = replyFor('hello over the socket');
    expect(outcome).toMatchObject({ kind: 'done', reply });
    expect(log.types()).toEqual(['meta', ...splitWords(reply).map(() => 'token'), 'done']);
    expect(log.text()).toBe(reply);
    // The socket authenticated with the 60-second WebSocket token in the query, nothing else.
    const upgrade = orchestrator.requests.find((request) => request.method === 'WS');
    expect(upgrade?.url).toMatch(/^\/ws\/chat\?token=tok-1-/);
    expect(JSON.stringify(upgrade)).not.toContain(KEY);
  });

  it('continues a conversation when given its id', async () => {
    const first = await streamOverWebSocket({
      baseUrl: orchestrator.wsUrl,
      token: await tokens.getToken(),
      request: { message: 'one' },
      onEvent: () => undefined,
      WebSocketImpl,
    });
    if (first.kind !== 'done') throw new Error(`unexpected ${first.kind}`);
    await streamOverWebSocket({
      baseUrl: orchestrator.wsUrl,
      token: await tokens.getToken(),
      request: { message: 'two', conversation_id: first.conversationId },
      onEvent: () => undefined,
      WebSocketImpl,
    });
    expect(orchestrator.conversations.get(first.conversationId)?.messages.map((message) => message.content)).toEqual([
      'one',
      replyFor('one'),
      'two',
      replyFor('two'),
    ]);
  });

  it('reports an error frame after the start as a started failure', async () => {
    orchestrator.chat.failure = { when: 'midstream', error: 'provider_unavailable', detail: 'the model timed out' };
    const log = recorder();
    const outcome = await streamOverWebSocket({
      baseUrl: orchestrator.wsUrl,
      token: await tokens.getToken(),
      request: { message: 'fail please' },
      onEvent: (event) => log.onEvent(event),
      WebSocketImpl,
    });
    expect(outcome).toEqual({ kind: 'error', error: 'provider_unavailable', detail: 'the model timed out', started: true });
    expect(log.types()).toEqual(['meta', 'token', 'error']);
  });

  it('is "unavailable" when nothing listens, and stops when aborted', async () => {
    const nowhere = (await unusedUrl()).replace('http', 'ws');
    const outcome = await streamOverWebSocket({ baseUrl: nowhere, token: 't', request: { message: 'x' }, onEvent: () => undefined, WebSocketImpl });
    expect(outcome.kind).toBe('unavailable');

    const controller = new AbortController();
    orchestrator.chat.gate = new Promise(() => undefined); // never finishes on its own
    const pending = streamOverWebSocket({
      baseUrl: orchestrator.wsUrl,
      token: await tokens.getToken(),
      request: { message: 'long' },
      onEvent: (event) => {
        if (event.type === 'token') controller.abort();
      },
      signal: controller.signal,
      WebSocketImpl,
    });
    await expect(pending).resolves.toEqual({ kind: 'aborted' });
  });
});

describe('streamOverSse (through our /api/chat/stream route)', () => {
  it('streams the same events as the WebSocket', async () => {
    orchestrator.chat.tokenDelayMs = 20;
    const log = recorder();
    const outcome = await streamOverSse({
      path: `${frontend.url}/api/chat/stream`,
      request: { message: 'hello over sse', agent: 'research' },
      onEvent: (event) => log.onEvent(event, 'sse'),
      fetchImpl: withSession,
    });
    const reply = replyFor('hello over sse');
    expect(outcome).toMatchObject({ kind: 'done', reply });
    expect(log.types()).toEqual(['meta', ...splitWords(reply).map(() => 'token'), 'done']);
    expect(log.text()).toBe(reply);
    // Progressive: tokens arrived spread over time, not in one lump at the end.
    const tokenTimes = log.events.filter((entry) => entry.event.type === 'token').map((entry) => entry.at);
    expect(tokenTimes.at(-1)! - tokenTimes[0]!).toBeGreaterThanOrEqual(20 * (tokenTimes.length - 2));
    expect(orchestrator.requests.find((request) => request.url.startsWith('/api/chat/stream'))?.url).toContain('agent=research');
  });

  it('returns the JSON error of a refused turn', async () => {
    orchestrator.chat.failure = { when: 'before', status: 503, error: 'database_unavailable', detail: 'PostgreSQL is down' };
    const outcome = await streamOverSse({ path: `${frontend.url}/api/chat/stream`, request: { message: 'hi' }, onEvent: () => undefined, fetchImpl: withSession });
    expect(outcome).toEqual({ kind: 'error', error: 'database_unavailable', detail: 'PostgreSQL is down', started: false });
  });

  it('reports a network failure', async () => {
    const outcome = await streamOverSse({ path: `${await unusedUrl()}/api/chat/stream`, request: { message: 'hi' }, onEvent: () => undefined });
    expect(outcome).toMatchObject({ kind: 'error', error: 'network_error', started: false });
  });
});

describe('sendChat', () => {
  it('uses the WebSocket when it works', async () => {
    const log = recorder();
    const result = await sendChat({ ...baseOptions(), request: { message: 'ws first' }, wsUrl: orchestrator.wsUrl, useWebSocket: true, onEvent: log.onEvent });
    expect(result).toMatchObject({ transport: 'websocket', webSocketFailed: false, outcome: { kind: 'done' } });
    expect(new Set(log.events.map((entry) => entry.transport))).toEqual(new Set(['websocket']));
    expect(orchestrator.requests.some((request) => request.url.startsWith('/api/chat/stream'))).toBe(false);
  });

  it('falls back to SSE when the WebSocket cannot be opened, sending the message once', async () => {
    const log = recorder();
    const nowhere = (await unusedUrl()).replace('http', 'ws');
    const result = await sendChat({ ...baseOptions(), request: { message: 'fallback' }, wsUrl: nowhere, useWebSocket: true, onEvent: log.onEvent });
    expect(result).toMatchObject({ transport: 'sse', webSocketFailed: true, outcome: { kind: 'done', reply: replyFor('fallback') } });
    expect(result.webSocketProblem).toBeTruthy();
    expect(new Set(log.events.map((entry) => entry.transport))).toEqual(new Set(['sse']));
    expect(orchestrator.conversations.size).toBe(1);
  });

  it('uses SSE only when no WebSocket URL is configured or SSE is forced', async () => {
    const none = await sendChat({ ...baseOptions(), request: { message: 'a' }, wsUrl: null, useWebSocket: true, onEvent: () => undefined });
    expect(none).toMatchObject({ transport: 'sse', webSocketFailed: false, outcome: { kind: 'done' } });
    const forced = await sendChat({ ...baseOptions(), request: { message: 'b' }, wsUrl: orchestrator.wsUrl, useWebSocket: false, onEvent: () => undefined });
    expect(forced.transport).toBe('sse');
    expect(orchestrator.requests.some((request) => request.method === 'WS')).toBe(false);
  });

  it('renews a refused token and tries the WebSocket again', async () => {
    await tokens.getToken();
    orchestrator.refuseNextSockets = 1; // the held token is refused once (e.g. orchestrator restarted)
    const log = recorder();
    const result = await sendChat({ ...baseOptions(), request: { message: 'again' }, wsUrl: orchestrator.wsUrl, useWebSocket: true, onEvent: log.onEvent });
    expect(result).toMatchObject({ transport: 'websocket', outcome: { kind: 'done' } });
    expect(orchestrator.minted).toHaveLength(2);
    expect(log.types()).not.toContain('error'); // the refusal was handled, not shown
  });

  it('goes to SSE when no token can be had, and reports that SSE error', async () => {
    await orchestrator.close();
    const result = await sendChat({ ...baseOptions(), request: { message: 'x' }, wsUrl: orchestrator.wsUrl, useWebSocket: true, onEvent: () => undefined });
    expect(result.transport).toBe('sse');
    expect(result.webSocketFailed).toBe(false);
    expect(result.webSocketProblem).toMatch(/no token/);
    expect(result.outcome).toMatchObject({ kind: 'error', error: 'orchestrator_unreachable', started: false });
    orchestrator = await startFakeOrchestrator({ apiKey: KEY }); // for afterEach
  });
});
