import { afterEach, describe, expect, it, vi } from 'vitest';

import { register } from '@/instrumentation';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('instrumentation register()', () => {
  it('is a silent no-op when OTEL_EXPORTER_OTLP_ENDPOINT is unset', async () => {
    vi.stubEnv('NEXT_RUNTIME', 'nodejs');
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', '');
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', '');
    const info = vi.spyOn(console, 'info');
    const warn = vi.spyOn(console, 'warn');
    await expect(register()).resolves.toBeUndefined();
    expect(info).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });

  it('does nothing outside the Node.js runtime', async () => {
    vi.stubEnv('NEXT_RUNTIME', 'edge');
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://127.0.0.1:9');
    const info = vi.spyOn(console, 'info');
    await expect(register()).resolves.toBeUndefined();
    expect(info).not.toHaveBeenCalled();
  });
});
