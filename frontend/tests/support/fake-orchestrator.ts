// A tiny, real orchestrator on a loopback port: HTTP + WebSocket, speaking the
// orchestrator's API contract (auth, chat REST/SSE/WS, conversations, memory,
// agents, health) from memory. Knobs let tests break it in specific ways.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { WebSocketServer, type WebSocket } from 'ws';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface StoredMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  agent: string | null;
  provider: string | null;
  created_at: string;
}

interface StoredConversation {
  id: string;
  title: string;
  agent: string;
  created_at: string;
  updated_at: string;
  messages: StoredMessage[];
}

interface StoredMemory {
  id: string;
  content: string;
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface ChatFailure {
  /** before: a JSON error instead of a stream (SSE) / an error frame before meta (WS); midstream: after the first token. */
  when: 'before' | 'midstream';
  status?: number;
  error: string;
  detail: string;
}

export interface FakeOrchestrator {
  url: string;
  wsUrl: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Tokens currently accepted. */
  tokens: Set<string>;
  /** Lifetime stated for new tokens (expires_in). */
  ttlSeconds: number;
  /** Chat behaviour for the next turns. */
  chat: {
    /** Delay between token events. */
    tokenDelayMs: number;
    /** When set, the stream pauses after its first token until the promise resolves. */
    gate: Promise<void> | null;
    /** Fail the next turn(s) this way (cleared after one use unless `sticky`). */
    failure: (ChatFailure & { sticky?: boolean }) | null;
  };
  /** The WebSocket refuses the next N connections as unauthorized (like a token minted before a restart). */
  refuseNextSockets: number;
  conversations: Map<string, StoredConversation>;
  memories: StoredMemory[];
  /** Every token ever minted, in order. */
  minted: string[];
  revokeTokens(): void;
  close(): Promise<void>;
}

export function replyFor(message: string): string {
  return `Echo: ${message.trim()} (from the fake orchestrator)`;
}

/** Words with their trailing whitespace, as the real local provider streams them. */
export function splitWords(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[a-z0-9]+/g) ?? []);
}

/** Cosine similarity of the two texts' word sets: a stand-in for embeddings. */
export function similarity(a: string, b: string): number {
  const left = words(a);
  const right = words(b);
  if (left.size === 0 || right.size === 0) return 0;
  let shared = 0;
  for (const word of left) if (right.has(word)) shared += 1;
  return shared / Math.sqrt(left.size * right.size);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, code: string, detail: string, headers: Record<string, string> = {}): void {
  json(res, status, { error: code, detail }, headers);
}

export async function startFakeOrchestrator(options: { apiKey?: string; ttlSeconds?: number } = {}): Promise<FakeOrchestrator> {
  const apiKey = options.apiKey ?? 'fake-api-key';
  const sockets = new Set<Socket>();
  const state: Omit<FakeOrchestrator, 'url' | 'wsUrl' | 'close'> = {
    apiKey,
    requests: [],
    tokens: new Set(),
    ttlSeconds: options.ttlSeconds ?? 900,
    chat: { tokenDelayMs: 0, gate: null, failure: null },
    refuseNextSockets: 0,
    conversations: new Map(),
    memories: [],
    minted: [],
    revokeTokens() {
      state.tokens.clear();
    },
  };

  const now = () => new Date().toISOString();

  function authorized(req: IncomingMessage, url: URL, allowQueryToken: boolean): boolean {
    if (req.headers['x-api-key'] !== undefined) return req.headers['x-api-key'] === apiKey;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const [scheme, token] = header.split(' ');
      return scheme?.toLowerCase() === 'bearer' && token !== undefined && state.tokens.has(token);
    }
    const token = url.searchParams.get('token');
    return allowQueryToken && token !== null && state.tokens.has(token);
  }

  function takeFailure(): ChatFailure | null {
    const failure = state.chat.failure;
    if (failure !== null && !failure.sticky) state.chat.failure = null;
    return failure;
  }

  /** Starts a turn: stores the user message, returns the conversation (or an error). */
  function beginTurn(body: Record<string, unknown>):
    | { ok: true; conversation: StoredConversation; message: string; agent: string }
    | { ok: false; status: number; error: string; detail: string } {
    const message = typeof body.message === 'string' ? body.message : '';
    if (message.trim() === '') return { ok: false, status: 422, error: 'validation_error', detail: 'message: must not be empty' };
    const agent = typeof body.agent === 'string' && body.agent !== '' ? body.agent : 'general';
    let conversation: StoredConversation | undefined;
    if (typeof body.conversation_id === 'string' && body.conversation_id !== '') {
      conversation = state.conversations.get(body.conversation_id);
      if (conversation === undefined) {
        return { ok: false, status: 404, error: 'not_found', detail: `conversation ${body.conversation_id} not found` };
      }
    } else {
      const created = now();
      conversation = { id: randomUUID(), title: message.slice(0, 60), agent, created_at: created, updated_at: created, messages: [] };
      state.conversations.set(conversation.id, conversation);
    }
    conversation.messages.push({ id: randomUUID(), role: 'user', content: message, agent, provider: null, created_at: now() });
    conversation.updated_at = now();
    return { ok: true, conversation, message, agent };
  }

  function finishTurn(conversation: StoredConversation, reply: string, agent: string): StoredMessage {
    const stored: StoredMessage = { id: randomUUID(), role: 'assistant', content: reply, agent, provider: 'fake', created_at: now() };
    conversation.messages.push(stored);
    conversation.updated_at = now();
    return stored;
  }

  /** meta, tokens, done | error, as {type, ...} frames. */
  async function* turnFrames(conversation: StoredConversation, message: string, agent: string) {
    yield { type: 'meta', conversation_id: conversation.id, agent, provider: 'fake' };
    const reply = replyFor(message);
    const failure = takeFailure();
    const pieces = splitWords(reply);
    for (const [index, piece] of pieces.entries()) {
      yield { type: 'token', token: piece };
      if (index === 0) {
        if (failure?.when === 'midstream') {
          yield { type: 'error', error: failure.error, detail: failure.detail };
          return;
        }
        if (state.chat.gate !== null) await state.chat.gate;
      }
      if (state.chat.tokenDelayMs > 0) await sleep(state.chat.tokenDelayMs);
    }
    const stored = finishTurn(conversation, reply, agent);
    yield { type: 'done', conversation_id: conversation.id, message_id: stored.id, reply };
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    let parsed: Record<string, unknown> = {};
    if (body !== '') {
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        error(res, 400, 'invalid_json', 'the request body is not valid JSON');
        return;
      }
    }

    if (path === '/health') {
      json(res, 200, { status: 'healthy', service: 'ai-orchestrator', checks: { database: { status: 'ok' }, redis: { status: 'ok' } } });
      return;
    }
    if (path === '/api/auth/token' && req.method === 'POST') {
      if (req.headers['x-api-key'] !== apiKey) {
        error(res, 401, 'unauthorized', 'invalid API key', { 'www-authenticate': 'Bearer' });
        return;
      }
      const token = `tok-${state.minted.length + 1}-${randomUUID()}`;
      state.minted.push(token);
      state.tokens.add(token);
      json(res, 200, { access_token: token, token_type: 'bearer', expires_in: state.ttlSeconds }, { 'cache-control': 'no-store' });
      return;
    }
    if (!authorized(req, url, path === '/api/chat/stream')) {
      error(res, 401, 'unauthorized', 'authentication required', { 'www-authenticate': 'Bearer' });
      return;
    }

    if (path === '/api/chat/stream' && req.method === 'GET') {
      if (req.headers['last-event-id'] !== undefined) {
        res.writeHead(204);
        res.end();
        return;
      }
      const failure = state.chat.failure?.when === 'before' ? takeFailure() : null;
      if (failure !== null) {
        error(res, failure.status ?? 503, failure.error, failure.detail, failure.status === 429 ? { 'retry-after': '7' } : {});
        return;
      }
      const turn = beginTurn(Object.fromEntries(url.searchParams));
      if (!turn.ok) {
        error(res, turn.status, turn.error, turn.detail);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let first = true;
      for await (const frame of turnFrames(turn.conversation, turn.message, turn.agent)) {
        const { type, ...data } = frame;
        res.write(`${first ? `id: ${randomUUID()}\n` : ''}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
        first = false;
      }
      res.end();
      return;
    }
    if (path === '/api/chat' && req.method === 'POST') {
      const turn = beginTurn(parsed);
      if (!turn.ok) {
        error(res, turn.status, turn.error, turn.detail);
        return;
      }
      const reply = replyFor(turn.message);
      const stored = finishTurn(turn.conversation, reply, turn.agent);
      json(res, 200, {
        conversation_id: turn.conversation.id,
        message_id: stored.id,
        reply,
        agent: turn.agent,
        provider: 'fake',
        model: 'fake-1',
        memories_used: [],
        created_at: stored.created_at,
      });
      return;
    }
    if (path === '/api/conversations' && req.method === 'GET') {
      const limit = Number(url.searchParams.get('limit') ?? '20');
      const list = [...state.conversations.values()]
        .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
        .slice(0, limit)
        .map(({ messages, ...summary }) => ({ ...summary, message_count: messages.length }));
      json(res, 200, { conversations: list });
      return;
    }
    const match = /^\/api\/conversations\/([^/]+)$/.exec(path);
    if (match !== null && req.method === 'GET') {
      const conversation = state.conversations.get(decodeURIComponent(match[1] ?? ''));
      if (conversation === undefined) {
        error(res, 404, 'not_found', `conversation ${match[1]} not found`);
        return;
      }
      json(res, 200, conversation);
      return;
    }
    if (path === '/api/memory' && req.method === 'POST') {
      const items = Array.isArray(parsed.items) ? (parsed.items as Record<string, unknown>[]) : [parsed];
      if (items.some((item) => typeof item.content !== 'string' || item.content.trim() === '')) {
        error(res, 422, 'validation_error', 'content: must not be empty');
        return;
      }
      const created = items.map((item) => ({
        id: randomUUID(),
        content: item.content as string,
        metadata: (item.metadata as Record<string, unknown>) ?? {},
        created_at: now(),
      }));
      state.memories.push(...created);
      json(res, 201, { ids: created.map((item) => item.id), count: created.length });
      return;
    }
    if (path === '/api/memory/search' && req.method === 'POST') {
      if (typeof parsed.query !== 'string' || parsed.query.trim() === '') {
        error(res, 422, 'validation_error', 'query: must not be empty');
        return;
      }
      const query = parsed.query;
      const k = typeof parsed.k === 'number' ? parsed.k : 5;
      const results = state.memories
        .map((memory) => ({ ...memory, score: similarity(query, memory.content) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, k)
        .map((memory) => ({ ...memory, distance: 1 - memory.score }));
      json(res, 200, { results });
      return;
    }
    if (path === '/api/agents' && req.method === 'GET') {
      json(res, 200, {
        agents: [
          { name: 'general', description: 'General assistant', enabled: true },
          { name: 'research', description: 'Research assistant', enabled: true },
          { name: 'disabled', description: 'Switched off', enabled: false },
        ],
      });
      return;
    }
    error(res, 404, 'not_found', `no route ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((failure: unknown) => {
      if (!res.headersSent) error(res, 500, 'internal_error', String(failure));
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    state.requests.push({ method: 'WS', url: req.url ?? '', headers: req.headers, body: '' });
    if (url.pathname !== '/ws/chat') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Like the real guard: accept, send one error frame, close with 4401.
      if (state.refuseNextSockets > 0 || !authorized(req, url, true)) {
        if (state.refuseNextSockets > 0) state.refuseNextSockets -= 1;
        ws.send(JSON.stringify({ type: 'error', error: 'unauthorized', detail: 'invalid token' }));
        ws.close(4401);
        return;
      }
      serveSocket(ws);
    });
  });

  function serveSocket(ws: WebSocket): void {
    ws.on('message', (data, isBinary) => {
      void (async () => {
        if (isBinary) {
          ws.send(JSON.stringify({ type: 'error', error: 'bad_request', detail: 'send text frames' }));
          return;
        }
        let frame: Record<string, unknown>;
        try {
          frame = JSON.parse(data.toString()) as Record<string, unknown>;
        } catch {
          ws.send(JSON.stringify({ type: 'error', error: 'invalid_json', detail: 'the frame is not valid JSON' }));
          return;
        }
        const failure = state.chat.failure?.when === 'before' ? takeFailure() : null;
        if (failure !== null) {
          ws.send(JSON.stringify({ type: 'error', error: failure.error, detail: failure.detail }));
          return;
        }
        const turn = beginTurn(frame);
        if (!turn.ok) {
          ws.send(JSON.stringify({ type: 'error', error: turn.error, detail: turn.detail }));
          return;
        }
        for await (const out of turnFrames(turn.conversation, turn.message, turn.agent)) {
          if (ws.readyState !== ws.OPEN) return;
          ws.send(JSON.stringify(out));
        }
      })();
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
