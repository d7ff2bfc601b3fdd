// Browser side of the WebSocket token: POST /api/token (our server asks the orchestrator
// for a 60-second `ws` token with the session cookie, which page scripts cannot read),
// reused while fresh and fetched again when due (no background renewal: the chat asks
// for one per turn). The clock and fetch are parameters so the timing can be tested exactly.

import { toApiError, type ApiErrorBody } from '@/lib/api-types';

/** Renew at 80 % of the lifetime, and at least 30 s before expiry... */
export const REFRESH_FRACTION = 0.8;
export const REFRESH_MARGIN_MS = 30_000;
/** ...but never sooner than this after minting (guards against tiny or bogus lifetimes). */
export const MIN_REFRESH_DELAY_MS = 5_000;
/** How long after minting a token with this lifetime to renew it. */
export function refreshDelayMs(expiresInSeconds: number): number {
  const lifetimeMs = Math.max(0, expiresInSeconds) * 1000;
  return Math.max(MIN_REFRESH_DELAY_MS, Math.min(lifetimeMs * REFRESH_FRACTION, lifetimeMs - REFRESH_MARGIN_MS));
}

export class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.detail);
    this.name = 'TokenError';
  }
}

export interface TokenManagerOptions {
  url?: string;
  fetchImpl?: typeof fetch;
  now?: () => number;
  timeoutMs?: number;
}

interface Held {
  token: string;
  /** When to renew (the token stays valid a while longer). */
  refreshAt: number;
  expiresAt: number;
}

export class TokenManager {
  private readonly url: string;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private held: Held | null = null;
  private inflight: Promise<string> | null = null;

  constructor(options: TokenManagerOptions = {}) {
    this.url = options.url ?? '/api/token';
    this.fetchImpl = options.fetchImpl ?? ((input, init) => fetch(input, init));
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** A token that is not due for renewal; fetches one first when needed (one request for concurrent callers). */
  async getToken(): Promise<string> {
    if (this.held !== null && this.now() < this.held.refreshAt) return this.held.token;
    return this.refresh();
  }

  /** The held token and when it is renewed / expires (for display and tests). */
  peek(): Readonly<Held> | null {
    return this.held;
  }

  /** Fetch a new token now. */
  refresh(): Promise<string> {
    if (this.inflight !== null) return this.inflight;
    const promise = this.fetchToken().finally(() => {
      if (this.inflight === promise) this.inflight = null;
    });
    this.inflight = promise;
    return promise;
  }

  /** The orchestrator refused the token (e.g. it restarted with a new secret): drop it. */
  invalidate(): void {
    this.held = null;
  }

  private async fetchToken(): Promise<string> {
    const requestedAt = this.now();
    let response: Response;
    try {
      response = await this.fetchImpl(this.url, {
        method: 'POST',
        cache: 'no-store',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new TokenError(0, { error: 'network_error', detail: error instanceof Error ? error.message : String(error) });
    }
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      /* handled below */
    }
    if (!response.ok) throw new TokenError(response.status, toApiError(body, response.status));
    const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    if (typeof record.token !== 'string' || typeof record.expires_in !== 'number') {
      throw new TokenError(response.status, { error: 'bad_token_response', detail: 'POST /api/token answered without {token, expires_in}' });
    }
    // Timed from the request, not the answer: errs on the side of renewing early.
    const delay = refreshDelayMs(record.expires_in);
    this.held = { token: record.token, refreshAt: requestedAt + delay, expiresAt: requestedAt + record.expires_in * 1000 };
    return record.token;
  }
}
