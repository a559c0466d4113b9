import { builder } from '../builder.js';
import { Unit } from './academics.js';
import { liveOrNull } from './live.js';

export const Teacher = builder.prismaObject('Teacher', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    moodleUserId: t.exposeString('moodleUserId', { nullable: true }),
    fullName: t.exposeString('fullName'),
    email: t.exposeString('email', { nullable: true }),
  }),
});

export const Class = builder.prismaObject('Class', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    name: t.exposeString('name'),
    code: t.exposeString('code', { nullable: true }),
    moodleCourseId: t.exposeString('moodleCourseId', { nullable: true }),
    schedule: t.exposeString('schedule', { nullable: true }),
    startDate: t.expose('startDate', { type: 'Date', nullable: true }),
    endDate: t.expose('endDate', { type: 'Date', nullable: true }),
    teacher: t.field({
      type: Teacher,
      nullable: true,
      select: (_args, _ctx, nestedSelection) => ({ teacher: nestedSelection(true) }),
      resolve: (cls) => liveOrNull(cls.teacher),
    }),
    unit: t.field({
      type: Unit,
      nullable: true,
      select: (_args, _ctx, nestedSelection) => ({ unit: nestedSelection(true) }),
      resolve: (cls) => liveOrNull(cls.unit),
    }),
  }),
});

export const Enrollment = builder.prismaObject('Enrollment', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    status: t.exposeString('status'),
    startDate: t.expose('startDate', { type: 'Date', nullable: true }),
    endDate: t.expose('endDate', { type: 'Date', nullable: true }),
    class: t.relation('class'),
  }),
});
