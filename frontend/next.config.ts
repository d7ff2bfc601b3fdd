import type { NextConfig } from 'next';

import { API_CONTENT_SECURITY_POLICY, STATIC_SECURITY_HEADERS } from './lib/security-headers';

// Everything here is evaluated at BUILD time. Runtime settings (ORCHESTRATOR_URL,
// TRUSTED_PROXIES, ...) are read per request in lib/config.ts instead, so one
// build works in every environment.
const nextConfig: NextConfig = {
  output: 'standalone',
  poweredByHeader: false,
  reactStrictMode: true,
  // Pin the tracing root to this folder so the standalone server always lands at
  // .next/standalone/server.js (the Dockerfile relies on that path), even if a
  // lockfile ever appears higher up in the monorepo.
  outputFileTracingRoot: __dirname,
  turbopack: { root: __dirname },
  // Pages get their Content-Security-Policy (with a per-request nonce) and HSTS from proxy.ts.
  async headers() {
    return [
      { source: '/:path*', headers: [...STATIC_SECURITY_HEADERS] },
      { source: '/api/:path*', headers: [{ key: 'Content-Security-Policy', value: API_CONTENT_SECURITY_POLICY }] },
    ];
  },
};

export default nextConfig;
