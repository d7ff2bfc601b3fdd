// Serves our Next.js route handlers (the exported GET/POST functions) on a real
// loopback HTTP server, so browser-side clients can be tested against them over
// the network: node request -> web Request -> handler -> web Response -> node response.
// Requests get their TCP peer stamped as in the real server (instrumentation.ts).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { installPeerStamp } from '@/lib/client-address';

type Context = { params: Promise<Record<string, string>> };

export interface Route {
  /** Path pattern; `[name]` segments are captured as params. */
  path: string;
  // Method syntax: a handler typed for its own params (`{id: string}`) fits too.
  GET?(request: Request, context: Context): Promise<Response>;
  POST?(request: Request, context: Context): Promise<Response>;
}

export interface RouteServer {
  url: string;
  close: () => Promise<void>;
}

function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (const [index, segment] of want.entries()) {
    const actual = got[index] ?? '';
    if (segment.startsWith('[') && segment.endsWith(']')) params[segment.slice(1, -1)] = decodeURIComponent(actual);
    else if (segment !== actual) return null;
  }
  return params;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startRouteServer(routes: Route[]): Promise<RouteServer> {
  installPeerStamp();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      const found = routes.flatMap((route) => {
        const params = match(route.path, url.pathname);
        return params === null ? [] : [{ route, params }];
      })[0];
      const handler = found?.route[req.method as 'GET' | 'POST']?.bind(found.route);
      if (found === undefined || handler === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not_found', detail: `${req.method} ${url.pathname}` }));
        return;
      }
      const aborter = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) aborter.abort();
      });
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers.set(name, value);
        else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
      }
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(await readBody(req));
      const request = new Request(url, { method: req.method, headers, body, signal: aborter.signal });
      const response = await handler(request, { params: Promise.resolve(found.params) });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body !== null) {
        const reader = response.body.getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            res.write(value);
          }
        } catch {
          /* client went away */
        }
      }
      res.end();
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
