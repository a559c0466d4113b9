/**
 * The Student subtree of the graph as SQL (and the `students` connection around it): for each
 * GraphQL type, how each of its fields reads from the read model. compile.ts assembles these into one statement that
 * returns the response JSON built by Postgres, so the hot dashboard read never materialises
 * Prisma rows or runs per-field resolvers.
 *
 * Contract: every entry here answers exactly what the Pothos resolver of the same field
 * answers (src/schema/*): the same live-row filters and orderings (schema/live.ts), the same
 * computed rules (finance totals, progress, the current program) and the same scalar
 * serialisation (DateTime `toISOString()`, Date `YYYY-MM-DD`, Decimal with two decimals).
 * test/integration/compiled-reads.test.ts compares the two for every field on every seeded
 * student and on edge-case data. A field missing here makes a query take the resolver path.
 */

/** A leaf: a SQL expression over the current row's alias that yields the field's JSON value. */
export interface LeafSql {
  kind: 'leaf';
  sql(row: string): string;
}

/**
 * An object (`one`: the first row, or null) or a list (`many`: a JSON array) of `type` rows:
 * `from` is the FROM clause over the target alias `t`, correlated with the current row `row`,
 * with its WHERE and, for lists, ORDER BY (the array keeps that order).
 */
export interface NestedSql {
  kind: 'one' | 'many';
  type: string;
  from(row: string, t: string): string;
}

/** Another GraphQL type over the same row (Pothos variants: Student → Academics, Finance). */
export interface VariantSql {
  kind: 'variant';
  type: string;
}

export type FieldSql = LeafSql | NestedSql | VariantSql;

const column = (name: string): LeafSql => ({ kind: 'leaf', sql: (row) => `${row}."${name}"` });
const dateTime = (name: string): LeafSql => ({
  kind: 'leaf',
  sql: (row) => `to_char(${row}."${name}" at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
});
const date = (name: string): LeafSql => ({ kind: 'leaf', sql: (row) => `to_char(${row}."${name}", 'YYYY-MM-DD')` });
/** numeric(12,2) as text: always two decimals, as the Decimal scalar serialises. */
const money = (name: string): LeafSql => ({ kind: 'leaf', sql: (row) => `${row}."${name}"::text` });
const computed = (sql: (row: string) => string): LeafSql => ({ kind: 'leaf', sql });
const variant = (type: string): VariantSql => ({ kind: 'variant', type });

/** A to-one relation: the target row whose `id` the current row references, or null. */
function toOne(type: string, foreignKey: string, { live }: { live: boolean }): NestedSql {
  return {
    kind: 'one',
    type,
    from: (row, t) => `"${type}" ${t} where ${t}.id = ${row}."${foreignKey}"${live ? ` and ${t}."deletedAt" is null` : ''}`,
  };
}

/**
 * A list: the target rows matching `where` (over alias t), in `orderBy` order. The ORDER BY sits
 * in the derived table json_agg reads (the columns are the response's, no sort key among them);
 * Postgres aggregates a plain ordered subquery in its order, which the parity test checks on
 * every list.
 */
function toMany(type: string, where: (row: string, t: string) => string, orderBy: (t: string) => string): NestedSql {
  return { kind: 'many', type, from: (row, t) => `"${type}" ${t} where ${where(row, t)} order by ${orderBy(t)}` };
}

/** An object chosen by a query: `where` (over alias t) selects, orders and limits the target rows. */
function chosen(type: string, where: (row: string, t: string) => string): NestedSql {
  return { kind: 'one', type, from: (row, t) => `"${type}" ${t} where ${where(row, t)}` };
}

// The live filters and orderings of schema/live.ts. "Its parent is live" is a scalar subquery by
// primary key (null — not live — when there is none), not EXISTS: the planner turned EXISTS into a
// hash semi-join over a sequential scan of every class (≈ 1 of the dashboard's ≈ 4.5 ms).
const liveParent = (table: string, alias: string, column: string) =>
  `(select ${alias}."deletedAt" is null from "${table}" ${alias} where ${alias}.id = ${column})`;
const liveRegistration = (t: string) => `${t}."deletedAt" is null and ${liveParent('Program', 'lp', `${t}."programId"`)}`;
const liveEnrollment = (t: string) => `${t}."deletedAt" is null and ${liveParent('Class', 'lc', `${t}."classId"`)}`;
const registrationOrder = (t: string) => `${t}."startDate" desc, ${t}.id`;
const paymentOrder = (t: string) => `${t}."dueDate", ${t}.id`;

/** currentRegistration(): the newest Active live registration, else the newest live one. */
const currentProgramId = (student: string) =>
  `(select cr."programId" from "Registration" cr where cr."studentId" = ${student}.id and ${liveRegistration('cr')} ` +
  `order by (cr.status = 'Active') desc, ${registrationOrder('cr')} limit 1)`;

/** Registrations whose fees are owed (finance.ts FEE_BEARING). */
const feeBearing = (t: string) => `${t}.status !~* '^(withdrawn|cancell?ed)$'`;
const todayUtc = `(now() at time zone 'UTC')::date`;
const totalFees = (student: string) =>
  `(select coalesce(sum(fr."totalFees"), 0) from "Registration" fr where fr."studentId" = ${student}.id and ${liveRegistration('fr')} and ${feeBearing('fr')})`;
const paymentSum = (student: string, which: (t: string) => string) =>
  `(select coalesce(sum(sp.amount), 0) from "Payment" sp where sp."studentId" = ${student}.id and sp."deletedAt" is null and ${which('sp')})`;
const paid = (t: string) => `${t}.status = 'PAID'`;
const overdue = (t: string) => `(${t}.status = 'OVERDUE' or (${t}.status = 'PENDING' and ${t}."dueDate" < ${todayUtc}))`;
const amount = (sql: string) => `round(${sql}, 2)::text`;

/**
 * `students(...)` pages: compiled-reads.ts runs them with the CTE `page` (the page's Student rows
 * plus the row after it, numbered `n` from 1 in order), `$2` the page size and the CTE
 * `page_args` (`after_given`: an `after` cursor was given), as @pothos/plugin-prisma's cursor
 * connection answers them.
 */
const cursorOf = (row: string) => `encode(convert_to('GPC:S:' || ${row}.id::text, 'UTF8'), 'base64')`;
const pageRows = `(select count(*) from page)`;

export const STUDENT_TREE: Record<string, Record<string, FieldSql>> = {
  StudentConnection: {
    edges: { kind: 'many', type: 'StudentEdge', from: (_row, t) => `page ${t} where ${t}.n <= $2::int order by ${t}.n` },
    pageInfo: variant('PageInfo'),
  },
  StudentEdge: {
    cursor: computed(cursorOf),
    node: variant('Student'),
  },
  PageInfo: {
    hasNextPage: computed(() => `(${pageRows} > $2::int)`),
    hasPreviousPage: computed(() => `(select after_given from page_args)`),
    startCursor: computed(() => `(select ${cursorOf('pf')} from page pf where pf.n = 1 and pf.n <= $2::int)`),
    endCursor: computed(() => `(select ${cursorOf('pl')} from page pl where pl.n = least($2::int, ${pageRows}))`),
  },
  Student: {
    id: column('id'),
    zohoId: column('zohoId'),
    moodleUserId: column('moodleUserId'),
    studentNumber: column('studentNumber'),
    fullName: column('fullName'),
    firstName: column('firstName'),
    lastName: column('lastName'),
    email: column('email'),
    phone: column('phone'),
    city: column('city'),
    country: column('country'),
    status: column('status'),
    syncedAt: dateTime('syncedAt'),
    academics: variant('Academics'),
    finance: variant('Finance'),
    classes: toMany('Enrollment', (s, t) => `${t}."studentId" = ${s}.id and ${liveEnrollment(t)}`, (t) => `${t}."startDate" desc, ${t}.id`),
    requests: toMany('StudentRequest', (s, t) => `${t}."studentId" = ${s}.id and ${t}."deletedAt" is null`, (t) => `${t}."submittedAt" desc, ${t}.id`),
    grades: toMany('Grade', (s, t) => `${t}."studentId" = ${s}.id and ${t}."deletedAt" is null`, (t) => `${t}."gradedAt" desc, ${t}.id`),
  },
  Academics: {
    registrations: toMany('Registration', (s, t) => `${t}."studentId" = ${s}.id and ${liveRegistration(t)}`, registrationOrder),
    currentProgram: chosen('Program', (s, t) => `${t}.id = ${currentProgramId(s)}`),
    unitsTotal: computed((s) => `(select count(*)::int from "Unit" tu where tu."programId" = ${currentProgramId(s)} and tu."deletedAt" is null)`),
    unitsCompleted: computed(
      (s) =>
        `(select count(distinct cg."unitId")::int from "Grade" cg join "Unit" cu on cu.id = cg."unitId" and cu."deletedAt" is null ` +
        `and cu."programId" = ${currentProgramId(s)} where cg."studentId" = ${s}.id and cg."deletedAt" is null ` +
        `and cg."btecGrade" in ('DISTINCTION', 'MERIT', 'PASS'))`,
    ),
  },
  Finance: {
    currency: computed(
      (s) =>
        `coalesce((select rc.currency from "Registration" rc where rc."studentId" = ${s}.id and ${liveRegistration('rc')} and rc.currency <> '' ` +
        `order by ${registrationOrder('rc')} limit 1), (select pc.currency from "Payment" pc where pc."studentId" = ${s}.id ` +
        `and pc."deletedAt" is null and pc.currency <> '' order by ${paymentOrder('pc')} limit 1))`,
    ),
    totalFees: computed((s) => amount(totalFees(s))),
    totalPaid: computed((s) => amount(paymentSum(s, paid))),
    balance: computed((s) => amount(`${totalFees(s)} - ${paymentSum(s, paid)}`)),
    overdueAmount: computed((s) => amount(paymentSum(s, overdue))),
    // nextDue(): the first PENDING payment not yet due, in the list's order (no due date last).
    nextDue: chosen(
      'Payment',
      (s, t) =>
        `${t}."studentId" = ${s}.id and ${t}."deletedAt" is null and ${t}.status = 'PENDING' ` +
        `and (${t}."dueDate" is null or ${t}."dueDate" >= ${todayUtc}) order by ${paymentOrder(t)} limit 1`,
    ),
    payments: toMany('Payment', (s, t) => `${t}."studentId" = ${s}.id and ${t}."deletedAt" is null`, paymentOrder),
  },
  Program: {
    id: column('id'),
    zohoId: column('zohoId'),
    name: column('name'),
    code: column('code'),
    level: column('level'),
    durationMonths: column('durationMonths'),
    units: toMany('Unit', (p, t) => `${t}."programId" = ${p}.id and ${t}."deletedAt" is null`, (t) => `${t}.code, ${t}.id`),
  },
  Unit: {
    id: column('id'),
    zohoId: column('zohoId'),
    code: column('code'),
    name: column('name'),
    credits: column('credits'),
    level: column('level'),
  },
  Registration: {
    id: column('id'),
    zohoId: column('zohoId'),
    name: column('name'),
    program: toOne('Program', 'programId', { live: false }),
    status: column('status'),
    registrationDate: date('registrationDate'),
    startDate: date('startDate'),
    endDate: date('endDate'),
    totalFees: money('totalFees'),
    currency: column('currency'),
    payments: toMany('Payment', (r, t) => `${t}."registrationId" = ${r}.id and ${t}."deletedAt" is null`, paymentOrder),
  },
  Payment: {
    id: column('id'),
    zohoId: column('zohoId'),
    name: column('name'),
    amount: money('amount'),
    currency: column('currency'),
    status: column('status'),
    dueDate: date('dueDate'),
    paidAt: date('paidAt'),
    method: column('method'),
    reference: column('reference'),
  },
  Enrollment: {
    id: column('id'),
    zohoId: column('zohoId'),
    status: column('status'),
    startDate: date('startDate'),
    endDate: date('endDate'),
    class: toOne('Class', 'classId', { live: false }),
  },
  Class: {
    id: column('id'),
    zohoId: column('zohoId'),
    name: column('name'),
    code: column('code'),
    moodleCourseId: column('moodleCourseId'),
    schedule: column('schedule'),
    startDate: date('startDate'),
    endDate: date('endDate'),
    teacher: toOne('Teacher', 'teacherId', { live: true }),
    unit: toOne('Unit', 'unitId', { live: true }),
  },
  Teacher: {
    id: column('id'),
    zohoId: column('zohoId'),
    moodleUserId: column('moodleUserId'),
    fullName: column('fullName'),
    email: column('email'),
  },
  StudentRequest: {
    id: column('id'),
    zohoId: column('zohoId'),
    name: column('name'),
    type: column('type'),
    subject: column('subject'),
    description: column('description'),
    status: column('status'),
    submittedAt: dateTime('submittedAt'),
    resolvedAt: dateTime('resolvedAt'),
    response: column('response'),
  },
  Grade: {
    id: column('id'),
    zohoId: column('zohoId'),
    compositeKey: column('compositeKey'),
    unit: toOne('Unit', 'unitId', { live: true }),
    class: toOne('Class', 'classId', { live: true }),
    assignmentName: column('assignmentName'),
    score: column('score'),
    btecGrade: column('btecGrade'),
    attemptNumber: column('attemptNumber'),
    gradedAt: dateTime('gradedAt'),
    feedback: column('feedback'),
    graderName: column('graderName'),
    internalVerifierName: column('internalVerifierName'),
    learningOutcomes: toMany('LearningOutcome', (g, t) => `${t}."gradeId" = ${g}.id`, (t) => `${t}.position, ${t}.code`),
  },
  LearningOutcome: {
    code: column('code'),
    title: column('title'),
    definition: column('definition'),
    score: column('score'),
    feedback: column('feedback'),
    achieved: column('achieved'),
  },
};
