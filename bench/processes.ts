/**
 * The servers under test run as separate processes: the gateway (`node --import tsx
 * src/main.ts`, production settings) and the PostGraphile peer (on its own Node 22). Logs go
 * to bench/results/<name>.log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

export interface Service {
  name: string;
  pid: number;
  port: number;
  url: string;
  logFile: string;
  /** Resident set size of the process, bytes. */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : NaN;
}

/** Minimal environment: nothing of the caller's DATABASE_URL & co leaks into a server. */
function baseEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

interface StartOptions {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  port: number;
  /** Path polled with GET until it answers 200 … */
  readyPath: string;
  /** … or this check, when given. */
  ready?: (url: string) => Promise<boolean>;
  readyTimeoutMs?: number;
}

export async function startService(options: StartOptions): Promise<Service> {
  const logFile = path.join(RESULTS_DIR, `${options.name}.log`);
  const log = createWriteStream(logFile, { flags: 'w' });
  const child: ChildProcess = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...baseEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exited !== undefined) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-25).join('\n');
      throw new Error(`${options.name} exited during start (code ${exited}); last log lines:\n${tail}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready after ${(options.readyTimeoutMs ?? 90_000) / 1000} s (log: ${logFile})`);
    }
    const ok = options.ready ? await options.ready(url).catch(() => false) : await fetch(`${url}${options.readyPath}`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    name: options.name,
    pid: child.pid!,
    port: options.port,
    url,
    logFile,
    rss: () => rssOf(child.pid!),
    stop: async () => {
      if (exited === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exit;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}

export interface GatewayOptions {
  name: string;
  databaseUrl: string;
  redisUrl: string | undefined;
  jwtSecret: string;
  webhookSecret: string;
  cacheTtlSeconds: number;
  poolSize?: number | undefined;
  /** Extra environment (experiments). */
  env?: Record<string, string>;
  /** Another checkout to run (scratch copies for experiments); default the repository. */
  cwd?: string;
  /** Extra node flags (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
  /** Another node binary (e.g. a newer release); default the one running the bench. */
  node?: string;
}

export async function startGateway(options: GatewayOptions): Promise<Service> {
  const port = await freePort();
  return startService({
    name: options.name,
    command: options.node ?? process.execPath,
    args: [...(options.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts'],
    cwd: options.cwd ?? REPO_ROOT,
    port,
    readyPath: '/health',
    env: {
      DATABASE_URL: options.databaseUrl,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      JWT_SECRET: options.jwtSecret,
      WEBHOOK_SECRET: options.webhookSecret,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      CACHE_TTL_SECONDS: String(options.cacheTtlSeconds),
      ...(options.poolSize ? { DATABASE_POOL_SIZE: String(options.poolSize) } : {}),
      // The load comes from one address and a few tokens: the per-IP / per-viewer / per-tenant
      // rate limits (src/http/rate-limits.ts) would answer 429 instead of measuring capacity.
      RATE_LIMIT_PER_VIEWER: '0',
      RATE_LIMIT_PER_IP: '0',
      RATE_LIMIT_WEBHOOKS_PER_TENANT: '0',
      ...options.env,
    },
  });
}

/** The transport floor (bench/floor/server.mjs): every request answered with `bodyFile`'s bytes. */
export function startFloor(bodyFile: string): Promise<Service> {
  return startFloorServer('floor', 'server.mjs', { BODY_FILE: bodyFile });
}

/** The webhook floor (bench/floor/webhook-server.mjs): signature check + JSON parse, no database. */
export function startWebhookFloor(secret: string): Promise<Service> {
  return startFloorServer('webhook-floor', 'webhook-server.mjs', { SECRET: secret });
}

/** The webhook floor that also commits each distinct event to `databaseUrl` before answering. */
export function startDurableWebhookFloor(secret: string, databaseUrl: string): Promise<Service> {
  return startFloorServer('durable-webhook-floor', 'durable-webhook-server.mjs', { SECRET: secret, DATABASE_URL: databaseUrl });
}

async function startFloorServer(name: string, script: string, env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  return startService({
    name,
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'bench', 'floor', script)],
    cwd: REPO_ROOT,
    port,
    readyPath: '/',
    env: { PORT: String(port), ...env },
  });
}
