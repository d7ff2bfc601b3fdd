import { describe, expect, it } from 'vitest';

import type { ChatStreamEvent } from '@/lib/chat/events';
import { chatReducer, initialChatState, lastAssistant, type ChatAction, type ChatState } from '@/lib/chat/state';

function run(actions: ChatAction[], from: ChatState = initialChatState): ChatState {
  return actions.reduce(chatReducer, from);
}

const send = (text: string, n = 1): ChatAction => ({ type: 'send', text, userKey: `u-${n}`, assistantKey: `a-${n}` });
const stream = (event: ChatStreamEvent, n = 1): ChatAction => ({ type: 'stream', assistantKey: `a-${n}`, transport: 'websocket', event });
const meta = (n = 1) => stream({ type: 'meta', conversationId: 'c1', agent: 'general', provider: 'local' }, n);
const token = (text: string, n = 1) => stream({ type: 'token', token: text }, n);
const done = (reply: string, n = 1) => stream({ type: 'done', conversationId: 'c1', messageId: `m-${n}`, reply }, n);

describe('chatReducer', () => {
  it('streams a reply token by token, then settles on the final reply', () => {
    const sent = run([send('Hi there')]);
    expect(sent.pending).toEqual({ text: 'Hi there', userKey: 'u-1', assistantKey: 'a-1' });
    expect(sent.messages.map((message) => [message.role, message.status])).toEqual([
      ['user', 'done'],
      ['assistant', 'streaming'],
    ]);

    const streaming = run([meta(), token('Hel'), token('lo')], sent);
    expect(streaming.conversationId).toBe('c1');
    expect(lastAssistant(streaming)).toMatchObject({ content: 'Hello', tokens: 2, status: 'streaming', agent: 'general', provider: 'local', transport: 'websocket' });

    const finished = chatReducer(streaming, done('Hello!'));
    expect(finished.pending).toBeNull();
    expect(lastAssistant(finished)).toMatchObject({ content: 'Hello!', status: 'done', id: 'm-1', tokens: 2 });
  });

  it('ignores a second send while a reply is streaming, and blank messages', () => {
    const state = run([send('one'), send('two', 2), send('   ', 3)]);
    expect(state.messages).toHaveLength(2);
    expect(run([send('  ')]).messages).toHaveLength(0);
  });

  it('drops events of a turn that is no longer current', () => {
    const state = run([send('one'), { type: 'new_conversation' }, token('late')]);
    expect(state).toEqual(initialChatState);
    const other = run([send('one'), done('ok'), send('two', 2), token('stale', 1)]);
    expect(lastAssistant(other)?.content).toBe('');
  });

  it('turns a stream error into a failure that can be retried', () => {
    const failed = run([send('Hi'), meta(), token('Hel'), stream({ type: 'error', error: 'provider_unavailable', detail: 'timed out' })]);
    expect(failed.pending).toBeNull();
    expect(failed.failure).toEqual({ error: 'provider_unavailable', detail: 'timed out', retryText: 'Hi' });
    expect(lastAssistant(failed)?.status).toBe('error');

    const retried = chatReducer(failed, { type: 'retry', userKey: 'u-2', assistantKey: 'a-2' });
    expect(retried.failure).toBeNull();
    expect(retried.pending).toEqual({ text: 'Hi', userKey: 'u-2', assistantKey: 'a-2' });
    // The failed pair is replaced, not duplicated; the conversation id is kept for the resend.
    expect(retried.messages.map((message) => [message.key, message.content])).toEqual([
      ['u-2', 'Hi'],
      ['a-2', ''],
    ]);
    expect(retried.conversationId).toBe('c1');

    const ok = run([meta(2), token('Hello', 2), done('Hello', 2)], retried);
    expect(ok.failure).toBeNull();
    expect(ok.messages.map((message) => message.status)).toEqual(['done', 'done']);
  });

  it('records transport failures the same way, once', () => {
    const failed = run([send('Hi'), { type: 'failed', assistantKey: 'a-1', error: 'network_error', detail: 'offline' }]);
    expect(failed.failure).toEqual({ error: 'network_error', detail: 'offline', retryText: 'Hi' });
    expect(chatReducer(failed, { type: 'failed', assistantKey: 'a-1', error: 'other', detail: 'x' })).toBe(failed);
  });

  it('keeps earlier turns when a later one is retried', () => {
    const state = run([
      send('first'),
      done('reply one'),
      send('second', 2),
      { type: 'failed', assistantKey: 'a-2', error: 'boom', detail: 'boom' },
      { type: 'retry', userKey: 'u-3', assistantKey: 'a-3' },
    ]);
    expect(state.messages.map((message) => message.content)).toEqual(['first', 'reply one', 'second', '']);
  });

  it('loads history of the selected conversation, ignoring answers for another one', () => {
    const loading = run([send('draft'), { type: 'history_loading', conversationId: 'c2' }]);
    expect(loading).toMatchObject({ conversationId: 'c2', loading: 'c2', messages: [], pending: null });

    const history = [
      { id: 'm1', role: 'user', content: 'q', agent: 'general', provider: null, created_at: '2026-01-01T00:00:00Z' },
      { id: 'm2', role: 'assistant', content: 'a', agent: 'general', provider: 'local', created_at: '2026-01-01T00:00:01Z' },
      { id: 'm3', role: 'system', content: 'hidden', agent: null, provider: null, created_at: '2026-01-01T00:00:02Z' },
    ];
    expect(chatReducer(loading, { type: 'history_loaded', conversationId: 'c1', messages: history })).toBe(loading);
    const loaded = chatReducer(loading, { type: 'history_loaded', conversationId: 'c2', messages: history });
    expect(loaded.loading).toBeNull();
    expect(loaded.messages.map((message) => [message.role, message.content, message.status])).toEqual([
      ['user', 'q', 'done'],
      ['assistant', 'a', 'done'],
    ]);

    const failed = chatReducer(loading, { type: 'history_failed', conversationId: 'c2', error: 'not_found', detail: 'gone' });
    expect(failed.failure).toEqual({ error: 'not_found', detail: 'gone', retryText: null });
    expect(chatReducer(failed, { type: 'retry', userKey: 'u', assistantKey: 'a' })).toBe(failed);
    expect(chatReducer(failed, { type: 'dismiss' }).failure).toBeNull();
  });
});
