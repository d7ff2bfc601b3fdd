// Every route handler of ours on one loopback server, in front of the fake orchestrator:
// the frontend as a browser (or an attacker with curl) sees it, minus pages and Proxy.
import { GET as getAgents } from '@/app/api/agents/route';
import { POST as login } from '@/app/api/auth/login/route';
import { POST as logout } from '@/app/api/auth/logout/route';
import { GET as me } from '@/app/api/auth/me/route';
import { GET as streamChat } from '@/app/api/chat/stream/route';
import { GET as getConversation } from '@/app/api/conversations/[id]/route';
import { GET as listConversations } from '@/app/api/conversations/route';
import { GET as health } from '@/app/api/health/route';
import { POST as addMemory } from '@/app/api/memory/route';
import { POST as searchMemory } from '@/app/api/memory/search/route';
import { POST as token } from '@/app/api/token/route';

import { startFakeOrchestrator, type FakeOrchestrator } from './fake-orchestrator';
import { startRouteServer, type Route, type RouteServer } from './route-server';

export const ROUTES: Route[] = [
  { path: '/api/auth/login', POST: login },
  { path: '/api/auth/logout', POST: logout },
  { path: '/api/auth/me', GET: me },
  { path: '/api/token', POST: token },
  { path: '/api/chat/stream', GET: streamChat },
  { path: '/api/conversations', GET: listConversations },
  { path: '/api/conversations/[id]', GET: getConversation },
  { path: '/api/memory', POST: addMemory },
  { path: '/api/memory/search', POST: searchMemory },
  { path: '/api/agents', GET: getAgents },
  { path: '/api/health', GET: health },
];

/** Every data route, as [method, path, body]: all of them need a session. */
export const DATA_ROUTES: [string, string, string | undefined][] = [
  ['POST', '/api/token', ''],
  ['GET', '/api/auth/me', undefined],
  ['GET', '/api/conversations', undefined],
  ['GET', '/api/conversations/0b5a1f1e-8d7c-4b8a-9d55-3f1e2d3c4b5a', undefined],
  ['POST', '/api/memory', JSON.stringify({ content: 'planted by an attacker' })],
  ['POST', '/api/memory/search', JSON.stringify({ query: 'password' })],
  ['GET', '/api/agents', undefined],
  ['GET', '/api/chat/stream?message=hello', undefined],
];

export const PASSWORDS = { alice: 'alice-long-password-1', bob: 'bob-long-password-22' } as const;

const ENV_KEYS = ['ORCHESTRATOR_URL', 'CARTRITA_API_KEY', 'TRUSTED_PROXIES', 'ORCHESTRATOR_TIMEOUT_MS', 'ORCHESTRATOR_PROXY_TOKEN'];

export interface FrontendUnderTest {
  orchestrator: FakeOrchestrator;
  frontend: RouteServer;
  /** The fake's requests to this path (query ignored). */
  upstream(path: string): FakeOrchestrator['requests'];
  close(): Promise<void>;
}

/**
 * The fake orchestrator with users alice and bob, our routes in front of it, and an
 * API key in our environment (as older deployments set it) that must never be used.
 */
export async function startFrontend(env: Record<string, string> = {}): Promise<FrontendUnderTest> {
  const saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));
  const orchestrator = await startFakeOrchestrator({ apiKey: 'sk-frontend-must-not-use-this' });
  for (const key of ENV_KEYS) delete process.env[key];
  Object.assign(process.env, { ORCHESTRATOR_URL: orchestrator.url, CARTRITA_API_KEY: orchestrator.apiKey }, env);
  orchestrator.addUser('alice', PASSWORDS.alice);
  orchestrator.addUser('bob', PASSWORDS.bob);
  const frontend = await startRouteServer(ROUTES);
  return {
    orchestrator,
    frontend,
    upstream: (path) => orchestrator.requests.filter((request) => request.url.split('?')[0] === path),
    async close() {
      await frontend.close();
      await orchestrator.close();
      for (const key of ENV_KEYS) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    },
  };
}
