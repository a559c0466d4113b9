import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };

export interface DatabaseOptions {
  /** Pool size of the pg driver (default 10). */
  poolSize?: number;
  /** Emit `query` events (used by tests to count SQL statements). */
  logQueries?: boolean;
}

/** Creates a Prisma client on the pg driver adapter. */
export function createPrismaClient(url: string, options: DatabaseOptions = {}) {
  const adapter = new PrismaPg({ connectionString: url, max: options.poolSize ?? 10 });
  return new PrismaClient({
    adapter,
    log: options.logQueries ? [{ emit: 'event', level: 'query' }] : [],
  });
}

export type Db = ReturnType<typeof createPrismaClient>;

/**
 * The process-wide Prisma client (a module singleton, never put on the GraphQL context).
 * Bound by `useDatabase()` once the database URL is known (the embedded Postgres starts
 * asynchronously); ES module live bindings make the new value visible to every importer.
 */
export let db: Db = undefined as unknown as Db;

export function useDatabase(url: string, options: DatabaseOptions = {}): Db {
  db = createPrismaClient(url, options);
  return db;
}
