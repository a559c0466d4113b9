import { createHash } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { readFile } from 'node:fs/promises';
import { createPrismaClient } from '../../src/db/client.js';
import { listMigrations, migrate } from '../../src/db/migrate.js';
import { seedCollege } from '../../src/db/seed.js';
import { ensureTenant } from '../../src/db/tenants.js';
import { databaseUrl, withAdmin } from './postgres.js';
import { TEST_TENANTS, TEST_SEED } from './fixtures.js';

/**
 * Builds once per run a migrated, seeded template database; each test file then clones it
 * (CREATE DATABASE … TEMPLATE, a file copy) for a fresh database of its own. The template's
 * name hashes the migrations, the seed code and the day (seeded dates are relative to today).
 */
export default async function setup(project: TestProject) {
  const migrations = await listMigrations();
  const seedSource = await readFile(new URL('../../src/db/seed.ts', import.meta.url), 'utf8');
  const today = new Date().toISOString().slice(0, 10);
  const hash = createHash('sha256')
    .update(migrations.map((m) => m.checksum).join())
    .update(seedSource)
    .update(JSON.stringify({ TEST_TENANTS, TEST_SEED, today }))
    .digest('hex')
    .slice(0, 12);
  const template = `cg_template_${hash}`;

  const exists = await withAdmin(async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    return Boolean(rowCount);
  });
  if (!exists) {
    const building = `${template}_building_${process.pid}`;
    await withAdmin((c) => c.query(`CREATE DATABASE "${building}"`));
    const url = databaseUrl(building);
    await migrate(url);
    const db = createPrismaClient(url);
    try {
      for (const tenant of TEST_TENANTS) {
        await ensureTenant(db, { id: tenant.id, webhookSecret: tenant.webhookSecret });
        await seedCollege(db, { tenantId: tenant.id, students: tenant.students, seed: tenant.seed, today: new Date(`${today}T00:00:00Z`) });
      }
    } finally {
      await db.$disconnect();
    }
    await withAdmin(async (c) => {
      await c.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`).catch(async (error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // another run built it meanwhile
        await c.query(`DROP DATABASE "${building}" WITH (FORCE)`);
      });
      // Old templates (earlier days, other migrations) and builds of crashed runs are left for nobody.
      const { rows } = await c.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'cg\\_template\\_%' AND datname <> $1",
        [template],
      );
      for (const { datname } of rows) {
        const builder = /_building_(\d+)$/.exec(datname);
        if (builder && processAlive(Number(builder[1]))) continue;
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
      }
    });
  }
  project.provide('templateDatabase', template);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
