'use client';

import { useState, type FormEvent } from 'react';

import { describeApiError } from '@/lib/api-client';
import { toApiError } from '@/lib/api-types';

/** What to tell the person when a login attempt fails. */
export function loginErrorText(status: number, body: unknown, retryAfter: string | null): string {
  if (status === 0) return 'The Cartrita server could not be reached. Check your connection and try again.';
  if (status === 401) return 'Wrong username or password.';
  if (status === 422) return 'Enter your username and password.';
  if (status === 429) {
    const seconds = Number(retryAfter);
    return Number.isFinite(seconds) && seconds > 0
      ? `Too many sign-in attempts. Try again in ${Math.ceil(seconds)} s.`
      : 'Too many sign-in attempts. Try again in a little while.';
  }
  if (status === 502 || status === 503 || status === 504) return `Cartrita cannot sign you in right now: ${describeApiError(toApiError(body, status))}`;
  return `Sign-in failed: ${describeApiError(toApiError(body, status))}`;
}

/** Username + password; on success a full page load of `next` (the layout then shows the session). */
export function LoginForm({ next }: { next: string }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    let status = 0;
    let body: unknown = null;
    let retryAfter: string | null = null;
    try {
      const response = await fetch('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ username: username.trim(), password }),
        cache: 'no-store',
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      body = await response.json().catch(() => null);
    } catch {
      status = 0;
    }
    if (status === 200) {
      window.location.assign(next);
      return;
    }
    setPassword('');
    setError(loginErrorText(status, body, retryAfter));
    setBusy(false);
  };

  return (
    <form className="panel login-form" onSubmit={submit} data-testid="login-form">
      <label htmlFor="login-username">Username</label>
      <input
        id="login-username"
        className="input"
        name="username"
        autoComplete="username"
        autoCapitalize="none"
        spellCheck={false}
        required
        value={username}
        onChange={(event) => setUsername(event.target.value)}
        data-testid="login-username"
      />
      <label htmlFor="login-password">Password</label>
      <input
        id="login-password"
        className="input"
        name="password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(event) => setPassword(event.target.value)}
        data-testid="login-password"
      />
      {error !== null && (
        <p className="inline-error" role="alert" data-testid="login-error">
          {error}
        </p>
      )}
      <button type="submit" className="button" disabled={busy || username.trim() === '' || password === ''} data-testid="login-submit">
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
