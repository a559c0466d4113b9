/**
 * Applies prisma/migrations at app start, recording them exactly as `prisma migrate deploy`
 * does, so the native Prisma CLI accepts the same database (and vice versa).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const defaultMigrationsDir = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** Prisma Migrate's lock id (the native engine takes the same one). */
const PRISMA_MIGRATE_LOCK_ID = 72707369;

/** Prisma's own DDL for its history table (schema engine, postgres flavour). */
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

export interface Migration {
  /** The folder name, e.g. `20261122000000_init`; recorded as `migration_name`. */
  name: string;
  sql: string;
  /** sha256 hex of the migration.sql bytes, as Prisma records it. */
  checksum: string;
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  logs: string | null;
}

export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** Like Prisma, a checksum also matches the same script with LF/CRLF line endings swapped (git autocrlf). */
function checksumMatches(sql: string, checksum: string): boolean {
  return [sql, sql.replaceAll('\r\n', '\n'), sql.replaceAll('\n', '\r\n')].some((s) => migrationChecksum(s) === checksum);
}

/** Every `<folder>/migration.sql` of the migrations folder, sorted by folder name. */
export async function listMigrations(dir = defaultMigrationsDir): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(`${dir}/${name}/migration.sql`, 'utf8').catch((err: Error) => {
        throw new Error(`Migration ${name}: cannot read migration.sql (${err.message})`);
      });
      return { name, sql, checksum: migrationChecksum(sql) };
    }),
  );
}

/**
 * Brings the database at `databaseUrl` up to date with prisma/migrations.
 *
 * - Serialised by `pg_advisory_lock(72707369)`: concurrent callers (several instances
 *   starting at once) wait, then find the work done; each migration is applied once.
 * - Creates `_prisma_migrations` with Prisma's DDL if missing. Like `migrate deploy`, refuses
 *   a database that has tables but no migration history (baseline it first).
 * - Applies each migration not yet recorded (rolled-back records don't count), in name
 *   order, each in its own transaction together with its `_prisma_migrations` row
 *   (checksum, started_at, finished_at, applied_steps_count = 1): a failing migration throws
 *   `Migration <name> failed: <postgres message>` and leaves no trace; earlier ones stay.
 * - Throws, before applying anything, if an applied migration's file was edited (checksum
 *   mismatch), or if the history holds an unfinished (failed) migration.
 *
 * @returns the names of the migrations applied by this call (empty when up to date).
 */
export async function migrate(
  databaseUrl: string,
  opts: { log?: (msg: string) => void; migrationsDir?: string } = {},
): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const migrations = await listMigrations(opts.migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_ID]);
    await ensureMigrationsTable(client);
    const history = await readHistory(client);
    checkHistory(history, migrations);

    const done = new Set(history.map((row) => row.migration_name));
    const applied: string[] = [];
    for (const migration of migrations.filter((m) => !done.has(m.name))) {
      const started = Date.now();
      await applyMigration(client, migration);
      log(`Applied migration ${migration.name} (${Date.now() - started} ms)`);
      applied.push(migration.name);
    }
    if (applied.length === 0) log('Database schema is up to date');
    return { applied };
  } finally {
    // Ending the session also releases the advisory lock.
    await client.end();
  }
}

async function ensureMigrationsTable(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ exists: boolean; tables: number }>(
    `SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists,
            (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND n.nspname = current_schema()) AS tables`,
  );
  const { exists, tables } = rows[0]!;
  if (exists) return;
  if (tables > 0) {
    throw new Error(
      'The database schema is not empty but has no _prisma_migrations table (Prisma P3005): ' +
        'baseline it (record the already-present migrations) before migrating.',
    );
  }
  await client.query(CREATE_MIGRATIONS_TABLE);
}

async function readHistory(client: pg.Client): Promise<MigrationRow[]> {
  const { rows } = await client.query<MigrationRow>(
    `SELECT migration_name, checksum, finished_at, logs FROM _prisma_migrations
      WHERE rolled_back_at IS NULL ORDER BY started_at`,
  );
  return rows;
}

function checkHistory(history: MigrationRow[], migrations: Migration[]): void {
  const failed = history.filter((row) => row.finished_at === null);
  if (failed.length > 0) {
    const details = failed.map((row) => `${row.migration_name}${row.logs ? `: ${row.logs.trim()}` : ''}`).join('\n');
    throw new Error(
      `Found failed migrations in _prisma_migrations (Prisma P3009); resolve them first:\n${details}`,
    );
  }
  const byName = new Map(migrations.map((m) => [m.name, m]));
  for (const row of history) {
    const migration = byName.get(row.migration_name);
    if (migration && !checksumMatches(migration.sql, row.checksum)) {
      throw new Error(
        `Migration ${row.migration_name} was modified after it was applied ` +
          `(checksum in _prisma_migrations ${row.checksum}, file ${migration.checksum}). ` +
          'Restore the file and put the change in a new migration.',
      );
    }
  }
}

async function applyMigration(client: pg.Client, migration: Migration): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    await client.query(
      'INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) VALUES ($1, $2, clock_timestamp(), $3)',
      [id, migration.checksum, migration.name],
    );
    // No parameters: the simple query protocol runs a multi-statement script.
    await client.query(migration.sql);
    await client.query(
      `UPDATE _prisma_migrations
          SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp()
        WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw new Error(`Migration ${migration.name} failed: ${(err as Error).message}`, { cause: err });
  }
}
