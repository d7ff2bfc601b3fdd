'use client';

import { useCallback, useEffect, useReducer, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';

import { describeApiError, requestJson } from '@/lib/api-client';
import type { Agent, ChatRequest, ConversationDetail, ConversationSummary } from '@/lib/api-types';
import { chatReducer, initialChatState, type ChatMessage, type Transport } from '@/lib/chat/state';
import { sendChat } from '@/lib/chat/transport';
import { redirectToLogin } from '@/lib/login-path';
import { TokenManager } from '@/lib/token-client';

export type TransportPreference = 'auto' | 'websocket' | 'sse';

export interface ChatProps {
  /** Browser-facing orchestrator WebSocket URL (NEXT_PUBLIC_WS_URL, read at request time), or null for SSE only. */
  wsUrl: string | null;
  /** `auto`: WebSocket, SSE when it cannot be opened. `sse`: always SSE (also `?transport=sse`). */
  transport: TransportPreference;
}

/** After a WebSocket failed to open, use SSE for this long before trying the WebSocket again. */
const WEBSOCKET_BACKOFF_MS = 60_000;

const TRANSPORT_LABEL: Record<Transport, string> = { websocket: 'WebSocket', sse: 'SSE' };

/** Short local date and time; the list renders in the browser only, so no hydration mismatch. */
function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

function MessageView({ message }: { message: ChatMessage }) {
  const streaming = message.status === 'streaming';
  return (
    <article
      className={`message message-${message.role}`}
      data-testid={`chat-message-${message.role}`}
      data-state={message.status}
      data-tokens={message.tokens}
      data-transport={message.transport ?? undefined}
      data-message-id={message.id ?? undefined}
      aria-busy={streaming || undefined}
    >
      <header className="message-head">
        <span className="message-role">{message.role === 'user' ? 'You' : 'Cartrita'}</span>
        {message.role === 'assistant' && (message.agent !== null || message.provider !== null) && (
          <span className="message-meta">
            {[message.agent, message.provider, message.transport === null ? null : `via ${TRANSPORT_LABEL[message.transport]}`]
              .filter(Boolean)
              .join(' · ')}
          </span>
        )}
      </header>
      <p className="message-body">
        {message.content}
        {streaming && <span className="cursor" aria-hidden="true" />}
        {streaming && message.content === '' && <span className="muted">Thinking…</span>}
        {message.status === 'error' && message.content === '' && <span className="muted">No reply.</span>}
      </p>
    </article>
  );
}

export function Chat({ wsUrl, transport }: ChatProps) {
  const [state, dispatch] = useReducer(chatReducer, initialChatState);
  const [input, setInput] = useState('');
  const [agent, setAgent] = useState('');
  const [agents, setAgents] = useState<Agent[]>([]);
  const [conversations, setConversations] = useState<ConversationSummary[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const tokensRef = useRef<TokenManager | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  const keyRef = useRef(0);
  const webSocketFailedAt = useRef<number | null>(null);
  const messagesRef = useRef<HTMLDivElement | null>(null);

  const useWebSocket = wsUrl !== null && transport !== 'sse';

  const nextKeys = () => {
    keyRef.current += 1;
    return { userKey: `u-${keyRef.current}`, assistantKey: `a-${keyRef.current}` };
  };

  const loadConversations = useCallback(async () => {
    const result = await requestJson<{ conversations: ConversationSummary[] }>('/api/conversations?limit=50');
    if (result.ok) {
      setConversations(Array.isArray(result.data.conversations) ? result.data.conversations : []);
      setListError(null);
    } else {
      setListError(describeApiError(result));
    }
  }, []);

  // WebSocket tokens live 60 s and are needed only to connect: fetched when a turn starts
  // (reused while fresh), not renewed in the background. SSE needs none (the cookie).
  useEffect(() => {
    if (!useWebSocket) return;
    tokensRef.current = new TokenManager();
    return () => {
      tokensRef.current = null;
    };
  }, [useWebSocket]);

  useEffect(() => {
    void loadConversations();
    void requestJson<{ agents: Agent[] }>('/api/agents').then((result) => {
      if (result.ok && Array.isArray(result.data.agents)) setAgents(result.data.agents.filter((item) => item.enabled));
    });
    return () => abortRef.current?.abort();
  }, [loadConversations]);

  // Follow the reply as it streams in.
  useEffect(() => {
    const box = messagesRef.current;
    if (box !== null) box.scrollTop = box.scrollHeight;
  }, [state.messages]);

  const runTurn = async (text: string, assistantKey: string, conversationId: string | null) => {
    abortRef.current?.abort();
    const controller = new AbortController();
    abortRef.current = controller;
    const request: ChatRequest = { message: text };
    if (conversationId !== null) request.conversation_id = conversationId;
    if (agent !== '') request.agent = agent;

    const backingOff = webSocketFailedAt.current !== null && Date.now() - webSocketFailedAt.current < WEBSOCKET_BACKOFF_MS;
    const tokens = tokensRef.current;
    const result = await sendChat({
      request,
      wsUrl,
      useWebSocket: useWebSocket && tokens !== null && !backingOff,
      getToken: () => (tokens === null ? Promise.reject(new Error('no token manager')) : tokens.getToken()),
      invalidateToken: () => tokens?.invalidate(),
      signal: controller.signal,
      onEvent: (event, via) => dispatch({ type: 'stream', assistantKey, transport: via, event }),
    });
    if (abortRef.current === controller) abortRef.current = null;

    if (result.webSocketFailed) {
      webSocketFailedAt.current = Date.now();
      setNotice(`WebSocket unavailable (${result.webSocketProblem}); replies stream over SSE for now.`);
    } else if (result.transport === 'websocket') {
      webSocketFailedAt.current = null;
      setNotice(null);
    }

    const { outcome } = result;
    if (outcome.kind === 'error' && outcome.error === 'unauthorized') redirectToLogin();
    if (outcome.kind === 'error') {
      dispatch({ type: 'failed', assistantKey, error: outcome.error, detail: outcome.detail });
    } else if (outcome.kind === 'unavailable') {
      dispatch({ type: 'failed', assistantKey, error: 'unavailable', detail: outcome.detail });
    }
    // The turn is stored (even a failed one keeps the user's message): refresh the list.
    if (outcome.kind !== 'aborted') void loadConversations();
  };

  const send = (event?: FormEvent) => {
    event?.preventDefault();
    const text = input.trim();
    if (text === '' || state.pending !== null) return;
    const { userKey, assistantKey } = nextKeys();
    dispatch({ type: 'send', text, userKey, assistantKey });
    setInput('');
    void runTurn(text, assistantKey, state.conversationId);
  };

  const retry = () => {
    const text = state.failure?.retryText;
    if (text == null || state.pending !== null) return;
    const { userKey, assistantKey } = nextKeys();
    dispatch({ type: 'retry', userKey, assistantKey });
    void runTurn(text, assistantKey, state.conversationId);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter adds a line.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) send(event);
  };

  const openConversation = async (id: string) => {
    abortRef.current?.abort();
    dispatch({ type: 'history_loading', conversationId: id });
    const result = await requestJson<ConversationDetail>(`/api/conversations/${encodeURIComponent(id)}`);
    if (result.ok) {
      dispatch({ type: 'history_loaded', conversationId: id, messages: Array.isArray(result.data.messages) ? result.data.messages : [] });
    } else {
      dispatch({ type: 'history_failed', conversationId: id, error: result.error, detail: describeApiError(result) });
    }
  };

  const newConversation = () => {
    abortRef.current?.abort();
    dispatch({ type: 'new_conversation' });
  };

  const busy = state.pending !== null;

  return (
    <div className="chat-layout">
      <aside className="panel conversations" aria-labelledby="conversations-heading">
        <div className="panel-head">
          <h2 id="conversations-heading">Conversations</h2>
          <button type="button" className="button button-secondary" onClick={newConversation} data-testid="chat-new">
            New chat
          </button>
        </div>
        {listError !== null && (
          <div className="inline-error" role="alert" data-testid="conversation-list-error">
            Could not load conversations: {listError}{' '}
            <button type="button" className="link-button" onClick={() => void loadConversations()}>
              Reload
            </button>
          </div>
        )}
        <ul className="conversation-list" data-testid="conversation-list" aria-busy={conversations === null || undefined}>
          {conversations?.length === 0 && <li className="muted empty">No conversations yet.</li>}
          {conversations?.map((conversation) => {
            const selected = conversation.id === state.conversationId;
            return (
              <li key={conversation.id}>
                <button
                  type="button"
                  className="conversation-item"
                  data-testid="conversation-item"
                  data-conversation-id={conversation.id}
                  aria-current={selected ? 'true' : undefined}
                  onClick={() => void openConversation(conversation.id)}
                >
                  <span className="conversation-title">{conversation.title?.trim() || 'Untitled conversation'}</span>
                  <span className="conversation-meta">
                    {conversation.message_count} message{conversation.message_count === 1 ? '' : 's'} · {formatTime(conversation.updated_at)}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      </aside>

      <section className="panel chat-panel" aria-label="Chat">
        <div
          className="chat-messages"
          ref={messagesRef}
          data-testid="chat-messages"
          data-conversation-id={state.conversationId ?? undefined}
          role="log"
          aria-live="polite"
          aria-busy={state.loading !== null || busy || undefined}
        >
          {state.loading !== null && <p className="muted">Loading conversation…</p>}
          {state.loading === null && state.messages.length === 0 && (
            <p className="muted empty">Ask Cartrita anything. Replies stream in as they are written.</p>
          )}
          {state.messages.map((message) => (
            <MessageView key={message.key} message={message} />
          ))}
        </div>

        {state.failure !== null && (
          <div className="chat-error" role="alert" data-testid="chat-error" data-error={state.failure.error}>
            <span>
              {state.failure.retryText !== null ? 'The reply failed: ' : 'Could not load the conversation: '}
              {describeApiError(state.failure)}
            </span>
            <span className="chat-error-actions">
              {state.failure.retryText !== null && (
                <button type="button" className="button" onClick={retry} disabled={busy} data-testid="chat-retry">
                  Retry
                </button>
              )}
              <button type="button" className="link-button" onClick={() => dispatch({ type: 'dismiss' })}>
                Dismiss
              </button>
            </span>
          </div>
        )}

        <form className="chat-form" onSubmit={send}>
          <label htmlFor="chat-input" className="visually-hidden">
            Message
          </label>
          <textarea
            id="chat-input"
            className="input"
            rows={3}
            placeholder="Message Cartrita… (Enter to send, Shift+Enter for a new line)"
            value={input}
            onChange={(event) => setInput(event.target.value)}
            onKeyDown={onKeyDown}
            maxLength={32_000}
            data-testid="chat-input"
          />
          <div className="chat-form-row">
            {agents.length > 0 && (
              <label className="agent-select">
                Agent{' '}
                <select value={agent} onChange={(event) => setAgent(event.target.value)} data-testid="chat-agent">
                  <option value="">default</option>
                  {agents.map((item) => (
                    <option key={item.name} value={item.name} title={item.description}>
                      {item.name}
                    </option>
                  ))}
                </select>
              </label>
            )}
            <span className="meta chat-transport" data-testid="chat-transport">
              {notice ?? (useWebSocket ? 'Streaming over WebSocket (SSE fallback)' : 'Streaming over SSE')}
            </span>
            <button type="submit" className="button" disabled={busy || input.trim() === ''} data-testid="chat-send">
              {busy ? 'Replying…' : 'Send'}
            </button>
          </div>
        </form>
      </section>
    </div>
  );
}
