import { describe, expect, it } from 'vitest';

import { parseSseEvent, parseWebSocketFrame, toChatEvent } from '@/lib/chat/events';
import { SseParser, type SseEvent } from '@/lib/chat/sse';

// What the orchestrator sends for one turn (see services/ai-orchestrator .../api/chat.py).
const STREAM =
  'id: 7c0e\nevent: meta\ndata: {"conversation_id": "c1", "agent": "general", "provider": "local"}\n\n' +
  'event: token\ndata: {"token": "Hello "}\n\n' +
  ': keep-alive comment\n\n' +
  'event: token\ndata: {"token": "wörld ✓"}\n\n' +
  'event: done\ndata: {"conversation_id": "c1", "message_id": "m1", "reply": "Hello wörld ✓"}\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'meta', data: '{"conversation_id": "c1", "agent": "general", "provider": "local"}', id: '7c0e' },
  { event: 'token', data: '{"token": "Hello "}', id: null },
  { event: 'token', data: '{"token": "wörld ✓"}', id: null },
  { event: 'done', data: '{"conversation_id": "c1", "message_id": "m1", "reply": "Hello wörld ✓"}', id: null },
];

function parseInChunks(text: string, size: number): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (let index = 0; index < text.length; index += size) events.push(...parser.feed(text.slice(index, index + size)));
  events.push(...parser.end());
  return events;
}

describe('SseParser', () => {
  it('parses a whole stream', () => {
    expect(parseInChunks(STREAM, STREAM.length)).toEqual(EXPECTED);
  });

  it('gives the same events however the stream is cut into chunks', () => {
    for (const size of [1, 2, 3, 5, 7, 16, 64]) expect(parseInChunks(STREAM, size)).toEqual(EXPECTED);
  });

  it('accepts CRLF and CR line ends, also when a CRLF is split across chunks', () => {
    const crlf = STREAM.replaceAll('\n', '\r\n');
    const cr = STREAM.replaceAll('\n', '\r');
    for (const size of [1, 2, 9, crlf.length]) {
      expect(parseInChunks(crlf, size)).toEqual(EXPECTED);
      expect(parseInChunks(cr, size)).toEqual(EXPECTED);
    }
  });

  it('joins multi-line data, strips one leading space, defaults the event name', () => {
    const parser = new SseParser();
    expect(parser.feed('data:one\ndata:  two\ndata\n\n')).toEqual([{ event: 'message', data: 'one\n two\n', id: null }]);
  });

  it('ignores comments, unknown fields and blocks without data; reads retry', () => {
    const parser = new SseParser();
    expect(parser.feed(':hello\nfoo: bar\nevent: token\n\nretry: 1500\nretry: soon\n\n')).toEqual([]);
    expect(parser.retryMs).toBe(1500);
  });

  it('keeps an event until its blank line arrives, and drops an unterminated one at the end', () => {
    const parser = new SseParser();
    expect(parser.feed('event: token\ndata: {"token": "a"}\n')).toEqual([]);
    expect(parser.feed('\n')).toHaveLength(1);
    expect(parser.feed('event: token\ndata: {"token": "b"}')).toEqual([]);
    expect(parser.end()).toEqual([]);
  });
});

describe('chat events', () => {
  it('reads SSE events and WebSocket frames into the same events', () => {
    expect(parseSseEvent('meta', '{"conversation_id": "c1", "agent": "general", "provider": "local"}')).toEqual({
      type: 'meta',
      conversationId: 'c1',
      agent: 'general',
      provider: 'local',
    });
    expect(parseWebSocketFrame('{"type": "meta", "conversation_id": "c1", "agent": "general", "provider": "local"}')).toEqual(
      parseSseEvent('meta', '{"conversation_id": "c1", "agent": "general", "provider": "local"}'),
    );
    expect(parseWebSocketFrame('{"type": "token", "token": " x"}')).toEqual({ type: 'token', token: ' x' });
    expect(parseWebSocketFrame('{"type": "done", "conversation_id": "c", "message_id": "m", "reply": "r"}')).toEqual({
      type: 'done',
      conversationId: 'c',
      messageId: 'm',
      reply: 'r',
    });
    expect(parseSseEvent('error', '{"error": "provider_unavailable", "detail": "upstream timed out"}')).toEqual({
      type: 'error',
      error: 'provider_unavailable',
      detail: 'upstream timed out',
    });
  });

  it('rejects frames that do not fit the contract', () => {
    expect(parseWebSocketFrame('not json')).toBeNull();
    expect(parseWebSocketFrame('[1, 2]')).toBeNull();
    expect(parseWebSocketFrame('{"token": "no type"}')).toBeNull();
    expect(parseWebSocketFrame('{"type": "token", "token": 5}')).toBeNull();
    expect(parseWebSocketFrame('{"type": "done", "reply": "no ids"}')).toBeNull();
    expect(parseSseEvent('ping', '{}')).toBeNull();
    expect(parseSseEvent('token', '{')).toBeNull();
    expect(toChatEvent('meta', { agent: 'x' })).toBeNull();
  });

  it('fills in an error without detail', () => {
    expect(toChatEvent('error', {})).toEqual({ type: 'error', error: 'error', detail: 'error' });
    expect(toChatEvent('error', { error: 'boom' })).toEqual({ type: 'error', error: 'boom', detail: 'boom' });
  });
});
