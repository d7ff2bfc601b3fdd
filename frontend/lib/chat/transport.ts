// The two ways a chat turn is streamed to the browser:
//   1. WebSocket straight to the orchestrator (NEXT_PUBLIC_WS_URL/ws/chat?token=<jwt>, a
//      60-second token good only for the WebSocket: the one token ever put in a URL);
//   2. SSE from our own origin (GET /api/chat/stream, which relays the orchestrator's
//      stream with the session cookie; no token in its URL), used when the WebSocket
//      cannot be opened.
// Both report the same events (lib/chat/events.ts) and end in one outcome.

import { toApiError, type ChatRequest } from '@/lib/api-types';
import { parseSseEvent, parseWebSocketFrame, type ChatStreamEvent } from '@/lib/chat/events';
import { SseParser } from '@/lib/chat/sse';
import type { Transport } from '@/lib/chat/state';

export type StreamOutcome =
  | { kind: 'done'; conversationId: string; messageId: string; reply: string }
  /** `started`: the orchestrator had accepted the turn (meta seen) before it failed. */
  | { kind: 'error'; error: string; detail: string; started: boolean }
  /** The transport could not be used at all; nothing was sent, so another transport may try. */
  | { kind: 'unavailable'; detail: string }
  | { kind: 'aborted' };

/** The part of the browser's WebSocket that we use (the `ws` package's client fits too). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: { data?: unknown; code?: number }) => void): void;
}
export type SocketFactory = new (url: string) => SocketLike;

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** `ws://host:port` + `/ws/chat?token=...` (an http(s) base is turned into ws(s)). */
export function webSocketChatUrl(base: string, token: string): string {
  const url = new URL(base.replace(/\/+$/, '') + '/ws/chat');
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  url.searchParams.set('token', token);
  return url.toString();
}

export interface WebSocketStreamOptions {
  baseUrl: string;
  token: string;
  request: ChatRequest;
  onEvent: (event: ChatStreamEvent) => void;
  signal?: AbortSignal;
  WebSocketImpl: SocketFactory;
  connectTimeoutMs?: number;
}

/** One chat turn over a WebSocket of its own: connect, send the message, read until done or error. */
export function streamOverWebSocket(options: WebSocketStreamOptions): Promise<StreamOutcome> {
  const { request, onEvent, signal } = options;
  return new Promise<StreamOutcome>((resolve) => {
    if (signal?.aborted) {
      resolve({ kind: 'aborted' });
      return;
    }
    let socket: SocketLike;
    try {
      socket = new options.WebSocketImpl(webSocketChatUrl(options.baseUrl, options.token));
    } catch (error) {
      resolve({ kind: 'unavailable', detail: error instanceof Error ? error.message : String(error) });
      return;
    }
    let opened = false;
    let received = false;
    let started = false;
    let settled = false;

    const finish = (outcome: StreamOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
      try {
        socket.close(1000);
      } catch {
        /* already closed */
      }
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    signal?.addEventListener('abort', onAbort);
    const connectTimer = setTimeout(() => {
      if (!opened) finish({ kind: 'unavailable', detail: `no WebSocket connection within ${options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms` });
    }, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);

    socket.addEventListener('open', () => {
      opened = true;
      clearTimeout(connectTimer);
      socket.send(JSON.stringify(request));
    });
    socket.addEventListener('message', (message) => {
      if (settled || typeof message.data !== 'string') return;
      const event = parseWebSocketFrame(message.data);
      if (event === null) return;
      received = true;
      if (event.type === 'error') {
        // An error frame before meta: refused (auth, rate limit, bad input) — the turn never started.
        onEvent(event);
        finish({ kind: 'error', error: event.error, detail: event.detail, started });
        return;
      }
      if (event.type === 'meta') started = true;
      onEvent(event);
      if (event.type === 'done') {
        finish({ kind: 'done', conversationId: event.conversationId, messageId: event.messageId, reply: event.reply });
      }
    });
    socket.addEventListener('close', (event) => {
      if (settled) return;
      if (!received) {
        finish({ kind: 'unavailable', detail: `the WebSocket closed before any answer${event.code ? ` (code ${event.code})` : ''}` });
      } else {
        finish({ kind: 'error', error: 'connection_lost', detail: 'the connection to the orchestrator was lost before the reply finished', started });
      }
    });
    socket.addEventListener('error', () => {
      // Browsers give no detail; the close event that follows decides. Before `open` it is "unavailable".
      if (!opened) finish({ kind: 'unavailable', detail: 'the WebSocket could not be opened' });
    });
  });
}

export interface SseStreamOptions {
  /** Same-origin proxy route, default /api/chat/stream. */
  path?: string;
  request: ChatRequest;
  onEvent: (event: ChatStreamEvent) => void;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/** One chat turn through our SSE proxy, read with fetch (so errors before the stream keep their JSON). */
export async function streamOverSse(options: SseStreamOptions): Promise<StreamOutcome> {
  const { request, onEvent, signal } = options;
  const query = new URLSearchParams({ message: request.message });
  if (request.conversation_id) query.set('conversation_id', request.conversation_id);
  if (request.agent) query.set('agent', request.agent);
  const fetchImpl = options.fetchImpl ?? ((input, init) => fetch(input, init));

  let response: Response;
  try {
    response = await fetchImpl(`${options.path ?? '/api/chat/stream'}?${query}`, {
      headers: { accept: 'text/event-stream' },
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (signal?.aborted) return { kind: 'aborted' };
    return {
      kind: 'error',
      error: 'network_error',
      detail: `the Cartrita server could not be reached (${error instanceof Error ? error.message : String(error)})`,
      started: false,
    };
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (!response.ok || !contentType.startsWith('text/event-stream') || response.body === null) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    const failure = response.ok
      ? { error: 'bad_response', detail: `the chat stream answered ${contentType || 'without a content type'}` }
      : toApiError(body, response.status);
    return { kind: 'error', ...failure, started: false };
  }

  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let started = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const events = done ? parser.end() : parser.feed(value);
      for (const raw of events) {
        const event = parseSseEvent(raw.event, raw.data);
        if (event === null) continue;
        if (event.type === 'meta') started = true;
        onEvent(event);
        if (event.type === 'done') {
          await reader.cancel().catch(() => undefined);
          return { kind: 'done', conversationId: event.conversationId, messageId: event.messageId, reply: event.reply };
        }
        if (event.type === 'error') {
          await reader.cancel().catch(() => undefined);
          return { kind: 'error', error: event.error, detail: event.detail, started };
        }
      }
      if (done) break;
    }
  } catch (error) {
    if (signal?.aborted) return { kind: 'aborted' };
    return { kind: 'error', error: 'connection_lost', detail: `the reply stream broke off (${error instanceof Error ? error.message : String(error)})`, started };
  }
  return { kind: 'error', error: 'connection_lost', detail: 'the reply stream ended before the reply was complete', started };
}

export interface SendChatOptions {
  request: ChatRequest;
  onEvent: (event: ChatStreamEvent, transport: Transport) => void;
  signal?: AbortSignal;
  /** NEXT_PUBLIC_WS_URL; null: SSE only. */
  wsUrl: string | null;
  /** False once the WebSocket proved unusable (or when SSE is forced). */
  useWebSocket: boolean;
  getToken: () => Promise<string>;
  invalidateToken: () => void;
  WebSocketImpl?: SocketFactory | null;
  fetchImpl?: typeof fetch;
  ssePath?: string;
  connectTimeoutMs?: number;
}

export interface SendChatResult {
  outcome: StreamOutcome;
  transport: Transport;
  /** Why the WebSocket was skipped or given up on, when it was. */
  webSocketProblem: string | null;
  /** True when a WebSocket connection was attempted with a valid token and could not be used. */
  webSocketFailed: boolean;
}

/**
 * Send one chat turn: over the WebSocket when configured and usable, else (or when it
 * cannot be opened, before anything was sent) over SSE. A token refused by the
 * orchestrator is renewed and the WebSocket tried once more.
 */
export async function sendChat(options: SendChatOptions): Promise<SendChatResult> {
  const WebSocketImpl = options.WebSocketImpl === undefined ? (globalThis.WebSocket as unknown as SocketFactory | undefined) ?? null : options.WebSocketImpl;
  let webSocketProblem: string | null = null;
  let webSocketFailed = false;

  if (options.wsUrl !== null && options.useWebSocket && WebSocketImpl !== null) {
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      let token: string;
      try {
        token = await options.getToken();
      } catch (error) {
        webSocketProblem = `no token for the WebSocket: ${error instanceof Error ? error.message : String(error)}`;
        break;
      }
      const outcome = await streamOverWebSocket({
        baseUrl: options.wsUrl,
        token,
        request: options.request,
        onEvent: (event) => {
          // A refused token is handled here, not shown: the turn is tried again.
          if (!(event.type === 'error' && event.error === 'unauthorized')) options.onEvent(event, 'websocket');
        },
        signal: options.signal,
        WebSocketImpl,
        connectTimeoutMs: options.connectTimeoutMs,
      });
      if (outcome.kind === 'error' && outcome.error === 'unauthorized' && !outcome.started && attempt === 1) {
        options.invalidateToken();
        continue;
      }
      if (outcome.kind === 'error' && outcome.error === 'unauthorized') {
        options.onEvent({ type: 'error', error: outcome.error, detail: outcome.detail }, 'websocket');
      }
      if (outcome.kind !== 'unavailable') return { outcome, transport: 'websocket', webSocketProblem: null, webSocketFailed: false };
      webSocketProblem = outcome.detail;
      webSocketFailed = true;
      break;
    }
  } else if (options.wsUrl === null) {
    webSocketProblem = 'no WebSocket URL configured (NEXT_PUBLIC_WS_URL)';
  }

  const outcome = await streamOverSse({
    path: options.ssePath,
    request: options.request,
    onEvent: (event) => options.onEvent(event, 'sse'),
    signal: options.signal,
    fetchImpl: options.fetchImpl,
  });
  return { outcome, transport: 'sse', webSocketProblem, webSocketFailed };
}
