/**
 * S3 (and the ingest half of S4): signed webhooks as Zoho and Moodle send them. S3 posts a
 * whole new mini-college — programmes, units, teachers, classes, students, registrations,
 * payments (10 % of them updated later: Pending → Paid), enrolments, requests, Zoho grades
 * with learning outcomes and Moodle `submission_graded` grades — shuffled (children often
 * arrive before their parents and are PARKED), with 10 % exact duplicate deliveries, then
 * checks that the read model holds exactly what was sent.
 *
 * Every id of a run carries the run tag: Zoho ids `99<tag><module digit><10 digits>`, Moodle
 * ids `9<tag>…`, event ids `bench-<tag>-…`, so a run's rows can be counted and removed.
 */
import http from 'node:http';
import pg from 'pg';
import { signBody } from '../src/auth/signature.js';
import { percentile } from './http-load.js';
import { prng } from './dataset.js';

export interface WebhookEvent {
  path: '/webhooks/zoho' | '/webhooks/moodle';
  body: string;
  /** The event this one duplicates (index into the unique events), if it is a re-delivery. */
  duplicate: boolean;
}

type Json = Record<string, unknown>;
const lookup = (id: string, name: string) => ({ name, id });
const pad = (n: number, w: number) => String(n).padStart(w, '0');

export function runTag(): string {
  return pad(Math.floor(Date.now() / 1000) % 1_000_000, 6);
}

interface ExpectedPayment {
  amount: string;
  status: 'PAID' | 'PENDING';
  paidAt: string | null;
}

export interface S3Plan {
  tag: string;
  events: WebhookEvent[];
  unique: number;
  duplicates: number;
  students: number;
  expected: {
    counts: Record<string, number>;
    learningOutcomes: number;
    students: Map<string, { fullName: string; email: string; moodleUserId: string }>;
    payments: Map<string, ExpectedPayment>;
    grades: Map<string, { score: number; btecGrade: string; los: number }>;
    registrations: Map<string, string>;
  };
}

function band(score: number): string {
  return score >= 70 ? 'DISTINCTION' : score >= 60 ? 'MERIT' : score >= 40 ? 'PASS' : 'REFER';
}

const LETTER: Record<string, string> = { DISTINCTION: 'Distinction', MERIT: 'Merit', PASS: 'Pass', REFER: 'Refer' };

/** Events per student: 1 student, 1 registration, 4 payments (+0.4 updates), 4 enrolments, 1 request, 2 Zoho grades, 2 Moodle grades. */
const EVENTS_PER_STUDENT = 15.4;

/**
 * `order`: 'shuffled' (S3: children often before their parents, duplicates anywhere) or 'causal'
 * (every record after the records it refers to, as a CRM sends them; the duplicates, re-deliveries,
 * at the end).
 */
export function planS3(tag: string, uniqueEvents: number, seed = 1, order: 'shuffled' | 'causal' = 'shuffled'): S3Plan {
  const r = prng(`campus-graph:bench:s3:${seed}:${tag}`);
  const students = Math.max(1, Math.round((uniqueEvents - 22) / EVENTS_PER_STUDENT));
  const counters = new Map<number, number>();
  const zohoId = (digit: number) => {
    const n = (counters.get(digit) ?? 0) + 1;
    counters.set(digit, n);
    return `99${tag}${digit}${pad(n, 10)}`;
  };
  let notification = 0;
  const base = Date.UTC(2026, 10, 1, 9, 0, 0);
  const iso = (offsetMinutes: number) => new Date(base + offsetMinutes * 60_000).toISOString().replace('.000Z', '+00:00');
  const unique: WebhookEvent[] = [];
  const zoho = (module: string, data: Json, modifiedOffset = 0) => {
    const id = data.id as string;
    const body = {
      notification_id: `bench-${tag}-${++notification}`,
      timestamp: iso(modifiedOffset + 1),
      module,
      operation: 'insert',
      record_id: id,
      data: { ...data, Modified_Time: iso(modifiedOffset) },
    };
    unique.push({ path: '/webhooks/zoho', body: JSON.stringify(body), duplicate: false });
  };
  const moodle = (data: Json) => {
    unique.push({ path: '/webhooks/moodle', body: JSON.stringify({ event: 'submission_graded', event_id: `bench-${tag}-m${++notification}`, data }), duplicate: false });
  };

  const expected: S3Plan['expected'] = {
    counts: {},
    learningOutcomes: 0,
    students: new Map(),
    payments: new Map(),
    grades: new Map(),
    registrations: new Map(),
  };

  // Catalogue: 2 programmes × 4 units, 4 teachers, one class per unit.
  const programs = [0, 1].map((p) => ({ id: zohoId(3), name: `Bench ${tag} Programme ${p + 1}` }));
  for (const [p, program] of programs.entries()) {
    zoho('BTEC_Programs', { id: program.id, Name: program.name, Program_Code: `B${tag}-P${p + 1}`, Level: 'Level 3', Duration_Months: 24, Status: 'Active' });
  }
  const units = programs.flatMap((program, p) =>
    [0, 1, 2, 3].map((u) => ({ id: zohoId(4), name: `Bench Unit ${p + 1}.${u + 1}`, program })),
  );
  for (const unit of units) {
    zoho('BTEC_Units', { id: unit.id, Name: unit.name, Unit_Code: `BU${tag}-${unit.id.slice(-3)}`, Credits: 15, Level: 'Level 3', Program: lookup(unit.program.id, unit.program.name) });
  }
  const teachers = [0, 1, 2, 3].map((t) => ({ id: zohoId(2), name: `Bench Teacher ${t + 1}`, moodle: `9${tag}8${pad(t, 3)}` }));
  for (const teacher of teachers) {
    zoho('BTEC_Teachers', { id: teacher.id, Name: `TCH-B${teacher.id.slice(-4)}`, Full_Name: teacher.name, Email: `t${teacher.moodle}@staff.college.example`, Teacher_Moodle_ID: teacher.moodle, Status: 'Active' });
  }
  const classes = units.map((unit, c) => ({ id: zohoId(5), name: `${unit.name} class`, moodleCourse: `9${tag}7${pad(c, 3)}`, unit, teacher: teachers[c % teachers.length]! }));
  for (const cls of classes) {
    zoho('BTEC_Classes', {
      id: cls.id, Name: cls.name, Class_Code: `BC-${cls.id.slice(-4)}`, Moodle_Class_ID: cls.moodleCourse,
      Unit: lookup(cls.unit.id, cls.unit.name), Program: lookup(cls.unit.program.id, cls.unit.program.name), Teacher: lookup(cls.teacher.id, cls.teacher.name),
      Start_Date: '2026-09-07', End_Date: '2027-06-25', Schedule: 'Mon 09:00–12:00', Status: 'Active',
    });
  }

  let assignment = 0;
  for (let s = 0; s < students; s++) {
    const program = programs[s % 2]!;
    const programClasses = classes.filter((c) => c.unit.program === program);
    const studentZoho = zohoId(1);
    const moodleUserId = `9${tag}${pad(s, 5)}`;
    const fullName = `Bench Student ${tag}-${s}`;
    const email = `bench.${tag}.${s}@college.example`;
    zoho('BTEC_Students', {
      id: studentZoho, Name: `STU-B${tag}${pad(s, 5)}`, Full_Name: fullName, First_Name: 'Bench', Last_Name: `Student ${tag}-${s}`,
      Academic_Email: email, Phone_Number: '+44 7700 900000', City: 'Leeds', Country: 'United Kingdom', Status: 'Active', Student_Moodle_ID: moodleUserId,
    });
    expected.students.set(studentZoho, { fullName, email, moodleUserId });
    const student = lookup(studentZoho, fullName);
    const registrationId = zohoId(7);
    const fees = `${r.int(50, 70) * 100}.00`;
    zoho('BTEC_Registrations', {
      id: registrationId, Name: `REG-B${registrationId.slice(-6)}`, Student: student, Program: lookup(program.id, program.name),
      Registration_Date: '2026-08-01', Start_Date: '2026-09-07', End_Date: '2028-06-30', Status: 'Active', Total_Fees: fees, Currency: 'GBP',
    });
    expected.registrations.set(registrationId, fees);
    for (let p = 0; p < 4; p++) {
      const id = zohoId(8);
      const amount = `${r.int(5, 20) * 100}.${pad(r.int(0, 99), 2)}`;
      const paid = p < 2;
      const payment = {
        id, Name: `PAY-B${id.slice(-6)}`, Student: student, Registration: lookup(registrationId, `REG-B${registrationId.slice(-6)}`),
        Amount: amount, Currency: 'GBP', Due_Date: `2026-${pad(9 + p, 2)}-01`, Payment_Date: paid ? `2026-${pad(9 + p, 2)}-01` : null,
        Status: paid ? 'Paid' : 'Pending', Payment_Method: 'Direct Debit', Receipt_Number: paid ? `R-${id.slice(-6)}` : null,
      };
      zoho('BTEC_Payments', payment, 0);
      let final: ExpectedPayment = { amount, status: paid ? 'PAID' : 'PENDING', paidAt: paid ? payment.Payment_Date : null };
      if (!paid && r.next() < 0.2) {
        // Paid later: a newer version of the same record (the stale guard keeps it, in any arrival order).
        const paidAt = `2026-${pad(9 + p, 2)}-03`;
        zoho('BTEC_Payments', { ...payment, Status: 'Paid', Payment_Date: paidAt, Receipt_Number: `R-${id.slice(-6)}` }, 60);
        final = { amount, status: 'PAID', paidAt };
      }
      expected.payments.set(id, final);
    }
    for (const cls of programClasses) {
      const id = zohoId(6);
      zoho('BTEC_Enrollments', {
        id, Name: `ENR-B${id.slice(-6)}`, Student: student, Class: lookup(cls.id, cls.name), Moodle_Course_ID: cls.moodleCourse,
        Start_Date: '2026-09-07', End_Date: '2027-06-25', Status: 'Active',
      });
    }
    const requestId = zohoId(9);
    zoho('BTEC_Requests', {
      id: requestId, Name: `REQ-B${requestId.slice(-6)}`, Student: student, Request_Type: 'Transcript', Subject: 'Transcript for employer',
      Description: 'Generated by the benchmark.', Status: 'Submitted', Submitted_Date: iso(-60),
    });
    for (let g = 0; g < 2; g++) {
      const cls = programClasses[g]!;
      const id = zohoId(0);
      const score = r.int(20, 95);
      const composite = `${moodleUserId}_z${g}`;
      zoho('BTEC_Grades', {
        id, Name: `GRD-B${id.slice(-6)}`, Student: student, Unit: lookup(cls.unit.id, cls.unit.name), Class: lookup(cls.id, cls.name),
        Grade: LETTER[band(score)], Score: score, Moodle_Grade_Composite_Key: composite, Attempt_Number: 1, Attempt_Date: iso(-30),
        Grader_Name: cls.teacher.name, Feedback: 'Benchmark feedback.',
        Learning_Outcomes_Assessm: ['A.P1', 'A.P2', 'A.M1', 'AB.D1'].map((code, i) => ({
          LO_Code: code, LO_Title: `Criterion ${code}`, LO_Score: score >= 40 + i * 10 ? 'Achieved' : 'Not yet', LO_Feedback: 'ok',
        })),
      });
      expected.grades.set(composite, { score, btecGrade: band(score), los: 4 });
    }
    for (let g = 2; g < 4; g++) {
      const cls = programClasses[g]!;
      const finalgrade = r.int(10, 100) / 2;
      const assignmentId = `9${tag}${pad(++assignment, 6)}`;
      moodle({
        student_id: moodleUserId, assignment_id: assignmentId, course_id: cls.moodleCourse, assignment_name: `Bench assignment ${g}`,
        finalgrade, grademax: 50, grademin: 0, attempt_number: 1, grader_id: cls.teacher.moodle, grader_name: cls.teacher.name,
        grader_role: 'teacher', feedback: 'Marked in Moodle.', timemodified: Math.floor(base / 1000) + s,
        learning_outcomes: ['B.P3', 'B.P4', 'B.M2', 'BC.D2'].map((code) => ({ code, description: `Criterion ${code}`, score: 'Achieved', feedback: 'ok', achieved: 1 })),
      });
      const score = (finalgrade / 50) * 100;
      expected.grades.set(`${moodleUserId}_${assignmentId}`, { score, btecGrade: band(score), los: 4 });
    }
  }
  expected.counts = {
    Program: programs.length,
    Unit: units.length,
    Teacher: teachers.length,
    Class: classes.length,
    Student: students,
    Registration: students,
    Payment: students * 4,
    Enrollment: students * 4,
    StudentRequest: students,
    Grade: students * 4,
  };
  expected.learningOutcomes = students * 4 * 4;

  const duplicates = Math.round(unique.length * 0.1);
  const all: WebhookEvent[] = [...unique];
  for (let d = 0; d < duplicates; d++) all.push({ ...unique[Math.floor(r.next() * unique.length)]!, duplicate: true });
  for (let i = all.length - 1; order === 'shuffled' && i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return { tag, events: all, unique: unique.length, duplicates, students, expected };
}

// ---------------------------------------------------------------------------------------
// Sending

export interface SendResult {
  sent: number;
  seconds: number;
  eventsPerSecond: number;
  statuses: Record<string, number>;
  httpStatuses: Record<string, number>;
  /** 503 (saturated) and 429 (rate limited) replies that were retried, as Zoho and Moodle do. */
  retries: number;
  /** 500 replies ("the event was not stored, retry it") that were re-sent (at most 4 times per event, backing off). */
  serverErrorRetries: number;
  p50: number;
  p99: number;
}

export interface Sender {
  post(path: string, body: string): Promise<{ status: number; json: unknown }>;
  close(): void;
}

export function createSender(baseUrl: string, secret: string, maxSockets: number): Sender {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    post: (path, body) =>
      new Promise((resolve, reject) => {
        const request = http.request(
          {
            host: url.hostname,
            port: url.port,
            path,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-signature-256': signBody(body, secret) },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (c: Buffer) => chunks.push(c));
            response.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let json: unknown = null;
              try {
                json = JSON.parse(text);
              } catch {
                json = text;
              }
              resolve({ status: response.statusCode ?? 0, json });
            });
            response.on('error', reject);
          },
        );
        request.on('error', reject);
        request.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/**
 * Posts every event with `concurrency` requests in flight (or paced at `rate` per second),
 * retrying 503s after their Retry-After. `onReply` sees every final reply.
 */
export async function sendEvents(
  sender: Sender,
  events: readonly WebhookEvent[],
  options: { concurrency: number; rate?: number; onSent?: (index: number, at: number) => void; onProgress?: (done: number) => void },
): Promise<SendResult> {
  const statuses: Record<string, number> = {};
  const httpStatuses: Record<string, number> = {};
  const latencies = new Float64Array(events.length);
  let retries = 0;
  let serverErrorRetries = 0;
  let next = 0;
  let done = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= events.length) return;
      if (options.rate) {
        const due = started + (index / options.rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const event = events[index]!;
      const t0 = performance.now();
      options.onSent?.(index, Date.now());
      let reply: { status: number; json: unknown };
      for (let attempt = 1; ; attempt++) {
        reply = await sender.post(event.path, event.body);
        if (reply.status === 503 || reply.status === 429) retries++;
        else if (reply.status >= 500 && attempt < 5) serverErrorRetries++;
        else break;
        // Back off like a webhook sender: 0.2, 0.4, 0.8, 1.6 s.
        await new Promise((r) => setTimeout(r, 200 * 2 ** Math.min(attempt - 1, 3)));
      }
      latencies[index] = performance.now() - t0;
      httpStatuses[reply.status] = (httpStatuses[reply.status] ?? 0) + 1;
      const results = (reply.json as { results?: { status: string }[] })?.results ?? [{ status: `HTTP ${reply.status}` }];
      for (const result of results) statuses[result.status] = (statuses[result.status] ?? 0) + 1;
      options.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.sort();
  return { sent: events.length, seconds, eventsPerSecond: events.length / seconds, statuses, httpStatuses, retries, serverErrorRetries, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

// ---------------------------------------------------------------------------------------
// Verification and clean-up

export interface Verification {
  exact: boolean;
  counts: Record<string, { expected: number; actual: number }>;
  parkedLeft: number;
  syncEvents: { expected: number; actual: number };
  duplicatesAnswered: { expected: number; actual: number };
  fieldChecks: number;
  mismatches: string[];
}

export async function verifyS3(pool: pg.Pool, tenantId: string, plan: S3Plan, statuses: Record<string, number>): Promise<Verification> {
  const like = `99${plan.tag}%`;
  const mismatches: string[] = [];
  const counts: Verification['counts'] = {};
  const students = await pool.query<{ id: string }>(`SELECT id FROM "Student" WHERE "tenantId" = $1 AND "zohoId" LIKE $2`, [tenantId, like]);
  const studentIds = students.rows.map((s) => s.id);
  for (const [table, expected] of Object.entries(plan.expected.counts)) {
    const sql =
      table === 'Grade'
        ? `SELECT count(*)::int AS n FROM "Grade" WHERE "tenantId" = $1 AND "studentId" = ANY($2::uuid[]) AND "deletedAt" IS NULL`
        : `SELECT count(*)::int AS n FROM "${table}" WHERE "tenantId" = $1 AND "zohoId" LIKE $2 AND "deletedAt" IS NULL`;
    const { rows } = await pool.query<{ n: number }>(sql, [tenantId, table === 'Grade' ? studentIds : like]);
    counts[table] = { expected, actual: rows[0]!.n };
    if (rows[0]!.n !== expected) mismatches.push(`${table}: ${rows[0]!.n} rows, expected ${expected}`);
  }
  const los = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "LearningOutcome" lo JOIN "Grade" g ON g.id = lo."gradeId" WHERE g."studentId" = ANY($1::uuid[])`,
    [studentIds],
  );
  counts.LearningOutcome = { expected: plan.expected.learningOutcomes, actual: los.rows[0]!.n };
  if (los.rows[0]!.n !== plan.expected.learningOutcomes) mismatches.push(`LearningOutcome: ${los.rows[0]!.n} rows, expected ${plan.expected.learningOutcomes}`);

  const keys = [`zoho:bench-${plan.tag}-%`, `moodle:bench-${plan.tag}-%`];
  const logged = await pool.query<{ n: number; parked: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'PARKED')::int AS parked FROM "SyncEvent"
      WHERE "tenantId" = $1 AND ("idempotencyKey" LIKE $2 OR "idempotencyKey" LIKE $3)`,
    [tenantId, ...keys],
  );
  const parkedRows = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "ParkedEvent" p JOIN "SyncEvent" e ON e.id = p."syncEventId"
      WHERE p."tenantId" = $1 AND (e."idempotencyKey" LIKE $2 OR e."idempotencyKey" LIKE $3)`,
    [tenantId, ...keys],
  );
  const parkedLeft = parkedRows.rows[0]!.n + logged.rows[0]!.parked;
  if (parkedLeft) mismatches.push(`${parkedLeft} events still parked`);
  const syncEvents = { expected: plan.unique, actual: logged.rows[0]!.n };
  if (syncEvents.actual !== syncEvents.expected) mismatches.push(`SyncEvent log: ${syncEvents.actual} rows, expected ${syncEvents.expected}`);
  const duplicatesAnswered = { expected: plan.duplicates, actual: statuses.DUPLICATE ?? 0 };
  if (duplicatesAnswered.actual !== duplicatesAnswered.expected) mismatches.push(`DUPLICATE replies: ${duplicatesAnswered.actual}, expected ${duplicatesAnswered.expected}`);
  for (const bad of ['REJECTED']) if (statuses[bad]) mismatches.push(`${statuses[bad]} ${bad} replies`);

  // Field values of every row of the run against what was sent (final versions).
  let fieldChecks = 0;
  const check = (what: string, actual: unknown, expected: unknown) => {
    fieldChecks++;
    if (String(actual) !== String(expected) && mismatches.length < 40) mismatches.push(`${what}: ${JSON.stringify(actual)} ≠ sent ${JSON.stringify(expected)}`);
  };
  const studentRows = await pool.query<{ zohoId: string; fullName: string; email: string; moodleUserId: string }>(
    `SELECT "zohoId", "fullName", email, "moodleUserId" FROM "Student" WHERE "tenantId" = $1 AND "zohoId" LIKE $2`,
    [tenantId, like],
  );
  for (const row of studentRows.rows) {
    const e = plan.expected.students.get(row.zohoId);
    if (!e) continue;
    check(`Student ${row.zohoId} fullName`, row.fullName, e.fullName);
    check(`Student ${row.zohoId} email`, row.email, e.email);
    check(`Student ${row.zohoId} moodleUserId`, row.moodleUserId, e.moodleUserId);
  }
  const payments = await pool.query<{ zohoId: string; amount: string; status: string; paidAt: string | null }>(
    `SELECT "zohoId", amount::text, status::text, to_char("paidAt", 'YYYY-MM-DD') AS "paidAt" FROM "Payment" WHERE "tenantId" = $1 AND "zohoId" LIKE $2`,
    [tenantId, like],
  );
  for (const row of payments.rows) {
    const e = plan.expected.payments.get(row.zohoId);
    if (!e) continue;
    check(`Payment ${row.zohoId} amount`, Number(row.amount).toFixed(2), Number(e.amount).toFixed(2));
    check(`Payment ${row.zohoId} status`, row.status, e.status);
    check(`Payment ${row.zohoId} paidAt`, row.paidAt, e.paidAt);
  }
  const registrations = await pool.query<{ zohoId: string; totalFees: string }>(
    `SELECT "zohoId", "totalFees"::text AS "totalFees" FROM "Registration" WHERE "tenantId" = $1 AND "zohoId" LIKE $2`,
    [tenantId, like],
  );
  for (const row of registrations.rows) check(`Registration ${row.zohoId} totalFees`, Number(row.totalFees).toFixed(2), Number(plan.expected.registrations.get(row.zohoId)).toFixed(2));
  const grades = await pool.query<{ compositeKey: string; score: number; btecGrade: string; los: number }>(
    `SELECT g."compositeKey", g.score, g."btecGrade"::text AS "btecGrade", (SELECT count(*)::int FROM "LearningOutcome" lo WHERE lo."gradeId" = g.id) AS los
       FROM "Grade" g WHERE g."studentId" = ANY($1::uuid[])`,
    [studentIds],
  );
  for (const row of grades.rows) {
    const e = plan.expected.grades.get(row.compositeKey);
    if (!e) {
      mismatches.push(`unexpected grade ${row.compositeKey}`);
      continue;
    }
    check(`Grade ${row.compositeKey} score`, Math.round(row.score * 100) / 100, Math.round(e.score * 100) / 100);
    check(`Grade ${row.compositeKey} btecGrade`, row.btecGrade, e.btecGrade);
    check(`Grade ${row.compositeKey} learning outcomes`, row.los, e.los);
  }
  return { exact: mismatches.length === 0, counts, parkedLeft, syncEvents, duplicatesAnswered, fieldChecks, mismatches };
}

/** Removes every row written by benchmark ingest runs (any tag), so the dataset stays the same. */
export async function cleanupIngested(pool: pg.Pool, tenantId: string): Promise<number> {
  const client = await pool.connect();
  let removed = 0;
  try {
    await client.query('BEGIN');
    const exec = async (sql: string, params: unknown[] = [tenantId]) => {
      removed += (await client.query(sql, params)).rowCount ?? 0;
    };
    await exec(`DELETE FROM "SyncEvent" WHERE "tenantId" = $1 AND ("idempotencyKey" LIKE 'zoho:bench-%' OR "idempotencyKey" LIKE 'moodle:bench-%')`);
    const students = `SELECT id FROM "Student" WHERE "tenantId" = $1 AND "zohoId" LIKE '99%'`;
    for (const table of ['Grade', 'Payment', 'Enrollment', 'StudentRequest', 'Registration']) {
      await exec(`DELETE FROM "${table}" WHERE "tenantId" = $1 AND ("zohoId" LIKE '99%' OR "studentId" IN (${students}))`);
    }
    for (const table of ['Student', 'Class', 'Unit', 'Teacher', 'Program']) {
      await exec(`DELETE FROM "${table}" WHERE "tenantId" = $1 AND "zohoId" LIKE '99%'`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  await vacuumIngestTables(pool);
  return removed;
}

/** Every table ingest writes (and cleanupIngested deletes from). */
const INGEST_TABLES = ['SyncEvent', 'ParkedEvent', 'LearningOutcome', 'Grade', 'Payment', 'Enrollment', 'StudentRequest', 'Registration', 'Student', 'Class', 'Unit', 'Teacher', 'Program'];

/**
 * VACUUM (ANALYZE) of the tables ingest churns. This machine's Postgres runs with autovacuum
 * off (/etc/postgresql/15/main/conf.d/90-ci.conf): without it, each run's updated and deleted
 * rows stay as dead tuples that every later run's index scans wade through (measured after a
 * day of runs: 659k dead SyncEvent and 329k dead ParkedEvent tuples on empty tables, write
 * statements of 150–230 ms), so later runs measured slower for no reason of their own.
 */
export async function vacuumIngestTables(pool: pg.Pool): Promise<void> {
  await pool.query(`VACUUM (ANALYZE) ${INGEST_TABLES.map((t) => `"${t}"`).join(', ')}`);
}

// ---------------------------------------------------------------------------------------
// S4's ingest: changes to existing students' dashboards

export interface DashboardTarget {
  studentZohoId: string;
  fullName: string;
  registrationZohoId: string;
}

/** `count` new payments and requests for the given students, round robin (each publishes studentUpdated). */
export function planDashboardChanges(tag: string, targets: readonly DashboardTarget[], count: number): WebhookEvent[] {
  const events: WebhookEvent[] = [];
  for (let i = 0; i < count; i++) {
    const t = targets[i % targets.length]!;
    const student = lookup(t.studentZohoId, t.fullName);
    const id = `99${tag}${i % 2 ? 9 : 8}${pad(i, 10)}`;
    const modified = new Date().toISOString();
    const data =
      i % 2
        ? { id, Name: `REQ-L${pad(i, 6)}`, Student: student, Request_Type: 'Other', Subject: 'Live update', Status: 'Submitted', Submitted_Date: modified, Modified_Time: modified }
        : { id, Name: `PAY-L${pad(i, 6)}`, Student: student, Registration: lookup(t.registrationZohoId, 'REG'), Amount: '25.00', Currency: 'GBP', Due_Date: '2027-01-01', Status: 'Pending', Modified_Time: modified };
    const body = { notification_id: `bench-${tag}-live-${i}`, module: i % 2 ? 'BTEC_Requests' : 'BTEC_Payments', operation: 'insert', record_id: id, data };
    events.push({ path: '/webhooks/zoho', body: JSON.stringify(body), duplicate: false });
  }
  return events;
}

/** The gateway's group-commit totals so far (its /metrics): committed ingest transactions, their events and seconds, and ingest work run again by reason (none when the gateway does not export it). */
export interface TransactionTotals {
  transactions: number;
  events: number;
  seconds: number;
  retries: Record<string, number>;
}

export async function ingestTransactions(baseUrl: string): Promise<TransactionTotals> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const value = (series: string) => {
    const found = new RegExp(`^${series} (\\S+)$`, 'm').exec(text);
    if (!found) throw new Error(`${baseUrl}/metrics has no ${series}`);
    return Number(found[1]);
  };
  return {
    transactions: value('campus_graph_ingest_batch_events_count'),
    events: value('campus_graph_ingest_batch_events_sum'),
    seconds: value('campus_graph_ingest_transaction_seconds_sum'),
    retries: Object.fromEntries([...text.matchAll(/^campus_graph_ingest_retries_total\{reason="([^"]+)"\} (\S+)$/gm)].map((m) => [m[1]!, Number(m[2])])),
  };
}

export function transactionsSince(before: TransactionTotals, after: TransactionTotals): TransactionTotals {
  const retries = Object.fromEntries(Object.entries(after.retries).map(([reason, n]) => [reason, n - (before.retries[reason] ?? 0)]));
  return { transactions: after.transactions - before.transactions, events: after.events - before.events, seconds: after.seconds - before.seconds, retries };
}
