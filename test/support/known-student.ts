import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/client.js';

const day = 24 * 3600 * 1000;
const today = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z');
const daysFromToday = (n: number) => new Date(today.getTime() + n * day);

/** A student whose every number is known, built directly in the read model (tombstones included). */
export async function createKnownStudent(db: Db) {
  const tenantId = 'default';
  const moodleUserId = `9${Math.floor(Math.random() * 1e6)}`;
  const program = await db.program.create({ data: { tenantId, zohoId: `p-${randomUUID()}`, name: 'BTEC Known Program', code: 'KNOWN' } });
  const units = await Promise.all(
    ['U1', 'U2', 'U3', 'U4'].map((code) => db.unit.create({ data: { tenantId, programId: program.id, code, name: `Unit ${code}`, credits: 15 } })),
  );
  await db.unit.create({ data: { tenantId, programId: program.id, code: 'U9', name: 'Withdrawn unit', deletedAt: new Date() } });
  const teacher = await db.teacher.create({ data: { tenantId, fullName: 'Tom Teacher', email: 'tom@college.example' } });
  const liveClass = await db.class.create({ data: { tenantId, name: 'Known class', unitId: units[0]!.id, teacherId: teacher.id } });
  const deadClass = await db.class.create({ data: { tenantId, name: 'Deleted class', deletedAt: new Date() } });
  const student = await db.student.create({
    data: { tenantId, moodleUserId, studentNumber: `STU-K${moodleUserId}`, fullName: 'Kara Known', email: `kara.${moodleUserId}@college.example` },
  });
  const studentId = student.id;
  const active = await db.registration.create({ data: { tenantId, studentId, programId: program.id, status: 'Active', totalFees: '1000.00', currency: 'GBP', startDate: daysFromToday(-30) } });
  await db.registration.create({ data: { tenantId, studentId, programId: program.id, status: 'Completed', totalFees: '2000.00', currency: 'GBP', startDate: daysFromToday(-400) } });
  await db.registration.create({ data: { tenantId, studentId, programId: program.id, status: 'Withdrawn', totalFees: '500.00', currency: 'GBP', startDate: daysFromToday(-200) } });
  await db.registration.create({ data: { tenantId, studentId, programId: program.id, status: 'Active', totalFees: '7777.00', deletedAt: new Date() } });
  const payment = (status: string, amount: string, due: number, extra: object = {}) =>
    db.payment.create({ data: { tenantId, studentId, registrationId: active.id, status: status as never, amount, currency: 'GBP', dueDate: daysFromToday(due), ...extra } });
  await payment('PAID', '300.00', -60, { paidAt: daysFromToday(-61) });
  await payment('REFUNDED', '200.00', -50);
  await payment('CANCELLED', '100.00', -40);
  await payment('OVERDUE', '150.00', -10);
  await payment('PENDING', '50.00', -1);
  const next = await payment('PENDING', '75.00', 10);
  await payment('PENDING', '80.00', 20);
  await payment('PAID', '999.00', -5, { deletedAt: new Date() });
  await db.enrollment.create({ data: { tenantId, studentId, classId: liveClass.id, status: 'Active' } });
  await db.enrollment.create({ data: { tenantId, studentId, classId: deadClass.id, status: 'Active' } });
  await db.studentRequest.create({ data: { tenantId, studentId, type: 'Transcript', status: 'SUBMITTED', submittedAt: new Date() } });
  await db.studentRequest.create({ data: { tenantId, studentId, type: 'Other', status: 'APPROVED', deletedAt: new Date() } });
  const grade = (key: string, unitIndex: number, btecGrade: string | null, extra: object = {}) =>
    db.grade.create({ data: { tenantId, studentId, compositeKey: `${moodleUserId}_${key}`, unitId: units[unitIndex]!.id, btecGrade: btecGrade as never, score: 50, ...extra } });
  await grade('a1', 0, 'DISTINCTION');
  await grade('a2', 0, 'PASS'); // same unit twice: counts once
  await grade('a3', 1, 'MERIT');
  await grade('a4', 2, 'REFER');
  await grade('a5', 3, 'PASS', { deletedAt: new Date() });
  return { student, nextPaymentId: next.id, moodleUserId };
}
