/**
 * Keeps prisma/schema.prisma and prisma/migrations honest: if someone edits the schema
 * without running `npm run migration:create -- <name>`, these fail and print the missing SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffDatabaseToSchema, diffMigrationsToSchema } from '../../scripts/lib/schema-engine.js';
import { migrate } from '../../src/db/migrate.js';
import { ADMIN_URL, databaseUrl, dropDatabase, uniqueName, withAdmin } from '../support/postgres.js';

const database = uniqueName('cg_drift_test');

describe('schema drift', () => {
  let url: string;

  beforeAll(async () => {
    await withAdmin((c) => c.query(`CREATE DATABASE "${database}"`));
    url = databaseUrl(database);
    await migrate(url);
  });

  afterAll(() => dropDatabase(database));

  it('a database migrated with prisma/migrations matches prisma/schema.prisma', async () => {
    expect(await diffDatabaseToSchema(url), 'schema.prisma changed without a migration').toBe('');
  });

  it('prisma/migrations (replayed in a shadow database) match prisma/schema.prisma', async () => {
    expect(await diffMigrationsToSchema(ADMIN_URL), 'schema.prisma changed without a migration').toBe('');
  });
});
