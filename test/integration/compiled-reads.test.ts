import { getNamedType, isObjectType, type GraphQLObjectType } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { schema } from '../../src/schema/index.js';
import { createTestApp, type GraphQLResponse } from '../support/app.js';
import { recordStatements, useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID } from '../support/fixtures.js';
import { createKnownStudent } from '../support/known-student.js';

const database = useFreshDatabase();
const { graphql, token } = createTestApp();

/** Every field of `type` and, recursively, of every object below it, from the schema itself. */
function everyField(type: GraphQLObjectType): string {
  return Object.values(type.getFields())
    .map((field) => {
      const named = getNamedType(field.type);
      return isObjectType(named) ? `${field.name} { ${everyField(named)} }` : field.name;
    })
    .join(' ');
}

const EVERY_FIELD = `query Every($m: String) { student(moodleUserId: $m) { ${everyField(schema.getType('Student') as GraphQLObjectType)} } }`;

/** The same operation with the root field under `@include(if: true)`: compiled reads decline directives, so the Pothos resolvers answer it. */
const viaResolvers = (query: string) => query.replace(/\b(students|student|me)(\([^)]*\))?\s*\{/, (_m, field: string, args = '') => `${field}${args} @include(if: true) {`);

const isCompiled = (sql: string) => sql.includes('select row_to_json(d)::text as data from');

/** Runs `query` compiled and through the resolvers; asserts one compiled statement and equal answers. */
async function compiledAndReference(query: string, variables: Record<string, unknown>, bearer: string): Promise<GraphQLResponse> {
  const compiled = await recordStatements(database, () => graphql(query, variables, bearer));
  const reference = await recordStatements(database, () => graphql(viaResolvers(query), variables, bearer));
  expect(compiled.statements.filter(isCompiled), 'the compiled statement ran').toHaveLength(1);
  expect(compiled.statements, 'one statement in all').toHaveLength(1);
  expect(reference.statements.some(isCompiled), 'the reference ran the resolvers').toBe(false);
  expect(compiled.result).toEqual(reference.result);
  return compiled.result;
}

let admin: string;
beforeAll(async () => {
  admin = await token('admin');
});

describe('compiled student reads', () => {
  it('answer every field of the Student subtree as the resolvers do, for every seeded student', async () => {
    const students = await database.db.student.findMany({ where: { tenantId: 'default', deletedAt: null, moodleUserId: { not: null } }, select: { moodleUserId: true } });
    expect(students.length).toBeGreaterThan(200);
    const seen = { grades: 0, outcomes: 0, nextDue: 0, noNextDue: 0, teachers: 0, currentPrograms: 0 };
    for (const { moodleUserId } of students) {
      const res = await compiledAndReference(EVERY_FIELD, { m: moodleUserId }, admin);
      expect(res.errors).toBeUndefined();
      const s = res.data!.student;
      seen.grades += s.grades.length;
      seen.outcomes += s.grades.reduce((n: number, g: any) => n + g.learningOutcomes.length, 0);
      if (s.finance.nextDue) seen.nextDue++;
      else seen.noNextDue++;
      seen.teachers += s.classes.filter((e: any) => e.class.teacher).length;
      if (s.academics.currentProgram) seen.currentPrograms++;
    }
    // The seed exercises every branch compared above.
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(0);
  });

  it('answer edge cases as the resolvers do: tombstones, empty sections, nulls, escapes, fractions', async () => {
    const db = database.db;
    const known = await createKnownStudent(db);
    // Tombstone the class's teacher and a grade's unit: both read as null.
    const enrolment = await db.enrollment.findFirstOrThrow({ where: { studentId: known.student.id, class: { deletedAt: null } }, include: { class: true } });
    await db.teacher.update({ where: { id: enrolment.class.teacherId! }, data: { deletedAt: new Date() } });
    const grade = await db.grade.findFirstOrThrow({ where: { studentId: known.student.id, deletedAt: null } });
    await db.unit.create({ data: { tenantId: 'default', name: 'Tombstoned unit', deletedAt: new Date() } }).then((unit) =>
      db.grade.create({
        data: {
          tenantId: 'default',
          studentId: known.student.id,
          compositeKey: `${known.moodleUserId}_edge`,
          unitId: unit.id,
          classId: enrolment.classId,
          score: 66.7,
          gradedAt: new Date('2026-03-04T05:06:07.089Z'),
          feedback: 'Quote " backslash \\ newline \n tab \t control \u0001 emoji 🎓 accent é',
          learningOutcomes: { create: [{ position: 2, code: 'LO2', achieved: true }, { position: 1, code: 'LO1', score: '0.1' }, { position: 1, code: 'LO0' }] },
        },
      }),
    );
    await db.grade.update({ where: { id: grade.id }, data: { score: 0.1 + 0.2 } });
    // Empty and missing currencies: the first non-empty one counts.
    await db.registration.updateMany({ where: { studentId: known.student.id, status: 'Active' }, data: { currency: '' } });
    const edge = await compiledAndReference(EVERY_FIELD, { m: known.moodleUserId }, admin);
    expect(edge.errors).toBeUndefined();
    const s = edge.data!.student;
    expect(s.classes[0].class.teacher).toBeNull();
    expect(s.grades.find((g: any) => g.compositeKey.endsWith('_edge'))).toMatchObject({ unit: null, score: 66.7, gradedAt: '2026-03-04T05:06:07.089Z' });

    // A student with nothing: no program, no payments, no currency, zero totals.
    const bare = await db.student.create({ data: { tenantId: 'default', moodleUserId: `8${known.moodleUserId}`, fullName: 'Bare Student' } });
    const empty = await compiledAndReference(EVERY_FIELD, { m: bare.moodleUserId }, admin);
    expect(empty.data!.student).toMatchObject({
      academics: { currentProgram: null, registrations: [], unitsTotal: 0, unitsCompleted: 0 },
      finance: { currency: null, totalFees: '0.00', totalPaid: '0.00', balance: '0.00', overdueAmount: '0.00', nextDue: null, payments: [] },
      classes: [],
      grades: [],
    });
  });

  it('honour aliases, fragments, __typename and repeated fields, and every lookup key', async () => {
    const row = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const query = `
      query Shaped($id: ID!) {
        kind: __typename
        who: student(id: $id) {
          __typename
          ...Names
          name: fullName
          grades { id }
          grades { score unit { ... on Unit { code __typename } } }
          finance { owed: balance due: nextDue { ...Money } }
          academics { ... { unitsTotal } currentProgram { units { t: __typename name } } }
        }
      }
      fragment Names on Student { firstName lastName }
      fragment Money on Payment { amount currency }
    `;
    const res = await compiledAndReference(query, { id: row.id }, admin);
    expect(Object.keys(res.data!)).toEqual(['kind', 'who']);
    expect(res.data!.who).toMatchObject({ __typename: 'Student', name: 'Lina Haddad', firstName: 'Lina' });
    expect(res.data!.who.grades[0]).toEqual(expect.objectContaining({ id: expect.any(String), score: expect.anything() }));
    for (const [key, value] of [['zohoId', row.zohoId], ['studentNumber', row.studentNumber], ['moodleUserId', row.moodleUserId]] as const) {
      await compiledAndReference(`query($v: String) { student(${key}: $v) { id fullName } }`, { v: value }, admin);
    }
    await compiledAndReference(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, await token('staff'));
  });

  it('serve a student themself, and nothing of anyone else, in their tenant only', async () => {
    const student = await token('student', { moodleUserId: DEMO_MOODLE_USER_ID });
    const me = await compiledAndReference(`{ me { ${everyField(schema.getType('Student') as GraphQLObjectType)} } }`, {}, student);
    expect(me.data!.me.moodleUserId).toBe(DEMO_MOODLE_USER_ID);
    await compiledAndReference(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, student);

    // Not visible: the compiled statement finds nothing and the resolvers give the answer (null).
    const other = await graphql(DASHBOARD_QUERY, { moodleUserId: '00043' }, student);
    expect(other).toMatchObject({ status: 200, data: { student: null } });
    expect(other.errors).toBeUndefined();
    // Another tenant's staff: their own 00042 is another student; ours is not visible by id.
    const ours = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const northfield = await token('staff', { tenant: 'northfield' });
    const theirs = await compiledAndReference(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, northfield);
    expect(theirs.data!.student.id).not.toBe(ours.id);
    const elsewhere = await graphql('query($id: ID) { student(id: $id) { id fullName } }', { id: ours.id }, northfield);
    expect(elsewhere).toMatchObject({ status: 200, data: { student: null } });
    const integration = await graphql(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID }, await token('integration'));
    expect(integration.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const anonymous = await graphql(DASHBOARD_QUERY, { moodleUserId: DEMO_MOODLE_USER_ID });
    expect(anonymous.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const wrongType = await graphql('query($v: String) { student(moodleUserId: $v) { id } }', { v: 42 }, admin);
    expect(wrongType.errors![0]!.message).toMatch(/String cannot represent a non string value/);
  });

  it('page through students as the Pothos connection does: sizes, search, status, cursors, roles', async () => {
    const page = `query Page($first: Int, $after: String, $search: String, $status: StudentStatus) {
      students(first: $first, after: $after, search: $search, status: $status) {
        __typename pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id fullName email studentNumber status finance { balance } } }
      }
    }`;
    // Every page of the tenant, 37 at a time.
    let after: string | null = null;
    let seen = 0;
    for (let i = 0; i < 20; i++) {
      const res: GraphQLResponse = await compiledAndReference(page, { first: 37, after }, admin);
      seen += res.data!.students.edges.length;
      if (!res.data!.students.pageInfo.hasNextPage) break;
      after = res.data!.students.pageInfo.endCursor;
    }
    const live = await database.db.student.count({ where: { tenantId: 'default', deletedAt: null } });
    expect(seen).toBe(live);

    const first = await compiledAndReference(page, {}, admin);
    expect(first.data!.students.edges).toHaveLength(20);
    expect((await compiledAndReference(page, { first: 500 }, admin)).data!.students.edges).toHaveLength(100);
    expect((await compiledAndReference(page, { first: 0 }, admin)).data!.students).toMatchObject({ edges: [], pageInfo: { hasNextPage: true, startCursor: null, endCursor: null } });
    const middle = first.data!.students.edges[7].cursor;
    for (const variables of [
      { search: '  HADDAD ' },
      { search: 'college.example', status: 'ACTIVE', first: 15 },
      { status: 'SUSPENDED' },
      { search: 'no-such-student-anywhere' },
      { after: middle, first: 5 },
      { after: middle, search: 'a' }, // a cursor outside the filtered set: its position counts
    ]) {
      await compiledAndReference(page, variables, admin);
    }
    const student = await token('student', { moodleUserId: DEMO_MOODLE_USER_ID });
    const own = await compiledAndReference(page, {}, student);
    expect(own.data!.students.edges.map((e: any) => e.node.studentNumber)).toEqual(['STU-0042']);
    await compiledAndReference(page, { first: 5 }, await token('staff', { tenant: 'northfield' }));
  });

  it('leave backward pages, wildcard searches and bad arguments to the resolvers, with their answers and errors', async () => {
    const page = 'query($first: Int, $last: Int, $before: String, $search: String) { students(first: $first, last: $last, before: $before, search: $search) { edges { node { id } } } }';
    const cursor = Buffer.from(`GPC:S:${(await database.db.student.findFirstOrThrow({ where: { tenantId: 'default' } })).id}`).toString('base64');
    for (const variables of [{ last: 3 }, { before: cursor }, { search: 'a_b' }, { search: '100%' }, { first: -1 }]) {
      const { result, statements } = await recordStatements(database, () => graphql(page, variables, admin));
      expect(statements.some(isCompiled), JSON.stringify(variables)).toBe(false);
      expect(result).toEqual(await graphql(viaResolvers(page), variables, admin));
    }
    const forged = Buffer.from('GPC:S:not-a-uuid').toString('base64');
    const bad = await graphql(`{ students(after: "${forged}") { edges { cursor } } }`, {}, admin);
    expect(bad.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    const garbage = await graphql('{ students(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }', {}, admin);
    expect(garbage.errors![0]!.message).toMatch(/Invalid cursor/);
  });
});
