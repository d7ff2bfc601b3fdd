import type { Metadata } from 'next';

import { Memory } from '@/components/memory';
import { OrchestratorBanner } from '@/components/orchestrator-banner';
import { getServerConfig } from '@/lib/config';
import { requireSession } from '@/lib/current-user';
import { buildHealthReport } from '@/lib/health';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Memory' };

export default async function MemoryPage() {
  await requireSession('/memory');
  const config = getServerConfig();
  const report = await buildHealthReport(config);

  return (
    <main className="container">
      <OrchestratorBanner initialReport={report} pollIntervalMs={config.healthPollIntervalMs} />
      <h1>Memory</h1>
      <p className="lead">What Cartrita remembers. Search finds memories by meaning, not by exact words.</p>
      <Memory />
    </main>
  );
}
