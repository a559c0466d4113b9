/**
 * The Zoho API client against the fake Zoho: OAuth single flight, retries and Retry-After,
 * timeouts, the concurrency cap, the credit budget (in memory and shared on Redis), the
 * circuit breaker, batching and paging. Every scenario counts the calls Zoho received.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config.js';
import { createZohoClient, criteria, ZohoClient, type ZohoClientOptions } from '../../src/zoho/client.js';
import { ZohoApiError, ZohoAuthError, ZohoBudgetExceededError, ZohoNetworkError, ZohoUnavailableError } from '../../src/zoho/errors.js';
import { FakeZoho, programRecord, studentRecord, zohoErrorBody, zohoId } from '../support/fake-zoho.js';
import { REDIS_URL, requireRedis, startDedicatedRedis, uniqueNamespace } from '../support/redis.js';
import { zohoStatus } from '../../src/zoho/status.js';
import { redisReady } from '../../src/redis.js';

let fake: FakeZoho;
const clients: ZohoClient[] = [];

function client(options: ZohoClientOptions & { dailyCredits?: number } = {}): ZohoClient {
  const { dailyCredits, ...rest } = options;
  const created = new ZohoClient(fake.settings(dailyCredits ? { dailyCredits } : {}), { retries: 2, minRetryDelayMs: 10, maxRetryDelayMs: 50, ...rest });
  clients.push(created);
  return created;
}

const STUDENTS = Array.from({ length: 250 }, (_, i) => studentRecord({ id: zohoId(11, i + 1), moodleUserId: String(80_000 + i), number: 9000 + i }));

beforeAll(async () => {
  fake = await FakeZoho.start();
  fake.put('BTEC_Students', ...STUDENTS);
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.clearFailures();
  fake.resetCounts();
  fake.latencyMs = 0;
  fake.tokenTtlSeconds = 3600;
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('configuration', () => {
  it('createZohoClient returns null when Zoho is not configured', () => {
    expect(createZohoClient(parseConfig({}).zoho)).toBeNull();
    const configured = parseConfig({
      ZOHO_API_URL: fake.url,
      ZOHO_ACCOUNTS_URL: fake.url,
      ZOHO_CLIENT_ID: 'id',
      ZOHO_CLIENT_SECRET: 'secret',
      ZOHO_REFRESH_TOKEN: 'refresh',
    }).zoho;
    const zoho = createZohoClient(configured);
    expect(zoho).toBeInstanceOf(ZohoClient);
    zoho!.close();
  });
});

describe('OAuth', () => {
  it('20 concurrent callers share one token refresh', async () => {
    const zoho = client({ maxConcurrent: 20 });
    fake.latencyMs = 20;
    const records = await Promise.all(STUDENTS.slice(0, 20).map((s) => zoho.getRecord('BTEC_Students', s.id)));
    expect(records.map((r) => r?.id)).toEqual(STUDENTS.slice(0, 20).map((s) => s.id));
    expect(fake.tokenRequests).toBe(1);
    expect(fake.count()).toBe(20);
    for (const call of fake.calls) expect(call.headers.authorization).toBe('Zoho-oauthtoken 1000.fake-access-1');
  });

  it('on 401 AUTHENTICATION_FAILURE refreshes once (shared by concurrent callers) and retries once', async () => {
    const zoho = client({ maxConcurrent: 20 });
    await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    expect(fake.tokenRequests).toBe(1);
    fake.expireTokens();
    fake.latencyMs = 20;
    const records = await Promise.all(STUDENTS.slice(0, 20).map((s) => zoho.getRecord('BTEC_Students', s.id)));
    expect(records.every(Boolean)).toBe(true);
    expect(fake.tokenRequests).toBe(2);
    const statuses = fake.calls.slice(1).map((c) => c.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(20);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
  });

  it('refreshes before the token expires, without a 401', async () => {
    let now = Date.now();
    const zoho = client({ now: () => now });
    await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    now += 3600_000 - 4 * 60_000; // within the 5-minute margin
    await zoho.getRecord('BTEC_Students', STUDENTS[1]!.id);
    expect(fake.tokenRequests).toBe(2);
    expect(fake.calls.map((c) => c.status)).toEqual([200, 200]);
  });

  it('a refused refresh token fails clearly, once, without retries', async () => {
    const zoho = new ZohoClient({ ...fake.settings(), refreshToken: 'wrong' }, { retries: 3, minRetryDelayMs: 10 });
    clients.push(zoho);
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZohoAuthError);
    expect((error as Error).message).toMatch(/refused the refresh token \(invalid_code\).*ZOHO_REFRESH_TOKEN/);
    expect(fake.tokenRequests).toBe(1);
    expect(fake.count()).toBe(0);
  });

  it('a 401 that survives a fresh token is not retried again', async () => {
    const zoho = client({ retries: 3 });
    fake.fail({ status: 401, times: 2 });
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZohoApiError);
    expect((error as ZohoApiError).code).toBe('AUTHENTICATION_FAILURE');
    expect(fake.count()).toBe(2);
    expect(fake.tokenRequests).toBe(2);
  });
});

describe('retries', () => {
  it('retries 5xx with backoff and succeeds', async () => {
    const zoho = client({ retries: 3 });
    fake.fail({ status: 500, times: 2 });
    const record = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    expect(record?.id).toBe(STUDENTS[0]!.id);
    expect(fake.calls.map((c) => c.status)).toEqual([500, 500, 200]);
  });

  it('gives up after the configured retries (bounded)', async () => {
    const zoho = client({ retries: 2 });
    fake.down({ status: 503 });
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZohoApiError);
    expect((error as ZohoApiError).status).toBe(503);
    expect(fake.count()).toBe(3);
  });

  it('honours Retry-After on 429 (the wait is at least Retry-After)', async () => {
    const zoho = client({ retries: 2, minRetryDelayMs: 10 });
    fake.fail({ status: 429, retryAfterSeconds: 1 });
    const started = performance.now();
    const record = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    const [first, second] = fake.calls;
    expect(record?.id).toBe(STUDENTS[0]!.id);
    expect([first!.status, second!.status]).toEqual([429, 200]);
    const waited = second!.at - first!.at;
    console.info(`Retry-After 1 s: second request ${waited} ms after the first (total ${Math.round(performance.now() - started)} ms)`);
    expect(waited).toBeGreaterThanOrEqual(1000);
  });

  it('does not wait for a Retry-After beyond the cap: fails at once', async () => {
    const zoho = client({ retries: 3, maxRetryAfterMs: 5_000 });
    fake.fail({ status: 429, retryAfterSeconds: 3600 });
    const started = performance.now();
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZohoApiError);
    expect((error as ZohoApiError).retryAfterMs).toBe(3_600_000);
    expect(fake.count()).toBe(1);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('never retries other 4xx (INVALID_DATA, DUPLICATE_DATA nested in data[])', async () => {
    const zoho = client({ retries: 3 });
    fake.fail({ status: 400 });
    const invalid = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect((invalid as ZohoApiError).code).toBe('INVALID_DATA');
    expect(fake.count()).toBe(1);

    fake.fail({ status: 400, body: { data: [zohoErrorBody('DUPLICATE_DATA', 'duplicate data', { api_name: 'Student_Moodle_ID', id: STUDENTS[1]!.id })] } });
    const duplicate = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(ZohoApiError);
    expect((duplicate as ZohoApiError).code).toBe('DUPLICATE_DATA');
    expect((duplicate as ZohoApiError).details).toEqual({ api_name: 'Student_Moodle_ID', id: STUDENTS[1]!.id });
    expect(fake.count()).toBe(2);
  });

  it('retries network errors (connection reset)', async () => {
    const zoho = client({ retries: 2 });
    fake.fail({ reset: true });
    expect((await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id))?.id).toBe(STUDENTS[0]!.id);
    expect(fake.count()).toBe(2);
  });

  it('times out each request (AbortSignal.timeout) and retries a bounded number of times', async () => {
    const zoho = client({ retries: 1, requestTimeoutMs: 150 });
    fake.fail({ delayMs: 1000, status: 200, times: 2 });
    const started = performance.now();
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZohoNetworkError);
    expect((error as ZohoNetworkError).code).toBe('TIMEOUT');
    expect(fake.count()).toBe(2);
    expect(performance.now() - started).toBeLessThan(900);
  });

  it("the caller's signal stops the call and its backoff", async () => {
    const zoho = client({ retries: 5, minRetryDelayMs: 5_000, maxRetryDelayMs: 10_000 });
    fake.down({ status: 500 });
    const started = performance.now();
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id, { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
    expect((error as ZohoApiError).code).toBe('ABORTED');
    expect(performance.now() - started).toBeLessThan(1500);
    expect(fake.count()).toBe(1);
  });
});

describe('close', () => {
  it('calls queued, waiting to retry or in flight fail at once (nothing hangs); later calls are refused', async () => {
    const zoho = client({ maxConcurrent: 1, retries: 3, minRetryDelayMs: 5_000, maxRetryDelayMs: 5_000 });
    fake.latencyMs = 300;
    const calls = [1, 2, 3].map((i) => zoho.getRecord('BTEC_Students', STUDENTS[i]!.id).catch((e: unknown) => e));
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    zoho.close();
    const errors = await Promise.all(calls);
    expect(performance.now() - started).toBeLessThan(200);
    expect(errors.map((e) => (e as ZohoUnavailableError).code)).toEqual(['CLIENT_CLOSED', 'CLIENT_CLOSED', 'CLIENT_CLOSED']);
    await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});

describe('concurrency cap', () => {
  it('keeps at most maxConcurrent requests in flight', async () => {
    const zoho = client({ maxConcurrent: 3 });
    fake.latencyMs = 40;
    await Promise.all(STUDENTS.slice(0, 12).map((s) => zoho.getRecord('BTEC_Students', s.id)));
    expect(fake.count()).toBe(12);
    expect(fake.maxInFlight).toBe(3);
  });
});

describe('credit budget', () => {
  it('in memory: refuses beyond ZOHO_DAILY_CREDITS over a rolling 24 h', async () => {
    let now = Date.parse('2026-02-13T08:00:00Z');
    const zoho = client({ dailyCredits: 3, now: () => now });
    for (const s of STUDENTS.slice(0, 3)) await zoho.getRecord('BTEC_Students', s.id);
    expect(await zoho.remainingCredits()).toBe(0);
    const error = await zoho.getRecord('BTEC_Students', STUDENTS[3]!.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZohoBudgetExceededError);
    expect((error as Error).message).toMatch(/credit budget exhausted: 3 credits per 24 h/);
    expect(fake.count()).toBe(3);
    expect(await zoho.unavailable()).toBe('budget-exhausted');
    now += 24 * 3_600_000 + 1;
    expect(await zoho.remainingCredits()).toBe(3);
    await zoho.getRecord('BTEC_Students', STUDENTS[3]!.id);
    expect(fake.count()).toBe(4);
  });

  it('a budget refusal does not open the breaker', async () => {
    const zoho = client({ dailyCredits: 1, breakerFailureThreshold: 1 });
    await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    for (let i = 0; i < 3; i++) await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toBeInstanceOf(ZohoBudgetExceededError);
    expect(zoho.breakerState()).toBe('closed');
  });

  describe('shared on Redis', () => {
    let redisA: Redis;
    let redisB: Redis;
    beforeAll(async () => {
      await requireRedis();
      redisA = new Redis(REDIS_URL);
      redisB = new Redis(REDIS_URL);
    });
    afterAll(() => {
      redisA?.disconnect();
      redisB?.disconnect();
    });

    it('two client instances on one Redis share ZOHO_DAILY_CREDITS', async () => {
      const budgetKey = `${uniqueNamespace()}:zoho:credits`;
      const a = client({ dailyCredits: 5, redis: redisA, budgetKey });
      const b = client({ dailyCredits: 5, redis: redisB, budgetKey });
      for (const s of STUDENTS.slice(0, 3)) await a.getRecord('BTEC_Students', s.id);
      expect(await b.remainingCredits()).toBe(2);
      for (const s of STUDENTS.slice(3, 5)) await b.getRecord('BTEC_Students', s.id);
      await expect(a.getRecord('BTEC_Students', STUDENTS[5]!.id)).rejects.toBeInstanceOf(ZohoBudgetExceededError);
      await expect(b.getRecord('BTEC_Students', STUDENTS[5]!.id)).rejects.toBeInstanceOf(ZohoBudgetExceededError);
      expect(fake.count()).toBe(5);
      expect(await a.remainingCredits()).toBe(0);
      expect((await b.stats()).credits).toEqual({ limit: 5, remaining: 0, windowHours: 24, shared: true });
      await redisA.del(budgetKey);
    });

    it('concurrent bursts from two instances never overspend (atomic take)', async () => {
      const budgetKey = `${uniqueNamespace()}:zoho:credits`;
      const a = client({ dailyCredits: 7, redis: redisA, budgetKey, maxConcurrent: 10 });
      const b = client({ dailyCredits: 7, redis: redisB, budgetKey, maxConcurrent: 10 });
      const results = await Promise.allSettled(STUDENTS.slice(0, 20).map((s, i) => (i % 2 ? a : b).getRecord('BTEC_Students', s.id)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7);
      expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof ZohoBudgetExceededError)).toHaveLength(13);
      expect(fake.count()).toBe(7);
      await redisA.del(budgetKey);
    });

    it('while Redis is down the budget is counted in the process (still enforced), then shared again', async () => {
      const dedicated = await startDedicatedRedis();
      const redis = new Redis(dedicated.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
      redis.on('error', () => {});
      try {
        await redisReady(redis);
        const a = client({ dailyCredits: 3, redis, budgetKey: 'zoho:credits' });
        await a.getRecord('BTEC_Students', STUDENTS[0]!.id);
        expect((await a.stats()).credits).toMatchObject({ remaining: 2, shared: true });
        await dedicated.stop();
        for (const s of STUDENTS.slice(1, 4)) await a.getRecord('BTEC_Students', s.id);
        await expect(a.getRecord('BTEC_Students', STUDENTS[4]!.id)).rejects.toBeInstanceOf(ZohoBudgetExceededError);
        expect((await a.stats()).credits).toMatchObject({ remaining: 0, shared: false });
        expect(fake.count()).toBe(4);
        await dedicated.start();
        await new Promise((r) => setTimeout(r, 300));
        expect((await a.stats()).credits).toMatchObject({ remaining: 3, shared: true }); // a new, empty Redis
      } finally {
        redis.disconnect();
        await dedicated.stop();
      }
    });

    it('the window rolls: credits spent 24 h ago come back', async () => {
      const budgetKey = `${uniqueNamespace()}:zoho:credits`;
      let now = Date.parse('2026-02-13T08:00:00Z');
      const a = client({ dailyCredits: 2, redis: redisA, budgetKey, now: () => now });
      await a.getRecord('BTEC_Students', STUDENTS[0]!.id);
      now += 12 * 3_600_000;
      await a.getRecord('BTEC_Students', STUDENTS[1]!.id);
      await expect(a.getRecord('BTEC_Students', STUDENTS[2]!.id)).rejects.toBeInstanceOf(ZohoBudgetExceededError);
      now += 12 * 3_600_000 + 1; // the first credit is now older than 24 h
      expect(await a.remainingCredits()).toBe(1);
      await a.getRecord('BTEC_Students', STUDENTS[2]!.id);
      expect(fake.count()).toBe(3);
      await redisA.del(budgetKey);
    });
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, refuses without calling, recovers after the cool-down', async () => {
    const zoho = client({ retries: 0, breakerFailureThreshold: 3, breakerCooldownMs: 300 });
    fake.down({ status: 500 });
    for (let i = 0; i < 3; i++) await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toBeInstanceOf(ZohoApiError);
    expect(zoho.breakerState()).toBe('open');
    expect(fake.count()).toBe(3);
    const refused = await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ZohoUnavailableError);
    expect(fake.count()).toBe(3);
    expect(await zoho.unavailable()).toBe('breaker-open');

    fake.up();
    await new Promise((r) => setTimeout(r, 350));
    expect(zoho.breakerState()).toBe('half-open');
    expect((await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id))?.id).toBe(STUDENTS[0]!.id);
    expect(zoho.breakerState()).toBe('closed');
    expect(fake.count()).toBe(4);
    expect((await zoho.stats()).breaker).toMatchObject({ state: 'closed', consecutiveFailures: 0, rejected: 1 });
  });

  it('a failed half-open probe opens it again; one probe at a time', async () => {
    const zoho = client({ retries: 0, breakerFailureThreshold: 2, breakerCooldownMs: 200, maxConcurrent: 5 });
    fake.down({ status: 500 });
    for (let i = 0; i < 2; i++) await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 250));
    fake.latencyMs = 50;
    const probes = await Promise.allSettled([1, 2, 3].map(() => zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)));
    expect(probes.map((p) => (p.status === 'rejected' ? (p.reason as Error).constructor.name : 'ok'))).toEqual(['ZohoApiError', 'ZohoUnavailableError', 'ZohoUnavailableError']);
    expect(fake.count()).toBe(3);
    expect(zoho.breakerState()).toBe('open');
  });

  it('successes in between reset the count; 4xx and not-found do not count', async () => {
    const zoho = client({ retries: 0, breakerFailureThreshold: 3, breakerCooldownMs: 10_000 });
    fake.fail({ status: 500, times: 2 });
    await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toThrow();
    await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toThrow();
    await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    fake.fail({ status: 500, times: 2 }, { status: 400, times: 3 });
    for (let i = 0; i < 5; i++) await expect(zoho.getRecord('BTEC_Students', STUDENTS[0]!.id)).rejects.toThrow();
    expect(await zoho.getRecord('BTEC_Students', '5725767999999999999')).toBeNull();
    expect(zoho.breakerState()).toBe('closed');
  });
});

describe('status for syncStats / metrics', () => {
  it('reports breaker state, credits and request counters; not configured when there is no client', async () => {
    expect(await zohoStatus(null)).toEqual({ configured: false });
    const zoho = client({ dailyCredits: 10, retries: 1 });
    fake.fail({ status: 500 });
    await zoho.getRecord('BTEC_Students', STUDENTS[0]!.id);
    expect(await zohoStatus(zoho)).toEqual({
      configured: true,
      breaker: 'closed',
      remainingCredits: 8,
      dailyCredits: 10,
      sharedBudget: false,
      requests: { sent: 2, failed: 1, retried: 1 },
      tokenRefreshes: 1,
    });
  });
});

describe('API', () => {
  it('getRecords batches 100 ids per request', async () => {
    const zoho = client();
    const ids = STUDENTS.map((s) => s.id);
    const records = await zoho.getRecords('BTEC_Students', [...ids, ids[0]!, '5725767999999999999']);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(ids));
    expect(fake.count()).toBe(3);
    expect(fake.calls.map((c) => c.query.get('ids')!.split(',').length).sort()).toEqual([100, 100, 51]);
  });

  it('search: criteria escaped, 204 → [], more_records followed', async () => {
    const zoho = client();
    expect(await zoho.search('BTEC_Students', criteria('Student_Moodle_ID', 'equals', '80003'))).toEqual([expect.objectContaining({ id: STUDENTS[3]!.id })]);
    expect(fake.calls[0]!.query.get('criteria')).toBe('(Student_Moodle_ID:equals:80003)');
    expect(await zoho.search('BTEC_Students', criteria('Student_Moodle_ID', 'equals', 'nobody(1),x'))).toEqual([]);
    expect(fake.calls[1]!.query.get('criteria')).toBe('(Student_Moodle_ID:equals:nobody\\(1\\)\\,x)');
    expect(fake.calls[1]!.status).toBe(204);
    const everyone = await zoho.search('BTEC_Students', criteria('City', 'equals', 'Amman'));
    expect(everyone).toHaveLength(250);
    expect(fake.count('/crm/v2/BTEC_Students/search')).toBe(4);
  });

  it('listPage: 200 per page, more_records, If-Modified-Since (304 → empty)', async () => {
    const zoho = client();
    const first = await zoho.listPage('BTEC_Students', 1);
    const second = await zoho.listPage('BTEC_Students', 2);
    expect([first.records.length, first.moreRecords, second.records.length, second.moreRecords]).toEqual([200, true, 50, false]);
    fake.put('BTEC_Programs', programRecord(zohoId(33, 1), 'CS', new Date('2026-01-10T08:00:00Z')), programRecord(zohoId(33, 2), 'BM', new Date('2026-03-10T08:00:00Z')));
    const since = await zoho.listPage('BTEC_Programs', 1, { since: new Date('2026-02-01T00:00:00Z') });
    expect(since.records.map((r) => r.Program_Code)).toEqual(['BM']);
    expect(fake.calls.at(-1)!.headers['if-modified-since']).toBe('2026-02-01T00:00:00.000Z');
    expect(await zoho.listPage('BTEC_Programs', 1, { since: new Date('2026-06-01T00:00:00Z') })).toEqual({ records: [], page: 1, moreRecords: false });
    expect(fake.calls.at(-1)!.status).toBe(304);
  });

  it('refuses module names and ids that are not plain path segments', async () => {
    const zoho = client();
    await expect(zoho.getRecord('../settings', '1')).rejects.toThrow(RangeError);
    await expect(zoho.getRecord('BTEC_Students', '1/../../x')).rejects.toThrow(RangeError);
    expect(fake.count()).toBe(0);
  });
});
