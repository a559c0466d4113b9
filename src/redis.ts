import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

/**
 * A Redis connection that fails fast while Redis is away (no offline queue, one attempt per
 * command) and reconnects by itself forever, so callers can degrade instead of hanging.
 * Logs the loss once and the recovery once.
 */
export function createRedis(url: string, log: Logger, name: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: `campus-graph:${name}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
    ...options,
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    log.warn({ redis: name, err: error.message }, 'Redis unavailable; degrading until it returns');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ redis: name }, 'Redis is back');
  });
  return redis;
}

/** Resolves when the connection is ready, or rejects after `ms`. */
export function redisReady(redis: Redis, ms = 3000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis not ready after ${ms} ms`));
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
