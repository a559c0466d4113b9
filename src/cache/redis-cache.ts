import type { Cache, CacheEntityRecord } from '@envelop/response-cache';
import type { ExecutionResult } from 'graphql';
import type { Redis } from 'ioredis';

type HttpHeaders = Record<string, string>;
type StoredResult = ExecutionResult & { extensions?: { http?: { headers?: HttpHeaders } } };

/**
 * A stored result is `<headers JSON>\n<body>`: the HTTP headers yoga sends with it (ETag,
 * Last-Modified) and the response body exactly as yoga would serialise it. JSON never contains a
 * raw newline, so the first one separates the two.
 */
export function serializeResult(result: StoredResult): string {
  const { http, ...extensions } = result.extensions ?? {};
  const body = { ...result, extensions: Object.keys(extensions).length ? extensions : undefined };
  return `${JSON.stringify(http?.headers ?? {})}\n${JSON.stringify(body)}`;
}

/**
 * A hit is served without parsing the body: yoga's result processor calls `stringify` for the
 * response text and takes status and headers from `extensions.http`. Measured on a 50 KiB
 * dashboard: JSON.parse + re-stringify + buffer-to-string were ≈ 33 % of a hit's CPU.
 */
export function preSerializedResult(stored: Buffer): ExecutionResult {
  const newline = stored.indexOf(0x0a);
  const headers = JSON.parse(stored.toString('utf8', 0, newline)) as HttpHeaders;
  const body = stored.subarray(newline + 1);
  // yoga types `stringify` as returning a string; a Buffer is a valid Response body and saves a copy.
  return { extensions: { http: { headers } }, stringify: () => body as unknown as string } as ExecutionResult;
}

/**
 * The response cache's store on Redis, in place of @envelop/response-cache-redis, whose
 * entity index sets never expire (they grow for as long as Redis runs), whose typename
 * invalidation runs KEYS, and which parses every hit. Here a result lives `ttl` ms, stored
 * pre-serialized (above); each entity it contains (`Student:<id>`) indexes it in a set that
 * expires with the longest-lived result in it; invalidating an entity deletes exactly the
 * results in its set. Keys are prefixed by the client's keyPrefix.
 */
export function createRedisResponseCache(redis: Redis): Cache & { flush(): Promise<void> } {
  const resultKey = (id: string) => `result:${id}`;
  const entityKey = (typename: string, id?: string | number) => (id === undefined ? `type:${typename}` : `entity:${typename}:${id}`);

  return {
    async set(id, result, entities, ttl) {
      const ms = Number.isFinite(ttl) ? Math.max(1, Math.floor(ttl)) : 24 * 3600 * 1000;
      const pipeline = redis.multi();
      pipeline.set(resultKey(id), serializeResult(result), 'PX', ms);
      const seen = new Set<string>();
      for (const { typename, id: entityId } of entities) {
        for (const key of [entityKey(typename, entityId), entityKey(typename)]) {
          if (seen.has(key)) continue;
          seen.add(key);
          pipeline.sadd(key, id);
          // NX sets a first expiry, GT only ever extends it: the index outlives every result in it.
          pipeline.pexpire(key, ms, 'NX');
          pipeline.pexpire(key, ms, 'GT');
        }
      }
      await pipeline.exec();
    },
    async get(id) {
      const stored = await redis.getBuffer(resultKey(id));
      return stored ? preSerializedResult(stored) : undefined;
    },
    async invalidate(entities: Iterable<CacheEntityRecord>) {
      const indexKeys = [...new Set([...entities].map(({ typename, id }) => entityKey(typename, id ?? undefined)))];
      if (!indexKeys.length) return;
      const members = await redis.multi(indexKeys.map((key) => ['smembers', key])).exec();
      const resultIds = new Set<string>();
      for (const [error, ids] of members ?? []) {
        if (error) throw error;
        for (const id of ids as string[]) resultIds.add(resultKey(id));
      }
      await redis.del(...indexKeys, ...resultIds);
    },
    /** Drops every key of this cache (SCAN under the key prefix, never KEYS). */
    async flush() {
      const prefix = redis.options.keyPrefix ?? '';
      const stream = redis.scanStream({ match: `${prefix}*`, count: 500 });
      for await (const keys of stream as AsyncIterable<string[]>) {
        if (keys.length) await redis.unlink(...keys.map((k) => k.slice(prefix.length)));
      }
    },
  };
}
