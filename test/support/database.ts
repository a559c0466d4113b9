import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { useDatabase, type Db } from '../../src/db/client.js';
import { onStatement } from '../../src/db/sql.js';
import { databaseUrl, dropDatabase, uniqueName, withAdmin } from './postgres.js';

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  /** SQL statements run since the last reset (Prisma `query` events and the ingest's transactions, db/sql.ts). */
  statements: string[];
}

/**
 * Gives the calling test file a database of its own, cloned from the seeded template, bound
 * as the app's `db`, with a recorder of every SQL statement it runs. Dropped afterwards.
 */
export function useFreshDatabase(): TestDatabase {
  const handle = { statements: [] as string[] } as TestDatabase;
  let stopRecording: (() => void) | undefined;
  beforeAll(async () => {
    handle.name = uniqueName('cg_test');
    await withAdmin((c) => c.query(`CREATE DATABASE "${handle.name}" TEMPLATE "${inject('templateDatabase')}"`));
    handle.url = databaseUrl(handle.name);
    handle.db = useDatabase(handle.url, { logQueries: true, poolSize: 5 });
    handle.db.$on('query', (event) => handle.statements.push(event.query));
    stopRecording = onStatement((text) => handle.statements.push(text));
  });
  afterAll(async () => {
    stopRecording?.();
    await handle.db?.$disconnect();
    if (handle.name) await dropDatabase(handle.name);
  });
  return handle;
}

/** Runs fn and returns the SQL statements it executed. */
export async function recordStatements<T>(database: TestDatabase, fn: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  database.statements.length = 0;
  const result = await fn();
  const statements = [...database.statements];
  return { result, statements };
}

/**
 * A connection of the test file's own to its database, beside the app's pool (another writer
 * holding locks, EXPLAIN, statistics): opened before the file's tests, ended after them.
 */
export function useOtherConnection(database: TestDatabase): () => pg.Client {
  let client: pg.Client | undefined;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });
  afterAll(() => client?.end());
  return () => {
    if (!client) throw new Error('useOtherConnection: used outside the tests');
    return client;
  };
}
