/**
 * `npm run migration:create -- <name>`: writes the SQL taking prisma/migrations to
 * prisma/schema.prisma as prisma/migrations/<UTC yyyymmddHHMMSS>_<name>/migration.sql.
 * The migrations are replayed in a temporary shadow database on the server of
 * DATABASE_URL (default: the local postgres), created and dropped by the schema engine.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultAdminUrl, diffMigrationsToSchema, MIGRATION_LOCK, migrationsDir } from './lib/schema-engine.js';

function utcTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14);
}

async function main(): Promise<void> {
  const rawName = process.argv.slice(2).join('_');
  const name = rawName.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!name) {
    console.error('Usage: npm run migration:create -- <name>');
    process.exit(2);
  }
  const sql = await diffMigrationsToSchema(process.env.DATABASE_URL ?? defaultAdminUrl);
  if (!sql) {
    console.log('No changes: prisma/migrations already matches prisma/schema.prisma.');
    return;
  }
  const folder = join(migrationsDir, `${utcTimestamp()}_${name}`);
  await mkdir(folder, { recursive: true });
  await writeFile(join(migrationsDir, 'migration_lock.toml'), MIGRATION_LOCK);
  await writeFile(join(folder, 'migration.sql'), sql);
  console.log(`Wrote ${join(folder, 'migration.sql')}`);
}

await main();
