'use client';

import { useEffect, useState } from 'react';

import { fetchHealth } from '@/lib/health-client';
import type { FrontendHealthReport } from '@/lib/health-types';
import { pageBanner } from '@/lib/page-banner';
import { frontendUnreachable, toStatusBoard, type StatusBoardModel } from '@/lib/status-board';

export interface OrchestratorBannerProps {
  /** Report rendered on the server, so the banner is right on first paint. */
  initialReport: FrontendHealthReport | null;
  pollIntervalMs: number;
  healthPath?: string;
}

/**
 * The banner of /chat and /memory: shown while the orchestrator is unreachable (or a
 * service behind it is unhealthy), gone as soon as it recovers. Polls /api/health.
 */
export function OrchestratorBanner({ initialReport, pollIntervalMs, healthPath = '/api/health' }: OrchestratorBannerProps) {
  const [model, setModel] = useState<StatusBoardModel | null>(() => (initialReport === null ? null : toStatusBoard(initialReport)));

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (!document.hidden) {
        const result = await fetchHealth(healthPath);
        if (cancelled) return;
        setModel(result.ok ? toStatusBoard(result.payload) : frontendUnreachable(result.error));
      }
      if (!cancelled) timer = setTimeout(tick, pollIntervalMs);
    };
    timer = setTimeout(tick, initialReport === null ? 0 : pollIntervalMs);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [healthPath, pollIntervalMs, initialReport]);

  const banner = model === null ? null : pageBanner(model);
  if (banner === null) return null;
  return (
    <div className={`banner banner-${banner.tone}`} role="alert" data-testid="orchestrator-banner" data-tone={banner.tone}>
      {banner.text}
    </div>
  );
}
