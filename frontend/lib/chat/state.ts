// State of the chat page as a pure reducer: what is shown, what is streaming,
// what failed and can be retried. No React, no I/O (the component does those).

import type { ConversationMessage } from '@/lib/api-types';
import type { ChatStreamEvent } from '@/lib/chat/events';

export type Transport = 'websocket' | 'sse';

export interface ChatMessage {
  /** Stable React key (the orchestrator's id arrives only with `done`). */
  key: string;
  /** The orchestrator's message id, when known. */
  id: string | null;
  role: 'user' | 'assistant';
  content: string;
  status: 'streaming' | 'done' | 'error';
  /** Token events received for this reply (streamed replies only). */
  tokens: number;
  agent: string | null;
  provider: string | null;
  transport: Transport | null;
}

export interface ChatFailure {
  error: string;
  detail: string;
  /** The message to send again with Retry (null when there is nothing to resend). */
  retryText: string | null;
}

export interface ChatState {
  conversationId: string | null;
  messages: ChatMessage[];
  /** The turn in flight, if any: its user message and the assistant reply being streamed. */
  pending: { text: string; userKey: string; assistantKey: string } | null;
  failure: ChatFailure | null;
  /** Conversation whose history is being loaded, if any. */
  loading: string | null;
}

export type ChatAction =
  | { type: 'new_conversation' }
  | { type: 'history_loading'; conversationId: string }
  | { type: 'history_loaded'; conversationId: string; messages: ConversationMessage[] }
  | { type: 'history_failed'; conversationId: string; error: string; detail: string }
  | { type: 'send'; text: string; userKey: string; assistantKey: string }
  | { type: 'stream'; assistantKey: string; transport: Transport; event: ChatStreamEvent }
  | { type: 'failed'; assistantKey: string; error: string; detail: string }
  | { type: 'retry'; userKey: string; assistantKey: string }
  | { type: 'dismiss' };

export const initialChatState: ChatState = {
  conversationId: null,
  messages: [],
  pending: null,
  failure: null,
  loading: null,
};

function fromHistory(message: ConversationMessage): ChatMessage | null {
  if (message.role !== 'user' && message.role !== 'assistant') return null;
  return {
    key: `m-${message.id}`,
    id: message.id,
    role: message.role,
    content: message.content,
    status: 'done',
    tokens: 0,
    agent: message.agent,
    provider: message.provider,
    transport: null,
  };
}

function updateMessage(state: ChatState, key: string, update: (message: ChatMessage) => ChatMessage): ChatMessage[] {
  return state.messages.map((message) => (message.key === key ? update(message) : message));
}

function startTurn(state: ChatState, text: string, userKey: string, assistantKey: string): ChatState {
  const user: ChatMessage = {
    key: userKey,
    id: null,
    role: 'user',
    content: text,
    status: 'done',
    tokens: 0,
    agent: null,
    provider: null,
    transport: null,
  };
  const assistant: ChatMessage = { ...user, key: assistantKey, role: 'assistant', content: '', status: 'streaming' };
  return { ...state, messages: [...state.messages, user, assistant], pending: { text, userKey, assistantKey }, failure: null };
}

function fail(state: ChatState, error: string, detail: string): ChatState {
  const pending = state.pending;
  if (pending === null) return state;
  return {
    ...state,
    messages: updateMessage(state, pending.assistantKey, (message) => ({ ...message, status: 'error' })),
    pending: null,
    failure: { error, detail, retryText: pending.text },
  };
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'new_conversation':
      return initialChatState;

    case 'history_loading':
      return { ...initialChatState, conversationId: action.conversationId, loading: action.conversationId };

    case 'history_loaded': {
      if (state.loading !== action.conversationId) return state; // another conversation was chosen since
      const messages = action.messages.flatMap((message) => fromHistory(message) ?? []);
      return { ...state, conversationId: action.conversationId, messages, loading: null, failure: null };
    }

    case 'history_failed':
      if (state.loading !== action.conversationId) return state;
      return { ...state, loading: null, failure: { error: action.error, detail: action.detail, retryText: null } };

    case 'send':
      if (state.pending !== null || action.text.trim() === '') return state;
      return startTurn(state, action.text, action.userKey, action.assistantKey);

    case 'stream': {
      // Events of a turn that is no longer current (conversation switched, retried) are dropped.
      if (state.pending?.assistantKey !== action.assistantKey) return state;
      const { event, transport } = action;
      switch (event.type) {
        case 'meta':
          return {
            ...state,
            conversationId: event.conversationId,
            messages: updateMessage(state, action.assistantKey, (message) => ({
              ...message,
              agent: event.agent,
              provider: event.provider,
              transport,
            })),
          };
        case 'token':
          return {
            ...state,
            messages: updateMessage(state, action.assistantKey, (message) => ({
              ...message,
              content: message.content + event.token,
              tokens: message.tokens + 1,
              transport,
            })),
          };
        case 'done':
          return {
            ...state,
            conversationId: event.conversationId,
            // The final reply is authoritative (tokens may have been lost or cut).
            messages: updateMessage(state, action.assistantKey, (message) => ({
              ...message,
              id: event.messageId,
              content: event.reply,
              status: 'done',
              transport,
            })),
            pending: null,
            failure: null,
          };
        case 'error':
          return fail(state, event.error, event.detail);
      }
      return state;
    }

    case 'failed':
      if (state.pending?.assistantKey !== action.assistantKey) return state;
      return fail(state, action.error, action.detail);

    case 'retry': {
      const retryText = state.failure?.retryText;
      if (state.pending !== null || retryText == null) return state;
      // Drop the failed turn (its user message and the broken reply), then send it again.
      const failedIndex = state.messages.findLastIndex((message) => message.role === 'assistant' && message.status === 'error');
      const messages =
        failedIndex > 0 && state.messages[failedIndex - 1]?.role === 'user'
          ? state.messages.filter((_, index) => index !== failedIndex && index !== failedIndex - 1)
          : state.messages;
      return startTurn({ ...state, messages }, retryText, action.userKey, action.assistantKey);
    }

    case 'dismiss':
      return { ...state, failure: null };
  }
  return state;
}

/** The last assistant reply, if any. */
export function lastAssistant(state: ChatState): ChatMessage | null {
  return state.messages.findLast((message) => message.role === 'assistant') ?? null;
}
