import { buildApp } from './app.js';
import { signToken } from './auth/jwt.js';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { prepareRuntime } from './runtime.js';

const config = loadConfig();
const log = createLogger(config.log.level);
// A promise some library dropped must not take the gateway down with every request in flight.
process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection'));

try {
  const runtime = await prepareRuntime(config, log);
  const app = buildApp({
    log,
    jwtSecret: runtime.jwtSecret,
    jwtPublicKey: config.auth.jwtPublicKey,
    jwksUrl: config.auth.jwksUrl,
    defaultTenant: config.tenancy.defaultTenant,
    redisUrl: config.redis.url,
    cacheTtlSeconds: config.cache.ttlSeconds,
    introspection: config.graphql.introspection,
    zoho: config.zoho,
    webhookToleranceSeconds: config.webhooks.toleranceSeconds,
    rateLimits: config.rateLimits,
  });
  const port = await app.start(config.http.port, config.http.host);

  const url = `http://localhost:${port}/graphql`;
  log.info(
    { url, database: runtime.embedded ? 'embedded' : 'DATABASE_URL', cache: config.redis.url ? 'redis' : 'memory' },
    'campus-graph is up',
  );
  if (!config.production) {
    const token = await signToken({ sub: 'dev-admin', role: 'admin', tenant: config.tenancy.defaultTenant }, runtime.jwtSecret);
    process.stdout.write(
      [
        '',
        `  GraphiQL:   ${url}`,
        `  Live sync:  http://localhost:${port}/admin`,
        '  Headers:    paste into GraphiQL\'s "Headers" tab:',
        `  {"Authorization": "Bearer ${token}"}`,
        '',
        '  More tokens: npm run token -- --role student --moodle-user-id 00042',
        '',
      ].join('\n'),
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await app.stop();
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
} catch (error) {
  log.fatal({ err: error }, 'campus-graph failed to start');
  process.exit(1);
}
