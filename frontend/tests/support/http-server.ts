// Tiny real HTTP servers on loopback free ports, standing in for the orchestrator.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  close: () => Promise<void>;
}

export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A server answering every request with this status and JSON body. */
export function startJsonServer(status: number, body: unknown): Promise<TestServer> {
  return startServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}

/** A loopback URL on which nothing listens (port taken from the OS, then released). */
export async function unusedUrl(): Promise<string> {
  const server = await startServer(() => undefined);
  const { url } = server;
  await server.close();
  return url;
}

export const orchestratorHealthy = {
  status: 'healthy',
  service: 'ai-orchestrator',
  version: '0.1.0',
  checks: {
    database: { status: 'ok', latency_ms: 1.2 },
    redis: { status: 'ok', latency_ms: 0.4 },
  },
};

export const orchestratorUnhealthy = {
  status: 'unhealthy',
  service: 'ai-orchestrator',
  checks: {
    database: { status: 'error', error: 'connection refused', latency_ms: 3 },
    redis: { status: 'ok', latency_ms: 0.5 },
  },
};
