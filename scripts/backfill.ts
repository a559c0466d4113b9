/**
 * Loads Zoho CRM records into the read model of the database at DATABASE_URL, through the
 * ingest pipeline, with a progress bar. Interrupted (Ctrl-C, a crash, a Zoho outage), the
 * same command continues after the last page fully ingested.
 *
 *   npm run backfill -- --module BTEC_Students [--since 2026-01-01] [--tenant default] [--restart]
 *   npm run backfill -- --module all          (every module, parents first)
 *
 * Spends Zoho API credits from the same budget as the gateway (shared through REDIS_URL when set).
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { loadConfig } from '../src/config.js';
import { useDatabase } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { Ingestor } from '../src/ingest/pipeline.js';
import { createLogger } from '../src/logger.js';
import { createRedis, redisReady } from '../src/redis.js';
import { BACKFILL_ORDER, BackfillError, isBackfillModule, runBackfill, type BackfillProgress, type BackfillSummary } from '../src/zoho/backfill.js';
import { createZohoClient } from '../src/zoho/client.js';
import type { ZohoModule } from '../src/ingest/zoho-records.js';

const USAGE = 'usage: npm run backfill -- --module <BTEC_Students|…|all> [--since <date>] [--tenant <id>] [--restart]';

/** A problem with the command line or the setup: one line, exit 2. */
class UsageError extends Error {}

interface Args {
  modules: ZohoModule[];
  since: Date | null;
  tenant: string;
  restart: boolean;
}

function parseBackfillArgs(argv: string[], defaultTenant: string): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      module: { type: 'string' },
      since: { type: 'string' },
      tenant: { type: 'string', default: defaultTenant },
      restart: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.module) throw new UsageError('--module is required');
  const modules = values.module === 'all' ? [...BACKFILL_ORDER] : [values.module];
  for (const module of modules) {
    if (!isBackfillModule(module)) throw new UsageError(`--module: unknown Zoho module "${module}"; expected one of ${BACKFILL_ORDER.join(', ')} or all`);
  }
  let since: Date | null = null;
  if (values.since !== undefined) {
    since = new Date(values.since);
    if (Number.isNaN(since.getTime())) throw new UsageError(`--since: expected a date such as 2026-01-31 or 2026-01-31T10:00:00+03:00, got "${values.since}"`);
  }
  if (!values.tenant.trim()) throw new UsageError('--tenant must not be empty');
  return { modules: modules as ZohoModule[], since, tenant: values.tenant, restart: values.restart };
}

function describeCounts(counts: BackfillProgress['counts']): string {
  return (
    Object.entries(counts)
      .map(([status, n]) => `${status.toLowerCase()} ${n}`)
      .join(', ') || 'nothing yet'
  );
}

const interactive = Boolean(process.stderr.isTTY);

/** A cli-progress bar on a terminal; one line per page otherwise (CI logs, pipes). */
function progressView(module: ZohoModule, signal: AbortSignal) {
  const stopping = () => (signal.aborted ? ' · stopping after this page (Ctrl-C again to quit now)' : '');
  const bar = new cliProgress.SingleBar(
    {
      format: `${module.padEnd(18)} |{bar}| {value} records · page {page} · {counts}`,
      stream: process.stderr,
      hideCursor: true,
      barsize: 30,
      etaBuffer: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let lastCounts = 'starting';
  const onAbort = () => {
    if (interactive) bar.update({ counts: `${lastCounts}${stopping()}` });
    else process.stderr.write('backfill: stopping after the current page (Ctrl-C again to quit now)\n');
  };
  return {
    start(start: { startPage: number; records: number; resumed: boolean }) {
      if (start.resumed) process.stderr.write(`${module}: continuing at page ${start.startPage} (${start.records} records already ingested)\n`);
      if (interactive) bar.start(start.records + 200, start.records, { page: start.startPage, counts: 'starting' });
      signal.addEventListener('abort', onAbort, { once: true });
    },
    page(progress: BackfillProgress) {
      const counts = describeCounts(progress.counts);
      lastCounts = counts;
      if (interactive) {
        bar.setTotal(progress.moreRecords ? progress.records + 200 : progress.records);
        bar.update(progress.records, { page: progress.page, counts: `${counts}${stopping()}` });
      } else {
        process.stderr.write(`${module}: page ${progress.page} (${progress.pageRecords} records), ${progress.records} in all · ${counts}\n`);
      }
    },
    stop() {
      signal.removeEventListener('abort', onAbort);
      if (interactive) bar.stop();
    },
  };
}

function report(summary: BackfillSummary, elapsedMs: number): string {
  const state = summary.done ? 'done' : summary.interrupted ? `interrupted after page ${summary.page}` : `stopped after page ${summary.page}`;
  return `${summary.module}: ${state}: ${summary.records} records in ${summary.page} pages (${describeCounts(summary.counts)}); ${summary.zohoCalls} Zoho calls; ${(elapsedMs / 1000).toFixed(1)} s`;
}

async function main(): Promise<number> {
  const config = loadConfig();
  const args = parseBackfillArgs(process.argv.slice(2), config.tenancy.defaultTenant);
  const url = config.database.url;
  if (!url) throw new UsageError('DATABASE_URL is required: the database to fill (e.g. DATABASE_URL=postgresql://postgres@127.0.0.1:5432/campus_graph npm run backfill -- --module BTEC_Students)');
  if (!config.zoho.enabled) throw new UsageError('the Zoho API is not configured: set ZOHO_API_URL, ZOHO_ACCOUNTS_URL, ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN');

  // The command prints its own one-line outcomes; the library's retry warnings would repeat them.
  const log = createLogger(config.log.level === 'info' || config.log.level === 'warn' ? 'error' : config.log.level);
  await migrate(url);
  const db = useDatabase(url, { poolSize: 6 });
  const redis = config.redis.url ? createRedis(config.redis.url, log, 'backfill') : null;
  if (redis) await redisReady(redis).catch(() => process.stderr.write('backfill: Redis unreachable; the credit budget is counted in this process only\n'));
  const client = createZohoClient(config.zoho, { redis, log })!;
  const ingestor = new Ingestor();
  const controller = new AbortController();
  const interrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  try {
    if (!(await db.tenant.findUnique({ where: { id: args.tenant }, select: { id: true } }))) {
      throw new UsageError(`tenant "${args.tenant}" does not exist in this database (start the gateway once for the default tenant, or: npm run tenant -- add ${args.tenant})`);
    }
    for (const module of args.modules) {
      const view = progressView(module, controller.signal);
      const started = performance.now();
      let summary: BackfillSummary;
      try {
        summary = await runBackfill({
          client,
          ingestor,
          tenantId: args.tenant,
          module,
          since: args.since,
          restart: args.restart,
          signal: controller.signal,
          onStart: (start) => view.start(start),
          onPage: (progress) => view.page(progress),
        });
      } catch (error) {
        view.stop();
        if (error instanceof BackfillError) {
          process.stderr.write(`backfill: ${error.message}\n${report(error.summary, performance.now() - started)}\nRun the same command again to continue at page ${error.summary.page + 1}.\n`);
          return 1;
        }
        throw error;
      }
      view.stop();
      console.log(report(summary, performance.now() - started));
      if (summary.interrupted) {
        process.stderr.write(`Run the same command again to continue at page ${summary.page + 1}.\n`);
        return 130;
      }
    }
    console.log(`Zoho credits left in the rolling 24 h: ${await client.remainingCredits()} of ${config.zoho.dailyCredits}`);
    return 0;
  } finally {
    client.close();
    redis?.disconnect();
    await db.$disconnect();
  }
}

function isParseArgsError(error: unknown): error is Error {
  return error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || isParseArgsError(error)) {
      process.stderr.write(`backfill: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      const text = error instanceof Error ? error.message : String(error);
      process.stderr.write(`backfill: failed: ${text.trim().split('\n').at(-1)}\n`);
      process.exitCode = 1;
    }
  },
);
