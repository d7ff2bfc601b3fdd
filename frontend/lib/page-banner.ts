// What the banner at the top of /chat and /memory says, from the status-board model
// of GET /api/health. The status page (/) shows the same unreachable banner inside its board.

import type { StatusBoardModel } from '@/lib/status-board';

export interface PageBanner {
  tone: 'error' | 'warning';
  text: string;
}

export function pageBanner(model: StatusBoardModel): PageBanner | null {
  if (model.banner !== null) return { tone: 'error', text: model.banner };
  if (model.overall === 'healthy') return null;
  const down = model.services.filter((service) => service.state === 'unhealthy').map((service) => service.label.toLowerCase());
  return {
    tone: 'warning',
    text: `Some services are unhealthy (${down.join(', ')}). Cartrita may fail to answer until they recover.`,
  };
}
