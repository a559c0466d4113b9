/**
 * Several events, one transaction, set-based statements (group commit). The events of a batch
 * touch pairwise different entities (group-commit.ts picks them so), so applying them together
 * is applying them one after another in some order: a round reads every record's parents and
 * rows in one statement, plans each record (store.ts planRecord, the same rules as one event
 * alone), and writes all rows, event outcomes, parked rows and learning outcomes in one
 * statement, which also finds the parked events the stored keys release: the next round. That
 * round's read travels with the write (prefetchReads), for the events it will hold as far as
 * they are known before the write: one round trip per round, not two.
 *
 * Statements for a batch of any size, nothing parked: claim + locks, read, write, COMMIT.
 */
import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { Prisma } from '../generated/prisma/client.js';
import type { IngestStatus } from '../generated/prisma/enums.js';
import { TransactionLocks, waitForLocksSql } from './locks.js';
import { AWAITING_ZOHO_FETCH, MAX_PARKED_DEPTH, resultOf, type IngestResult } from './result.js';
import { knownParkedRecord, parkedRecordOf, type KeyedEvent, type RawEvent } from './raw-event.js';
import { IngestInputError, type IncomingRecord } from './record.js';
import {
  describeRef, existingRow, lockKeysOf, ownKeysOf, parseRefKey, planRecord, readRecords, resolveRefs,
  type Applied, type RecordPlan, type RecordRead, type RecordWrite, type Tx,
} from './store.js';

/** An event of a batch: its record parsed (null: a Notifications-API id, parked until fetched). */
export interface BatchEvent {
  event: KeyedEvent;
  record: IncomingRecord | null;
}

/** What a batch did: per event its result, then the parked events it released, in order applied. */
export interface BatchOutcome {
  results: IngestResult[];
  released: IngestResult[];
  /**
   * The batch's events that parked, by event-log id, with their parsed records: for the parse
   * cache (raw-event.ts rememberParked) once the transaction committed — not before: the id is
   * derived from the idempotency key, and a rolled-back attempt's entry could outlive it and
   * stand for another payload that key is later parked with (by another instance).
   */
  parked: [string, IncomingRecord][];
}

export interface ConflictKeys {
  own: readonly string[];
  all: readonly string[];
}

/** The keys by which two events may depend on each other: group-commit.ts never batches two that share one. */
export function conflictKeysOf(item: { event: { idempotencyKey: string }; record: IncomingRecord | null }): ConflictKeys {
  const idempotency = `event|${item.event.idempotencyKey}`;
  if (!item.record) return { own: [idempotency], all: [idempotency] };
  return { own: [idempotency, ...ownKeysOf(item.record)], all: [idempotency, ...lockKeysOf(item.record)] };
}

/** The conflict keys of events seen so far: a later event clashes with them when its own keys meet any of theirs, or any of its keys meets their own. */
export class KeyClash {
  private readonly own = new Set<string>();
  private readonly all = new Set<string>();

  clashes(keys: ConflictKeys): boolean {
    return keys.own.some((k) => this.all.has(k)) || keys.all.some((k) => this.own.has(k));
  }

  add(keys: ConflictKeys): void {
    for (const k of keys.own) this.own.add(k);
    for (const k of keys.all) this.all.add(k);
  }
}

/** An event being applied in this transaction: one of the batch (claimed) or a parked one it released. */
interface Work {
  /** A released event's payload is not read back (its record is: parkedRecordsOf); a batch event has it. */
  event: Omit<KeyedEvent, 'raw'> & { raw?: RawEvent };
  eventId: string;
  record: IncomingRecord | null;
  /** A released event whose stored payload no longer parses: rejected in its round. */
  invalid?: IngestInputError;
  /** Index in the batch; undefined for a released parked event. */
  index?: number;
  parked?: { id: string; awaiting: string };
  /** Release depth: -1 for the batch's own events. */
  depth: number;
  /** Order of arrival in this transaction: the batch's events first, then each released event as found. */
  seq: number;
}

/** A DUPLICATE's original: its log row. */
interface Original {
  id: string;
  receivedAt: Date;
  status: IngestStatus;
  entityType: string | null;
  entityId: string | null;
  studentId: string | null;
}

interface Claimed {
  id: string | null;
  original: Original | null;
}

/**
 * `careful`: after the batch failed once, a round applying released parked events writes them one
 * by one when Postgres refuses its write (writeCarefully), so a parked event's bad value is its own
 * REJECTED; without it, the first try stays one statement per round.
 */
export async function ingestBatchInTransaction(tx: Tx, tenantId: string, batch: readonly BatchEvent[], careful = false): Promise<BatchOutcome> {
  const locks = new TransactionLocks(tx, tenantId);
  const ownKeys = batch.flatMap((b) => (b.record ? ownKeysOf(b.record) : []));
  const lockKeys = locks.pending(batch.flatMap((b) => (b.record ? lockKeysOf(b.record) : [])));
  const { claims, parked, locked } = await claimAll(tx, tenantId, batch, ownKeys, lockKeys);
  const results: (IngestResult | null)[] = batch.map(() => null);
  answerDuplicates(batch, claims, results);

  const work: Work[] = [];
  batch.forEach((b, index) => {
    const id = claims[index]!.id;
    if (id) work.push({ event: b.event, eventId: id, record: b.record, index, depth: -1, seq: index });
  });
  // Every lock the transaction may wait for, in one sorted call (locks.ts): with nothing parked
  // for the batch the claim took them; else the records' and those of the events they release.
  let pending = work;
  let afterReleases: Work[] = [];
  const forecast: ReleaseForecast = new Map();
  if (locked) locks.taken(lockKeys);
  else if (work.length) {
    const claimedKeys = work.flatMap((w) => (w.record ? lockKeysOf(w.record) : []));
    const releaseKeys = await releaseLockKeys(tx, tenantId, parked, new Set(ownKeys), forecast);
    await locks.acquire([...claimedKeys, ...releaseKeys]);
    // Applied one after another, an event of the batch about an entity a parked event is about to
    // be released onto would follow that release: it waits until the releases are done.
    const awaited = new Set(parked.filter((p) => p.depth === 0).map((p) => p.awaiting));
    const touched = new Set(releaseKeys);
    const waits = (w: Work) => w.record !== null && !ownKeysOf(w.record).some((k) => awaited.has(k)) && conflictKeysOf({ event: w.event, record: w.record }).all.some((k) => touched.has(k));
    afterReleases = work.filter(waits);
    pending = work.filter((w) => !waits(w));
  }

  const released: IngestResult[] = [];
  const state: RoundState = { queued: new Set(), seq: batch.length, parked: [] };
  let prefetched: Prefetch | null = null;
  while (pending.length || afterReleases.length) {
    if (!pending.length) [pending, afterReleases] = [afterReleases, []];
    const { round, deferred } = conflictFree(pending);
    const next = await applyRound(tx, tenantId, locks, round, state, careful, prefetched, { deferred, afterReleases, forecast }, (w, result) => {
      if (w.index !== undefined) results[w.index] = result;
      else released.push(result);
    });
    prefetched = next.prefetched;
    pending = [...[...deferred, ...next.deferred].sort((a, b) => a.seq - b.seq), ...next.released];
  }
  return { results: results.map((r) => r!), released, parked: state.parked };
}

/**
 * The parked rows awaiting `key` (a column of the enclosing query): the inner side of a
 * LATERAL join over the keys looked for. Written so that every lookup is an index probe per
 * key whatever the statistics say: the OFFSET 0 fence keeps the planner from flattening it into
 * a join it may plan as a scan of the tenant's parked rows (it did, from statistics taken while
 * the table was near-empty, as a prepared generic plan), and the key's index is the only one
 * matching both columns.
 */
function parkedAwaiting(tenantId: string, key: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`SELECT q.* FROM "ParkedEvent" q WHERE q."tenantId" = ${tenantId} AND q."awaiting" = ${key} OFFSET 0`;
}

/**
 * The event log's id for an idempotency key: a name-based UUID of tenant and key, so the claim's
 * look-up of an original is a primary-key probe (no other index holds "id", whatever the
 * statistics say; by key, two other indexes also lead with "tenantId", and under statistics of an
 * empty table the planner took one of them). Rows logged before ids were derived (random ids)
 * are found by key, as a concurrent twin is.
 */
export function eventLogId(tenantId: string, idempotencyKey: string): string {
  return uuidv5(`${tenantId}\u0000${idempotencyKey}`, EVENT_LOG_NAMESPACE);
}
const EVENT_LOG_NAMESPACE = 'f3b1c6e2-8a4d-4c1e-9b7a-2d5e6f708192';

/** The log row holding `key` (a column of the enclosing query), as the inner side of a LATERAL join. */
function loggedEvent(tenantId: string, key: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`SELECT e."id", e."receivedAt", e."status"::text AS "status", e."entityType", e."entityId", e."studentId"
    FROM "SyncEvent" e WHERE e."tenantId" = ${tenantId} AND e."idempotencyKey" = ${key} OFFSET 0`;
}

/**
 * Claims every event's idempotency key and reads, in the same statement, the parked events
 * awaiting any key the batch stores, and those they release in turn (releaseTreeSql). The
 * unique index decides: a key already there is a DUPLICATE of its original, read by the same statement by id (eventLogId; a concurrent twin
 * that committed while the claim waited for it, by one more statement, by key). The claim locks
 * no row but those it inserts: a lock on an original (ON CONFLICT DO UPDATE takes one) would be
 * held while this transaction waits for entity locks, and the transaction releasing that
 * original's parked event holds those and writes the original's outcome: a deadlock. With nothing parked and something
 * claimed, the statement also takes `lockKeys` (sorted, every lock the records need), as
 * `locks.acquire` would.
 */
async function claimAll(tx: Tx, tenantId: string, batch: readonly BatchEvent[], ownKeys: string[], lockKeys: string[]) {
  const column = <K extends keyof KeyedEvent>(key: K) => batch.map((b) => b.event[key] as string | null);
  const ids = batch.map((b) => eventLogId(tenantId, b.event.idempotencyKey));
  const rows = await tx.query<{ n: bigint; claimed: boolean; parked: ParkedNode[] | null; locked: bigint | null } & Partial<Original>>(Prisma.sql`
    WITH RECURSIVE input AS (
      SELECT * FROM unnest(${ids}::uuid[], ${column('idempotencyKey')}::text[], ${column('source')}::text[], ${column('module')}::text[],
                           ${column('operation')}::text[], ${column('recordId')}::text[]) WITH ORDINALITY AS x("id", "key", "source", "module", "operation", "recordId", "n")),
    claimed AS (
      INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "operation", "recordId", "status")
      SELECT x."id", ${tenantId}, x."key", x."source"::"SyncSource", x."module", x."operation", x."recordId", 'PARKED'::"IngestStatus"
        FROM input x ORDER BY x."key"
      ON CONFLICT ("tenantId", "idempotencyKey") DO NOTHING
      RETURNING "id"),
    tree ("syncEventId", "awaiting", "recordKeys", "depth") AS (${releaseTreeSql(tenantId, [...new Set(ownKeys)].map((key) => ({ key, depth: 0 })))}),
    parked AS MATERIALIZED (
      SELECT json_agg(json_build_object('syncEventId', t."syncEventId", 'awaiting', t."awaiting", 'depth', t."depth", 'recordKeys', t."recordKeys") ORDER BY t."depth") AS "parked"
        FROM tree t)
    SELECT x."n", c."id" IS NOT NULL AS "claimed", CASE WHEN x."n" = 1 THEN k."parked" END AS "parked",
           CASE WHEN x."n" = 1 AND k."parked" IS NULL AND cardinality(${lockKeys}::text[]) > 0 AND EXISTS (SELECT 1 FROM claimed) THEN
             (SELECT count(l."v") FROM (${waitForLocksSql(lockKeys)}) l)
           END AS "locked",
           o."id", o."receivedAt", o."status"::text AS "status", o."entityType", o."entityId", o."studentId"
      FROM input x
      CROSS JOIN parked k
      LEFT JOIN claimed c ON c."id" = x."id"
      LEFT JOIN LATERAL (SELECT e.* FROM "SyncEvent" e WHERE c."id" IS NULL AND e."id" = x."id" OFFSET 0) o
        ON o."tenantId" = ${tenantId} AND o."idempotencyKey" = x."key"
     ORDER BY x."n"`);
  if (rows.length !== batch.length) throw new Error(`claim: ${rows.length} rows for ${batch.length} events`);
  const claims: Claimed[] = rows.map((row, i) => ({
    id: row.claimed ? ids[i]! : null,
    original: row.id ? { id: row.id, receivedAt: row.receivedAt!, status: row.status!, entityType: row.entityType ?? null, entityId: row.entityId ?? null, studentId: row.studentId ?? null } : null,
  }));
  // Not claimed, not seen: a twin that committed after the statement's snapshot, or a row logged with a random id; read by key.
  const unseen = claims.flatMap((c, i) => (c.id || c.original ? [] : [{ i, key: batch[i]!.event.idempotencyKey }]));
  if (unseen.length) {
    const twins = await tx.query<Original & { key: string }>(Prisma.sql`
      SELECT k."key", e.* FROM unnest(${unseen.map((u) => u.key)}::text[]) AS k("key") CROSS JOIN LATERAL (${loggedEvent(tenantId, Prisma.sql`k."key"`)}) e`);
    const byKey = new Map(twins.map((t) => [t.key, t]));
    for (const { i, key } of unseen) {
      const twin = byKey.get(key);
      if (!twin) throw new Error(`claim of ${key}: neither claimed nor found`);
      claims[i]!.original = twin;
    }
  }
  return { claims, parked: rows[0]?.parked ?? [], locked: rows[0]?.locked !== null && rows[0]?.locked !== undefined };
}

/**
 * The parked events awaiting a key, as found before the rounds: which records a round's write
 * will release (most of the time), so the next round's read can travel with that write.
 */
type ReleaseForecast = Map<string, { eventId: string; record: IncomingRecord }[]>;

/** A parked event the batch releases, directly (depth 0) or through others, with the keys its row says its record stores (NULL: not written). */
export interface ParkedNode {
  syncEventId: string;
  awaiting: string;
  depth: number;
  recordKeys: string[] | null;
}

/**
 * The parked events released by storing the seed keys (each at its depth), and recursively
 * those each releases in turn, by the keys its record stores ("recordKeys", written when it
 * parked): one statement for the whole tree, not one per level. The body of a recursive CTE
 * named tree ("syncEventId", "awaiting", "recordKeys", "depth"). UNION keeps one row per event
 * and depth (a diamond does not multiply; an event reached at two depths comes twice, the caller
 * keeps the shallowest); a key is not looked up again below where it was (`looked`: the seeds
 * and keys looked up before; or the key a row awaits: a parked delete of an entity not received
 * yet awaits its own key); MAX_PARKED_DEPTH bounds any other cycle.
 */
function releaseTreeSql(tenantId: string, seeds: readonly { key: string; depth: number }[], looked: readonly string[] = seeds.map((s) => s.key)): Prisma.Sql {
  const keys = seeds.map((s) => s.key);
  return Prisma.sql`
    SELECT p."syncEventId", p."awaiting", p."recordKeys", k."depth"
      FROM unnest(${keys}::text[], ${seeds.map((s) => s.depth)}::int[]) AS k("key", "depth")
     CROSS JOIN LATERAL (${parkedAwaiting(tenantId, Prisma.sql`k."key"`)}) p
    UNION
    SELECT p."syncEventId", p."awaiting", p."recordKeys", t."depth" + 1
      FROM tree t
     CROSS JOIN LATERAL (SELECT u."key" FROM unnest(t."recordKeys") AS u("key") WHERE u."key" <> t."awaiting" AND u."key" <> ALL(${looked}::text[])) k
     CROSS JOIN LATERAL (${parkedAwaiting(tenantId, Prisma.sql`k."key"`)}) p
     WHERE t."depth" < ${MAX_PARKED_DEPTH}::int`;
}

/** releaseTreeSql as a statement: the tree below `seeds`, shallowest first (`looked`: keys not to look up again, the seeds' included). */
export function parkedTree(tx: Tx, tenantId: string, seeds: readonly { key: string; depth: number }[], looked?: readonly string[]): Promise<ParkedNode[]> {
  return tx.query<ParkedNode>(Prisma.sql`
    WITH RECURSIVE tree ("syncEventId", "awaiting", "recordKeys", "depth") AS (${releaseTreeSql(tenantId, seeds, looked)})
    SELECT t."syncEventId", t."awaiting", t."depth", t."recordKeys" FROM tree t ORDER BY t."depth"`);
}

/**
 * The entity locks of the parked events of `tree` (what the claim found) and those events'
 * records by the key they await (`forecast`). Read without locks: one that appears meanwhile is
 * found after locking and only tried. The tree followed the keys stored with each row; a key
 * its record has as this version parses it and the row did not store (parked by an older
 * version, or keys worked out differently since) is looked up here, one statement per such level.
 */
async function releaseLockKeys(tx: Tx, tenantId: string, tree: ParkedNode[], looked: Set<string>, forecast: ReleaseForecast): Promise<string[]> {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (let nodes = tree; nodes.length; ) {
    const fresh = nodes.filter((n) => !seen.has(n.syncEventId) && seen.add(n.syncEventId));
    for (const n of fresh) if (n.depth < MAX_PARKED_DEPTH) for (const key of n.recordKeys ?? []) looked.add(key);
    const records = await parkedRecordsOf(tx, tenantId, fresh.map((n) => n.syncEventId));
    const unfollowed: { key: string; depth: number }[] = [];
    for (const { syncEventId, awaiting, depth } of fresh) {
      const child = records.get(syncEventId);
      // Gone meanwhile, or rejected when released: needs no lock.
      if (!child || child instanceof IngestInputError) continue;
      keys.push(...lockKeysOf(child));
      const awaitingIt = forecast.get(awaiting);
      if (awaitingIt) awaitingIt.push({ eventId: syncEventId, record: child });
      else forecast.set(awaiting, [{ eventId: syncEventId, record: child }]);
      if (depth >= MAX_PARKED_DEPTH) continue;
      for (const key of ownKeysOf(child)) {
        if (looked.has(key)) continue;
        looked.add(key);
        unfollowed.push({ key, depth: depth + 1 });
      }
    }
    if (!unfollowed.length) break;
    nodes = await parkedTree(tx, tenantId, unfollowed, [...looked]);
  }
  return keys;
}

/** DUPLICATE for every event whose key was there (the original, as the claim read it). */
function answerDuplicates(batch: readonly BatchEvent[], claims: Claimed[], results: (IngestResult | null)[]) {
  batch.forEach((b, i) => {
    const original = claims[i]!.original;
    if (!original) return;
    results[i] = resultOf(b.event, original.id, {
      status: 'DUPLICATE',
      message: `already received at ${original.receivedAt.toISOString()} (${original.status})`,
      entityType: original.entityType,
      entityId: original.entityId,
      studentId: original.studentId,
    });
  });
}

/**
 * The work, in order, split into a round whose events touch pairwise different entities and
 * the rest: an event that depends on an earlier one of the round (or on one deferred before
 * it) waits for the next round, so events about one entity apply in arrival order.
 */
function conflictFree(work: Work[]): { round: Work[]; deferred: Work[] } {
  const round: Work[] = [];
  const deferred: Work[] = [];
  const seen = new KeyClash();
  for (const w of work) {
    const keys = w.record && !w.invalid ? conflictKeysOf({ event: w.event, record: w.record }) : { own: [], all: [] };
    (seen.clashes(keys) ? deferred : round).push(w);
    seen.add(keys);
  }
  return { round, deferred };
}

/** A parked row that waits for something else now: `payload` replaces the stored one (a record fetched from Zoho), else the attempt counts; `recordKeys` when known. */
export interface Repark {
  id: string;
  awaiting: string;
  payload?: RawEvent;
  recordKeys?: readonly string[];
}

/** What one event of a round writes besides its record's row. */
interface Effects {
  outcome?: { id: string; status: IngestStatus; entityType: string | null; entityId: string | null; studentId: string | null; message: string | null };
  /** `recordKeys`: the parked record's own keys (null before a Zoho fetch: no record yet): see releaseTreeSql. */
  park?: { syncEventId: string; awaiting: string; payload: RawEvent; recordKeys: readonly string[] | null };
  repark?: Repark;
  unpark?: string;
  /** A batch event refused: its claim goes (REJECTED writes nothing). */
  unclaim?: string;
}

/**
 * Applies one round: returns the parked events released by what it stored (the next round's
 * work). `done` receives each event's result as it is decided.
 */
async function applyRound(
  tx: Tx,
  tenantId: string,
  locks: TransactionLocks,
  work: Work[],
  state: RoundState,
  careful: boolean,
  prefetched: Prefetch | null,
  ahead: { deferred: Work[]; afterReleases: Work[]; forecast: ReleaseForecast },
  done: (w: Work, result: IngestResult) => void,
): Promise<{ released: Work[]; deferred: Work[]; prefetched: Prefetch | null }> {
  // Released events' locks were taken with the batch's; one that appeared since is only tried.
  await locks.tryAcquire(work.flatMap((w) => (w.parked && w.record && !w.invalid ? lockKeysOf(w.record) : [])));
  const withRecord = work.filter((w) => w.record && !w.invalid);
  const reads = await readRound(tx, tenantId, withRecord, prefetched);
  const plans = new Map<Work, RecordPlan | IngestInputError>();
  // Different keys can still mean one row: a stored row matching both records (by different
  // keys), or one enrolment of a student in a class. The later event waits for the next round,
  // and so does any later one about the same entities as an event that waits.
  const rows = new Set<string>();
  const waiting = new KeyClash();
  const deferred: Work[] = [];
  for (const [i, w] of withRecord.entries()) {
    const read = reads[i]!;
    const resolved = resolveRefs(w.record!, read.parents);
    const touched = [...read.matches.map((m) => m.id), ...(resolved.ok ? pairKeys(w.record!, resolved.columns) : [])];
    const keys = conflictKeysOf({ event: w.event, record: w.record });
    if (touched.some((id) => rows.has(id)) || waiting.clashes(keys)) {
      waiting.add(keys);
      deferred.push(w);
      continue;
    }
    for (const id of touched) rows.add(id);
    try {
      plans.set(w, planRecord(w.record!, resolved, resolved.ok ? await existingRow(tx, w.record!, read) : null));
    } catch (error) {
      if (!(error instanceof IngestInputError)) throw error;
      plans.set(w, error);
    }
  }
  const round = work.filter((w) => !deferred.includes(w));

  const entries: Entry[] = [];
  for (const w of round) {
    if (!w.record) {
      const parked = { status: 'PARKED' as const, message: 'awaiting fetch from the Zoho API', awaiting: AWAITING_ZOHO_FETCH };
      entries.push(entry(w, resultOf(w.event, w.eventId, parked), { outcome: outcomeRow(w.eventId, parked), park: { syncEventId: w.eventId, awaiting: AWAITING_ZOHO_FETCH, payload: w.event.raw!, recordKeys: null } }));
      continue;
    }
    const plan = w.invalid ?? plans.get(w)!;
    if (plan instanceof IngestInputError) {
      entries.push(rejectedEntry(w, plan.message));
      continue;
    }
    const applied = plan.applied;
    let e: Entry;
    if (!w.parked) {
      e = entry(w, resultOf(w.event, w.eventId, applied), { outcome: outcomeRow(w.eventId, applied), ...(applied.status === 'PARKED' ? { park: { syncEventId: w.eventId, awaiting: applied.awaiting!, payload: w.event.raw!, recordKeys: ownKeysOf(w.record!) } } : {}) });
      if (applied.status === 'PARKED') state.parked.push([w.eventId, w.record!]);
    } else if (applied.status === 'PARKED') {
      // Still parked: a later key may release it again.
      state.queued.delete(w.parked.id);
      if (applied.awaiting !== w.parked.awaiting) entries.push(entry(w, null, { outcome: outcomeRow(w.eventId, applied), repark: { id: w.parked.id, awaiting: applied.awaiting!, recordKeys: ownKeysOf(w.record!) } }));
      continue;
    } else {
      const arrived = parseRefKey(w.parked.awaiting);
      const message = [applied.message, arrived ? `applied after ${describeRef(arrived)} arrived` : 'applied on replay'].filter(Boolean).join('; ');
      e = entry(w, resultOf(w.event, w.eventId, { ...applied, message }), { outcome: outcomeRow(w.eventId, { ...applied, message }), unpark: w.parked.id });
    }
    e.write = plan.write;
    if (plan.replaceOutcomes) {
      e.replaced = plan.replaceOutcomes.gradeId;
      e.learningOutcomes.push(plan.replaceOutcomes);
    }
    if (applied.learningOutcomes) e.learningOutcomes.push(applied.learningOutcomes);
    if (applied.status !== 'PARKED' && w.depth + 1 <= MAX_PARKED_DEPTH) e.stores = applied.storedKeys;
    entries.push(e);
  }

  let written: { entries: Entry[]; rows: ReleasedRow[] };
  let prefetch: Prefetch | null = null;
  if (careful && round.some((w) => w.parked)) written = await writeCarefully(tx, tenantId, entries);
  else {
    const writing = writeEntries(tx, tenantId, entries);
    // The next round's read, sent behind the write: its events are those deferred and those the
    // write releases, as far as the lookup before the rounds found them (a record it did not
    // find is read in its round, as before).
    const applying = new Set(round.map((w) => w.eventId));
    const stores = new Set(entries.flatMap((e) => e.stores));
    const releasing = [...stores].flatMap((key) => ahead.forecast.get(key) ?? []).filter((r) => !applying.has(r.eventId));
    const upcoming = [...ahead.deferred, ...deferred, ...releasing];
    prefetch = prefetchReads(tx, tenantId, locks, upcoming.length ? upcoming : ahead.afterReleases);
    written = { entries, rows: await writing };
  }
  /** Stored key → depth of the event that stored it (what it releases is one level deeper). */
  const releases = new Map<string, number>();
  for (const e of written.entries) {
    for (const key of e.stores) releases.set(key, e.w.depth);
    if (e.result) done(e.w, e.result);
  }
  // Released once per transaction: one deferred to a later round is not queued again.
  const fresh: ReleasedRow[] = [];
  for (const row of written.rows) {
    if (row.awaiting === AWAITING_ZOHO_FETCH || state.queued.has(row.id)) continue;
    state.queued.add(row.id);
    fresh.push(row);
  }
  const records = await parkedRecordsOf(tx, tenantId, fresh.map((row) => row.syncEventId));
  const released: Work[] = [];
  for (const row of fresh) {
    const record = records.get(row.syncEventId);
    // Applied meanwhile by another instance (its payload, read in a later statement, is gone).
    if (!record) continue;
    const event = { idempotencyKey: row.idempotencyKey, source: row.source, module: row.module, operation: row.operation, recordId: row.recordId };
    const next: Work = { event, eventId: row.syncEventId, record: null, parked: { id: row.id, awaiting: row.awaiting }, depth: releases.get(row.awaiting)! + 1, seq: state.seq++ };
    if (record instanceof IngestInputError) next.invalid = record;
    else next.record = record;
    released.push(next);
  }
  return { released, deferred, prefetched: prefetch };
}

/**
 * Reads sent with a round's write, behind it: valid for the round right after that write only
 * (nothing is written in between), and only for the records they were read for. A read is
 * only as good as the locks held when it runs, so only records whose locks are all held are
 * read ahead: the batch's and the forecast's were taken in the one sorted call before the
 * rounds; a released event the forecast missed has its locks tried in the round that applies
 * it, and one deferred before that round (conflictFree) has not yet.
 */
interface Prefetch {
  records: Map<string, IncomingRecord>;
  reads: Promise<Map<string, RecordRead>>;
}

function prefetchReads(tx: Tx, tenantId: string, locks: TransactionLocks, upcoming: readonly { eventId: string; record: IncomingRecord | null; invalid?: IngestInputError }[]): Prefetch | null {
  const ready = new Map<string, IncomingRecord>();
  for (const u of upcoming) if (u.record && !u.invalid && locks.holds(lockKeysOf(u.record))) ready.set(u.eventId, u.record);
  if (!ready.size) return null;
  const ids = [...ready.keys()];
  const reads = readRecords(tx, tenantId, [...ready.values()]).then((list) => new Map(ids.map((id, i) => [id, list[i]!])));
  // Awaited by the next round, if one comes (the write may release nothing it was read for); a
  // failure nobody awaits still fails the transaction at COMMIT (sql.ts).
  reads.catch(() => {});
  return { records: ready, reads };
}

/** The round's reads: those prefetched for its records, the rest read now. */
async function readRound(tx: Tx, tenantId: string, work: Work[], prefetched: Prefetch | null): Promise<RecordRead[]> {
  const ahead = prefetched ? await prefetched.reads : new Map<string, RecordRead>();
  const fresh = work.filter((w) => prefetched?.records.get(w.eventId) !== w.record);
  const reads = await readRecords(tx, tenantId, fresh.map((w) => w.record!));
  const read = new Map(fresh.map((w, i) => [w, reads[i]!]));
  return work.map((w) => read.get(w) ?? ahead.get(w.eventId)!);
}

/**
 * The records of parked events by event-log id: from this process's parse cache (raw-event.ts),
 * the payloads of the rest read in one statement and parsed. A payload that no longer parses
 * maps to its IngestInputError; an id not parked (any more) or awaiting a Zoho fetch, to nothing.
 */
export async function parkedRecordsOf(tx: Tx, tenantId: string, ids: readonly string[]): Promise<Map<string, IncomingRecord | IngestInputError>> {
  const records = new Map<string, IncomingRecord | IngestInputError>();
  const missing: string[] = [];
  for (const id of ids) {
    const record = knownParkedRecord(id);
    if (record) records.set(id, record);
    else missing.push(id);
  }
  if (!missing.length) return records;
  const rows = await tx.query<{ syncEventId: string; payload: RawEvent }>(Prisma.sql`
    SELECT p."syncEventId", p."payload" FROM unnest(${missing}::uuid[]) AS k("id")
     CROSS JOIN LATERAL (SELECT * FROM "ParkedEvent" q WHERE q."syncEventId" = k."id" LIMIT 1) p
     WHERE p."tenantId" = ${tenantId}`);
  for (const { syncEventId, payload } of rows) {
    if (payload.kind === 'zoho-fetch') continue;
    try {
      records.set(syncEventId, parkedRecordOf(syncEventId, payload));
    } catch (error) {
      if (!(error instanceof IngestInputError)) throw error;
      records.set(syncEventId, error);
    }
  }
  return records;
}

/** What one event of a round writes and answers (`result` null: a released event still parked, no answer). */
interface Entry {
  w: Work;
  result: IngestResult | null;
  effects: Effects;
  write: RecordWrite | null;
  learningOutcomes: NonNullable<Applied['learningOutcomes']>[];
  /** An existing grade whose learning outcomes the entry replaces. */
  replaced?: string;
  /** Keys it stores: the parked events awaiting them are released. */
  stores: string[];
}

function entry(w: Work, result: IngestResult | null, effects: Effects): Entry {
  return { w, result, effects, write: null, learningOutcomes: [], stores: [] };
}

/** Refused: a released event's log row says why and its parked row goes; a batch event's claim goes (REJECTED writes nothing). */
function rejectedEntry(w: Work, message: string): Entry {
  const rejected = { status: 'REJECTED' as const, message };
  return w.parked
    ? entry(w, resultOf(w.event, w.eventId, rejected), { outcome: outcomeRow(w.eventId, rejected), unpark: w.parked.id })
    : entry(w, resultOf(w.event, null, rejected), { unclaim: w.eventId });
}

type ReleasedRow = { id: string; awaiting: string; syncEventId: string; idempotencyKey: string; source: 'ZOHO' | 'MOODLE'; module: string; operation: string | null; recordId: string | null };

/** The entries' writes: one statement (after removing the learning outcomes they replace, sent with it); returns what their stored keys release. */
async function writeEntries(tx: Tx, tenantId: string, entries: Entry[]): Promise<ReleasedRow[]> {
  const replaced = entries.flatMap((e) => (e.replaced ? [e.replaced] : []));
  if (replaced.length) tx.send(Prisma.sql`DELETE FROM "LearningOutcome" WHERE "gradeId" = ANY(${replaced}::uuid[])`);
  return tx.query<ReleasedRow>(
    writeRoundSql(
      tenantId,
      entries.flatMap((e) => (e.write ? [e.write] : [])),
      entries.map((e) => e.effects),
      entries.flatMap((e) => e.learningOutcomes),
      entries.flatMap((e) => e.stores),
    ),
  );
}

/**
 * writeEntries for a round that applies released parked events, after a batch failed: when
 * Postgres refuses the round's write, each event is written alone, and a released event whose
 * own write is refused (a value its column refuses, a required column its record lacks) is
 * REJECTED — as one event applied alone would be — instead of failing the event that released it.
 */
async function writeCarefully(tx: Tx, tenantId: string, entries: Entry[]): Promise<{ entries: Entry[]; rows: ReleasedRow[] }> {
  await tx.execute('SAVEPOINT round');
  try {
    return { entries, rows: await writeEntries(tx, tenantId, entries) };
  } catch (error) {
    if (!refusedValue(error)) throw error;
    await tx.execute('ROLLBACK TO SAVEPOINT round');
  }
  const done: Entry[] = [];
  const rows: ReleasedRow[] = [];
  for (const e of entries) {
    if (!e.w.parked) {
      rows.push(...(await writeEntries(tx, tenantId, [e])));
      done.push(e);
      continue;
    }
    await tx.execute('SAVEPOINT released');
    try {
      rows.push(...(await writeEntries(tx, tenantId, [e])));
      done.push(e);
    } catch (error) {
      const refused = refusedValue(error);
      if (!refused) throw error;
      await tx.execute('ROLLBACK TO SAVEPOINT released');
      const rejected = rejectedEntry(e.w, `${e.w.record?.module ?? e.w.event.module}: cannot store the record: ${refused}`);
      await writeEntries(tx, tenantId, [rejected]);
      done.push(rejected);
    }
  }
  return { entries: done, rows };
}

/**
 * Postgres refused a value of a record (SQLSTATE class 22, data exception; or a NOT NULL or
 * CHECK constraint): its message, else null.
 */
export function refusedValue(error: unknown): string | null {
  const text = errorText(error);
  if (!/\b(22[0-9A-Z]{3}|23502|23514)\b/.test(text)) return null;
  const message = error instanceof Error ? error.message : text;
  return message.trim().split('\n').filter(Boolean).at(-1) ?? message;
}

export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as Error & { code?: unknown; meta?: unknown; cause?: unknown };
  return [e.message, String(e.code ?? ''), JSON.stringify(e.meta ?? ''), e.cause ? errorText(e.cause) : ''].join(' ');
}

/** What the rounds of one transaction share: parked rows released already (not queued twice), the arrival counter, the batch events parked. */
interface RoundState {
  queued: Set<string>;
  seq: number;
  parked: [string, IncomingRecord][];
}

/** An enrolment's other identity: one per student and class (the unique index the keys do not show). */
function pairKeys(record: IncomingRecord, columns: Partial<Record<string, string | null>>): string[] {
  return record.entity === 'Enrollment' && columns.studentId && columns.classId ? [`Enrollment|${columns.studentId}|${columns.classId}`] : [];
}

export function outcomeRow(id: string, outcome: { status: IngestStatus; message: string | null; entityType?: string | null; entityId?: string | null; studentId?: string | null }) {
  return { id, status: outcome.status, entityType: outcome.entityType ?? null, entityId: outcome.entityId ?? null, studentId: outcome.studentId ?? null, message: outcome.message };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const json = (value: unknown) => JSON.stringify(value);

/**
 * (Each UPDATE … FROM json also names its ids with `= ANY(…)`: the planner guesses 100 rows for a
 * json function and would rather hash-join them against a sequential scan of the table. Rows come
 * in as json, not jsonb: read once, they need no binary tree built first.)
 *
 * The round's one write statement: rows created and updated (per table and column set, from
 * json through the table's own row type, so every value gets its column's type), event
 * outcomes, parked rows added, re-pointed and removed, refused claims removed, learning
 * outcomes; its result: the parked events awaiting a key just stored (not those it removes),
 * in arrival order.
 */
export function writeRoundSql(tenantId: string, writes: RecordWrite[], effects: Effects[], learningOutcomes: NonNullable<Applied['learningOutcomes']>[], released: string[]): Prisma.Sql {
  const now = new Date();
  const ctes: Prisma.Sql[] = [];
  const groups = new Map<string, RecordWrite[]>();
  for (const w of writes) {
    // undefined sets nothing (as in Prisma): not a column of the statement.
    const data = Object.fromEntries(Object.entries(w.data).filter(([, v]) => v !== undefined));
    const key = `${w.kind}|${w.entity}|${Object.keys(data).sort().join(',')}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push({ ...w, data });
  }
  let n = 0;
  for (const [key, group] of groups) {
    const [kind, entity] = key.split('|') as ['create' | 'update', string];
    const columns = Object.keys(group[0]!.data).sort();
    const rows = json(group.map((w) => ({ ...w.data, id: w.id, tenantId })));
    const quoted = columns.map(quote);
    if (kind === 'create') {
      ctes.push(Prisma.sql`${Prisma.raw(`"w${n++}"`)} AS (
        INSERT INTO ${Prisma.raw(quote(entity))} ("id", "tenantId", ${Prisma.raw(quoted.join(', '))})
        SELECT x."id", x."tenantId", ${Prisma.raw(quoted.map((c) => `x.${c}`).join(', '))} FROM json_populate_recordset(NULL::${Prisma.raw(quote(entity))}, ${rows}::json) x)`);
    } else {
      ctes.push(Prisma.sql`${Prisma.raw(`"w${n++}"`)} AS (
        UPDATE ${Prisma.raw(quote(entity))} t SET ${Prisma.raw(quoted.map((c) => `${c} = x.${c}`).join(', '))}
          FROM json_populate_recordset(NULL::${Prisma.raw(quote(entity))}, ${rows}::json) x
         WHERE t."id" = x."id" AND t."id" = ANY(${group.map((w) => w.id)}::uuid[]))`);
    }
  }
  const outcomeRows = effects.flatMap((e) => (e.outcome ? [e.outcome] : []));
  if (outcomeRows.length) {
    ctes.push(Prisma.sql`"outcomes" AS (
      UPDATE "SyncEvent" s SET "status" = x."status"::"IngestStatus", "entityType" = x."entityType", "entityId" = x."entityId",
             "studentId" = x."studentId", "message" = x."message", "processedAt" = ${now}
        FROM json_to_recordset(${json(outcomeRows)}::json) AS x("id" uuid, "status" text, "entityType" text, "entityId" uuid, "studentId" uuid, "message" text)
       WHERE s."id" = x."id" AND s."id" = ANY(${outcomeRows.map((o) => o.id)}::uuid[]))`);
  }
  const parks = effects.flatMap((e) => (e.park ? [{ ...e.park, id: randomUUID() }] : []));
  if (parks.length) {
    ctes.push(Prisma.sql`"park" AS (
      INSERT INTO "ParkedEvent" ("id", "tenantId", "syncEventId", "awaiting", "payload", "recordKeys", "attempts", "createdAt", "updatedAt")
      SELECT x."id", ${tenantId}, x."syncEventId", x."awaiting", x."payload", x."recordKeys", 0, ${now}, ${now}
        FROM jsonb_to_recordset(${json(parks)}::jsonb) AS x("id" uuid, "syncEventId" uuid, "awaiting" text, "payload" jsonb, "recordKeys" text[]))`);
  }
  const reparks = effects.flatMap((e) => (e.repark ? [e.repark] : []));
  if (reparks.length) {
    ctes.push(Prisma.sql`"repark" AS (
      UPDATE "ParkedEvent" p SET "awaiting" = x."awaiting", "payload" = coalesce(x."payload", p."payload"),
             "recordKeys" = coalesce(x."recordKeys", p."recordKeys"),
             "attempts" = p."attempts" + (CASE WHEN x."payload" IS NULL THEN 1 ELSE 0 END), "updatedAt" = ${now}
        FROM jsonb_to_recordset(${json(reparks)}::jsonb) AS x("id" uuid, "awaiting" text, "payload" jsonb, "recordKeys" text[])
       WHERE p."id" = x."id" AND p."id" = ANY(${reparks.map((r) => r.id)}::uuid[]))`);
  }
  const unparked = effects.flatMap((e) => (e.unpark ? [e.unpark] : []));
  if (unparked.length) ctes.push(Prisma.sql`"unpark" AS (DELETE FROM "ParkedEvent" WHERE "id" = ANY(${unparked}::uuid[]))`);
  const unclaimed = effects.flatMap((e) => (e.unclaim ? [e.unclaim] : []));
  if (unclaimed.length) ctes.push(Prisma.sql`"unclaim" AS (DELETE FROM "SyncEvent" WHERE "id" = ANY(${unclaimed}::uuid[]))`);
  const los = learningOutcomes.flatMap(({ gradeId, outcomes: list }) => list.map((lo, position) => ({ ...lo, achieved: lo.achieved ?? false, id: randomUUID(), gradeId, position })));
  if (los.length) {
    ctes.push(Prisma.sql`"learningOutcomes" AS (
      INSERT INTO "LearningOutcome" ("id", "gradeId", "position", "code", "title", "definition", "score", "feedback", "achieved")
      SELECT x."id", x."gradeId", x."position", x."code", x."title", x."definition", x."score", x."feedback", x."achieved"
        FROM json_to_recordset(${json(los)}::json)
          AS x("id" uuid, "gradeId" uuid, "position" int, "code" text, "title" text, "definition" text, "score" text, "feedback" text, "achieved" boolean))`);
  }
  const select = Prisma.sql`
    SELECT p."id", p."awaiting", s."id" AS "syncEventId", s."idempotencyKey", s."source"::text AS "source",
           s."module", s."operation", s."recordId"
      FROM unnest(${[...new Set(released)]}::text[]) AS k("key")
     CROSS JOIN LATERAL (${parkedAwaiting(tenantId, Prisma.sql`k."key"`)}) p
     CROSS JOIN LATERAL (SELECT * FROM "SyncEvent" e WHERE e."id" = p."syncEventId" LIMIT 1) s
     WHERE p."id" <> ALL(${unparked}::uuid[])
     ORDER BY p."createdAt", p."id"`;
  return ctes.length ? Prisma.sql`WITH ${Prisma.join(ctes)} ${select}` : select;
}
