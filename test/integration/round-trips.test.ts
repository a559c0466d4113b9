/**
 * Round trips to Postgres, counted on the wire (bench/sql-counter.ts, a TCP proxy reading both
 * directions of the protocol): a tenant's batches run one at a time (group-commit.ts), and while
 * one waits for an answer the gateway and Postgres take turns, so every round trip saved is
 * wall time on that path. Statements the transaction does not need answered before it goes on
 * travel with the next one (node-postgres pipelining, db/sql.ts): BEGIN with the first
 * statement, the sorted lock call before a read with the read (locks.ts), and a round's write
 * with the next round's read behind it (ingest/batch.ts prefetchReads).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSqlCounter, type SqlCounter } from '../../bench/sql-counter.js';
import { useDatabase, type Db } from '../../src/db/client.js';
import { sqlTransaction } from '../../src/db/sql.js';
import { Prisma } from '../../src/generated/prisma/client.js';
import { zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { useFreshDatabase } from '../support/database.js';
import { paymentEvent, studentEvent as zohoStudent } from '../support/webhooks.js';

const database = useFreshDatabase();
let counter: SqlCounter;
let proxied: Db;

beforeAll(async () => {
  const url = new URL(database.url);
  counter = await startSqlCounter(url.hostname, Number(url.port || 5432));
  url.port = String(counter.port);
  // Binds the app's pool (sqlTransaction, the Ingestor) to the proxy for this file.
  proxied = useDatabase(url.toString(), { poolSize: 5 });
});
afterAll(async () => {
  await proxied?.$disconnect();
  await counter?.close();
});

async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; statements: number; roundTrips: number; kinds: Record<string, number> }> {
  counter.reset();
  const result = await fn();
  const { total, roundTrips, byKind } = counter.counts();
  return { result, statements: total, roundTrips, kinds: byKind };
}

const studentEvent = (zohoId: string) =>
  zohoWebhookEvents(zohoStudent(zohoId, { fullName: 'Round Trip', modified: '2026-02-13T10:00:00+03:00', notificationId: `round-trip-student-${zohoId}` }))[0]!;

describe('round trips', () => {
  it("a transaction's BEGIN travels with its first statement", async () => {
    const { result, statements, roundTrips, kinds } = await counted(() => sqlTransaction((tx) => tx.query<{ ok: number }>('SELECT 1 AS ok')));
    expect(result).toEqual([{ ok: 1 }]);
    expect({ statements, roundTrips, kinds }).toEqual({ statements: 3, roundTrips: 2, kinds: { BEGIN: 1, SELECT: 1, COMMIT: 1 } });
  });

  it('a statement sent without waiting runs before the next, in its round trip', async () => {
    const { result, roundTrips } = await counted(() =>
      sqlTransaction(async (tx) => {
        tx.send('SELECT pg_advisory_xact_lock(4242)');
        return tx.query<{ held: number }>("SELECT count(*)::int AS held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted");
      }),
    );
    expect(result).toEqual([{ held: 1 }]);
    // BEGIN + the lock + the read, then COMMIT.
    expect(roundTrips).toBe(2);
  });

  it("a sent statement's failure fails the transaction with its own error, and nothing of it commits", async () => {
    const key = `round-trip-${Date.now()}`;
    const failing = sqlTransaction(async (tx) => {
      await tx.execute(Prisma.sql`INSERT INTO "Tenant" ("id", "name", "webhookSecret") VALUES (${key}, 'round trips', 's')`);
      tx.send('SELECT 1/0');
      await tx.query('SELECT 1');
    });
    // Division by zero (22012), not the "transaction is aborted" (25P02) of the statement behind it.
    await expect(failing).rejects.toMatchObject({ code: '22012' });
    expect(await database.db.tenant.findUnique({ where: { id: key } })).toBeNull();
    // The connection is clean for the next transaction.
    expect(await sqlTransaction((tx) => tx.query<{ ok: number }>('SELECT 1 AS ok'))).toEqual([{ ok: 1 }]);
  });

  it('an event applied alone: BEGIN with the claim, the read, the write, COMMIT', async () => {
    const ingestor = new Ingestor();
    const created = await counted(() => ingestor.ingest('default', studentEvent('9398830077000000701')));
    expect(created.result.status).toBe('CREATED');
    expect({ statements: created.statements, roundTrips: created.roundTrips }).toEqual({ statements: 5, roundTrips: 4 });

    // A child whose parent is stored: the same.
    const [payment] = zohoWebhookEvents(paymentEvent('9398830077000000701', '9398830077000000702', '10.00', '2026-02-13T10:00:00+03:00'));
    const child = await counted(() => ingestor.ingest('default', payment!));
    expect(child.result.status).toBe('CREATED');
    expect({ statements: child.statements, roundTrips: child.roundTrips }).toEqual({ statements: 5, roundTrips: 4 });
  });

  it('a parent releasing a parked child: the sorted lock call travels with the read behind it', async () => {
    const ingestor = new Ingestor();
    const [payment] = zohoWebhookEvents(paymentEvent('9398830077000000711', '9398830077000000712', '12.00', '2026-02-13T10:00:00+03:00'));
    expect((await ingestor.ingest('default', payment!)).status).toBe('PARKED');
    const heard: string[] = [];
    const off = ingestor.onOutcomes((outcomes) => void heard.push(...outcomes.map((o) => `${o.module} ${o.status}`)));
    const released = await counted(() => ingestor.ingest('default', studentEvent('9398830077000000711'))).finally(off);
    expect(released.result.status).toBe('CREATED');
    expect(heard).toEqual(['BTEC_Students CREATED', 'BTEC_Payments CREATED']);
    // BEGIN + the claim (finding the parked payment, and what it releases in turn: nothing); the
    // locks + the student's read; its write + the payment's read; its write; COMMIT.
    expect({ statements: released.statements, roundTrips: released.roundTrips, kinds: released.kinds }).toEqual({
      statements: 8,
      roundTrips: 5,
      kinds: { BEGIN: 1, WITH: 5, SELECT: 1, COMMIT: 1 },
    });
  });

  it("three rounds (a student releasing its registration, then a payment of it): each round's read travels with the write before it", async () => {
    const ingestor = new Ingestor();
    const program = await database.db.program.findFirstOrThrow({ where: { tenantId: 'default', zohoId: { not: null } }, select: { zohoId: true } });
    const [studentId, registrationId, paymentId] = ['9398830077000000721', '9398830077000000722', '9398830077000000723'];
    const [registration] = zohoWebhookEvents({
      notification_id: `round-trip-registration-${registrationId}`,
      module: 'BTEC_Registrations',
      operation: 'insert',
      record_id: registrationId,
      data: { id: registrationId, Name: 'REG-0722', Student: { id: studentId }, Program: { id: program.zohoId }, Status: 'Active', Total_Fees: '900.00', Modified_Time: '2026-02-13T10:00:00+03:00' },
    });
    const body = paymentEvent(studentId, paymentId, '30.00', '2026-02-13T10:00:00+03:00');
    const [payment] = zohoWebhookEvents({ ...body, data: { ...body.data, Registration: { id: registrationId } } });
    // Both wait for the student (the payment's first missing parent).
    expect((await ingestor.ingest('default', registration!)).status).toBe('PARKED');
    expect((await ingestor.ingest('default', payment!)).status).toBe('PARKED');

    const heard: string[] = [];
    const off = ingestor.onOutcomes((outcomes) => void heard.push(...outcomes.map((o) => `${o.module} ${o.status}`)));
    const released = await counted(() => ingestor.ingest('default', studentEvent(studentId))).finally(off);
    // The payment names the registration: it applies a round after it.
    expect(heard).toEqual(['BTEC_Students CREATED', 'BTEC_Registrations CREATED', 'BTEC_Payments CREATED']);
    // BEGIN + the claim (and what the two release in turn); the locks + the student's read; its
    // write + the next reads; the registration's write + the payment's read; its write; COMMIT.
    // Awaited one by one, the three reads would be 2 round trips more.
    expect({ statements: released.statements, roundTrips: released.roundTrips }).toEqual({ statements: 10, roundTrips: 6 });
    const stored = await database.db.payment.findFirstOrThrow({ where: { zohoId: paymentId }, select: { registration: { select: { zohoId: true } }, student: { select: { zohoId: true } } } });
    expect(stored).toEqual({ registration: { zohoId: registrationId }, student: { zohoId: studentId } });
  });
});
