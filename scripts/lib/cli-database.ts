import { loadConfig } from '../../src/config.js';
import { createPrismaClient, type Db } from '../../src/db/client.js';
import { runningEmbeddedUrl, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';

/**
 * The database a developer tool works on: DATABASE_URL; else the embedded Postgres of a
 * running `npm start`; else the embedded Postgres started just for this command (then stopped).
 */
export async function withCliDatabase<T>(work: (db: Db) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const log = createLogger('warn');
  const url = config.database.url ?? (await runningEmbeddedUrl(config.dataDir));
  const embedded = url ? null : await startEmbeddedPostgres(config.dataDir, log);
  const databaseUrl = url ?? embedded!.url;
  await migrate(databaseUrl);
  const db = createPrismaClient(databaseUrl);
  try {
    return await work(db);
  } finally {
    await db.$disconnect();
    await embedded?.stop();
  }
}
