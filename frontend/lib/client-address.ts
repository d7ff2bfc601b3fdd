import { randomBytes } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';

// The one place that decides who a request came from. Route handlers and Proxy only
// see headers, and Next.js keeps a client's own X-Forwarded-For (it sets the header
// only when absent), so the TCP peer is stamped onto each request as it arrives,
// with a per-process secret the client cannot guess.

/** Set on every incoming request by installPeerStamp(); any value sent by a client is overwritten. */
export const PEER_HEADER = 'x-cartrita-peer';

// On globalThis: instrumentation, Proxy and the routes are separate bundles in a build.
const SECRET_KEY = Symbol.for('cartrita.peer-stamp-secret');
type StampGlobal = typeof globalThis & { [SECRET_KEY]?: string };

function stampSecret(): string | undefined {
  return (globalThis as StampGlobal)[SECRET_KEY];
}

/**
 * Stamp `<secret> <http|https> <peer address>` onto every request this process's HTTP
 * servers receive, before any handler sees it. Idempotent. Requests that arrived before
 * this ran carry no valid stamp and count as coming from an unknown peer.
 */
export function installPeerStamp(): void {
  const global = globalThis as StampGlobal;
  if (global[SECRET_KEY] !== undefined) return;
  const secret = randomBytes(18).toString('base64url');
  global[SECRET_KEY] = secret;
  subscribe('http.server.request.start', (message) => {
    const { request, socket } = message as { request: IncomingMessage; socket: Socket & { encrypted?: boolean } };
    request.headers[PEER_HEADER] = `${secret} ${socket.encrypted ? 'https' : 'http'} ${socket.remoteAddress ?? ''}`;
  });
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so one list entry matches both forms. */
function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

export interface TrustedProxies {
  has(address: string): boolean;
  /** Entries that were not an IP or CIDR (ignored). */
  invalid: string[];
}

const parsedLists = new Map<string, TrustedProxies>();

/** TRUSTED_PROXIES: comma-separated IPs and CIDRs (IPv4 or IPv6). Empty: trust no one. */
export function parseTrustedProxies(value: string | null): TrustedProxies {
  const key = value ?? '';
  const known = parsedLists.get(key);
  if (known !== undefined) return known;
  const list = new BlockList();
  const invalid: string[] = [];
  for (const raw of key.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [address = '', bits, extra] = entry.split('/');
    const ip = normalize(address);
    const family = isIP(ip);
    const prefix = bits === undefined ? null : Number(bits);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (prefix !== null && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= max))) {
      invalid.push(entry);
      continue;
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === null) list.addAddress(ip, type);
    else list.addSubnet(ip, prefix, type);
  }
  if (invalid.length > 0) console.warn(`[client-address] TRUSTED_PROXIES: ignoring ${invalid.join(', ')} (not an IP or CIDR)`);
  const trusted: TrustedProxies = {
    has(address) {
      const ip = normalize(address);
      const family = isIP(ip);
      return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
    },
    invalid,
  };
  parsedLists.set(key, trusted);
  return trusted;
}

export interface ClientOrigin {
  /** The client's address, or null when this request carries no valid peer stamp. */
  address: string | null;
  /** True when the request reached us over TLS, directly or through a trusted proxy. */
  https: boolean;
}

/**
 * Who sent this request: the TCP peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For address that is not one (X-Forwarded-Proto likewise
 * counts only from a trusted proxy, and only its right-most value: the one that proxy set
 * or appended).
 */
export function clientOrigin(headers: Pick<Headers, 'get'>, trustedProxies: string | null): ClientOrigin {
  const secret = stampSecret();
  const [given, proto, peerRaw] = (headers.get(PEER_HEADER) ?? '').split(' ');
  if (secret === undefined || given !== secret || peerRaw === undefined || isIP(normalize(peerRaw)) === 0) {
    return { address: null, https: false };
  }
  const peer = normalize(peerRaw);
  const trusted = parseTrustedProxies(trustedProxies);
  if (!trusted.has(peer)) return { address: peer, https: proto === 'https' };

  // Right-most: the value the trusted proxy appended (left of it is whatever the client sent).
  const forwardedProto = headers.get('x-forwarded-proto')?.split(',').at(-1)?.trim().toLowerCase();
  const https = proto === 'https' || forwardedProto === 'https';
  const hops = (headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((hop) => normalize(hop.trim()))
    .filter((hop) => hop !== '');
  let address = peer;
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hops[index] ?? '';
    // Garbage from a proxy we trust: stop at the last address we could vouch for.
    if (isIP(hop) === 0) break;
    address = hop;
    if (!trusted.has(hop)) break;
  }
  return { address, https };
}
