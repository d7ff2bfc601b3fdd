'use client';

import { useEffect, useState } from 'react';

import { fetchHealth } from '@/lib/health-client';
import type { FrontendHealthReport } from '@/lib/health-types';
import {
  formatCheckedAt,
  frontendUnreachable,
  toStatusBoard,
  type ServiceStatus,
  type StatusBoardModel,
} from '@/lib/status-board';

export interface StatusBoardProps {
  /** Report rendered on the server, so the board is complete without JavaScript. */
  initialReport: FrontendHealthReport | null;
  pollIntervalMs: number;
  healthPath?: string;
}

function ServiceCard({ service }: { service: ServiceStatus }) {
  return (
    <li className="service" data-testid={`service-${service.id}`} data-state={service.state}>
      <div className="service-head">
        <span className="service-name">{service.label}</span>
        <span className={`badge badge-${service.state}`} data-testid={`status-${service.id}`}>
          {service.state}
        </span>
      </div>
      <p className="service-detail" data-testid={`detail-${service.id}`}>
        {service.detail}
      </p>
    </li>
  );
}

export function StatusBoardView({ model, pollIntervalMs }: { model: StatusBoardModel; pollIntervalMs: number }) {
  return (
    <section className="status-board" aria-labelledby="status-heading" data-testid="health-board" data-overall={model.overall}>
      {model.banner !== null && (
        <div className="banner" role="alert" data-testid="orchestrator-banner">
          {model.banner}
        </div>
      )}
      <div className="status-header">
        <h2 id="status-heading">System status</h2>
        <span className={`badge badge-${model.overall === 'healthy' ? 'healthy' : 'unhealthy'}`} data-testid="overall-status">
          {model.overall}
        </span>
      </div>
      <ul className="services" aria-live="polite">
        {model.services.map((service) => (
          <ServiceCard key={service.id} service={service} />
        ))}
      </ul>
      <p className="meta" data-testid="health-board-meta">
        Last checked {formatCheckedAt(model.checkedAt)} · refreshes every {Math.round(pollIntervalMs / 1000)} s
        {model.orchestratorUrl !== null && <> · orchestrator {model.orchestratorUrl}</>}
      </p>
    </section>
  );
}

/** The status board, kept fresh by polling /api/health from the browser. */
export function StatusBoard({ initialReport, pollIntervalMs, healthPath = '/api/health' }: StatusBoardProps) {
  const [model, setModel] = useState<StatusBoardModel>(() =>
    initialReport === null ? frontendUnreachable('no report yet') : toStatusBoard(initialReport),
  );

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const tick = async () => {
      // Skip work while the tab is hidden; refresh as soon as it is shown again.
      if (!document.hidden) {
        const result = await fetchHealth(healthPath);
        if (cancelled) return;
        setModel(result.ok ? toStatusBoard(result.payload) : frontendUnreachable(result.error));
      }
      if (!cancelled) timer = setTimeout(tick, pollIntervalMs);
    };
    const onVisible = () => {
      if (!document.hidden) {
        clearTimeout(timer);
        void tick();
      }
    };

    timer = setTimeout(tick, initialReport === null ? 0 : pollIntervalMs);
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [healthPath, pollIntervalMs, initialReport]);

  return <StatusBoardView model={model} pollIntervalMs={pollIntervalMs} />;
}
