import type { NextConfig } from 'next';

// Everything here is evaluated at BUILD time. Runtime settings (ORCHESTRATOR_URL,
// CARTRITA_API_KEY, ...) are read per request in lib/config.ts instead, so one
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
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
          { key: 'X-Frame-Options', value: 'DENY' },
        ],
      },
    ];
  },
};

export default nextConfig;
