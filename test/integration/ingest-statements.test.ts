/**
 * SQL statements per ingested event (every statement the transaction sends, BEGIN and COMMIT
 * included), pinned: each is Postgres work, and most a round trip (round-trips.test.ts counts
 * those), on the path of a tenant's batches (group-commit.ts, one at a time), so a regression
 * here is a throughput regression. Plus the lock the claim statement now takes itself: a concurrent event
 * about the same record still waits for it.
 */
import { describe, expect, it } from 'vitest';
import { eventLogId } from '../../src/ingest/batch.js';
import { moodleEvent, zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { recordStatements, useFreshDatabase, useOtherConnection } from '../support/database.js';
import { someoneWaitsFor } from '../support/postgres.js';
import { paymentEvent, studentEvent as zohoStudent } from '../support/webhooks.js';

const database = useFreshDatabase();
const ingestor = new Ingestor();

const other = useOtherConnection(database);

let sequence = 0;
const studentEvent = (zohoId: string, name: string, modified: string, notificationId = `stmt-${zohoId}-${++sequence}`) =>
  zohoStudent(zohoId, { fullName: name, modified, notificationId });

async function ingest(body: unknown, sender: 'zoho' | 'moodle' = 'zoho') {
  const [event] = sender === 'zoho' ? zohoWebhookEvents(body) : [moodleEvent(body)];
  const { result, statements } = await recordStatements(database, () => ingestor.ingest('default', event!));
  return { status: result.status, statements: statements.length, sql: statements };
}

describe('statements per event', () => {
  it('a plain insert, an update, an unchanged re-send and a duplicate', async () => {
    const zohoId = '9398830077000000001';
    const created = await ingest(studentEvent(zohoId, 'Pinned Count', '2026-02-13T10:00:00+03:00', 'stmt-pinned'));
    // BEGIN, claim + the record's locks, parents and own rows, INSERT + outcome + parked lookup, COMMIT
    expect({ status: created.status, statements: created.statements }).toEqual({ status: 'CREATED', statements: 5 });

    // A child with a parent: still one read for the parent and its own rows.
    const payment = await ingest(paymentEvent(zohoId, '9398830077000000002', '10.00', '2026-02-13T10:00:00+03:00'));
    expect({ status: payment.status, statements: payment.statements }).toEqual({ status: 'CREATED', statements: 5 });

    const updated = await ingest(studentEvent(zohoId, 'Pinned Count Renamed', '2026-02-13T10:05:00+03:00'));
    expect({ status: updated.status, statements: updated.statements }).toEqual({ status: 'UPDATED', statements: 5 });

    const unchanged = await ingest(studentEvent(zohoId, 'Pinned Count Renamed', '2026-02-13T10:05:00+03:00'));
    expect({ status: unchanged.status, statements: unchanged.statements }).toEqual({ status: 'UNCHANGED', statements: 5 });

    const duplicate = await ingest(studentEvent(zohoId, 'Pinned Count', '2026-02-13T10:00:00+03:00', 'stmt-pinned'));
    expect({ status: duplicate.status, statements: duplicate.statements }).toEqual({ status: 'DUPLICATE', statements: 3 });
  });

  it('a Moodle grade with learning outcomes for a stored student and course', async () => {
    const body = {
      event: 'submission_graded',
      event_id: 'stmt-moodle-grade-1',
      data: {
        student_id: '00042', assignment_id: '77001', course_id: '2001', assignment_name: 'Pinned assignment', finalgrade: 31, grademax: 40, grademin: 0,
        attempt_number: 1, grader_id: '00719001', grader_name: 'Omar Khalil', grader_role: 'teacher', feedback: 'Good.', timemodified: 1_771_000_000,
        learning_outcomes: [
          { code: 'A.P1', description: 'Describe data structures', score: 'P', feedback: 'ok', achieved: 1 },
          { code: 'A.M1', description: 'Compare data structures', score: 'M', feedback: 'ok', achieved: 1 },
        ],
      },
    };
    const created = await ingest(body, 'moodle');
    // BEGIN, claim + locks, read (student, course, own rows), INSERT grade + outcome + its learning outcomes + lookup, COMMIT
    expect({ status: created.status, statements: created.statements }).toEqual({ status: 'CREATED', statements: 5 });
    const { rows } = await other().query(
      `SELECT l."code", l."position", l."achieved" FROM "LearningOutcome" l JOIN "Grade" g ON g.id = l."gradeId" WHERE g."compositeKey" = $1 ORDER BY l."position"`,
      ['00042_77001'],
    );
    expect(rows).toEqual([
      { code: 'A.P1', position: 0, achieved: true },
      { code: 'A.M1', position: 1, achieved: true },
    ]);
  });

  it('a parked child, then its parent releasing it', async () => {
    const studentId = '9398830077000000011';
    const parked = await ingest(paymentEvent(studentId, '9398830077000000012', '20.00', '2026-02-13T10:00:00+03:00'));
    // BEGIN, claim + locks, read (parent missing), outcome + parked row, COMMIT
    expect({ status: parked.status, statements: parked.statements }).toEqual({ status: 'PARKED', statements: 5 });

    const parent = await ingest(studentEvent(studentId, 'Releases A Payment', '2026-02-13T10:05:00+03:00'));
    // BEGIN, claim (finds the parked payment and, by the keys it stored when it parked, what it
    // releases in turn: nothing), the locks of both, read, INSERT + outcome + lookup, the payment's
    // read, INSERT + its outcome + unpark + lookup, COMMIT
    expect({ status: parent.status, statements: parent.statements }).toEqual({ status: 'CREATED', statements: 8 });
    const { rows } = await other().query(
      `SELECT p."amount"::text, s."zohoId" FROM "Payment" p JOIN "Student" s ON s.id = p."studentId" WHERE p."zohoId" = $1`,
      ['9398830077000000012'],
    );
    expect(rows).toEqual([{ amount: '20.00', zohoId: studentId }]);
    expect((await other().query(`SELECT status::text FROM "SyncEvent" WHERE "recordId" = $1`, ['9398830077000000012'])).rows).toEqual([{ status: 'CREATED' }]);
  });

  /** A registration parked awaiting its program, a payment of it parked awaiting the registration; returns the program's event. */
  async function parkChain([studentId, programId, registrationId, paymentId]: string[]) {
    expect((await ingest(studentEvent(studentId!, 'Chain Of Parked', '2026-02-13T10:00:00+03:00'))).status).toBe('CREATED');
    const registration = {
      notification_id: `stmt-chain-registration-${registrationId}`,
      module: 'BTEC_Registrations',
      operation: 'insert',
      record_id: registrationId,
      data: { id: registrationId, Name: 'REG-0073', Student: { id: studentId }, Program: { id: programId }, Status: 'Active', Total_Fees: '900.00', Modified_Time: '2026-02-13T10:00:00+03:00' },
    };
    expect((await ingest(registration)).status).toBe('PARKED');
    const body = paymentEvent(studentId!, paymentId!, '40.00', '2026-02-13T10:00:00+03:00');
    expect((await ingest({ ...body, data: { ...body.data, Registration: { id: registrationId } } })).status).toBe('PARKED');
    return {
      notification_id: `stmt-chain-program-${programId}`,
      module: 'BTEC_Programs',
      operation: 'insert',
      record_id: programId,
      data: { id: programId, Name: `BTEC Level 3 Chain ${programId}`, Program_Code: `CH-${programId!.slice(-4)}`, Level: 'Level 3', Modified_Time: '2026-02-13T10:00:00+03:00' },
    };
  }

  async function chainStatuses(ids: string[]) {
    const { rows } = await other().query(`SELECT "recordId", status::text FROM "SyncEvent" WHERE "recordId" = ANY($1) ORDER BY "recordId"`, [ids]);
    return rows;
  }

  it('a chain parked two deep (a registration awaiting its program, a payment awaiting the registration): the claim finds both, no lookup per level', async () => {
    const ids = ['9398830077000000071', '9398830077000000072', '9398830077000000073', '9398830077000000074'];
    const [, programId, registrationId, paymentId] = ids;
    const programEvent = await parkChain(ids);
    const { rows: parked } = await other().query(`SELECT "awaiting", "recordKeys" FROM "ParkedEvent" WHERE "awaiting" IN ($1, $2) ORDER BY "createdAt"`, [
      `Program:zohoId:${programId}`,
      `Registration:zohoId:${registrationId}`,
    ]);
    expect(parked).toEqual([
      { awaiting: `Program:zohoId:${programId}`, recordKeys: [`Registration:zohoId:${registrationId}`] },
      { awaiting: `Registration:zohoId:${registrationId}`, recordKeys: [`Payment:zohoId:${paymentId}`] },
    ]);

    const program = await ingest(programEvent);
    // BEGIN, claim (the whole tree: the registration, the payment below it), the locks of all
    // three, then a read and a write per level (the program, the registration, the payment),
    // COMMIT. Looked up a level at a time, the tree took two statements more.
    expect({ status: program.status, statements: program.statements }).toEqual({ status: 'CREATED', statements: 10 });
    expect(program.sql.filter((sql) => /"ParkedEvent"/.test(sql) && !/^\s*(WITH RECURSIVE input|WITH "w0"|WITH "outcomes")/.test(sql))).toEqual([]);
    expect(await chainStatuses([programId!, registrationId!, paymentId!])).toEqual([
      { recordId: programId, status: 'CREATED' },
      { recordId: registrationId, status: 'CREATED' },
      { recordId: paymentId, status: 'CREATED' },
    ]);
  });

  it('a parked row whose stored keys miss one its record has (stored by another version): the tree goes on from the record, one statement more', async () => {
    const ids = ['9398830077000000081', '9398830077000000082', '9398830077000000083', '9398830077000000084'];
    const [, programId, registrationId, paymentId] = ids;
    const programEvent = await parkChain(ids);
    await other().query(`UPDATE "ParkedEvent" SET "recordKeys" = '{}' WHERE "awaiting" = $1`, [`Program:zohoId:${programId}`]);

    const program = await ingest(programEvent);
    expect({ status: program.status, statements: program.statements }).toEqual({ status: 'CREATED', statements: 11 });
    expect(program.sql.filter((sql) => /^\s*WITH RECURSIVE tree/.test(sql))).toHaveLength(1);
    expect(await chainStatuses([programId!, registrationId!, paymentId!])).toEqual([
      { recordId: programId, status: 'CREATED' },
      { recordId: registrationId, status: 'CREATED' },
      { recordId: paymentId, status: 'CREATED' },
    ]);
  });

  it('a child parked by another instance: its payload is read back once, then it applies as if parked here', async () => {
    const studentId = '9398830077000000031';
    const [event] = zohoWebhookEvents(paymentEvent(studentId, '9398830077000000032', '30.00', '2026-02-13T10:00:00+03:00'));
    // What another gateway instance leaves behind: the log row and the parked row (the parsed
    // record stays in that instance's memory).
    const { rows: [log] } = await other().query(
      `INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "operation", "recordId", "status")
       VALUES (gen_random_uuid(), 'default', $1, 'ZOHO', $2, $3, $4, 'PARKED') RETURNING "id"`,
      [event!.idempotencyKey, event!.module, event!.operation, event!.recordId],
    );
    await other().query(
      `INSERT INTO "ParkedEvent" ("id", "tenantId", "syncEventId", "awaiting", "payload") VALUES (gen_random_uuid(), 'default', $1, $2, $3)`,
      [log.id, `Student:zohoId:${studentId}`, JSON.stringify(event!.raw)],
    );

    const parent = await ingest(studentEvent(studentId, 'Releases A Foreign Payment', '2026-02-13T10:05:00+03:00'));
    // As above, plus one SELECT of the payment's payload (for its locks; then it is known here),
    // and, its keys not stored with it, one lookup of what it releases in turn.
    expect({ status: parent.status, statements: parent.statements }).toEqual({ status: 'CREATED', statements: 10 });
    expect(parent.sql.filter((sql) => /^\s*WITH RECURSIVE tree/.test(sql))).toHaveLength(1);
    expect(parent.sql.filter((sql) => /SELECT p."syncEventId", p."payload" FROM/.test(sql))).toHaveLength(1);
    const { rows } = await other().query(
      `SELECT p."amount"::text, s."zohoId" FROM "Payment" p JOIN "Student" s ON s.id = p."studentId" WHERE p."zohoId" = $1`,
      ['9398830077000000032'],
    );
    expect(rows).toEqual([{ amount: '30.00', zohoId: studentId }]);
    expect((await other().query(`SELECT status::text, message FROM "SyncEvent" WHERE "id" = $1`, [log.id])).rows).toEqual([
      { status: 'CREATED', message: `applied after Student with zohoId ${studentId} arrived` },
    ]);
    expect((await other().query(`SELECT count(*)::int AS n FROM "ParkedEvent" WHERE "syncEventId" = $1`, [log.id])).rows).toEqual([{ n: 0 }]);
  });

  it('an attempt that parked and rolled back leaves nothing cached: the key parked later (by another instance, another payload) applies as stored', async () => {
    const studentId = '9398830077000000051';
    const paymentId = '9398830077000000052';
    const [event] = zohoWebhookEvents(paymentEvent(studentId, paymentId, '51.00', '2026-02-13T10:00:00+03:00'));
    // The commit fails after the payment parked (a deferred trigger refuses its parked row).
    await other().query(`CREATE FUNCTION refuse_park() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'park refused at commit'; END $$`);
    await other().query(`CREATE CONSTRAINT TRIGGER refuse_park AFTER INSERT ON "ParkedEvent" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_park()`);
    try {
      await expect(ingestor.ingest('default', event!)).rejects.toThrow(/park refused at commit/);
    } finally {
      await other().query('DROP TRIGGER refuse_park ON "ParkedEvent"; DROP FUNCTION refuse_park()');
    }
    // Another instance parks the same key (so the same log id) with a different amount.
    const stored = { ...event!.raw, data: { ...(event!.raw as { data: Record<string, unknown> }).data, Amount: '52.00' } };
    await other().query(
      `INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "operation", "recordId", "status")
       VALUES ($1, 'default', $2, 'ZOHO', $3, $4, $5, 'PARKED')`,
      [eventLogId('default', event!.idempotencyKey), event!.idempotencyKey, event!.module, event!.operation, event!.recordId],
    );
    await other().query(
      `INSERT INTO "ParkedEvent" ("id", "tenantId", "syncEventId", "awaiting", "payload") VALUES (gen_random_uuid(), 'default', $1, $2, $3)`,
      [eventLogId('default', event!.idempotencyKey), `Student:zohoId:${studentId}`, JSON.stringify(stored)],
    );
    expect((await ingest(studentEvent(studentId, 'Releases The Stored One', '2026-02-13T10:05:00+03:00'))).status).toBe('CREATED');
    const { rows } = await other().query(`SELECT "amount"::text FROM "Payment" WHERE "zohoId" = $1`, [paymentId]);
    expect(rows).toEqual([{ amount: '52.00' }]);
  });

  it('a twin committed while the claim waited for it: not in the claim’s snapshot, read by key, a DUPLICATE of it', async () => {
    const [event] = zohoWebhookEvents(studentEvent('9398830077000000061', 'Twin Of Another Instance', '2026-02-13T10:00:00+03:00'));
    const id = eventLogId('default', event!.idempotencyKey);
    // Another instance's claim of the same key, not committed yet: this claim waits for it.
    await other().query('BEGIN');
    await other().query(
      `INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "operation", "recordId", "status")
       VALUES ($1, 'default', $2, 'ZOHO', $3, $4, $5, 'PARKED')`,
      [id, event!.idempotencyKey, event!.module, event!.operation, event!.recordId],
    );
    const pending = recordStatements(database, () => ingestor.ingest('default', event!));
    try {
      await someoneWaitsFor(other(), 'transactionid');
      await other().query(`UPDATE "SyncEvent" SET "status" = 'CREATED' WHERE "id" = $1`, [id]);
    } finally {
      await other().query('COMMIT');
    }
    const { result, statements } = await pending;
    expect({ status: result.status, eventId: result.eventId, message: result.message }).toEqual({
      status: 'DUPLICATE',
      eventId: id,
      message: expect.stringMatching(/^already received at .* \(CREATED\)$/),
    });
    // BEGIN, claim, the look-up by key, COMMIT.
    expect(statements).toHaveLength(4);
  });

  it('a duplicate of an event logged under a random id (as before ids were derived from the key): found by key, one statement more', async () => {
    const body = studentEvent('9398830077000000041', 'Logged Long Ago', '2026-02-13T10:00:00+03:00');
    const [event] = zohoWebhookEvents(body);
    const { rows: [log] } = await other().query(
      `INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "operation", "recordId", "status")
       VALUES (gen_random_uuid(), 'default', $1, 'ZOHO', $2, $3, $4, 'CREATED') RETURNING "id"`,
      [event!.idempotencyKey, event!.module, event!.operation, event!.recordId],
    );
    const { result, statements } = await recordStatements(database, () => ingestor.ingest('default', event!));
    expect({ status: result.status, eventId: result.eventId, message: result.message }).toEqual({
      status: 'DUPLICATE',
      eventId: log.id,
      message: expect.stringMatching(/^already received at .* \(CREATED\)$/),
    });
    // BEGIN, claim (its look-up by id finds nothing), the look-up by key, COMMIT.
    expect(statements).toHaveLength(4);
    expect((await other().query(`SELECT count(*)::int AS n FROM "SyncEvent" WHERE "idempotencyKey" = $1`, [event!.idempotencyKey])).rows).toEqual([{ n: 1 }]);
  });

  it('the claim takes the record’s entity lock: an event about a locked record waits for it', async () => {
    const zohoId = '9398830077000000021';
    await other().query('BEGIN');
    await other().query(`SELECT pg_advisory_xact_lock(hashtextextended('default|Student:zohoId:${zohoId}', 0))`);
    let settled = false;
    const pending = ingest(studentEvent(zohoId, 'Waits For The Lock', '2026-02-13T10:00:00+03:00')).finally(() => {
      settled = true;
    });
    try {
      await someoneWaitsFor(other(), 'advisory');
      expect(settled).toBe(false);
    } finally {
      await other().query('COMMIT');
    }
    expect((await pending).status).toBe('CREATED');
  });
});
