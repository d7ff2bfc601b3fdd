// Headers as a request from a given TCP peer carries them once lib/client-address.ts has
// stamped it: the per-process secret is learnt the honest way, from a real request to a
// throwaway loopback server, and only the peer address is swapped.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { PEER_HEADER, installPeerStamp } from '@/lib/client-address';

import { call } from './http-client';

let secret: Promise<string> | null = null;

function learnSecret(): Promise<string> {
  installPeerStamp();
  secret ??= new Promise<string>((resolve) => {
    const server = createServer((req, res) => {
      resolve(String(req.headers[PEER_HEADER]).split(' ')[0] ?? '');
      res.end();
      server.close();
    });
    server.listen(0, '127.0.0.1', () => void call(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/'));
  });
  return secret;
}

export async function stampedHeaders(peer: string, headers: Record<string, string> = {}, proto: 'http' | 'https' = 'http'): Promise<Headers> {
  return new Headers({ ...headers, [PEER_HEADER]: `${await learnSecret()} ${proto} ${peer}` });
}
