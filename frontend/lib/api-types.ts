// JSON shapes of the orchestrator's API (the contract), as relayed to the browser by
// our same-origin routes. Keep this file free of server-only imports: client
// components import it.

/** Every error answer, from the orchestrator and from our own routes alike. */
export interface ApiErrorBody {
  error: string;
  detail: string;
}

export interface TokenResponse {
  token: string;
  /** Seconds until the token expires. */
  expires_in: number;
}

export interface ConversationSummary {
  id: string;
  title: string | null;
  agent: string | null;
  created_at: string;
  updated_at: string;
  message_count: number;
}

export interface ConversationMessage {
  id: string;
  role: 'user' | 'assistant' | 'system' | string;
  content: string;
  agent: string | null;
  provider: string | null;
  created_at: string;
}

export interface ConversationDetail extends Omit<ConversationSummary, 'message_count'> {
  messages: ConversationMessage[];
}

export interface MemoryCreated {
  ids: string[];
  count: number;
}

export interface MemorySearchResult {
  id: string;
  content: string;
  metadata: Record<string, unknown> | null;
  score: number;
  distance: number;
  created_at: string;
}

export interface Agent {
  name: string;
  description: string;
  enabled: boolean;
}

export interface ChatRequest {
  message: string;
  conversation_id?: string;
  agent?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{error, detail}` from an error body, whatever else came with it (or a generic pair). */
export function toApiError(body: unknown, status: number): ApiErrorBody {
  if (isRecord(body) && typeof body.error === 'string') {
    const detail = body.detail;
    return {
      error: body.error,
      detail: typeof detail === 'string' ? detail : detail === undefined ? body.error : JSON.stringify(detail),
    };
  }
  return { error: `http_${status}`, detail: `HTTP ${status}` };
}
