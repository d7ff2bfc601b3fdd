import { StatusBoard } from '@/components/status-board';
import { getServerConfig } from '@/lib/config';
import { requireSession } from '@/lib/current-user';
import { buildHealthReport } from '@/lib/health';

// Rendered per request: runtime env (ORCHESTRATOR_URL, ...) and live health.
export const dynamic = 'force-dynamic';

export default async function HomePage() {
  await requireSession('/');
  const config = getServerConfig();
  const report = await buildHealthReport(config);

  return (
    <main className="container">
      <h1>Cartrita</h1>
      <p className="lead">Your AI assistant. Below is the live health of every service behind it.</p>
      <StatusBoard initialReport={report} pollIntervalMs={config.healthPollIntervalMs} />
    </main>
  );
}
