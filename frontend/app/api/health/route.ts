import { getServerConfig } from '@/lib/config';
import { buildHealthReport } from '@/lib/health';

// Evaluated per request: never prerendered, never cached.
export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * GET /api/health: the frontend's own health plus a live probe of the orchestrator.
 * 200 when the orchestrator answered at all (even with its own 503), 503 when it
 * could not be reached.
 */
export async function GET(): Promise<Response> {
  const report = await buildHealthReport(getServerConfig());
  return Response.json(report, {
    status: report.orchestrator.reachable ? 200 : 503,
    headers: { 'cache-control': 'no-store, max-age=0' },
  });
}
