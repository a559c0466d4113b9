import { beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_QUERY, STUDENTS_DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { createTestApp } from '../support/app.js';
import { recordStatements, useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID } from '../support/fixtures.js';
import { createKnownStudent } from '../support/known-student.js';

const database = useFreshDatabase();
const { graphql, token } = createTestApp();

describe('dashboard', () => {
  let admin: string;
  beforeAll(async () => {
    admin = await token('admin');
  });

  it('serves every section of the demo student in one query', async () => {
    const res = await graphql(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, admin);
    expect(res.errors).toBeUndefined();
    const s = res.data!.student;
    expect(s).toMatchObject({ moodleUserId: '00042', studentNumber: 'STU-0042', fullName: 'Lina Haddad', status: 'ACTIVE' });
    expect(s.academics.registrations.length).toBeGreaterThan(0);
    expect(s.academics.currentProgram.units.length).toBeGreaterThan(0);
    expect(s.academics.unitsTotal).toBe(s.academics.currentProgram.units.length);
    expect(s.finance.payments.length).toBeGreaterThan(0);
    expect(s.classes.length).toBeGreaterThan(0);
    expect(s.classes[0].class.name).toBeTruthy();
    expect(s.requests.length).toBeGreaterThan(0);
    expect(s.grades.length).toBeGreaterThan(0);
    expect(s.grades.some((g: any) => g.learningOutcomes.length > 0)).toBe(true);
    expect(s.finance.totalFees).toMatch(/^\d+\.\d{2}$/);
    for (const p of s.finance.payments) expect(p.dueDate === null || /^\d{4}-\d{2}-\d{2}$/.test(p.dueDate)).toBe(true);
  });

  it('computes finance exactly: refunded/cancelled count for nothing, overdue includes pending past due', async () => {
    const known = await createKnownStudent(database.db);
    const res = await graphql(DASHBOARD_QUERY, { moodleUserId: known.moodleUserId }, admin);
    expect(res.errors).toBeUndefined();
    const f = res.data!.student.finance;
    expect(f).toMatchObject({
      currency: 'GBP',
      totalFees: '3000.00', // Active 1000 + Completed 2000; Withdrawn and tombstoned excluded
      totalPaid: '300.00',
      balance: '2700.00',
      overdueAmount: '200.00', // OVERDUE 150 + PENDING past due 50
    });
    expect(f.nextDue).toMatchObject({ id: known.nextPaymentId, amount: '75.00', status: 'PENDING' });
    expect(f.payments.map((p: any) => p.amount)).toEqual(['300.00', '200.00', '100.00', '150.00', '50.00', '75.00', '80.00']);
    const a = res.data!.student.academics;
    expect(a.currentProgram.name).toBe('BTEC Known Program');
    expect(a.unitsTotal).toBe(4); // the tombstoned unit is not counted
    expect(a.unitsCompleted).toBe(2); // U1 (twice), U2; REFER and a tombstoned grade do not count
  });

  it('never shows tombstoned records', async () => {
    const known = await createKnownStudent(database.db);
    const res = await graphql(DASHBOARD_QUERY, { moodleUserId: known.moodleUserId }, admin);
    const s = res.data!.student;
    expect(s.academics.registrations).toHaveLength(3);
    expect(s.classes.map((e: any) => e.class.name)).toEqual(['Known class']);
    expect(s.requests).toHaveLength(1);
    expect(s.grades).toHaveLength(4);
    expect(s.finance.payments.find((p: any) => p.amount === '999.00')).toBeUndefined();

    await database.db.student.update({ where: { id: known.student.id }, data: { deletedAt: new Date() } });
    const gone = await graphql(DASHBOARD_QUERY, { moodleUserId: known.moodleUserId }, admin);
    expect(gone.data!.student).toBeNull();
    const search = await graphql('query($s: String) { students(search: $s) { edges { node { id } } } }', { s: 'Kara Known' }, admin);
    expect(search.data!.students.edges.map((e: any) => e.node.id)).not.toContain(known.student.id);
    const seededTombstones = await database.db.student.count({ where: { tenantId: 'default', deletedAt: { not: null } } });
    expect(seededTombstones).toBeGreaterThan(0);
  });

  it('finds a student by each of its keys', async () => {
    const row = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    for (const args of [{ id: row.id }, { moodleUserId: row.moodleUserId }, { zohoId: row.zohoId }, { studentNumber: row.studentNumber }]) {
      const [key] = Object.keys(args);
      const res = await graphql(`query($v: ${key === 'id' ? 'ID' : 'String'}) { student(${key}: $v) { id } }`, { v: Object.values(args)[0] }, admin);
      expect(res.data!.student).toEqual({ id: row.id });
    }
    const none = await graphql('{ student(id: "not-a-uuid") { id } }', {}, admin);
    expect(none.data!.student).toBeNull();
    const two = await graphql('{ student(id: "x", zohoId: "y") { id } }', {}, admin);
    expect(two.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });
});

describe('batching', () => {
  it('runs the same small number of SQL statements for one student and for fifty', async () => {
    const admin = await token('admin');
    const one = await recordStatements(database, () => graphql(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, admin));
    expect(one.result.errors).toBeUndefined();
    const fifty = await recordStatements(database, () => graphql(STUDENTS_DASHBOARD_QUERY, { first: 50 }, admin));
    expect(fifty.result.errors).toBeUndefined();
    expect(fifty.result.data!.students.edges).toHaveLength(50);
    expect(one.statements.length).toBeLessThanOrEqual(6);
    expect(fifty.statements.length).toBe(one.statements.length);
    // The counts are pinned: a change that adds a statement must update this line on purpose.
    expect({ one: one.statements.length, fifty: fifty.statements.length }).toEqual({ one: 1, fifty: 1 });
  });
});

describe('students connection', () => {
  it('pages through every student exactly once, ordered by name', async () => {
    const admin = await token('admin');
    const seen: string[] = [];
    let after: string | null = null;
    let names: string[] = [];
    for (let page = 0; page < 100; page++) {
      const res: any = await graphql(
        'query($after: String) { students(first: 40, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id fullName } } } }',
        { after },
        admin,
      );
      expect(res.errors).toBeUndefined();
      seen.push(...res.data.students.edges.map((e: any) => e.node.id));
      names.push(...res.data.students.edges.map((e: any) => e.node.fullName));
      if (!res.data.students.pageInfo.hasNextPage) break;
      after = res.data.students.pageInfo.endCursor;
    }
    const live = await database.db.student.count({ where: { tenantId: 'default', deletedAt: null } });
    expect(seen).toHaveLength(live);
    expect(new Set(seen).size).toBe(live);
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('searches by name, email and student number, and filters by status', async () => {
    const admin = await token('admin');
    const ids = async (search: string, status?: string) => {
      const res = await graphql(
        'query($s: String, $st: StudentStatus) { students(first: 100, search: $s, status: $st) { edges { node { id fullName email studentNumber status } } } }',
        { s: search, st: status },
        admin,
      );
      expect(res.errors).toBeUndefined();
      return res.data!.students.edges.map((e: any) => e.node);
    };
    expect((await ids('lina haddad')).map((s: any) => s.studentNumber)).toContain('STU-0042');
    expect((await ids('LINA.HADDAD@college')).map((s: any) => s.studentNumber)).toEqual(['STU-0042']);
    expect((await ids('STU-0042')).map((s: any) => s.fullName)).toEqual(['Lina Haddad']);
    const suspended = await ids('', 'SUSPENDED');
    expect(suspended.length).toBeGreaterThan(0);
    expect(suspended.every((s: any) => s.status === 'SUSPENDED')).toBe(true);
    expect(await ids('no-such-student-anywhere')).toEqual([]);
  });
});

describe('access', () => {
  it('lets a student read only their own record', async () => {
    const student = await token('student', { moodleUserId: DEMO_MOODLE_USER_ID });
    const me = await graphql('{ me { moodleUserId fullName } }', {}, student);
    expect(me.data!.me).toEqual({ moodleUserId: '00042', fullName: 'Lina Haddad' });
    const other = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: { not: DEMO_MOODLE_USER_ID }, deletedAt: null } });
    const res = await graphql('query($id: ID) { student(id: $id) { id fullName } }', { id: other.id }, student);
    expect(res.errors).toBeUndefined();
    expect(res.data!.student).toBeNull();
    const list = await graphql('{ students(first: 100) { edges { node { moodleUserId } } } }', {}, student);
    expect(list.data!.students.edges).toEqual([{ node: { moodleUserId: '00042' } }]);
  });

  it('keeps tenants apart', async () => {
    const northfieldStaff = await token('staff', { tenant: 'northfield' });
    const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const res = await graphql('query($id: ID) { student(id: $id) { id } }', { id: lina.id }, northfieldStaff);
    expect(res.data!.student).toBeNull();
    const list = await graphql('{ students(first: 100) { edges { node { id } } } }', {}, northfieldStaff);
    const northfieldIds = new Set(
      (await database.db.student.findMany({ where: { tenantId: 'northfield' }, select: { id: true } })).map((s) => s.id),
    );
    expect(list.data!.students.edges.length).toBeGreaterThan(0);
    for (const edge of list.data!.students.edges) expect(northfieldIds.has(edge.node.id)).toBe(true);
  });

  it('requires a valid token', async () => {
    const anonymous = await graphql('{ students(first: 1) { edges { node { id } } } }');
    expect(anonymous.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const bad = await graphql('{ me { id } }', {}, 'not.a.jwt');
    expect(bad.status).toBe(401);
    expect(bad.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const integration = await token('integration');
    const denied = await graphql('{ students(first: 1) { edges { node { id } } } }', {}, integration);
    expect(denied.errors![0]!.extensions!.code).toBe('FORBIDDEN');
  });
});
