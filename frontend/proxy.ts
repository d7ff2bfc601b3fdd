import { randomBytes } from 'node:crypto';

import { NextResponse, type NextRequest } from 'next/server';

import { clientOrigin } from '@/lib/client-address';
import { getServerConfig } from '@/lib/config';
import { LOGIN_PATH, loginPath } from '@/lib/login-path';
import { STRICT_TRANSPORT_SECURITY, contentSecurityPolicy } from '@/lib/security-headers';
import { readSessionCookie } from '@/lib/session';

// Runs before every page (not API routes or static files, see `config`): a fresh CSP
// nonce per response, HSTS over TLS, and no page at all without a session cookie.
// Whether the cookie is still valid is the pages' check (lib/current-user.ts); this is
// the cheap first one.

export function proxy(request: NextRequest): NextResponse {
  const config = getServerConfig();
  const nonce = randomBytes(16).toString('base64');
  const policy = contentSecurityPolicy({ nonce, wsUrl: config.public.wsUrl, dev: process.env.NODE_ENV === 'development' });
  const { pathname, search } = request.nextUrl;

  let response: NextResponse;
  if (pathname !== LOGIN_PATH && readSessionCookie(request.headers) === null) {
    response = NextResponse.redirect(new URL(loginPath(`${pathname}${search}`), request.url), 303);
  } else {
    // Next.js takes the nonce for its own script tags from the request's CSP header.
    const headers = new Headers(request.headers);
    headers.set('content-security-policy', policy);
    response = NextResponse.next({ request: { headers } });
  }
  response.headers.set('Content-Security-Policy', policy);
  if (clientOrigin(request.headers, config.trustedProxies).https) {
    response.headers.set('Strict-Transport-Security', STRICT_TRANSPORT_SECURITY);
  }
  return response;
}

export const config = {
  // API routes answer 401 themselves and must not have their bodies buffered for Proxy
  // (Next.js would keep up to 10 MB of each upload to hand it to both).
  matcher: ['/((?!api/|_next/static/|_next/image|icon\\.svg|robots\\.txt|favicon\\.ico).*)'],
};
