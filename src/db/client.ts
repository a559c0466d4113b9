import { PrismaPg } from '@prisma/adapter-pg';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };

export interface DatabaseOptions {
  /** Pool size of the pg driver (default 10). */
  poolSize?: number;
  /** Emit `query` events (used by tests to count SQL statements). */
  logQueries?: boolean;
}

/**
 * Planner costs for a read model that lives in memory: a random page costs about what a
 * sequential one does (Postgres' default 4 assumes spinning disks). With the default, the
 * dashboard's per-row lookups of small tables (a class's teacher and unit, a grade's unit, a
 * registration's program) were sequential scans filtering every row, and its lists bitmap heap
 * scans; with 1.1 they are index scans. Measured: Postgres CPU per dashboard −15 to −40 % (bench
 * S1, alternating runs: 3.0 / 3.9 / 3.6 → 2.6 / 2.2 / 2.5 ms; psql, 1,200 prepared dashboards,
 * 11 alternating rounds: 3.0 → 2.5 ms). Only this app's sessions. Startup options come after
 * it, from DATABASE_URL's `options` or else PGOPTIONS (which pg would otherwise drop for ours):
 * the last `-c` of a setting wins, so an operator's own value does.
 */
const SESSION_SETTINGS = '-c random_page_cost=1.1';

export function withSessionSettings(url: string): { connectionString: string; options: string } {
  const parsed = new URL(url);
  const own = parsed.searchParams.get('options') ?? process.env.PGOPTIONS;
  parsed.searchParams.delete('options');
  return { connectionString: parsed.toString(), options: [SESSION_SETTINGS, own].filter(Boolean).join(' ') };
}

/** Creates a Prisma client on the pg driver adapter. */
export function createPrismaClient(url: string, options: DatabaseOptions = {}) {
  // A caller waits at most 10 s for a free connection (then fails as the database being away).
  // pipeline: a statement is sent without waiting for the one before (node-postgres pipelining):
  // awaited one by one, statements run as without it; sql.ts sends a transaction's BEGIN with
  // its first statement.
  const pool = new pg.Pool({ ...withSessionSettings(url), max: options.poolSize ?? 10, connectionTimeoutMillis: 10_000, pipeline: true });
  // An idle client losing its server (database restart) must not crash the process.
  pool.on('error', () => {});
  pools.set(url, pool);
  const adapter = new PrismaPg(pool, { statementNameGenerator: (query) => statementName(query.sql) });
  const client = new PrismaClient({
    adapter,
    log: options.logQueries ? [{ emit: 'event', level: 'query' }] : [],
  });
  // The adapter does not end a pool it was given: $disconnect ends ours too.
  const disconnect = client.$disconnect.bind(client);
  client.$disconnect = async () => {
    await disconnect();
    if (!pool.ended) await pool.end();
    pools.delete(url);
  };
  return client;
}

/**
 * Names statements so Postgres parses and plans each SQL text once per connection instead of on
 * every request: the dashboard's single statement (≈ 40 lateral joins) spent about half of its
 * Postgres CPU in planning (bench: 22.6 → 12.2 ms per request). A text is named the second time
 * it is seen, so one-off texts (an ingest batch's write statement, whose CTEs follow the batch)
 * are not kept prepared on every connection. The set of names is bounded; texts beyond it run
 * unnamed, as before. Not for PgBouncer in transaction mode. Shared by Prisma and the ingest's
 * transactions (sql.ts): a name means the same text on every connection of the process.
 */
export const statementName = preparedStatementNames();

function preparedStatementNames(limit = 2000) {
  const names = new Map<string, string>();
  const seenOnce = new LRUCache<string, true>({ max: limit });
  return (sql: string): string => {
    const known = names.get(sql);
    if (known !== undefined) return known;
    if (names.size >= limit) return '';
    if (!seenOnce.has(sql)) {
      seenOnce.set(sql, true);
      return '';
    }
    const name = `cg_${createHash('sha1').update(sql).digest('base64url')}`;
    names.set(sql, name);
    return name;
  };
}

export type Db = ReturnType<typeof createPrismaClient>;

const pools = new Map<string, pg.Pool>();
let currentUrl: string | null = null;

/** The pg pool behind the bound `db` (for pool-usage metrics). */
export function currentPool(): pg.Pool | null {
  return currentUrl ? (pools.get(currentUrl) ?? null) : null;
}

/**
 * The process-wide Prisma client (a module singleton, never put on the GraphQL context).
 * Bound by `useDatabase()` once the database URL is known (the embedded Postgres starts
 * asynchronously); ES module live bindings make the new value visible to every importer.
 */
export let db: Db = undefined as unknown as Db;

export function useDatabase(url: string, options: DatabaseOptions = {}): Db {
  db = createPrismaClient(url, options);
  currentUrl = url;
  return db;
}
