/**
 * npm run bench -- [--students 2000] [--duration 20] [--subscribers 5000] [--only S1,S2,S3,S4]
 *                  [--skip-peer] [--connections 64] [--events 3000] [--in-flight 32] [--s4-rate 50]
 *                  [--admin-subscribers 20] [--hot-students 500] [--pool N] [--seed 1]
 *
 * Loads a deterministic dataset into the database `campus_graph_bench` of the local Postgres
 * (127.0.0.1:5432, user postgres; an embedded Postgres when none answers), starts the gateway
 * as a separate process per scenario and drives it over loopback from this process:
 *   S1  the full dashboard, response cache off, 64 connections; the peer (PostGraphile 5 on
 *       Node 22, same database, same settings) and S2 side by side with it (alternating turns)
 *   S2  the same with the Redis response cache on, 500 distinct students requested repeatedly
 *   S3  signed Zoho + Moodle webhooks, shuffled, 10 % duplicates; then the exact final state
 *   S4  N graphql-ws subscribers while S3-style ingest runs: delivery latency, memory
 * Prints one markdown table and writes bench/results/latest.json.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Redis } from 'ioredis';
import pg from 'pg';
import { signToken } from '../src/auth/jwt.js';
import { DASHBOARD_QUERY } from '../src/dashboard-query.js';
import { databaseUrlFor, ensureDataset, type DatasetInfo } from './dataset.js';
import { startCpuProbe } from './cpu.js';
import { runLoad, percentile, summarizeRuns, type LoadResult } from './http-load.js';
import { cleanupIngested, createSender, ingestTransactions, planDashboardChanges, planS3, runTag, sendEvents, transactionsSince, verifyS3, type DashboardTarget, type SendResult, type Verification, type WebhookEvent } from './ingest.js';
import { countGateway, countPeer, ensurePeerInstalled, PEER_DASHBOARD_QUERY, startPeer, type PeerInstall } from './peer.js';
import { RESULTS_DIR, startDurableWebhookFloor, startFloor, startGateway, startWebhookFloor, type Service } from './processes.js';
import { startSqlCounter, type StatementCounts } from './sql-counter.js';
import { openSubscribers, type SubscriberSpec } from './subscribers.js';

const USAGE =
  'usage: npm run bench -- [--students 2000] [--duration 20] [--subscribers 5000] [--only S1,S2,S3,S4] [--skip-peer]\n' +
  '                        [--connections 64] [--events 3000] [--in-flight 32] [--s4-rate 50] [--admin-subscribers 20] [--hot-students 500] [--pool N] [--seed 1]';

const TENANT = 'default';
const DATABASE = 'campus_graph_bench';
const JWT_SECRET = 'campus-graph-bench-jwt-secret-0123456789abcdef';
const WEBHOOK_SECRET = 'campus-graph-bench-webhook-secret-0123456789';
const PG_SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
/** Redis database 13: the cache can be flushed without touching anyone else's keys. */
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';
const WARMUP_SECONDS = 3;
let PG_ADMIN_URL = () => PG_SERVER;
/**
 * Experiments without touching src/: BENCH_GATEWAY_ENV (JSON object merged into the gateway's
 * environment, e.g. {"DATABASE_POOL_SIZE":"20"} or {"NODE_OPTIONS":"--cpu-prof"}) and
 * BENCH_GATEWAY_CWD (run the gateway from a scratch copy of the repository), BENCH_GATEWAY_NODE_ARGS
 * (node flags such as "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_GATEWAY_NODE (another node
 * binary for the gateway, e.g. a newer release).
 */
const experiment: { env?: Record<string, string>; cwd?: string; nodeArgs?: string[]; node?: string } = {
  ...(process.env.BENCH_GATEWAY_NODE ? { node: process.env.BENCH_GATEWAY_NODE } : {}),
  ...(process.env.BENCH_GATEWAY_NODE_ARGS ? { nodeArgs: process.env.BENCH_GATEWAY_NODE_ARGS.split(' ').filter(Boolean) } : {}),
  ...(process.env.BENCH_GATEWAY_ENV ? { env: JSON.parse(process.env.BENCH_GATEWAY_ENV) as Record<string, string> } : {}),
  ...(process.env.BENCH_GATEWAY_CWD ? { cwd: process.env.BENCH_GATEWAY_CWD } : {}),
};

// ---------------------------------------------------------------------------------------
// Arguments

function intArg(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got "${value}"`);
  return n;
}

function parseOptions() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      students: { type: 'string' },
      duration: { type: 'string' },
      subscribers: { type: 'string' },
      only: { type: 'string' },
      'skip-peer': { type: 'boolean', default: false },
      connections: { type: 'string' },
      events: { type: 'string' },
      'in-flight': { type: 'string' },
      's4-rate': { type: 'string' },
      'admin-subscribers': { type: 'string' },
      'hot-students': { type: 'string' },
      pool: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const only = new Set((values.only ?? 'S1,S2,S3,S4').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean));
  for (const s of only) if (!['S1', 'S2', 'S3', 'S4'].includes(s)) throw new Error(`--only: unknown scenario ${s} (S1, S2, S3, S4)`);
  const subscribers = intArg('subscribers', values.subscribers, 5000);
  return {
    students: intArg('students', values.students, 2000),
    duration: intArg('duration', values.duration, 20),
    subscribers,
    only,
    skipPeer: values['skip-peer'],
    connections: intArg('connections', values.connections, 64),
    events: intArg('events', values.events, 3000, 100),
    inFlight: intArg('in-flight', values['in-flight'], 32),
    s4Rate: intArg('s4-rate', values['s4-rate'], 50),
    adminSubscribers: Math.min(subscribers, intArg('admin-subscribers', values['admin-subscribers'], 20, 0)),
    hotStudents: intArg('hot-students', values['hot-students'], 500),
    pool: values.pool === undefined ? undefined : intArg('pool', values.pool, 10),
    seed: intArg('seed', values.seed, 1, 0),
  };
}

type Options = ReturnType<typeof parseOptions>;

// ---------------------------------------------------------------------------------------
// Output

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Row {
  scenario: string;
  metric: string;
  value: string;
  peer?: string;
  ratio?: string;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toLocaleString('en-GB', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
const mark = (ok: boolean) => (ok ? '✓' : '✗');

function table(rows: Row[]): string {
  const lines = ['| scenario | metric | value | peer | ratio |', '|---|---|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.scenario} | ${r.metric} | ${r.value} | ${r.peer ?? ''} | ${r.ratio ?? ''} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// Infrastructure

async function postgresServer(): Promise<{ url: string; embedded: boolean; stop: () => Promise<void> }> {
  const probe = new pg.Client({ connectionString: PG_SERVER, connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    await probe.end();
    return { url: PG_SERVER, embedded: false, stop: async () => {} };
  } catch {
    log(`postgres: nothing answers at ${PG_SERVER}; starting an embedded Postgres in .data/bench-postgres`);
    const { startEmbeddedPostgres } = await import('../src/db/embedded.js');
    const { createLogger } = await import('../src/logger.js');
    const embedded = await startEmbeddedPostgres(path.join(process.cwd(), '.data', 'bench-postgres'), createLogger('warn'));
    return { url: databaseUrlFor(embedded.url, 'postgres'), embedded: true, stop: () => embedded.stop() };
  }
}

async function redisInfo(): Promise<{ url: string | undefined; version: string | null }> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const info = await redis.info('server');
    return { url: REDIS_URL, version: /redis_version:(\S+)/.exec(info)?.[1] ?? null };
  } catch {
    log(`redis: nothing answers at ${REDIS_URL}; the gateway runs with its in-process cache and pub/sub (S2 then measures the memory cache)`);
    return { url: undefined, version: null };
  } finally {
    redis.disconnect();
  }
}

async function flushRedisDb(url: string | undefined): Promise<number> {
  if (!url) return 0;
  const redis = new Redis(url);
  try {
    await redis.flushdb();
    return 0;
  } finally {
    redis.disconnect();
  }
}

async function redisKeys(url: string | undefined): Promise<number | null> {
  if (!url) return null;
  const redis = new Redis(url);
  try {
    return await redis.dbsize();
  } finally {
    redis.disconnect();
  }
}

function openFileLimit(): { soft: number; hard: number } {
  const text = execFileSync('cat', ['/proc/self/limits'], { encoding: 'utf8' });
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(text);
  const n = (v: string | undefined) => (v === 'unlimited' || v === undefined ? Infinity : Number(v));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/** Raises this process's open-file limit (children inherit it) when N sockets need more. */
function ensureFileLimit(needed: number): string {
  const before = openFileLimit();
  if (before.soft >= needed) return `ulimit -n ${before.soft} (enough for ${needed}; unchanged)`;
  const target = Math.max(needed, Math.min(before.hard, 1_048_576));
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${Math.max(target, before.hard)}`]);
    const after = openFileLimit();
    return `ulimit -n raised ${before.soft} → ${after.soft} with prlimit (needed ${needed})`;
  } catch (error) {
    return `ulimit -n ${before.soft} < ${needed} and could not be raised (${(error as Error).message.split('\n')[0]})`;
  }
}

async function facts(pgUrl: string, redisVersion: string | null) {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  const settings = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'max_connections', 'shared_preload_libraries', 'jit', 'work_mem')`,
  );
  await client.end();
  const cpus = os.cpus();
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: process.cwd(), encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  return {
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    /** Files of src/ differing from that commit when the bench ran (the gateway runs the work tree). */
    gitDirtySrcFiles: git(['status', '--porcelain', '--', 'src', 'prisma']).split('\n').filter(Boolean).length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    /** The gateway's node when BENCH_GATEWAY_NODE names another binary. */
    ...(experiment.node ? { gatewayNode: execFileSync(experiment.node, ['--version'], { encoding: 'utf8' }).trim() } : {}),
    postgres: version,
    postgresSettings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
    redis: redisVersion,
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

// ---------------------------------------------------------------------------------------
// Dashboard requests

interface StudentRef {
  id: string;
  zohoId: string;
  moodleUserId: string;
  fullName: string;
  registrationZohoId: string | null;
}

async function liveStudents(url: string): Promise<StudentRef[]> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const { rows } = await pool.query<StudentRef>(
      `SELECT s.id, s."zohoId", s."moodleUserId", s."fullName",
              (SELECT r."zohoId" FROM "Registration" r WHERE r."studentId" = s.id AND r."deletedAt" IS NULL ORDER BY r."startDate" DESC LIMIT 1) AS "registrationZohoId"
         FROM "Student" s WHERE s."tenantId" = $1 AND s."deletedAt" IS NULL AND s."moodleUserId" IS NOT NULL AND s."zohoId" NOT LIKE '99%'
        ORDER BY s."moodleUserId"`,
      [TENANT],
    );
    return rows;
  } finally {
    await pool.end();
  }
}

/** Deterministic shuffle (so the hot set is the same every run). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed * 2654435761 + 1;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface PreparedRequest {
  body: string;
  headers: Record<string, string>;
  moodleUserId: string;
}

async function gatewayRequests(students: readonly StudentRef[]): Promise<PreparedRequest[]> {
  return Promise.all(
    students.map(async (s) => ({
      moodleUserId: s.moodleUserId,
      body: JSON.stringify({ query: DASHBOARD_QUERY, variables: { moodleUserId: s.moodleUserId } }),
      headers: { authorization: `Bearer ${await signToken({ sub: `student-${s.moodleUserId}`, role: 'student', tenant: TENANT, moodleUserId: s.moodleUserId }, JWT_SECRET, '6h')}` },
    })),
  );
}

function peerRequests(students: readonly StudentRef[]): PreparedRequest[] {
  return students.map((s) => ({
    moodleUserId: s.moodleUserId,
    body: JSON.stringify({ query: PEER_DASHBOARD_QUERY, variables: { tenantId: TENANT, moodleUserId: s.moodleUserId } }),
    headers: {},
  }));
}

function randomPicker(requests: readonly PreparedRequest[]) {
  return () => {
    const r = requests[Math.floor(Math.random() * requests.length)]!;
    return { body: r.body, headers: r.headers };
  };
}

async function postJson(url: string, request: PreparedRequest): Promise<{ status: number; json: { data?: unknown; errors?: unknown }; bytes: number }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...request.headers }, body: request.body });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) as { data?: unknown; errors?: unknown }, bytes: Buffer.byteLength(text) };
}

/** Sends `requests` once each and checks every answer is a full dashboard. */
async function validate(url: string, requests: readonly PreparedRequest[], count: (data: unknown) => unknown | null): Promise<{ bytes: number; counts: unknown[] }> {
  const counts: unknown[] = [];
  let bytes = 0;
  for (const request of requests) {
    const reply = await postJson(url, request);
    const counted = reply.status === 200 && !reply.json.errors ? count(reply.json.data) : null;
    if (!counted) throw new Error(`${url}: bad dashboard for ${request.moodleUserId}: HTTP ${reply.status} ${JSON.stringify(reply.json).slice(0, 400)}`);
    counts.push(counted);
    bytes += reply.bytes;
  }
  return { bytes: bytes / requests.length, counts };
}

type Measured = LoadResult & {
  cpuMsPerRequest: { server: number; postgres: number; loadGenerator: number };
  capacityOnTwoCores: number;
  /** The timed run's turns (side by side with `alongside`) and their length. */
  turns: { count: number; seconds: number; alongside: string[] };
};

interface Side {
  name: string;
  service: Service;
  next: () => { body: string; headers: Record<string, string> };
  /** Called after every side's warm-up, before the first timed turn. */
  beforeTimed?: () => void;
}

/** Length of one turn of a side when several are measured side by side. */
const SLICE_SECONDS = 2.5;
/** After a turn, before its CPU is read: time for the ≤ 64 requests left in the server (≈ 64 × 5 ms of CPU at most). */
const SETTLE_MS = 500;

/**
 * The sides under the same load in turns of ≈ SLICE_SECONDS each, alternating (ours, the peer's,
 * ours, …), so that this shared machine's speed, which drifts by ± 30 % from minute to minute,
 * falls on every side alike instead of deciding the ratio; each side's totals, percentiles and
 * CPU are over all its turns. Warm-up first, per side. One side: one run (CPU milliseconds per
 * request of the server, Postgres and this process, as for several).
 */
async function measureSideBySide(sides: readonly Side[], connections: number, seconds: number): Promise<Measured[]> {
  const turns = sides.length > 1 ? Math.max(1, Math.round(seconds / SLICE_SECONDS)) : 1;
  for (const side of sides) {
    log(`${side.name}: warm-up ${WARMUP_SECONDS} s`);
    await runLoad({ url: `${side.service.url}/graphql`, connections, durationSeconds: WARMUP_SECONDS, next: side.next });
  }
  for (const side of sides) side.beforeTimed?.();
  log(`${sides.map((s) => s.name).join(' and ')}: ${seconds} s${sides.length > 1 ? ` each, in ${turns} alternating turns of ${fmt(seconds / turns, 1)} s,` : ''} with ${connections} connections`);
  const acc = sides.map(() => ({ runs: [] as LoadResult[], samples: [] as number[], serverMs: 0, postgresMs: 0, loadGeneratorMs: 0 }));
  for (let turn = 0; turn < turns; turn++) {
    for (const [i, side] of sides.entries()) {
      const probe = await startCpuProbe(side.service.pid, PG_ADMIN_URL(), DATABASE);
      acc[i]!.runs.push(await runLoad({ url: `${side.service.url}/graphql`, connections, durationSeconds: seconds / turns, next: side.next, samples: acc[i]!.samples }));
      // The requests still in the server when the turn ends finish in it, charged to this side (not the next).
      if (sides.length > 1) await new Promise((r) => setTimeout(r, SETTLE_MS));
      const cpu = await probe.stop();
      acc[i]!.serverMs += cpu.serverMs;
      acc[i]!.postgresMs += cpu.postgresMs;
      acc[i]!.loadGeneratorMs += cpu.loadGeneratorMs;
    }
  }
  return sides.map((side, i) => {
    const a = acc[i]!;
    const result = summarizeRuns(a.runs, a.samples);
    const per = (ms: number) => (result.requests ? ms / result.requests : NaN);
    const cpuMsPerRequest = { server: per(a.serverMs), postgres: per(a.postgresMs), loadGenerator: per(a.loadGeneratorMs) };
    log(`${side.name}: ${fmt(result.rps)} req/s, p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ${result.non2xx} non-2xx, ${result.errors} errors; CPU ms/request: server ${fmt(cpuMsPerRequest.server, 2)}, Postgres ${fmt(cpuMsPerRequest.postgres, 2)}, load generator ${fmt(cpuMsPerRequest.loadGenerator, 2)}`);
    const alongside = sides.filter((other) => other !== side).map((other) => other.name);
    return { ...result, cpuMsPerRequest, capacityOnTwoCores: capacity(cpuMsPerRequest.server, cpuMsPerRequest.postgres), turns: { count: turns, seconds: seconds / turns, alongside } };
  });
}

/** Statements on the wire per dashboard request: a short run through the counting proxy. */
async function countStatements(
  start: (databaseUrl: string) => Promise<Service>,
  requests: readonly PreparedRequest[],
  databaseUrl: string,
  sample = 100,
): Promise<{ perRequest: number; counts: StatementCounts; sample: number }> {
  const upstream = new URL(databaseUrl);
  const counter = await startSqlCounter(upstream.hostname, Number(upstream.port || 5432));
  const proxied = new URL(databaseUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(counter.port);
  const service = await start(proxied.toString());
  try {
    // Warm: connections opened, caches filled, then count.
    for (const r of requests.slice(0, 5)) await postJson(`${service.url}/graphql`, r);
    counter.reset();
    const picked = requests.slice(0, sample);
    for (let i = 0; i < picked.length; i += 4) await Promise.all(picked.slice(i, i + 4).map((r) => postJson(`${service.url}/graphql`, r)));
    await new Promise((r) => setTimeout(r, 200));
    const counts = counter.counts();
    return { perRequest: counts.total / picked.length, counts, sample: picked.length };
  } finally {
    await service.stop();
    await counter.close();
  }
}

function kinds(counts: StatementCounts, per: number): string {
  return Object.entries(counts.byKind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${fmt(n / per, 2)} ${k}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------
// Main

interface Results {
  startedAt: string;
  finishedAt?: string;
  command: string;
  options: Omit<Options, 'only'> & { only: string[] };
  machine: Awaited<ReturnType<typeof facts>> & { loadAverageAtEnd?: number[]; openFiles?: string; peerNode?: string; postgraphile?: string };
  database: { server: string; embedded: boolean; name: string; dataset: DatasetInfo };
  redis: { url: string | null; version: string | null };
  scenarios: Record<string, unknown>;
  table: Row[];
  targets: { scenario: string; target: string; met: boolean; detail: string }[];
  notes: string[];
}

async function main() {
  const options = parseOptions();
  await mkdir(RESULTS_DIR, { recursive: true });
  const server = await postgresServer();
  PG_ADMIN_URL = () => server.url;
  const redis = await redisInfo();
  const machine = await facts(server.url, redis.version);
  const results: Results = {
    startedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: { ...options, only: [...options.only] },
    machine,
    database: { server: server.url.replace(/\/\/[^@]*@/, '//'), embedded: server.embedded, name: DATABASE, dataset: undefined as unknown as DatasetInfo },
    redis: { url: redis.url ?? null, version: redis.version },
    scenarios: {},
    table: [],
    targets: [],
    notes: [
      `Shared ${machine.cores}-core machine: the load generator (this process), the gateway, Postgres and Redis share the cores, and other engineers' work may run at the same time; load average at start ${machine.loadAverageAtStart.join(' / ')}.`,
      'Latency is closed-loop: each connection sends its next request when the previous answer arrived, so p50 ≈ connections ÷ throughput (Little\'s law).',
    ],
  };
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, Postgres ${machine.postgres}, Redis ${machine.redis ?? 'none'}`);

  const dataset = await ensureDataset(server.url, DATABASE, { students: options.students, seed: options.seed, tenantId: TENANT }, WEBHOOK_SECRET, log);
  results.database.dataset = dataset;
  const databaseUrl = databaseUrlFor(server.url, DATABASE);
  const maintenance = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const leftovers = await cleanupIngested(maintenance, TENANT);
  if (leftovers) log(`dataset: removed ${leftovers} rows left by an earlier interrupted ingest run`);

  const students = await liveStudents(databaseUrl);
  const order = shuffled(students, options.seed);
  const requests = await gatewayRequests(order);
  const rows: Row[] = [];
  const gateway = (name: string, cacheTtlSeconds: number, url = databaseUrl, extra: Partial<Parameters<typeof startGateway>[0]> = {}) =>
    startGateway({ name, databaseUrl: url, redisUrl: redis.url, jwtSecret: JWT_SECRET, webhookSecret: WEBHOOK_SECRET, cacheTtlSeconds, poolSize: options.pool, ...experiment, ...extra });
  const poolSize = options.pool ?? 10;
  if (experiment.cwd || experiment.env || experiment.nodeArgs || experiment.node) results.notes.push(`Experiment: gateway ${experiment.cwd ? `from ${experiment.cwd} ` : ''}${experiment.node ? `on ${experiment.node} ` : ''}with extra environment ${JSON.stringify(experiment.env ?? {})}${experiment.nodeArgs ? ` and node flags ${experiment.nodeArgs.join(' ')}` : ''}`);

  // ------------------------------------------------------------------ S1 + peer
  let s1: Measured | undefined;
  let s2: Measured | undefined;
  let floorBody: Buffer | undefined;
  let s1Statements: Awaited<ReturnType<typeof countStatements>> | undefined;
  // S2's gateway is set up first: S1, the peer and S2 are measured side by side (their ratios are targets).
  const s2Setup = options.only.has('S2') ? await prepareS2() : undefined;
  async function prepareS2() {
    await flushRedisDb(redis.url);
    const hot = requests.slice(0, Math.min(options.hotStudents, requests.length));
    const upstream = new URL(databaseUrl);
    const counter = await startSqlCounter(upstream.hostname, Number(upstream.port || 5432));
    const proxied = new URL(databaseUrl);
    proxied.port = String(counter.port);
    // An hour: entries written by the pre-warm, minutes before a long --duration's last turn, must not expire mid-run.
    const service = await gateway('gateway-s2', 3600, proxied.toString()).catch(async (error: unknown) => {
      await counter.close();
      throw error;
    });
    try {
      await validate(`${service.url}/graphql`, hot.slice(0, 3), countGateway);
      floorBody ??= await dashboardBody(`${service.url}/graphql`, hot[0]!);
      log(`S2: response cache on (${redis.url ? 'Redis' : 'memory'}), ${hot.length} distinct students (each requested once to pre-warm), then requested at random; Postgres traffic counted on the wire (misses)`);
      // Pre-warm: every hot student once (these are the cold misses); the warm-up at full load follows with the measurement.
      for (let i = 0; i < hot.length; i += 8) await Promise.all(hot.slice(i, i + 8).map((r) => postJson(`${service.url}/graphql`, r)));
    } catch (error) {
      await service.stop();
      await counter.close();
      throw error;
    }
    const setup = {
      hot,
      counter,
      service,
      warmupMisses: 0,
      side: {
        name: 'S2',
        service,
        next: randomPicker(hot),
        beforeTimed: () => {
          setup.warmupMisses = dashboardSelects(counter.counts());
          counter.reset();
        },
      } satisfies Side,
      async stop() {
        await service.stop();
        await counter.close();
      },
    };
    return setup;
  }

  try {
    if (options.only.has('S1')) {
      const service = await gateway('gateway-s1', 0);
      let check: Awaited<ReturnType<typeof validate>>;
      let peer: Measured | undefined;
      let peerService: Service | undefined;
      let peerSetup: { install: PeerInstall; requests: PreparedRequest[]; bytes: number; same: boolean } | undefined;
      try {
        check = await validate(`${service.url}/graphql`, requests.slice(0, 5), countGateway);
        floorBody ??= await dashboardBody(`${service.url}/graphql`, requests[0]!);
        log(`S1: dashboard ≈ ${fmt(check.bytes / 1024)} KiB; first student: ${JSON.stringify(check.counts[0])}`);
        if (!options.skipPeer) {
          try {
            const install: PeerInstall = await ensurePeerInstalled(log);
            results.machine.peerNode = install.nodeVersion;
            results.machine.postgraphile = install.postgraphileVersion;
            const peerReqs = peerRequests(order);
            peerService = await startPeer(databaseUrl, poolSize);
            const peerCheck = await validate(`${peerService.url}/graphql`, peerReqs.slice(0, 5), countPeer);
            const same = JSON.stringify(peerCheck.counts) === JSON.stringify(check.counts);
            log(`peer: PostGraphile ${install.postgraphileVersion} on Node ${install.nodeVersion}; response ≈ ${fmt(peerCheck.bytes / 1024)} KiB; same rows as the gateway for 5 students: ${same ? 'yes' : 'NO'}`);
            if (!same) results.notes.push(`Peer row counts differ from the gateway's: ${JSON.stringify(peerCheck.counts)} vs ${JSON.stringify(check.counts)}`);
            peerSetup = { install, requests: peerReqs, bytes: peerCheck.bytes, same };
          } catch (error) {
            log(`peer: failed: ${(error as Error).message}`);
            results.notes.push(`Peer not measured: ${(error as Error).message.split('\n')[0]}`);
            await peerService?.stop();
            peerService = undefined;
          }
        }
        // Measured side by side (alternating turns): the ratio must not depend on which minute each side ran in.
        const sides: Side[] = [{ name: 'S1', service, next: randomPicker(requests) }];
        if (peerService && peerSetup) sides.push({ name: 'peer', service: peerService, next: randomPicker(peerSetup.requests) });
        if (s2Setup) sides.push(s2Setup.side);
        const measured = await measureSideBySide(sides, options.connections, options.duration);
        s1 = measured[0];
        if (peerService && peerSetup) peer = measured[1];
        if (s2Setup) s2 = measured.at(-1);
      } finally {
        await service.stop();
        await peerService?.stop();
      }
      if (!s1) throw new Error('S1: no measurement');
      s1Statements = await countStatements((url) => gateway('gateway-s1-count', 0, url), requests, databaseUrl);
      log(`S1: ${fmt(s1Statements.perRequest, 2)} SQL statements per request on the wire (${kinds(s1Statements.counts, s1Statements.sample)})`);
      const scenario: Record<string, unknown> = { load: s1, bytesPerDashboard: check.bytes, sampleCounts: check.counts[0], statements: { perRequest: s1Statements.perRequest, byKind: s1Statements.counts.byKind, parses: s1Statements.counts.parses, sample: s1Statements.sample, texts: [...s1Statements.counts.texts.entries()].map(([sql, n]) => ({ sql, n })) } };
      results.scenarios.S1 = scenario;

      let peerStatements: Awaited<ReturnType<typeof countStatements>> | undefined;
      if (peer && peerSetup) {
        scenario.peer = { load: peer, bytesPerDashboard: peerSetup.bytes, sameRows: peerSetup.same, postgraphile: peerSetup.install.postgraphileVersion, node: peerSetup.install.nodeVersion };
        try {
          peerStatements = await countStatements((url) => startPeer(url, poolSize), peerSetup.requests, databaseUrl);
          log(`peer: ${fmt(peerStatements.perRequest, 2)} SQL statements per request (${kinds(peerStatements.counts, peerStatements.sample)})`);
          (scenario.peer as Record<string, unknown>).statements = { perRequest: peerStatements.perRequest, byKind: peerStatements.counts.byKind };
        } catch (error) {
          log(`peer: statement count failed: ${(error as Error).message}`);
        }
      }
      if (s1.non2xx || s1.errors) results.notes.push(`S1 had ${s1.non2xx} non-2xx answers and ${s1.errors} errors: its numbers are not valid.`);
      rows.push(
        { scenario: 'S1 dashboard, no cache', metric: 'requests/s', value: fmt(s1.rps), peer: peer ? fmt(peer.rps) : '', ratio: peer ? `${fmt(s1.rps / peer.rps, 2)}×` : '' },
        { scenario: 'S1', metric: 'p50 ms', value: fmt(s1.p50, 2), peer: peer ? fmt(peer.p50, 2) : '', ratio: peer ? fmt(s1.p50 / peer.p50, 2) : '' },
        { scenario: 'S1', metric: 'p99 ms', value: fmt(s1.p99, 2), peer: peer ? fmt(peer.p99, 2) : '', ratio: peer ? fmt(s1.p99 / peer.p99, 2) : '' },
        { scenario: 'S1', metric: 'CPU ms/request: server + Postgres', value: `${fmt(s1.cpuMsPerRequest.server, 1)} + ${fmt(s1.cpuMsPerRequest.postgres, 1)}`, peer: peer ? `${fmt(peer.cpuMsPerRequest.server, 1)} + ${fmt(peer.cpuMsPerRequest.postgres, 1)}` : '', ratio: peer ? fmt((s1.cpuMsPerRequest.server + s1.cpuMsPerRequest.postgres) / (peer.cpuMsPerRequest.server + peer.cpuMsPerRequest.postgres), 2) : '' },
        { scenario: 'S1', metric: 'CPU-bound capacity on 2 idle cores, req/s', value: fmt(s1.capacityOnTwoCores), peer: peer ? fmt(peer.capacityOnTwoCores) : '', ratio: peer ? `${fmt(s1.capacityOnTwoCores / peer.capacityOnTwoCores, 2)}×` : '' },
        { scenario: 'S1', metric: 'non-2xx / errors', value: `${s1.non2xx} / ${s1.errors}`, peer: peer ? `${peer.non2xx} / ${peer.errors}` : '' },
        { scenario: 'S1', metric: 'SQL statements/request (wire count)', value: fmt(s1Statements.perRequest, 2), peer: peerStatements ? fmt(peerStatements.perRequest, 2) : '' },
        { scenario: 'S1', metric: 'response KiB', value: fmt(check.bytes / 1024), peer: scenario.peer ? fmt(((scenario.peer as { bytesPerDashboard: number }).bytesPerDashboard) / 1024) : '' },
      );
      if (peer) results.targets.push({ scenario: 'S1', target: '≥ 1.5× PostGraphile requests/s', met: s1.rps >= 1.5 * peer.rps, detail: `${fmt(s1.rps / peer.rps, 2)}×` });
      results.targets.push({ scenario: 'S1', target: 'p99 ≤ 25 ms', met: s1.p99 <= 25, detail: `${fmt(s1.p99, 2)} ms` });
    }

    // ------------------------------------------------------------------ S2
    if (s2Setup) {
      const { hot, counter } = s2Setup;
      s2 ??= (await measureSideBySide([s2Setup.side], options.connections, options.duration))[0]!;
      await new Promise((r) => setTimeout(r, 300));
      const perDashboard = s1Statements ? Math.max(1, s1Statements.counts.byKind.SELECT ?? 1) / s1Statements.sample : 1;
      const misses = dashboardSelects(counter.counts()) / perDashboard;
      const hitRate = s2.requests ? Math.max(0, 1 - misses / s2.requests) : NaN;
      const keys = await redisKeys(redis.url);
      const cpuMsPerRequest = s2.cpuMsPerRequest;
      if (s2.non2xx || s2.errors) results.notes.push(`S2 had ${s2.non2xx} non-2xx answers and ${s2.errors} errors: its numbers are not valid.`);
      log(`S2: hit rate ${fmt(hitRate * 100, 2)} % (${fmt(misses, 0)} misses in the timed run; ${fmt(s2Setup.warmupMisses / perDashboard, 0)} cold misses while pre-warming), ${keys ?? '—'} Redis keys`);
      results.scenarios.S2 = { load: s2, cpuMsPerRequest, capacityOnTwoCores: s2.capacityOnTwoCores, hitRate, misses, warmupMisses: s2Setup.warmupMisses / perDashboard, hotStudents: hot.length, redisKeys: keys, cache: redis.url ? 'redis' : 'memory', sideBySideWithS1: Boolean(s1) };
      rows.push(
        { scenario: 'S2 dashboard, Redis cache', metric: 'requests/s', value: fmt(s2.rps), peer: '', ratio: s1 ? `${fmt(s2.rps / s1.rps, 2)}× S1` : '' },
        { scenario: 'S2', metric: 'p50 ms', value: fmt(s2.p50, 2) },
        { scenario: 'S2', metric: 'p99 ms', value: fmt(s2.p99, 2) },
        { scenario: 'S2', metric: 'CPU ms/request: server + Postgres', value: `${fmt(cpuMsPerRequest.server, 2)} + ${fmt(cpuMsPerRequest.postgres, 2)}`, ratio: s1 ? `${fmt((s1.cpuMsPerRequest.server + s1.cpuMsPerRequest.postgres) / (cpuMsPerRequest.server + cpuMsPerRequest.postgres), 1)}× less than S1` : '' },
        { scenario: 'S2', metric: 'non-2xx / errors', value: `${s2.non2xx} / ${s2.errors}` },
        { scenario: 'S2', metric: `hit rate in the timed run (${hot.length} distinct students, pre-warmed)`, value: `${fmt(hitRate * 100, 2)} %` },
      );
      if (s1) results.targets.push({ scenario: 'S2', target: '≥ 5× S1 requests/s', met: s2.rps >= 5 * s1.rps, detail: `${fmt(s2.rps / s1.rps, 2)}×` });
      results.targets.push({ scenario: 'S2', target: 'p99 ≤ 5 ms', met: s2.p99 <= 5, detail: `${fmt(s2.p99, 2)} ms` });
    }
  } finally {
    await s2Setup?.stop();
  }

  // ------------------------------------------------------------------ transport floor (with S1 or S2)
  if (floorBody) {
    const bodyFile = path.join(RESULTS_DIR, 'floor-body.json');
    await writeFile(bodyFile, floorBody);
    const service = await startFloor(bodyFile);
    let floor: Measured;
    try {
      floor = (await measureSideBySide([{ name: 'floor', service, next: randomPicker(requests) }], options.connections, options.duration))[0]!;
    } finally {
      await service.stop();
    }
    // Closed loop: latency ≈ connections ÷ throughput, so a p99 of L ms at N connections needs
    // at least N ÷ L requests per millisecond, i.e. CPU per request ≤ cores × L ÷ N.
    const budget = (p99: number) => (2 * p99) / options.connections;
    results.scenarios.floor = { load: floor, bytes: floorBody.length, cpuBudgetMsPerRequest: { S1: budget(25), S2: budget(5) } };
    rows.push(
      { scenario: `floor: node:http sending one ${fmt(floorBody.length / 1024)} KiB dashboard, nothing else`, metric: 'requests/s', value: fmt(floor.rps), ratio: s2 ? `S2 = ${fmt((s2.rps / floor.rps) * 100)} % of it` : '' },
      { scenario: 'floor', metric: 'p50 / p99 ms', value: `${fmt(floor.p50, 2)} / ${fmt(floor.p99, 2)}` },
      { scenario: 'floor', metric: 'CPU ms/request: server (load generator)', value: `${fmt(floor.cpuMsPerRequest.server, 3)} (${fmt(floor.cpuMsPerRequest.loadGenerator, 3)})` },
      { scenario: 'floor', metric: `CPU budget per request for p99 ≤ 25 ms / ≤ 5 ms at ${options.connections} connections on 2 cores`, value: `${fmt(budget(25), 2)} / ${fmt(budget(5), 2)} ms` },
    );
    results.notes.push(
      `Transport floor: a server that only writes the same ${fmt(floorBody.length / 1024)} KiB bytes reaches p99 ${fmt(floor.p99, 2)} ms at ${options.connections} connections with this load generator; a p99 below that is out of reach for any server on this machine, and a closed-loop p99 of L ms needs ≤ 2·L/${options.connections} ms of CPU per request across server, database and load generator.`,
    );
  }

  // ------------------------------------------------------------------ S3 + S4 (one gateway, production settings)
  if (options.only.has('S3') || options.only.has('S4')) {
    const fileLimit = ensureFileLimit(options.only.has('S4') ? options.subscribers + 2048 : 4096);
    results.machine.openFiles = fileLimit;
    log(`files: ${fileLimit}`);
    const service = await gateway('gateway-s3-s4', 300);
    const sender = createSender(service.url, WEBHOOK_SECRET, Math.max(64, options.inFlight));
    /** Sends a plan's webhooks at S3's in-flight and verifies the final state; CPU and group commit while it ran. */
    const measureIngest = async (plan: ReturnType<typeof planS3>, progress: boolean) => {
      const bar = progress ? new cliProgress.SingleBar({ format: ' S3 [{bar}] {percentage}% | {value}/{total} webhooks | {duration_formatted}', stream: process.stderr, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000 }, cliProgress.Presets.shades_classic) : null;
      bar?.start(plan.events.length, 0);
      const transactions0 = await ingestTransactions(service.url);
      const probe = await startCpuProbe(service.pid, PG_ADMIN_URL(), DATABASE);
      const sent: SendResult = await sendEvents(sender, plan.events, { concurrency: options.inFlight, onProgress: (n) => (n % 200 === 0 ? bar?.update(n) : undefined) });
      const cpu = await probe.stop();
      const transactions = transactionsSince(transactions0, await ingestTransactions(service.url));
      const cpuMsPerEvent = { server: cpu.serverMs / plan.events.length, postgres: cpu.postgresMs / plan.events.length, loadGenerator: cpu.loadGeneratorMs / plan.events.length };
      bar?.update(plan.events.length);
      bar?.stop();
      const verification: Verification = await verifyS3(maintenance, TENANT, plan, sent.statuses);
      return { sent, cpu, cpuMsPerEvent, transactions, verification };
    };
    try {
      if (options.only.has('S3')) {
        const tag = runTag();
        const plan = planS3(tag, options.events, options.seed);
        log(`S3: ${plan.events.length} signed webhooks (${plan.unique} events + ${plan.duplicates} duplicate deliveries, ${plan.students} new students, shuffled), ${options.inFlight} in flight`);
        // Warm the ingest path on events of another tag (removed afterwards), as many as a gateway
        // that has run for a while has seen: the per-transaction code runs ≈ 30 times a second and
        // V8 optimises it only after a few hundred transactions (with 200 events at 8 in flight, the
        // measured run paid for it: 1.74 / 1.71 against 1.27 / 1.26 ms of gateway CPU per event).
        // 3,000 events were not enough either (perf over S3's timed run, stop 21): 12.5 % of the
        // main thread's samples ran in baseline code (applyRound, writeRoundSql, planRecord
        // re-optimised after deopts), 1.8 % after 15,000; V8's compiler threads 1,626 → 829
        // samples. 3 alternating rounds, 3,000 vs 12,000: gateway CPU per event 1.45 / 1.23 /
        // 1.21 → 1.13 / 1.18 / 1.10 ms.
        await sendEvents(sender, planS3(shiftTag(tag, 250_000), S3_WARM_UP_EVENTS, options.seed).events, { concurrency: options.inFlight });
        const { sent, cpu, cpuMsPerEvent, transactions, verification } = await measureIngest(plan, true);
        log(`S3: ${fmt(sent.eventsPerSecond)} events/s (p50 ${fmt(sent.p50, 1)} ms, p99 ${fmt(sent.p99, 1)} ms per webhook); replies ${JSON.stringify(sent.statuses)}; HTTP ${JSON.stringify(sent.httpStatuses)}; re-sent after 500: ${sent.serverErrorRetries}, after 503: ${sent.retries}; CPU ms/event: server ${fmt(cpuMsPerEvent.server, 2)}, Postgres ${fmt(cpuMsPerEvent.postgres, 2)}; final state ${verification.exact ? 'EXACT' : 'NOT EXACT'} (${verification.fieldChecks} field checks)`);
        for (const m of verification.mismatches.slice(0, 10)) log(`  mismatch: ${m}`);
        const groupCommit = { eventsPerTransaction: transactions.events / transactions.transactions, msPerTransaction: (1000 * transactions.seconds) / transactions.transactions, transactions: transactions.transactions, retries: transactions.retries };
        const reruns = Object.entries(transactions.retries);
        const retried = !reruns.length ? 'not exported by this gateway' : reruns.filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`).join(', ') || 'none';
        log(`S3: ${transactions.transactions} ingest transactions, ${fmt(groupCommit.eventsPerTransaction, 1)} events and ${fmt(groupCommit.msPerTransaction, 1)} ms each; machine CPU ${fmt(100 * cpu.machineBusy, 0)} % busy (all processes, ${os.cpus().length} cores)`);
        results.scenarios.S3 = { tag, events: plan.events.length, unique: plan.unique, duplicates: plan.duplicates, students: plan.students, send: sent, cpuMsPerEvent, capacityOnTwoCores: capacity(cpuMsPerEvent.server, cpuMsPerEvent.postgres), machineBusy: cpu.machineBusy, groupCommit, verification };
        rows.push(
          { scenario: 'S3 signed webhooks', metric: `events/s (${plan.events.length} webhooks, 10 % duplicates, shuffled)`, value: fmt(sent.eventsPerSecond) },
          { scenario: 'S3', metric: 'webhook p50 / p99 ms', value: `${fmt(sent.p50, 1)} / ${fmt(sent.p99, 1)}` },
          { scenario: 'S3', metric: 'CPU ms/event: server + Postgres (capacity on 2 idle cores)', value: `${fmt(cpuMsPerEvent.server, 1)} + ${fmt(cpuMsPerEvent.postgres, 1)} (${fmt(capacity(cpuMsPerEvent.server, cpuMsPerEvent.postgres), 0)}/s)` },
          { scenario: 'S3', metric: `machine CPU busy during S3, every process (of ${os.cpus().length} cores)`, value: `${fmt(100 * cpu.machineBusy, 0)} %` },
          { scenario: 'S3', metric: 'group commit: events per ingest transaction; ms per transaction', value: `${fmt(groupCommit.eventsPerTransaction, 1)}; ${fmt(groupCommit.msPerTransaction, 1)}` },
          { scenario: 'S3', metric: `ingest work run again: retries and re-runs by reason (${transactions.transactions} transactions committed)`, value: retried },
          { scenario: 'S3', metric: 'webhook re-sends after a 500 (deadlock retries exhausted; ≤ 4 per event)', value: String(sent.serverErrorRetries) },
          { scenario: 'S3', metric: `final state (${Object.keys(verification.counts).length} tables, ${verification.fieldChecks} field checks)`, value: verification.exact ? 'exact' : `${verification.mismatches.length} mismatches` },
        );
        // A plan of S3's shape in causal order (each record after those it refers to, as a CRM sends
        // them): what the shuffle costs, parking most events and applying them again on release.
        // It follows S3, not alternated with it: compare CPU per event, not events/s.
        const causalPlan = planS3(shiftTag(tag, 125_000), options.events, options.seed, 'causal');
        const causal = await measureIngest(causalPlan, false);
        const parkedShare = (statuses: Record<string, number>, total: number) => (statuses.PARKED ?? 0) / total;
        log(`S3 causal order: ${fmt(causal.sent.eventsPerSecond)} events/s; replies ${JSON.stringify(causal.sent.statuses)}; CPU ms/event: server ${fmt(causal.cpuMsPerEvent.server, 2)}, Postgres ${fmt(causal.cpuMsPerEvent.postgres, 2)}; final state ${causal.verification.exact ? 'EXACT' : 'NOT EXACT'}`);
        for (const m of causal.verification.mismatches.slice(0, 10)) log(`  mismatch: ${m}`);
        (results.scenarios.S3 as Record<string, unknown>).causalOrder = { tag: causalPlan.tag, send: causal.sent, cpuMsPerEvent: causal.cpuMsPerEvent, machineBusy: causal.cpu.machineBusy, verification: causal.verification };
        rows.push(
          { scenario: 'S3 in causal order (a plan of S3\'s shape, parents first, duplicates last)', metric: 'events/s; parked on arrival (S3 shuffled)', value: `${fmt(causal.sent.eventsPerSecond)}; ${fmt(100 * parkedShare(causal.sent.statuses, causalPlan.events.length), 1)} % (${fmt(100 * parkedShare(sent.statuses, plan.events.length), 1)} %)`, ratio: `${fmt(causal.sent.eventsPerSecond / sent.eventsPerSecond, 2)}× S3` },
          { scenario: 'S3 in causal order', metric: 'CPU ms/event: server + Postgres; final state', value: `${fmt(causal.cpuMsPerEvent.server, 2)} + ${fmt(causal.cpuMsPerEvent.postgres, 2)}; ${causal.verification.exact ? 'exact' : `${causal.verification.mismatches.length} mismatches`}` },
        );
        // Statements per webhook: a smaller plan of the same shape through the counting proxy, at
        // S3's in-flight (statements per webhook fall as batches grow: 1.9 at 8 in flight).
        const countPlan = planS3(shiftTag(tag, 500_000), 400, options.seed + 1);
        const upstream = new URL(databaseUrl);
        const counter = await startSqlCounter(upstream.hostname, Number(upstream.port || 5432));
        const proxied = new URL(databaseUrl);
        proxied.port = String(counter.port);
        const counted = await gateway('gateway-s3-count', 300, proxied.toString());
        const countSender = createSender(counted.url, WEBHOOK_SECRET, Math.max(64, options.inFlight));
        try {
          counter.reset();
          await sendEvents(countSender, countPlan.events, { concurrency: options.inFlight });
          const c = counter.counts();
          const per = c.total / countPlan.events.length;
          const byKind = Object.fromEntries(Object.entries(c.byKind).map(([k, n]) => [k, n / countPlan.events.length]));
          const commits = c.byKind.COMMIT ?? NaN;
          const perTransaction = { webhooks: countPlan.events.length / commits, statements: c.total / commits, roundTrips: c.roundTrips / commits };
          log(`S3: ${fmt(per, 2)} SQL statements per webhook on the wire (${kinds(c, countPlan.events.length)}; ${countPlan.events.length} webhooks of the same mix, ${options.inFlight} in flight, ${fmt(perTransaction.webhooks, 1)} per transaction; ${fmt(perTransaction.statements, 1)} statements in ${fmt(perTransaction.roundTrips, 1)} round trips per transaction)`);
          (results.scenarios.S3 as Record<string, unknown>).statements = {
            perWebhook: per, byKind, sample: countPlan.events.length, inFlight: options.inFlight,
            webhooksPerTransaction: perTransaction.webhooks, statementsPerTransaction: perTransaction.statements, roundTripsPerTransaction: perTransaction.roundTrips,
            texts: [...c.texts.entries()].map(([sql, n]) => ({ sql, n })).sort((a, b) => b.n - a.n),
          };
          rows.push({ scenario: 'S3', metric: `SQL statements per webhook (wire count; ${countPlan.events.length} webhooks at ${options.inFlight} in flight, ${fmt(perTransaction.webhooks, 1)} per transaction)`, value: fmt(per, 2) });
          rows.push({ scenario: 'S3', metric: 'per ingest transaction: statements; round trips to Postgres (wire count, pipelined statements share one)', value: `${fmt(perTransaction.statements, 1)}; ${fmt(perTransaction.roundTrips, 1)}` });
        } finally {
          countSender.close();
          await counted.stop();
          await counter.close();
        }
        // The webhook floors: the same webhooks, sender and concurrency against a receiver that
        // only checks signatures and parses JSON, and against one that also stores each event in
        // Postgres before answering (group commit, one statement per batch). S3's share of the
        // first is what ingest costs; the second bounds what storing before answering allows.
        const floor = await measureWebhookFloor(await startWebhookFloor(WEBHOOK_SECRET), [...plan.events, ...plan.events, ...plan.events], plan.events.slice(0, 500), options.inFlight);
        log(`S3 floor: ${fmt(floor.perSecond)} webhooks/s (node:http, signature + JSON parse, no database; same webhooks, ${options.inFlight} in flight); CPU ms/webhook: server ${fmt(floor.cpuMsPerWebhook.server, 3)}, load generator ${fmt(floor.cpuMsPerWebhook.loadGenerator, 3)}`);
        let durable: FloorMeasure;
        try {
          const warm = planS3(shiftTag(tag, 750_000), S3_WARM_UP_EVENTS, options.seed + 2).events;
          durable = await measureWebhookFloor(await startDurableWebhookFloor(WEBHOOK_SECRET, databaseUrl), plan.events, warm, options.inFlight, { CREATED: plan.unique, DUPLICATE: plan.duplicates });
        } finally {
          await maintenance.query('DROP TABLE IF EXISTS bench_floor_payload, bench_floor_event');
        }
        log(`S3 durable floor: ${fmt(durable.perSecond)} webhooks/s (the floor + each distinct event committed to Postgres, group commit, one statement per batch); CPU ms/webhook: server ${fmt(durable.cpuMsPerWebhook.server, 3)}, Postgres ${fmt(durable.cpuMsPerWebhook.postgres, 3)}, load generator ${fmt(durable.cpuMsPerWebhook.loadGenerator, 3)}; machine ${fmt(100 * durable.machineBusy, 0)} % busy`);
        (results.scenarios.S3 as Record<string, unknown>).floor = floor;
        (results.scenarios.S3 as Record<string, unknown>).durableFloor = durable;
        // 2,000 events/s on 2 cores leaves ≤ 1 ms of CPU per event for gateway, Postgres and generator.
        const budget = (2 * 1000) / 2000 - floor.cpuMsPerWebhook.loadGenerator;
        rows.push(
          { scenario: 'S3 floor: node:http receiver, signature + JSON parse, no database', metric: `webhooks/s (same webhooks, ${options.inFlight} in flight)`, value: fmt(floor.perSecond), ratio: `S3 = ${fmt((sent.eventsPerSecond / floor.perSecond) * 100)} % of it` },
          { scenario: 'S3 floor', metric: 'CPU ms/webhook: server (load generator)', value: `${fmt(floor.cpuMsPerWebhook.server, 3)} (${fmt(floor.cpuMsPerWebhook.loadGenerator, 3)})` },
          { scenario: 'S3 floor', metric: 'CPU budget per event for gateway + Postgres at 2,000 events/s on 2 cores', value: `${fmt(budget, 2)} ms` },
          { scenario: 'S3 durable floor: the floor + each distinct event committed before the reply (one statement per batch, nothing else)', metric: `webhooks/s (S3's webhooks, ${options.inFlight} in flight)`, value: fmt(durable.perSecond), ratio: `S3 = ${fmt((sent.eventsPerSecond / durable.perSecond) * 100)} % of it` },
          { scenario: 'S3 durable floor', metric: 'CPU ms/webhook: server + Postgres (load generator); machine busy', value: `${fmt(durable.cpuMsPerWebhook.server, 3)} + ${fmt(durable.cpuMsPerWebhook.postgres, 3)} (${fmt(durable.cpuMsPerWebhook.loadGenerator, 3)}); ${fmt(100 * durable.machineBusy, 0)} %` },
        );
        results.targets.push({ scenario: 'S3', target: '≥ 2,000 events/s', met: sent.eventsPerSecond >= 2000, detail: `${fmt(sent.eventsPerSecond)}` });
        const exact = verification.exact && causal.verification.exact;
        results.targets.push({ scenario: 'S3', target: 'exact final state', met: exact, detail: exact ? 'exact (shuffled and in causal order)' : [...verification.mismatches, ...causal.verification.mismatches.map((m) => `causal order: ${m}`)].slice(0, 3).join('; ') });
      }

      if (options.only.has('S4')) {
        const dashboards = Math.max(0, options.subscribers - options.adminSubscribers);
        const followed = students.filter((s) => s.registrationZohoId).slice(0, Math.max(1, Math.min(students.length, dashboards)));
        const studentTokens = new Map<string, string>();
        for (const s of followed) studentTokens.set(s.moodleUserId, await signToken({ sub: `student-${s.moodleUserId}`, role: 'student', tenant: TENANT, moodleUserId: s.moodleUserId }, JWT_SECRET, '6h'));
        const adminToken = await signToken({ sub: 'bench-admin', role: 'admin', tenant: TENANT }, JWT_SECRET, '6h');
        const specs: SubscriberSpec[] = [];
        for (let i = 0; i < dashboards; i++) specs.push({ kind: 'studentUpdated', token: studentTokens.get(followed[i % followed.length]!.moodleUserId)! });
        for (let i = 0; i < options.adminSubscribers; i++) specs.push({ kind: 'syncEvents', token: adminToken });

        await new Promise((r) => setTimeout(r, 1500));
        const rssBefore = await service.rss();
        log(`S4: opening ${specs.length} graphql-ws subscribers (${dashboards} studentUpdated over ${followed.length} students, ${options.adminSubscribers} syncEvents); gateway RSS ${fmt(rssBefore / 2 ** 20)} MiB`);
        const bar = new cliProgress.SingleBar({ format: ' S4 [{bar}] {percentage}% | {value}/{total} sockets | {duration_formatted}', stream: process.stderr, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000 }, cliProgress.Presets.shades_classic);
        bar.start(specs.length, 0);
        const subs = await openSubscribers(`${service.url.replace('http', 'ws')}/graphql`, specs, { onProgress: (n) => bar.update(n) });
        bar.stop();
        await new Promise((r) => setTimeout(r, 3000 + specs.length / 2));
        const rssAfter = await service.rss();
        const perConnection = (rssAfter - rssBefore) / Math.max(1, subs.opened);
        log(`S4: ${subs.opened} subscribed in ${fmt(subs.openSeconds)} s (${subs.failed} failed${subs.failures.length ? `: ${subs.failures.slice(0, 3).join('; ')}` : ''}); gateway RSS ${fmt(rssAfter / 2 ** 20)} MiB → ${fmt(perConnection / 1024)} KiB per connection`);

        const tag = runTag();
        const targets: DashboardTarget[] = followed.map((s) => ({ studentZohoId: s.zohoId, fullName: s.fullName, registrationZohoId: s.registrationZohoId! }));
        const count = options.s4Rate * options.duration;
        const events = planDashboardChanges(tag, targets, count);
        subs.resetLatencies();
        log(`S4: ingesting ${count} dashboard changes at ${options.s4Rate}/s for ${options.duration} s while subscribed`);
        // The subscribers' own stalls: latency is stamped on arrival in this process, so a delay
        // of its event loop is in every figure below; this tells it apart from the gateway's.
        // (The histogram holds whole timer intervals: the resolution is taken off.)
        const loopDelay = monitorEventLoopDelay({ resolution: 1 });
        loopDelay.enable();
        const sent = await sendEvents(sender, events, { concurrency: 32, rate: options.s4Rate });
        await new Promise((r) => setTimeout(r, 2000));
        loopDelay.disable();
        const clientDelay = { p99: Math.max(0, loopDelay.percentile(99) / 1e6 - 1), max: Math.max(0, loopDelay.max / 1e6 - 1) };
        const created = sent.statuses.CREATED ?? 0;
        // Subscribers per followed student (round robin), and the events each student received.
        const subsOf = (i: number) => Math.floor(dashboards / followed.length) + (i < dashboards % followed.length ? 1 : 0);
        let expectedStudentUpdates = 0;
        for (let i = 0; i < count; i++) expectedStudentUpdates += subsOf(i % targets.length);
        const expectedDeliveries = { studentUpdated: created === count ? expectedStudentUpdates : NaN, syncEvents: created * options.adminSubscribers };
        const lat = (list: number[]) => {
          const sorted = Float64Array.from(list).sort();
          return { n: list.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN };
        };
        const su = lat(subs.latencies.studentUpdated);
        const se = lat(subs.latencies.syncEvents);
        const all = lat([...subs.latencies.studentUpdated, ...subs.latencies.syncEvents]);
        const rssEnd = await service.rss();
        log(`S4: ingest ${fmt(sent.eventsPerSecond)} events/s; studentUpdated p50 ${fmt(su.p50, 0)} ms p99 ${fmt(su.p99, 0)} ms (${su.n}/${fmt(expectedDeliveries.studentUpdated, 0)} delivered); syncEvents p50 ${fmt(se.p50, 0)} ms p99 ${fmt(se.p99, 0)} ms (${se.n}/${expectedDeliveries.syncEvents}); ${subs.closedEarly} closed early, ${subs.errors} errors; this process's event-loop delay p99 ${fmt(clientDelay.p99, 1)} ms, max ${fmt(clientDelay.max, 1)} ms`);
        await subs.close();
        results.scenarios.S4 = {
          subscribers: specs.length, opened: subs.opened, failed: subs.failed, failures: subs.failures, openSeconds: subs.openSeconds,
          studentUpdatedSubscribers: dashboards, followedStudents: followed.length, syncEventsSubscribers: options.adminSubscribers,
          rssBefore, rssAfter, rssEnd, bytesPerConnection: perConnection, ingest: sent, expectedDeliveries,
          latency: { studentUpdated: su, syncEvents: se, all }, clientEventLoopDelay: clientDelay, closedEarly: subs.closedEarly, errors: subs.errors, openFiles: fileLimit,
        };
        rows.push(
          { scenario: 'S4 graphql-ws subscribers', metric: `subscribers open (${dashboards} studentUpdated + ${options.adminSubscribers} syncEvents)`, value: `${subs.opened} / ${specs.length}` },
          { scenario: 'S4', metric: `delivery latency p50 / p99 ms (all, during ${fmt(sent.eventsPerSecond, 0)} events/s ingest)`, value: `${fmt(all.p50, 0)} / ${fmt(all.p99, 0)}` },
          { scenario: 'S4', metric: 'studentUpdated p50 / p99 ms (delivered/expected)', value: `${fmt(su.p50, 0)} / ${fmt(su.p99, 0)} (${su.n}/${fmt(expectedDeliveries.studentUpdated, 0)})` },
          { scenario: 'S4', metric: 'syncEvents p50 / p99 ms (delivered/expected)', value: `${fmt(se.p50, 0)} / ${fmt(se.p99, 0)} (${se.n}/${expectedDeliveries.syncEvents})` },
          { scenario: 'S4', metric: 'server memory per connection (RSS delta / N)', value: `${fmt(perConnection / 1024)} KiB` },
          { scenario: 'S4', metric: 'event-loop delay of the subscribers\' process (in every latency above) p99 / max ms', value: `${fmt(clientDelay.p99, 1)} / ${fmt(clientDelay.max, 1)}` },
        );
        results.targets.push({ scenario: 'S4', target: `${options.subscribers.toLocaleString('en-GB')} subscribers, delivery p99 ≤ 250 ms`, met: subs.opened === specs.length && all.p99 <= 250, detail: `${subs.opened} open, p99 ${fmt(all.p99, 0)} ms` });
      }
    } finally {
      sender.close();
      await service.stop();
      const removed = await cleanupIngested(maintenance, TENANT);
      log(`cleanup: removed ${removed} rows written by S3/S4`);
    }
  }
  await maintenance.end();
  await server.stop();

  results.table = rows;
  results.machine.loadAverageAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
  results.finishedAt = new Date().toISOString();
  const output = [
    '',
    `campus-graph bench — ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, Postgres ${machine.postgres}, Redis ${machine.redis ?? '—'}${results.machine.postgraphile ? `, peer PostGraphile ${results.machine.postgraphile} on Node ${results.machine.peerNode}` : ''}`,
    `dataset: ${options.students} students (${Object.entries(dataset.counts).map(([t, n]) => `${n} ${t}`).join(', ')}); ${options.duration} s per run, ${options.connections} connections`,
    '',
    table(rows),
    '',
    'Targets:',
    ...results.targets.map((t) => `  ${mark(t.met)} ${t.scenario} ${t.target}: ${t.detail}`),
    '',
    ...results.notes.map((n) => `Note: ${n}`),
    `Load average at start ${machine.loadAverageAtStart.join(' / ')}, at end ${results.machine.loadAverageAtEnd.join(' / ')}.`,
    '',
  ].join('\n');
  process.stdout.write(output);
  const file = path.join(RESULTS_DIR, 'latest.json');
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), file)}`);
}

interface FloorMeasure {
  perSecond: number;
  cpuMsPerWebhook: { server: number; postgres: number; loadGenerator: number };
  machineBusy: number;
}

/**
 * Warms a webhook floor with `warm`, sends it `events` at S3's concurrency, stops it. Every reply
 * must be a 200, and with `expect` the statuses must be those counts (a floor answering 401 or
 * storing nothing would otherwise print a fine rate).
 */
async function measureWebhookFloor(service: Service, events: readonly WebhookEvent[], warm: readonly WebhookEvent[], inFlight: number, expect?: Record<string, number>): Promise<FloorMeasure> {
  const sender = createSender(service.url, WEBHOOK_SECRET, Math.max(64, inFlight));
  try {
    await sendEvents(sender, warm, { concurrency: inFlight });
    const probe = await startCpuProbe(service.pid, PG_ADMIN_URL(), DATABASE);
    const sent = await sendEvents(sender, events, { concurrency: inFlight });
    const cpu = await probe.stop();
    if (Object.keys(sent.httpStatuses).some((status) => status !== '200')) throw new Error(`${service.name}: replies ${JSON.stringify(sent.httpStatuses)}, not all 200 (see ${service.logFile})`);
    if (expect && JSON.stringify(sortedEntries(sent.statuses)) !== JSON.stringify(sortedEntries(expect))) throw new Error(`${service.name}: results ${JSON.stringify(sent.statuses)}, expected ${JSON.stringify(expect)}`);
    const per = (ms: number) => ms / events.length;
    return { perSecond: sent.eventsPerSecond, cpuMsPerWebhook: { server: per(cpu.serverMs), postgres: per(cpu.postgresMs), loadGenerator: per(cpu.loadGeneratorMs) }, machineBusy: cpu.machineBusy };
  } finally {
    sender.close();
    await service.stop();
  }
}

const sortedEntries = (counts: Record<string, number>) => Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));

const S3_WARM_UP_EVENTS = 12_000;

/**
 * Requests (or events) per second two otherwise idle cores could serve, from CPU ms per request:
 * the server is one Node thread (≤ 1000 ms of CPU per second), Postgres backends use both cores.
 */
function capacity(serverMs: number, postgresMs: number): number {
  return Math.min(2000 / (serverMs + postgresMs), 1000 / serverMs);
}

/** One dashboard response, exactly as the gateway sends it (the floor server replays it). */
async function dashboardBody(url: string, request: PreparedRequest): Promise<Buffer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...request.headers }, body: request.body });
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status} capturing a dashboard`);
  return Buffer.from(await response.arrayBuffer());
}

/** Another run tag, far from `tag` (warm-up and counting runs must not be counted as the timed run's rows). */
function shiftTag(tag: string, by: number): string {
  return String((Number(tag) + by) % 1_000_000).padStart(6, '0');
}

/** Dashboard SELECTs (the statement that reads the Student with its sections). */
function dashboardSelects(counts: StatementCounts): number {
  return counts.byKind.SELECT ?? 0;
}

main().catch((error: unknown) => {
  log(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  if (String((error as Error)?.message).includes('--')) log(USAGE);
  process.exit(1);
});
