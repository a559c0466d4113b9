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

/**
 * 429 with Retry-After beyond the limits (rate-limiter-flexible): per viewer (the token's
 * tenant and subject) and per client IP on /graphql and /webhooks/*, per tenant on
 * /webhooks/* once the request is authenticated.
 */
export function rateLimits(options: RateLimitOptions): { plugin: Plugin; webhookTenantLimit: (tenantId: string) => Promise<number | null> } {
  const byViewer = limiter(options.perViewer, 'viewer', options);
  const byIp = limiter(options.perIp, 'ip', options);
  const byTenant = limiter(options.webhooksPerTenant, 'webhook-tenant', options);

  const plugin: Plugin = {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      const checks: [RateLimiterAbstract | null, string][] = [];
      const ip = clientIp(request, serverContext as { req?: { socket?: { remoteAddress?: string } } }, options.trustProxy);
      if (url.pathname.startsWith('/webhooks/')) {
        // Before authentication only the client address is known; the tenant's own limit
        // applies after the signature check (webhookTenantLimit).
        checks.push([byIp, ip]);
      } else if (url.pathname.startsWith('/graphql')) {
        checks.push([byIp, ip]);
        const viewer = await options.viewers.viewerOf(request).catch(() => null);
        if (viewer) checks.push([byViewer, `${viewer.tenant}|${viewer.sub}`]);
      }
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
  return { plugin, webhookTenantLimit: (tenantId) => consume(byTenant, tenantId) };
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

function clientIp(request: Request, serverContext: { req?: { socket?: { remoteAddress?: string } } }, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return serverContext.req?.socket?.remoteAddress ?? 'unknown';
}
