/**
 * Ingestion end to end: GraphQL ingest mutations (integration token) → Postgres read model →
 * the dashboard (DASHBOARD_QUERY, admin token) and the admin reads (syncEvents, syncStats,
 * replayParkedEvents). Payloads follow /work/shared/FORMATS.md, ✱ variants included.
 *
 * Every id here is fresh: Zoho ids start 93988300 (seeded ones 5725767000), Moodle user ids
 * are 8 characters starting 007 (seeded students 00001…, teachers 100001…), Moodle courses
 * 880000+ (seeded 2001…).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_QUERY, STUDENT_DASHBOARD_FIELDS } from '../../src/dashboard-query.js';
import { createTestApp } from '../support/app.js';
import { useFreshDatabase } from '../support/database.js';

const database = useFreshDatabase();
const { graphql, token } = createTestApp();

// ---------------------------------------------------------------------------------------
// Ids and times

let sequence = 0;
const next = () => ++sequence;
/** A fresh 19-digit Zoho record id. */
const zid = () => `93988300${String(next()).padStart(11, '0')}`;
/** A fresh Moodle user id with leading zeros ("00700012"). */
const mid = () => `007${String(next()).padStart(5, '0')}`;
/** A fresh Moodle course id. */
const courseId = () => String(880_000 + next());
const notificationId = () => `wf-${next().toString(36)}-${Date.now().toString(36)}`;
const eventId = () => `evt-${next()}-${Date.now().toString(36)}`;

/** Zoho Modified_Time: 2026-02-13T10:00:00+03:00 plus `minutes`, written with its +03:00 offset. */
function zt(minutes: number): string {
  const local = new Date(Date.UTC(2026, 1, 13, 10, 0, 0) + minutes * 60_000);
  return `${local.toISOString().slice(0, 19)}+03:00`;
}
const ztInstant = (minutes: number) => new Date(Date.UTC(2026, 1, 13, 7, 0, 0) + minutes * 60_000);
/** Moodle unix seconds: 2026-02-13T07:00:00Z plus `minutes`. */
const mt = (minutes: number) => Date.UTC(2026, 1, 13, 7, 0, 0) / 1000 + minutes * 60;

const DAY = 24 * 3600 * 1000;
const today = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
const dateFromToday = (days: number) => new Date(today.getTime() + days * DAY).toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------
// GraphQL

interface Result {
  eventId: string | null;
  status: string;
  entityType: string | null;
  entityId: string | null;
  message: string | null;
}

const RESULT_FIELDS = 'eventId status entityType entityId message';
const INGEST_ZOHO = `mutation($input: ZohoEventInput!) { ingestZohoEvent(input: $input) { ${RESULT_FIELDS} } }`;
const INGEST_RECORDS = `mutation($module: String!, $records: [JSON!]!) { ingestZohoRecords(module: $module, records: $records) { results { ${RESULT_FIELDS} } } }`;
const INGEST_MOODLE = `mutation($input: MoodleEventInput!) { ingestMoodleEvent(input: $input) { ${RESULT_FIELDS} } }`;
const REPLAY = 'mutation { replayParkedEvents }';
const SYNC_EVENTS = `query($first: Int, $status: IngestStatus, $source: SyncSource, $module: String) {
  syncEvents(first: $first, status: $status, source: $source, module: $module) {
    edges { node { id source module operation recordId status entityType entityId studentId message waitingFor receivedAt processedAt } }
  }
}`;
const SYNC_STATS = '{ syncStats { byStatus { status count } parkedBacklog awaitingFetch oldestParkedAgeSeconds oldestParkedAt lastEventAt } }';
const DASHBOARD_BY_ZOHO_ID = `query($zohoId: String) { student(zohoId: $zohoId) {${STUDENT_DASHBOARD_FIELDS}} }`;

let integration: string;
let admin: string;
beforeAll(async () => {
  integration = await token('integration');
  admin = await token('admin');
});

function noErrors(res: { errors?: unknown[] }) {
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
}

interface ZohoOptions {
  notificationId?: string;
  recordId?: string;
  timestamp?: string;
  as?: string;
}

/** ingestZohoEvent; returns the result and the input (to send the same event again). */
async function zohoEvent(module: string, operation: string, data: Record<string, unknown> | null, options: ZohoOptions = {}) {
  const input = {
    notificationId: options.notificationId ?? notificationId(),
    module,
    operation,
    recordId: options.recordId ?? String(data?.id),
    ...(options.timestamp ? { timestamp: options.timestamp } : {}),
    data,
  };
  const res = await graphql<{ ingestZohoEvent: Result }>(INGEST_ZOHO, { input }, options.as ?? integration);
  noErrors(res);
  return { result: res.data!.ingestZohoEvent, input };
}

async function zoho(module: string, operation: string, data: Record<string, unknown> | null, options: ZohoOptions = {}): Promise<Result> {
  return (await zohoEvent(module, operation, data, options)).result;
}

async function zohoRecords(module: string, records: unknown[], as = integration): Promise<Result[]> {
  const res = await graphql<{ ingestZohoRecords: { results: Result[] } }>(INGEST_RECORDS, { module, records }, as);
  noErrors(res);
  return res.data!.ingestZohoRecords.results;
}

async function moodle(event: string, data: Record<string, unknown>, options: { eventId?: string | null; as?: string } = {}): Promise<Result> {
  const id = options.eventId === undefined ? eventId() : options.eventId;
  const input = { event, data, ...(id === null ? {} : { eventId: id }) };
  const res = await graphql<{ ingestMoodleEvent: Result }>(INGEST_MOODLE, { input }, options.as ?? integration);
  noErrors(res);
  return res.data!.ingestMoodleEvent;
}

async function dashboard(moodleUserId: string, as?: string): Promise<any> {
  const res = await graphql(DASHBOARD_QUERY, { moodleUserId }, as ?? admin);
  noErrors(res);
  return res.data!.student;
}

async function dashboardByZohoId(zohoId: string, as?: string): Promise<any> {
  const res = await graphql(DASHBOARD_BY_ZOHO_ID, { zohoId }, as ?? admin);
  noErrors(res);
  return res.data!.student;
}

async function syncEvents(filter: { status?: string; source?: string; module?: string } = {}, as?: string): Promise<any[]> {
  const res = await graphql(SYNC_EVENTS, { first: 500, ...filter }, as ?? admin);
  noErrors(res);
  return res.data!.syncEvents.edges.map((e: any) => e.node);
}

async function syncEvent(id: string): Promise<any> {
  const found = (await syncEvents()).find((e) => e.id === id);
  expect(found, `sync event ${id}`).toBeDefined();
  return found;
}

async function syncStats(as?: string): Promise<any> {
  const res = await graphql(SYNC_STATS, {}, as ?? admin);
  noErrors(res);
  return res.data!.syncStats;
}

const countsOf = (stats: any): Record<string, number> => Object.fromEntries(stats.byStatus.map((s: any) => [s.status, s.count]));
const at = (iso: string | null) => (iso === null ? null : new Date(iso).getTime());

// ---------------------------------------------------------------------------------------
// Realistic payloads

function zohoStudent(id: string, moodleUserId: string | null, overrides: Record<string, unknown> = {}) {
  return {
    id,
    Name: `STU-${id.slice(-5)}`,
    Full_Name: 'Rania Khoury',
    First_Name: 'Rania',
    Last_Name: 'Khoury',
    Academic_Email: `rania.${id.slice(-5)}@college.example`,
    Phone_Number: '+962790001234',
    City: 'Amman',
    Country: 'Jordan',
    Status: 'Active',
    ...(moodleUserId === null ? {} : { Student_Moodle_ID: moodleUserId }),
    Created_Time: zt(0),
    Modified_Time: zt(0),
    ...overrides,
  };
}

function moodleUser(userid: string, overrides: Record<string, unknown> = {}) {
  return {
    userid,
    username: `u${userid}`,
    email: `u${userid}@moodle.college.example`,
    firstname: 'Sami',
    lastname: 'Nasser',
    phone1: '0790000000',
    city: 'Zarqa',
    country: 'JO',
    role: 'student',
    suspended: 0,
    deleted: 0,
    timecreated: mt(0),
    timemodified: mt(0),
    ...overrides,
  };
}

/** A program, a unit and a class (with its Moodle course) created through Zoho. */
async function zohoCatalogue(options: { teacherId?: string } = {}) {
  const programId = zid();
  const unitId = zid();
  const classId = zid();
  const course = courseId();
  expect(await zoho('BTEC_Programs', 'insert', { id: programId, Name: `BTEC Level 3 Diploma in IT ${programId.slice(-4)}`, Program_Code: `IT-${programId.slice(-4)}`, Level: 'Level 3', Modified_Time: zt(0) })).toMatchObject({ status: 'CREATED' });
  expect(await zoho('BTEC_Units', 'insert', { id: unitId, Name: 'Programming', Unit_Code: `U${unitId.slice(-4)}`, Credits: 15, Program: { name: 'IT', id: programId }, Modified_Time: zt(0) })).toMatchObject({ status: 'CREATED' });
  const cls = await zoho('BTEC_Classes', 'insert', {
    id: classId,
    Name: `Programming group ${classId.slice(-4)}`,
    Class_Code: `PRG-${classId.slice(-4)}`,
    Moodle_Class_ID: course,
    Unit: { name: 'Programming', id: unitId },
    Program: { name: 'IT', id: programId },
    Teacher: options.teacherId ? { name: 'Teacher', id: options.teacherId } : null,
    Modified_Time: zt(0),
  });
  expect(cls).toMatchObject({ status: 'CREATED', entityType: 'Class' });
  return { programId, unitId, classId, course, classEntityId: cls.entityId! };
}

// =======================================================================================

describe('Zoho: every module reaches the dashboard', () => {
  it('builds a whole student from the ten modules, with space-form names, string numbers and every lookup form', async () => {
    const ids = {
      program: zid(), unit1: zid(), unit2: zid(), teacher: zid(), class: zid(), student: zid(), registration: zid(),
      paid: zid(), overdue: zid(), pending: zid(), enrollment: zid(), request: zid(), grade: zid(),
    };
    const moodleUserId = mid();
    const teacherMoodleId = mid();
    const course = courseId();
    const student = { name: 'Yara Mansour', id: ids.student };

    expect(await zoho('BTEC_Programs', 'INSERT', {
      id: ids.program, Name: 'BTEC Level 3 National Extended Diploma in Esports', 'Program Code': 'ESP-L3', Level: 'Level 3',
      Duration_Months: '24', Status: 'Active', Created_Time: zt(0), Modified_Time: zt(0),
    })).toMatchObject({ status: 'CREATED', entityType: 'Program' });

    const units = await zohoRecords('BTEC_Units', [
      { id: ids.unit1, Name: 'Esports Skills, Strategy and Analysis', Unit_Code: 'ESP-U1', Credits: '15', Level: 'Level 3', Program: { name: 'Esports', id: ids.program }, Modified_Time: zt(1) },
      { id: ids.unit2, Name: 'Health, Wellbeing and Fitness for Esports', 'Unit Code': 'ESP-U2', Credits: 10, Level: 'Level 3', Program: ids.program, 'Modified Time': zt(1) },
    ]);
    expect(units.map((r) => [r.status, r.entityType])).toEqual([['CREATED', 'Unit'], ['CREATED', 'Unit']]);

    expect(await zoho('BTEC_Teachers', 'create', {
      id: ids.teacher, Name: 'TCH-9001', Full_Name: 'Omar Khalil', Email: 'omar.khalil@college.example', Teacher_Moodle_ID: teacherMoodleId, Status: 'Active', Modified_Time: zt(2),
    })).toMatchObject({ status: 'CREATED', entityType: 'Teacher' });

    expect(await zoho('BTEC_Classes', 'Insert', {
      id: ids.class, Name: 'ESP-U1 Group A', Class_Code: 'ESP-U1-A', Moodle_Class_ID: course,
      Unit: { name: 'Esports Skills', id: ids.unit1 }, Program: ids.program, Teacher: { name: 'Omar Khalil', id: ids.teacher },
      Start_Date: '2026-01-12', End_Date: '2026-06-26', Schedule: 'Mon 09:00-12:00, Lab E2', Status: 'Active', Modified_Time: zt(3),
    })).toMatchObject({ status: 'CREATED', entityType: 'Class' });

    expect(await zoho('BTEC_Students', 'insert', {
      id: ids.student, Name: 'STU-9001', 'Full Name': 'Yara Mansour', 'First Name': 'Yara', 'Last Name': 'Mansour',
      'Academic Email': 'yara.mansour@college.example', 'Phone Number': '+962790009001', City: 'Irbid', Country: 'Jordan',
      Status: 'Active', 'Student Moodle ID': moodleUserId, 'Created Time': zt(4), 'Modified Time': zt(4),
    })).toMatchObject({ status: 'CREATED', entityType: 'Student' });

    expect(await zoho('BTEC_Registrations', 'Create', {
      id: ids.registration, Name: 'REG-900001', Student: student, Program: ids.program, Registration_Date: '2025-12-20',
      Start_Date: '2026-01-12', End_Date: '2027-06-30', Status: 'Active', Total_Fees: '1500.00', Currency: 'GBP', Modified_Time: zt(5),
    })).toMatchObject({ status: 'CREATED', entityType: 'Registration' });

    const payments = await zohoRecords('BTEC_Payments', [
      { id: ids.paid, Name: 'PAY-900001', Student: student, Registration: { name: 'REG-900001', id: ids.registration }, Amount: '500', Currency: 'GBP',
        Due_Date: '2026-01-15', Payment_Date: '2026-01-14', Status: 'Paid', Payment_Method: 'Bank Transfer', Receipt_Number: 'RCP-900001', Modified_Time: zt(6) },
      { id: ids.overdue, Name: 'PAY-900002', Student: ids.student, Registration: ids.registration, Amount: 100, Currency: 'GBP',
        Due_Date: dateFromToday(-10), Payment_Date: null, Status: 'Overdue', Modified_Time: zt(6) },
      { id: ids.pending, Name: 'PAY-900003', 'Student': student, Registration: null, Amount: '250.5', Currency: 'GBP',
        'Due Date': dateFromToday(30), Status: 'Pending', 'Payment Method': 'Card', Modified_Time: zt(6) },
    ]);
    expect(payments.map((r) => [r.status, r.entityType])).toEqual([['CREATED', 'Payment'], ['CREATED', 'Payment'], ['CREATED', 'Payment']]);

    expect(await zoho('BTEC_Enrollments', 'edit', {
      id: ids.enrollment, Name: 'ENR-900001', Student: ids.student, Class: { name: 'ESP-U1 Group A', id: ids.class }, Moodle_Course_ID: course,
      Start_Date: '2026-01-12', End_Date: '2026-06-26', Status: 'Active', Modified_Time: zt(7),
    })).toMatchObject({ status: 'CREATED', entityType: 'Enrollment' });

    expect(await zoho('BTEC_Requests', 'UPDATE', {
      id: ids.request, Name: 'REQ-900001', Student: student, Request_Type: 'Assessment Extension', Subject: 'Extension for ESP-U1 assignment 2',
      Description: 'Medical certificate attached.', Status: 'In Review', Submitted_Date: '2026-02-10T09:15:00+03:00', Resolved_Date: null, Response: null, Modified_Time: zt(8),
    })).toMatchObject({ status: 'CREATED', entityType: 'StudentRequest' });

    expect(await zoho('BTEC_Grades', 'insert', {
      id: ids.grade, Name: 'GRD-900001', Student: student, Unit: ids.unit1, Class: { name: 'ESP-U1 Group A', id: ids.class },
      Grade: 'M', Score: '65', Moodle_Grade_ID: '990001', Moodle_Grade_Composite_Key: `${moodleUserId}_55001`, Attempt_Number: '1',
      Attempt_Date: '2026-02-12T14:00:00+03:00', Grader_Name: 'Omar Khalil', Grader_Moodle_ID: teacherMoodleId, IV_Name: 'Huda Saleh', IV_Moodle_ID: '00719999',
      Feedback: 'Solid analysis of team strategy.', Grade_Status: 'Verified', Modified_Time: zt(9),
      Learning_Outcomes_Assessm: [
        { LO_Code: 'A.P1', LO_Title: 'Explain the skills of esports play', LO_Definition: 'Pass criterion', LO_Score: 'P', LO_Feedback: 'Clear.' },
        { 'LO Code': 'A.M1', 'LO Title': 'Analyse team strategy', 'LO Score': 'M', 'LO Feedback': 'Good depth.' },
        { LO_Code: 'AB.D1', LO_Title: 'Evaluate performance', LO_Score: 'Not yet', LO_Feedback: 'Evaluate against the brief.' },
      ],
    })).toMatchObject({ status: 'CREATED', entityType: 'Grade' });

    const s = await dashboard(moodleUserId);
    expect(s).toMatchObject({
      zohoId: ids.student, moodleUserId, studentNumber: 'STU-9001', fullName: 'Yara Mansour', firstName: 'Yara', lastName: 'Mansour',
      email: 'yara.mansour@college.example', phone: '+962790009001', city: 'Irbid', country: 'Jordan', status: 'ACTIVE',
    });
    // academics
    expect(s.academics.currentProgram).toMatchObject({ name: 'BTEC Level 3 National Extended Diploma in Esports', code: 'ESP-L3', level: 'Level 3' });
    expect(s.academics.currentProgram.units.map((u: any) => [u.code, u.name, u.credits])).toEqual([
      ['ESP-U1', 'Esports Skills, Strategy and Analysis', 15],
      ['ESP-U2', 'Health, Wellbeing and Fitness for Esports', 10],
    ]);
    expect(s.academics).toMatchObject({ unitsTotal: 2, unitsCompleted: 1 });
    expect(s.academics.registrations).toHaveLength(1);
    const registration = s.academics.registrations[0];
    expect(registration).toMatchObject({
      zohoId: ids.registration, status: 'Active', registrationDate: '2025-12-20', startDate: '2026-01-12', endDate: '2027-06-30', totalFees: '1500.00', currency: 'GBP',
    });
    expect(registration.payments.map((p: any) => p.zohoId).sort()).toEqual([ids.paid, ids.overdue].sort());
    // finance
    expect(s.finance).toMatchObject({ currency: 'GBP', totalFees: '1500.00', totalPaid: '500.00', balance: '1000.00', overdueAmount: '100.00' });
    expect(s.finance.nextDue).toMatchObject({ amount: '250.50', status: 'PENDING', dueDate: dateFromToday(30) });
    const byZoho = new Map(s.finance.payments.map((p: any) => [p.zohoId, p]));
    expect(byZoho.get(ids.paid)).toMatchObject({ amount: '500.00', status: 'PAID', dueDate: '2026-01-15', paidAt: '2026-01-14', method: 'Bank Transfer', reference: 'RCP-900001' });
    expect(byZoho.get(ids.overdue)).toMatchObject({ amount: '100.00', status: 'OVERDUE', paidAt: null });
    expect(byZoho.get(ids.pending)).toMatchObject({ amount: '250.50', status: 'PENDING', method: 'Card' });
    // classes
    expect(s.classes).toEqual([
      expect.objectContaining({
        status: 'Active', startDate: '2026-01-12', endDate: '2026-06-26',
        class: expect.objectContaining({
          name: 'ESP-U1 Group A', code: 'ESP-U1-A', moodleCourseId: course, schedule: 'Mon 09:00-12:00, Lab E2',
          teacher: expect.objectContaining({ fullName: 'Omar Khalil', email: 'omar.khalil@college.example' }),
          unit: expect.objectContaining({ code: 'ESP-U1', credits: 15 }),
        }),
      }),
    ]);
    // requests
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]).toMatchObject({ type: 'Assessment Extension', subject: 'Extension for ESP-U1 assignment 2', status: 'IN_REVIEW', resolvedAt: null, response: null });
    expect(at(s.requests[0].submittedAt)).toBe(Date.parse('2026-02-10T06:15:00Z'));
    // grades
    expect(s.grades).toHaveLength(1);
    const grade = s.grades[0];
    expect(grade).toMatchObject({
      compositeKey: `${moodleUserId}_55001`, score: 65, btecGrade: 'MERIT', attemptNumber: 1, feedback: 'Solid analysis of team strategy.',
      graderName: 'Omar Khalil', internalVerifierName: 'Huda Saleh', unit: { code: 'ESP-U1' }, class: { name: 'ESP-U1 Group A', code: 'ESP-U1-A' },
    });
    expect(at(grade.gradedAt)).toBe(Date.parse('2026-02-12T11:00:00Z'));
    expect(grade.learningOutcomes).toEqual([
      { code: 'A.P1', title: 'Explain the skills of esports play', score: 'P', feedback: 'Clear.', achieved: true },
      { code: 'A.M1', title: 'Analyse team strategy', score: 'M', feedback: 'Good depth.', achieved: true },
      { code: 'AB.D1', title: 'Evaluate performance', score: 'Not yet', feedback: 'Evaluate against the brief.', achieved: false },
    ]);

    // Columns the dashboard does not show, straight from the read model.
    const db = database.db;
    expect(await db.program.findFirstOrThrow({ where: { tenantId: 'default', zohoId: ids.program } })).toMatchObject({ durationMonths: 24, status: 'Active' });
    expect(await db.teacher.findFirstOrThrow({ where: { tenantId: 'default', zohoId: ids.teacher } })).toMatchObject({ name: 'TCH-9001', moodleUserId: teacherMoodleId, status: 'Active' });
    expect(await db.grade.findFirstOrThrow({ where: { tenantId: 'default', zohoId: ids.grade } })).toMatchObject({
      name: 'GRD-900001', moodleGradeId: '990001', graderMoodleId: teacherMoodleId, internalVerifierMoodleId: '00719999', gradeStatus: 'Verified',
    });
    expect(await db.studentRequest.findFirstOrThrow({ where: { tenantId: 'default', zohoId: ids.request } })).toMatchObject({ name: 'REQ-900001', description: 'Medical certificate attached.' });
    expect(await db.enrollment.findFirstOrThrow({ where: { tenantId: 'default', zohoId: ids.enrollment } })).toMatchObject({ name: 'ENR-900001' });
  });

  it('keeps 19-digit ids exact, resolves bare-id and cleared lookups, and rejects a 19-digit id sent as a number', async () => {
    const teacherId = zid();
    expect(await zoho('BTEC_Teachers', 'insert', { id: teacherId, Name: 'TCH-9002', Full_Name: 'Nadia Aziz', Email: 'nadia.aziz@college.example', Modified_Time: zt(0) })).toMatchObject({ status: 'CREATED' });
    const { classId, course } = await zohoCatalogue({ teacherId });
    const studentId = zid();
    const moodleUserId = mid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId));
    // Enrolment whose Class lookup is empty: the class is found by its Moodle course id.
    const enrollmentId = zid();
    expect(await zoho('BTEC_Enrollments', 'insert', {
      id: enrollmentId, Name: 'ENR-900002', Student: studentId, Class: null, Moodle_Course_ID: Number(course), Status: 'Active', Modified_Time: zt(1),
    })).toMatchObject({ status: 'CREATED', entityType: 'Enrollment' });

    let s = await dashboardByZohoId(studentId);
    expect(s.zohoId).toBe(studentId);
    expect(s.zohoId).toHaveLength(19);
    expect(s.classes).toHaveLength(1);
    expect(s.classes[0].class).toMatchObject({ moodleCourseId: course, teacher: { fullName: 'Nadia Aziz' } });

    // A null lookup clears a reference that may be cleared (the class's teacher).
    expect(await zoho('BTEC_Classes', 'update', { id: classId, Name: 'Programming group', Teacher: null, Modified_Time: zt(5) })).toMatchObject({ status: 'UPDATED' });
    s = await dashboardByZohoId(studentId);
    expect(s.classes[0].class.teacher).toBeNull();
    // …but not one that cannot (an enrolment's student).
    const cleared = await zoho('BTEC_Enrollments', 'update', { id: enrollmentId, Student: null, Status: 'Active', Modified_Time: zt(6) });
    expect(cleared.status).toBe('REJECTED');
    expect(cleared.message).toContain('BTEC_Enrollments.Student');

    // JSON cannot carry 9398831999999999123 as a number without losing digits.
    const lossy = await zoho('BTEC_Students', 'insert', { ...zohoStudent(zid(), mid()), id: Number('9398831999999999123') }, { recordId: '9398831999999999123' });
    expect(lossy.status).toBe('REJECTED');
    expect(lossy.message).toContain('BTEC_Students.id');
    expect(lossy.message).toContain('as a string');
    expect(await database.db.student.count({ where: { zohoId: { startsWith: '9398831' } } })).toBe(0);
  });

  it('takes a bulk backfill: one result per record, a bad record never blocks the others, a resend is DUPLICATE', async () => {
    const programId = zid();
    await zoho('BTEC_Programs', 'insert', { id: programId, Name: 'BTEC Level 2 Diploma in Business', Program_Code: 'BUS-L2', Modified_Time: zt(0) });
    const records = [
      { id: zid(), Name: 'Exploring Business', Unit_Code: 'BUS-1', Credits: '10', Program: programId, Modified_Time: zt(1) },
      { id: zid(), Name: 'Finance for Business', Unit_Code: 'BUS-2', Credits: 'ten', Program: programId, Modified_Time: zt(1) },
      { id: zid(), Name: 'Marketing', 'Unit Code': 'BUS-3', Credits: 10, Program: { name: 'Business', id: programId }, Modified_Time: zt(1) },
    ];
    const first = await zohoRecords('BTEC_Units', records);
    expect(first.map((r) => r.status)).toEqual(['CREATED', 'REJECTED', 'CREATED']);
    expect(first[1]!.message).toContain('BTEC_Units.Credits');
    const again = await zohoRecords('BTEC_Units', records);
    expect(again.map((r) => r.status)).toEqual(['DUPLICATE', 'REJECTED', 'DUPLICATE']);
    expect(again[0]!.eventId).toBe(first[0]!.eventId);
    const units = await database.db.unit.findMany({ where: { tenantId: 'default', zohoId: { in: records.map((r) => r.id) } } });
    expect(units.map((u) => u.code).sort()).toEqual(['BUS-1', 'BUS-3']);
  });
});

// =======================================================================================

describe('ingest statuses', () => {
  it('CREATED, DUPLICATE, UNCHANGED (no write), UPDATED, STALE, DELETED (tombstone), and no resurrection by a late older insert', async () => {
    const studentId = zid();
    const moodleUserId = mid();
    const created = await zohoEvent('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId, { Modified_Time: zt(10) }));
    expect(created.result).toMatchObject({ status: 'CREATED', entityType: 'Student' });
    const entityId = created.result.entityId!;
    const db = database.db;
    const row = await db.student.findUniqueOrThrow({ where: { id: entityId } });

    // The same notification again: DUPLICATE, the original event answered.
    const duplicate = await graphql<{ ingestZohoEvent: Result }>(INGEST_ZOHO, { input: created.input }, integration);
    noErrors(duplicate);
    expect(duplicate.data!.ingestZohoEvent).toMatchObject({ status: 'DUPLICATE', eventId: created.result.eventId, entityId });

    // The same record under a new notification id: UNCHANGED, nothing written.
    const unchanged = await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { Modified_Time: zt(10) }));
    expect(unchanged).toMatchObject({ status: 'UNCHANGED', entityId });
    expect(unchanged.eventId).not.toBe(created.result.eventId);
    expect(await db.student.findUniqueOrThrow({ where: { id: entityId } })).toEqual(row);
    expect(at((await dashboard(moodleUserId)).syncedAt)).toBe(row.syncedAt.getTime());

    // Newer content: UPDATED.
    const updated = await zoho('BTEC_Students', 'Edit', zohoStudent(studentId, moodleUserId, { City: 'Aqaba', Modified_Time: zt(20) }));
    expect(updated).toMatchObject({ status: 'UPDATED', entityId });
    expect(await dashboard(moodleUserId)).toMatchObject({ city: 'Aqaba' });

    // Older content: STALE, ignored.
    const stale = await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { City: 'Madaba', Modified_Time: zt(15) }));
    expect(stale).toMatchObject({ status: 'STALE', entityId });
    expect(await dashboard(moodleUserId)).toMatchObject({ city: 'Aqaba' });

    // Delete: a tombstone, hidden from the dashboard, the row kept.
    const deleted = await zoho('BTEC_Students', 'DELETE', null, { recordId: studentId, timestamp: zt(30) });
    expect(deleted).toMatchObject({ status: 'DELETED', entityType: 'Student', entityId });
    expect(await dashboard(moodleUserId)).toBeNull();
    expect(await dashboardByZohoId(studentId)).toBeNull();
    const tombstone = await db.student.findUniqueOrThrow({ where: { id: entityId } });
    expect(tombstone.deletedAt?.getTime()).toBe(ztInstant(30).getTime());
    expect(tombstone).toMatchObject({ zohoId: studentId, city: 'Aqaba' });

    // A late insert older than the delete does not bring it back.
    const late = await zoho('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId, { City: 'Jerash', Modified_Time: zt(25) }));
    expect(late).toMatchObject({ status: 'STALE', entityId });
    expect(late.message).toMatch(/deleted/);
    expect(await dashboard(moodleUserId)).toBeNull();
    expect(await db.student.findUniqueOrThrow({ where: { id: entityId } })).toMatchObject({ city: 'Aqaba', deletedAt: tombstone.deletedAt });
    expect(await db.student.count({ where: { tenantId: 'default', OR: [{ zohoId: studentId }, { moodleUserId }] } })).toBe(1);
  });

  it('applies Moodle events idempotently: same event id → DUPLICATE, same content under a new id → UNCHANGED, older → STALE', async () => {
    const userid = mid();
    const first = await moodle('user_created', moodleUser(userid, { timemodified: mt(10) }), { eventId: `evt-user-${userid}` });
    expect(first).toMatchObject({ status: 'CREATED', entityType: 'Student' });
    expect(await moodle('user_created', moodleUser(userid, { timemodified: mt(10) }), { eventId: `evt-user-${userid}` })).toMatchObject({ status: 'DUPLICATE', eventId: first.eventId });
    // Without an event id the payload hash is the key.
    const hashed = moodleUser(userid, { timemodified: mt(10), city: 'Salt' });
    const noId = await moodle('user_updated', hashed, { eventId: null });
    expect(noId).toMatchObject({ status: 'UPDATED', entityId: first.entityId });
    expect(await moodle('user_updated', hashed, { eventId: null })).toMatchObject({ status: 'DUPLICATE', eventId: noId.eventId });
    expect(await moodle('user_updated', hashed)).toMatchObject({ status: 'UNCHANGED', entityId: first.entityId });
    expect(await moodle('user_updated', moodleUser(userid, { timemodified: mt(5), city: 'Karak' }))).toMatchObject({ status: 'STALE' });
    expect(await dashboard(userid)).toMatchObject({ moodleUserId: userid, fullName: 'Sami Nasser', city: 'Salt', email: `u${userid}@moodle.college.example` });
    expect(await moodle('user_updated', moodleUser(userid, { timemodified: mt(15), city: 'Salt', suspended: 1 }))).toMatchObject({ status: 'UPDATED', entityId: first.entityId });
    expect(await dashboard(userid)).toMatchObject({ status: 'SUSPENDED' });
    // A Moodle user deleted (deleted: 1) is a tombstone too.
    expect(await moodle('user_updated', moodleUser(userid, { timemodified: mt(20), deleted: 1 }))).toMatchObject({ status: 'DELETED', entityId: first.entityId });
    expect(await dashboard(userid)).toBeNull();
  });

  it('the stale guard remembers the newest Modified_Time even when that version was UNCHANGED', async () => {
    // Zoho: Active at t10, Suspended at t20, Active again at t30; delivered t10, t30, t20.
    const studentId = zid();
    const moodleUserId = mid();
    expect((await zoho('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId, { Status: 'Active', Modified_Time: zt(10) }))).status).toBe('CREATED');
    expect((await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { Status: 'Active', Modified_Time: zt(30) }))).status).toBe('UNCHANGED');
    const late = await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { Status: 'Suspended', Modified_Time: zt(20) }));
    expect(late.status).toBe('STALE');
    expect(await dashboard(moodleUserId)).toMatchObject({ status: 'ACTIVE' });
  });

  it('a Moodle profile update does not bring back a student Zoho deleted', async () => {
    const studentId = zid();
    const moodleUserId = mid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId, { Modified_Time: zt(0) }));
    expect((await zoho('BTEC_Students', 'delete', null, { recordId: studentId, timestamp: zt(30) })).status).toBe('DELETED');
    // Later, the student changes their Moodle profile (Moodle still has the account).
    await moodle('user_updated', moodleUser(moodleUserId, { city: 'Petra', timemodified: mt(90) }));
    expect(await dashboard(moodleUserId)).toBeNull();
    expect((await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', zohoId: studentId } })).deletedAt).not.toBeNull();
  });

  it('REJECTED: names the module and the field, and stores nothing', async () => {
    const studentId = zid();
    const moodleUserId = mid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId));
    const before = await database.db.syncEvent.count({ where: { tenantId: 'default' } });

    const paymentId = zid();
    const payment = await zoho('BTEC_Payments', 'insert', { id: paymentId, Name: 'PAY-900009', Student: studentId, Amount: 'twelve hundred', Status: 'Pending', Modified_Time: zt(1) });
    expect(payment.status).toBe('REJECTED');
    expect(payment.message).toContain('BTEC_Payments.Amount');

    const request = await zoho('BTEC_Requests', 'insert', { id: zid(), Student: studentId, Request_Type: 'Transcript', Status: 'Pending approval', Modified_Time: zt(1) });
    expect(request.status).toBe('REJECTED');
    expect(request.message).toContain('BTEC_Requests.Status');

    const grade = await zoho('BTEC_Grades', 'insert', { id: zid(), Student: studentId, Grade: 'Excellent', Modified_Time: zt(1) });
    expect(grade.status).toBe('REJECTED');
    expect(grade.message).toContain('BTEC_Grades.Grade');

    const unknownModule = await zoho('BTEC_Invoices', 'insert', { id: zid(), Name: 'INV-1' });
    expect(unknownModule.status).toBe('REJECTED');
    expect(unknownModule.message).toContain('BTEC_Invoices');

    const badOperation = await zoho('BTEC_Students', 'merge', zohoStudent(zid(), mid()));
    expect(badOperation.status).toBe('REJECTED');
    expect(badOperation.message).toContain('operation');

    const unknownEvent = await moodle('course_viewed', { userid: moodleUserId, courseid: 7 });
    expect(unknownEvent.status).toBe('REJECTED');
    expect(unknownEvent.message).toContain('course_viewed');

    const noRange = await moodle('user_graded', { grade_id: 1, userid: moodleUserId, itemid: 9, finalgrade: 5, grademax: 10, grademin: 10, timemodified: mt(1) });
    expect(noRange.status).toBe('REJECTED');
    expect(noRange.message).toContain('user_graded');
    expect(noRange.message).toContain('grademax');

    const noUser = await moodle('user_enrolment_created', { enrollment_id: 5, courseid: 7, status: 0, timestart: mt(0) });
    expect(noUser.status).toBe('REJECTED');
    expect(noUser.message).toContain('user_enrolment_created.userid');

    expect(await database.db.payment.count({ where: { zohoId: paymentId } })).toBe(0);
    expect(await database.db.syncEvent.count({ where: { tenantId: 'default' } })).toBe(before);
  });

  it('REJECTED, not an opaque error, for a record the read model cannot store (a new student without any name)', async () => {
    const studentId = zid();
    const res = await graphql<{ ingestZohoEvent: Result }>(INGEST_ZOHO, {
      input: { notificationId: notificationId(), module: 'BTEC_Students', operation: 'insert', recordId: studentId, data: { id: studentId, Name: 'STU-NONAME', Status: 'Active', Modified_Time: zt(0) } },
    }, integration);
    noErrors(res);
    expect(res.data!.ingestZohoEvent.status).toBe('REJECTED');
    expect(res.data!.ingestZohoEvent.message).toContain('BTEC_Students');
    expect(await database.db.student.count({ where: { zohoId: studentId } })).toBe(0);
  });
});

// =======================================================================================

describe('out of order: PARKED and released', () => {
  it('concurrent deliveries: one CREATED and the rest DUPLICATE; a grade racing its student is never stranded', async () => {
    const studentId = zid();
    const userid = mid();
    const input = { notificationId: notificationId(), module: 'BTEC_Students', operation: 'insert', recordId: studentId, data: zohoStudent(studentId, userid) };
    const replies = await Promise.all(Array.from({ length: 6 }, () => graphql<{ ingestZohoEvent: Result }>(INGEST_ZOHO, { input }, integration)));
    replies.forEach(noErrors);
    expect(replies.map((r) => r.data!.ingestZohoEvent.status).sort()).toEqual(['CREATED', 'DUPLICATE', 'DUPLICATE', 'DUPLICATE', 'DUPLICATE', 'DUPLICATE']);
    expect(new Set(replies.map((r) => r.data!.ingestZohoEvent.eventId)).size).toBe(1);

    for (let round = 0; round < 4; round++) {
      const racer = mid();
      const racerZohoId = zid();
      const [grade, fromMoodle, fromZoho] = await Promise.all([
        moodle('user_graded', { grade_id: 79500 + round, userid: racer, itemid: 69500, finalgrade: 7, grademax: 10, grademin: 0, timemodified: mt(1) }),
        moodle('user_created', moodleUser(racer)),
        zoho('BTEC_Students', 'insert', zohoStudent(racerZohoId, racer, { Full_Name: 'Racing Student' })),
      ]);
      expect(grade.status === 'CREATED' || grade.status === 'PARKED').toBe(true);
      expect([fromMoodle.status, fromZoho.status]).toContain('CREATED');
      expect(fromMoodle.entityId).toBe(fromZoho.entityId);
      expect(await database.db.student.count({ where: { tenantId: 'default', OR: [{ moodleUserId: racer }, { zohoId: racerZohoId }] } })).toBe(1);
      expect(await syncEvent(grade.eventId!)).toMatchObject({ status: 'CREATED', waitingFor: null });
      expect((await dashboard(racer)).grades).toEqual([expect.objectContaining({ compositeKey: `${racer}_69500`, btecGrade: 'DISTINCTION' })]);
    }
  });

  it('parks a grade that arrives before its student and applies it when the student arrives', async () => {
    const userid = mid();
    const { course } = await zohoCatalogue();
    const graded = await moodle('submission_graded', {
      student_id: userid, assignment_id: '61001', course_id: course, assignment_name: 'Assignment 1: Data structures', finalgrade: 31, grademax: 40, grademin: 0,
      attempt_number: 1, grader_id: '00719001', grader_name: 'Omar Khalil', grader_role: 'teacher', feedback: 'Good.', timemodified: mt(5),
      learning_outcomes: [{ code: 'A.P1', description: 'Describe data structures', score: 'P', feedback: 'ok', achieved: 1 }],
    });
    expect(graded).toMatchObject({ status: 'PARKED', entityType: 'Grade', entityId: null });
    expect(graded.message).toContain(`Student with moodleUserId ${userid}`);
    const parked = (await syncEvents({ status: 'PARKED' })).find((e) => e.id === graded.eventId);
    expect(parked).toMatchObject({ status: 'PARKED', source: 'MOODLE', module: 'submission_graded', waitingFor: `Student:moodleUserId:${userid}` });
    expect(await dashboard(userid)).toBeNull();

    const student = await moodle('user_created', moodleUser(userid, { timemodified: mt(1) }));
    expect(student).toMatchObject({ status: 'CREATED', entityType: 'Student' });
    const s = await dashboard(userid);
    expect(s.grades).toHaveLength(1);
    expect(s.grades[0]).toMatchObject({ compositeKey: `${userid}_61001`, score: 77.5, btecGrade: 'DISTINCTION', assignmentName: 'Assignment 1: Data structures' });
    const applied = await syncEvent(graded.eventId!);
    expect(applied).toMatchObject({ status: 'CREATED', entityType: 'Grade', entityId: s.grades[0].id, studentId: s.id, waitingFor: null });
    expect(applied.message).toContain('applied after');
  });

  it('parks a Zoho grade before its Zoho student, and a resend of the parked event is DUPLICATE', async () => {
    const studentId = zid();
    const gradeId = zid();
    const event = await zohoEvent('BTEC_Grades', 'insert', { id: gradeId, Name: 'GRD-900100', Student: { name: 'Late Student', id: studentId }, Grade: 'Pass', Score: 45, Modified_Time: zt(3) });
    expect(event.result).toMatchObject({ status: 'PARKED', entityType: 'Grade' });
    const resend = await graphql<{ ingestZohoEvent: Result }>(INGEST_ZOHO, { input: event.input }, integration);
    expect(resend.data!.ingestZohoEvent).toMatchObject({ status: 'DUPLICATE', eventId: event.result.eventId });
    expect((await syncEvent(event.result.eventId!)).waitingFor).toBe(`Student:zohoId:${studentId}`);
    expect(await zoho('BTEC_Students', 'insert', zohoStudent(studentId, null))).toMatchObject({ status: 'CREATED' });
    const s = await dashboardByZohoId(studentId);
    expect(s.grades).toEqual([expect.objectContaining({ compositeKey: `zoho_${gradeId}`, btecGrade: 'PASS', score: 45 })]);
  });

  it('releases a chain grade → class → unit in the one transaction that stores the unit', async () => {
    const userid = mid();
    await moodle('user_created', moodleUser(userid));
    const programId = zid();
    await zoho('BTEC_Programs', 'insert', { id: programId, Name: 'BTEC Level 3 Diploma in Engineering', Program_Code: 'ENG-L3', Modified_Time: zt(0) });
    const unitId = zid();
    const classId = zid();
    const course = courseId();

    const grade = await moodle('user_graded', { grade_id: 77001, userid, itemid: 61002, item_name: 'Mechanical principles test', courseid: Number(course), finalgrade: 52, grademax: 80, grademin: 0, timemodified: mt(9) });
    expect(grade.status).toBe('PARKED');
    const cls = await zoho('BTEC_Classes', 'insert', {
      id: classId, Name: 'Mechanical Principles A', Class_Code: 'ENG-MP-A', Moodle_Class_ID: course, Unit: { name: 'Mechanical Principles', id: unitId }, Program: programId, Modified_Time: zt(1),
    });
    expect(cls.status).toBe('PARKED');
    expect((await syncEvent(grade.eventId!)).waitingFor).toBe(`Class:moodleCourseId:${course}`);
    expect((await syncEvent(cls.eventId!)).waitingFor).toBe(`Unit:zohoId:${unitId}`);
    const backlog = (await syncStats()).parkedBacklog;

    const unit = await zoho('BTEC_Units', 'insert', { id: unitId, Name: 'Mechanical Principles', Unit_Code: 'ENG-U4', Credits: 15, Program: programId, Modified_Time: zt(2) });
    expect(unit).toMatchObject({ status: 'CREATED', entityType: 'Unit' });

    expect(await syncEvent(cls.eventId!)).toMatchObject({ status: 'CREATED', entityType: 'Class', waitingFor: null });
    expect(await syncEvent(grade.eventId!)).toMatchObject({ status: 'CREATED', entityType: 'Grade', waitingFor: null });
    expect((await syncStats()).parkedBacklog).toBe(backlog - 2);
    const s = await dashboard(userid);
    expect(s.grades).toEqual([
      expect.objectContaining({ compositeKey: `${userid}_61002`, score: 65, btecGrade: 'MERIT', class: expect.objectContaining({ name: 'Mechanical Principles A' }), unit: expect.objectContaining({ code: 'ENG-U4' }) }),
    ]);
  });

  it('parks a delete that arrives before its insert, and applies it right after the insert', async () => {
    const studentId = zid();
    const moodleUserId = mid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId));
    const requestId = zid();
    const deletion = await zoho('BTEC_Requests', 'delete', null, { recordId: requestId, timestamp: zt(20) });
    expect(deletion).toMatchObject({ status: 'PARKED', entityType: 'StudentRequest' });
    expect((await syncEvent(deletion.eventId!)).waitingFor).toBe(`StudentRequest:zohoId:${requestId}`);

    const insert = await zoho('BTEC_Requests', 'insert', {
      id: requestId, Name: 'REQ-900200', Student: studentId, Request_Type: 'Transcript', Subject: 'Transcript for university application', Status: 'Submitted', Submitted_Date: '2026-02-13', Modified_Time: zt(10),
    });
    expect(insert).toMatchObject({ status: 'CREATED', entityType: 'StudentRequest' });
    expect(await syncEvent(deletion.eventId!)).toMatchObject({ status: 'DELETED', entityId: insert.entityId, waitingFor: null });
    expect((await dashboard(moodleUserId)).requests).toEqual([]);
    expect(await database.db.studentRequest.findUniqueOrThrow({ where: { id: insert.entityId! } })).toMatchObject({ zohoId: requestId, deletedAt: ztInstant(20) });
  });
});

// =======================================================================================

describe('identity', () => {
  it('a Moodle-created student and the Zoho student with its Student_Moodle_ID are one row (Moodle first)', async () => {
    const userid = mid();
    const fromMoodle = await moodle('user_created', moodleUser(userid));
    expect(fromMoodle).toMatchObject({ status: 'CREATED', entityType: 'Student' });
    const studentId = zid();
    const fromZoho = await zoho('BTEC_Students', 'insert', zohoStudent(studentId, userid, { Full_Name: 'Sami Nasser-Haddad' }));
    expect(fromZoho).toMatchObject({ status: 'UPDATED', entityId: fromMoodle.entityId });
    expect(await database.db.student.count({ where: { tenantId: 'default', OR: [{ moodleUserId: userid }, { zohoId: studentId }] } })).toBe(1);
    expect(await dashboard(userid)).toMatchObject({ id: fromMoodle.entityId, zohoId: studentId, moodleUserId: userid, fullName: 'Sami Nasser-Haddad' });
  });

  it('… and whichever arrives first (Zoho first): Zoho stays the system of record', async () => {
    const userid = mid();
    const studentId = zid();
    const fromZoho = await zoho('BTEC_Students', 'insert', zohoStudent(studentId, userid, { Full_Name: 'Leen Haddad' }));
    expect(fromZoho.status).toBe('CREATED');
    const fromMoodle = await moodle('user_created', moodleUser(userid, { firstname: 'Leen', lastname: 'H.' }));
    expect(['UPDATED', 'UNCHANGED']).toContain(fromMoodle.status);
    expect(fromMoodle.entityId).toBe(fromZoho.entityId);
    expect(await database.db.student.count({ where: { tenantId: 'default', OR: [{ moodleUserId: userid }, { zohoId: studentId }] } })).toBe(1);
    expect(await dashboard(userid)).toMatchObject({ id: fromZoho.entityId, zohoId: studentId, fullName: 'Leen Haddad' });
  });

  it('two rows that turn out to be one student merge, children included', async () => {
    const userid = mid();
    await moodle('user_created', moodleUser(userid));
    const grade = await moodle('user_graded', { grade_id: 77010, userid, itemid: 61010, item_name: 'Quiz 1', finalgrade: 9, grademax: 10, grademin: 0, timemodified: mt(3) });
    expect(grade.status).toBe('CREATED');
    const studentId = zid();
    const zohoOnly = await zoho('BTEC_Students', 'insert', zohoStudent(studentId, null, { Full_Name: 'Sami Merged', Modified_Time: zt(1) }));
    expect(zohoOnly.status).toBe('CREATED');
    const linked = await zoho('BTEC_Students', 'update', zohoStudent(studentId, userid, { Full_Name: 'Sami Merged', Modified_Time: zt(2) }));
    expect(linked).toMatchObject({ status: 'UPDATED', entityId: zohoOnly.entityId });
    expect(await database.db.student.count({ where: { tenantId: 'default', OR: [{ moodleUserId: userid }, { zohoId: studentId }] } })).toBe(1);
    const s = await dashboard(userid);
    expect(s).toMatchObject({ id: zohoOnly.entityId, zohoId: studentId, fullName: 'Sami Merged' });
    expect(s.grades.map((g: any) => g.compositeKey)).toEqual([`${userid}_61010`]);
  });

  it('teachers: Moodle and Zoho (Teacher_Moodle_ID) are one teacher, in both orders', async () => {
    // Moodle first
    const moodleFirst = mid();
    const t1 = await moodle('user_created', moodleUser(moodleFirst, { role: 'teacher', firstname: 'Huda', lastname: 'Saleh' }));
    expect(t1).toMatchObject({ status: 'CREATED', entityType: 'Teacher' });
    const zohoTeacher1 = zid();
    const z1 = await zoho('BTEC_Teachers', 'insert', { id: zohoTeacher1, Name: 'TCH-9101', Full_Name: 'Dr Huda Saleh', Email: 'huda.saleh@college.example', Teacher_Moodle_ID: moodleFirst, Modified_Time: zt(1) });
    expect(z1).toMatchObject({ status: 'UPDATED', entityType: 'Teacher', entityId: t1.entityId });
    // Zoho first
    const zohoFirst = mid();
    const zohoTeacher2 = zid();
    const z2 = await zoho('BTEC_Teachers', 'insert', { id: zohoTeacher2, Name: 'TCH-9102', 'Full Name': 'Karim Odeh', Email: 'karim.odeh@college.example', 'Teacher Moodle ID': zohoFirst, Modified_Time: zt(1) });
    expect(z2.status).toBe('CREATED');
    const t2 = await moodle('user_created', moodleUser(zohoFirst, { role: 'teacher', firstname: 'K.', lastname: 'Odeh' }));
    expect(t2).toMatchObject({ entityType: 'Teacher', entityId: z2.entityId });
    const db = database.db;
    expect(await db.teacher.count({ where: { tenantId: 'default', OR: [{ moodleUserId: moodleFirst }, { zohoId: zohoTeacher1 }] } })).toBe(1);
    expect(await db.teacher.count({ where: { tenantId: 'default', OR: [{ moodleUserId: zohoFirst }, { zohoId: zohoTeacher2 }] } })).toBe(1);
    expect(await db.teacher.findUniqueOrThrow({ where: { id: t1.entityId! } })).toMatchObject({ zohoId: zohoTeacher1, moodleUserId: moodleFirst, fullName: 'Dr Huda Saleh' });
    expect(await db.teacher.findUniqueOrThrow({ where: { id: z2.entityId! } })).toMatchObject({ zohoId: zohoTeacher2, moodleUserId: zohoFirst, fullName: 'Karim Odeh' });
    // The class shows the teacher Moodle created, now known to Zoho.
    const { classId } = await zohoCatalogue({ teacherId: zohoTeacher1 });
    const cls = await db.class.findFirstOrThrow({ where: { tenantId: 'default', zohoId: classId } });
    expect(cls.teacherId).toBe(t1.entityId);
  });

  it('a Moodle enrolment links to the class by Moodle_Class_ID (numeric ids, leading-zero user ids, and the enrollment_created alias)', async () => {
    const userid = mid();
    await moodle('user_created', moodleUser(userid));
    const a = await zohoCatalogue();
    const b = await zohoCatalogue();
    const enrolled = await moodle('user_enrolment_created', {
      enrollment_id: 510001 + next(), userid, courseid: Number(a.course), course_name: 'Programming', status: 0, timestart: mt(0), timeend: 0, timecreated: mt(0),
    });
    expect(enrolled).toMatchObject({ status: 'CREATED', entityType: 'Enrollment' });
    const alias = await moodle('enrollment_created', {
      enrollment_id: String(520001 + next()), userid, courseid: b.course, course_name: 'Programming', status: 1, timestart: mt(0), timeend: mt(60 * 24 * 100), timecreated: mt(0),
    });
    expect(alias).toMatchObject({ status: 'CREATED', entityType: 'Enrollment' });
    const s = await dashboard(userid);
    expect(s.moodleUserId).toBe(userid);
    const byCourse = new Map(s.classes.map((e: any) => [e.class.moodleCourseId, e]));
    expect(byCourse.get(a.course)).toMatchObject({ status: 'Active', startDate: '2026-02-13', endDate: null, class: { id: a.classEntityId } });
    expect(byCourse.get(b.course)).toMatchObject({ status: 'Suspended', startDate: '2026-02-13', endDate: '2026-05-24', class: { id: b.classEntityId } });
    const events = await syncEvents({ source: 'MOODLE', module: 'user_enrolment_created' });
    expect(events.map((e) => e.id)).toEqual(expect.arrayContaining([enrolled.eventId, alias.eventId]));
  });

  it('a Moodle enrolment and the Zoho enrolment of the same student and class are one enrolment', async () => {
    const userid = mid();
    const studentId = zid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentId, userid));
    const { classId, course } = await zohoCatalogue();
    const enrollmentId = zid();
    const fromZoho = await zoho('BTEC_Enrollments', 'insert', { id: enrollmentId, Name: 'ENR-900300', Student: studentId, Class: classId, Status: 'Active', Start_Date: '2026-01-12', Modified_Time: zt(1) });
    expect(fromZoho.status).toBe('CREATED');
    const fromMoodle = await moodle('user_enrolment_created', { enrollment_id: 530001 + next(), userid, courseid: course, status: 0, timestart: mt(0), timeend: 0, timecreated: mt(0) });
    expect(fromMoodle.entityId).toBe(fromZoho.entityId);
    expect((await dashboard(userid)).classes).toHaveLength(1);
  });
});

// =======================================================================================

describe('BTEC grades', () => {
  async function gradedStudent() {
    const userid = mid();
    await moodle('user_created', moodleUser(userid));
    const catalogue = await zohoCatalogue();
    return { userid, ...catalogue };
  }

  const gradeOf = (s: any, key: string) => s.grades.find((g: any) => g.compositeKey === key);

  it('computes the percentage from finalgrade/grademin/grademax, clamped, and the band', async () => {
    const { userid, course } = await gradedStudent();
    const cases: [finalgrade: number, grademin: number, grademax: number, score: number, band: string][] = [
      [25, 0, 20, 100, 'DISTINCTION'], // above grademax: clamped
      [14, 0, 20, 70, 'DISTINCTION'],
      [13.9, 0, 20, 69.5, 'MERIT'],
      [12, 0, 20, 60, 'MERIT'],
      [8, 0, 20, 40, 'PASS'],
      [7.9, 0, 20, 39.5, 'REFER'],
      [-2, 0, 20, 0, 'REFER'], // below grademin: clamped
      [80, 10, 110, 70, 'DISTINCTION'],
      [49, 10, 110, 39, 'REFER'],
    ];
    for (const [index, [finalgrade, grademin, grademax]] of cases.entries()) {
      const result = await moodle('user_graded', {
        grade_id: 78000 + index, userid, itemid: String(62000 + index), item_name: `Test ${index}`, courseid: course,
        finalgrade: index % 2 ? String(finalgrade) : finalgrade, grademax, grademin, timemodified: mt(index),
      });
      expect(result).toMatchObject({ status: 'CREATED', entityType: 'Grade' });
    }
    const s = await dashboard(userid);
    for (const [index, [, , , score, band]] of cases.entries()) {
      const grade = gradeOf(s, `${userid}_${62000 + index}`);
      expect(grade, `case ${index}`).toBeDefined();
      expect(grade.score, `case ${index}`).toBeCloseTo(score, 9);
      expect(grade.btecGrade, `case ${index}`).toBe(band);
    }
  });

  it('Zoho letter variants D/M/P/U/Unclassified', async () => {
    const studentId = zid();
    const userid = mid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentId, userid));
    const letters = ['D', 'M', 'P', 'U', 'Unclassified', 'distinction', 'Refer'];
    const results = await zohoRecords('BTEC_Grades', letters.map((letter, index) => ({
      id: zid(), Name: `GRD-90040${index}`, Student: { name: 'Rania Khoury', id: studentId }, Grade: letter, Moodle_Grade_Composite_Key: `${userid}_6300${index}`, Modified_Time: zt(index),
    })));
    expect(results.map((r) => r.status)).toEqual(letters.map(() => 'CREATED'));
    const s = await dashboard(userid);
    expect(letters.map((_, index) => gradeOf(s, `${userid}_6300${index}`)?.btecGrade)).toEqual(['DISTINCTION', 'MERIT', 'PASS', 'REFER', 'REFER', 'DISTINCTION', 'REFER']);
  });

  it('one grade per composite key: a correction updates it, a cleared grade keeps the row and its history', async () => {
    const { userid, course } = await gradedStudent();
    const key = `${userid}_64001`;
    const graded = { grade_id: 79001, userid, itemid: 64001, item_name: 'Unit 4 assignment', courseid: course, grademax: 20, grademin: 0 };
    const first = await moodle('user_graded', { ...graded, finalgrade: 8, timemodified: mt(1) });
    expect(first).toMatchObject({ status: 'CREATED', entityType: 'Grade' });
    const corrected = await moodle('grade_updated', { ...graded, finalgrade: 15, timemodified: mt(2) });
    expect(corrected).toMatchObject({ status: 'UPDATED', entityId: first.entityId });
    let s = await dashboard(userid);
    expect(s.grades.filter((g: any) => g.compositeKey === key)).toHaveLength(1);
    expect(gradeOf(s, key)).toMatchObject({ id: first.entityId, score: 75, btecGrade: 'DISTINCTION' });

    const cleared = await moodle('user_graded', { ...graded, finalgrade: null, timemodified: mt(3) });
    expect(cleared).toMatchObject({ status: 'UPDATED', entityId: first.entityId });
    s = await dashboard(userid);
    expect(s.grades.filter((g: any) => g.compositeKey === key)).toHaveLength(1);
    expect(gradeOf(s, key)).toMatchObject({ id: first.entityId, score: null, btecGrade: null });
    expect(await database.db.grade.count({ where: { tenantId: 'default', compositeKey: key } })).toBe(1);

    const history = (await syncEvents({ module: 'user_graded' })).filter((e) => e.entityId === first.entityId);
    expect(history.map((e) => [e.id, e.status])).toEqual([
      [cleared.eventId, 'UPDATED'],
      [corrected.eventId, 'UPDATED'],
      [first.eventId, 'CREATED'],
    ]);

    // A Zoho grade with the same composite key is the same grade (Zoho, the system of record, fills it again).
    const studentZohoId = zid();
    await zoho('BTEC_Students', 'insert', zohoStudent(studentZohoId, userid));
    const zohoGrade = await zoho('BTEC_Grades', 'insert', { id: zid(), Name: 'GRD-900500', Student: studentZohoId, Grade: 'P', Score: '52', Moodle_Grade_Composite_Key: key, Modified_Time: zt(3) });
    expect(zohoGrade).toMatchObject({ status: 'UPDATED', entityId: first.entityId });
    expect(gradeOf(await dashboard(userid), key)).toMatchObject({ id: first.entityId, score: 52, btecGrade: 'PASS' });
    expect(await database.db.grade.count({ where: { tenantId: 'default', compositeKey: key } })).toBe(1);
  });

  it('learning outcomes are replaced as a set; grader and internal verifier are kept apart', async () => {
    const { userid, course, unitId } = await gradedStudent();
    const submission = {
      student_id: userid, assignment_id: 65001, course_id: Number(course), assignment_name: 'Assignment 2: Web app', grademax: 100, grademin: 0, attempt_number: 1,
    };
    const first = await moodle('submission_graded', {
      ...submission, finalgrade: 64, grader_id: '00719101', grader_name: 'Omar Khalil', grader_role: 'teacher', feedback: 'Meets merit criteria.', timemodified: mt(1),
      learning_outcomes: [
        { code: 'A.P1', description: 'Explain web architecture', score: 'P', feedback: 'Clear.', achieved: 1 },
        { code: 'A.M1', description: 'Analyse design choices', score: 62, feedback: '', achieved: 1 },
        { code: 'AB.D1', description: 'Evaluate the app', score: 35, feedback: 'Not yet.', achieved: 0 },
      ],
    });
    expect(first).toMatchObject({ status: 'CREATED', entityType: 'Grade' });
    let grade = gradeOf(await dashboard(userid), `${userid}_65001`);
    expect(grade).toMatchObject({ score: 64, btecGrade: 'MERIT', attemptNumber: 1, graderName: 'Omar Khalil', internalVerifierName: null, feedback: 'Meets merit criteria.', unit: { id: expect.any(String) } });
    expect(grade.learningOutcomes.map((lo: any) => [lo.code, lo.achieved])).toEqual([['A.P1', true], ['A.M1', true], ['AB.D1', false]]);
    const unit = await database.db.unit.findFirstOrThrow({ where: { tenantId: 'default', zohoId: unitId } });
    expect(grade.unit.id).toBe(unit.id);

    // The internal verifier's pass: second attempt, two criteria.
    const verified = await moodle('submission_graded', {
      ...submission, finalgrade: 72, attempt_number: 2, grader_id: '00719102', grader_name: 'Huda Saleh', grader_role: 'iv', feedback: 'Verified; D1 now met.', timemodified: mt(2),
      learning_outcomes: [
        { code: 'A.P1', description: 'Explain web architecture', score: 'P', feedback: 'Clear.', achieved: 1 },
        { code: 'AB.D1', description: 'Evaluate the app', score: 'D', feedback: 'Met on resubmission.' },
      ],
    });
    expect(verified).toMatchObject({ status: 'UPDATED', entityId: first.entityId });
    grade = gradeOf(await dashboard(userid), `${userid}_65001`);
    expect(grade).toMatchObject({ score: 72, btecGrade: 'DISTINCTION', attemptNumber: 2, graderName: 'Omar Khalil', internalVerifierName: 'Huda Saleh', feedback: 'Verified; D1 now met.' });
    expect(grade.learningOutcomes).toEqual([
      { code: 'A.P1', title: 'Explain web architecture', score: 'P', feedback: 'Clear.', achieved: true },
      { code: 'AB.D1', title: 'Evaluate the app', score: 'D', feedback: 'Met on resubmission.', achieved: true },
    ]);
    expect(await database.db.learningOutcome.count({ where: { gradeId: first.entityId! } })).toBe(2);
    expect(await database.db.grade.findUniqueOrThrow({ where: { id: first.entityId! } })).toMatchObject({ graderMoodleId: '00719101', internalVerifierMoodleId: '00719102' });
  });

  it('accepts the standard Moodle event envelope for user_graded', async () => {
    const { userid, course } = await gradedStudent();
    const envelope = {
      eventname: '\\core\\event\\user_graded', component: 'core', action: 'graded', target: 'user', objectid: '79812', crud: 'u', contextid: 31,
      userid: '2', courseid: course, relateduserid: userid, other: { itemid: 66001, overridden: false, finalgrade: 78.5 }, timecreated: mt(4),
    };
    const result = await moodle('\\core\\event\\user_graded', envelope, { eventId: null });
    expect(result).toMatchObject({ status: 'CREATED', entityType: 'Grade' });
    const grade = gradeOf(await dashboard(userid), `${userid}_66001`);
    expect(grade).toMatchObject({ score: 78.5, btecGrade: 'DISTINCTION', class: { name: expect.stringContaining('Programming group') } });
    expect(await database.db.grade.findUniqueOrThrow({ where: { id: result.entityId! } })).toMatchObject({ moodleGradeId: '79812' });
    // The grader (userid 2) got no grade.
    expect(await database.db.grade.count({ where: { tenantId: 'default', compositeKey: '2_66001' } })).toBe(0);
    // Without an event id the envelope's hash is its key; with one, the id is.
    expect(await moodle('\\core\\event\\user_graded', envelope, { eventId: null })).toMatchObject({ status: 'DUPLICATE', eventId: result.eventId });
    const regraded = { ...envelope, other: { itemid: 66001, overridden: true, finalgrade: 55 }, timecreated: mt(5) };
    const withId = await moodle('user_graded', regraded, { eventId: `env-${userid}-66001` });
    expect(withId).toMatchObject({ status: 'UPDATED', entityId: result.entityId });
    expect(await moodle('user_graded', regraded, { eventId: `env-${userid}-66001` })).toMatchObject({ status: 'DUPLICATE', eventId: withId.eventId });
    expect(gradeOf(await dashboard(userid), `${userid}_66001`)).toMatchObject({ score: 55, btecGrade: 'PASS' });
    // The event named must be the envelope's.
    const mismatch = await moodle('submission_graded', regraded, { eventId: null });
    expect(mismatch.status).toBe('REJECTED');
    expect(mismatch.message).toContain('eventname');
  });

  it('REJECTS the envelope of another event, naming what it lacks', async () => {
    const { userid, course } = await gradedStudent();
    const envelope = {
      eventname: '\\core\\event\\user_enrolment_created', component: 'core', action: 'created', target: 'user_enrolment', objectid: '99001', crud: 'c',
      contextid: 31, userid: '2', courseid: course, relateduserid: userid, other: { enrol: 'manual' }, timecreated: mt(4),
    };
    const result = await moodle('\\core\\event\\user_enrolment_created', envelope, { eventId: null });
    expect(result.status).toBe('REJECTED');
    expect(result.message).toContain('user_enrolment_created');
    expect(result.message).toContain('enrolment status');
    expect(result.message).toContain('timestart');
    expect((await dashboard(userid)).classes).toEqual([]);
    // An envelope for user_graded missing the grade item names that too.
    const partial = await moodle('\\core\\event\\user_graded', { ...envelope, eventname: '\\core\\event\\user_graded', other: { finalgrade: 50 } }, { eventId: null });
    expect(partial.status).toBe('REJECTED');
    expect(partial.message).toContain('other.itemid');
  });
});

// =======================================================================================

describe('admin reads', () => {
  it('syncEvents filters by status, source and module; PARKED ones show waitingFor', async () => {
    const parked = await moodle('user_graded', { grade_id: 79900, userid: mid(), itemid: 67001, finalgrade: 5, grademax: 10, grademin: 0, timemodified: mt(1) });
    expect(parked.status).toBe('PARKED');

    const all = await syncEvents();
    expect(all.length).toBeGreaterThan(10);
    // newest first
    const received = all.map((e) => at(e.receivedAt)!);
    expect(received).toEqual([...received].sort((a, b) => b - a));

    const parkedOnly = await syncEvents({ status: 'PARKED' });
    expect(parkedOnly.length).toBeGreaterThan(0);
    for (const e of parkedOnly) {
      expect(e.status).toBe('PARKED');
      expect(e.waitingFor).toMatch(/^(Student|Teacher|Program|Unit|Class|Enrollment|Registration|Payment|StudentRequest|Grade):\w+:.+$/);
    }
    expect(parkedOnly.map((e) => e.id)).toContain(parked.eventId);
    for (const e of all.filter((x) => x.status !== 'PARKED')) expect(e.waitingFor).toBeNull();

    const moodleOnly = await syncEvents({ source: 'MOODLE' });
    expect(moodleOnly.length).toBeGreaterThan(0);
    expect(moodleOnly.every((e) => e.source === 'MOODLE')).toBe(true);
    const zohoOnly = await syncEvents({ source: 'ZOHO' });
    expect(zohoOnly.length + moodleOnly.length).toBe(all.length);

    const payments = await syncEvents({ module: 'BTEC_Payments' });
    expect(payments.length).toBeGreaterThan(0);
    expect(payments.every((e) => e.module === 'BTEC_Payments' && e.source === 'ZOHO')).toBe(true);
    const createdGrades = await syncEvents({ status: 'CREATED', source: 'MOODLE', module: 'user_graded' });
    expect(createdGrades.length).toBeGreaterThan(0);
    expect(createdGrades.every((e) => e.status === 'CREATED' && e.source === 'MOODLE' && e.module === 'user_graded' && e.entityType === 'Grade')).toBe(true);
    expect(await syncEvents({ module: 'BTEC_Nothing' })).toEqual([]);
  });

  it('syncStats counts per status (DUPLICATE and REJECTED are answered, not logged), parked backlog and its age, last event', async () => {
    const before = await syncStats();
    const started = Date.now();
    const studentId = zid();
    const moodleUserId = mid();
    const created = await zohoEvent('BTEC_Students', 'insert', zohoStudent(studentId, moodleUserId, { Modified_Time: zt(1) }));
    expect(created.result.status).toBe('CREATED');
    expect((await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { Modified_Time: zt(1) }))).status).toBe('UNCHANGED');
    expect((await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { City: 'Ajloun', Modified_Time: zt(3) }))).status).toBe('UPDATED');
    expect((await zoho('BTEC_Students', 'update', zohoStudent(studentId, moodleUserId, { City: 'Tafila', Modified_Time: zt(2) }))).status).toBe('STALE');
    expect((await moodle('user_graded', { grade_id: 79950, userid: mid(), itemid: 67002, finalgrade: 5, grademax: 10, grademin: 0, timemodified: mt(1) })).status).toBe('PARKED');
    expect((await graphql<{ ingestZohoEvent: Result }>(INGEST_ZOHO, { input: created.input }, integration)).data!.ingestZohoEvent.status).toBe('DUPLICATE');
    expect((await zoho('BTEC_Students', 'insert', zohoStudent(zid(), mid(), { Status: 'Expelled' }))).status).toBe('REJECTED');
    expect((await zoho('BTEC_Students', 'delete', { id: studentId, Modified_Time: zt(4) })).status).toBe('DELETED');

    const after = await syncStats();
    const b = countsOf(before);
    const a = countsOf(after);
    expect(Object.keys(a).sort()).toEqual(['CREATED', 'DELETED', 'DUPLICATE', 'PARKED', 'REJECTED', 'STALE', 'UNCHANGED', 'UPDATED']);
    expect(Object.fromEntries(Object.keys(a).map((k) => [k, a[k]! - b[k]!]))).toEqual({
      CREATED: 1, UNCHANGED: 1, UPDATED: 1, STALE: 1, PARKED: 1, DELETED: 1, DUPLICATE: 0, REJECTED: 0,
    });
    // The counts are the event log's.
    const log = await database.db.syncEvent.groupBy({ by: ['status'], where: { tenantId: 'default' }, _count: { _all: true } });
    for (const row of log) expect(a[row.status]).toBe(row._count._all);

    expect(after.parkedBacklog).toBe(before.parkedBacklog + 1);
    expect(after.parkedBacklog).toBe(await database.db.parkedEvent.count({ where: { tenantId: 'default' } }));
    expect(after.awaitingFetch).toBe(0);
    const oldest = await database.db.parkedEvent.findFirstOrThrow({ where: { tenantId: 'default' }, orderBy: { createdAt: 'asc' } });
    expect(at(after.oldestParkedAt)).toBe(oldest.createdAt.getTime());
    const expectedAge = Math.floor((Date.now() - oldest.createdAt.getTime()) / 1000);
    expect(after.oldestParkedAgeSeconds).toBeGreaterThanOrEqual(expectedAge - 2);
    expect(after.oldestParkedAgeSeconds).toBeLessThanOrEqual(expectedAge);
    expect(at(after.lastEventAt)!).toBeGreaterThanOrEqual(started - 1000);
    expect(at(after.lastEventAt)!).toBeLessThanOrEqual(Date.now());
  });

  it('replayParkedEvents applies a parked event whose parent arrived without a release, and returns the count', async () => {
    const userid = mid();
    const parked = await moodle('submission_graded', {
      student_id: userid, assignment_id: 68001, assignment_name: 'Assignment 3', finalgrade: 45, grademax: 100, grademin: 0, timemodified: mt(1),
    });
    expect(parked.status).toBe('PARKED');
    // The parent arrives behind the pipeline's back: nothing is released.
    await database.db.student.create({ data: { tenantId: 'default', moodleUserId: userid, fullName: 'Direct Insert' } });
    expect((await dashboard(userid)).grades).toEqual([]);
    expect((await syncEvent(parked.eventId!)).status).toBe('PARKED');

    const forbidden = await graphql(REPLAY, {}, integration);
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const backlog = (await syncStats()).parkedBacklog;

    const replay = await graphql<{ replayParkedEvents: number }>(REPLAY, {}, admin);
    noErrors(replay);
    expect(replay.data!.replayParkedEvents).toBe(1);
    expect((await dashboard(userid)).grades).toEqual([expect.objectContaining({ compositeKey: `${userid}_68001`, score: 45, btecGrade: 'PASS' })]);
    const applied = await syncEvent(parked.eventId!);
    expect(applied).toMatchObject({ status: 'CREATED', waitingFor: null });
    expect(applied.message).toContain(`Student with moodleUserId ${userid}`);
    expect((await syncStats()).parkedBacklog).toBe(backlog - 1);

    const again = await graphql<{ replayParkedEvents: number }>(REPLAY, {}, admin);
    expect(again.data!.replayParkedEvents).toBe(0);
  });
});

// =======================================================================================

describe('access and tenancy', () => {
  it('staff and student tokens cannot ingest (FORBIDDEN), and nothing is written', async () => {
    const staff = await token('staff');
    const student = await token('student', { moodleUserId: '00042' });
    const before = await database.db.syncEvent.count();
    const studentId = zid();
    for (const viewer of [staff, student]) {
      const z = await graphql(INGEST_ZOHO, { input: { notificationId: notificationId(), module: 'BTEC_Students', operation: 'insert', recordId: studentId, data: zohoStudent(studentId, mid()) } }, viewer);
      expect(z.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const r = await graphql(INGEST_RECORDS, { module: 'BTEC_Students', records: [zohoStudent(studentId, mid())] }, viewer);
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const m = await graphql(INGEST_MOODLE, { input: { event: 'user_created', eventId: eventId(), data: moodleUser(mid()) } }, viewer);
      expect(m.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const s = await graphql(SYNC_STATS, {}, viewer);
      expect(s.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const anonymous = await graphql(INGEST_MOODLE, { input: { event: 'user_created', eventId: eventId(), data: moodleUser(mid()) } });
    expect(anonymous.errors?.[0]?.extensions?.code).toMatch(/UNAUTHENTICATED|FORBIDDEN/);
    expect(await database.db.syncEvent.count()).toBe(before);
    expect(await database.db.student.count({ where: { zohoId: studentId } })).toBe(0);
  });

  it('an integration token of tenant northfield writes only into northfield', async () => {
    const northfield = await token('integration', { tenant: 'northfield' });
    const northfieldAdmin = await token('admin', { tenant: 'northfield' });
    const db = database.db;

    // A default-tenant student with a grade, and a northfield record with the same ids.
    const studentId = zid();
    const userid = mid();
    const shared = notificationId();
    const home = await zoho('BTEC_Students', 'insert', zohoStudent(studentId, userid, { Full_Name: 'Default Tenant Student' }), { notificationId: shared });
    expect(home.status).toBe('CREATED');
    await moodle('user_graded', { grade_id: 79990, userid, itemid: 69001, finalgrade: 6, grademax: 10, grademin: 0, timemodified: mt(1) });
    const homeStudent = await db.student.findUniqueOrThrow({ where: { id: home.entityId! } });
    const homeDashboard = await dashboard(userid);
    const defaultCounts = async () => ({
      students: await db.student.count({ where: { tenantId: 'default' } }),
      grades: await db.grade.count({ where: { tenantId: 'default' } }),
      events: await db.syncEvent.count({ where: { tenantId: 'default' } }),
      parked: await db.parkedEvent.count({ where: { tenantId: 'default' } }),
    });
    const defaultBefore = await defaultCounts();

    // Same notification id, same Zoho id, same Moodle id: a different tenant, so a different student.
    const away = await zoho('BTEC_Students', 'insert', zohoStudent(studentId, userid, { Full_Name: 'Northfield Student', City: 'Leeds', Country: 'UK' }), { notificationId: shared, as: northfield });
    expect(away.status).toBe('CREATED');
    expect(away.entityId).not.toBe(home.entityId);
    const awayGrade = await moodle('user_graded', { grade_id: 79991, userid, itemid: 69002, finalgrade: 3, grademax: 10, grademin: 0, timemodified: mt(1) }, { as: northfield });
    expect(awayGrade.status).toBe('CREATED');
    expect(await zoho('BTEC_Students', 'update', zohoStudent(studentId, userid, { Full_Name: 'Northfield Student Renamed', Modified_Time: zt(5) }), { as: northfield })).toMatchObject({ status: 'UPDATED', entityId: away.entityId });
    // A northfield grade waiting for a student is not released by a default-tenant student.
    const lonely = mid();
    const parkedAway = await moodle('user_graded', { grade_id: 79992, userid: lonely, itemid: 69003, finalgrade: 7, grademax: 10, grademin: 0, timemodified: mt(1) }, { as: northfield });
    expect(parkedAway.status).toBe('PARKED');
    const lonelyHome = await moodle('user_created', moodleUser(lonely));
    expect(lonelyHome.status).toBe('CREATED');
    expect(await db.syncEvent.findUniqueOrThrow({ where: { id: parkedAway.eventId! } })).toMatchObject({ tenantId: 'northfield', status: 'PARKED' });
    // A northfield delete does not touch the default tenant's row.
    expect(await zoho('BTEC_Students', 'delete', null, { recordId: studentId, timestamp: zt(30), as: northfield })).toMatchObject({ status: 'DELETED', entityId: away.entityId });

    expect(await db.student.findUniqueOrThrow({ where: { id: home.entityId! } })).toEqual(homeStudent);
    expect(await dashboard(userid)).toEqual(homeDashboard);
    expect(await defaultCounts()).toEqual({ ...defaultBefore, students: defaultBefore.students + 1, events: defaultBefore.events + 1 }); // + lonely (a default-tenant event)
    expect(await db.student.findUniqueOrThrow({ where: { id: away.entityId! } })).toMatchObject({ tenantId: 'northfield', fullName: 'Northfield Student Renamed' });
    expect(await db.grade.findUniqueOrThrow({ where: { id: awayGrade.entityId! } })).toMatchObject({ tenantId: 'northfield', studentId: away.entityId });

    // Each tenant's admin sees only its own events.
    const awayEvents = await syncEvents({}, northfieldAdmin);
    expect(awayEvents.map((e) => e.id)).toEqual(expect.arrayContaining([away.eventId, awayGrade.eventId, parkedAway.eventId]));
    expect(awayEvents.map((e) => e.id)).not.toContain(home.eventId);
    expect((await syncEvents()).map((e) => e.id)).not.toContain(away.eventId);
    const awayStats = await syncStats(northfieldAdmin);
    expect(awayStats.parkedBacklog).toBe(1);
    expect(countsOf(awayStats)).toMatchObject({ CREATED: 2, UPDATED: 1, PARKED: 1, DELETED: 1 });
    // northfield's replay cannot reach the default tenant's parked events, and its own stays parked.
    const replay = await graphql<{ replayParkedEvents: number }>(REPLAY, {}, northfieldAdmin);
    expect(replay.data!.replayParkedEvents).toBe(0);
  });
});
