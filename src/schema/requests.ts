import { builder } from '../builder.js';
import { RequestStatus } from '../generated/prisma/enums.js';

export const RequestStatusEnum = builder.enumType(RequestStatus, { name: 'RequestStatus' });

export const StudentRequest = builder.prismaObject('StudentRequest', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    name: t.exposeString('name', { nullable: true }),
    type: t.exposeString('type'),
    subject: t.exposeString('subject', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    status: t.expose('status', { type: RequestStatusEnum }),
    submittedAt: t.expose('submittedAt', { type: 'DateTime', nullable: true }),
    resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true }),
    response: t.exposeString('response', { nullable: true }),
  }),
});
