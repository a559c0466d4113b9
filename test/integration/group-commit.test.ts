/**
 * Group commit (src/ingest/group-commit.ts, batch.ts): events submitted together share one
 * transaction of set-based statements, and the answers are those of the events applied one
 * after another. Statement counts are Prisma `query` events (COMMIT included), pinned.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { onStatement } from '../../src/db/sql.js';
import { moodleEvent, zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { Ingestor, type CommittedBatch, type IngestResult, type RetryReason } from '../../src/ingest/pipeline.js';
import type { KeyedEvent } from '../../src/ingest/raw-event.js';
import { recordStatements, useFreshDatabase } from '../support/database.js';
import { paymentEvent, studentEvent as zohoStudent } from '../support/webhooks.js';

const database = useFreshDatabase();
const ingestor = new Ingestor();
const seen: IngestResult[][] = [];
let students: { zohoId: string; moodleUserId: string; id: string }[] = [];
let classes: string[] = [];

beforeAll(async () => {
  ingestor.onOutcomes((outcomes) => void seen.push(outcomes));
  students = (await database.db.student.findMany({
    where: { tenantId: 'default', zohoId: { not: null }, moodleUserId: { not: null }, deletedAt: null },
    select: { id: true, zohoId: true, moodleUserId: true },
    orderBy: { id: 'asc' },
    take: 60,
  })) as typeof students;
  classes = (await database.db.class.findMany({ where: { tenantId: 'default', zohoId: { not: null } }, select: { zohoId: true }, take: 5 })).map((c) => c.zohoId!);
});

let sequence = 0;
const zohoEvent = (body: unknown) => zohoWebhookEvents(body)[0]!;
const zid = () => `93988400${String(++sequence).padStart(11, '0')}`;
const at = (minutes: number) => new Date(Date.UTC(2026, 2, 1, 9, minutes)).toISOString().replace('.000Z', '+00:00');

const studentEvent = (zohoId: string, name: string, modified: string) =>
  zohoEvent(zohoStudent(zohoId, { fullName: name, modified, notificationId: `gc-student-${zohoId}-${++sequence}`, operation: 'update' }));

function enrollmentEvent(zohoId: string, studentZohoId: string, classZohoId: string, modified: string) {
  return zohoEvent({
    notification_id: `gc-enrol-${zohoId}`,
    module: 'BTEC_Enrollments',
    operation: 'insert',
    record_id: zohoId,
    data: { id: zohoId, Name: `ENR-${zohoId.slice(-4)}`, Student: { id: studentZohoId }, Class: { id: classZohoId }, Status: 'Active', Modified_Time: modified },
  });
}

/** Submitted in one tick, as concurrent webhooks are: one queue, one drain. */
async function together(events: KeyedEvent[]) {
  const { result, statements } = await recordStatements(database, () => Promise.all(events.map((e) => ingestor.ingest('default', e))));
  return { statuses: result.map((r) => r.status), results: result, statements: statements.length, commits: statements.filter((s) => /^COMMIT/i.test(s)).length };
}

describe('group commit', () => {
  it('40 concurrent events about different payments: one transaction, 5 statements, every row written', async () => {
    const payments = students.slice(0, 40).map((s, i) => ({ id: zid(), student: s, amount: `${100 + i}.50` }));
    const run = await together(payments.map((p) => paymentEvent(p.student.zohoId, p.id, p.amount, at(1))).map(zohoEvent));
    expect(run.statuses).toEqual(payments.map(() => 'CREATED'));
    // BEGIN, claim + locks of all 40, one read of every parent and row, one write of rows + outcomes + parked lookup, COMMIT
    expect({ statements: run.statements, commits: run.commits }).toEqual({ statements: 5, commits: 1 });
    const rows = await database.db.payment.findMany({ where: { zohoId: { in: payments.map((p) => p.id) } }, select: { zohoId: true, amount: true, studentId: true } });
    expect(new Map(rows.map((r) => [r.zohoId, [r.amount.toFixed(2), r.studentId]]))).toEqual(new Map(payments.map((p) => [p.id, [p.amount, p.student.id]])));
    const logged = await database.db.syncEvent.findMany({ where: { recordId: { in: payments.map((p) => p.id) } }, select: { status: true, entityId: true } });
    expect(logged.map((l) => l.status)).toEqual(payments.map(() => 'CREATED'));
    expect(new Set(logged.map((l) => l.entityId)).size).toBe(40);
    // Listeners heard every outcome once, after the commit.
    expect(seen.at(-1)!.map((o) => o.eventId).sort()).toEqual(run.results.map((r) => r.eventId).sort());
  });

  it('events about one entity apply in the order submitted, each in a later batch (a child after its parent, an event after one it follows)', async () => {
    const zohoId = zid();
    const payment = zid();
    const run = await together([
      studentEvent(zohoId, 'First Name', at(10)),
      studentEvent(zohoId, 'Second Name', at(11)),
      zohoEvent(paymentEvent(zohoId, payment, '12.00', at(12))),
      studentEvent(zohoId, 'Older Name', at(9)),
    ]);
    expect(run.statuses).toEqual(['CREATED', 'UPDATED', 'CREATED', 'STALE']);
    expect(run.commits).toBe(4);
    const student = await database.db.student.findFirstOrThrow({ where: { zohoId }, select: { id: true, fullName: true } });
    expect(student.fullName).toBe('Second Name');
    expect((await database.db.payment.findFirstOrThrow({ where: { zohoId: payment } })).studentId).toBe(student.id);
  });

  it('a value Postgres refuses: the batch is re-run event by event, only that event is REJECTED', async () => {
    const good = students.slice(0, 5).map((s) => ({ id: zid(), student: s }));
    const nameless = zid();
    const events = good.map((p) => zohoEvent(paymentEvent(p.student.zohoId, p.id, '5.00', at(20))));
    events.splice(2, 0, zohoEvent({ notification_id: `gc-nameless-${nameless}`, module: 'BTEC_Students', operation: 'insert', record_id: nameless, data: { id: nameless, Name: 'STU-NONAME', Status: 'Active', Modified_Time: at(20) } }));
    const batches: CommittedBatch[] = [];
    const reruns: RetryReason[] = [];
    const offBatch = ingestor.onBatch((b) => void batches.push(b));
    const offRetry = ingestor.onRetry((reason) => void reruns.push(reason));
    const run = await together(events).finally(() => (offBatch(), offRetry()));
    expect(run.statuses).toEqual(['CREATED', 'CREATED', 'REJECTED', 'CREATED', 'CREATED', 'CREATED']);
    expect(run.results[2]!.message).toMatch(/^BTEC_Students: cannot store the record: .*fullName/);
    expect(run.results[2]!.eventId).toBeNull();
    // The failed batch, then each event alone.
    expect(run.commits).toBe(5);
    // Batch listeners hear the five that committed, not the failed batch nor the refused event.
    expect(batches.map((b) => b.events)).toEqual([1, 1, 1, 1, 1]);
    // Re-runs, as metrics count them: the batch carefully, then split; the refused event alone carefully.
    expect(reruns).toEqual(['refused_value', 'split', 'refused_value']);
    expect(await database.db.student.count({ where: { zohoId: nameless } })).toBe(0);
    expect(await database.db.syncEvent.count({ where: { recordId: nameless } })).toBe(0);
    expect(await database.db.payment.count({ where: { zohoId: { in: good.map((g) => g.id) } } })).toBe(5);
  });

  it('two events matching one stored row by different keys: the later one waits for the next round', async () => {
    const s = students[50]!;
    // The Zoho record does not name the Moodle id: the keys differ, the stored row is the same.
    const zoho = studentEvent(s.zohoId, 'Renamed By Zoho', '2027-06-01T09:00:00+00:00');
    const fromMoodle = moodleEvent({
      event: 'user_updated',
      event_id: `gc-moodle-${s.moodleUserId}`,
      data: { userid: s.moodleUserId, username: `u${s.moodleUserId}`, email: `u${s.moodleUserId}@moodle.example`, firstname: 'Moodle', lastname: 'Name', role: 'student', suspended: 0, deleted: 0, timemodified: 1_800_000_000 },
    });
    const run = await together([zoho, fromMoodle]);
    expect(run.statuses).toEqual(['UPDATED', 'UPDATED']);
    // claim + locks, read, write (Zoho's), read again, write (Moodle's, which only adds ids now), COMMIT
    expect({ statements: run.statements, commits: run.commits }).toEqual({ statements: 7, commits: 1 });
    const row = await database.db.student.findUniqueOrThrow({ where: { id: s.id }, select: { fullName: true, moodleUpdatedAt: true } });
    expect(row.fullName).toBe('Renamed By Zoho');
    expect(row.moodleUpdatedAt).not.toBeNull();
  });

  it('two enrolments of one student in one class under different ids: one row, the second updates it', async () => {
    const s = students[55]!;
    const [first, second] = [zid(), zid()];
    const run = await together([enrollmentEvent(first, s.zohoId, classes[0]!, at(40)), enrollmentEvent(second, s.zohoId, classes[0]!, at(41))]);
    expect(run.statuses).toEqual(['CREATED', 'UPDATED']);
    // The second waited for the next round of the same transaction (not a unique violation and a re-run).
    expect(run.commits).toBe(1);
    const rows = await database.db.enrollment.findMany({ where: { studentId: s.id, class: { zohoId: classes[0]! } }, select: { zohoId: true } });
    expect(rows).toEqual([{ zohoId: second }]);
  });

  it('a parent releases its parked children set-based, and what they release in turn, in one transaction', async () => {
    const zohoId = zid();
    const payments = [zid(), zid(), zid()];
    const parked = await together(payments.map((p) => zohoEvent(paymentEvent(zohoId, p, '7.00', at(50)))));
    expect(parked.statuses).toEqual(['PARKED', 'PARKED', 'PARKED']);
    expect(parked.commits).toBe(1);
    const parent = await together([studentEvent(zohoId, 'Parent Arrives', at(51))]);
    expect(parent.statuses).toEqual(['CREATED']);
    // claim (finds them, and what they release in turn: nothing), locks, read, write + release
    // lookup, the three payments' read, their write + unpark + lookup, COMMIT
    expect({ statements: parent.statements, commits: parent.commits }).toEqual({ statements: 8, commits: 1 });
    expect(seen.at(-1)!.map((o) => o.status)).toEqual(['CREATED', 'CREATED', 'CREATED', 'CREATED']);
    expect(await database.db.parkedEvent.count({ where: { syncEvent: { recordId: { in: payments } } } })).toBe(0);
    const student = await database.db.student.findFirstOrThrow({ where: { zohoId } });
    expect(await database.db.payment.count({ where: { zohoId: { in: payments }, studentId: student.id } })).toBe(3);
  });

  it('a released parked event whose row Postgres refuses is REJECTED alone; the parent that released it is stored', async () => {
    const zohoId = zid();
    const payment = zid();
    // No Amount at all: the reader lets an absent field through, the NOT NULL column refuses it on create.
    const noAmount = zohoEvent({ notification_id: `gc-noamount-${payment}`, module: 'BTEC_Payments', operation: 'insert', record_id: payment, data: { id: payment, Name: 'PAY-NA', Student: { id: zohoId }, Currency: 'GBP', Status: 'Pending', Modified_Time: at(60) } });
    expect((await together([noAmount])).statuses).toEqual(['PARKED']);
    const parent = await together([studentEvent(zohoId, 'Parent Of A Bad Child', at(61))]);
    expect(parent.statuses).toEqual(['CREATED']);
    expect(await database.db.student.count({ where: { zohoId } })).toBe(1);
    const logged = await database.db.syncEvent.findFirstOrThrow({ where: { recordId: payment }, select: { status: true, message: true } });
    expect(logged.status).toBe('REJECTED');
    expect(logged.message).toMatch(/^BTEC_Payments: cannot store the record: .*amount/);
    expect(await database.db.parkedEvent.count({ where: { syncEvent: { recordId: payment } } })).toBe(0);
    expect(seen.at(-1)!.map((o) => o.status)).toEqual(['CREATED', 'REJECTED']);
  });

  it('an event about an entity its batch releases a parked event onto waits for that release, as it would alone', async () => {
    const zohoId = zid();
    const payment = zid();
    const other = students[57]!;
    const payload = (student: string, amount: string, n: string) =>
      zohoEvent({ notification_id: `gc-order-${payment}-${n}`, module: 'BTEC_Payments', operation: 'update', record_id: payment, data: { id: payment, Name: 'PAY-ORD', Student: { id: student }, Amount: amount, Currency: 'GBP', Status: 'Pending' } });
    // Parked awaiting the new student; no Modified_Time, so only the order decides which version stays.
    expect((await together([payload(zohoId, '1.00', 'first')])).statuses).toEqual(['PARKED']);
    const run = await together([studentEvent(zohoId, 'Releases Then Updated', at(70)), payload(other.zohoId, '2.00', 'second')]);
    expect(run.statuses).toEqual(['CREATED', 'UPDATED']);
    expect(run.commits).toBe(1);
    const row = await database.db.payment.findFirstOrThrow({ where: { zohoId: payment }, select: { amount: true, studentId: true } });
    expect({ amount: row.amount.toFixed(2), studentId: row.studentId }).toEqual({ amount: '2.00', studentId: other.id });
  });

  it('the next batch is written while the last one is announced; announcements and answers keep commit order', async () => {
    const zohoId = zid();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const heard: string[] = [];
    const answered: string[] = [];
    const off = ingestor.onOutcomes(async (outcomes) => {
      const names = outcomes.filter((o) => o.module === 'BTEC_Students').map((o) => o.status);
      heard.push(...names);
      if (names.includes('CREATED')) await gate; // the first batch's announcement hangs (a slow Redis, say)
    });
    try {
      // One entity twice: two batches of one drain.
      const both = [studentEvent(zohoId, 'First Name', at(100)), studentEvent(zohoId, 'Second Name', at(101))].map((e) =>
        ingestor.ingest('default', e).then((r) => (answered.push(r.status), r)),
      );
      await expect.poll(async () => (await database.db.student.findFirst({ where: { zohoId }, select: { fullName: true } }))?.fullName, { timeout: 5000 }).toBe('Second Name');
      // Committed, and neither answered: the first waits for its announcement, the second for the first's.
      expect({ heard, answered }).toEqual({ heard: ['CREATED'], answered: [] });
      open();
      expect((await Promise.all(both)).map((r) => r.status)).toEqual(['CREATED', 'UPDATED']);
      expect({ heard, answered }).toEqual({ heard: ['CREATED', 'UPDATED'], answered: ['CREATED', 'UPDATED'] });
    } finally {
      open();
      off();
    }
  });

  it("the next batch's claim is sent before the last batch is announced (announcing is main-thread work Postgres would idle through)", async () => {
    const zohoId = zid();
    const order: string[] = [];
    const offStatements = onStatement((text) => {
      if (text === 'BEGIN' || text === 'COMMIT') order.push(text);
      else if (/INSERT INTO "SyncEvent"/.test(text)) order.push('claim');
    });
    const offOutcomes = ingestor.onOutcomes((outcomes) => {
      for (const o of outcomes) if (o.module === 'BTEC_Students') order.push(`announce ${o.status}`);
    });
    try {
      // One entity twice: two batches of one drain.
      const statuses = await Promise.all([studentEvent(zohoId, 'First Name', at(110)), studentEvent(zohoId, 'Second Name', at(111))].map(async (e) => (await ingestor.ingest('default', e)).status));
      expect(statuses).toEqual(['CREATED', 'UPDATED']);
    } finally {
      offStatements();
      offOutcomes();
    }
    expect(order).toEqual(['BEGIN', 'claim', 'COMMIT', 'BEGIN', 'claim', 'announce CREATED', 'COMMIT', 'announce UPDATED']);
  });

  it('a listener failing after the commit fails the events it was told about, and re-runs none (no DUPLICATE answers)', async () => {
    const off = ingestor.onOutcomes(() => Promise.reject(new Error('listener down')));
    const payments = students.slice(0, 2).map((s) => ({ id: zid(), student: s }));
    try {
      const settled = await Promise.allSettled(payments.map((p) => ingestor.ingest('default', zohoEvent(paymentEvent(p.student.zohoId, p.id, '3.00', at(80))))));
      expect(settled.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value.status))).toEqual(['listener down', 'listener down']);
    } finally {
      off();
    }
    // Committed once: a re-send now is a DUPLICATE of that one commit.
    expect(await database.db.syncEvent.count({ where: { recordId: { in: payments.map((p) => p.id) } } })).toBe(2);
    expect(await database.db.payment.count({ where: { zohoId: { in: payments.map((p) => p.id) } } })).toBe(2);
  });
});
