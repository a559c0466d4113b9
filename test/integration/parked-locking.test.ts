/**
 * Lock ordering when a record releases parked events (src/ingest/locks.ts). The bench found
 * it: the parent's transaction held the parent's lock and then waited for the parked child's,
 * while an event about the child held the child's lock and waited for the parent's → 40P01.
 * Here a second connection plays that event, lock by lock, so the interleaving is exact.
 */
import { describe, expect, it } from 'vitest';
import { sqlTransaction } from '../../src/db/sql.js';
import { LockBusyError, TransactionLocks } from '../../src/ingest/locks.js';
import { zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { createTestApp } from '../support/app.js';
import { recordStatements, useFreshDatabase, useOtherConnection } from '../support/database.js';
import { someoneWaitsFor } from '../support/postgres.js';
import { paymentEvent, postWebhook, studentEvent } from '../support/webhooks.js';

const database = useFreshDatabase();
const { app } = createTestApp();
const ingestor = new Ingestor();

const other = useOtherConnection(database);

const lockOf = (key: string) => `SELECT pg_advisory_xact_lock(hashtextextended('default|${key}', 0))`;

const lockStudent = (zohoId: string, modified: string) => studentEvent(zohoId, { fullName: 'Lock Order', modified, notificationId: `lock-student-${zohoId}` });

describe('releasing parked events', () => {
  it('a concurrent event about the parked child never deadlocks with the parent that releases it', async () => {
    const studentId = '9398830099000000001';
    const paymentId = '9398830099000000002';
    const parked = await postWebhook(app, 'zoho', paymentEvent(studentId, paymentId, '120.00', '2026-02-13T10:00:00+03:00'));
    expect(parked.body.results?.[0]?.status).toBe('PARKED');

    // The other connection is an event about the payment: it has the payment's lock ("Payment:…"
    // sorts before "Student:…") and is about to ask for the student's.
    await other().query('BEGIN');
    await other().query("SET LOCAL deadlock_timeout = '20ms'"); // if a cycle forms, this side detects it
    await other().query(lockOf(`Payment:zohoId:${paymentId}`));

    const student = postWebhook(app, 'zoho', lockStudent(studentId, '2026-02-13T10:05:00+03:00'));
    await someoneWaitsFor(other(), 'advisory');
    // Before the fix the student's transaction held Student:… here and waited for Payment:… → 40P01.
    await expect(other().query(lockOf(`Student:zohoId:${studentId}`))).resolves.toBeDefined();
    await other().query('COMMIT');

    const reply = await student;
    expect(reply.status).toBe(200);
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
    const { rows } = await other().query(
      `SELECT p."amount"::text, s."zohoId" FROM "Payment" p JOIN "Student" s ON s.id = p."studentId" WHERE p."zohoId" = $1`,
      [paymentId],
    );
    expect(rows).toEqual([{ amount: '120.00', zohoId: studentId }]);
    expect((await other().query('SELECT count(*)::int AS n FROM "ParkedEvent"')).rows[0].n).toBe(0);
  });

  it('a duplicate of a parked event locks no row: the transaction releasing that event is not blocked by it', async () => {
    const parkedBody = paymentEvent('9398830099000000011', '9398830099000000012', '15.00', '2026-02-13T10:00:00+03:00');
    const [parkedPayment] = zohoWebhookEvents(parkedBody);
    const parked = await ingestor.ingest('default', parkedPayment!);
    expect(parked.status).toBe('PARKED');
    const [other2] = zohoWebhookEvents(paymentEvent('9398830099000000021', '9398830099000000022', '25.00', '2026-02-13T10:00:00+03:00'));

    // The other connection plays the transaction releasing the parked payment: it holds an
    // entity lock the batch below waits for, and then writes the parked event's outcome.
    await other().query('BEGIN');
    await other().query("SET LOCAL deadlock_timeout = '20ms'"); // if a cycle forms, this side detects it
    await other().query(lockOf('Payment:zohoId:9398830099000000022'));
    // One batch: the parked payment's duplicate, and an event that waits for the held lock.
    const batch = recordStatements(database, () => ingestor.ingestEvents('default', [parkedPayment!, other2!]));
    await someoneWaitsFor(other(), 'advisory');
    // A claim that locked the duplicate's original (ON CONFLICT DO UPDATE) made this wait for it → 40P01.
    await expect(other().query('UPDATE "SyncEvent" SET "message" = \'released elsewhere\' WHERE "id" = $1', [parked.eventId])).resolves.toBeDefined();
    await other().query('COMMIT');

    const { result: results, statements } = await batch;
    // One attempt: had the batch's side been the deadlock's victim, it would have been retried (a second claim).
    expect(statements.filter((sql) => /INSERT INTO "SyncEvent"/.test(sql))).toHaveLength(1);
    expect(results.map((r) => [r.status, r.eventId])).toEqual([
      ['DUPLICATE', parked.eventId],
      ['PARKED', expect.any(String)],
    ]);
    expect(results[0]!.message).toMatch(/^already received at .* \(PARKED\)$/);
  });

  // A round's write carries the next round's read (batch.ts prefetchReads) for the parked events
  // the lookup before the rounds found; what really is released is what the write returns.
  it('a child parked elsewhere after the lookup: the write releases it unforeseen, and it is read in its round beside the foreseen one', async () => {
    const studentId = '9398830099000000031';
    const [foreseenId, unforeseenId] = ['9398830099000000032', '9398830099000000033'];
    expect((await ingestor.ingest('default', zohoWebhookEvents(paymentEvent(studentId, foreseenId, '32.00', '2026-02-13T10:00:00+03:00'))[0]!)).status).toBe('PARKED');
    await other().query('BEGIN');
    await other().query(lockOf(`Student:zohoId:${studentId}`));
    // The claim finds the first payment parked; the sorted lock call then waits for the student's lock.
    const heard: string[] = [];
    const off = ingestor.onOutcomes((outcomes) => void heard.push(...outcomes.map((o) => `${o.module} ${o.status}`)));
    const student = recordStatements(database, () => ingestor.ingest('default', zohoWebhookEvents(lockStudent(studentId, '2026-02-13T10:05:00+03:00'))[0]!)).finally(off);
    await someoneWaitsFor(other(), 'advisory');
    // Another instance parks a second payment of that student meanwhile (log row and parked row).
    const [event] = zohoWebhookEvents(paymentEvent(studentId, unforeseenId, '33.00', '2026-02-13T10:00:00+03:00'));
    const { rows: [log] } = await other().query(
      `INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "operation", "recordId", "status")
       VALUES (gen_random_uuid(), 'default', $1, 'ZOHO', $2, $3, $4, 'PARKED') RETURNING "id"`,
      [event!.idempotencyKey, event!.module, event!.operation, event!.recordId],
    );
    await other().query(`INSERT INTO "ParkedEvent" ("id", "tenantId", "syncEventId", "awaiting", "payload") VALUES (gen_random_uuid(), 'default', $1, $2, $3)`, [
      log.id,
      `Student:zohoId:${studentId}`,
      JSON.stringify(event!.raw),
    ]);
    await other().query('COMMIT');

    const { result, statements } = await student;
    expect(result.status).toBe('CREATED');
    expect(heard).toEqual(['BTEC_Students CREATED', 'BTEC_Payments CREATED', 'BTEC_Payments CREATED']);
    // The student's read; the foreseen payment's, sent with the student's write; the other's, in its round.
    expect(statements.filter((sql) => sql.startsWith('WITH l AS MATERIALIZED'))).toHaveLength(3);
    const { rows } = await other().query(
      `SELECT p."zohoId", p."amount"::text, s."zohoId" AS "student" FROM "Payment" p JOIN "Student" s ON s.id = p."studentId" WHERE p."zohoId" = ANY($1) ORDER BY p."zohoId"`,
      [[foreseenId, unforeseenId]],
    );
    expect(rows).toEqual([
      { zohoId: foreseenId, amount: '32.00', student: studentId },
      { zohoId: unforeseenId, amount: '33.00', student: studentId },
    ]);
    expect((await other().query(`SELECT status::text FROM "SyncEvent" WHERE "id" = $1`, [log.id])).rows).toEqual([{ status: 'CREATED' }]);
  });

  it('a foreseen child dealt with elsewhere before the write: its read, sent with the write, goes unused and nothing applies twice', async () => {
    const studentId = '9398830099000000041';
    const paymentId = '9398830099000000042';
    const parked = await ingestor.ingest('default', zohoWebhookEvents(paymentEvent(studentId, paymentId, '41.00', '2026-02-13T10:00:00+03:00'))[0]!);
    expect(parked.status).toBe('PARKED');
    // The other connection plays a transaction that deals with the parked payment while the
    // student's transaction, which found it parked, waits for its lock.
    await other().query('BEGIN');
    await other().query(lockOf(`Payment:zohoId:${paymentId}`));
    const heard: string[] = [];
    const off = ingestor.onOutcomes((outcomes) => void heard.push(...outcomes.map((o) => `${o.module} ${o.status}`)));
    const student = recordStatements(database, () => ingestor.ingest('default', zohoWebhookEvents(lockStudent(studentId, '2026-02-13T10:05:00+03:00'))[0]!)).finally(off);
    await someoneWaitsFor(other(), 'advisory');
    await other().query(`DELETE FROM "ParkedEvent" WHERE "syncEventId" = $1`, [parked.eventId]);
    await other().query(`UPDATE "SyncEvent" SET "status" = 'REJECTED', "message" = 'dealt with elsewhere' WHERE "id" = $1`, [parked.eventId]);
    await other().query('COMMIT');

    const { result, statements } = await student;
    expect(result.status).toBe('CREATED');
    expect(heard).toEqual(['BTEC_Students CREATED']);
    // The student's read, and the payment's, sent with the student's write.
    expect(statements.filter((sql) => sql.startsWith('WITH l AS MATERIALIZED'))).toHaveLength(2);
    expect(statements.filter((sql) => /^COMMIT/.test(sql))).toHaveLength(1);
    // The unused read did not cost the commit: the student is stored.
    expect((await other().query(`SELECT count(*)::int AS n FROM "Student" WHERE "zohoId" = $1`, [studentId])).rows).toEqual([{ n: 1 }]);
    expect((await other().query(`SELECT count(*)::int AS n FROM "Payment" WHERE "zohoId" = $1`, [paymentId])).rows).toEqual([{ n: 0 }]);
    expect((await other().query(`SELECT status::text, message FROM "SyncEvent" WHERE "id" = $1`, [parked.eventId])).rows).toEqual([{ status: 'REJECTED', message: 'dealt with elsewhere' }]);
  });

  it('a lock needed after others are held is only tried: taken elsewhere, the transaction is retried', async () => {
    await other().query('BEGIN');
    await other().query(lockOf('Payment:zohoId:held-elsewhere'));
    try {
      const attempt = sqlTransaction(async (tx) => {
        const locks = new TransactionLocks(tx, 'default');
        await locks.acquire(['Student:zohoId:free']);
        await locks.tryAcquire(['Student:zohoId:free', 'Payment:zohoId:held-elsewhere']);
      });
      await expect(attempt).rejects.toBeInstanceOf(LockBusyError);
    } finally {
      await other().query('COMMIT');
    }
    // Released, the same locks are taken (and re-taking held ones is free).
    const statements = await sqlTransaction(async (tx) => {
      const locks = new TransactionLocks(tx, 'default');
      await locks.tryAcquire(['Payment:zohoId:held-elsewhere']);
      database.statements.length = 0;
      await locks.acquire(['Payment:zohoId:held-elsewhere']);
      await locks.tryAcquire(['Payment:zohoId:held-elsewhere']);
      return database.statements.length;
    });
    expect(statements).toBe(0);
  });
});
