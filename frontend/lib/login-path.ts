// Where to send a person without a session, and where to send them back after login.
// Shared by Proxy, the pages and the login form (no server-only imports).

export const LOGIN_PATH = '/login';

/**
 * A same-site path to return to, or '/'. Only plain absolute paths pass: `//evil`,
 * `/\evil`, URLs with a scheme and anything with control characters would let the
 * login page forward someone to another site.
 */
export function safeNext(value: string | null | undefined): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return '/';
  const path = value.split(/[?#]/)[0] ?? '/';
  if (path === LOGIN_PATH || path.startsWith(`${LOGIN_PATH}/`)) return '/';
  return value;
}

/** `/login?next=<path>` (just `/login` when the way back is the home page). */
export function loginPath(next: string): string {
  const target = safeNext(next);
  return target === '/' ? LOGIN_PATH : `${LOGIN_PATH}?${new URLSearchParams({ next: target })}`;
}

/** In the browser, after a 401 (session expired or ended elsewhere): the login page, then back here. */
export function redirectToLogin(): void {
  if (typeof window === 'undefined') return;
  const { pathname, search } = window.location;
  if (pathname === LOGIN_PATH) return;
  window.location.assign(loginPath(`${pathname}${search}`));
}
