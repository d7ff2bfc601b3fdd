import 'server-only';

import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { cache } from 'react';

import { getServerConfig } from '@/lib/config';
import { loginPath } from '@/lib/login-path';
import { callJson, callerOf } from '@/lib/orchestrator';

export interface SessionUser {
  id: string;
  username: string;
}

export type SessionState =
  | { kind: 'signed-in'; user: SessionUser }
  | { kind: 'signed-out' }
  /** There is a cookie, but the orchestrator could not say whose (it is down): the page still renders, with its banner. */
  | { kind: 'unverified' };

/** The person behind this page request's session cookie (asked once per request). */
export const currentSession = cache(async (): Promise<SessionState> => {
  const config = getServerConfig();
  const caller = callerOf({ headers: await headers() }, config);
  if (caller.session === null) return { kind: 'signed-out' };
  try {
    const answer = await callJson(config, '/api/auth/me', caller);
    if (answer.status === 401) return { kind: 'signed-out' };
    const user = (answer.body as { user?: Partial<SessionUser> } | undefined)?.user;
    if (answer.status === 200 && typeof user?.id === 'string' && typeof user.username === 'string') {
      return { kind: 'signed-in', user: { id: user.id, username: user.username } };
    }
  } catch {
    /* unreachable or timed out: unverified */
  }
  return { kind: 'unverified' };
});

/** For pages: off to the login page unless signed in (Proxy already sent away requests without a cookie). */
export async function requireSession(path: string): Promise<SessionState> {
  const state = await currentSession();
  if (state.kind === 'signed-out') redirect(loginPath(path));
  return state;
}
