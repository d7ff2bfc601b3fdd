// A tiny, real orchestrator on a loopback port: HTTP + WebSocket, speaking the
// orchestrator's API contract (issue 17: users, login sessions, per-user tokens and
// data, per-principal and per-address rate limits, X-Forwarded-For trusted only from
// TRUSTED_PROXIES; chat REST/SSE/WS, conversations, memory, agents, health) from
// memory. Knobs let tests break it in specific ways.
import { randomBytes, randomUUID } from 'node:crypto';
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
  /** null: the service principal's (API key) space. */
  ownerId: string | null;
  id: string;
  title: string;
  agent: string;
  created_at: string;
  updated_at: string;
  messages: StoredMessage[];
}

interface StoredMemory {
  ownerId: string | null;
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

export interface FakeUser {
  id: string;
  username: string;
  password: string;
}

/** Who a request acts for: a signed-in user, or the service principal (API key). */
export type Principal = { kind: 'user'; user: FakeUser } | { kind: 'service' };

interface IssuedToken {
  principal: Principal;
  /** 'ws': good only in the WebSocket URL (`?token=`). */
  audience: 'api' | 'ws';
}

export interface FakeOrchestrator {
  url: string;
  wsUrl: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Bearer tokens currently accepted. */
  tokens: Map<string, IssuedToken>;
  /** Lifetime stated for new API tokens (expires_in); WebSocket tokens live 60 s. */
  ttlSeconds: number;
  /** Accounts, by lower-case username. */
  users: Map<string, FakeUser>;
  /** Login sessions: session token → user. */
  sessions: Map<string, FakeUser>;
  sessionTtlSeconds: number;
  /** TCP peers whose X-Forwarded-For is believed (the contract's TRUSTED_PROXIES; the frontend runs on loopback). */
  trustedProxies: Set<string>;
  /** Requests allowed per bucket before 429 (Infinity: no limit). Buckets last until resetLimits(). */
  limits: { perPrincipal: number; perAddress: number };
  /** Requests counted per bucket: `principal:user:<id>`, `principal:service`, `address:<ip>`. */
  hits: Map<string, number>;
  resetLimits(): void;
  addUser(username: string, password: string): FakeUser;
  /** A session for this user, as a login would make (for tests that need no login round trip). */
  openSession(username: string): string;
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
  /** Every bearer token ever minted, in order. */
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
    tokens: new Map(),
    ttlSeconds: options.ttlSeconds ?? 900,
    users: new Map(),
    sessions: new Map(),
    sessionTtlSeconds: 43_200,
    trustedProxies: new Set(['127.0.0.1', '::1']),
    limits: { perPrincipal: Infinity, perAddress: Infinity },
    hits: new Map(),
    resetLimits() {
      state.hits.clear();
    },
    addUser(username, password) {
      const user = { id: randomUUID(), username: username.toLowerCase(), password };
      state.users.set(user.username, user);
      return user;
    },
    openSession(username) {
      const user = state.users.get(username.toLowerCase());
      if (user === undefined) throw new Error(`no user ${username}`);
      const token = randomBytes(32).toString('base64url');
      state.sessions.set(token, user);
      return token;
    },
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

  /**
   * The principal of a request: `Session`, `Bearer` (not a WebSocket-only token) or the
   * API key in headers; `?token=` only where allowed (the WebSocket) and only a `ws` token.
   */
  function principalOf(req: IncomingMessage, url: URL, allowQueryToken: boolean): Principal | null {
    if (req.headers['x-api-key'] !== undefined) return req.headers['x-api-key'] === apiKey ? { kind: 'service' } : null;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const [scheme, token] = header.split(' ');
      if (token === undefined) return null;
      if (scheme?.toLowerCase() === 'session') {
        const user = state.sessions.get(token);
        return user === undefined ? null : { kind: 'user', user };
      }
      const issued = scheme?.toLowerCase() === 'bearer' ? state.tokens.get(token) : undefined;
      return issued !== undefined && issued.audience === 'api' ? issued.principal : null;
    }
    const token = url.searchParams.get('token');
    const issued = allowQueryToken && token !== null ? state.tokens.get(token) : undefined;
    return issued?.audience === 'ws' ? issued.principal : null;
  }

  const ownerOf = (principal: Principal): string | null => (principal.kind === 'user' ? principal.user.id : null);

  /** The client address: X-Forwarded-For's right-most untrusted hop when the TCP peer is trusted, else the peer. */
  function clientAddress(req: IncomingMessage): string {
    const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (!state.trustedProxies.has(peer)) return peer;
    const hops = String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((hop) => hop.trim())
      .filter((hop) => hop !== '');
    let address = peer;
    for (const hop of hops.reverse()) {
      address = hop;
      if (!state.trustedProxies.has(hop)) break;
    }
    return address;
  }

  /** Counts the request in its buckets; false when one is over its limit. */
  function withinLimits(buckets: { key: string; limit: number }[]): boolean {
    let ok = true;
    for (const { key, limit } of buckets) {
      const count = (state.hits.get(key) ?? 0) + 1;
      state.hits.set(key, count);
      if (count > limit) ok = false;
    }
    return ok;
  }

  const principalBucket = (principal: Principal) => ({
    key: principal.kind === 'user' ? `principal:user:${principal.user.id}` : 'principal:service',
    limit: state.limits.perPrincipal,
  });
  const addressBucket = (req: IncomingMessage) => ({ key: `address:${clientAddress(req)}`, limit: state.limits.perAddress });

  function mint(principal: Principal, audience: 'api' | 'ws'): { token: string; expiresIn: number } {
    const token = `tok-${state.minted.length + 1}-${randomUUID()}`;
    state.minted.push(token);
    state.tokens.set(token, { principal, audience });
    return { token, expiresIn: audience === 'ws' ? 60 : state.ttlSeconds };
  }

  function takeFailure(): ChatFailure | null {
    const failure = state.chat.failure;
    if (failure !== null && !failure.sticky) state.chat.failure = null;
    return failure;
  }

  /** Starts a turn: stores the user message, returns the conversation (or an error). */
  function beginTurn(principal: Principal, body: Record<string, unknown>):
    | { ok: true; conversation: StoredConversation; message: string; agent: string }
    | { ok: false; status: number; error: string; detail: string } {
    const message = typeof body.message === 'string' ? body.message : '';
    if (message.trim() === '') return { ok: false, status: 422, error: 'validation_error', detail: 'message: must not be empty' };
    const agent = typeof body.agent === 'string' && body.agent !== '' ? body.agent : 'general';
    let conversation: StoredConversation | undefined;
    if (typeof body.conversation_id === 'string' && body.conversation_id !== '') {
      conversation = state.conversations.get(body.conversation_id);
      // Another owner's conversation is as missing as one that never existed.
      if (conversation === undefined || conversation.ownerId !== ownerOf(principal)) {
        return { ok: false, status: 404, error: 'not_found', detail: `conversation ${body.conversation_id} not found` };
      }
    } else {
      const created = now();
      conversation = { ownerId: ownerOf(principal), id: randomUUID(), title: message.slice(0, 60), agent, created_at: created, updated_at: created, messages: [] };
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
    const noStore = { 'cache-control': 'no-store' };
    if (path === '/api/auth/login' && req.method === 'POST') {
      if (!withinLimits([addressBucket(req)])) {
        error(res, 429, 'rate_limited', 'too many login attempts; retry in 7 s', { 'retry-after': '7' });
        return;
      }
      if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') {
        error(res, 422, 'validation_error', 'username and password: strings required');
        return;
      }
      const user = state.users.get(parsed.username.toLowerCase());
      if (user === undefined || user.password !== parsed.password) {
        error(res, 401, 'unauthorized', 'invalid username or password', noStore);
        return;
      }
      const token = state.openSession(user.username);
      json(
        res,
        200,
        { session_token: token, token_type: 'session', expires_in: state.sessionTtlSeconds, user: { id: user.id, username: user.username } },
        noStore,
      );
      return;
    }
    if (path === '/api/auth/token' && req.method === 'POST') {
      if (!withinLimits([addressBucket(req)])) {
        error(res, 429, 'rate_limited', 'too many token requests; retry in 7 s', { 'retry-after': '7' });
        return;
      }
      // With the API key or a login session only (not with another bearer token).
      const principal = req.headers.authorization?.startsWith('Bearer ') ? null : principalOf(req, url, false);
      if (principal === null) {
        error(res, 401, 'unauthorized', 'invalid API key or session', { 'www-authenticate': 'Bearer' });
        return;
      }
      const minted = mint(principal, parsed.purpose === 'ws' ? 'ws' : 'api');
      json(res, 200, { access_token: minted.token, token_type: 'bearer', expires_in: minted.expiresIn }, noStore);
      return;
    }
    const principal = principalOf(req, url, false);
    if (principal === null) {
      error(res, 401, 'unauthorized', 'authentication required', { 'www-authenticate': 'Bearer' });
      return;
    }
    if (!withinLimits([principalBucket(principal), addressBucket(req)])) {
      error(res, 429, 'rate_limited', 'too many requests; retry in 7 s', { 'retry-after': '7' });
      return;
    }
    if (path === '/api/auth/logout' && req.method === 'POST') {
      const [scheme, token] = (req.headers.authorization ?? '').split(' ');
      if (scheme?.toLowerCase() !== 'session' || token === undefined) {
        error(res, 401, 'unauthorized', 'a session is required');
        return;
      }
      state.sessions.delete(token);
      res.writeHead(204);
      res.end();
      return;
    }
    if (path === '/api/auth/me' && req.method === 'GET') {
      if (principal.kind !== 'user') {
        error(res, 401, 'unauthorized', 'not a user');
        return;
      }
      json(res, 200, { user: { id: principal.user.id, username: principal.user.username } });
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
      const turn = beginTurn(principal, Object.fromEntries(url.searchParams));
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
      const turn = beginTurn(principal, parsed);
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
        .filter((conversation) => conversation.ownerId === ownerOf(principal))
        .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
        .slice(0, limit)
        .map(({ messages, ownerId: _owner, ...summary }) => ({ ...summary, message_count: messages.length }));
      json(res, 200, { conversations: list });
      return;
    }
    const match = /^\/api\/conversations\/([^/]+)$/.exec(path);
    if (match !== null && req.method === 'GET') {
      const conversation = state.conversations.get(decodeURIComponent(match[1] ?? ''));
      if (conversation === undefined || conversation.ownerId !== ownerOf(principal)) {
        error(res, 404, 'not_found', `conversation ${match[1]} not found`);
        return;
      }
      const { ownerId: _owner, ...shown } = conversation;
      json(res, 200, shown);
      return;
    }
    if (path === '/api/memory' && req.method === 'POST') {
      const items = Array.isArray(parsed.items) ? (parsed.items as Record<string, unknown>[]) : [parsed];
      if (items.some((item) => typeof item.content !== 'string' || item.content.trim() === '')) {
        error(res, 422, 'validation_error', 'content: must not be empty');
        return;
      }
      const created = items.map((item) => ({
        ownerId: ownerOf(principal),
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
        .filter((memory) => memory.ownerId === ownerOf(principal))
        .map(({ ownerId: _owner, ...memory }) => ({ ...memory, score: similarity(query, memory.content) }))
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
      const principal = principalOf(req, url, true);
      if (state.refuseNextSockets > 0 || principal === null) {
        if (state.refuseNextSockets > 0) state.refuseNextSockets -= 1;
        ws.send(JSON.stringify({ type: 'error', error: 'unauthorized', detail: 'invalid token' }));
        ws.close(4401);
        return;
      }
      serveSocket(ws, principal);
    });
  });

  function serveSocket(ws: WebSocket, principal: Principal): void {
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
        const turn = beginTurn(principal, frame);
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
