// Headless Chromium driven over the DevTools protocol (the `ws` dev dependency; no
// Playwright in this package), for the few vitest checks that need a real browser:
// what the Content-Security-Policy lets a page do. Debian's /usr/bin/chromium, or
// CARTRITA_CHROMIUM; tests skip when there is none.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WebSocket } from 'ws';

export const CHROMIUM = process.env.CARTRITA_CHROMIUM || '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

type Listener = (params: Record<string, unknown>) => void;

export interface BrowserPage {
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Load a URL and wait for its load event. */
  goto(url: string): Promise<void>;
  /** A JavaScript expression's value in the page (promises awaited). */
  evaluate<T>(expression: string): Promise<T>;
  /** Poll until the expression is truthy. */
  waitFor(expression: string, what: string, timeoutMs?: number): Promise<void>;
  /** Focus the element and type into it as a person would (React sees input events). */
  type(selector: string, text: string): Promise<void>;
  click(selector: string): Promise<void>;
  /** Console errors, warnings and exceptions so far, CSP reports among them. */
  messages: string[];
}

export interface Browser {
  page: BrowserPage;
  close(): Promise<void>;
}

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--remote-debugging-port=0',
];

export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'cartrita-chromium-'));
  const child: ChildProcess = spawn(CHROMIUM, [...ARGS, `--user-data-dir=${profile}`, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start:\n${text}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`Chromium exited (${code}):\n${text}`)));
  });

  const socket = new WebSocket(endpoint, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const listeners = new Map<string, Listener[]>();
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
    if (message.id !== undefined) {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result);
    } else if (message.method !== undefined) {
      for (const listener of listeners.get(message.method) ?? []) listener(message.params ?? {});
    }
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) }));
    });
  const on = (method: string, listener: Listener) => {
    listeners.set(method, [...(listeners.get(method) ?? []), listener]);
    return () => listeners.set(method, (listeners.get(method) ?? []).filter((known) => known !== listener));
  };

  const { targetId } = await call<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await call<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
  const send = <T>(method: string, params: Record<string, unknown> = {}) => call<T>(method, params, sessionId);

  const messages: string[] = [];
  on('Runtime.consoleAPICalled', (params) => {
    if (params.type === 'error' || params.type === 'warning') {
      messages.push(((params.args as { value?: unknown; description?: string }[]) ?? []).map((arg) => String(arg.value ?? arg.description ?? '')).join(' '));
    }
  });
  on('Runtime.exceptionThrown', (params) => messages.push(`exception: ${JSON.stringify(params.exceptionDetails)}`));
  on('Log.entryAdded', (params) => {
    const entry = params.entry as { level: string; text: string; url?: string };
    if (entry.level === 'error' || entry.level === 'warning') messages.push(`${entry.text}${entry.url ? ` (${entry.url})` : ''}`);
  });
  await Promise.all([send('Page.enable'), send('Runtime.enable'), send('Log.enable')]);
  // Every violation, including ones the browser does not log: reported from inside the page.
  await send('Page.addScriptToEvaluateOnNewDocument', {
    source: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));`,
  });

  const evaluate = async <T>(expression: string): Promise<T> => {
    const result = await send<{ result: { value?: T }; exceptionDetails?: unknown }>('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (result.exceptionDetails !== undefined) throw new Error(`${expression}: ${JSON.stringify(result.exceptionDetails)}`);
    return result.result.value as T;
  };
  const waitFor = async (expression: string, what: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await evaluate<boolean>(`Boolean(${expression})`)) return;
      } catch {
        /* the page is navigating */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; console: ${messages.join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const page: BrowserPage = {
    send,
    evaluate,
    waitFor,
    messages,
    async goto(url) {
      let off = () => undefined as unknown;
      const loaded = new Promise<void>((resolve) => {
        off = on('Page.loadEventFired', () => resolve());
      });
      await send('Page.navigate', { url });
      await loaded;
      off();
    },
    async type(selector, text) {
      await evaluate(`document.querySelector(${JSON.stringify(selector)}).focus()`);
      await send('Input.insertText', { text });
    },
    async click(selector) {
      await evaluate(`document.querySelector(${JSON.stringify(selector)}).click()`);
    },
  };

  return {
    page,
    async close() {
      socket.close();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
        child.kill('SIGTERM');
        // On a busy machine Chromium can take its time over SIGTERM (once past vitest's 10 s hook limit): then SIGKILL.
        if (!(await within(5_000))) {
          child.kill('SIGKILL');
          await within(5_000);
        }
      }
      // Its helper processes may still be writing to the profile for a moment; a leftover temp folder is no failure.
      try {
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      } catch (error) {
        console.warn(`[chromium] could not remove ${profile}: ${error instanceof Error ? error.message : error}`);
      }
    },
  };
}
