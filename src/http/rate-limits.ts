import type { Plugin } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { ViewerResolver } from '../auth/viewer.js';

export interface RateLimitOptions {
  /** Requests per minute; 0 turns a limit off. */
  perViewer: number;
  perIp: number;
  webhooksPerTenant: number;
  /** Shared across instances when given; in-process otherwise (and as Redis' stand-in while it is away). */
  redis?: Redis | undefined;
  namespace: string;
  viewers: ViewerResolver;
  /** Take the client address from X-Forwarded-For (behind a trusted proxy). */
  trustProxy: boolean;
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
 * A client address' budget of webhook requests that fail authentication: a genuine sender
 * never spends it (its tenant's budget limits it), a source of unsigned or badly signed
 * requests is refused before its body is read once it is spent.
 */
export interface AddressLimit {
  /** Seconds the address must wait, or null; spends nothing. */
  refused: Limit;
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

  const plugin: Plugin = {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (!url.pathname.startsWith('/graphql')) return;
      const socket = (serverContext as { req?: { socket?: { remoteAddress?: string } } }).req?.socket;
      const checks: [RateLimiterAbstract | null, string][] = [[byIp, clientAddress(request.headers.get('x-forwarded-for'), socket?.remoteAddress, options.trustProxy)]];
      const viewer = await options.viewers.viewerOf(request).catch(() => null);
      if (viewer) checks.push([byViewer, `${viewer.tenant}|${viewer.sub}`]);
      for (const [limit, key] of checks) {
        const retryAfter = await consume(limit, key);
        if (retryAfter) {
          const { body, headers } = rateLimited(retryAfter);
          endResponse(fetchAPI.Response.json(body, { status: 429, headers }));
          return;
        }
      }
    },
  };
  return {
    plugin,
    webhookAddressLimit: {
      refused: (ip) => spent(byWebhookAddress, ip),
      failed: async (ip) => void (await consume(byWebhookAddress, ip)),
    },
    webhookTenantLimit: (tenantId) => consume(byTenant, tenantId),
  };
}

/** The 429's body and headers (GraphQL-shaped). */
function rateLimited(retryAfter: number): { body: unknown; headers: Record<string, string> } {
  return {
    body: { errors: [{ message: `Too many requests; retry in ${retryAfter} s`, extensions: { code: 'RATE_LIMITED' } }] },
    headers: { 'retry-after': String(retryAfter) },
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

/** Seconds to wait when the key has spent its budget, else null; spends nothing. */
async function spent(limit: RateLimiterAbstract | null, key: string): Promise<number | null> {
  const used = await limit?.get(key);
  if (!limit || !used || used.consumedPoints < limit.points) return null;
  return Math.max(1, Math.ceil(used.msBeforeNext / 1000));
}

/** The client's address: the first of X-Forwarded-For behind a trusted proxy, else the socket's peer. */
export function clientAddress(forwardedFor: string | null | undefined, remoteAddress: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = forwardedFor?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return remoteAddress ?? 'unknown';
}
