import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { signToken } from '../../src/auth/jwt.js';
import { signBody } from '../../src/auth/signature.js';
import { DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { logRedaction, maskEmail } from '../../src/logger.js';
import { createTestApp } from '../support/app.js';
import { useFreshDatabase } from '../support/database.js';
import { someoneWaitsFor } from '../support/postgres.js';
import { DEMO_MOODLE_USER_ID, JWT_SECRET, TEST_TENANTS } from '../support/fixtures.js';
import { REDIS_URL, requireRedis, startDedicatedRedis, uniqueNamespace } from '../support/redis.js';
import { paymentEvent, postWebhook } from '../support/webhooks.js';

const database = useFreshDatabase();
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

/** An app whose log lines are captured as parsed JSON objects. */
function appWithCapturedLogs(options: { redisUrl?: string } = {}) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const log = pino({ level: 'debug', redact: logRedaction }, sink);
  const app = buildApp({ log, jwtSecret: JWT_SECRET, defaultTenant: 'default', graphiql: false, cacheTtlSeconds: 0, redisUrl: options.redisUrl, redisNamespace: uniqueNamespace() });
  stops.push(() => app.stop());
  return { app, lines };
}

describe('metrics', () => {
  it('exposes HTTP, GraphQL, ingest, cache, subscription and pool series in Prometheus format', async () => {
    const t = createTestApp({ cacheTtlSeconds: 60 });
    stops.push(() => t.app.stop());
    const admin = await t.token('admin');
    await t.graphql(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, admin);
    await t.graphql(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, admin);
    const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    await postWebhook(t.app, 'zoho', paymentEvent(lina.zohoId!, '7773000000000000001', '1.00', '2031-07-01T10:00:00+00:00'));
    const response = await t.app.yoga.fetch('http://test/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    for (const series of [
      'graphql_yoga_http_duration_bucket',
      'graphql_envelop_request_duration_bucket',
      'graphql_envelop_phase_execute_bucket',
      'campus_graph_ingest_outcomes_total{status="CREATED",source="ZOHO",module="BTEC_Payments"} 1',
      'campus_graph_webhook_request_seconds_count{route="/webhooks/zoho",status="200"} 1',
      'campus_graph_parked_events',
      'campus_graph_response_cache_hits_total 1',
      'campus_graph_response_cache_misses_total',
      'campus_graph_websocket_connections 0',
      'campus_graph_subscriptions_active 0',
      'campus_graph_db_pool_connections{state="total"}',
      'campus_graph_process_resident_memory_bytes',
    ]) {
      expect(text).toContain(series);
    }
  });
  it('shows group commit at work: events per committed ingest transaction and its duration', async () => {
    const t = createTestApp();
    stops.push(() => t.app.stop());
    const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const payments = ['7773000000000000011', '7773000000000000012', '7773000000000000013'].map((id) => paymentEvent(lina.zohoId!, id, '2.00', '2031-07-02T10:00:00+00:00').data);
    const bulk = await postWebhook(t.app, 'zoho', { module: 'BTEC_Payments', data: payments });
    expect(bulk.body.results?.map((r) => r.status)).toEqual(['CREATED', 'CREATED', 'CREATED']);
    const single = await postWebhook(t.app, 'zoho', paymentEvent(lina.zohoId!, '7773000000000000014', '3.00', '2031-07-02T10:00:00+00:00'));
    expect(single.body.results?.map((r) => r.status)).toEqual(['CREATED']);
    // Bad input writes nothing: the record's columns refuse it, its transaction (tried twice) rolls back and is not counted.
    expect((await postWebhook(t.app, 'zoho', { module: 'BTEC_Payments', data: [{ id: 'x' }] })).body.results?.[0]?.status).toBe('REJECTED');

    const text = await (await t.app.yoga.fetch('http://test/metrics')).text();
    for (const series of [
      'campus_graph_ingest_batch_events_bucket{le="1"} 1',
      'campus_graph_ingest_batch_events_bucket{le="2"} 1',
      'campus_graph_ingest_batch_events_bucket{le="4"} 2',
      'campus_graph_ingest_batch_events_sum 4',
      'campus_graph_ingest_batch_events_count 2',
      'campus_graph_ingest_transaction_seconds_count 2',
    ]) {
      expect(text).toContain(series);
    }
    const seconds = Number(/^campus_graph_ingest_transaction_seconds_sum (\S+)$/m.exec(text)?.[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(30);
  });

  it('counts ingest transactions tried again, by reason: an event alone that loses its key to another transaction is a key race', async () => {
    const t = createTestApp();
    stops.push(() => t.app.stop());
    const zohoId = '7773000000000000021';
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      // Another writer (an instance not taking our entity locks) inserts the student and has not committed yet.
      await other.query('BEGIN');
      await other.query(`INSERT INTO "Student" ("id", "tenantId", "zohoId", "fullName") VALUES (gen_random_uuid(), 'default', $1, 'Written Elsewhere')`, [zohoId]);
      const reply = postWebhook(t.app, 'zoho', {
        notification_id: `retry-${zohoId}`,
        module: 'BTEC_Students',
        operation: 'insert',
        record_id: zohoId,
        data: { id: zohoId, Name: 'STU-0021', Full_Name: 'Retried Student', Status: 'Active', Modified_Time: '2031-07-03T10:00:00+00:00' },
      });
      // Our insert of the same key waits for that transaction, then fails on the unique key: tried again, it updates the row.
      await someoneWaitsFor(other, 'transactionid').finally(() => other.query('COMMIT'));
      expect((await reply).body.results?.map((r) => r.status)).toEqual(['UPDATED']);
    } finally {
      await other.end();
    }
    expect(await database.db.student.findMany({ where: { tenantId: 'default', zohoId }, select: { fullName: true } })).toEqual([{ fullName: 'Retried Student' }]);
    const text = await (await t.app.yoga.fetch('http://test/metrics')).text();
    const retries = Object.fromEntries([...text.matchAll(/^campus_graph_ingest_retries_total\{reason="(\w+)"\} (\S+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(retries).toEqual({ deadlock: 0, serialization: 0, lock_busy: 0, key_race: 1, refused_value: 0, split: 0 });
  });
});

describe('health', () => {
  it('reports database, migrations, cache and pub/sub; a stopped Redis is degraded, not down', async () => {
    await requireRedis();
    const redis = await startDedicatedRedis();
    stops.push(() => redis.stop());
    const { app } = appWithCapturedLogs({ redisUrl: redis.url });
    await new Promise((r) => setTimeout(r, 200));
    const ready = await app.yoga.fetch('http://test/health');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', database: 'ok', migrations: 'ok', cache: 'ok', pubsub: 'ok' });

    await redis.stop();
    await new Promise((r) => setTimeout(r, 300));
    const degraded = await app.yoga.fetch('http://test/health');
    expect(degraded.status).toBe(200);
    expect(await degraded.json()).toMatchObject({ status: 'ok', database: 'ok', cache: 'degraded', pubsub: 'degraded' });
    expect((await app.yoga.fetch('http://test/health/live')).status).toBe(200);
  });

  it('is not ready while migrations are pending', async () => {
    const t = createTestApp();
    stops.push(() => t.app.stop());
    const [last] = await database.db.$queryRawUnsafe<{ id: string }[]>('SELECT id FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1');
    await database.db.$executeRawUnsafe('UPDATE _prisma_migrations SET finished_at = NULL WHERE id = $1', last!.id);
    try {
      const res = await t.app.yoga.fetch('http://test/health');
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'unavailable', database: 'ok', migrations: 'pending' });
    } finally {
      await database.db.$executeRawUnsafe('UPDATE _prisma_migrations SET finished_at = now() WHERE id = $1', last!.id);
    }
  });
});

describe('logs', () => {
  it('writes one line per request with its request id (taken from x-request-id or made) and never the token', async () => {
    const { app, lines } = appWithCapturedLogs({ redisUrl: REDIS_URL });
    const token = await signToken({ sub: 'log-admin', role: 'admin', tenant: 'default' }, JWT_SECRET);
    const given = await app.yoga.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'req-from-the-edge' },
      body: JSON.stringify({ query: '{ syncStats { parkedBacklog } }' }),
    });
    expect(given.headers.get('x-request-id')).toBe('req-from-the-edge');
    const made = await app.yoga.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ syncStats { parkedBacklog } }' }),
    });
    const madeId = made.headers.get('x-request-id');
    expect(madeId).toMatch(/^[0-9a-f-]{36}$/);
    const requestLines = lines.filter((l) => l.msg === 'request');
    expect(requestLines.map((l) => l.requestId)).toEqual(expect.arrayContaining(['req-from-the-edge', madeId]));
    for (const line of requestLines) expect(line).toMatchObject({ method: 'POST', path: '/graphql', status: 200 });
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it('writes the same line for a webhook over a real port (served ahead of Yoga), and echoes its request id', async () => {
    const { app, lines } = appWithCapturedLogs();
    const base = `http://127.0.0.1:${await app.start(0, '127.0.0.1')}`;
    const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const body = JSON.stringify(paymentEvent(lina.zohoId!, '7773000000000000002', '2.00', '2031-07-02T10:00:00+00:00'));
    const signed = await fetch(`${base}/webhooks/zoho?source=crm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature-256': signBody(body, TEST_TENANTS[0].webhookSecret), 'x-request-id': 'zoho-delivery-1' },
      body,
    });
    expect(signed.status).toBe(200);
    expect(signed.headers.get('x-request-id')).toBe('zoho-delivery-1');
    const unsigned = await fetch(`${base}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unsigned.status).toBe(401);
    const madeId = unsigned.headers.get('x-request-id');
    expect(madeId).toMatch(/^[0-9a-f-]{36}$/);
    const requestLines = lines.filter((l) => l.msg === 'request');
    expect(requestLines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ requestId: 'zoho-delivery-1', method: 'POST', path: '/webhooks/zoho', status: 200, ms: expect.any(Number) }),
        expect.objectContaining({ requestId: madeId, method: 'POST', path: '/webhooks/moodle', status: 401 }),
      ]),
    );
    expect(requestLines.filter((l) => String(l.path).startsWith('/webhooks/'))).toHaveLength(2);
  });

  it('masks student emails and redacts secrets in whatever is logged', () => {
    const lines: string[] = [];
    const log = pino({ redact: logRedaction }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    log.info({ student: { email: 'lina.haddad@college.example' }, token: 'abc', tenant: { webhookSecret: 's3cret' } }, 'x');
    expect(lines[0]).toContain(maskEmail('lina.haddad@college.example')!);
    expect(lines[0]).not.toContain('lina.haddad@');
    expect(lines[0]).not.toContain('s3cret');
    expect(lines[0]).not.toContain('"abc"');
  });
});
