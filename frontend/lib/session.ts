// The browser's login session: the orchestrator's opaque session token, kept in an
// HttpOnly cookie that page scripts cannot read. Pure header and string helpers, used
// by Proxy, the route handlers and the server components alike.

export const SESSION_COOKIE = 'cartrita_session';

// The orchestrator issues 43 url-safe characters; anything else (spaces, CR/LF, huge
// values) is not worth forwarding and counts as no session at all.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,256}$/;

/** True for a value that may be a session token (and is safe in a cookie and a header). */
export function isSessionToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}

/** The session token from the request's Cookie header, or null. */
export function readSessionCookie(headers: Pick<Headers, 'get'>): string | null {
  const header = headers.get('cookie');
  if (header === null) return null;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index === -1 || part.slice(0, index).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(index + 1).trim();
    return isSessionToken(value) ? value : null;
  }
  return null;
}

function attributes(maxAgeSeconds: number, secure: boolean): string {
  return `Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Set-Cookie for a fresh session; `secure` when the request came over https. */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; ${attributes(Math.max(0, Math.floor(maxAgeSeconds)), secure)}`;
}

/** Set-Cookie that deletes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; ${attributes(0, secure)}`;
}
