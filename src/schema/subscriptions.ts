import { filter, pipe } from '@graphql-yoga/subscription';
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
import { db } from '../db/client.js';
import type { IngestStatus } from '../generated/prisma/enums.js';
import type { StudentUpdateMessage } from '../pubsub.js';
import { DASHBOARD_SECTIONS } from '../sections.js';
import { sharedRead } from './shared-reads.js';
import { Student, visibleStudents } from './student.js';
import { IngestStatusEnum, SyncEvent } from './sync.js';

builder.subscriptionType({});

export const DashboardSectionEnum = builder.enumType('DashboardSection', { values: DASHBOARD_SECTIONS });

const StudentUpdate = builder.objectRef<StudentUpdateMessage>('StudentUpdate').implement({
  description: 'A committed change to one student\'s dashboard: which sections changed, and the student as of now.',
  fields: (t) => ({
    student: t.prismaField({
      type: Student,
      description: 'Refetched with the subscriber\'s selection after the change committed.',
      resolve: (query, update, _args, ctx) => {
        const where = { AND: [visibleStudents(ctx), { id: update.studentId }] };
        return sharedRead(['student', update.studentId, update.at, where, query], () => db.student.findFirstOrThrow({ ...query, where }));
      },
    }),
    sections: t.field({ type: [DashboardSectionEnum], resolve: (update) => update.sections }),
    at: t.field({ type: 'DateTime', resolve: (update) => new Date(update.at) }),
  }),
});

function forbidden(message: string) {
  return createGraphQLError(message, { extensions: { code: 'FORBIDDEN' } });
}

/** Which student topic a viewer may follow: a student only their own, staff any of their tenant's. */
async function studentTopic(ctx: Context, id: string | null | undefined) {
  if (ctx.viewer?.role === 'student') {
    const own = await db.student.findFirst({ where: visibleStudents(ctx), select: { id: true } });
    if (!own) throw forbidden('no student record for this token');
    if (id && id !== own.id) throw forbidden('a student can only follow their own dashboard');
    return { topic: 'student' as const, key: `${ctx.tenantId}:${own.id}` };
  }
  if (!id) return { topic: 'students' as const, key: ctx.tenantId };
  const student = await db.student.findFirst({ where: { ...visibleStudents(ctx), id }, select: { id: true } }).catch(() => null);
  if (!student) throw createGraphQLError(`no student ${id} in this tenant`, { extensions: { code: 'NOT_FOUND' } });
  return { topic: 'student' as const, key: `${ctx.tenantId}:${student.id}` };
}

builder.subscriptionFields((t) => ({
  syncEvents: t.prismaField({
    type: SyncEvent,
    description: 'Every committed ingest outcome of the tenant (not UNCHANGED, DUPLICATE or REJECTED), PARKED ones with what they wait for. Admins.',
    authScopes: { admin: true },
    args: {
      modules: t.arg.stringList(),
      statuses: t.arg({ type: [IngestStatusEnum] }),
    },
    subscribe: (_root, args, ctx) =>
      pipe(
        ctx.pubsub.subscribe('sync', ctx.tenantId),
        filter(
          (message) =>
            (!args.modules?.length || args.modules.includes(message.module)) &&
            (!args.statuses?.length || args.statuses.includes(message.status as IngestStatus)),
        ),
      ),
    resolve: (query, message, _args, ctx) =>
      sharedRead(['syncEvent', ctx.tenantId, message.eventId, query], () =>
        db.syncEvent.findUniqueOrThrow({ ...query, where: { id: message.eventId, tenantId: ctx.tenantId } }),
      ),
  }),
  studentUpdated: t.field({
    type: StudentUpdate,
    description: 'Dashboard changes: a student follows their own (id optional); staff follow one student by id, or every student of the tenant without.',
    authScopes: { student: true, staff: true },
    args: { id: t.arg.id() },
    subscribe: async (_root, args, ctx) => {
      const { topic, key } = await studentTopic(ctx, args.id == null ? null : String(args.id));
      return topic === 'student' ? ctx.pubsub.subscribe('student', key) : ctx.pubsub.subscribe('students', key);
    },
    resolve: (message) => message,
  }),
}));
