import { builder } from '../builder.js';
import { BtecGrade } from '../generated/prisma/enums.js';
import { Unit } from './academics.js';
import { Class } from './classes.js';
import { liveOrNull } from './live.js';

export const BtecGradeEnum = builder.enumType(BtecGrade, { name: 'BtecGrade' });

export { isPassOrBetter } from '../ingest/btec.js';

export const LearningOutcome = builder.prismaObject('LearningOutcome', {
  fields: (t) => ({
    code: t.exposeString('code'),
    title: t.exposeString('title', { nullable: true }),
    definition: t.exposeString('definition', { nullable: true }),
    score: t.exposeString('score', { nullable: true }),
    feedback: t.exposeString('feedback', { nullable: true }),
    achieved: t.exposeBoolean('achieved'),
  }),
});

export const Grade = builder.prismaObject('Grade', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    compositeKey: t.exposeString('compositeKey', { nullable: true }),
    unit: t.field({
      type: Unit,
      nullable: true,
      select: (_args, _ctx, nestedSelection) => ({ unit: nestedSelection(true) }),
      resolve: (grade) => liveOrNull(grade.unit),
    }),
    class: t.field({
      type: Class,
      nullable: true,
      select: (_args, _ctx, nestedSelection) => ({ class: nestedSelection(true) }),
      resolve: (grade) => liveOrNull(grade.class),
    }),
    assignmentName: t.exposeString('assignmentName', { nullable: true }),
    score: t.exposeFloat('score', { nullable: true }),
    btecGrade: t.expose('btecGrade', { type: BtecGradeEnum, nullable: true }),
    attemptNumber: t.exposeInt('attemptNumber', { nullable: true }),
    gradedAt: t.expose('gradedAt', { type: 'DateTime', nullable: true }),
    feedback: t.exposeString('feedback', { nullable: true }),
    graderName: t.exposeString('graderName', { nullable: true }),
    internalVerifierName: t.exposeString('internalVerifierName', { nullable: true }),
    learningOutcomes: t.relation('learningOutcomes', { query: { orderBy: [{ position: 'asc' }, { code: 'asc' }] } }),
  }),
});
