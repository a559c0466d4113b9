import { builder } from '../builder.js';
import { isPassOrBetter } from './grades.js';
import { liveGrades, liveOrNull, liveRegistrations, liveUnits, registrationPayments } from './live.js';
import { Payment } from './finance.js';

export const Unit = builder.prismaObject('Unit', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    code: t.exposeString('code', { nullable: true }),
    name: t.exposeString('name'),
    credits: t.exposeInt('credits', { nullable: true }),
    level: t.exposeString('level', { nullable: true }),
  }),
});

export const Program = builder.prismaObject('Program', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    name: t.exposeString('name'),
    code: t.exposeString('code', { nullable: true }),
    level: t.exposeString('level', { nullable: true }),
    durationMonths: t.exposeInt('durationMonths', { nullable: true }),
    units: t.relation('units', { query: liveUnits }),
  }),
});

export const Registration = builder.prismaObject('Registration', {
  fields: (t) => ({
    id: t.exposeID('id'),
    zohoId: t.exposeString('zohoId', { nullable: true }),
    name: t.exposeString('name', { nullable: true }),
    program: t.relation('program'),
    status: t.exposeString('status'),
    registrationDate: t.expose('registrationDate', { type: 'Date', nullable: true }),
    startDate: t.expose('startDate', { type: 'Date', nullable: true }),
    endDate: t.expose('endDate', { type: 'Date', nullable: true }),
    totalFees: t.expose('totalFees', { type: 'Decimal', nullable: true }),
    currency: t.exposeString('currency', { nullable: true }),
    payments: t.field({
      type: [Payment],
      select: (_args, _ctx, nestedSelection) => ({ payments: nestedSelection(registrationPayments) }),
      resolve: (registration) => registration.payments,
    }),
  }),
});

interface RegistrationSummary {
  status: string;
  program: { units: { id: string }[] } | null;
}

/** The program a dashboard shows: the newest Active registration's, else the newest one's. */
export function currentRegistration<R extends { status: string }>(registrations: readonly R[]): R | undefined {
  return registrations.find((r) => r.status === 'Active') ?? registrations[0];
}

export const Academics = builder.prismaObject('Student', {
  variant: 'Academics',
  description: 'Registrations, the current program and progress through its units.',
  fields: (t) => ({
    registrations: t.relation('registrations', { query: liveRegistrations }),
    currentProgram: t.field({
      type: Program,
      nullable: true,
      select: (_args, _ctx, nestedSelection) => ({
        registrations: { ...liveRegistrations, select: { status: true, program: nestedSelection(true) } },
      }),
      resolve: (student) => liveOrNull(currentRegistration(student.registrations)?.program),
    }),
    unitsTotal: t.int({
      select: { registrations: { ...liveRegistrations, select: { status: true, program: { select: { units: liveUnits } } } } },
      resolve: (student) => currentUnitIds(student.registrations).size,
    }),
    unitsCompleted: t.int({
      description: 'Units of the current program with a PASS-or-better grade.',
      select: {
        registrations: { ...liveRegistrations, select: { status: true, program: { select: { units: liveUnits } } } },
        grades: { ...liveGrades, select: { unitId: true, btecGrade: true } },
      },
      resolve: (student) => {
        const units = currentUnitIds(student.registrations as RegistrationSummary[]);
        const passed = new Set(
          student.grades.filter((g) => g.unitId && units.has(g.unitId) && isPassOrBetter(g.btecGrade)).map((g) => g.unitId),
        );
        return passed.size;
      },
    }),
  }),
});

function currentUnitIds(registrations: readonly RegistrationSummary[]): Set<string> {
  return new Set(currentRegistration(registrations)?.program?.units.map((u) => u.id) ?? []);
}
