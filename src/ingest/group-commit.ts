/**
 * Group commit: events submitted while a tenant's batches are being written wait and go together
 * into its next batch, so N concurrent webhooks cost one transaction of a few statements instead
 * of N transactions. An event alone is a batch of one: no timer, no added latency.
 *
 * Two batches per tenant and process are written at once (`maxInFlight`), so one's round trips
 * overlap the other's work; more measured worse (smaller batches, more lock waits in Postgres).
 * A batch holds events about pairwise different entities (batch.ts conflictKeysOf) that share
 * none with a batch in flight; an event sharing an entity with one taken, in flight, or left for
 * later waits for a later batch, so events about one entity are applied in the order submitted.
 *
 * Why by hand: the batching libraries (dataloader, p-batch) batch by tick or timer and know
 * nothing of which items may share a transaction.
 */
import { conflictKeysOf, KeyClash, type BatchEvent } from './batch.js';
import type { IngestResult } from './result.js';

interface Pending {
  item: BatchEvent;
  keys: { own: string[]; all: string[] };
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

/** A tenant's events waiting for a batch, and the batches being written. */
interface TenantQueue {
  waiting: Pending[];
  inFlight: Set<Pending[]>;
  scheduled: boolean;
}

/** Per event its result, or the error it could not be stored with; throws (failing them all) only when no answer is known. */
export type CommitBatch = (tenantId: string, batch: BatchEvent[]) => Promise<(IngestResult | Error)[]>;

export class GroupCommit {
  private readonly queues = new Map<string, TenantQueue>();

  constructor(
    private readonly commit: CommitBatch,
    private readonly maxBatch = 64,
    private readonly maxInFlight = 2,
  ) {}

  /** Resolves, per item and in order, once its batch committed (or rejects with the batch's error). */
  submit(tenantId: string, items: readonly BatchEvent[]): Promise<IngestResult[]> {
    let queue = this.queues.get(tenantId);
    if (!queue) this.queues.set(tenantId, (queue = { waiting: [], inFlight: new Set(), scheduled: false }));
    const results = items.map((item) => new Promise<IngestResult>((resolve, reject) => queue.waiting.push({ item, keys: conflictKeysOf(item), resolve, reject })));
    if (!queue.scheduled) {
      queue.scheduled = true;
      // Let the submitter's siblings (the same tick's requests) join the batch.
      queueMicrotask(() => {
        queue.scheduled = false;
        this.startBatches(tenantId, queue);
      });
    }
    return Promise.all(results);
  }

  private startBatches(tenantId: string, queue: TenantQueue) {
    while (queue.inFlight.size < this.maxInFlight && queue.waiting.length) {
      const busy = new KeyClash();
      for (const batch of queue.inFlight) for (const p of batch) busy.add(p.keys);
      const batch = takeBatch(queue.waiting, this.maxBatch, busy);
      if (!batch.length) break;
      queue.inFlight.add(batch);
      void this.write(tenantId, queue, batch);
    }
    if (!queue.inFlight.size && !queue.waiting.length && !queue.scheduled && this.queues.get(tenantId) === queue) this.queues.delete(tenantId);
  }

  private async write(tenantId: string, queue: TenantQueue, batch: Pending[]) {
    try {
      const results = await this.commit(tenantId, batch.map((p) => p.item));
      batch.forEach((p, i) => {
        const result = results[i]!;
        if (result instanceof Error) p.reject(result);
        else p.resolve(result);
      });
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      queue.inFlight.delete(batch);
      this.startBatches(tenantId, queue);
    }
  }
}

/**
 * Removes from the queue, in order, up to `max` events of pairwise different entities that
 * share none with the batches in flight (`busy`; see the module comment).
 */
function takeBatch(queue: Pending[], max: number, seen: KeyClash): Pending[] {
  const taken: Pending[] = [];
  const left: Pending[] = [];
  for (const p of queue) {
    (taken.length >= max || seen.clashes(p.keys) ? left : taken).push(p);
    seen.add(p.keys);
  }
  queue.splice(0, queue.length, ...left);
  return taken;
}
