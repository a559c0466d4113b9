import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.js';
import { unauthenticated, type Context } from '../context.js';
import { db } from '../db/client.js';
import { fetchStudentFromZoho, type StudentLookup } from '../zoho/index.js';
import { StudentStatus } from '../generated/prisma/enums.js';
import type { Prisma } from '../generated/prisma/client.js';
import { Academics } from './academics.js';
import { Enrollment } from './classes.js';
import { assertCursors, isUuid } from './cursors.js';
import { Finance } from './finance.js';
import { liveEnrollments, liveGrades, liveRequests } from './live.js';

export const StudentStatusEnum = builder.enumType(StudentStatus, { name: 'StudentStatus' });

export const Student = builder.prismaObject('Student', {
  description: 'A student and the six sections of their dashboard.',
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    moodleUserId: t.exposeString('moodleUserId', { nullable: true }),
    studentNumber: t.exposeString('studentNumber', { nullable: true }),
    fullName: t.exposeString('fullName'),
    firstName: t.exposeString('firstName', { nullable: true }),
    lastName: t.exposeString('lastName', { nullable: true }),
    email: t.exposeString('email', { nullable: true }),
    phone: t.exposeString('phone', { nullable: true }),
    city: t.exposeString('city', { nullable: true }),
    country: t.exposeString('country', { nullable: true }),
    status: t.expose('status', { type: StudentStatusEnum }),
    syncedAt: t.expose('syncedAt', { type: 'DateTime', nullable: true }),
    academics: t.variant(Academics),
    finance: t.variant(Finance),
    classes: t.field({
      type: [Enrollment],
      description: 'Enrolments, each with its class, teacher and unit.',
      select: (_args, _ctx, nestedSelection) => ({ enrollments: nestedSelection(liveEnrollments) }),
      resolve: (student) => student.enrollments,
    }),
    requests: t.relation('requests', { query: liveRequests }),
    grades: t.relation('grades', { query: liveGrades }),
  }),
});

/**
 * Federation: Student is an entity keyed by `id` and by `moodleUserId`. A reference resolves
 * under the same rules as `student(...)`: signed in, tenant-scoped, a student only themself.
 */
builder.asEntity(Student, {
  key: [builder.selection<{ id: string }>('id'), builder.selection<{ moodleUserId: string }>('moodleUserId')],
  resolveReference: (reference, ctx) => {
    if (!ctx.viewer) throw unauthenticated('Authentication required: send Authorization: Bearer <JWT>');
    if (ctx.viewer.role === 'integration') throw createGraphQLError('Forbidden: integration tokens cannot read students', { extensions: { code: 'FORBIDDEN' } });
    const selector =
      'id' in reference && typeof reference.id === 'string'
        ? studentSelector({ id: reference.id })
        : 'moodleUserId' in reference && typeof reference.moodleUserId === 'string'
          ? studentSelector({ moodleUserId: reference.moodleUserId })
          : null;
    // @apollo/subgraph resolves representations in a loop and may abandon this promise when a
    // later one throws: it must never reject (an Error value becomes that entity's GraphQL error).
    return selector
      ? db.student.findFirst({ where: { AND: [visibleStudents(ctx), selector] } }).catch((error: unknown) => error as never)
      : null;
  },
});

/**
 * The Zoho cold-miss fallback (src/zoho/cold-miss.ts): fetch the student and their records,
 * ingest them, answer from the read model; later views cost no Zoho call. Without Zoho
 * configured the read model's null is the answer; when Zoho cannot answer (breaker open,
 * credits used up, timeout) the answer is null with a ZOHO_UNAVAILABLE error saying why.
 */
async function studentFromZoho(ctx: Context, query: { include?: unknown; select?: unknown }, lookup: StudentLookup) {
  const result = await fetchStudentFromZoho(ctx.tenantId, lookup, { client: ctx.zoho, ingestor: ctx.ingestor, log: ctx.log }, { timeoutMs: 5_000 });
  if (result.studentId !== null) return db.student.findFirst({ ...(query as object), where: { AND: [visibleStudents(ctx), { id: result.studentId }] } });
  if (result.reason === 'not-configured' || result.reason === 'not-found' || result.reason === 'deleted') return null;
  throw createGraphQLError(`Not in the read model, and Zoho cannot answer now: ${result.message}`, {
    extensions: { code: 'ZOHO_UNAVAILABLE', reason: result.reason },
  });
}

/** What the viewer may see: their tenant's live students; a student only themself. */
export function visibleStudents(ctx: Context): Prisma.StudentWhereInput {
  const scope: Prisma.StudentWhereInput = { tenantId: ctx.tenantId, deletedAt: null };
  if (ctx.viewer?.role === 'student') scope.moodleUserId = ctx.viewer.moodleUserId ?? '\u0000';
  return scope;
}

const STUDENT_KEYS = ['id', 'moodleUserId', 'zohoId', 'studentNumber'] as const;

/**
 * The one key a `student(...)` lookup uses: exactly one must be given (BAD_USER_INPUT
 * otherwise); an id that is not a uuid matches nobody (null).
 */
export function studentKeyOf(args: Partial<Record<(typeof STUDENT_KEYS)[number], unknown>>): { key: (typeof STUDENT_KEYS)[number]; value: string } | null {
  const given = STUDENT_KEYS.filter((k) => args[k] !== null && args[k] !== undefined);
  if (given.length !== 1) {
    throw createGraphQLError('student(...) takes exactly one of id, moodleUserId, zohoId, studentNumber', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  const key = given[0]!;
  const value = String(args[key]);
  return key === 'id' && !isUuid(value) ? null : { key, value };
}

function studentSelector(args: Parameters<typeof studentKeyOf>[0]): Prisma.StudentWhereInput | null {
  const lookup = studentKeyOf(args);
  return lookup && { [lookup.key]: lookup.value };
}

/** `students(...)` page sizes (also the compiled reads' defaults). */
export const STUDENTS_PAGE = { defaultSize: 20, maxSize: 100 };

builder.queryFields((t) => ({
  me: t.prismaField({
    type: Student,
    nullable: true,
    description: 'The signed-in student (null for staff, admin and integration tokens).',
    authScopes: { authenticated: true },
    resolve: async (query, _root, _args, ctx) => {
      if (ctx.viewer?.role !== 'student' || !ctx.viewer.moodleUserId) return null;
      const row = await db.student.findFirst({ ...query, where: visibleStudents(ctx) });
      return row ?? studentFromZoho(ctx, query, { moodleUserId: ctx.viewer.moodleUserId });
    },
  }),
  student: t.prismaField({
    type: Student,
    nullable: true,
    description:
      'One student by exactly one key. Null when no such student is visible to the viewer (a student asking for another student gets null).',
    authScopes: { student: true, staff: true },
    args: {
      id: t.arg.id(),
      moodleUserId: t.arg.string(),
      zohoId: t.arg.string(),
      studentNumber: t.arg.string(),
    },
    resolve: async (query, _root, args, ctx) => {
      const selector = studentSelector(args);
      if (!selector) return null;
      const row = await db.student.findFirst({ ...query, where: { AND: [visibleStudents(ctx), selector] } });
      if (row) return row;
      // Cold miss: a student Zoho has but the read model does not (yet). Staff may look up any;
      // a student only themself (never spend Zoho credits on someone else's record).
      const lookup = args.zohoId ? { zohoId: args.zohoId } : args.moodleUserId ? { moodleUserId: args.moodleUserId } : null;
      if (!lookup || (ctx.viewer?.role === 'student' && args.moodleUserId !== ctx.viewer.moodleUserId)) return null;
      return studentFromZoho(ctx, query, lookup);
    },
  }),
  students: t.prismaConnection({
      type: Student,
      cursor: 'id',
      ...STUDENTS_PAGE,
      description: 'Students of the tenant by name, ordered by full name; search matches name, email or student number.',
      authScopes: { student: true, staff: true },
      args: {
        search: t.arg.string(),
        status: t.arg({ type: StudentStatusEnum }),
      },
      resolve: (query, _root, args, ctx) => {
        assertCursors(args);
        return db.student.findMany({
          ...query,
          where: studentSearch(ctx, args.search, args.status),
          orderBy: [{ fullName: 'asc' }, { id: 'asc' }],
        });
      },
    },
    { name: 'StudentConnection' },
    { name: 'StudentEdge' },
  ),
}));

export function studentSearch(ctx: Context, search?: string | null, status?: StudentStatus | null): Prisma.StudentWhereInput {
  const where: Prisma.StudentWhereInput = { ...visibleStudents(ctx) };
  if (status) where.status = status;
  const term = search?.trim();
  if (term) {
    where.OR = [
      { fullName: { contains: term, mode: 'insensitive' } },
      { email: { contains: term, mode: 'insensitive' } },
      { studentNumber: { contains: term, mode: 'insensitive' } },
    ];
  }
  return where;
}

builder.mutationField('refreshStudent', (t) =>
  t.prismaField({
    type: Student,
    nullable: true,
    description: 'Admin: re-fetch the student and their records from Zoho now, then answer from the read model.',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const id = String(args.id);
      const visible = isUuid(id) && (await db.student.findFirst({ where: { AND: [visibleStudents(ctx), { id }] }, select: { id: true } }));
      if (!visible) throw createGraphQLError('no such student in this tenant', { extensions: { code: 'NOT_FOUND' } });
      const result = await fetchStudentFromZoho(ctx.tenantId, { id }, { client: ctx.zoho, ingestor: ctx.ingestor, log: ctx.log }, { refresh: true });
      if (result.studentId === null) {
        const code = result.reason === 'not-found' || result.reason === 'deleted' ? 'NOT_FOUND' : 'ZOHO_UNAVAILABLE';
        throw createGraphQLError(result.message, { extensions: { code, reason: result.reason } });
      }
      return db.student.findFirst({ ...query, where: { AND: [visibleStudents(ctx), { id: result.studentId }] } });
    },
  }),
);
