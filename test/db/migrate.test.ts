import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate } from '../../src/db/migrate.js';
import { databaseUrl, dropDatabase, uniqueName, withAdmin } from '../support/postgres.js';

const migrationsDir = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
const created: string[] = [];

/** A fresh empty database on the test server; dropped in afterAll. */
async function createDatabase(): Promise<string> {
  const name = uniqueName('cg_migrate_test');
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  created.push(name);
  return databaseUrl(name);
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
});

describe('migrate()', () => {
  let url: string;
  let names: string[];

  beforeAll(async () => {
    url = await createDatabase();
    names = (await listMigrations()).map((m) => m.name);
  });

  it('applies every migration folder to a fresh database, in order', async () => {
    expect(names.length).toBeGreaterThan(0);
    const { applied } = await migrate(url);
    expect(applied).toEqual(names);
    const tables = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'Student'`);
    expect(tables[0]!.n).toBe(1);
  });

  it('applies nothing the second time', async () => {
    const log: string[] = [];
    expect(await migrate(url, { log: (m) => log.push(m) })).toEqual({ applied: [] });
    expect(log).toEqual(['Database schema is up to date']);
  });

  it('records each migration as `prisma migrate deploy` does', async () => {
    const rows = await query<{
      id: string;
      checksum: string;
      migration_name: string;
      finished_at: Date | null;
      started_at: Date;
      rolled_back_at: Date | null;
      applied_steps_count: number;
    }>(url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(names);
    for (const row of rows) {
      const bytes = await readFile(join(migrationsDir, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it('has the exact _prisma_migrations columns Prisma creates', async () => {
    const columns = await query<{ column_name: string; data_type: string; len: number | null; is_nullable: string; column_default: string | null }>(
      url,
      `SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default
         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', len: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', len: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', len: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', len: null, is_nullable: 'NO', column_default: '0' },
    ]);
  });

  it('throws, naming the migration, when an applied migration was edited', async () => {
    const tampered = await createDatabase();
    await migrate(tampered);
    await query(tampered, `UPDATE _prisma_migrations SET checksum = repeat('0', 64) WHERE migration_name = '${names[0]}'`);
    await expect(migrate(tampered)).rejects.toThrow(new RegExp(`Migration ${names[0]} was modified after it was applied`));
  });
});

describe('migrate() from several instances at once', () => {
  it('applies each migration once and every caller succeeds', async () => {
    const url = await createDatabase();
    const names = (await listMigrations()).map((m) => m.name);
    const results = await Promise.all([migrate(url), migrate(url), migrate(url), migrate(url)]);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
    const rows = await query<{ migration_name: string }>(url, 'SELECT migration_name FROM _prisma_migrations');
    expect(rows.map((r) => r.migration_name).sort()).toEqual(names);
  });
});

describe('a failing migration', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cg-migrations-'));
    await cp(migrationsDir, dir, { recursive: true });
    await mkdir(join(dir, '99990101000000_broken'));
    await writeFile(
      join(dir, '99990101000000_broken', 'migration.sql'),
      'CREATE TABLE "Half" (id int);\nSELECT 1 / 0;\n',
    );
  });

  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('throws with the folder name and the Postgres message, and leaves no trace of it', async () => {
    const url = await createDatabase();
    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      /Migration 99990101000000_broken failed: division by zero/,
    );
    const half = await query<{ t: string | null }>(url, `SELECT to_regclass('"Half"')::text AS t`);
    expect(half[0]!.t).toBeNull();
    const rows = await query<{ migration_name: string }>(url, 'SELECT migration_name FROM _prisma_migrations');
    expect(rows.map((r) => r.migration_name)).toEqual((await listMigrations()).map((m) => m.name));
  });
});

describe('a database with tables but no migration history', () => {
  it('is refused, like `prisma migrate deploy` (P3005)', async () => {
    const url = await createDatabase();
    await query(url, 'CREATE TABLE legacy (id int)');
    await expect(migrate(url)).rejects.toThrow(/P3005/);
  });
});
