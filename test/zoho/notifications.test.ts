/**
 * Notifications-API callbacks (ids only) on a real Postgres and the fake Zoho: parked as
 * 'zoho-fetch', fetched in batches and applied under their own idempotency keys; a Zoho outage
 * keeps them PARKED (attempts counted, reason in the log) and the retrier applies them later.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { zohoNotificationEvents } from '../../src/ingest/envelopes.js';
import { AWAITING_ZOHO_FETCH, Ingestor, type SyncOutcome } from '../../src/ingest/pipeline.js';
import { ZohoClient, type ZohoClientOptions } from '../../src/zoho/client.js';
import { NotificationResolver, type NotificationResolverOptions } from '../../src/zoho/notification-resolver.js';
import { useFreshDatabase } from '../support/database.js';
import { FakeZoho, gradeRecord, studentRecord, zohoId, zohoTime, type FakeRecord } from '../support/fake-zoho.js';

const database = useFreshDatabase();
const TENANT = 'default';
let fake: FakeZoho;
let ingestor: Ingestor;
const outcomes: SyncOutcome[] = [];
const clients: ZohoClient[] = [];
const resolvers: NotificationResolver[] = [];
/** Zoho's server_time (ms): also the time of a delete, for the stale guard. */
let serverTime = Date.now();

function client(options: ZohoClientOptions & { dailyCredits?: number } = {}): ZohoClient {
  const { dailyCredits, ...rest } = options;
  const created = new ZohoClient(fake.settings(dailyCredits ? { dailyCredits } : {}), { retries: 1, minRetryDelayMs: 10, maxRetryDelayMs: 20, ...rest });
  clients.push(created);
  return created;
}

function resolver(zoho: ZohoClient, options: Partial<NotificationResolverOptions> = {}): NotificationResolver {
  const created = new NotificationResolver({ client: zoho, ingestor, tenantIds: [TENANT], intervalMs: 50, retryBaseMs: 200, retryMaxMs: 1_000, ...options });
  resolvers.push(created);
  return created;
}

/** Posts a Notifications-API callback through the pipeline, as the webhook route does. */
async function notify(module: string, ids: string[], operation = 'update') {
  const body = { server_time: ++serverTime, query_params: {}, module, resource_uri: `https://www.zohoapis.com/crm/v2/${module}`, ids, affected_fields: [], operation, channel_id: '1000000068001', token: 'channel-token' };
  const results = [];
  for (const event of zohoNotificationEvents(body)) results.push(await ingestor.ingest(TENANT, event));
  expect(results.map((r) => r.status)).toEqual(ids.map(() => 'PARKED'));
  return results.map((r) => r.eventId!);
}

async function logOf(eventIds: string[]) {
  const rows = await database.db.syncEvent.findMany({ where: { id: { in: eventIds } }, include: { parked: true } });
  return eventIds.map((id) => rows.find((r) => r.id === id)!);
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

let seeded: { id: string; zohoId: string; city: string | null }[];

beforeAll(async () => {
  fake = await FakeZoho.start();
  ingestor = new Ingestor();
  ingestor.onOutcomes((o) => void outcomes.push(...o));
  seeded = (await database.db.student.findMany({ where: { tenantId: TENANT, deletedAt: null, zohoId: { not: null } }, orderBy: { zohoId: 'asc' }, take: 150, select: { id: true, zohoId: true, city: true } })) as typeof seeded;
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.clearFailures();
  fake.resetCounts();
  outcomes.length = 0;
});
afterEach(async () => {
  for (const r of resolvers.splice(0)) await r.stop();
  for (const c of clients.splice(0)) c.close();
});

/** Zoho's current version of a seeded student: moved to another city, modified now. */
function updatedSeeded(index: number, city: string): FakeRecord {
  const row = seeded[index]!;
  return { ...studentRecord({ id: row.zohoId, moodleUserId: `seed-${index}`, number: index }), Student_Moodle_ID: undefined, Full_Name: `Seeded ${index}`, City: city, Modified_Time: zohoTime(new Date()) } as FakeRecord;
}

describe('notification resolver', () => {
  it('fetches parked ids in one batched request and applies them under their own keys (CREATED / UPDATED)', async () => {
    const fresh = studentRecord({ id: zohoId(41, 1), moodleUserId: '74001', number: 7401 });
    fake.put('BTEC_Students', fresh, updatedSeeded(0, 'Zarqa'));
    const eventIds = await notify('BTEC_Students', [fresh.id, seeded[0]!.zohoId]);
    const [before] = await logOf(eventIds);
    expect(before).toMatchObject({ status: 'PARKED', parked: { awaiting: AWAITING_ZOHO_FETCH, attempts: 0 } });

    const summary = await resolver(client()).runOnce();
    expect(summary).toMatchObject({ claimed: 2, resolved: 2, failed: 0, skipped: null });
    expect(fake.count()).toBe(1);
    expect(fake.calls[0]!.query.get('ids')!.split(',').sort()).toEqual([fresh.id, seeded[0]!.zohoId].sort());

    const after = await logOf(eventIds);
    expect(after.map((r) => [r.status, r.parked])).toEqual([
      ['CREATED', null],
      ['UPDATED', null],
    ]);
    expect(after.map((r) => r.idempotencyKey)).toEqual([`zoho:1000000068001:${serverTime}:${fresh.id}`, `zoho:1000000068001:${serverTime}:${seeded[0]!.zohoId}`]);
    expect((await database.db.student.findUniqueOrThrow({ where: { id: seeded[0]!.id } })).city).toBe('Zarqa');
    expect(await database.db.student.count({ where: { tenantId: TENANT, zohoId: fresh.id } })).toBe(1);
    // Listeners (cache invalidation, pub/sub) hear of the applied events.
    expect(outcomes.filter((o) => eventIds.includes(o.eventId!)).map((o) => o.status)).toEqual(expect.arrayContaining(['CREATED', 'UPDATED']));
    // The callback re-delivered is a duplicate.
    const again = zohoNotificationEvents({ server_time: serverTime, module: 'BTEC_Students', ids: [fresh.id], operation: 'update', channel_id: '1000000068001' });
    expect((await ingestor.ingest(TENANT, again[0]!)).status).toBe('DUPLICATE');
  });

  it('a Zoho outage keeps them PARKED (attempts incremented, reason logged); the retrier applies them once Zoho recovers', async () => {
    const fresh = studentRecord({ id: zohoId(41, 2), moodleUserId: '74002', number: 7402 });
    fake.put('BTEC_Students', fresh, updatedSeeded(1, 'Aqaba'));
    const eventIds = await notify('BTEC_Students', [fresh.id, seeded[1]!.zohoId]);
    fake.down({ status: 500 });

    const zoho = client({ retries: 2 });
    const retrier = resolver(zoho);
    const first = await retrier.runOnce();
    expect(first).toMatchObject({ claimed: 2, resolved: 0, failed: 2 });
    expect(fake.count()).toBe(3); // one batched request, retried twice
    let log = await logOf(eventIds);
    for (const row of log) {
      expect(row.status).toBe('PARKED');
      expect(row.parked).toMatchObject({ awaiting: AWAITING_ZOHO_FETCH, attempts: 1 });
      expect(row.message).toMatch(/^awaiting fetch from the Zoho API: attempt 1 failed: fetching it failed: Zoho API 500 INTERNAL_ERROR.*retrying in 200 ms$/);
    }
    // Not due again before its backoff: nothing claimed, nothing sent.
    expect(await retrier.runOnce()).toMatchObject({ claimed: 0 });
    expect(fake.count()).toBe(3);

    // The background retrier keeps trying while Zoho is down…
    retrier.start();
    await until(async () => (await logOf(eventIds)).every((r) => (r.parked?.attempts ?? 0) >= 2));
    expect((await logOf(eventIds)).every((r) => r.status === 'PARKED')).toBe(true);
    // …and applies them once it is back.
    fake.up();
    await until(async () => (await logOf(eventIds)).every((r) => r.status !== 'PARKED'));
    log = await logOf(eventIds);
    expect(log.map((r) => [r.status, r.parked])).toEqual([
      ['CREATED', null],
      ['UPDATED', null],
    ]);
    expect((await database.db.student.findUniqueOrThrow({ where: { id: seeded[1]!.id } })).city).toBe('Aqaba');
  });

  it('started, it resolves a new callback at once (kicked by the parked outcome), not at the next interval', async () => {
    const retrier = resolver(client(), { intervalMs: 60_000 });
    retrier.start();
    await retrier.runOnce(); // the run start() began (or an empty one)
    await new Promise((r) => setTimeout(r, 50));
    fake.resetCounts();
    const fresh = studentRecord({ id: zohoId(41, 4), moodleUserId: '74004', number: 7404 });
    fake.put('BTEC_Students', fresh);
    const started = performance.now();
    const eventIds = await notify('BTEC_Students', [fresh.id]);
    await until(async () => (await logOf(eventIds))[0]!.status === 'CREATED', 5_000);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(fake.count()).toBe(1);
  });

  it('never overlaps runs: concurrent runOnce calls share one run', async () => {
    const fresh = studentRecord({ id: zohoId(41, 3), moodleUserId: '74003', number: 7403 });
    fake.put('BTEC_Students', fresh);
    await notify('BTEC_Students', [fresh.id]);
    const retrier = resolver(client());
    fake.latencyMs = 50;
    const [a, b] = await Promise.all([retrier.runOnce(), retrier.runOnce()]);
    fake.latencyMs = 0;
    expect(a).toBe(b);
    expect(fake.count()).toBe(1);
  });

  it('two instances on one database: each id fetched and applied once (SKIP LOCKED claims)', async () => {
    const records = Array.from({ length: 40 }, (_, i) => studentRecord({ id: zohoId(42, i + 1), moodleUserId: String(75_000 + i), number: 7500 + i }));
    fake.put('BTEC_Students', ...records);
    const eventIds = await notify('BTEC_Students', records.map((r) => r.id));
    fake.latencyMs = 30;
    const [a, b] = await Promise.all([resolver(client(), { batchSize: 25 }).runOnce(), resolver(client(), { batchSize: 25 }).runOnce()]);
    fake.latencyMs = 0;
    expect(a.claimed + b.claimed).toBe(40);
    expect(a.resolved + b.resolved).toBe(40);
    const fetchedIds = fake.calls.flatMap((c) => c.query.get('ids')!.split(','));
    expect(fetchedIds.sort()).toEqual(records.map((r) => r.id).sort());
    expect((await logOf(eventIds)).every((r) => r.status === 'CREATED')).toBe(true);
  });

  it('batches 100 ids per request; a bounded batch per run', async () => {
    const rows = seeded.slice(10, 115);
    fake.put('BTEC_Students', ...rows.map((_, i) => updatedSeeded(10 + i, 'Madaba')));
    await notify('BTEC_Students', rows.map((s) => s.zohoId));
    const retrier = resolver(client(), { batchSize: 101 });
    expect(await retrier.runOnce()).toMatchObject({ claimed: 101, resolved: 101 });
    expect(fake.calls.map((c) => c.query.get('ids')!.split(',').length).sort((a, b) => a - b)).toEqual([1, 100]);
    expect(await retrier.runOnce()).toMatchObject({ claimed: 4, resolved: 4 });
    expect(fake.count()).toBe(3);
  });

  it('a delete needs no fetch: applied at once as DELETED', async () => {
    const eventIds = await notify('BTEC_Students', [seeded[2]!.zohoId], 'delete');
    expect(await resolver(client()).runOnce()).toMatchObject({ claimed: 1, resolved: 1 });
    expect(fake.count()).toBe(0);
    expect((await logOf(eventIds))[0]).toMatchObject({ status: 'DELETED', parked: null });
    expect((await database.db.student.findUniqueOrThrow({ where: { id: seeded[2]!.id } })).deletedAt).not.toBeNull();
  });

  it('a fetched record whose parent is missing parks for that parent, then is applied when it arrives', async () => {
    const student = studentRecord({ id: zohoId(43, 1), moodleUserId: '76001', number: 7601 });
    const unitRow = await database.db.unit.findFirstOrThrow({ where: { tenantId: TENANT, deletedAt: null } });
    const unit: FakeRecord = { id: unitRow.zohoId!, Name: unitRow.name };
    const klass: FakeRecord = { id: zohoId(45, 9), Name: 'absent', Moodle_Class_ID: null };
    const grade = { ...gradeRecord(zohoId(40, 1), 1, student, unit, klass), Class: null };
    fake.put('BTEC_Grades', grade);
    const [eventId] = await notify('BTEC_Grades', [grade.id]);
    expect(await resolver(client()).runOnce()).toMatchObject({ resolved: 1 });
    const [parked] = await logOf([eventId!]);
    // The fetched record replaced the parked payload; the fetch counted its attempt, re-pointing adds none.
    expect(parked).toMatchObject({ status: 'PARKED', parked: { awaiting: `Student:zohoId:${student.id}`, attempts: 1 } });

    const [arrived] = await Promise.all([ingestor.ingest(TENANT, { idempotencyKey: 'test:student-arrives', source: 'ZOHO', module: 'BTEC_Students', operation: 'insert', recordId: student.id, raw: { kind: 'zoho-record', module: 'BTEC_Students', operation: 'upsert', operationName: 'insert', recordId: student.id, data: student } })]);
    expect(arrived.status).toBe('CREATED');
    const [applied] = await logOf([eventId!]);
    expect(applied).toMatchObject({ status: 'CREATED', parked: null });
  });

  it('a fetched record that is bad input is REJECTED (the parked row removed, nothing stored)', async () => {
    const nameless: FakeRecord = { id: zohoId(46, 1), Name: 'STU-7901', Status: 'Active', Student_Moodle_ID: '79001', Modified_Time: zohoTime(new Date()) };
    fake.put('BTEC_Students', nameless);
    const eventIds = await notify('BTEC_Students', [nameless.id]);
    expect(await resolver(client()).runOnce()).toMatchObject({ resolved: 1, outcomes: [expect.objectContaining({ status: 'REJECTED' })] });
    const [row] = await logOf(eventIds);
    expect(row).toMatchObject({ status: 'REJECTED', parked: null });
    // Postgres refuses the row (NOT NULL fullName): undone to a savepoint, the event answered REJECTED.
    expect(row!.message).toMatch(/^BTEC_Students: cannot store the record: .*"fullName"/);
    expect(await database.db.student.count({ where: { tenantId: TENANT, OR: [{ zohoId: nameless.id }, { moodleUserId: '79001' }] } })).toBe(0);
  });

  it('a record Zoho does not have stays PARKED (never dropped) with the reason', async () => {
    const eventIds = await notify('BTEC_Students', [zohoId(44, 1)]);
    expect(await resolver(client()).runOnce()).toMatchObject({ claimed: 1, resolved: 0, failed: 1 });
    const [row] = await logOf(eventIds);
    expect(row).toMatchObject({ status: 'PARKED', parked: { attempts: 1 } });
    expect(row!.message).toMatch(/Zoho has no such record/);
  });

  it('skips the run (claims nothing, counts no attempt) while the breaker is open or the budget is spent', async () => {
    const eventIds = await notify('BTEC_Students', [zohoId(44, 2)]);
    const broke = client({ retries: 0, breakerFailureThreshold: 1, breakerCooldownMs: 60_000 });
    fake.fail({ status: 500 });
    await expect(broke.getRecord('BTEC_Students', zohoId(44, 2))).rejects.toThrow();
    expect(await resolver(broke).runOnce()).toMatchObject({ claimed: 0, skipped: 'breaker-open' });

    const spent = client({ dailyCredits: 1 });
    await spent.getRecord('BTEC_Students', zohoId(44, 2));
    expect(await resolver(spent).runOnce()).toMatchObject({ claimed: 0, skipped: 'budget-exhausted' });
    expect((await logOf(eventIds))[0]).toMatchObject({ status: 'PARKED', parked: { attempts: 0 } });
  });
});
