import { describe, expect, it } from 'vitest';

import { DEFAULT_ORCHESTRATOR_URL, getServerConfig, proxyTokenHeaders, redactUrl } from '@/lib/config';

describe('getServerConfig', () => {
  it('prefers ORCHESTRATOR_URL, then NEXT_PUBLIC_API_URL, then the default', () => {
    expect(getServerConfig({ ORCHESTRATOR_URL: 'http://a:1/', NEXT_PUBLIC_API_URL: 'http://b:2' }).orchestratorUrl).toBe('http://a:1');
    expect(getServerConfig({ ORCHESTRATOR_URL: '  ', NEXT_PUBLIC_API_URL: 'http://b:2' }).orchestratorUrl).toBe('http://b:2');
    expect(getServerConfig({}).orchestratorUrl).toBe(DEFAULT_ORCHESTRATOR_URL);
  });

  it('does not read the API key at all, and keeps the public subset to the two URLs', () => {
    const config = getServerConfig({ CARTRITA_API_KEY: 'secret', NEXT_PUBLIC_API_URL: 'http://api', NEXT_PUBLIC_WS_URL: 'ws://api/', TRUSTED_PROXIES: ' 10.0.0.0/8 ' });
    expect(JSON.stringify(config)).not.toContain('secret');
    expect(config.public).toEqual({ apiUrl: 'http://api', wsUrl: 'ws://api' });
    expect(config.trustedProxies).toBe('10.0.0.0/8');
  });

  it('reads ORCHESTRATOR_PROXY_TOKEN (trimmed; blank is none) into the server config only', () => {
    const config = getServerConfig({ ORCHESTRATOR_PROXY_TOKEN: ' tok-123 ' });
    expect(config.proxyToken).toBe('tok-123');
    expect(JSON.stringify(config.public)).not.toContain('tok-123');
    expect(proxyTokenHeaders(config)).toEqual({ 'x-cartrita-proxy-token': 'tok-123' });
    for (const env of [{}, { ORCHESTRATOR_PROXY_TOKEN: '   ' }]) {
      expect(getServerConfig(env).proxyToken).toBeNull();
      expect(proxyTokenHeaders(getServerConfig(env))).toEqual({});
    }
  });

  it('clamps numeric settings and ignores junk', () => {
    expect(getServerConfig({}).healthTimeoutMs).toBe(2000);
    expect(getServerConfig({ ORCHESTRATOR_HEALTH_TIMEOUT_MS: '5' }).healthTimeoutMs).toBe(100);
    expect(getServerConfig({ HEALTH_POLL_INTERVAL_MS: 'soon' }).healthPollIntervalMs).toBe(5000);
    expect(getServerConfig({ HEALTH_POLL_INTERVAL_MS: '2500' }).healthPollIntervalMs).toBe(2500);
  });
});

describe('redactUrl', () => {
  it('removes user-info only', () => {
    expect(redactUrl('http://u:p@host:8000/x')).toBe('http://host:8000/x');
    expect(redactUrl('http://host:8000')).toBe('http://host:8000');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});
