/**
 * The ingest's transactions on the pg pool (src/db/sql.ts): atomic, typed as Prisma's raw
 * queries were, prepared on second sight except statements planned each time, and run with the
 * settings that keep volatile-table lookups on their indexes.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { withSessionSettings } from '../../src/db/client.js';
import { sqlQuery, sqlTransaction } from '../../src/db/sql.js';
import { Prisma } from '../../src/generated/prisma/client.js';
import { useFreshDatabase } from '../support/database.js';

const database = useFreshDatabase();

const prepared = async (tx: { query: <T>(sql: string) => Promise<T[]> }, fragment: string) =>
  (await tx.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements')).some((r) => r.statement.includes(fragment));

describe('sqlTransaction', () => {
  it('commits on success, rolls back and rethrows on failure', async () => {
    const key = `sql-tx-${Date.now()}`;
    await sqlTransaction((tx) => tx.execute(Prisma.sql`INSERT INTO "Tenant" ("id", "name", "webhookSecret") VALUES (${key}, 'SQL test', 's')`));
    const failing = sqlTransaction(async (tx) => {
      await tx.execute(Prisma.sql`UPDATE "Tenant" SET "webhookSecret" = 'changed' WHERE "id" = ${key}`);
      await tx.query('SELECT 1/0');
    });
    await expect(failing).rejects.toMatchObject({ code: '22012' });
    expect(await database.db.tenant.findUnique({ where: { id: key }, select: { webhookSecret: true } })).toEqual({ webhookSecret: 's' });
    await database.db.tenant.delete({ where: { id: key } });
  });

  it('a statement that failed unheard (its error caught, nobody awaiting it) fails the transaction: COMMIT would have answered ROLLBACK', async () => {
    const key = `sql-tx-unheard-${Date.now()}`;
    const attempt = sqlTransaction(async (tx) => {
      await tx.execute(Prisma.sql`INSERT INTO "Tenant" ("id", "name", "webhookSecret") VALUES (${key}, 'SQL test', 's')`);
      // As a read sent ahead that no later round uses (batch.ts prefetchReads).
      tx.query('SELECT 1/0').catch(() => {});
    });
    await expect(attempt).rejects.toMatchObject({ code: '22012' });
    expect(await database.db.tenant.count({ where: { id: key } })).toBe(0);
  });

  it('returns int8 as bigint and timestamp columns as UTC Dates; sends Dates as UTC', async () => {
    const at = new Date('2026-03-04T05:06:07.089Z');
    const [row] = await sqlTransaction((tx) =>
      tx.query<{ n: bigint; at: Date; text: string }>(Prisma.sql`SELECT 7::int8 AS "n", ${at}::timestamp(3) AS "at", ${at}::timestamp(3)::text AS "text"`),
    );
    expect(row).toEqual({ n: 7n, at, text: '2026-03-04 05:06:07.089' });
  });

  it('runs with lock and statement timeouts and enable_seqscan off, for this transaction only', async () => {
    const settings = await sqlTransaction((tx) =>
      tx.query<{ lock: string; statement: string; seq: string }>("SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement, current_setting('enable_seqscan') AS seq"),
    );
    expect(settings).toEqual([{ lock: '30s', statement: '30s', seq: 'off' }]);
    const [outside] = await database.db.$queryRawUnsafe<{ seq: string }[]>("SELECT current_setting('enable_seqscan') AS seq");
    expect(outside).toEqual({ seq: 'on' });
  });

  it('plans a prepared statement once per connection inside a transaction (generic plans only), and leaves other statements to Postgres', async () => {
    const text = "SELECT count(*)::int AS n FROM unnest($1::text[]) AS k(key) JOIN \"Tenant\" t ON t.\"id\" = k.key -- generic-plan probe";
    const plans = await sqlTransaction(async (tx) => {
      for (let i = 0; i < 8; i++) await tx.query(text, [['default', `t${i}`]]);
      return tx.query<{ generic: string; custom: string; mode: string }>(
        "SELECT generic_plans::text AS generic, custom_plans::text AS custom, current_setting('plan_cache_mode') AS mode FROM pg_prepared_statements WHERE statement LIKE '%generic-plan probe%' AND statement NOT LIKE '%pg_prepared_statements%'",
      );
    });
    // Named on its second sight (client.ts statementName): 7 executions as a prepared statement, none custom.
    expect(plans).toEqual([{ generic: '7', custom: '0', mode: 'force_generic_plan' }]);
    expect(await sqlQuery<{ mode: string }>("SELECT current_setting('plan_cache_mode') AS mode", [])).toEqual([{ mode: 'auto' }]);
  });

  it("plans the app's sessions for an in-memory read model (random_page_cost 1.1), every path on the pool alike", async () => {
    const [viaTransaction] = await sqlTransaction((tx) => tx.query<{ cost: string }>("SELECT current_setting('random_page_cost') AS cost"));
    const [viaQuery] = await sqlQuery<{ cost: string }>("SELECT current_setting('random_page_cost') AS cost", []);
    const [viaPrisma] = await database.db.$queryRawUnsafe<{ cost: string }[]>("SELECT current_setting('random_page_cost') AS cost");
    expect([viaTransaction, viaQuery, viaPrisma]).toEqual([{ cost: '1.1' }, { cost: '1.1' }, { cost: '1.1' }]);
    // Set by the app's sessions (the startup packet), not the server: another session keeps the server's own.
    const source = "SELECT source FROM pg_settings WHERE name = 'random_page_cost'";
    expect(await sqlQuery<{ source: string }>(source, [])).toEqual([{ source: 'client' }]);
    const bare = new URL(database.url);
    bare.searchParams.delete('options');
    const other = new pg.Client({ connectionString: bare.toString(), options: '' });
    await other.connect();
    try {
      expect((await other.query<{ source: string }>(source)).rows[0]!.source).not.toBe('client');
    } finally {
      await other.end();
    }
  });

  it("keeps an operator's startup options, after its own (DATABASE_URL options, else PGOPTIONS): the last value of a setting wins", async () => {
    const settings = async (url: string) => {
      const pool = new pg.Pool({ ...withSessionSettings(url), max: 1 });
      try {
        return (await pool.query("SELECT current_setting('random_page_cost') AS cost, current_setting('work_mem') AS mem")).rows[0];
      } finally {
        await pool.end();
      }
    };
    const url = (options?: string) => {
      const u = new URL(database.url);
      if (options === undefined) u.searchParams.delete('options');
      else u.searchParams.set('options', options);
      return u.toString();
    };
    const before = process.env.PGOPTIONS;
    try {
      delete process.env.PGOPTIONS;
      expect(await settings(url('-c work_mem=9MB'))).toEqual({ cost: '1.1', mem: '9MB' });
      expect(await settings(url('-c random_page_cost=2'))).toMatchObject({ cost: '2' });
      process.env.PGOPTIONS = '-c work_mem=7MB';
      expect(await settings(url())).toEqual({ cost: '1.1', mem: '7MB' });
    } finally {
      if (before === undefined) delete process.env.PGOPTIONS;
      else process.env.PGOPTIONS = before;
    }
  });

  it('prepares a statement the second time it is seen', async () => {
    const found = await sqlTransaction(async (tx) => {
      await tx.query(Prisma.sql`SELECT ${0}::int AS "once_probe"`);
      for (let i = 0; i < 2; i++) await tx.query(Prisma.sql`SELECT ${i}::int AS "prepared_probe"`);
      return { prepared: await prepared(tx, 'prepared_probe'), once: await prepared(tx, 'once_probe') };
    });
    expect(found).toEqual({ prepared: true, once: false });
  });

  it('a connection that dies mid-transaction fails that transaction only (the process lives, the pool recovers)', async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const attempt = sqlTransaction(async (tx) => {
        const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [row!.pid]);
        await new Promise((resolve) => setTimeout(resolve, 50)); // the server's goodbye arrives between statements
        await tx.query('SELECT 1');
      });
      await expect(attempt).rejects.toThrow(/terminat|Connection/i);
      expect(await sqlTransaction((tx) => tx.query<{ ok: number }>('SELECT 1 AS ok'))).toEqual([{ ok: 1 }]);
    } finally {
      await admin.end();
    }
  });

  it('reports every statement it sends, BEGIN and COMMIT included', async () => {
    database.statements.length = 0;
    await sqlTransaction((tx) => tx.query('SELECT 1'));
    expect(database.statements).toEqual(['BEGIN', 'SELECT 1', 'COMMIT']);
  });
});
