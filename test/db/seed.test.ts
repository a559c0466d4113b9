import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type Db } from '../../src/db/client.js';
import { DEFAULT_STUDENT_COUNT, DEMO_STUDENT, seedCollege, type SeedSummary } from '../../src/db/seed.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
const TODAY = new Date('2026-02-13T00:00:00Z');
const OPTIONS = { tenantId: 'default', students: DEFAULT_STUDENT_COUNT, seed: 7, today: TODAY } as const;
const SETUP_TIMEOUT_MS = 180_000;

/** Tables compared row by row (as text) between two seeded databases; $1 is the tenant. */
const TENANT_TABLES = ['Program', 'Unit', 'Teacher', 'Class', 'Student', 'Registration', 'Payment', 'Enrollment', 'StudentRequest', 'Grade'];
const CHECKSUM_QUERIES: Record<string, string> = {
  ...Object.fromEntries(TENANT_TABLES.map((table) => [table, `SELECT t::text AS r FROM "${table}" t WHERE "tenantId" = $1`])),
  LearningOutcome: 'SELECT t::text AS r FROM "LearningOutcome" t JOIN "Grade" g ON g.id = t."gradeId" WHERE g."tenantId" = $1',
};

interface SeededDatabase {
  name: string;
  url: string;
  db: Db;
  summary: SeedSummary;
}

const created: string[] = [];
const clients: Db[] = [];

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function migrationScripts(): Promise<string[]> {
  const folders = (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (!folders.some((name) => name.endsWith('_init'))) throw new Error(`no prisma/migrations/*_init/migration.sql in ${MIGRATIONS_DIR}`);
  return Promise.all(folders.map((name) => readFile(`${MIGRATIONS_DIR}/${name}/migration.sql`, 'utf8')));
}

async function createMigratedDatabase(): Promise<{ name: string; url: string }> {
  const name = `cg_seed_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE "${name}"`));
  created.push(name);
  const url = databaseUrl(name);
  const scripts = await migrationScripts();
  await withClient(url, async (c) => {
    for (const sql of scripts) await c.query(sql);
  });
  return { name, url };
}

async function seededDatabase(tenants: readonly { tenantId: string; seed: number }[]): Promise<SeededDatabase> {
  const { name, url } = await createMigratedDatabase();
  const db = createPrismaClient(url);
  clients.push(db);
  let summary: SeedSummary | undefined;
  for (const tenant of tenants) {
    await db.tenant.create({ data: { id: tenant.tenantId, name: tenant.tenantId, webhookSecret: `secret-${tenant.tenantId}` } });
    const result = await seedCollege(db, { ...OPTIONS, ...tenant });
    summary ??= result;
  }
  return { name, url, db, summary: summary! };
}

/** Per table: row count and md5 over every column of every row of the tenant. */
async function tableChecksums(url: string, tenantId: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const sums: Record<string, string> = {};
    for (const [table, query] of Object.entries(CHECKSUM_QUERIES)) {
      const { rows } = await c.query<{ sum: string; n: string }>(`SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS sum, count(*) AS n FROM (${query}) rows`, [tenantId]);
      sums[table] = `${rows[0]!.n}:${rows[0]!.sum}`;
    }
    return sums;
  });
}

let first: SeededDatabase;
let second: SeededDatabase;

beforeAll(async () => {
  [first, second] = await Promise.all([
    seededDatabase([{ tenantId: 'default', seed: OPTIONS.seed }]),
    seededDatabase([
      { tenantId: 'default', seed: OPTIONS.seed },
      { tenantId: 'northfield', seed: 8 },
    ]),
  ]);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(clients.map((db) => db.$disconnect()));
  await withClient(ADMIN_URL, async (c) => {
    for (const name of created) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}, SETUP_TIMEOUT_MS);

describe('seedCollege', () => {
  it('is deterministic: the same options give identical rows, ids included', async () => {
    const checksums = await tableChecksums(first.url, 'default');
    expect(Object.values(checksums).every((sum) => !sum.startsWith('0:'))).toBe(true);
    expect(await tableChecksums(second.url, 'default')).toEqual(checksums);
    expect(second.summary).toEqual(first.summary);
  });

  it('loads a second tenant into the same database, with ids of its own', async () => {
    const counts = await second.db.student.groupBy({ by: ['tenantId'], _count: true, orderBy: { tenantId: 'asc' } });
    expect(counts.map((c) => [c.tenantId, c._count])).toEqual([
      ['default', OPTIONS.students],
      ['northfield', OPTIONS.students],
    ]);
    expect(await tableChecksums(second.url, 'northfield')).not.toEqual(await tableChecksums(second.url, 'default'));
  });

  it(`loads ${DEFAULT_STUDENT_COUNT} students with Zoho and Moodle ids by default`, async () => {
    const students = await first.db.student.findMany({ where: { tenantId: 'default' }, select: { zohoId: true, moodleUserId: true, studentNumber: true, status: true } });
    expect(students.length).toBeGreaterThanOrEqual(200);
    expect(first.summary.counts.students).toBe(students.length);
    for (const s of students) {
      expect(s.zohoId).toMatch(/^\d{19}$/);
      expect(s.moodleUserId).toMatch(/^\d{5}$/);
      expect(s.studentNumber).toBe(`STU-${s.moodleUserId!.slice(1)}`);
    }
    expect(new Set(students.map((s) => s.status))).toEqual(new Set(['ACTIVE', 'INACTIVE', 'SUSPENDED', 'GRADUATED']));
  });

  it('covers every PaymentStatus and RequestStatus among live rows', async () => {
    const where = { tenantId: 'default', deletedAt: null };
    const payments = await first.db.payment.groupBy({ by: ['status'], where, _count: true });
    const requests = await first.db.studentRequest.groupBy({ by: ['status'], where, _count: true });
    expect(payments.map((p) => p.status).sort()).toEqual(['CANCELLED', 'OVERDUE', 'PAID', 'PENDING', 'REFUNDED']);
    expect(requests.map((r) => r.status).sort()).toEqual(['APPROVED', 'COMPLETED', 'IN_REVIEW', 'REJECTED', 'SUBMITTED']);
  });

  it('has at least four programmes of 6–10 units of 15 or 30 credits', async () => {
    const programs = await first.db.program.findMany({ where: { tenantId: 'default' }, include: { units: true } });
    expect(programs.length).toBeGreaterThanOrEqual(4);
    for (const program of programs) {
      expect(program.name).toMatch(/^BTEC Level [345] /);
      expect(program.units.length).toBeGreaterThanOrEqual(6);
      expect(program.units.length).toBeLessThanOrEqual(10);
      for (const unit of program.units) {
        expect(unit.code).toMatch(/^U\d+-[A-Z]{4}$/);
        expect([15, 30]).toContain(unit.credits);
      }
    }
  });

  it('grades every assignment in its score band, with 3–5 learning outcomes', async () => {
    const grades = await first.db.grade.findMany({ where: { tenantId: 'default' }, select: { score: true, btecGrade: true, compositeKey: true, student: { select: { moodleUserId: true } }, _count: { select: { learningOutcomes: true } } } });
    expect(grades.length).toBeGreaterThan(0);
    for (const grade of grades) {
      const band = grade.score! >= 70 ? 'DISTINCTION' : grade.score! >= 60 ? 'MERIT' : grade.score! >= 40 ? 'PASS' : 'REFER';
      expect(grade.btecGrade).toBe(band);
      expect(grade.compositeKey).toMatch(new RegExp(`^${grade.student.moodleUserId}_\\d+$`));
      expect(grade._count.learningOutcomes).toBeGreaterThanOrEqual(3);
      expect(grade._count.learningOutcomes).toBeLessThanOrEqual(5);
    }
  });

  it('fills the sync columns of synced rows', async () => {
    const missing = await withClient(first.url, async (c) => {
      const { rows } = await c.query<{ n: string }>(`
        SELECT count(*) AS n FROM (
          SELECT "sourceUpdatedAt", fingerprint FROM "Student" UNION ALL SELECT "sourceUpdatedAt", fingerprint FROM "Payment"
          UNION ALL SELECT "sourceUpdatedAt", fingerprint FROM "Grade" UNION ALL SELECT "sourceUpdatedAt", fingerprint FROM "Class"
        ) t WHERE "sourceUpdatedAt" IS NULL OR fingerprint IS NULL`);
      return Number(rows[0]!.n);
    });
    expect(missing).toBe(0);
  });

  describe('the demo student', () => {
    const live = { where: { deletedAt: null } } as const;
    const load = () =>
      first.db.student.findUniqueOrThrow({
        where: { moodleUserId_tenantId: { tenantId: 'default', moodleUserId: DEMO_STUDENT.moodleUserId } },
        include: {
          registrations: { ...live, include: { program: { include: { units: true } } } },
          payments: live,
          enrollments: { ...live, include: { class: true } },
          requests: live,
          grades: { ...live, include: { learningOutcomes: true } },
        },
      });

    it('is Lina Haddad, STU-0042, active', async () => {
      const lina = await load();
      expect(lina).toMatchObject({
        id: first.summary.demoStudentId,
        studentNumber: 'STU-0042',
        fullName: 'Lina Haddad',
        email: 'lina.haddad@college.example',
        status: 'ACTIVE',
        deletedAt: null,
      });
      expect(await first.db.student.count({ where: { tenantId: 'default', fullName: 'Lina Haddad' } })).toBe(1);
    });

    it('has an active registration with fees in GBP', async () => {
      const lina = await load();
      const active = lina.registrations.find((r) => r.status === 'Active');
      expect(active).toBeDefined();
      expect(active!.currency).toBe('GBP');
      expect(Number(active!.totalFees)).toBeGreaterThan(0);
      expect(active!.totalFees!.toFixed(2)).toMatch(/^\d+\.\d{2}$/);
    });

    it('has paid, pending (past due and not yet due), overdue, refunded and cancelled payments', async () => {
      const lina = await load();
      const statuses = new Set(lina.payments.map((p) => p.status));
      expect(statuses).toEqual(new Set(['PAID', 'PENDING', 'OVERDUE', 'REFUNDED', 'CANCELLED']));
      const pending = lina.payments.filter((p) => p.status === 'PENDING');
      expect(pending.some((p) => p.dueDate! < TODAY)).toBe(true);
      expect(pending.some((p) => p.dueDate! >= TODAY)).toBe(true);
      const finance = first.summary.demoStudent.finance;
      expect(Number(finance.overdueAmount)).toBeGreaterThan(0);
      expect(finance.nextDue).not.toBeNull();
      expect(Number(finance.balance)).toBeCloseTo(Number(finance.totalFees) - Number(finance.totalPaid), 2);
    });

    it('has enrolments, requests in every status and graded units with learning outcomes', async () => {
      const lina = await load();
      expect(lina.enrollments.length).toBeGreaterThan(0);
      expect(new Set(lina.requests.map((r) => r.status))).toEqual(new Set(['SUBMITTED', 'IN_REVIEW', 'APPROVED', 'REJECTED', 'COMPLETED']));
      expect(lina.grades.length).toBeGreaterThan(0);
      expect(new Set(lina.grades.map((g) => g.btecGrade))).toEqual(new Set(['DISTINCTION', 'MERIT', 'PASS', 'REFER']));
      expect(lina.grades.some((g) => g.internalVerifierName)).toBe(true);
      for (const grade of lina.grades) {
        expect(grade.compositeKey.startsWith('00042_')).toBe(true);
        expect(grade.graderName).toBeTruthy();
        expect(grade.learningOutcomes.length).toBeGreaterThanOrEqual(3);
        for (const outcome of grade.learningOutcomes) expect(outcome.code).toMatch(/^[A-C]{1,2}\.[PMD]\d+$/);
      }
      const currentUnits = lina.registrations.find((r) => r.status === 'Active')!.program.units.length;
      expect(first.summary.demoStudent.unitsTotal).toBe(currentUnits);
      expect(first.summary.demoStudent.unitsCompleted).toBeGreaterThan(0);
    });
  });

  it('writes tombstones: payments, a request, a grade and one whole student', async () => {
    const tombstoned = { tenantId: 'default', deletedAt: { not: null } };
    expect(await first.db.payment.count({ where: tombstoned })).toBeGreaterThanOrEqual(2);
    expect(await first.db.studentRequest.count({ where: tombstoned })).toBeGreaterThanOrEqual(1);
    expect(await first.db.grade.count({ where: tombstoned })).toBeGreaterThanOrEqual(1);
    const students = await first.db.student.findMany({ where: tombstoned, select: { id: true, moodleUserId: true } });
    expect(students).toHaveLength(1);
    expect(students[0]!.id).toBe(first.summary.tombstonedStudentId);
    expect(students[0]!.moodleUserId).not.toBe(DEMO_STUDENT.moodleUserId);
    const liveRowsOfDeletedStudent = await first.db.registration.count({ where: { studentId: students[0]!.id, deletedAt: null } });
    expect(liveRowsOfDeletedStudent).toBe(0);
    const linaTombstones = await first.db.payment.count({ where: { studentId: first.summary.demoStudentId, deletedAt: { not: null } } });
    expect(linaTombstones).toBeGreaterThanOrEqual(1);
  });
});
