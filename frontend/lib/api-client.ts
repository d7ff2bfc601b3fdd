// Browser-side JSON calls to our own routes (/api/conversations, /api/memory, ...).
// Never throws: every failure comes back as `{ok: false, status, error, detail}`,
// ready to be shown to the person.

import { toApiError, type ApiErrorBody } from '@/lib/api-types';
import { redirectToLogin } from '@/lib/login-path';

export type ApiResult<T> = { ok: true; status: number; data: T } | ({ ok: false; status: number } & ApiErrorBody);

export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

export async function requestJson<T>(
  url: string,
  init: { method?: 'GET' | 'POST'; body?: unknown } = {},
  options: RequestOptions = {},
): Promise<ApiResult<T>> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const fetchImpl = options.fetchImpl ?? ((input, requestInit) => fetch(input, requestInit));
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: init.method ?? 'GET',
      headers:
        init.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (timeout.aborted) return { ok: false, status: 0, error: 'timeout', detail: `no answer within ${Math.round(timeoutMs / 1000)} s` };
    if (options.signal?.aborted) return { ok: false, status: 0, error: 'aborted', detail: 'the request was cancelled' };
    return {
      ok: false,
      status: 0,
      error: 'network_error',
      detail: `the Cartrita server could not be reached (${error instanceof Error ? error.message : String(error)})`,
    };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { ok: false, status: response.status, error: `http_${response.status}`, detail: `HTTP ${response.status} without a JSON body` };
  }
  // No (valid) session any more: sign in again rather than show empty pages.
  if (response.status === 401) redirectToLogin();
  if (!response.ok) return { ok: false, status: response.status, ...toApiError(body, response.status) };
  return { ok: true, status: response.status, data: body as T };
}

/** "error: detail" for display, without repeating a detail that is just the code. */
export function describeApiError(failure: ApiErrorBody): string {
  return failure.detail && failure.detail !== failure.error ? failure.detail : failure.error.replaceAll('_', ' ');
}
