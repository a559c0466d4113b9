import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestApp, type TestApp } from '../support/app.js';
import { useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID } from '../support/fixtures.js';
import { REDIS_URL, requireRedis, uniqueNamespace } from '../support/redis.js';
import { paymentEvent, postWebhook } from '../support/webhooks.js';

const database = useFreshDatabase();
const namespace = uniqueNamespace();
let a: TestApp;
let b: TestApp;
let portA: number;
let portB: number;
const clients: Client[] = [];

beforeAll(async () => {
  await requireRedis();
  a = createTestApp({ redisUrl: REDIS_URL, redisNamespace: namespace });
  b = createTestApp({ redisUrl: REDIS_URL, redisNamespace: namespace });
  portA = await a.app.start(0, '127.0.0.1');
  portB = await b.app.start(0, '127.0.0.1');
  // Warm both instances (first query plans, first Redis subscription) so timings measure delivery.
  const admin = await a.token('admin');
  const warm = subscribe(connect(portB, admin), 'subscription { syncEvents { id } }');
  await settle();
  const student = await lina();
  const delivered = warm.next(10_000);
  await postWebhook(a.app, 'zoho', paymentEvent(student.zohoId!, '7771000000000000000', '1.00', '2031-04-30T10:00:00+00:00'));
  await delivered;
  warm.stop();
});

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await a?.app.stop();
  await b?.app.stop();
});

function connect(port: number, token?: string): Client {
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
  clients.push(client);
  return client;
}

interface Collected<T> {
  messages: T[];
  errors: unknown[];
  next(timeoutMs?: number): Promise<T>;
  stop(): void;
}

/** Subscribes and collects; resolves `ready` once the server has accepted the subscription. */
function subscribe<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Collected<T> {
  const messages: T[] = [];
  const errors: unknown[] = [];
  let waiter: ((value: T) => void) | null = null;
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(result.errors);
        else {
          messages.push(result.data as T);
          waiter?.(result.data as T);
          waiter = null;
        }
      },
      error: (error) => errors.push(error),
      complete: () => {},
    },
  );
  return {
    messages,
    errors,
    stop,
    next: (timeoutMs = 1000) =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms (errors: ${JSON.stringify(errors)})`)), timeoutMs);
        waiter = (value) => {
          clearTimeout(timer);
          resolve(value);
        };
      }),
  };
}

/** graphql-ws gives no "subscribed" ack: wait until the server has registered the subscription. */
const settle = () => new Promise((r) => setTimeout(r, 300));

async function lina() {
  return database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
}

describe('syncEvents subscription', () => {
  it('delivers a committed webhook to an admin within 1 s, from another instance too', async () => {
    const admin = await a.token('admin');
    const onA = subscribe(connect(portA, admin), 'subscription { syncEvents { id module status entityType waitingFor } }');
    const onB = subscribe(connect(portB, admin), 'subscription($s: [IngestStatus!]) { syncEvents(statuses: $s) { id module status } }', { s: ['CREATED'] });
    await settle();
    const student = await lina();
    const sent = Date.now();
    const nextA = onA.next();
    const nextB = onB.next();
    const reply = await postWebhook(a.app, 'zoho', paymentEvent(student.zohoId!, '7771000000000000001', '12.34', '2031-05-01T10:00:00+00:00'));
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
    const [gotA, gotB] = await Promise.all([nextA, nextB]);
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(gotA.syncEvents).toMatchObject({ id: reply.body.results![0]!.eventId, module: 'BTEC_Payments', status: 'CREATED', entityType: 'Payment' });
    expect(gotB.syncEvents).toMatchObject({ id: reply.body.results![0]!.eventId, status: 'CREATED' });
    onA.stop();
    onB.stop();
  });

  it('publishes PARKED with its reason, and nothing for UNCHANGED or DUPLICATE', async () => {
    const admin = await a.token('admin');
    const feed = subscribe(connect(portA, admin), 'subscription { syncEvents { id status waitingFor } }');
    await settle();
    const student = await lina();
    const event = paymentEvent(student.zohoId!, '7771000000000000002', '20.00', '2031-05-02T10:00:00+00:00');
    let next = feed.next();
    await postWebhook(a.app, 'zoho', event);
    expect((await next).syncEvents.status).toBe('CREATED');

    await postWebhook(a.app, 'zoho', event); // DUPLICATE
    await postWebhook(a.app, 'zoho', paymentEvent(student.zohoId!, '7771000000000000002', '20.00', '2031-05-02T10:00:00+00:00')); // UNCHANGED
    next = feed.next();
    const parked = await postWebhook(a.app, 'zoho', paymentEvent('7779999999999999999', '7771000000000000003', '1.00', '2031-05-03T10:00:00+00:00'));
    expect(parked.body.results?.[0]?.status).toBe('PARKED');
    const message = await next;
    expect(message.syncEvents).toMatchObject({ status: 'PARKED', waitingFor: 'Student:zohoId:7779999999999999999' });
    expect(feed.messages.map((m: any) => m.syncEvents.status)).toEqual(['CREATED', 'PARKED']);
    feed.stop();
  });

  it('reads the event once for every admin following it, on both instances', async () => {
    const admin = await a.token('admin');
    const feeds = Array.from({ length: 10 }, (_, i) => subscribe(connect(i % 2 ? portB : portA, admin), 'subscription { syncEvents { id status module } }'));
    await settle();
    const student = await lina();
    const delivered = Promise.all(feeds.map((f) => f.next(5000)));
    database.statements.length = 0;
    const reply = await postWebhook(a.app, 'zoho', paymentEvent(student.zohoId!, '7771000000000000010', '3.00', '2031-05-06T10:00:00+00:00'));
    const messages = await delivered;
    expect(messages.map((m: any) => m.syncEvents.id)).toEqual(Array(10).fill(reply.body.results![0]!.eventId));
    // (the ingest's own parked-event lookup joins SyncEvent too; the subscription reads it as t0)
    const reads = database.statements.filter((q) => q.startsWith('SELECT') && q.includes('FROM "public"."SyncEvent" AS "t0"'));
    expect(reads, reads.join('\n\n')).toHaveLength(1);
    for (const f of feeds) f.stop();
  });

  it('refuses non-admins with an error', async () => {
    const staff = await a.token('staff');
    const feed = subscribe(connect(portA, staff), 'subscription { syncEvents { id } }');
    await expect(feed.next(1000)).rejects.toThrow();
    expect(JSON.stringify(feed.errors)).toContain('FORBIDDEN');
    const anonymous = subscribe(connect(portA), 'subscription { syncEvents { id } }');
    await expect(anonymous.next(1000)).rejects.toThrow();
    expect(JSON.stringify(anonymous.errors)).toContain('UNAUTHENTICATED');
  });

  it('closes a connection whose token is invalid', async () => {
    const closed = await new Promise<{ code: number }>((resolve) => {
      const client = createClient({
        url: `ws://127.0.0.1:${portA}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        connectionParams: { authorization: 'Bearer not-a-token' },
        on: { closed: (event) => resolve(event as { code: number }) },
      });
      clients.push(client);
    });
    expect(closed.code).toBe(4403);
  });
});

describe('studentUpdated subscription', () => {
  it('sends a student their own changes with the sections and refreshed data they selected', async () => {
    const student = await lina();
    const token = await a.token('student', { moodleUserId: DEMO_MOODLE_USER_ID });
    const feed = subscribe(
      connect(portB, token),
      'subscription { studentUpdated { sections at student { id fullName finance { payments { amount } } } } }',
    );
    await settle();
    const next = feed.next();
    await postWebhook(a.app, 'zoho', paymentEvent(student.zohoId!, '7771000000000000004', '77.70', '2031-05-04T10:00:00+00:00'));
    const { studentUpdated } = await next;
    expect(studentUpdated.sections).toEqual(['FINANCE']);
    expect(studentUpdated.student.id).toBe(student.id);
    expect(studentUpdated.student.finance.payments.map((p: any) => p.amount)).toContain('77.70');
    feed.stop();
  });

  it('does not let a student follow another student, and staff follow any student of their tenant', async () => {
    const student = await lina();
    const other = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', deletedAt: null, id: { not: student.id }, moodleUserId: { not: null } } });
    const token = await a.token('student', { moodleUserId: DEMO_MOODLE_USER_ID });
    const spy = subscribe(connect(portA, token), 'subscription($id: ID) { studentUpdated(id: $id) { sections } }', { id: other.id });
    await expect(spy.next(1000)).rejects.toThrow();
    expect(JSON.stringify(spy.errors)).toContain('FORBIDDEN');

    const northfieldStaff = await a.token('staff', { tenant: 'northfield' });
    const crossTenant = subscribe(connect(portA, northfieldStaff), 'subscription($id: ID) { studentUpdated(id: $id) { sections } }', { id: student.id });
    await expect(crossTenant.next(1000)).rejects.toThrow();
    expect(JSON.stringify(crossTenant.errors)).toContain('NOT_FOUND');

    const staff = await a.token('staff');
    const watcher = subscribe(connect(portA, staff), 'subscription($id: ID) { studentUpdated(id: $id) { sections student { id } } }', { id: other.id });
    const everyone = subscribe(connect(portA, staff), 'subscription { studentUpdated { student { id } } }');
    await settle();
    const nextOne = watcher.next();
    const nextAll = everyone.next();
    await postWebhook(a.app, 'zoho', paymentEvent(other.zohoId!, '7771000000000000005', '5.00', '2031-05-05T10:00:00+00:00'));
    expect((await nextOne).studentUpdated.student.id).toBe(other.id);
    expect((await nextAll).studentUpdated.student.id).toBe(other.id);
    watcher.stop();
    everyone.stop();
  });

  it('refetches a changed student once for all staff following with the same selection', async () => {
    const staff = await a.token('staff');
    const feeds = Array.from({ length: 8 }, () => subscribe(connect(portA, staff), 'subscription { studentUpdated { sections student { id fullName } } }'));
    await settle();
    const student = await lina();
    const delivered = Promise.all(feeds.map((f) => f.next(5000)));
    database.statements.length = 0;
    await postWebhook(a.app, 'zoho', paymentEvent(student.zohoId!, '7771000000000000011', '4.00', '2031-05-07T10:00:00+00:00'));
    const messages = await delivered;
    expect(messages.map((m: any) => m.studentUpdated.student.fullName)).toEqual(Array(8).fill(student.fullName));
    // Staff see the tenant: the refetch is the only Student read scoped by tenant and id alone
    // (the ingest looks the student up by zohoId; students following their own read by moodleUserId).
    const reads = database.statements.filter((q) => q.startsWith('SELECT') && q.includes('FROM "public"."Student" AS "t0"') && q.includes('WHERE ("t0"."tenantId" = $1 AND "t0"."deletedAt" IS NULL AND "t0"."id" = $2)'));
    expect(reads, reads.join('\n\n')).toHaveLength(1);
    for (const f of feeds) f.stop();
  });
});
