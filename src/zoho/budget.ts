/**
 * The Zoho API credit budget: ZOHO_DAILY_CREDITS over a rolling 24 h, 1 credit per request
 * sent. Shared by every gateway instance through a Redis sorted set (one member per credit,
 * scored by the time it was spent; a Lua script prunes, counts and takes atomically), or kept
 * in memory when there is no Redis. Refuses work beyond the budget (ZohoBudgetExceededError)
 * instead of letting Zoho lock the organisation out for the rest of the day.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { ZohoBudgetExceededError } from './errors.js';

export const DAY_MS = 24 * 3_600_000;

export interface CreditBudget {
  readonly limit: number;
  readonly windowMs: number;
  /** 'redis' when shared across instances; 'memory' when per process (also while Redis is down). */
  readonly scope: () => 'redis' | 'memory';
  /** Takes `n` credits (default 1), or throws ZohoBudgetExceededError and takes none. */
  take(n?: number): Promise<void>;
  /** Credits left in the current window. */
  remaining(): Promise<number>;
}

export interface BudgetOptions {
  limit: number;
  /** Rolling window (default 24 h). */
  windowMs?: number;
  now?: () => number;
}

/** A per-process budget (single instance, or the fallback while Redis is away). */
export function createMemoryBudget(options: BudgetOptions): CreditBudget {
  const windowMs = options.windowMs ?? DAY_MS;
  const now = options.now ?? Date.now;
  const spent: number[] = []; // times, ascending
  const prune = (at: number) => {
    let expired = 0;
    while (expired < spent.length && spent[expired]! <= at - windowMs) expired++;
    if (expired) spent.splice(0, expired);
  };
  return {
    limit: options.limit,
    windowMs,
    scope: () => 'memory',
    async take(n = 1) {
      const at = now();
      prune(at);
      if (spent.length + n > options.limit) throw new ZohoBudgetExceededError(options.limit, windowMs);
      for (let i = 0; i < n; i++) spent.push(at);
    },
    async remaining() {
      prune(now());
      return Math.max(0, options.limit - spent.length);
    },
  };
}

// KEYS[1] the sorted set; ARGV: now, window, limit, n, member prefix. Returns credits left, or -1 (refused).
const TAKE_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used + n > limit then return -1 end
for i = 1, n do redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], window)
return limit - used - n
`;

export interface RedisBudgetOptions extends BudgetOptions {
  redis: Redis;
  /** The sorted set's key; every instance spending the same Zoho organisation's credits must use the same one. */
  key: string;
  log?: Logger;
}

/**
 * A budget shared through Redis. While Redis cannot be reached it falls back to a
 * per-process budget of the same size (logged once), so a Redis outage degrades the guard
 * rather than stopping every Zoho call.
 */
export function createRedisBudget(options: RedisBudgetOptions): CreditBudget {
  const windowMs = options.windowMs ?? DAY_MS;
  const now = options.now ?? Date.now;
  const fallback = createMemoryBudget({ ...options, windowMs, now });
  const instance = randomBytes(6).toString('hex');
  let sequence = 0;
  let degraded = false;
  const onRedisError = (error: unknown) => {
    if (!degraded) options.log?.warn({ err: (error as Error).message }, 'Zoho credit budget: Redis unavailable, counting in this process until it returns');
    degraded = true;
  };
  const onRedisOk = () => {
    if (degraded) options.log?.info('Zoho credit budget: shared through Redis again');
    degraded = false;
  };
  return {
    limit: options.limit,
    windowMs,
    scope: () => (degraded ? 'memory' : 'redis'),
    async take(n = 1) {
      let left: number;
      try {
        left = Number(await options.redis.eval(TAKE_SCRIPT, 1, options.key, now(), windowMs, options.limit, n, `${instance}:${++sequence}`));
      } catch (error) {
        onRedisError(error);
        return fallback.take(n);
      }
      onRedisOk();
      if (left < 0) throw new ZohoBudgetExceededError(options.limit, windowMs);
    },
    async remaining() {
      try {
        const used = await options.redis.zcount(options.key, `(${now() - windowMs}`, '+inf');
        onRedisOk();
        return Math.max(0, options.limit - used);
      } catch (error) {
        onRedisError(error);
        return fallback.remaining();
      }
    },
  };
}
