// Browser-side fetch of /api/health. Separate from the React component so it can
// be unit-tested against a real HTTP server.

export type HealthFetchResult = { ok: true; payload: unknown } | { ok: false; error: string };

/**
 * GET the health endpoint. A 503 carrying JSON is a successful *fetch* (the body
 * says what is down); only network errors, timeouts and non-JSON bodies fail.
 */
export async function fetchHealth(url: string, timeoutMs = 4000): Promise<HealthFetchResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      cache: 'no-store',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      return { ok: false, error: `timed out after ${timeoutMs} ms` };
    }
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  try {
    return { ok: true, payload: await response.json() };
  } catch {
    return { ok: false, error: `HTTP ${response.status} without a JSON body` };
  }
}
