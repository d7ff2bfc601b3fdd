import { forwardJsonPost } from '@/lib/orchestrator';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** POST /api/memory: `{content, metadata?}` or `{items: [...]}` → 201 `{ids, count}`. */
export async function POST(request: Request): Promise<Response> {
  return forwardJsonPost(request, '/api/memory');
}
