/**
 * The ingest pipeline: events → group commit (group-commit.ts: concurrent events of a tenant
 * share a transaction) → one transaction per batch (batch.ts: claim the idempotency keys in the
 * event log, apply the records, park them or apply what was parked waiting for them) → after
 * commit, tell the listeners (cache invalidation, pub/sub, metrics). Entry points (HTTP webhooks,
 * GraphQL mutations, the Zoho notification resolver) all call `ingest()` / `ingestEvents()`.
 * Replaying parked events and applying records fetched from Zoho run here, one transaction each.
 */
import pRetry from 'p-retry';
import { db } from '../db/client.js';
import { sqlTransaction } from '../db/sql.js';
import type { IngestStatus } from '../generated/prisma/enums.js';
import { Prisma } from '../generated/prisma/client.js';
import { errorText, ingestBatchInTransaction, outcomeRow, parkedRecordsOf, refusedValue, writeRoundSql, type BatchEvent, type BatchOutcome, type Repark } from './batch.js';
import { AWAITING_ZOHO_FETCH, MAX_PARKED_DEPTH, resultOf, type IngestResult } from './result.js';
import { GroupCommit, type CommittedAnswers } from './group-commit.js';
import { LockBusyError, TransactionLocks, type LockFn } from './locks.js';
import { recordOf, rememberParked, type KeyedEvent, type RawEvent } from './raw-event.js';
import { IngestInputError, type IncomingRecord, type SourceName } from './record.js';
import { describeRef, ownKeysOf, parseRefKey, planAlone, type Applied, type RecordPlan, type Tx } from './store.js';

export { AWAITING_ZOHO_FETCH, type IngestResult } from './result.js';

/** An outcome as listeners see it, after its transaction committed (or was refused). */
export interface SyncOutcome extends IngestResult {
  tenantId: string;
  at: Date;
}

/** Awaited before the sender gets its reply (so a cache is invalidated before anyone reads again); must not throw. */
export type OutcomeListener = (outcomes: SyncOutcome[]) => void | Promise<void>;

/** One batch's transaction, committed: how group commit is doing (metrics.ts). */
export interface CommittedBatch {
  /** The batch's own events (duplicates included), not the parked ones it released. */
  events: number;
  /** From the batch's first attempt to its commit: a pool connection awaited and deadlock retries included; a part of a split batch from its own attempt. */
  seconds: number;
}
/** Must not throw (it runs between the commit and the replies). */
export type BatchListener = (batch: CommittedBatch) => void;

/**
 * Why ingest work runs again. The transaction is retried as it was: Postgres chose it as a
 * deadlock's victim or a serialization failure's, a lock it needed after holding others was
 * taken (locks.ts LockBusyError), or an event alone lost a race for a unique key to another
 * transaction. Or the work is re-run differently: `refused_value`, a batch once more carefully
 * after Postgres refused a value; `split`, a batch that failed for one event's sake (a refused
 * value, two of its events racing another transaction for keys) event by event.
 */
export const RETRY_REASONS = ['deadlock', 'serialization', 'lock_busy', 'key_race', 'refused_value', 'split'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];
/** Told before each re-run of ingest work; must not throw. */
export type RetryListener = (reason: RetryReason) => void;

/** The database cannot be reached: the sender must retry (HTTP 503). */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

const nothingToAnnounce = async () => {};

export class Ingestor {
  private readonly listeners = new Set<OutcomeListener>();
  private readonly batchListeners = new Set<BatchListener>();
  private readonly retryListeners = new Set<RetryListener>();

  /** Called after every ingest with its outcomes (the event's own, then any parked ones it released). */
  onOutcomes(listener: OutcomeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after every batch transaction that committed (a batch that failed and was split: per part that committed). */
  onBatch(listener: BatchListener): () => void {
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }

  /** Called before ingest work runs again (a batch, a replay, a Zoho fetch applied), with its reason. */
  onRetry(listener: RetryListener): () => void {
    this.retryListeners.add(listener);
    return () => this.retryListeners.delete(listener);
  }

  /**
   * Ingests one event for a tenant. Resolves only after the outcome is durable (or the
   * event is refused: REJECTED and DUPLICATE write nothing). Throws DatabaseUnavailableError
   * when Postgres cannot be reached.
   */
  async ingest(tenantId: string, event: KeyedEvent): Promise<IngestResult> {
    return (await this.ingestEvents(tenantId, [event]))[0]!;
  }

  /**
   * Ingests events for a tenant, applied in their order (as ingest() one after another would);
   * concurrent callers' events share transactions (group-commit.ts). One result per event.
   */
  async ingestEvents(tenantId: string, events: readonly KeyedEvent[]): Promise<IngestResult[]> {
    const results: (IngestResult | number)[] = [];
    const batch: BatchEvent[] = [];
    const rejected: IngestResult[] = [];
    for (const event of events) {
      // Bad input found while parsing: REJECTED naming the problem, nothing written.
      try {
        batch.push({ event, record: event.raw.kind === 'zoho-fetch' ? null : (event.parsed ?? recordOf(event.raw)) });
        results.push(batch.length - 1);
      } catch (error) {
        if (!(error instanceof IngestInputError)) throw error;
        const result = resultOf(event, null, { status: 'REJECTED', message: error.message });
        rejected.push(result);
        results.push(result);
      }
    }
    await this.emit(tenantId, rejected);
    const committed = batch.length ? await this.groupCommit.submit(tenantId, batch) : [];
    return results.map((r) => (typeof r === 'number' ? committed[r]! : r));
  }

  private readonly groupCommit = new GroupCommit((tenantId, batch) => this.commitBatch(tenantId, batch));

  /**
   * One batch, one transaction; per event its result, or the error it could not be stored with.
   * When the batch fails for one event's sake (a value its column refuses, a key race between two
   * of its events), it is tried once more carefully (a released parked event refused alone is
   * REJECTED, batch.ts writeCarefully), then each event alone, so the others are not refused with
   * it; alone, a value Postgres refuses is the event's REJECTED. Listeners hear the outcomes after
   * the commit, outside this fall-back (a failing listener must not re-run committed events):
   * in `announce`, which group commit runs while the tenant's next batch is written.
   */
  private async commitBatch(tenantId: string, batch: BatchEvent[]): Promise<CommittedAnswers> {
    let outcome: BatchOutcome;
    let committed: CommittedBatch | undefined;
    const started = performance.now();
    try {
      outcome = await this.commitOnce(tenantId, batch);
      committed = { events: batch.length, seconds: (performance.now() - started) / 1000 };
      for (const [id, record] of outcome.parked) rememberParked(id, record);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      if (error instanceof DatabaseUnavailableError) return { results: batch.map(() => failure), announce: nothingToAnnounce };
      if (batch.length > 1) {
        this.retried('split');
        const parts: CommittedAnswers[] = [];
        for (const item of batch) parts.push(await this.commitBatch(tenantId, [item]));
        return {
          results: parts.flatMap((part) => part.results),
          announce: async () => {
            for (const part of parts) await part.announce();
          },
        };
      }
      const refused = refusedValue(error);
      if (!refused) return { results: [failure], announce: nothingToAnnounce };
      const { event, record } = batch[0]!;
      outcome = { results: [resultOf(event, null, { status: 'REJECTED', message: `${record?.module ?? event.module}: cannot store the record: ${refused}` })], released: [], parked: [] };
    }
    if (committed) for (const listener of this.batchListeners) listener(committed);
    const heard = [...outcome.results, ...outcome.released];
    return { results: outcome.results, announce: () => this.emit(tenantId, heard) };
  }

  /** The batch's transaction; after a refused value, once more carefully (see commitBatch). */
  private async commitOnce(tenantId: string, batch: BatchEvent[]): Promise<BatchOutcome> {
    const keyRaces = batch.length === 1;
    try {
      return await this.transact((tx) => ingestBatchInTransaction(tx, tenantId, batch), keyRaces);
    } catch (error) {
      if (!refusedValue(error)) throw error;
      this.retried('refused_value');
      return this.transact((tx) => ingestBatchInTransaction(tx, tenantId, batch, true), keyRaces);
    }
  }

  /** Re-tries every parked event of the tenant (not those awaiting a Zoho fetch); returns how many were applied. */
  async replayParked(tenantId: string): Promise<number> {
    const parked = await db.parkedEvent.findMany({
      where: { tenantId, awaiting: { not: AWAITING_ZOHO_FETCH } },
      orderBy: { createdAt: 'asc' },
      select: { id: true },
    });
    let applied = 0;
    for (const { id } of parked) {
      const { released } = await this.transact(async (tx) => {
        const locks = new TransactionLocks(tx, tenantId);
        const rows = await tx.query<ParkedRow>(Prisma.sql`SELECT ${PARKED_ROW_COLUMNS} ${PARKED_ROW_FROM} WHERE p."id" = ${id}::uuid AND p."tenantId" = ${tenantId}`);
        return { result: null, released: await applyParkedRows(tx, tenantId, rows, locks, locks.acquire) };
      });
      await this.emit(tenantId, released);
      applied += released.filter((r) => r.status !== 'PARKED').length;
    }
    return applied;
  }

  /**
   * Applies the record fetched from the Zoho API for a parked Notifications-API event
   * (`syncEventId`, awaiting 'zoho-fetch') as a zoho-record event under the event's own
   * idempotency key: its SyncEvent row ends with the outcome (CREATED, UPDATED, …, REJECTED
   * for a bad record, or PARKED again, now awaiting the parent the record refers to) and the
   * parked row is removed (or kept, for that parent). `data` null applies the notification's
   * delete. Returns null, changing nothing, when the event no longer awaits a fetch (already
   * resolved, e.g. by another instance). Throws DatabaseUnavailableError like ingest().
   */
  async resolveFetched(tenantId: string, syncEventId: string, data: unknown): Promise<IngestResult | null> {
    const { result, released } = await this.transact((tx) => resolveFetchedInTransaction(tx, tenantId, syncEventId, data));
    if (result) await this.emit(tenantId, [result, ...released]);
    return result;
  }

  private async emit(tenantId: string, results: IngestResult[]) {
    if (!results.length) return;
    const at = new Date();
    const outcomes = results.map((r) => ({ ...r, tenantId, at }));
    await Promise.all([...this.listeners].map((listener) => listener(outcomes)));
  }


  private retried(reason: RetryReason) {
    for (const listener of this.retryListeners) listener(reason);
  }

  /**
   * A transaction, retried on deadlocks, serialization failures and busy locks (and on key races,
   * `keyRaces`); connection failures become DatabaseUnavailableError.
   */
  private async transact<T>(work: (tx: Tx) => Promise<T>, keyRaces = true): Promise<T> {
    try {
      return await pRetry(() => sqlTransaction(work), {
        retries: 6,
        minTimeout: 5,
        maxTimeout: 200,
        randomize: true,
        shouldRetry: ({ error }) => {
          // Called only when an attempt follows (p-retry checks retries and time left first).
          const reason = retryReasonOf(error, keyRaces);
          if (reason) this.retried(reason);
          return reason !== null;
        },
      });
    } catch (error) {
      if (isConnectionFailure(error)) throw new DatabaseUnavailableError('the database is unavailable');
      throw error;
    }
  }
}


/** See Ingestor.resolveFetched. The parked row is locked first, so concurrent resolvers apply it once. */
async function resolveFetchedInTransaction(
  tx: Tx,
  tenantId: string,
  syncEventId: string,
  data: unknown,
): Promise<{ result: IngestResult | null; released: IngestResult[] }> {
  // By syncEventId alone inside the fence (as batch.ts's lookups): with tenantId and awaiting
  // beside it, a plan kept for the connection (generic, sql.ts) could take the (tenantId, awaiting)
  // index and read every callback awaiting a fetch — the whole backlog, on each resolve.
  const [row] = await tx.query<ParkedRow & { payload: RawEvent }>(Prisma.sql`
    SELECT ${PARKED_ROW_COLUMNS}, p."payload"
      FROM (SELECT * FROM "ParkedEvent" q WHERE q."syncEventId" = ${syncEventId}::uuid OFFSET 0) p JOIN "SyncEvent" s ON s."id" = p."syncEventId"
     WHERE p."tenantId" = ${tenantId} AND p."awaiting" = ${AWAITING_ZOHO_FETCH}
       FOR UPDATE OF p`);
  if (!row) return { result: null, released: [] };
  const fetched = row.payload;
  if (fetched.kind !== 'zoho-fetch') return { result: null, released: [] };
  const serverTime = new Date(Number(fetched.serverTime));
  const raw: Extract<RawEvent, { kind: 'zoho-record' }> = {
    kind: 'zoho-record',
    module: fetched.module,
    operation: fetched.operation,
    operationName: row.operation ?? fetched.operation,
    recordId: fetched.recordId,
    ...(Number.isNaN(serverTime.getTime()) ? {} : { timestamp: serverTime.toISOString() }),
    data,
  };
  const event: KeyedEvent = { idempotencyKey: row.idempotencyKey, source: row.source, module: row.module, operation: row.operation, recordId: row.recordId, raw };
  const locks = new TransactionLocks(tx, tenantId);
  const rejected = async (message: string) => {
    await recordOutcome(tx, tenantId, row.syncEventId, { status: 'REJECTED', message }, { unpark: row.id });
    return { result: resultOf(event, row.syncEventId, { status: 'REJECTED', message }), released: [] };
  };
  let plan: RecordPlan;
  let record: IncomingRecord;
  // Bad input may surface after a merge wrote: undo that too, keep the locks and the log row.
  await tx.execute('SAVEPOINT resolve_fetched');
  try {
    record = recordOf(raw);
    plan = await planAlone(tx, tenantId, record, locks.acquire);
  } catch (error) {
    if (!(error instanceof IngestInputError)) throw error;
    await tx.execute('ROLLBACK TO SAVEPOINT resolve_fetched');
    return rejected(error.message);
  }
  const { applied } = plan;
  if (applied.status === 'PARKED') {
    // Now an ordinary parked record: applied by releaseParked when its parent arrives.
    await recordOutcome(tx, tenantId, row.syncEventId, applied, { repark: { id: row.id, awaiting: applied.awaiting!, payload: raw, recordKeys: ownKeysOf(record) } });
    return { result: resultOf(event, row.syncEventId, applied), released: [] };
  }
  let dependents: ParkedRow[];
  try {
    dependents = await recordOutcome(tx, tenantId, row.syncEventId, applied, { unpark: row.id, release: applied.storedKeys }, plan);
  } catch (error) {
    if (!(error instanceof RefusedValue)) throw error;
    return rejected(error.message);
  }
  const released = await applyParkedRows(tx, tenantId, dependents, locks, locks.tryAcquire);
  return { result: resultOf(event, row.syncEventId, applied), released };
}

interface LoggedOutcome {
  status: IngestStatus;
  message: string | null;
  entityType?: string | null;
  entityId?: string | null;
  studentId?: string | null;
  /** A created grade's learning outcomes (Applied.learningOutcomes), written in the same statement. */
  learningOutcomes?: Applied['learningOutcomes'];
}

/** A parked event as it is applied: the parked row with what its event-log row says about the event. */
interface ParkedRow {
  id: string;
  awaiting: string;
  syncEventId: string;
  idempotencyKey: string;
  source: SourceName;
  module: string;
  operation: string | null;
  recordId: string | null;
}

/** A parked row with its log row's columns, as ParkedRow. */
const PARKED_ROW_COLUMNS = Prisma.sql`p."id", p."awaiting", s."id" AS "syncEventId", s."idempotencyKey", s."source"::text AS "source", s."module", s."operation", s."recordId"`;
const PARKED_ROW_FROM = Prisma.sql`FROM "ParkedEvent" p JOIN "SyncEvent" s ON s."id" = p."syncEventId"`;

interface OutcomeEffects {
  /** Its parked row waits for something else now. */
  repark?: Repark;
  /** Its parked row is done with (applied or rejected). */
  unpark?: string;
  /** Keys just stored: the parked events awaiting any of them are returned, in arrival order. */
  release?: readonly string[];
}

/**
 * Writes the event's outcome to its log row, with what goes with it (the plan's row and
 * learning outcomes, re-pointing or removing its parked row), and reads the parked events the
 * keys it stored release: the batch's write statement (batch.ts writeRoundSql) for one event.
 * Throws RefusedValue, having written nothing, when Postgres refuses a value of the plan's row
 * (the caller answers REJECTED).
 */
async function recordOutcome(tx: Tx, tenantId: string, eventId: string, outcome: LoggedOutcome, effects: OutcomeEffects = {}, plan?: RecordPlan): Promise<ParkedRow[]> {
  const los = [outcome.learningOutcomes, plan?.replaceOutcomes].filter((lo): lo is NonNullable<typeof lo> => lo !== undefined && lo.outcomes.length > 0);
  const { repark, unpark } = effects;
  const write = () =>
    tx.query<ParkedRow>(
      writeRoundSql(tenantId, plan?.write ? [plan.write] : [], [{ outcome: outcomeRow(eventId, outcome), ...(repark ? { repark } : {}), ...(unpark ? { unpark } : {}) }], los, [...(effects.release ?? [])]),
    );
  if (!plan?.write && !plan?.replaceOutcomes) return write();
  // A value the row's column refuses aborts the statement: undo it alone, keep the locks and the claim.
  await tx.execute('SAVEPOINT record_write');
  try {
    if (plan.replaceOutcomes) await tx.execute(Prisma.sql`DELETE FROM "LearningOutcome" WHERE "gradeId" = ${plan.replaceOutcomes.gradeId}::uuid`);
    const released = await write();
    // Released, not left open: a replay chain would stack one subtransaction per row.
    await tx.execute('RELEASE SAVEPOINT record_write');
    return released;
  } catch (error) {
    const refused = refusedValue(error);
    if (!refused) throw error;
    await tx.execute('ROLLBACK TO SAVEPOINT record_write');
    throw new RefusedValue(`${plan.write?.module ?? plan.applied.entityType}: cannot store the record: ${refused}`);
  }
}

/** Postgres refused a value of a record applied alone (recordOutcome): the event is REJECTED with this message. */
class RefusedValue extends Error {
  override name = 'RefusedValue';
}

/**
 * Applies, in arrival order, the parked events `parked` (those waiting for keys just stored, or
 * one being replayed); recursively, those each releases in turn. Their locks were taken with
 * the record's, or are only tried (locks.ts), or (replay) taken by `lock`.
 * `removed`: parked rows already applied in this transaction (by a release nested in this one).
 */
async function applyParkedRows(
  tx: Tx,
  tenantId: string,
  parked: ParkedRow[],
  locks: TransactionLocks,
  lock: LockFn,
  depth = 0,
  removed = new Set<string>(),
): Promise<IngestResult[]> {
  const results: IngestResult[] = [];
  const records = await parkedRecordsOf(tx, tenantId, parked.map((row) => row.syncEventId));
  for (const row of parked) {
    const record = records.get(row.syncEventId);
    // A row released by an earlier row's nested release (an event about the awaited entity
    // itself, e.g. its parked delete, stores that entity's keys again) is gone already.
    if (!record || removed.has(row.id)) continue;
    const event = { source: row.source, module: row.module, operation: row.operation };
    const rejected = async (message: string) => {
      removed.add(row.id);
      await recordOutcome(tx, tenantId, row.syncEventId, { status: 'REJECTED', message }, { unpark: row.id });
      results.push(resultOf(event, row.syncEventId, { status: 'REJECTED', message }));
    };
    let plan: RecordPlan;
    try {
      if (record instanceof IngestInputError) throw record;
      plan = await planAlone(tx, tenantId, record, lock);
    } catch (error) {
      if (!(error instanceof IngestInputError)) throw error;
      await rejected(error.message);
      continue;
    }
    const { applied } = plan;
    if (applied.status === 'PARKED') {
      if (applied.awaiting !== row.awaiting) await recordOutcome(tx, tenantId, row.syncEventId, applied, { repark: { id: row.id, awaiting: applied.awaiting!, recordKeys: ownKeysOf(record) } });
      continue;
    }
    const arrived = parseRefKey(row.awaiting);
    const message = [applied.message, arrived ? `applied after ${describeRef(arrived)} arrived` : 'applied on replay'].filter(Boolean).join('; ');
    let next: ParkedRow[];
    try {
      // Its own release is one level deeper (none beyond MAX_PARKED_DEPTH).
      next = await recordOutcome(tx, tenantId, row.syncEventId, { ...applied, message }, { unpark: row.id, release: depth + 1 > MAX_PARKED_DEPTH ? [] : applied.storedKeys }, plan);
    } catch (error) {
      if (!(error instanceof RefusedValue)) throw error;
      await rejected(error.message);
      continue;
    }
    removed.add(row.id);
    results.push(resultOf(event, row.syncEventId, { ...applied, message }));
    results.push(...(await applyParkedRows(tx, tenantId, next, locks, locks.tryAcquire, depth + 1, removed)));
  }
  return results;
}


const DEADLOCK = /deadlock detected|40P01/;
const SERIALIZATION = /could not serialize|40001|P2034/;
const KEY_RACE = /Unique constraint failed|P2002|23505/;
const CONNECTION = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|P1001|P1017|Can't reach database|Connection terminated|connection.*closed|terminating connection|timeout exceeded when trying to connect/i;

/** Why the transaction that failed with `error` is worth another attempt; null: it is not. */
function retryReasonOf(error: unknown, keyRaces = true): RetryReason | null {
  if (error instanceof LockBusyError) return 'lock_busy';
  const text = errorText(error);
  if (DEADLOCK.test(text)) return 'deadlock';
  if (SERIALIZATION.test(text)) return 'serialization';
  return keyRaces && KEY_RACE.test(text) ? 'key_race' : null;
}


function isConnectionFailure(error: unknown): boolean {
  return CONNECTION.test(errorText(error));
}
