import type { Metadata } from 'next';

import { Chat, type TransportPreference } from '@/components/chat';
import { OrchestratorBanner } from '@/components/orchestrator-banner';
import { getServerConfig } from '@/lib/config';
import { requireSession } from '@/lib/current-user';
import { buildHealthReport } from '@/lib/health';

// Rendered per request: NEXT_PUBLIC_WS_URL is read at run time, never baked into the build.
export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Chat' };

function transportOf(value: string | string[] | undefined): TransportPreference {
  return value === 'sse' || value === 'websocket' ? value : 'auto';
}

export default async function ChatPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requireSession('/chat');
  const config = getServerConfig();
  const [report, params] = await Promise.all([buildHealthReport(config), searchParams]);

  return (
    <main className="container">
      <OrchestratorBanner initialReport={report} pollIntervalMs={config.healthPollIntervalMs} />
      <h1>Chat</h1>
      <p className="lead">Replies stream token by token; every conversation is kept.</p>
      {/* Only the public subset goes to the browser: the WebSocket URL, never the API key. */}
      <Chat wsUrl={config.public.wsUrl} transport={transportOf(params.transport)} />
    </main>
  );
}
