import type { Db } from '../../src/db/client.js';

/** Per table of the public schema: its row count and an md5 over every row (as text), ordered by id. */
export type TableChecksums = Record<string, { rows: number; md5: string }>;

/**
 * A fingerprint of the whole database: every row of every table (the synced tables, Tenant,
 * SyncEvent, ParkedEvent, the migrations table), each table hashed row by row in id order.
 * Two equal results mean nothing was inserted, updated or deleted in between. Compare the
 * records (not one combined hash) so a failure names the table that changed.
 */
export async function tableChecksum(db: Db): Promise<TableChecksums> {
  const tables = await db.$queryRawUnsafe<{ table: string; hasId: boolean }[]>(
    `SELECT c.relname AS "table",
            EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id' AND NOT a.attisdropped) AS "hasId"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
      ORDER BY c.relname`,
  );
  if (!tables.length) throw new Error('tableChecksum: no tables found in the public schema');
  // One statement, so every table is read from the same snapshot.
  const parts = tables.map(
    ({ table, hasId }) =>
      `SELECT ${quoteLiteral(table)} AS "table", count(*)::int AS "rows",
              md5(coalesce(string_agg(t::text, '|' ORDER BY ${hasId ? 't.id, ' : ''}t::text), '')) AS "md5"
         FROM ${quoteIdent(table)} t`,
  );
  const rows = await db.$queryRawUnsafe<{ table: string; rows: number; md5: string }[]>(parts.join('\nUNION ALL\n'));
  return Object.fromEntries(rows.map((r) => [r.table, { rows: r.rows, md5: r.md5 }]));
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
