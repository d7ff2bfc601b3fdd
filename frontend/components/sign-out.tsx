'use client';

import { useState } from 'react';

import { LOGIN_PATH } from '@/lib/login-path';

/** The signed-in name and a Sign out button (ends the session, then the login page). */
export function SignOut({ username }: { username: string | null }) {
  const [busy, setBusy] = useState(false);
  const signOut = async () => {
    setBusy(true);
    try {
      await fetch('/api/auth/logout', { method: 'POST', cache: 'no-store' });
    } catch {
      /* the server clears the cookie when it answers; either way, leave */
    }
    window.location.assign(LOGIN_PATH);
  };
  return (
    <div className="session-box">
      {username !== null && (
        <span className="muted" data-testid="signed-in-user">
          {username}
        </span>
      )}
      <button type="button" className="button button-secondary" onClick={signOut} disabled={busy} data-testid="sign-out">
        {busy ? 'Signing out…' : 'Sign out'}
      </button>
    </div>
  );
}
