/**
 * Resolves Notifications-API callbacks: each id was stored as a PARKED event awaiting
 * 'zoho-fetch' (envelopes.ts). A run claims a bounded batch of due ones, fetches their records
 * from Zoho (batched, 100 ids per request, per tenant and module) and applies each through the
 * pipeline under its original idempotency key (Ingestor.resolveFetched). A failed fetch leaves
 * the event PARKED with `attempts` incremented and the reason in its sync-log message; it is
 * due again after an exponential backoff. Nothing is ever dropped.
 *
 * Claiming is one UPDATE … FOR UPDATE SKIP LOCKED that bumps `attempts` and `updatedAt`, so
 * instances sharing the database do not fetch the same ids, and a crash mid-run only delays
 * the claimed ids by one backoff step.
 */
import { db } from '../db/client.js';
import { AWAITING_ZOHO_FETCH, type IngestResult, type Ingestor } from '../ingest/pipeline.js';
import type { RawEvent } from '../ingest/raw-event.js';
import type { Logger } from '../logger.js';
import type { ZohoClient, ZohoRecord, ZohoUnavailableReason } from './client.js';

export interface NotificationResolverOptions {
  client: ZohoClient;
  ingestor: Ingestor;
  log?: Logger;
  /** Only these tenants' notifications (default: every tenant's). */
  tenantIds?: string[];
  /** Pause between background runs (default 5 s). */
  intervalMs?: number;
  /** Parked ids claimed per run (default 200). */
  batchSize?: number;
  /** Backoff after the n-th failed fetch: base × 2^(n−1), at most max (defaults 10 s and 15 min). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface ResolveSummary {
  /** Parked ids claimed by this run. */
  claimed: number;
  /** Applied through the pipeline (whatever the status: CREATED, UPDATED, PARKED for a parent…). */
  resolved: number;
  /** Left PARKED for a later run: the fetch failed, or Zoho has no such record (yet). */
  failed: number;
  /** Why the run did nothing: Zoho cannot be called now (no id was claimed). */
  skipped: ZohoUnavailableReason | null;
  outcomes: IngestResult[];
}

interface Claimed {
  id: string;
  tenantId: string;
  syncEventId: string;
  payload: RawEvent;
  attempts: number;
  createdAt: Date;
}

export class NotificationResolver {
  private readonly log: Logger | undefined;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private current: Promise<ResolveSummary> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private kicked = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly options: NotificationResolverOptions) {
    this.log = options.log?.child({ component: 'zoho-notifications' });
    this.intervalMs = options.intervalMs ?? 5_000;
    this.batchSize = options.batchSize ?? 200;
    this.retryBaseMs = options.retryBaseMs ?? 10_000;
    this.retryMaxMs = options.retryMaxMs ?? 15 * 60_000;
  }

  /**
   * Runs in the background: at once, then every `intervalMs`, and as soon as this instance's
   * ingestor parks a new Notifications-API id (kick). Runs never overlap.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.options.ingestor.onOutcomes((outcomes) => {
      if (outcomes.some((o) => o.status === 'PARKED' && o.awaiting === AWAITING_ZOHO_FETCH)) this.kick();
    });
    this.schedule(0);
  }

  /** Stops the background runs; resolves when a run in progress has finished. */
  async stop(): Promise<void> {
    this.started = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.current?.catch(() => undefined);
  }

  /** Asks the background loop to run now (e.g. right after a callback parked new ids). */
  kick(): void {
    if (!this.started) return;
    if (this.current) this.kicked = true;
    else this.schedule(0);
  }

  /**
   * One run: claims up to `batchSize` due ids, fetches and applies them. While a run is in
   * progress another call returns that run. Does nothing when Zoho cannot be called (breaker
   * open, budget used up). Throws only when the database is unreachable.
   */
  runOnce(): Promise<ResolveSummary> {
    this.current ??= this.run().finally(() => {
      this.current = null;
    });
    return this.current;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    this.kicked = false;
    let full = false;
    try {
      const summary = await this.runOnce();
      full = summary.claimed >= this.batchSize;
    } catch (error) {
      this.log?.error({ err: error }, 'resolving Zoho notifications failed; retrying on the next run');
    }
    if (this.started && !this.timer) this.schedule(full || this.kicked ? 0 : this.intervalMs);
  }

  private async run(): Promise<ResolveSummary> {
    const summary: ResolveSummary = { claimed: 0, resolved: 0, failed: 0, skipped: null, outcomes: [] };
    const skipped = await this.options.client.unavailable();
    if (skipped) return { ...summary, skipped };
    const claimed = (await this.claim()).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));
    summary.claimed = claimed.length;
    const groups = new Map<string, Claimed[]>();
    for (const row of claimed) {
      if (row.payload.kind !== 'zoho-fetch') continue;
      const key = `${row.tenantId}\u0000${row.payload.module}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    for (const rows of groups.values()) await this.resolveGroup(rows, summary);
    if (summary.claimed) this.log?.info({ claimed: summary.claimed, resolved: summary.resolved, failed: summary.failed }, 'Zoho notifications resolved');
    return summary;
  }

  private async resolveGroup(rows: Claimed[], summary: ResolveSummary): Promise<void> {
    const module = (rows[0]!.payload as Extract<RawEvent, { kind: 'zoho-fetch' }>).module;
    const fetchIds = rows.filter((r) => fetchOf(r).operation !== 'delete').map((r) => fetchOf(r).recordId);
    let records = new Map<string, ZohoRecord>();
    let failure: unknown = null;
    if (fetchIds.length) {
      try {
        records = new Map((await this.options.client.getRecords(module, fetchIds)).map((r) => [r.id, r]));
      } catch (error) {
        failure = error;
      }
    }
    for (const row of rows) {
      const { operation, recordId } = fetchOf(row);
      if (operation !== 'delete' && failure) {
        await this.recordFailure(row, `fetching it failed: ${(failure as Error).message}`);
        summary.failed++;
        continue;
      }
      const record = operation === 'delete' ? null : records.get(recordId);
      if (record === undefined) {
        await this.recordFailure(row, 'Zoho has no such record (deleted since the notification, or not visible to the API user)');
        summary.failed++;
        continue;
      }
      const outcome = await this.options.ingestor.resolveFetched(row.tenantId, row.syncEventId, record);
      if (!outcome) continue; // resolved meanwhile by another run
      summary.resolved++;
      summary.outcomes.push(outcome);
    }
  }

  private backoffMs(attempts: number): number {
    return Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  }

  /** Keeps the event PARKED; says in its sync-log message what failed and when it is retried. */
  private async recordFailure(row: Claimed, reason: string): Promise<void> {
    const backoff = this.backoffMs(row.attempts);
    const retryIn = backoff < 1000 ? `${backoff} ms` : `about ${Math.round(backoff / 1000)} s`;
    const message = `awaiting fetch from the Zoho API: attempt ${row.attempts} failed: ${reason}; retrying in ${retryIn}`;
    this.log?.warn({ tenantId: row.tenantId, syncEventId: row.syncEventId, attempts: row.attempts, reason }, 'Zoho notification fetch failed; kept parked');
    // The backoff runs from the failure, not from the claim (a slow failing fetch would eat it).
    await db.$executeRaw`UPDATE "ParkedEvent" SET "updatedAt" = now() WHERE "id" = ${row.id}::uuid AND "awaiting" = ${AWAITING_ZOHO_FETCH}`;
    await db.syncEvent.updateMany({ where: { id: row.syncEventId, status: 'PARKED' }, data: { message: message.slice(0, 1000) } });
  }

  /** Claims the due ids (never fetched, or their backoff has passed), oldest first. */
  private claim(): Promise<Claimed[]> {
    const tenants = this.options.tenantIds ?? null;
    return db.$queryRaw<Claimed[]>`
      UPDATE "ParkedEvent" AS p
         SET "attempts" = p."attempts" + 1, "updatedAt" = now()
       WHERE p."id" IN (
         SELECT "id" FROM "ParkedEvent"
          WHERE "awaiting" = ${AWAITING_ZOHO_FETCH}
            AND (${tenants}::text[] IS NULL OR "tenantId" = ANY(${tenants}::text[]))
            AND ("attempts" = 0
                 OR "updatedAt" <= now() - LEAST(${this.retryMaxMs}::float8, ${this.retryBaseMs}::float8 * power(2, LEAST("attempts" - 1, 30)))
                                           * interval '1 millisecond')
          ORDER BY "createdAt", "id"
          LIMIT ${this.batchSize}
          FOR UPDATE SKIP LOCKED)
      RETURNING p."id", p."tenantId", p."syncEventId", p."payload", p."attempts", p."createdAt"`;
  }
}

function fetchOf(row: Claimed): Extract<RawEvent, { kind: 'zoho-fetch' }> {
  return row.payload as Extract<RawEvent, { kind: 'zoho-fetch' }>;
}
