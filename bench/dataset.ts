/**
 * The benchmark dataset: the demo college of `seedCollege` (catalogue, students and their
 * records) topped up, per live student, to fixed volumes — 3 registrations, 20 payments,
 * 8 enrolments, 5 requests and 30 grades, each new grade with 4 learning outcomes — with
 * deterministic rows written as multi-row INSERTs (one JSON parameter per 5,000 rows,
 * expanded by json_populate_recordset: COPY-like, no per-row round trip).
 *
 * The database is reused when its comment records the same parameters and a finished load.
 */
import { createHash } from 'node:crypto';
import cliProgress from 'cli-progress';
import pg from 'pg';
import { createPrismaClient } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { seedCollege } from '../src/db/seed.js';
import { ensureTenant } from '../src/db/tenants.js';

/** Bump when the generated rows change: a database loaded by another version is rebuilt. */
export const DATASET_VERSION = 3;

export const TARGETS = { registrations: 3, payments: 20, enrollments: 8, requests: 5, grades: 30, learningOutcomesPerGrade: 4 } as const;

/** Dates are generated around this fixed day (not the clock), so a reload gives the same rows. */
export const DATASET_TODAY = new Date('2026-11-01T00:00:00Z');

/** Zoho ids of rows the top-up adds: `5725767008<module digit><8 digits>` (seed rows use …7000…). */
const EXTRA_ZOHO_PREFIX = '5725767008';

export interface DatasetParams {
  students: number;
  seed: number;
  tenantId: string;
}

export interface DatasetInfo {
  params: DatasetParams;
  version: number;
  reused: boolean;
  loadSeconds: number;
  /** Live rows per table of the tenant (after load). */
  counts: Record<string, number>;
}

interface Marker {
  version: number;
  params: DatasetParams;
  complete: boolean;
  counts?: Record<string, number>;
  loadSeconds?: number;
}

function markerOf(comment: string | null): Marker | null {
  if (!comment) return null;
  try {
    const value = JSON.parse(comment) as Marker;
    return typeof value === 'object' && value && typeof value.version === 'number' ? value : null;
  } catch {
    return null;
  }
}

function sameParams(a: DatasetParams, b: DatasetParams): boolean {
  return a.students === b.students && a.seed === b.seed && a.tenantId === b.tenantId;
}

export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Makes `database` on the server hold the dataset of `params`: reused if already loaded with
 * the same parameters, else dropped, recreated, migrated and loaded. Tenant `params.tenantId`
 * gets `webhookSecret`.
 */
export async function ensureDataset(
  serverUrl: string,
  database: string,
  params: DatasetParams,
  webhookSecret: string,
  log: (line: string) => void,
): Promise<DatasetInfo> {
  const admin = new pg.Client({ connectionString: databaseUrlFor(serverUrl, 'postgres') });
  await admin.connect();
  const url = databaseUrlFor(serverUrl, database);
  try {
    const found = await admin.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [database],
    );
    const marker = found.rows[0] ? markerOf(found.rows[0].comment) : null;
    if (marker && marker.complete && marker.version === DATASET_VERSION && sameParams(marker.params, params)) {
      await migrate(url);
      await withClient(url, (c) => ensureTenantSecret(c, params.tenantId, webhookSecret));
      const counts = await countRows(url, params.tenantId);
      log(`dataset: reusing ${database} (${params.students} students, seed ${params.seed}, loaded in ${marker.loadSeconds?.toFixed(1) ?? '?'} s)`);
      return { params, version: DATASET_VERSION, reused: true, loadSeconds: 0, counts };
    }
    if (found.rows.length) {
      log(`dataset: ${database} holds ${marker ? `other parameters (${JSON.stringify(marker.params)}, v${marker.version}${marker.complete ? '' : ', incomplete'})` : 'no bench dataset'}: recreating it`);
      await admin.query(`DROP DATABASE "${database}" WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE "${database}"`);
    await setMarker(admin, database, { version: DATASET_VERSION, params, complete: false });
  } finally {
    await admin.end();
  }

  const started = performance.now();
  await migrate(url);
  const db = createPrismaClient(url, { poolSize: 4 });
  const bars = new cliProgress.MultiBar(
    { format: ' {phase} [{bar}] {percentage}% | {value}/{total} rows | {duration_formatted}', hideCursor: true, clearOnComplete: false, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  try {
    await ensureTenant(db, { id: params.tenantId, webhookSecret });
    const seedBar = bars.create(1, 0, { phase: 'seedCollege  ' });
    await seedCollege(db, {
      tenantId: params.tenantId,
      students: params.students,
      seed: params.seed,
      today: DATASET_TODAY,
      onProgress: (done, total) => {
        seedBar.setTotal(total);
        seedBar.update(done);
      },
    });
    seedBar.stop();
    await db.$disconnect();

    const pool = new pg.Pool({ connectionString: url, max: 3 });
    try {
      const extra = generateTopUp(await readBase(pool, params.tenantId), params.seed);
      const total = Object.values(extra).reduce((n, rows) => n + rows.length, 0);
      const extendBar = bars.create(total, 0, { phase: 'bench top-up ' });
      let done = 0;
      const order: (keyof TopUp)[][] = [['Registration'], ['Payment', 'Enrollment', 'StudentRequest', 'Grade'], ['LearningOutcome']];
      for (const stage of order) {
        await Promise.all(
          stage.map((table) =>
            insertRows(pool, table, extra[table], (n) => {
              done += n;
              extendBar.update(done);
            }),
          ),
        );
      }
      extendBar.stop();
      bars.stop();
      log('dataset: VACUUM ANALYZE');
      await pool.query('VACUUM ANALYZE');
    } finally {
      await pool.end();
    }
  } catch (error) {
    bars.stop();
    await db.$disconnect().catch(() => {});
    throw error;
  }
  const loadSeconds = (performance.now() - started) / 1000;
  const counts = await countRows(url, params.tenantId);
  const done = new pg.Client({ connectionString: databaseUrlFor(serverUrl, 'postgres') });
  await done.connect();
  try {
    await setMarker(done, database, { version: DATASET_VERSION, params, complete: true, counts, loadSeconds });
  } finally {
    await done.end();
  }
  log(`dataset: loaded ${Object.values(counts).reduce((a, b) => a + b, 0).toLocaleString('en-GB')} rows in ${loadSeconds.toFixed(1)} s`);
  return { params, version: DATASET_VERSION, reused: false, loadSeconds, counts };
}

async function setMarker(client: pg.Client, database: string, marker: Marker) {
  const text = JSON.stringify(marker).replaceAll("'", "''");
  await client.query(`COMMENT ON DATABASE "${database}" IS '${text}'`);
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function ensureTenantSecret(client: pg.Client, tenantId: string, secret: string) {
  await client.query(
    `INSERT INTO "Tenant" ("id", "name", "webhookSecret") VALUES ($1, $1, $2)
     ON CONFLICT ("id") DO UPDATE SET "webhookSecret" = EXCLUDED."webhookSecret"`,
    [tenantId, secret],
  );
}

const COUNTED_TABLES = ['Student', 'Program', 'Unit', 'Teacher', 'Class', 'Registration', 'Payment', 'Enrollment', 'StudentRequest', 'Grade'] as const;

/** Live rows per table of the tenant, and learning outcomes of live grades. */
export async function countRows(url: string, tenantId: string): Promise<Record<string, number>> {
  return withClient(url, async (client) => {
    const parts = COUNTED_TABLES.map((t) => `(SELECT count(*)::int FROM "${t}" WHERE "tenantId" = $1 AND "deletedAt" IS NULL) AS "${t}"`);
    parts.push(`(SELECT count(*)::int FROM "LearningOutcome" lo JOIN "Grade" g ON g.id = lo."gradeId" WHERE g."tenantId" = $1 AND g."deletedAt" IS NULL) AS "LearningOutcome"`);
    const { rows } = await client.query<Record<string, number>>(`SELECT ${parts.join(', ')}`, [tenantId]);
    return rows[0]!;
  });
}

// ---------------------------------------------------------------------------------------
// The top-up

interface BaseStudent {
  id: string;
  moodleUserId: string;
  registrations: { id: string; programId: string }[];
  payments: number;
  enrollmentClassIds: Set<string>;
  requests: number;
  grades: number;
}

interface Base {
  tenantId: string;
  students: BaseStudent[];
  programs: { id: string; fees: number }[];
  classesByProgram: Map<string, { id: string; unitId: string | null; startDate: string | null }[]>;
  allClasses: { id: string; unitId: string | null; startDate: string | null }[];
}

async function readBase(pool: pg.Pool, tenantId: string): Promise<Base> {
  const students = await pool.query<{ id: string; moodleUserId: string }>(
    `SELECT id, "moodleUserId" FROM "Student" WHERE "tenantId" = $1 AND "deletedAt" IS NULL ORDER BY "moodleUserId"`,
    [tenantId],
  );
  const byId = new Map<string, BaseStudent>(
    students.rows.map((s) => [s.id, { id: s.id, moodleUserId: s.moodleUserId, registrations: [], payments: 0, enrollmentClassIds: new Set(), requests: 0, grades: 0 }]),
  );
  const regs = await pool.query<{ id: string; studentId: string; programId: string }>(
    `SELECT id, "studentId", "programId" FROM "Registration" WHERE "tenantId" = $1 AND "deletedAt" IS NULL ORDER BY id`,
    [tenantId],
  );
  for (const r of regs.rows) byId.get(r.studentId)?.registrations.push({ id: r.id, programId: r.programId });
  const counted = async (table: string, apply: (s: BaseStudent, n: number) => void) => {
    const { rows } = await pool.query<{ studentId: string; n: number }>(
      `SELECT "studentId", count(*)::int AS n FROM "${table}" WHERE "tenantId" = $1 AND "deletedAt" IS NULL GROUP BY 1`,
      [tenantId],
    );
    for (const row of rows) {
      const s = byId.get(row.studentId);
      if (s) apply(s, row.n);
    }
  };
  await counted('Payment', (s, n) => (s.payments = n));
  await counted('StudentRequest', (s, n) => (s.requests = n));
  await counted('Grade', (s, n) => (s.grades = n));
  const enrollments = await pool.query<{ studentId: string; classId: string }>(
    `SELECT "studentId", "classId" FROM "Enrollment" WHERE "tenantId" = $1`,
    [tenantId],
  );
  for (const e of enrollments.rows) byId.get(e.studentId)?.enrollmentClassIds.add(e.classId);
  const programs = await pool.query<{ id: string; fees: string | null }>(
    `SELECT p.id, max(r."totalFees")::text AS fees FROM "Program" p LEFT JOIN "Registration" r ON r."programId" = p.id
      WHERE p."tenantId" = $1 AND p."deletedAt" IS NULL GROUP BY p.id ORDER BY p.id`,
    [tenantId],
  );
  const classes = await pool.query<{ id: string; unitId: string | null; programId: string | null; startDate: string | null }>(
    `SELECT id, "unitId", "programId", to_char("startDate", 'YYYY-MM-DD') AS "startDate" FROM "Class"
      WHERE "tenantId" = $1 AND "deletedAt" IS NULL ORDER BY id`,
    [tenantId],
  );
  const classesByProgram = new Map<string, { id: string; unitId: string | null; startDate: string | null }[]>();
  for (const c of classes.rows) {
    if (!c.programId) continue;
    const list = classesByProgram.get(c.programId) ?? [];
    list.push(c);
    classesByProgram.set(c.programId, list);
  }
  return {
    tenantId,
    students: [...byId.values()],
    programs: programs.rows.map((p) => ({ id: p.id, fees: Math.round(Number(p.fees ?? '6000') * 100) || 600_000 })),
    classesByProgram,
    allClasses: classes.rows,
  };
}

type Row = Record<string, unknown>;
interface TopUp {
  Registration: Row[];
  Payment: Row[];
  Enrollment: Row[];
  StudentRequest: Row[];
  Grade: Row[];
  LearningOutcome: Row[];
}

/** sfc32 keyed by SHA-256 of the key. */
export function prng(key: string) {
  const d = createHash('sha256').update(key).digest();
  let a = d.readUInt32LE(0);
  let b = d.readUInt32LE(4);
  let c = d.readUInt32LE(8);
  let e = d.readUInt32LE(12);
  const u32 = () => {
    const t = (((a + b) | 0) + e) | 0;
    e = (e + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = () => u32() / 4294967296;
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    uuid: () => {
      const w0 = u32(), w1 = u32(), w2 = u32(), w3 = u32();
      return `${hex(w0, 8)}-${hex(w1 >>> 16, 4)}-${hex(((w1 & 0x0fff) | 0x4000) >>> 0, 4)}-${hex(((w2 >>> 16) & 0x3fff) | 0x8000, 4)}-${hex(w2 & 0xffff, 4)}${hex(w3, 8)}`;
    },
  };
}

const DAY = 86_400_000;
const day = (offsetDays: number) => new Date(DATASET_TODAY.getTime() + offsetDays * DAY).toISOString().slice(0, 10);
const instant = (offsetDays: number, r: ReturnType<typeof prng>) => new Date(DATASET_TODAY.getTime() + offsetDays * DAY + r.int(8 * 3600, 17 * 3600) * 1000).toISOString();
const cents = (n: number) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`;

const PAYMENT_STATUSES = ['PAID', 'PAID', 'PAID', 'PAID', 'PENDING', 'PENDING', 'OVERDUE', 'REFUNDED', 'CANCELLED'] as const;
const METHODS = ['Bank Transfer', 'Debit Card', 'Direct Debit', 'Credit Card', 'Cash'] as const;
const REQUEST_TYPES = ['Transcript', 'Certificate', 'Assessment Extension', 'Leave of Absence', 'Program Change', 'Fee Installment', 'Other'] as const;
const REQUEST_STATUSES = ['SUBMITTED', 'IN_REVIEW', 'APPROVED', 'REJECTED', 'COMPLETED'] as const;
const LO_CODES = ['A.P1', 'A.P2', 'A.M1', 'AB.D1'] as const;

function band(score: number): string {
  return score >= 70 ? 'DISTINCTION' : score >= 60 ? 'MERIT' : score >= 40 ? 'PASS' : 'REFER';
}

/** Rows that bring every live student up to TARGETS; pure and deterministic. */
function generateTopUp(base: Base, seed: number): TopUp {
  const out: TopUp = { Registration: [], Payment: [], Enrollment: [], StudentRequest: [], Grade: [], LearningOutcome: [] };
  const zoho = new Map<number, number>();
  const zohoId = (digit: number) => {
    const n = (zoho.get(digit) ?? 0) + 1;
    zoho.set(digit, n);
    return `${EXTRA_ZOHO_PREFIX}${digit}${String(n).padStart(8, '0')}`;
  };
  const stamp = (r: ReturnType<typeof prng>, offsetDays: number) => {
    const at = instant(offsetDays, r);
    return { sourceUpdatedAt: at, fingerprint: r.uuid().replaceAll('-', ''), syncedAt: at, deletedAt: null };
  };
  const tenantId = base.tenantId;
  for (const s of base.students) {
    const r = prng(`campus-graph:bench:${seed}:${s.moodleUserId}`);
    // Registrations: earlier programmes, completed or withdrawn.
    while (s.registrations.length < TARGETS.registrations) {
      const taken = new Set(s.registrations.map((x) => x.programId));
      const program = base.programs.find((p) => !taken.has(p.id)) ?? r.pick(base.programs);
      const start = -r.int(800, 1400);
      const id = r.uuid();
      out.Registration.push({
        id, tenantId, zohoId: zohoId(7), name: `REG-B${String(out.Registration.length + 1).padStart(6, '0')}`,
        studentId: s.id, programId: program.id, status: r.next() < 0.7 ? 'Completed' : 'Withdrawn',
        registrationDate: day(start - 30), startDate: day(start), endDate: day(start + 365), totalFees: cents(program.fees), currency: 'GBP',
        ...stamp(r, start + 10),
      });
      s.registrations.push({ id, programId: program.id });
    }
    for (let i = s.payments; i < TARGETS.payments; i++) {
      const status = r.pick(PAYMENT_STATUSES);
      const due = r.int(-700, 200);
      out.Payment.push({
        id: r.uuid(), tenantId, zohoId: zohoId(8), name: `PAY-B${String(out.Payment.length + 1).padStart(7, '0')}`,
        studentId: s.id, registrationId: r.pick(s.registrations).id, amount: cents(r.int(50, 1500) * 100), currency: 'GBP', status,
        dueDate: day(due), paidAt: status === 'PAID' || status === 'REFUNDED' ? day(due - r.int(0, 10)) : null,
        method: r.pick(METHODS), reference: status === 'PAID' ? `RCPT-B${r.int(100000, 999999)}` : null,
        ...stamp(r, Math.min(due, 0) - 1),
      });
    }
    const programClasses = s.registrations.flatMap((reg) => base.classesByProgram.get(reg.programId) ?? []);
    const candidates = [...programClasses, ...base.allClasses];
    let cursor = r.int(0, candidates.length - 1);
    const enrolled: { id: string; unitId: string | null }[] = [];
    while (s.enrollmentClassIds.size < TARGETS.enrollments && cursor < candidates.length * 3) {
      const cls = candidates[cursor++ % candidates.length]!;
      if (s.enrollmentClassIds.has(cls.id)) continue;
      s.enrollmentClassIds.add(cls.id);
      const start = r.int(-600, -10);
      out.Enrollment.push({
        id: r.uuid(), tenantId, zohoId: zohoId(6), name: `ENR-B${String(out.Enrollment.length + 1).padStart(7, '0')}`,
        studentId: s.id, classId: cls.id, status: start < -300 ? 'Completed' : 'Active', startDate: day(start), endDate: day(start + 120),
        ...stamp(r, start),
      });
      enrolled.push(cls);
    }
    for (let i = s.requests; i < TARGETS.requests; i++) {
      const status = r.pick(REQUEST_STATUSES);
      const submitted = -r.int(1, 500);
      out.StudentRequest.push({
        id: r.uuid(), tenantId, zohoId: zohoId(9), name: `REQ-B${String(out.StudentRequest.length + 1).padStart(7, '0')}`,
        studentId: s.id, type: r.pick(REQUEST_TYPES), subject: `Benchmark request ${i + 1}`, description: 'Generated for the benchmark dataset.',
        status, submittedAt: instant(submitted, r), resolvedAt: status === 'SUBMITTED' || status === 'IN_REVIEW' ? null : instant(submitted + r.int(1, 12), r),
        response: status === 'SUBMITTED' ? null : 'Handled by the programme office.',
        ...stamp(r, submitted),
      });
    }
    const gradeClasses = enrolled.length ? enrolled : programClasses.length ? programClasses : base.allClasses;
    for (let i = s.grades; i < TARGETS.grades; i++) {
      const cls = gradeClasses[i % gradeClasses.length]!;
      const score = Math.round(Math.min(100, Math.max(0, 35 + r.next() * 60)) * 10) / 10;
      const gradedAt = -r.int(5, 700);
      const id = r.uuid();
      out.Grade.push({
        id, tenantId, zohoId: zohoId(0), moodleGradeId: String(9_000_000 + out.Grade.length), compositeKey: `${s.moodleUserId}_b${i}`,
        name: `GRD-B${String(out.Grade.length + 1).padStart(7, '0')}`, studentId: s.id, unitId: cls.unitId, classId: cls.id,
        assignmentName: `Assignment ${i + 1}`, score, btecGrade: band(score), attemptNumber: 1, gradedAt: instant(gradedAt, r),
        feedback: 'Criteria assessed against the assignment brief.', graderName: 'Benchmark Grader', graderMoodleId: '100001',
        internalVerifierName: r.next() < 0.3 ? 'Benchmark Verifier' : null, gradeStatus: 'Released',
        ...stamp(r, gradedAt),
      });
      LO_CODES.forEach((code, position) => {
        const achieved = score >= 40 + position * 10;
        out.LearningOutcome.push({
          id: r.uuid(), gradeId: id, position, code, title: `Criterion ${code}`, definition: null,
          score: achieved ? 'Achieved' : 'Not yet achieved', feedback: achieved ? 'Met.' : 'Evidence missing.', achieved,
        });
      });
    }
  }
  return out;
}

const BATCH_ROWS = 5_000;

async function insertRows(pool: pg.Pool, table: string, rows: readonly Row[], onBatch: (n: number) => void) {
  const sql = `INSERT INTO "${table}" SELECT * FROM json_populate_recordset(NULL::"${table}", $1::json)`;
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const batch = rows.slice(next, next + BATCH_ROWS);
      next += BATCH_ROWS;
      await pool.query(sql, [JSON.stringify(batch)]);
      onBatch(batch.length);
    }
  };
  await Promise.all([worker(), worker()]);
}
