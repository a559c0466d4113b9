import type { Cache, CacheEntityRecord } from '@envelop/response-cache';
import type { Logger } from '../logger.js';

export interface CacheCounters {
  hits: number;
  misses: number;
  /** Cache operations that failed (Redis away): the request was served from Postgres. */
  errors: number;
  /** Invalidations waiting for Redis to come back. */
  pendingInvalidations: number;
}

const MAX_PENDING = 10_000;

/**
 * Redis failure is not an outage: a failed read is a miss, a failed write is skipped, and a
 * failed invalidation is kept (bounded) and replayed when Redis is back — if the backlog
 * overflows, the whole cache is flushed on recovery instead, since stale is worse than cold.
 * Logs the degradation once per episode; counts everything.
 */
export function resilientCache(inner: Cache & { flush?: () => Promise<void> }, log: Logger) {
  const counters: CacheCounters = { hits: 0, misses: 0, errors: 0, pendingInvalidations: 0 };
  const pending = new Map<string, CacheEntityRecord>();
  let overflowed = false;
  let degraded = false;

  function failed(operation: string, error: unknown) {
    counters.errors++;
    if (degraded) return;
    degraded = true;
    log.warn({ operation, err: (error as Error).message }, 'response cache degraded: serving from Postgres');
  }

  const cache: Cache = {
    async get(id) {
      try {
        const result = await inner.get(id);
        if (result) counters.hits++;
        else counters.misses++;
        degraded = false;
        return result;
      } catch (error) {
        counters.misses++;
        failed('get', error);
        return undefined;
      }
    },
    async set(id, result, entities, ttl) {
      if (pending.size || overflowed) return; // never cache on top of invalidations not yet applied
      try {
        await inner.set(id, result, entities, ttl);
      } catch (error) {
        failed('set', error);
      }
    },
    async invalidate(entities) {
      const list = [...entities];
      try {
        await inner.invalidate(list);
      } catch (error) {
        failed('invalidate', error);
        for (const entity of list) {
          if (pending.size >= MAX_PENDING) overflowed = true;
          else pending.set(`${entity.typename}:${entity.id ?? ''}`, entity);
        }
        counters.pendingInvalidations = pending.size;
      }
    },
  };

  /** Applies invalidations missed while Redis was away; call when it is ready again. */
  async function recover(): Promise<void> {
    try {
      if (overflowed && inner.flush) await inner.flush();
      else if (pending.size) await inner.invalidate([...pending.values()]);
      pending.clear();
      overflowed = false;
      counters.pendingInvalidations = 0;
      degraded = false;
    } catch (error) {
      failed('recover', error);
    }
  }

  return { cache, counters, recover };
}
