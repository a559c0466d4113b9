import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { recordStatements, useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID } from '../support/fixtures.js';
import { REDIS_URL, requireRedis, startDedicatedRedis, uniqueNamespace, type DedicatedRedis } from '../support/redis.js';
import { paymentEvent, postWebhook } from '../support/webhooks.js';

const database = useFreshDatabase();
const apps: TestApp[] = [];

function cachedApp(redisUrl = REDIS_URL, namespace = uniqueNamespace()) {
  const app = createTestApp({ redisUrl, cacheTtlSeconds: 300, redisNamespace: namespace });
  apps.push(app);
  return app;
}

beforeAll(() => requireRedis());
afterAll(async () => {
  for (const { app } of apps) await app.stop();
});

/**
 * A read right after a miss: @envelop/response-cache stores a miss without awaiting it (plugin.js
 * calls cache.set fire-and-forget), so on a loaded machine the next read can race the store. The
 * repeated read is served from the cache within a few tries; what is asserted stays "a read with no
 * SQL". (Not for reads after an invalidation: there a retry would hide a wrong one.)
 */
async function readAfterMiss<T>(read: () => Promise<T>) {
  for (let attempt = 0; ; attempt++) {
    const recorded = await recordStatements(database, read);
    if (recorded.statements.length === 0 || attempt === 20) return recorded;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function students() {
  const rows = await database.db.student.findMany({
    where: { tenantId: 'default', deletedAt: null, zohoId: { not: null }, moodleUserId: { not: null } },
    orderBy: { studentNumber: 'asc' },
    take: 2,
    skip: 50,
  });
  const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
  return { lina, other: rows[0]! };
}

const dashboard = (t: TestApp, moodleUserId: string, token: string) => t.graphql(DASHBOARD_QUERY, { moodleUserId }, token);

describe('response cache on Redis', () => {
  it('serves a repeated dashboard with 0 SQL statements and invalidates exactly the touched student', async () => {
    const t = cachedApp();
    const admin = await t.token('admin');
    const { lina, other } = await students();

    const first = await recordStatements(database, () => dashboard(t, lina.moodleUserId!, admin));
    expect(first.result.errors).toBeUndefined();
    expect(first.statements.length).toBeGreaterThan(0);
    const second = await readAfterMiss(() => dashboard(t, lina.moodleUserId!, admin));
    expect(second.statements).toHaveLength(0);
    expect(second.result.data).toEqual(first.result.data);
    await dashboard(t, other.moodleUserId!, admin);

    // A payment of the other student: Lina's dashboard stays cached.
    const touchOther = await postWebhook(t.app, 'zoho', paymentEvent(other.zohoId!, '7770000000000000001', '111.11', '2031-01-01T10:00:00+00:00'));
    expect(touchOther.body.results?.[0]?.status).toBe('CREATED');
    const linaStillCached = await recordStatements(database, () => dashboard(t, lina.moodleUserId!, admin));
    expect(linaStillCached.statements).toHaveLength(0);
    const otherFresh = await recordStatements(database, () => dashboard(t, other.moodleUserId!, admin));
    expect(otherFresh.statements.length).toBeGreaterThan(0);
    expect(otherFresh.result.data!.student.finance.payments.map((p: any) => p.amount)).toContain('111.11');

    // A payment of Lina: her next read runs SQL and shows it.
    const touchLina = await postWebhook(t.app, 'zoho', paymentEvent(lina.zohoId!, '7770000000000000002', '222.22', '2031-01-01T10:00:00+00:00'));
    expect(touchLina.body.results?.[0]?.status).toBe('CREATED');
    const linaFresh = await recordStatements(database, () => dashboard(t, lina.moodleUserId!, admin));
    expect(linaFresh.statements.length).toBeGreaterThan(0);
    expect(linaFresh.result.data!.student.finance.payments.map((p: any) => p.amount)).toContain('222.22');
    const counters = t.app.cache!.counters;
    expect(counters.hits).toBeGreaterThanOrEqual(2);
    expect(counters.errors).toBe(0);
  });

  it('serves a hit byte for byte as the miss was sent, with its ETag, and 304 for If-None-Match', async () => {
    const t = cachedApp();
    const admin = await t.token('admin');
    const { other } = await students();
    const post = async (headers: Record<string, string> = {}): Promise<Response> =>
      t.app.yoga.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${admin}`, ...headers },
        body: JSON.stringify({ query: DASHBOARD_QUERY, variables: { moodleUserId: other.moodleUserId } }),
      });
    const miss = await post();
    const missBody = await miss.text();
    const hitsBefore = t.app.cache!.counters.hits;
    const hit = await readAfterMiss(() => post());
    const hitBody = await hit.result.text();
    expect(t.app.cache!.counters.hits).toBe(hitsBefore + 1);
    expect(hit.statements).toHaveLength(0);
    expect(hitBody).toBe(missBody);
    expect(JSON.parse(hitBody).data.student.id).toBe(other.id);
    expect(hit.result.status).toBe(200);
    expect(hit.result.headers.get('content-type')).toBe(miss.headers.get('content-type'));
    expect(hit.result.headers.get('content-type')).toContain('application/graphql-response+json');
    expect(hit.result.headers.get('etag')).toMatch(/^[0-9a-f]{64}$/);
    expect(hit.result.headers.get('etag')).toBe(miss.headers.get('etag'));
    const notModified = await post({ 'if-none-match': miss.headers.get('etag')! });
    expect(notModified.status).toBe(304);
  });

  it('invalidates nothing for UNCHANGED, DUPLICATE and STALE events', async () => {
    const t = cachedApp();
    const admin = await t.token('admin');
    const { lina } = await students();
    const event = paymentEvent(lina.zohoId!, '7770000000000000003', '10.00', '2031-02-01T10:00:00+00:00');
    expect((await postWebhook(t.app, 'zoho', event)).body.results?.[0]?.status).toBe('CREATED');
    await dashboard(t, lina.moodleUserId!, admin);

    const replies = [
      await postWebhook(t.app, 'zoho', event), // same notification id
      await postWebhook(t.app, 'zoho', paymentEvent(lina.zohoId!, '7770000000000000003', '10.00', '2031-02-01T10:00:00+00:00')), // same content
      await postWebhook(t.app, 'zoho', paymentEvent(lina.zohoId!, '7770000000000000003', '99.00', '2031-01-01T10:00:00+00:00')), // older
    ];
    expect(replies.map((r) => r.body.results?.[0]?.status)).toEqual(['DUPLICATE', 'UNCHANGED', 'STALE']);
    const read = await recordStatements(database, () => dashboard(t, lina.moodleUserId!, admin));
    expect(read.statements).toHaveLength(0);
  });

  it('never serves one viewer\'s cached result to another viewer or tenant', async () => {
    const t = cachedApp();
    const { lina, other } = await students();
    const linaToken = await t.token('student', { moodleUserId: lina.moodleUserId! });
    const otherToken = await t.token('student', { moodleUserId: other.moodleUserId! });
    const query = 'query($m: String) { student(moodleUserId: $m) { id fullName finance { balance } } }';
    const own = await t.graphql(query, { m: lina.moodleUserId }, linaToken);
    expect(own.data!.student.fullName).toBe('Lina Haddad');
    const again = await t.graphql(query, { m: lina.moodleUserId }, linaToken);
    expect(again.data).toEqual(own.data);
    const stranger = await t.graphql(query, { m: lina.moodleUserId }, otherToken);
    expect(stranger.data!.student).toBeNull();

    const adminDefault = await t.token('admin');
    const adminNorthfield = await t.token('admin', { tenant: 'northfield' });
    const list = '{ students(first: 5) { edges { node { id } } } }';
    const defaultIds = (await t.graphql(list, {}, adminDefault)).data!.students.edges.map((e: any) => e.node.id);
    const northfieldIds = (await t.graphql(list, {}, adminNorthfield)).data!.students.edges.map((e: any) => e.node.id);
    expect(northfieldIds).toHaveLength(5);
    expect(northfieldIds.filter((id: string) => defaultIds.includes(id))).toEqual([]);
  });

  it('gives read-your-writes across two instances on one Redis', async () => {
    const namespace = uniqueNamespace();
    const a = cachedApp(REDIS_URL, namespace);
    const b = cachedApp(REDIS_URL, namespace);
    const admin = await b.token('admin');
    const { lina } = await students();
    await dashboard(b, lina.moodleUserId!, admin);
    const cached = await readAfterMiss(() => dashboard(b, lina.moodleUserId!, admin));
    expect(cached.statements).toHaveLength(0);

    const reply = await postWebhook(a.app, 'zoho', paymentEvent(lina.zohoId!, '7770000000000000004', '444.44', '2031-03-01T10:00:00+00:00'));
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
    const fromB = await dashboard(b, lina.moodleUserId!, admin);
    expect(fromB.data!.student.finance.payments.map((p: any) => p.amount)).toContain('444.44');
  });
});

describe('Redis failure', () => {
  let redis: DedicatedRedis;
  beforeAll(async () => {
    redis = await startDedicatedRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('serves every query from Postgres while Redis is down, and caches again when it is back', async () => {
    const t = cachedApp(redis.url);
    const admin = await t.token('admin');
    const { lina } = await students();
    await dashboard(t, lina.moodleUserId!, admin);
    expect((await readAfterMiss(() => dashboard(t, lina.moodleUserId!, admin))).statements).toHaveLength(0);

    await redis.stop();
    const failures: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await recordStatements(database, () => dashboard(t, lina.moodleUserId!, admin));
      if (res.result.errors || !res.result.data?.student) failures.push(res.result.errors);
      expect(res.statements.length).toBeGreaterThan(0); // from Postgres
    }
    // Ingest while Redis is down: acknowledged, and its invalidation is replayed later.
    const reply = await postWebhook(t.app, 'zoho', paymentEvent(lina.zohoId!, '7770000000000000005', '555.55', '2031-04-01T10:00:00+00:00'));
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
    expect(failures).toEqual([]);
    expect(t.app.cache!.counters.errors).toBeGreaterThan(0);

    await redis.start();
    let hitAgain = false;
    for (let attempt = 0; attempt < 50 && !hitAgain; attempt++) {
      await new Promise((r) => setTimeout(r, 100));
      const warm = await dashboard(t, lina.moodleUserId!, admin);
      expect(warm.errors).toBeUndefined();
      expect(warm.data!.student.finance.payments.map((p: any) => p.amount)).toContain('555.55');
      hitAgain = (await recordStatements(database, () => dashboard(t, lina.moodleUserId!, admin))).statements.length === 0;
    }
    expect(hitAgain).toBe(true);
  });
});
