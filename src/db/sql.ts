/**
 * Straight on the pg pool, without Prisma: the ingest's transactions (src/ingest) and the
 * compiled reads' single statements (src/read). Both are raw SQL already (set-based ingest
 * statements built per batch; one statement building a response), and Prisma's interactive
 * transactions and raw-query machinery cost a fifth of the gateway's CPU per ingested event
 * (bench S3, back to back: 1.49–1.79 → 0.98–1.07 ms) and ≈ 18 % per compiled dashboard
 * (S1: 2.01 → 1.58–1.66 ms) for nothing they add here. The rest of the app stays on Prisma;
 * both share one pool and one prepared-statement naming (client.ts statementName).
 *
 * Values come back as Prisma's raw queries return them: int8 as bigint, `timestamp` columns
 * (Prisma's DateTime, stored as UTC) as Dates in UTC; Dates sent are ISO strings in UTC.
 */
import pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import { currentPool, statementName } from './client.js';

export interface SqlTx {
  /** The statement's rows (`sql`: built with Prisma.sql, or a text with `$n` placeholders and `values`). */
  query<T>(sql: Prisma.Sql | string, values?: readonly unknown[]): Promise<T[]>;
  /** The number of rows the statement touched. */
  execute(sql: Prisma.Sql | string, values?: readonly unknown[]): Promise<number>;
  /**
   * Sends a statement whose result nobody reads (taking locks, say) without waiting for it: it
   * travels with the next statement, which Postgres runs after it. That next statement (or
   * COMMIT) also waits for it and fails with its error, so nothing can rely on it before then.
   */
  send(sql: Prisma.Sql | string, values?: readonly unknown[]): void;
}

/** Hears every statement these transactions send, BEGIN and COMMIT included (tests count them). */
export type StatementListener = (text: string) => void;
const listeners = new Set<StatementListener>();

export function onStatement(listener: StatementListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const INT8 = 20;
const TIMESTAMP = 1114;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return (value: string) => BigInt(value);
    if (oid === TIMESTAMP) return (value: string) => new Date(`${value.replace(' ', 'T')}Z`);
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  },
};

/**
 * The tables the ingest reads most by key — ParkedEvent, and SyncEvent on a young database —
 * are often near-empty when analysed (by autovacuum, or VACUUM ANALYZE) and thousands of rows a
 * minute later. Planned from such statistics (and kept, as a prepared statement's generic plan),
 * lookups became scans of the whole tenant: a sequential scan, or an index on tenantId alone
 * filtering the rest. Measured, bench S3 right after VACUUM ANALYZE of the emptied tables: claim
 * 0.93 → 3.28 ms per statement, Postgres CPU per event 0.55 → 0.87 ms. Two remedies:
 * - the lookups are written as one index probe per key (batch.ts parkedAwaiting: LATERAL, fenced),
 *   a shape no statistics can turn into a scan (test/db/ingest-plans.test.ts);
 * - every transaction runs with enable_seqscan off (each of our lookups has its index; a
 *   sequential scan remains possible where none can serve).
 * lock_timeout and statement_timeout: no lock wait and no statement takes more than 30 s (the
 * bound Prisma's 30 s transaction timeout gave); a tenant's batches run one at a time, so one
 * stuck transaction must not hold its queue forever.
 * plan_cache_mode = force_generic_plan: a prepared statement is planned once per connection, not
 * at every execution. 93 % of an S3 run's statements are prepared (the claim, the read, COMMIT,
 * the lock and release lookups, recurring write shapes), yet Postgres spent 12.9 % of its CPU
 * parsing and planning (perf, stop 19): under the default `auto`, a statement over unnest()ed
 * arrays keeps getting custom plans when its few-element custom plans cost less than a generic
 * plan's guess of 10 elements. S3, 3 alternating rounds: Postgres CPU per event 0.66 / 0.71 /
 * 0.66 → 0.58 / 0.65 / 0.61 ms, events/s 598 / 475 / 585 → 670 / 601 / 644. (The dashboard's
 * statement gains nothing from it: S1 2 rounds, 3.3 / 3.2 → 3.6 / 3.3 ms of Postgres CPU.)
 * The remedies above keep such plans index probes per key: the event tables' lookups (batch.ts),
 * and the read model's (store.ts probeSql: fenced, by key and tenant, on unique indexes led by
 * the key), which before a table's first ANALYZE (a fresh database filling up) had read many of
 * the tenant's rows through another tenantId-led index — 14,656 Student index entries for one
 * grade among 3,000 students, 6 now (test/db/ingest-plans.test.ts, with and without statistics).
 */
const TRANSACTION_SETTINGS =
  "SET LOCAL lock_timeout = '30s'; SET LOCAL statement_timeout = '30s'; SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan";

/** The pg query of a statement: reported to listeners, named (client.ts statementName), Dates as UTC ISO strings. */
function queryConfig(sql: Prisma.Sql | string, values: readonly unknown[] = []): pg.QueryConfig {
  const text = typeof sql === 'string' ? sql : sql.text;
  for (const listener of listeners) listener(text);
  const name = statementName(text);
  const params = (typeof sql === 'string' ? values : sql.values).map((v) => (v instanceof Date ? v.toISOString() : v));
  return { text, values: params as unknown[], types, ...(name ? { name } : {}) };
}

/** One statement outside a transaction, on the app's pool (the compiled reads, src/read): named and typed as in transactions. */
export async function sqlQuery<T>(text: string, values: readonly unknown[]): Promise<T[]> {
  const pool = currentPool();
  if (!pool) throw new Error('sqlQuery: no database bound (useDatabase)');
  return (await pool.query(queryConfig(text, values))).rows as T[];
}

/**
 * Runs `work` in a transaction on a connection of the app's pool: COMMIT when it resolves,
 * ROLLBACK (and the error) when it throws.
 */
export async function sqlTransaction<T>(work: (tx: SqlTx) => Promise<T>): Promise<T> {
  const pool = currentPool();
  if (!pool) throw new Error('sqlTransaction: no database bound (useDatabase)');
  const client = await pool.connect();
  // Statements sent without waiting (the pool's clients pipeline, client.ts): the next one awaited
  // waits for them too. Postgres answers in order, so the first to fail is the one that failed
  // first (not the "transaction is aborted" of those behind it).
  let unanswered: Promise<unknown>[] = [];
  // A statement that failed aborts the transaction even if nobody heard its error (a read sent
  // ahead that no later step used): COMMIT then answers ROLLBACK, which pg does not raise. The
  // latest failure is the one that aborted it (an earlier one may have been rolled back to a
  // savepoint; those behind it only say the transaction is aborted, 25P02).
  let failed: unknown;
  const heard = (sent: Promise<pg.QueryResult>) => {
    sent.catch((error: unknown) => {
      if ((error as { code?: string }).code !== '25P02') failed = error;
    });
    return sent;
  };
  const run = async (sql: Prisma.Sql | string, values?: readonly unknown[]): Promise<pg.QueryResult> => {
    const sent = heard(client.query(queryConfig(sql, values)));
    if (!unanswered.length) return sent;
    const before = unanswered;
    unanswered = [];
    return (await Promise.all([...before, sent])).at(-1) as pg.QueryResult;
  };
  const tx: SqlTx = {
    query: async <R>(sql: Prisma.Sql | string, values?: readonly unknown[]) => (await run(sql, values)).rows as R[],
    execute: async (sql, values) => (await run(sql, values)).rowCount ?? 0,
    send: (sql, values) => void unanswered.push(heard(client.query(queryConfig(sql, values)))),
  };
  // pg emits 'error' on a checked-out client whose connection dies (restart, failover,
  // pg_terminate_backend) even between queries, and pg-pool listens only while it is idle:
  // unheard, that event would take the process down. The failing query rejects on its own.
  let broken = false;
  const onError = () => (broken = true);
  client.on('error', onError);
  try {
    for (const listener of listeners) listener('BEGIN');
    // A simple query may carry several statements; the transaction outlives it. Sent with the
    // first statement: that one cannot run outside the transaction, since a well-formed BEGIN on
    // an idle connection does not fail alone (a failing SET LOCAL aborts the transaction and the
    // statement behind it with it; a broken connection fails both).
    unanswered.push(client.query(`BEGIN; ${TRANSACTION_SETTINGS}`));
    const result = await work(tx);
    const committed = await run('COMMIT');
    if (committed.command !== 'COMMIT') throw failed ?? new Error(`COMMIT answered ${committed.command}: the transaction was rolled back`);
    return result;
  } catch (error) {
    await Promise.allSettled(unanswered);
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw error;
  } finally {
    // A connection that died or could not even roll back is dropped, not handed to the next caller.
    client.off('error', onError);
    client.release(broken);
  }
}
