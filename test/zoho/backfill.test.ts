/**
 * Backfill on a real Postgres and the fake Zoho: pages through a module into the pipeline,
 * resumes after an interruption (a throwing hook, an abort, a Zoho outage, a killed process)
 * from the page after the last one fully ingested, never storing anything twice.
 */
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { BackfillError, runBackfill, type BackfillOptions } from '../../src/zoho/backfill.js';
import { ZohoClient } from '../../src/zoho/client.js';
import { useFreshDatabase } from '../support/database.js';
import { CLIENT_ID, CLIENT_SECRET, FakeZoho, programRecord, REFRESH_TOKEN, zohoId, zohoTime } from '../support/fake-zoho.js';

const database = useFreshDatabase();
const TENANT = 'default';
let fake: FakeZoho;
let ingestor: Ingestor;
const clients: ZohoClient[] = [];

function client(): ZohoClient {
  const created = new ZohoClient(fake.settings(), { retries: 1, minRetryDelayMs: 10, maxRetryDelayMs: 20 });
  clients.push(created);
  return created;
}

/** 100 teachers: 5 pages of 20. */
const TEACHERS = Array.from({ length: 100 }, (_, i) => ({
  id: zohoId(52, i + 1),
  Name: `TCH-${9000 + i}`,
  Full_Name: `Teacher ${i + 1}`,
  Email: `teacher${i + 1}@college.example`,
  Teacher_Moodle_ID: String(300_000 + i),
  Status: 'Active',
  Created_Time: zohoTime(new Date('2026-01-01T08:00:00Z')),
  Modified_Time: zohoTime(new Date(Date.UTC(2026, 0, 2) + i * 60_000)),
}));

function options(overrides: Partial<BackfillOptions> = {}): BackfillOptions {
  return { client: client(), ingestor, tenantId: TENANT, module: 'BTEC_Teachers', perPage: 20, ...overrides };
}

function pagesRequested(module: string): number[] {
  return fake.callsTo(`/crm/v2/${module}`).map((c) => Number(c.query.get('page')));
}

async function cursor(module: string) {
  return database.db.backfillCursor.findUnique({ where: { tenantId_module: { tenantId: TENANT, module } } });
}

beforeAll(async () => {
  fake = await FakeZoho.start();
  fake.put('BTEC_Teachers', ...TEACHERS);
  ingestor = new Ingestor();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.clearFailures();
  fake.resetCounts();
  fake.latencyMs = 0;
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('runBackfill', () => {
  it('resumes after an interruption at page 2: continues at page 3, no duplicates', async () => {
    const stop = new Error('simulated crash after page 2');
    const interrupted = runBackfill(
      options({
        onPage: (progress) => {
          if (progress.page === 2) throw stop;
        },
      }),
    );
    await expect(interrupted).rejects.toBe(stop);
    expect(pagesRequested('BTEC_Teachers')).toEqual([1, 2]);
    expect(await cursor('BTEC_Teachers')).toMatchObject({ page: 2, records: 40, done: false });
    expect(await database.db.teacher.count({ where: { tenantId: TENANT, zohoId: { in: TEACHERS.map((t) => t.id) } } })).toBe(40);

    fake.resetCounts();
    const starts: unknown[] = [];
    const summary = await runBackfill(options({ onStart: (s) => starts.push(s) }));
    expect(starts).toEqual([{ startPage: 3, records: 40, resumed: true }]);
    expect(pagesRequested('BTEC_Teachers')).toEqual([3, 4, 5]);
    expect(summary).toMatchObject({ startPage: 3, resumed: true, page: 5, records: 100, done: true, interrupted: false, counts: { CREATED: 60 }, zohoCalls: 3 });
    expect(await cursor('BTEC_Teachers')).toMatchObject({ page: 5, records: 100, done: true });

    const rows = await database.db.teacher.findMany({ where: { tenantId: TENANT, zohoId: { in: TEACHERS.map((t) => t.id) } } });
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((r) => r.zohoId)).size).toBe(100);
    const events = await database.db.syncEvent.groupBy({ by: ['status'], where: { tenantId: TENANT, recordId: { in: TEACHERS.map((t) => t.id) } }, _count: { _all: true } });
    expect(events.map((e) => [e.status, e._count._all])).toEqual([['CREATED', 100]]);
  });

  it('a finished module run again starts at page 1 and changes nothing (every record a duplicate)', async () => {
    const summary = await runBackfill(options());
    expect(summary).toMatchObject({ startPage: 1, resumed: false, records: 100, done: true, counts: { DUPLICATE: 100 } });
    expect(await database.db.syncEvent.count({ where: { tenantId: TENANT, recordId: { in: TEACHERS.map((t) => t.id) } } })).toBe(100);
  });

  it('an abort stops after the page being ingested; the rerun continues after it', async () => {
    const controller = new AbortController();
    const first = await runBackfill(options({ restart: true, signal: controller.signal, onPage: (p) => (p.page === 2 ? controller.abort() : undefined) }));
    expect(first).toMatchObject({ page: 2, records: 40, done: false, interrupted: true });
    expect(pagesRequested('BTEC_Teachers')).toEqual([1, 2]);
    fake.resetCounts();
    const second = await runBackfill(options());
    expect(second).toMatchObject({ startPage: 3, page: 5, records: 100, done: true });
    expect(pagesRequested('BTEC_Teachers')).toEqual([3, 4, 5]);
  });

  it('a Zoho outage mid-run: BackfillError with the cursor at the last complete page; the rerun continues', async () => {
    fake.fail({ match: (path, query) => path === '/crm/v2/BTEC_Teachers' && query.get('page') === '4', status: 500, times: 2 });
    const error = await runBackfill(options({ restart: true })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackfillError);
    expect((error as BackfillError).message).toMatch(/reading BTEC_Teachers page 4 from Zoho failed: Zoho API 500/);
    expect((error as BackfillError).summary).toMatchObject({ page: 3, records: 60, done: false });
    expect(await cursor('BTEC_Teachers')).toMatchObject({ page: 3, done: false });
    fake.resetCounts();
    expect(await runBackfill(options())).toMatchObject({ startPage: 4, page: 5, done: true });
    expect(pagesRequested('BTEC_Teachers')).toEqual([4, 5]);
  });

  it('--since sends If-Modified-Since; a cursor of another --since is not resumed', async () => {
    const since = new Date('2026-01-02T01:00:00Z'); // teachers 61… were modified after it
    const stop = new Error('stop');
    await expect(runBackfill(options({ since, restart: true, onPage: () => Promise.reject(stop) }))).rejects.toBe(stop);
    expect(fake.calls[0]!.headers['if-modified-since']).toBe(since.toISOString());
    fake.resetCounts();
    const other = await runBackfill(options({ since: new Date('2026-01-02T01:20:00Z') }));
    expect(other).toMatchObject({ startPage: 1, resumed: false, records: 19, done: true });
    expect(fake.calls.map((c) => c.headers['if-modified-since'])).toEqual(['2026-01-02T01:20:00.000Z']);
  });
});

describe('npm run backfill (the CLI)', () => {
  const PROGRAMS = Array.from({ length: 250 }, (_, i) => programRecord(zohoId(53, i + 1), `BF${i + 1}`, new Date(Date.UTC(2026, 0, 3) + i * 1000)));

  function run(args: string[], env: Record<string, string | undefined> = {}) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/backfill.ts', ...args], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATABASE_URL: database.url,
        ZOHO_API_URL: fake.url,
        ZOHO_ACCOUNTS_URL: fake.url,
        ZOHO_CLIENT_ID: CLIENT_ID,
        ZOHO_CLIENT_SECRET: CLIENT_SECRET,
        ZOHO_REFRESH_TOKEN: REFRESH_TOKEN,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, exited };
  }

  beforeAll(() => fake.put('BTEC_Programs', ...PROGRAMS));

  it('killed (SIGKILL) mid-way, the same command continues after the last complete page', async () => {
    fake.latencyMs = 400;
    const first = run(['--module', 'BTEC_Programs']);
    const deadline = Date.now() + 60_000;
    // Page 1 ingested and page 2 requested (its answer takes 400 ms): kill now.
    while (((await cursor('BTEC_Programs'))?.page ?? 0) < 1 || fake.count('/crm/v2/BTEC_Programs') < 2) {
      if (Date.now() > deadline) throw new Error(`no page done in time: ${(await first.exited.then((r) => r.stderr)).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    expect(await cursor('BTEC_Programs')).toMatchObject({ page: 1, records: 200, done: false });
    expect(pagesRequested('BTEC_Programs')).toEqual([1, 2]); // page 2 was in flight

    fake.latencyMs = 0;
    fake.resetCounts();
    const second = await run(['--module', 'BTEC_Programs']).exited;
    expect(second.stderr).toContain('BTEC_Programs: continuing at page 2 (200 records already ingested)');
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/BTEC_Programs: done: 250 records in 2 pages \(created 50\); 1 Zoho calls/);
    expect(pagesRequested('BTEC_Programs')).toEqual([2]);
    expect(await database.db.program.count({ where: { tenantId: TENANT, zohoId: { in: PROGRAMS.map((p) => p.id) } } })).toBe(250);
    expect(await database.db.syncEvent.count({ where: { tenantId: TENANT, recordId: { in: PROGRAMS.map((p) => p.id) } } })).toBe(250);
  }, 120_000);

  it('Ctrl-C stops after the current page (exit 130) and says how to continue', async () => {
    fake.latencyMs = 300;
    const running = run(['--module', 'BTEC_Programs', '--restart']);
    while (fake.count('/crm/v2/BTEC_Programs') < 1) await new Promise((r) => setTimeout(r, 10));
    running.child.kill('SIGINT');
    const result = await running.exited;
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/BTEC_Programs: interrupted after page 1: 200 records in 1 pages \(duplicate 200\)/);
    expect(result.stderr).toContain('Run the same command again to continue at page 2.');
    expect(await cursor('BTEC_Programs')).toMatchObject({ page: 1, done: false });
  }, 60_000);

  it('one clear line for a missing DATABASE_URL, an unknown module, Zoho not configured', async () => {
    const noDb = await run(['--module', 'BTEC_Programs'], { DATABASE_URL: undefined }).exited;
    expect(noDb.code).toBe(2);
    expect(noDb.stderr.split('\n')[0]).toBe(
      'backfill: DATABASE_URL is required: the database to fill (e.g. DATABASE_URL=postgresql://postgres@127.0.0.1:5432/campus_graph npm run backfill -- --module BTEC_Students)',
    );
    const unknown = await run(['--module', 'Leads']).exited;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^backfill: --module: unknown Zoho module "Leads"; expected one of BTEC_Programs, .* or all\n/);
    const noZoho = await run(['--module', 'BTEC_Programs'], { ZOHO_API_URL: undefined, ZOHO_ACCOUNTS_URL: undefined, ZOHO_CLIENT_ID: undefined, ZOHO_CLIENT_SECRET: undefined, ZOHO_REFRESH_TOKEN: undefined }).exited;
    expect(noZoho.code).toBe(2);
    expect(noZoho.stderr).toMatch(/^backfill: the Zoho API is not configured: set ZOHO_API_URL/);
  }, 60_000);
});
