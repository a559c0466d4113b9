import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server tests create their databases on (CI and dev machines run Postgres 15 here). */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `Tests need a real Postgres at ${ADMIN_URL} (set TEST_DATABASE_URL to use another): ${(error as Error).message}. ` +
        'Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/**
 * Resolves once a backend of `client`'s database other than its own waits for a lock of
 * `locktype` (pg_locks: 'advisory' for entity locks, 'transactionid' for another transaction's
 * uncommitted row); throws if none does within 5 s.
 */
export async function someoneWaitsFor(client: pg.Client, locktype: 'advisory' | 'transactionid'): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await client.query(
      `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = $1 AND NOT l.granted AND a.datname = current_database() AND a.pid <> pg_backend_pid()`,
      [locktype],
    );
    if (rows.length) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no transaction ever waited for a ${locktype} lock`);
}
