import { forwardJsonPost } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** POST /api/memory/search: `{query, k?}` → `{results: [{id, content, metadata, score, distance, created_at}]}`. */
export async function POST(request: Request): Promise<Response> {
  return forwardJsonPost(request, '/api/memory/search');
}
