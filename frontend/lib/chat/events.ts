// The chat stream's events, one shape for both transports: the orchestrator sends
// them as SSE events (`event: token` + `data: {...}`) and as WebSocket frames
// (`{"type": "token", ...}`). Pure functions, no I/O.

export type ChatStreamEvent =
  | { type: 'meta'; conversationId: string; agent: string | null; provider: string | null }
  | { type: 'token'; token: string }
  | { type: 'done'; conversationId: string; messageId: string; reply: string }
  | { type: 'error'; error: string; detail: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** An event from its type and fields, or null when the fields do not fit the contract. */
export function toChatEvent(type: string, fields: unknown): ChatStreamEvent | null {
  if (!isRecord(fields)) return null;
  switch (type) {
    case 'meta': {
      const conversationId = str(fields.conversation_id);
      return conversationId === null
        ? null
        : { type: 'meta', conversationId, agent: str(fields.agent), provider: str(fields.provider) };
    }
    case 'token': {
      const token = str(fields.token);
      return token === null ? null : { type: 'token', token };
    }
    case 'done': {
      const conversationId = str(fields.conversation_id);
      const messageId = str(fields.message_id);
      const reply = str(fields.reply);
      return conversationId === null || messageId === null || reply === null
        ? null
        : { type: 'done', conversationId, messageId, reply };
    }
    case 'error': {
      const error = str(fields.error) ?? 'error';
      const detail = str(fields.detail) ?? error;
      return { type: 'error', error, detail };
    }
    default:
      return null;
  }
}

/** A WebSocket text frame `{"type": ..., ...}`; null for frames that are not chat events. */
export function parseWebSocketFrame(text: string): ChatStreamEvent | null {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return null;
  }
  return isRecord(frame) && typeof frame.type === 'string' ? toChatEvent(frame.type, frame) : null;
}

/** An SSE event (name + JSON data); null for events that are not chat events. */
export function parseSseEvent(event: string, data: string): ChatStreamEvent | null {
  let fields: unknown;
  try {
    fields = JSON.parse(data);
  } catch {
    return null;
  }
  return toChatEvent(event, fields);
}
