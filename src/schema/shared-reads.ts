import { LRUCache } from 'lru-cache';

/**
 * One read per published message, however many subscribers receive it: subscription
 * resolvers run once per subscriber, and N admins following syncEvents would otherwise read
 * the same SyncEvent row N times per event (competing with ingest for the pool). A read is
 * shared by every caller with the same key while it runs and for a few seconds after, so the
 * key must name everything the result depends on: the message, the selection and the
 * viewer's visibility scope. Failed reads are not kept.
 */
const reads = new LRUCache<string, Promise<unknown>>({ max: 10_000, ttl: 5_000 });

export function sharedRead<T>(key: unknown[], read: () => Promise<T>): Promise<T> {
  const id = JSON.stringify(key);
  const running = reads.get(id) as Promise<T> | undefined;
  if (running) return running;
  const promise = read();
  reads.set(id, promise);
  promise.catch(() => reads.delete(id));
  return promise;
}
