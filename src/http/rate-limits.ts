import type { Plugin } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import proxyaddr from 'proxy-addr';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { ViewerResolver } from '../auth/viewer.js';
import type { TrustProxy } from '../config.js';

export interface RateLimitOptions {
  /** Requests per minute; 0 turns a limit off. */
  perViewer: number;
  perIp: number;
  webhooksPerTenant: number;
  /** Shared across instances when given; in-process otherwise (and as Redis' stand-in while it is away). */
  redis?: Redis | undefined;
  namespace: string;
  viewers: ViewerResolver;
  /** Which proxies report the client address in X-Forwarded-For (config.ts TrustProxy). */
  trustProxy: TrustProxy;
}

function limiter(points: number, name: string, options: RateLimitOptions): RateLimiterAbstract | null {
  if (points <= 0) return null;
  const memory = new RateLimiterMemory({ points, duration: 60, keyPrefix: name });
  return options.redis
    ? new RateLimiterRedis({ storeClient: options.redis, points, duration: 60, keyPrefix: `${options.namespace}:rl:${name}`, insuranceLimiter: memory })
    : memory;
}

/** Seconds to wait before the key may try again, or null: it may go on. */
export type Limit = (key: string) => Promise<number | null>;

/**
 * A client address' budget of webhook requests that fail authentication (401: no or a wrong
 * signature, an X-Timestamp outside the window): a sender whose webhooks authenticate does not
 * spend it (its tenant's budget limits it); once an address has spent it, whatever it sends is
 * refused before its body is read.
 */
export interface AddressLimit {
  /**
   * Seconds the address must wait, or null; spends nothing and asks no one: the addresses found
   * spent are remembered in this process (another instance learns of one at the address' next
   * failure there), so a webhook costs no Redis round trip here.
   */
  refused: (ip: string) => number | null;
  /** Spends one point for a request from the address that failed authentication. */
  failed: (ip: string) => Promise<void>;
}

/**
 * 429 with Retry-After beyond the limits (rate-limiter-flexible): per viewer (the token's
 * tenant and subject) and per client IP on /graphql (the plugin); for /webhooks/* (webhooks.ts
 * consults the functions: webhooks are served ahead of Yoga), per client address for requests
 * failing authentication, and per tenant once a webhook is authenticated.
 */
export function rateLimits(options: RateLimitOptions): { plugin: Plugin; webhookAddressLimit: AddressLimit; webhookTenantLimit: Limit } {
  const byViewer = limiter(options.perViewer, 'viewer', options);
  const byIp = limiter(options.perIp, 'ip', options);
  const byWebhookAddress = limiter(options.perIp, 'webhook-address', options);
  const byTenant = limiter(options.webhooksPerTenant, 'webhook-tenant', options);
  const clientAddress = clientAddressOf(options.trustProxy);

  const plugin: Plugin = {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (!url.pathname.startsWith('/graphql')) return;
      const checks: [RateLimiterAbstract | null, string][] = [[byIp, clientAddress((serverContext as { req?: IncomingMessage }).req)]];
      const viewer = await options.viewers.viewerOf(request).catch(() => null);
      if (viewer) checks.push([byViewer, `${viewer.tenant}|${viewer.sub}`]);
      for (const [limit, key] of checks) {
        const retryAfter = await consume(limit, key);
        if (retryAfter) {
          endResponse(
            fetchAPI.Response.json(
              { errors: [{ message: `Too many requests; retry in ${retryAfter} s`, extensions: { code: 'RATE_LIMITED' } }] },
              { status: 429, headers: { 'retry-after': String(retryAfter) } },
            ),
          );
          return;
        }
      }
    },
  };
  return {
    plugin,
    webhookAddressLimit: addressLimit(byWebhookAddress),
    webhookTenantLimit: (tenantId) => consume(byTenant, tenantId),
  };
}

/** Seconds to wait when the key is over its limit, else null. */
async function consume(limit: RateLimiterAbstract | null, key: string): Promise<number | null> {
  if (!limit) return null;
  try {
    await limit.consume(key);
    return null;
  } catch (rejection) {
    if (!(rejection instanceof RateLimiterRes)) throw rejection;
    return Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
  }
}

function addressLimit(limit: RateLimiterAbstract | null): AddressLimit {
  /** The addresses found spent, each until its budget comes back (the entry's TTL). */
  const spent = new LRUCache<string, true>({ max: 10_000 });
  return {
    refused(ip) {
      const wait = spent.getRemainingTTL(ip);
      return wait > 0 ? Math.max(1, Math.ceil(wait / 1000)) : null;
    },
    async failed(ip) {
      if (!limit) return;
      try {
        const used = await limit.consume(ip);
        if (used.consumedPoints >= limit.points) spent.set(ip, true, { ttl: used.msBeforeNext });
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        spent.set(ip, true, { ttl: rejection.msBeforeNext });
      }
    },
  };
}

/**
 * The client's address of a request (proxy-addr): the socket's peer, or behind trusted proxies
 * (config.ts TrustProxy) the nearest X-Forwarded-For entry they did not add. No request (a
 * fetch without a socket): 'unknown'.
 */
export function clientAddressOf(trust: TrustProxy): (req: IncomingMessage | undefined) => string {
  const trusted = trust === false ? null : trust === true ? () => true : typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : proxyaddr.compile(trust);
  return (req) => {
    if (!req) return 'unknown';
    const peer = plainAddress(req.socket.remoteAddress) ?? 'unknown';
    // A forwarded entry that is no address (garbage) keys on the peer, not on whatever it says.
    return trusted ? (plainAddress(proxyaddr(req, trusted)) ?? peer) : peer;
  };
}

/**
 * One key per client however it is written: without a port (`203.0.113.5:51234`, `[2001:db8::1]:443`,
 * as some proxies append them) and IPv4-mapped IPv6 as IPv4; null for what is not an address.
 */
function plainAddress(written: string | undefined): string | null {
  if (!written) return null;
  let address = written.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  const mapped = /^::ffff:([\d.]+)$/i.exec(address);
  if (mapped) address = mapped[1]!;
  return isIP(address) ? address.toLowerCase() : null;
}
