'use client';

import { useState, type FormEvent, type InputHTMLAttributes } from 'react';

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

/** A labelled, required text input whose id is also its test id. */
function Field({ id, label, ...input }: { id: string; label: string } & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} className="input" required data-testid={id} {...input} />
    </>
  );
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
      <Field
        id="login-username"
        label="Username"
        name="username"
        autoComplete="username"
        autoCapitalize="none"
        spellCheck={false}
        value={username}
        onChange={(event) => setUsername(event.target.value)}
      />
      <Field
        id="login-password"
        label="Password"
        name="password"
        type="password"
        autoComplete="current-password"
        value={password}
        onChange={(event) => setPassword(event.target.value)}
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
