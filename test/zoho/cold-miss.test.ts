/**
 * Cold-miss fallback on a real (cloned, seeded) Postgres and the fake Zoho: a warm student
 * costs 0 Zoho calls; a cold one costs 1 search + 5 related searches + one batched GET per
 * module of missing parents, once, and 0 afterwards; Zoho trouble returns a reason, never hangs.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_STUDENT } from '../../src/db/seed.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { createMemoryBudget, type CreditBudget } from '../../src/zoho/budget.js';
import { ZohoClient, type ZohoClientOptions } from '../../src/zoho/client.js';
import { fetchStudentFromZoho, type ColdMissResult } from '../../src/zoho/cold-miss.js';
import { useFreshDatabase } from '../support/database.js';
import {
  classRecord,
  enrollmentRecord,
  FakeZoho,
  gradeRecord,
  paymentRecord,
  programRecord,
  registrationRecord,
  requestRecord,
  studentRecord,
  unitRecord,
  zohoId,
  zohoTime,
  type FakeRecord,
} from '../support/fake-zoho.js';

const database = useFreshDatabase();
const TENANT = 'default';
let fake: FakeZoho;
let ingestor: Ingestor;
const clients: ZohoClient[] = [];

function client(options: ZohoClientOptions & { dailyCredits?: number } = {}): ZohoClient {
  const { dailyCredits, ...rest } = options;
  const created = new ZohoClient(fake.settings(dailyCredits ? { dailyCredits } : {}), { retries: 1, minRetryDelayMs: 10, maxRetryDelayMs: 20, ...rest });
  clients.push(created);
  return created;
}

/** A student of Zoho only, with one of each related record, whose program, unit and class are not in the read model either. */
function coldStudent(n: number) {
  const student = studentRecord({ id: zohoId(21, n), moodleUserId: String(70_000 + n), number: 7000 + n });
  const program = programRecord(zohoId(23, n), `P${n}`);
  const unit = unitRecord(zohoId(24, n), `U${n}`, program);
  const klass = classRecord(zohoId(25, n), `C${n}`, String(60_000 + n), unit, program);
  const registration = registrationRecord(zohoId(27, n), n, student, program);
  const payments = [paymentRecord(zohoId(28, 2 * n), 2 * n, student, registration, 'Paid'), paymentRecord(zohoId(28, 2 * n + 1), 2 * n + 1, student, registration, 'Pending')];
  const enrollment = enrollmentRecord(zohoId(26, n), n, student, klass);
  const request = requestRecord(zohoId(29, n), n, student);
  const grade = gradeRecord(zohoId(20, n), n, student, unit, klass);
  fake.put('BTEC_Students', student);
  fake.put('BTEC_Programs', program);
  fake.put('BTEC_Units', unit);
  fake.put('BTEC_Classes', klass);
  fake.put('BTEC_Registrations', registration);
  fake.put('BTEC_Payments', ...payments);
  fake.put('BTEC_Enrollments', enrollment);
  fake.put('BTEC_Requests', request);
  fake.put('BTEC_Grades', grade);
  return { student, program, unit, klass, registration, payments, enrollment, request, grade };
}

async function dashboardOf(studentId: string) {
  return database.db.student.findUniqueOrThrow({
    where: { id: studentId },
    include: {
      registrations: { include: { program: true } },
      payments: true,
      enrollments: { include: { class: { include: { unit: true } } } },
      requests: true,
      grades: { include: { learningOutcomes: true, unit: true, class: true } },
    },
  });
}

function found(result: ColdMissResult): Extract<ColdMissResult, { studentId: string }> {
  if (result.studentId === null) throw new Error(`expected a student, got ${result.reason}: ${result.message}`);
  return result;
}

beforeAll(async () => {
  fake = await FakeZoho.start();
  ingestor = new Ingestor();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.clearFailures();
  fake.resetCounts();
  fake.latencyMs = 0;
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('fetchStudentFromZoho', () => {
  it('a warm student (already in the read model) costs 0 Zoho calls', async () => {
    const zoho = client();
    const result = found(await fetchStudentFromZoho(TENANT, { moodleUserId: DEMO_STUDENT.moodleUserId }, { client: zoho, ingestor }));
    expect(result).toMatchObject({ source: 'read-model', zohoCalls: 0 });
    const demo = await database.db.student.findFirstOrThrow({ where: { tenantId: TENANT, moodleUserId: DEMO_STUDENT.moodleUserId } });
    expect(result.studentId).toBe(demo.id);
    expect(found(await fetchStudentFromZoho(TENANT, { zohoId: demo.zohoId! }, { client: zoho, ingestor })).zohoCalls).toBe(0);
    expect(fake.count()).toBe(0);
    expect(fake.tokenRequests).toBe(0);
  });

  it('a cold student: 1 search + 5 related searches + missing parents, ingested; the next view costs 0', async () => {
    const zoho = client();
    const cold = coldStudent(1);
    const result = found(await fetchStudentFromZoho(TENANT, { moodleUserId: '70001' }, { client: zoho, ingestor }));
    expect(result.source).toBe('zoho');
    expect(fake.calls.map((c) => `${c.path}${c.query.get('criteria') ? ` ${c.query.get('criteria')}` : ''}`).sort()).toEqual(
      [
        `/crm/v2/BTEC_Students/search (Student_Moodle_ID:equals:70001)`,
        ...['Enrollments', 'Grades', 'Payments', 'Registrations', 'Requests'].map((m) => `/crm/v2/BTEC_${m}/search (Student:equals:${cold.student.id})`),
        '/crm/v2/BTEC_Classes',
        '/crm/v2/BTEC_Programs',
        '/crm/v2/BTEC_Units',
      ].sort(),
    );
    expect(result.zohoCalls).toBe(9);
    expect(fake.count()).toBe(9);
    expect(result.missing).toEqual([]);

    const student = await dashboardOf(result.studentId);
    expect(student).toMatchObject({ zohoId: cold.student.id, moodleUserId: '70001', studentNumber: 'STU-7001', fullName: 'Omar Khalil7001', status: 'ACTIVE' });
    expect(student.registrations.map((r) => [r.zohoId, r.program.zohoId, r.totalFees?.toString()])).toEqual([[cold.registration.id, cold.program.id, '6000']]);
    expect(student.payments.map((p) => [p.zohoId, p.status, p.registrationId]).sort()).toEqual(
      [
        [cold.payments[0]!.id, 'PAID', student.registrations[0]!.id],
        [cold.payments[1]!.id, 'PENDING', student.registrations[0]!.id],
      ].sort(),
    );
    expect(student.enrollments.map((e) => [e.zohoId, e.class.zohoId, e.class.unit?.zohoId])).toEqual([[cold.enrollment.id, cold.klass.id, cold.unit.id]]);
    expect(student.requests.map((r) => [r.zohoId, r.status])).toEqual([[cold.request.id, 'IN_REVIEW']]);
    expect(student.grades.map((g) => [g.zohoId, g.btecGrade, g.unit?.zohoId, g.class?.zohoId, g.learningOutcomes.length])).toEqual([[cold.grade.id, 'MERIT', cold.unit.id, cold.klass.id, 2]]);
    const parked = await database.db.parkedEvent.count({ where: { tenantId: TENANT, syncEvent: { recordId: { in: [cold.grade.id, cold.enrollment.id, ...cold.payments.map((p) => p.id)] } } } });
    expect(parked).toBe(0);

    fake.resetCounts();
    const again = found(await fetchStudentFromZoho(TENANT, { moodleUserId: '70001' }, { client: zoho, ingestor }));
    expect(again).toMatchObject({ studentId: result.studentId, source: 'read-model', zohoCalls: 0 });
    expect(found(await fetchStudentFromZoho(TENANT, { zohoId: cold.student.id }, { client: zoho, ingestor })).zohoCalls).toBe(0);
    expect(fake.count()).toBe(0);
  });

  it('a cold student whose parents exist costs exactly 6 calls (1 + 5)', async () => {
    const zoho = client();
    const seededProgram = await database.db.program.findFirstOrThrow({ where: { tenantId: TENANT, deletedAt: null } });
    const student = studentRecord({ id: zohoId(21, 50), moodleUserId: '70050', number: 7050 });
    const program = { ...programRecord(seededProgram.zohoId!, 'SEEDED'), Name: seededProgram.name };
    fake.put('BTEC_Students', student);
    fake.put('BTEC_Registrations', registrationRecord(zohoId(27, 50), 50, student, program));
    const result = found(await fetchStudentFromZoho(TENANT, { zohoId: student.id }, { client: zoho, ingestor }));
    expect(result.zohoCalls).toBe(6);
    expect(fake.count('/crm/v2/BTEC_Students/')).toBe(1); // GET by id, no search
    expect((await dashboardOf(result.studentId)).registrations.map((r) => r.programId)).toEqual([seededProgram.id]);
  });

  it('concurrent views of the same cold student share one fetch', async () => {
    const zoho = client({ maxConcurrent: 10 });
    coldStudent(2);
    fake.latencyMs = 20;
    const results = await Promise.all(Array.from({ length: 10 }, () => fetchStudentFromZoho(TENANT, { moodleUserId: '70002' }, { client: zoho, ingestor })));
    const ids = new Set(results.map((r) => found(r).studentId));
    expect(ids.size).toBe(1);
    expect(fake.count('/crm/v2/BTEC_Students/search')).toBe(1);
    expect(fake.count()).toBe(9);
  });

  it('not in Zoho either: not-found after 1 call, and repeated views cost 0 (remembered)', async () => {
    const zoho = client();
    const first = await fetchStudentFromZoho(TENANT, { moodleUserId: '79999' }, { client: zoho, ingestor });
    expect(first).toMatchObject({ studentId: null, reason: 'not-found', zohoCalls: 1 });
    expect(fake.calls[0]!.status).toBe(204);
    const second = await fetchStudentFromZoho(TENANT, { moodleUserId: '79999' }, { client: zoho, ingestor });
    expect(second).toMatchObject({ studentId: null, reason: 'not-found', zohoCalls: 0 });
    expect(fake.count()).toBe(1);
  });

  it('Zoho not configured: null with a reason, at once', async () => {
    const result = await fetchStudentFromZoho(TENANT, { moodleUserId: '70003' }, { client: null, ingestor });
    expect(result).toMatchObject({ studentId: null, reason: 'not-configured', zohoCalls: 0 });
  });

  it('breaker open: null with a reason, no call sent', async () => {
    const zoho = client({ retries: 0, breakerFailureThreshold: 1, breakerCooldownMs: 60_000 });
    coldStudent(4);
    fake.down({ status: 500 });
    const broken = await fetchStudentFromZoho(TENANT, { moodleUserId: '70004' }, { client: zoho, ingestor });
    expect(broken).toMatchObject({ studentId: null, reason: 'unavailable', zohoCalls: 1 });
    expect(zoho.breakerState()).toBe('open');
    fake.resetCounts();
    const refused = await fetchStudentFromZoho(TENANT, { moodleUserId: '70004' }, { client: zoho, ingestor });
    expect(refused).toMatchObject({ studentId: null, reason: 'breaker-open', zohoCalls: 0 });
    expect(fake.count()).toBe(0);
  });

  it('budget exhausted (or too small for a cold miss): null with a reason, no call sent', async () => {
    const zoho = client({ dailyCredits: 8 });
    coldStudent(5);
    await zoho.getRecord('BTEC_Students', zohoId(21, 1));
    await zoho.getRecord('BTEC_Students', zohoId(21, 1));
    await zoho.getRecord('BTEC_Students', zohoId(21, 1));
    expect(await zoho.remainingCredits()).toBe(5);
    fake.resetCounts();
    const refused = await fetchStudentFromZoho(TENANT, { moodleUserId: '70005' }, { client: zoho, ingestor });
    expect(refused).toMatchObject({ studentId: null, reason: 'budget-exhausted', zohoCalls: 0 });
    expect(fake.count()).toBe(0);
    expect(await database.db.student.count({ where: { tenantId: TENANT, moodleUserId: '70005' } })).toBe(0);
  });

  it('a budget that runs out mid-way (another instance spent it): budget-exhausted, nothing stored', async () => {
    const shared = createMemoryBudget({ limit: 8 });
    let takes = 0;
    const budget: CreditBudget = {
      ...shared,
      async take(n = 1) {
        await shared.take(n);
        if (++takes === 1) await shared.take(3); // another instance spends 3 right after our first request
      },
    };
    const zoho = client({ budget, maxConcurrent: 1 });
    coldStudent(15);
    const result = await fetchStudentFromZoho(TENANT, { moodleUserId: '70015' }, { client: zoho, ingestor });
    expect(result).toMatchObject({ studentId: null, reason: 'budget-exhausted', zohoCalls: 5 });
    expect(fake.count()).toBe(5);
    expect(await database.db.student.count({ where: { tenantId: TENANT, moodleUserId: '70015' } })).toBe(0);
  });

  it('the first failed related search cancels those not yet sent; none is left running', async () => {
    const zoho = client({ maxConcurrent: 1 });
    const cold = coldStudent(16);
    fake.fail({ match: '/crm/v2/BTEC_Payments/search', status: 400 });
    const result = await fetchStudentFromZoho(TENANT, { moodleUserId: '70016' }, { client: zoho, ingestor });
    expect(result).toMatchObject({ studentId: null, reason: 'unavailable' });
    // Every request it sent is accounted for, and none is sent after it returned (an aborted
    // request already on the wire may reach Zoho a moment later: wait for it).
    await new Promise((r) => setTimeout(r, 100));
    const sent = fake.count();
    expect(result.zohoCalls).toBe(sent);
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.count()).toBe(sent);
    // Registrations, Payments (400), and at most the one search the queue had already started.
    const paths = fake.calls.map((c) => c.path);
    expect(paths.slice(0, 3)).toEqual(['/crm/v2/BTEC_Students/search', '/crm/v2/BTEC_Registrations/search', '/crm/v2/BTEC_Payments/search']);
    expect(sent).toBeLessThanOrEqual(4);
    expect(paths).not.toContain('/crm/v2/BTEC_Requests/search');
    expect(paths).not.toContain('/crm/v2/BTEC_Grades/search');
    expect(await database.db.syncEvent.count({ where: { tenantId: TENANT, recordId: cold.student.id } })).toBe(0);
  });

  it('a deadline: Zoho too slow → timeout, within the deadline', async () => {
    const zoho = client({ retries: 0, requestTimeoutMs: 5_000 });
    coldStudent(6);
    fake.latencyMs = 2_000;
    const started = performance.now();
    const result = await fetchStudentFromZoho(TENANT, { moodleUserId: '70006' }, { client: zoho, ingestor }, { timeoutMs: 300 });
    expect(result).toMatchObject({ studentId: null, reason: 'timeout' });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('a failed related fetch stores nothing (no half-loaded student); the next view fetches it all', async () => {
    const zoho = client({ retries: 1 });
    const cold = coldStudent(7);
    fake.fail({ match: '/crm/v2/BTEC_Grades/search', status: 500, times: 2 });
    const failed = await fetchStudentFromZoho(TENANT, { moodleUserId: '70007' }, { client: zoho, ingestor });
    expect(failed).toMatchObject({ studentId: null, reason: 'unavailable' });
    expect(await database.db.student.count({ where: { tenantId: TENANT, zohoId: cold.student.id } })).toBe(0);
    expect(await database.db.syncEvent.count({ where: { tenantId: TENANT, recordId: { in: [cold.student.id, cold.registration.id] } } })).toBe(0);

    const retried = found(await fetchStudentFromZoho(TENANT, { moodleUserId: '70007' }, { client: zoho, ingestor }));
    expect(retried.source).toBe('zoho');
    expect((await dashboardOf(retried.studentId)).grades).toHaveLength(1);
  });

  it('refreshStudent: re-fetches a warm student by read-model id (by Zoho id) and applies the change', async () => {
    const zoho = client();
    const cold = coldStudent(8);
    const first = found(await fetchStudentFromZoho(TENANT, { moodleUserId: '70008' }, { client: zoho, ingestor }));
    fake.put('BTEC_Students', { ...cold.student, City: 'Irbid', Modified_Time: zohoTime(new Date('2026-02-20T10:00:00Z')) } as FakeRecord);
    fake.resetCounts();
    const refreshed = found(await fetchStudentFromZoho(TENANT, { id: first.studentId }, { client: zoho, ingestor }, { refresh: true }));
    expect(refreshed).toMatchObject({ studentId: first.studentId, source: 'zoho', zohoCalls: 6 });
    expect(fake.count(`/crm/v2/BTEC_Students/${cold.student.id}`)).toBe(1);
    expect(refreshed.outcomes.at(-1)).toMatchObject({ status: 'UPDATED', entityType: 'Student' });
    expect(refreshed.outcomes.slice(0, -1).every((o) => o.status === 'DUPLICATE')).toBe(true);
    expect((await database.db.student.findUniqueOrThrow({ where: { id: first.studentId } })).city).toBe('Irbid');
  });

  it('refresh of an unknown read-model id: not-found without calling Zoho', async () => {
    const zoho = client();
    const result = await fetchStudentFromZoho(TENANT, { id: '00000000-0000-4000-8000-000000000000' }, { client: zoho, ingestor }, { refresh: true });
    expect(result).toMatchObject({ studentId: null, reason: 'not-found', zohoCalls: 0 });
    expect(fake.count()).toBe(0);
  });

  it('tenants stay apart: the same Zoho student fetched for another tenant is a separate row', async () => {
    const zoho = client();
    coldStudent(9);
    const a = found(await fetchStudentFromZoho(TENANT, { moodleUserId: '70009' }, { client: zoho, ingestor }));
    const b = found(await fetchStudentFromZoho('northfield', { moodleUserId: '70009' }, { client: zoho, ingestor }));
    expect(a.studentId).not.toBe(b.studentId);
    expect((await database.db.student.findUniqueOrThrow({ where: { id: b.studentId } })).tenantId).toBe('northfield');
  });
});
