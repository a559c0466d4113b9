/**
 * The ingest's lookups by key stay index probes whatever the statistics say. ParkedEvent and
 * SyncEvent are analysed while empty (as autovacuum or VACUUM ANALYZE often catches them), then
 * the ingest runs (its prepared statements planned from those statistics), then 3,000 unrelated
 * parked events of the tenant appear: an ingest that parks an event, releases it and answers a
 * duplicate must read none of them — with the generic plans every ingest transaction runs
 * (src/db/sql.ts sets plan_cache_mode = force_generic_plan: planned once per connection, without
 * the values, kept as the tables grow). The read model's lookups likewise, among 3,000 unrelated
 * students whether its tables were analysed with them or never (gradeRounds). Counted by Postgres
 * itself (pg_stat_user_tables / pg_stat_user_indexes); the pool's sessions are ended to flush them.
 */
import { describe, expect, it } from 'vitest';
import { zohoNotificationEvents, zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { useFreshDatabase, useOtherConnection } from '../support/database.js';
import { paymentEvent, studentEvent } from '../support/webhooks.js';

const database = useFreshDatabase();
const ingestor = new Ingestor();
const UNRELATED = 3000;
const PROBED_INDEXES = ['ParkedEvent_pkey', 'ParkedEvent_tenantId_awaiting_idx', 'SyncEvent_pkey', 'SyncEvent_tenantId_idempotencyKey_key'];

const other = useOtherConnection(database);

/** Empty event tables analysed as such: statistics that say both are empty. */
async function emptyAnalysed() {
  await other().query('DELETE FROM "SyncEvent"'); // parked rows go with their log rows
  await other().query('VACUUM (ANALYZE) "ParkedEvent", "SyncEvent"');
}

/**
 * 3,000 unrelated parked events of the tenant: each awaiting a student of its own, or (`fetches`)
 * all Notifications-API callbacks awaiting their fetch from Zoho — one awaiting value for all.
 */
async function addUnrelatedParked(fetches = false) {
  const payload = fetches
    ? { kind: 'zoho-fetch', module: 'BTEC_Students', recordId: '1', operation: 'update', channelId: 'c', serverTime: '1' }
    : { kind: 'moodle', body: {} };
  await other().query(
    `WITH s AS (
       INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "status")
       SELECT gen_random_uuid(), 'default', 'unrelated-' || gen_random_uuid(), 'ZOHO', $2, 'PARKED' FROM generate_series(1, $1::int) g
       RETURNING "id")
     INSERT INTO "ParkedEvent" ("id", "tenantId", "syncEventId", "awaiting", "payload")
     SELECT gen_random_uuid(), 'default', s."id", coalesce($3, 'Student:zohoId:unrelated-' || s."id"), $4::jsonb FROM s`,
    [UNRELATED, fetches ? 'BTEC_Students' : 'BTEC_Payments', fetches ? 'zoho-fetch' : null, JSON.stringify(payload)],
  );
}

/** Ends every other session of the test database (their statistics are flushed as they exit). */
async function endPoolSessions() {
  await other().query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  for (let i = 0; i < 200; i++) {
    const { rows } = await other().query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the pool sessions did not end');
}

/** A payment parked, its student releasing it, the student again (DUPLICATE); `tag` makes the ids. Returns the payment's Zoho id. */
async function parkReleaseDuplicate(tag: string): Promise<string> {
  const digits = [...tag].map((c) => c.charCodeAt(0) % 10).join('');
  const studentId = `9398830099${digits.padStart(6, '0')}001`;
  const paymentId = `9398830099${digits.padStart(6, '0')}002`;
  const [payment] = zohoWebhookEvents(paymentEvent(studentId, paymentId, '5.00', '2026-02-13T10:00:00+03:00'));
  expect((await ingestor.ingest('default', payment!)).status).toBe('PARKED');
  const [student] = zohoWebhookEvents(studentEvent(studentId, { notificationId: `plan-probe-${tag}` }));
  expect((await ingestor.ingest('default', student!)).status).toBe('CREATED');
  expect((await ingestor.ingest('default', student!)).status).toBe('DUPLICATE');
  return paymentId;
}

async function paymentStatus(paymentId: string) {
  return (await other().query(`SELECT status::text FROM "SyncEvent" WHERE "recordId" = $1`, [paymentId])).rows;
}

describe('ingest lookups with statistics of empty tables', () => {
  const n = 0;
  it('park, release and a duplicate read no unrelated row (generic plans)', async () => {
    await endPoolSessions();
    // Plans made while the tables are (nearly) empty, kept by the connection as they grow.
    await emptyAnalysed();
    for (const round of ['a', 'b']) expect(await paymentStatus(await parkReleaseDuplicate(`${n}${round}`))).toEqual([{ status: 'CREATED' }]);
    await addUnrelatedParked();
    // This session's own reads and writes so far must not reach the counters after the reset.
    await other().query('SELECT pg_stat_force_next_flush()');
    await other().query('SELECT pg_stat_reset()');
    const probed = await parkReleaseDuplicate(`${n}c`);

    await endPoolSessions();
    await other().query('SELECT pg_stat_clear_snapshot()');
    const { rows: tables } = await other().query(
      `SELECT relname, seq_scan::int, coalesce(idx_tup_fetch, 0)::int AS fetched FROM pg_stat_user_tables WHERE relname IN ('ParkedEvent', 'SyncEvent') ORDER BY relname`,
    );
    const { rows: indexes } = await other().query(
      `SELECT indexrelname AS index, idx_tup_read::int AS read FROM pg_stat_user_indexes WHERE relname IN ('ParkedEvent', 'SyncEvent') AND idx_tup_read > 0 ORDER BY indexrelname`,
    );
    // Sanity: the ingest's statements were counted at all.
    expect(indexes.length).toBeGreaterThan(0);
    // No sequential scan; only the indexes of the lookups by id and key, none of those a scan
    // of the tenant's rows could use; a few dozen entries (the rows' versions), never thousands.
    expect(tables).toEqual([
      { relname: 'ParkedEvent', seq_scan: 0, fetched: expect.any(Number) },
      { relname: 'SyncEvent', seq_scan: 0, fetched: expect.any(Number) },
    ]);
    for (const i of indexes) expect(PROBED_INDEXES, i.index).toContain(i.index);
    for (const t of tables) expect(t.fetched, t.relname).toBeLessThan(40);
    for (const i of indexes) expect(i.read, i.index).toBeLessThan(40);
    expect(await paymentStatus(probed)).toEqual([{ status: 'CREATED' }]);
  });

  it('resolving a fetched Notifications-API record reads no other callback awaiting a fetch (generic plans)', async () => {
    await endPoolSessions();
    // Statistics of a table whose parked rows await many different keys: an equality on
    // (tenantId, awaiting) then looks as selective as the unique syncEventId (a plan without the
    // fence took it, and read the 3,000 callbacks of the backlog below on each resolve).
    await emptyAnalysed();
    await addUnrelatedParked();
    await other().query('VACUUM (ANALYZE) "ParkedEvent", "SyncEvent"');
    const resolve = async (n: string) => {
      const zohoId = `93988300990000${n}`;
      const [event] = zohoNotificationEvents({ server_time: 1718117126473, module: 'BTEC_Students', ids: [zohoId], operation: 'update', channel_id: '1000000068001' });
      const parked = await ingestor.ingest('default', event!);
      expect(parked).toMatchObject({ status: 'PARKED', awaiting: 'zoho-fetch' });
      const data = { id: zohoId, Name: `STU-${n}`, Full_Name: 'Fetch Probe', Status: 'Active', Modified_Time: '2026-02-13T10:05:00+03:00' };
      expect(await ingestor.resolveFetched('default', parked.eventId!, data)).toMatchObject({ status: 'CREATED' });
    };
    // Planned (and kept by the connection) while ParkedEvent looks empty; then the backlog appears.
    for (const n of ['11', '12']) await resolve(n);
    await addUnrelatedParked(true);
    await other().query('SELECT pg_stat_force_next_flush()');
    await other().query('SELECT pg_stat_reset()');
    await resolve('13');

    await endPoolSessions();
    await other().query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await other().query(
      `SELECT indexrelname AS index, idx_tup_read::int AS read FROM pg_stat_user_indexes WHERE relname = 'ParkedEvent' AND idx_scan > 0 ORDER BY indexrelname`,
    );
    // The resolve found its callback by syncEventId; the awaiting index served only the lookups of
    // events awaiting the stored student (none), never the 3,000 rows awaiting a fetch.
    for (const r of rows) expect(r.read, r.index).toBeLessThan(40);
    expect(rows.map((r) => r.index)).toContain('ParkedEvent_syncEventId_key');
  });

  // First: the read model's tables have never been analysed yet (the next test analyses them).
  it('a grade parked, released with its learning outcomes and updated reads no unrelated row, before the read model was ever analysed (generic plans)', async () => {
    await gradeRounds('never analysed', ['11', '12', '13']);
  });

  it('the same with the unrelated rows analysed before the plans were made (generic plans)', async () => {
    await gradeRounds('analysed', ['01', '02', '03']);
  });
});

/** The read model's tables that have column statistics (ANALYZE ran on them). */
async function readModelStatistics(): Promise<string[]> {
  const { rows } = await other().query(`SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public' AND tablename IN ('Grade', 'LearningOutcome', 'Student') ORDER BY tablename`);
  return rows.map((r) => r.tablename);
}

/**
 * A grade parked, its student releasing it, the grade updated with other outcomes, the student
 * again (DUPLICATE): in two rounds that make the plans, then in a third, counted, with 3,000
 * unrelated students (each with a grade of 4 learning outcomes) and 3,000 unrelated parked
 * events in the tables. `analysed`: the unrelated students are there and analysed before the
 * plans are made; `never analysed`: they arrive after the plans and no ANALYZE ever ran (a fresh
 * database before autovacuum's first visit: the planner knows nothing of tenantId's values and
 * gives an equality on it 0.5 % of the rows, which made every tenantId-led index look as good as
 * the key's). The event tables are analysed empty in both.
 */
async function gradeRounds(statistics: 'analysed' | 'never analysed', tags: [string, string, string]) {
  await endPoolSessions();
  await emptyAnalysed();
  const addUnrelatedGrades = async () => {
    await other().query(
      `WITH s AS (
         INSERT INTO "Student" ("id", "tenantId", "zohoId", "fullName")
         SELECT gen_random_uuid(), 'default', $2 || g, 'Unrelated' FROM generate_series(1, $1::int) g RETURNING "id", "zohoId"),
       gr AS (
         INSERT INTO "Grade" ("id", "tenantId", "zohoId", "compositeKey", "studentId") SELECT gen_random_uuid(), 'default', s."zohoId", s."zohoId", s."id" FROM s RETURNING "id")
       INSERT INTO "LearningOutcome" ("id", "gradeId", "position", "code") SELECT gen_random_uuid(), gr."id", p, 'A.P' || p FROM gr CROSS JOIN generate_series(0, 3) p`,
      [UNRELATED, `unrelated-${statistics === 'analysed' ? 'a' : 'n'}-`],
    );
  };
  if (statistics === 'analysed') {
    await addUnrelatedGrades();
    await other().query('VACUUM (ANALYZE) "Grade", "LearningOutcome", "Student"');
  } else {
    // Whatever the server's autovacuum setting, nothing analyses them during the test.
    await other().query(`ALTER TABLE "Grade" SET (autovacuum_enabled = off); ALTER TABLE "LearningOutcome" SET (autovacuum_enabled = off); ALTER TABLE "Student" SET (autovacuum_enabled = off)`);
    expect(await readModelStatistics(), 'the read model was analysed already').toEqual([]);
  }
  const grade = (tag: string, studentId: string, modified: string, outcomes: string[]) => ({
    notification_id: `plan-grade-${tag}-${modified}`,
    module: 'BTEC_Grades',
    operation: 'update',
    record_id: `93988300995${tag}`,
    data: {
      id: `93988300995${tag}`, Name: `GRD-${tag}`, Student: { name: 'student', id: studentId }, Grade: 'Merit', Score: '65', Modified_Time: modified,
      Learning_Outcomes_Assessm: outcomes.map((code) => ({ LO_Code: code, LO_Title: `Criterion ${code}`, LO_Score: 'P', LO_Feedback: 'ok' })),
    },
  });
  const round = async (tag: string) => {
    const studentId = `93988300996${tag}`;
    const [parked] = zohoWebhookEvents(grade(tag, studentId, '2026-02-13T10:00:00+03:00', ['A.P1', 'A.M1', 'A.D1']));
    expect(await ingestor.ingest('default', parked!)).toMatchObject({ status: 'PARKED' });
    const [student] = zohoWebhookEvents(studentEvent(studentId, { notificationId: `plan-grade-student-${tag}` }));
    expect(await ingestor.ingest('default', student!)).toMatchObject({ status: 'CREATED' });
    // Newer, with other outcomes: the stored ones are replaced.
    const [updated] = zohoWebhookEvents(grade(tag, studentId, '2026-02-14T10:00:00+03:00', ['A.P1', 'B.P2']));
    expect(await ingestor.ingest('default', updated!)).toMatchObject({ status: 'UPDATED' });
    expect(await ingestor.ingest('default', student!)).toMatchObject({ status: 'DUPLICATE' });
  };
  // Read by this session after the counters are taken (its own reads would count too).
  const outcomes = async (tag: string) =>
    (await other().query(`SELECT l."code" FROM "LearningOutcome" l JOIN "Grade" g ON g."id" = l."gradeId" WHERE g."zohoId" = $1 ORDER BY l."position"`, [`93988300995${tag}`])).rows.map(
      (r) => r.code,
    );
  for (const tag of tags.slice(0, 2)) {
    await round(tag);
    expect(await outcomes(tag)).toEqual(['A.P1', 'B.P2']);
  }
  if (statistics === 'never analysed') await addUnrelatedGrades();
  await addUnrelatedParked();
  await other().query('SELECT pg_stat_force_next_flush()');
  await other().query('SELECT pg_stat_reset()');
  await round(tags[2]);
  if (statistics === 'never analysed') expect(await readModelStatistics(), 'the read model was analysed meanwhile').toEqual([]);

  await endPoolSessions();
  await other().query('SELECT pg_stat_clear_snapshot()');
  const { rows: tables } = await other().query(
    `SELECT relname, seq_scan::int, coalesce(idx_tup_fetch, 0)::int AS fetched FROM pg_stat_user_tables WHERE seq_scan > 0 OR idx_scan > 0 ORDER BY relname`,
  );
  const { rows: indexes } = await other().query(`SELECT indexrelname AS index, idx_tup_read::int AS read FROM pg_stat_user_indexes WHERE idx_scan > 0 ORDER BY indexrelname`);
  expect(tables.map((t) => t.relname)).toEqual(expect.arrayContaining(['Grade', 'LearningOutcome', 'ParkedEvent', 'Student', 'SyncEvent']));
  for (const t of tables) expect(t.seq_scan, `${t.relname} sequential scans`).toBe(0);
  for (const t of tables) expect(t.fetched, t.relname).toBeLessThan(40);
  for (const i of indexes) expect(i.read, i.index).toBeLessThan(40);
  expect(await outcomes(tags[2])).toEqual(['A.P1', 'B.P2']);
}
