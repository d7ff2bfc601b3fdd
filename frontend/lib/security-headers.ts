// Response headers that limit what a page may do. The static ones go on every answer
// (next.config.ts); the Content-Security-Policy carries a per-request nonce, so Proxy
// (proxy.ts) sets it on pages. Pure functions: also imported by next.config.ts and tests.

/** Headers for every answer, static assets and API routes included. */
export const STATIC_SECURITY_HEADERS: readonly { key: string; value: string }[] = [
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
  { key: 'X-Frame-Options', value: 'DENY' },
  // No component uses the camera, microphone (no voice input), location, payments or USB.
  { key: 'Permissions-Policy', value: 'camera=(), microphone=(), geolocation=(), payment=(), usb=()' },
];

/** JSON answers need nothing at all; a page that embeds one gets nothing either. */
export const API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'";

/** Sent only when the request came over TLS (a browser ignores it over http anyway; this keeps dev on http usable). */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000; includeSubDomains';

/** `ws(s)://host:port` of NEXT_PUBLIC_WS_URL (an http(s) URL counts as its ws(s) twin), or null. */
export function webSocketOrigin(wsUrl: string | null): string | null {
  if (wsUrl === null) return null;
  try {
    const url = new URL(wsUrl);
    if (url.protocol === 'http:') url.protocol = 'ws:';
    else if (url.protocol === 'https:') url.protocol = 'wss:';
    return url.protocol === 'ws:' || url.protocol === 'wss:' ? url.origin : null;
  } catch {
    return null;
  }
}

export interface CspOptions {
  nonce: string;
  /** NEXT_PUBLIC_WS_URL: the one other origin the chat page connects to. */
  wsUrl: string | null;
  /** `next dev` needs eval for React's debugging aids; production never does. */
  dev?: boolean;
}

/**
 * The pages' policy. Scripts: only those carrying this response's nonce (Next.js puts it
 * on its own tags when it finds it in the request's CSP header) and what they load
 * ('strict-dynamic'); 'self' is the fallback for browsers without 'strict-dynamic'.
 */
export function contentSecurityPolicy({ nonce, wsUrl, dev = false }: CspOptions): string {
  const ws = webSocketOrigin(wsUrl);
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ''}`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${ws === null ? '' : ` ${ws}`}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
