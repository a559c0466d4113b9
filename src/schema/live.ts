import type { Prisma } from '../generated/prisma/client.js';

/**
 * Relation arguments shared by every field that loads the same relation. Pothos merges two
 * selections of one relation into a single SQL statement only when their arguments are
 * equal, so computed fields (finance totals, progress) must use exactly these objects.
 * Each one also hides tombstoned rows (deletedAt set) and rows whose required parent is one.
 */
export const liveRegistrations = {
  where: { deletedAt: null, program: { deletedAt: null } },
  orderBy: [{ startDate: 'desc' }, { id: 'asc' }],
} satisfies Prisma.Student$registrationsArgs;

export const livePayments = {
  where: { deletedAt: null },
  orderBy: [{ dueDate: 'asc' }, { id: 'asc' }],
} satisfies Prisma.Student$paymentsArgs;

export const liveEnrollments = {
  where: { deletedAt: null, class: { deletedAt: null } },
  orderBy: [{ startDate: 'desc' }, { id: 'asc' }],
} satisfies Prisma.Student$enrollmentsArgs;

export const liveRequests = {
  where: { deletedAt: null },
  orderBy: [{ submittedAt: 'desc' }, { id: 'asc' }],
} satisfies Prisma.Student$requestsArgs;

export const liveGrades = {
  where: { deletedAt: null },
  orderBy: [{ gradedAt: 'desc' }, { id: 'asc' }],
} satisfies Prisma.Student$gradesArgs;

export const liveUnits = {
  where: { deletedAt: null },
  orderBy: [{ code: 'asc' }, { id: 'asc' }],
} satisfies Prisma.Program$unitsArgs;

export const registrationPayments = livePayments satisfies Prisma.Registration$paymentsArgs;

/** A nullable to-one relation whose target is tombstoned reads as null. */
export function liveOrNull<T extends { deletedAt: Date | null }>(row: T | null | undefined): T | null {
  return row && row.deletedAt === null ? row : null;
}
