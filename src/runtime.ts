import type { Config } from './config.js';
import { useDatabase } from './db/client.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { seedCollege } from './db/seed.js';
import { ensureTenant } from './db/tenants.js';
import { persistedSecret } from './dev-secrets.js';
import type { Logger } from './logger.js';

export interface Runtime {
  databaseUrl: string;
  embedded: boolean;
  jwtSecret: string;
  webhookSecret: string;
  /** Disconnects Prisma and stops the embedded Postgres, if any. */
  close(): Promise<void>;
}

/** Students in the demo college seeded on the embedded database's first start. */
const DEMO_STUDENTS = 240;

/**
 * Everything the app runs on, ready: the database (DATABASE_URL, or an embedded Postgres
 * kept in <dataDir>/postgres), migrations applied, secrets (generated and kept under
 * <dataDir> in development), the default tenant, and demo data on an empty embedded database.
 */
export async function prepareRuntime(config: Config, log: Logger): Promise<Runtime> {
  const embedded = config.database.url ? null : await startEmbeddedPostgres(config.dataDir, log);
  const databaseUrl = config.database.url ?? embedded!.url;
  try {
    const { applied } = await migrate(databaseUrl, { log: (message) => log.info(message) });
    if (applied.length) log.info({ applied }, 'migrations applied');

    const jwtSecret = config.auth.jwtSecret ?? (await persistedSecret(config.dataDir, 'jwt-secret'));
    const webhookSecret = config.tenancy.webhookSecret ?? (await persistedSecret(config.dataDir, 'webhook-secret'));
    const db = useDatabase(databaseUrl, { poolSize: config.database.poolSize });
    await ensureTenant(db, {
      id: config.tenancy.defaultTenant,
      webhookSecret,
      zohoChannelToken: config.tenancy.zohoChannelToken,
    });

    if (embedded && (await db.student.count({ where: { tenantId: config.tenancy.defaultTenant } })) === 0) {
      const started = Date.now();
      const summary = await seedCollege(db, { tenantId: config.tenancy.defaultTenant, students: DEMO_STUDENTS });
      log.info({ students: summary.students, ms: Date.now() - started }, 'seeded the demo college');
    }

    return {
      databaseUrl,
      embedded: embedded !== null,
      jwtSecret,
      webhookSecret,
      close: async () => {
        await db.$disconnect();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}
