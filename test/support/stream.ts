/**
 * A realistic Zoho + Moodle event stream about a few new students, for convergence tests:
 * every Zoho BTEC module, the Moodle plugin events, updates, corrections and deletes. Each
 * record has a distinct source time (Zoho Modified_Time / Moodle timemodified); sorting by
 * it is "in order".
 *
 * Every id is drawn from a namespace `ns`, so the same stream can be ingested many times into
 * one database (once per namespace) without the runs meeting each other or the seeded data:
 * Zoho ids `7777<ns:5><module digit><n:9>` (19 digits), Moodle ids `9<ns:4><kind digit><n:2>`.
 * `canonical()` maps a run's ids back to stable names so runs can be compared.
 */

export type Channel = 'zoho-webhook' | 'zoho-mutation' | 'zoho-bulk-webhook' | 'zoho-bulk-mutation' | 'moodle-webhook' | 'moodle-mutation';

export type IngestStatus = 'CREATED' | 'UPDATED' | 'UNCHANGED' | 'DELETED' | 'DUPLICATE' | 'STALE' | 'PARKED' | 'REJECTED';

/** One record (one version of one source's view of one entity) carried by a delivery. */
export interface RecordVersion {
  /** `<source> <entity> <name>`: versions of the same chain are ordered by `at`. */
  chain: string;
  /** 1-based position in its chain. */
  version: number;
  /** Source modification time. */
  at: Date;
  /** Status when the stream is delivered in order. */
  inOrder: IngestStatus;
}

/** One HTTP request or GraphQL mutation. */
export interface Delivery {
  label: string;
  channel: Channel;
  /** The body in webhook form (the mutation channels translate it). */
  body: Record<string, unknown>;
  records: RecordVersion[];
}

export interface StudentKeys {
  name: string;
  moodleUserId: string;
}

export interface Stream {
  ns: number;
  /** In order (ascending source time). */
  deliveries: Delivery[];
  students: StudentKeys[];
  /** Every Zoho id of the run starts with it. */
  zohoPrefix: string;
  /** Every Moodle id of the run starts with it. */
  moodlePrefix: string;
  /** Replaces the run's ids (anywhere in strings) by stable names. */
  canonical<T>(value: T): T;
  /**
   * An older version re-sent later with a NEW notification / event id (a Zoho record event
   * for Zoho records, even when the original came in a bulk push).
   */
  replayOf(delivery: Delivery, recordIndex: number, tag: string): Delivery;
  /** Legitimately parked forever, in order too: (module, awaited reference) in canonical form. */
  expectedParked: string[];
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** Zoho writes times with the org's offset (+03:00 here). */
function zohoTime(at: Date): string {
  return `${new Date(at.getTime() + 3 * 3600_000).toISOString().slice(0, 19)}+03:00`;
}

const unix = (at: Date) => Math.floor(at.getTime() / 1000);

const ZOHO_DIGIT = { student: 1, teacher: 2, program: 3, unit: 4, class: 5, enrollment: 6, registration: 7, payment: 8, request: 9, grade: 0 } as const;
const MOODLE_DIGIT = { user: 1, course: 2, assignment: 3, enrolment: 4, grade: 5, item: 6 } as const;

class Ids {
  private readonly names = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  constructor(readonly ns: number) {}

  get zohoPrefix() {
    return `7777${pad(this.ns, 5)}`;
  }
  get moodlePrefix() {
    return `9${pad(this.ns, 4)}`;
  }
  private next(kind: string) {
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    return n;
  }
  zoho(kind: keyof typeof ZOHO_DIGIT, name: string): string {
    const id = `${this.zohoPrefix}${ZOHO_DIGIT[kind]}${pad(this.next(`z${kind}`), 9)}`;
    this.names.set(id, `<z:${kind}:${name}>`);
    return id;
  }
  moodle(kind: keyof typeof MOODLE_DIGIT, name: string): string {
    const id = `${this.moodlePrefix}${MOODLE_DIGIT[kind]}${pad(this.next(`m${kind}`), 2)}`;
    this.names.set(id, `<m:${kind}:${name}>`);
    return id;
  }
  canonical<T>(value: T): T {
    // Longest first: Zoho ids (19 digits) before Moodle ids (8), so no id is cut by another.
    const pairs = [...this.names].sort((a, b) => b[0].length - a[0].length);
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return pairs.reduce((s, [id, name]) => (s.includes(id) ? s.split(id).join(name) : s), v);
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object' && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return walk(value) as T;
  }
}

type Json = Record<string, unknown>;

const lookup = (name: string, id: string) => ({ name, id });

export function buildStream(ns: number): Stream {
  const ids = new Ids(ns);
  // Source times: one per record, 97 s apart (distinct whole seconds for Moodle).
  let clock = Date.UTC(2026, 0, 5, 6, 0, 0);
  const tick = () => new Date((clock += 97_000));
  let eventCounter = 0;
  const eventId = (prefix: string) => `${prefix}-${pad(ns, 5)}-${pad(++eventCounter, 4)}`;
  const deliveries: Delivery[] = [];
  const versions = new Map<string, number>();
  const createdAt = new Map<string, string>();
  const version = (chain: string) => {
    const v = (versions.get(chain) ?? 0) + 1;
    versions.set(chain, v);
    return v;
  };

  /** A Zoho record with its system fields; Created_Time stays the first version's. */
  function zohoRecord(chain: string, id: string, at: Date, fields: Json): Json {
    if (!createdAt.has(chain)) createdAt.set(chain, zohoTime(at));
    return { id, ...fields, Created_Time: createdAt.get(chain), Modified_Time: zohoTime(at) };
  }

  /** A Zoho workflow record event (webhook) or the ingestZohoEvent mutation. */
  function zoho(
    module: string,
    name: string,
    id: string,
    fields: Json,
    inOrder: IngestStatus,
    options: { channel?: 'zoho-webhook' | 'zoho-mutation'; operation?: string; label?: string } = {},
  ): void {
    const chain = `zoho ${module} ${name}`;
    const at = tick();
    const operation = options.operation ?? (versions.has(chain) ? 'update' : 'insert');
    const data = operation === 'delete' ? { id } : zohoRecord(chain, id, at, fields);
    deliveries.push({
      label: options.label ?? `${chain} v${(versions.get(chain) ?? 0) + 1} (${operation})`,
      channel: options.channel ?? 'zoho-webhook',
      body: {
        notification_id: eventId('wf'),
        timestamp: zohoTime(new Date(at.getTime() + 4_000)),
        module,
        operation,
        record_id: id,
        data,
      },
      records: [{ chain, version: version(chain), at, inOrder }],
    });
  }

  /** A bulk push of one module (webhook `{module, data: [...]}` or ingestZohoRecords). */
  function zohoBulk(
    module: string,
    records: { name: string; id: string; fields: Json; inOrder: IngestStatus }[],
    channel: 'zoho-bulk-webhook' | 'zoho-bulk-mutation',
  ): void {
    const versionsOf: RecordVersion[] = [];
    const data = records.map((r) => {
      const chain = `zoho ${module} ${r.name}`;
      const at = tick();
      versionsOf.push({ chain, version: version(chain), at, inOrder: r.inOrder });
      return zohoRecord(chain, r.id, at, r.fields);
    });
    deliveries.push({ label: `zoho ${module} bulk [${records.map((r) => r.name).join(', ')}]`, channel, body: { module, data }, records: versionsOf });
  }

  /** A Moodle plugin event; `data(at)` builds the payload for its source time. */
  function moodle(
    event: string,
    name: string,
    entity: string,
    data: (at: Date) => Json,
    inOrder: IngestStatus,
    channel: 'moodle-webhook' | 'moodle-mutation' = 'moodle-webhook',
  ): void {
    const chain = `moodle ${entity} ${name}`;
    const at = tick();
    deliveries.push({
      label: `${chain} v${(versions.get(chain) ?? 0) + 1} (${event})`,
      channel,
      body: { event, event_id: eventId('mdl'), data: data(at) },
      records: [{ chain, version: version(chain), at, inOrder }],
    });
  }

  // ---------------------------------------------------------------------------------------
  // Ids

  const program = ids.zoho('program', 'P1');
  const unit = { U1: ids.zoho('unit', 'U1'), U2: ids.zoho('unit', 'U2'), U3: ids.zoho('unit', 'U3') };
  const teacher = { T1: ids.zoho('teacher', 'T1'), T2: ids.zoho('teacher', 'T2') };
  const teacherUser = { T1: ids.moodle('user', 'T1'), T2: ids.moodle('user', 'T2') };
  const klass = { C1: ids.zoho('class', 'C1'), C2: ids.zoho('class', 'C2') };
  const course = { C1: ids.moodle('course', 'C1'), C2: ids.moodle('course', 'C2'), X: ids.moodle('course', 'sandbox') };
  const student = { A: ids.zoho('student', 'A'), B: ids.zoho('student', 'B'), C: ids.zoho('student', 'C') };
  const user = { A: ids.moodle('user', 'A'), B: ids.moodle('user', 'B'), C: ids.moodle('user', 'C'), D: ids.moodle('user', 'D') };
  const assignment = { asg1: ids.moodle('assignment', 'asg1'), asg2: ids.moodle('assignment', 'asg2') };
  const quiz = ids.moodle('item', 'quiz1');
  const moodleGrade = {
    Aasg1: ids.moodle('grade', 'A-asg1'),
    Basg1: ids.moodle('grade', 'B-asg1'),
    Casg2: ids.moodle('grade', 'C-asg2'),
    Aquiz: ids.moodle('grade', 'A-quiz'),
    Dquiz: ids.moodle('grade', 'D-quiz'),
    Dsandbox: ids.moodle('grade', 'D-sandbox'),
  };
  const enrolment = {
    AC1: ids.moodle('enrolment', 'A-C1'),
    AC2: ids.moodle('enrolment', 'A-C2'),
    BC1: ids.moodle('enrolment', 'B-C1'),
    CC2: ids.moodle('enrolment', 'C-C2'),
    DC1: ids.moodle('enrolment', 'D-C1'),
    DX: ids.moodle('enrolment', 'D-sandbox'),
  };
  const registration = { A: ids.zoho('registration', 'RA'), B: ids.zoho('registration', 'RB'), C: ids.zoho('registration', 'RC') };
  const payment = {
    PA1: ids.zoho('payment', 'PA1'),
    PA2: ids.zoho('payment', 'PA2'),
    PA3: ids.zoho('payment', 'PA3'),
    PB1: ids.zoho('payment', 'PB1'),
    PC1: ids.zoho('payment', 'PC1'),
  };
  const request = { QA1: ids.zoho('request', 'QA1'), QA2: ids.zoho('request', 'QA2'), QB1: ids.zoho('request', 'QB1') };
  const enrollment = { AC1: ids.zoho('enrollment', 'A-C1'), AC2: ids.zoho('enrollment', 'A-C2'), BC1: ids.zoho('enrollment', 'B-C1'), CC2: ids.zoho('enrollment', 'C-C2') };
  const grade = { GA1: ids.zoho('grade', 'GA1'), GB1: ids.zoho('grade', 'GB1'), GB2: ids.zoho('grade', 'GB2'), GC1: ids.zoho('grade', 'GC1') };

  const P1 = lookup('BTEC L3 Computing (Convergence)', program);
  const U1 = lookup('Programming', unit.U1);
  const U2 = lookup('Networking', unit.U2);
  const U3 = lookup('Cyber Security', unit.U3);
  const T1 = lookup('Omar Khalil', teacher.T1);
  const T2 = lookup('Ruth Verifier', teacher.T2);
  const C1 = lookup('Programming — Group A', klass.C1);
  const C2 = lookup('Networking — Group A', klass.C2);
  const SA = lookup('Amira Saleh', student.A);
  const SB = lookup('Ben Carter', student.B);
  const SC = lookup('Chen Wei', student.C);
  const RA = lookup('REG-CVG-A', registration.A);
  const RB = lookup('REG-CVG-B', registration.B);
  const RC = lookup('REG-CVG-C', registration.C);

  // ---------------------------------------------------------------------------------------
  // Catalogue: program, units (bulk), teachers (Moodle account first, then Zoho bulk), classes

  zoho('BTEC_Programs', 'P1', program, { Name: P1.name, Program_Code: 'CVG-L3', Level: 'Level 3', Duration_Months: 24, Status: 'Active' }, 'CREATED');
  zohoBulk(
    'BTEC_Units',
    [
      { name: 'U1', id: unit.U1, fields: { Name: U1.name, Unit_Code: 'CVG-U1', Credits: 15, Level: 'Level 3', Program: P1 }, inOrder: 'CREATED' },
      { name: 'U2', id: unit.U2, fields: { Name: U2.name, Unit_Code: 'CVG-U2', Credits: '10', Level: 'Level 3', Program: program }, inOrder: 'CREATED' },
      { name: 'U3', id: unit.U3, fields: { Name: U3.name, Unit_Code: 'CVG-U3', Credits: 10, Level: 'Level 3', Program: P1 }, inOrder: 'CREATED' },
    ],
    'zoho-bulk-webhook',
  );
  moodle(
    'user_created',
    'T1',
    'Teacher',
    (at) => ({ userid: teacherUser.T1, username: 'okhalil', email: 'o.khalil@moodle.college.example', firstname: 'Omar', lastname: 'K.', role: 'teacher', suspended: 0, deleted: 0, timecreated: unix(at), timemodified: unix(at) }),
    'CREATED',
  );
  zohoBulk(
    'BTEC_Teachers',
    [
      { name: 'T1', id: teacher.T1, fields: { Name: 'TCH-CVG-1', Full_Name: T1.name, Email: 'omar.khalil@college.example', Teacher_Moodle_ID: teacherUser.T1, Status: 'Active' }, inOrder: 'UPDATED' },
      { name: 'T2', id: teacher.T2, fields: { Name: 'TCH-CVG-2', Full_Name: T2.name, Email: 'ruth.verifier@college.example', Teacher_Moodle_ID: teacherUser.T2, Status: 'Active' }, inOrder: 'CREATED' },
    ],
    'zoho-bulk-mutation',
  );
  const classFields = (c: 'C1' | 'C2', schedule: string): Json =>
    c === 'C1'
      ? { Name: C1.name, Class_Code: 'CVG-C1', Moodle_Class_ID: course.C1, Unit: U1, Program: P1, Teacher: T1, Start_Date: '2025-09-15', End_Date: '2026-06-30', Schedule: schedule, Status: 'Active' }
      : { Name: C2.name, Class_Code: 'CVG-C2', Moodle_Class_ID: course.C2, Unit: U2, Program: P1, Teacher: T2, Start_Date: '2025-09-15', End_Date: '2026-06-30', Schedule: schedule, Status: 'Active' };
  zoho('BTEC_Classes', 'C1', klass.C1, classFields('C1', 'Mon 09:00-12:00'), 'CREATED');
  zoho('BTEC_Classes', 'C2', klass.C2, classFields('C2', 'Wed 13:00-16:00'), 'CREATED');
  zoho('BTEC_Units', 'U1', unit.U1, { Name: U1.name, Unit_Code: 'CVG-U1', Credits: 20, Level: 'Level 3', Program: P1 }, 'UPDATED', { label: 'zoho BTEC_Units U1 v2 (credits 15 → 20)' });
  zoho('BTEC_Classes', 'C1', klass.C1, classFields('C1', 'Tue 09:00-12:00'), 'UPDATED', { label: 'zoho BTEC_Classes C1 v2 (schedule moved)' });

  // ---------------------------------------------------------------------------------------
  // Students: A Moodle first; B Zoho first; C Zoho without a Moodle id, then Moodle (a second
  // row), then Zoho with Student_Moodle_ID (the rows merge); D exists in Moodle only.

  const moodleUser = (u: string, first: string, last: string, extra: Json) => (at: Date) => ({
    userid: u,
    username: `${first}.${last}`.toLowerCase(),
    firstname: first,
    lastname: last,
    role: 'student',
    suspended: 0,
    deleted: 0,
    timecreated: unix(at),
    timemodified: unix(at),
    ...extra,
  });
  const studentFields = (name: string, first: string, last: string, extra: Json): Json => ({
    Name: name,
    Full_Name: `${first} ${last}`,
    First_Name: first,
    Last_Name: last,
    Status: 'Active',
    ...extra,
  });

  moodle('user_created', 'A', 'Student', moodleUser(user.A, 'Amira', 'Saleh', { email: 'amira@moodle.example', phone1: '0790 111 111', city: 'Irbid', country: 'JO' }), 'CREATED');
  zoho(
    'BTEC_Students',
    'A',
    student.A,
    studentFields('STU-CVG-A', 'Amira', 'Saleh', { Academic_Email: 'amira.saleh@college.example', Phone_Number: '+962 790 111 111', City: 'Amman', Country: 'Jordan', Student_Moodle_ID: user.A }),
    'UPDATED',
  );
  zoho(
    'BTEC_Students',
    'B',
    student.B,
    studentFields('STU-CVG-B', 'Ben', 'Carter', { Academic_Email: 'ben.carter@college.example', Phone_Number: '+44 7700 222 222', City: 'Leeds', Country: 'United Kingdom', Student_Moodle_ID: user.B }),
    'CREATED',
  );
  moodle('user_created', 'B', 'Student', moodleUser(user.B, 'Ben', 'Carter', { email: 'ben@moodle.example', phone1: '', city: 'York', country: 'GB' }), 'UPDATED');
  const cFields = (email: string, moodleId: string | null) =>
    studentFields('STU-CVG-C', 'Chen', 'Wei', { Academic_Email: email, Phone_Number: '+86 138 0000 3333', City: 'Shanghai', Country: 'China', Student_Moodle_ID: moodleId });
  zoho('BTEC_Students', 'C', student.C, cFields('chen.wei@college.example', null), 'CREATED', { label: 'zoho BTEC_Students C v1 (no Student_Moodle_ID yet)' });
  moodle('user_created', 'C', 'Student', moodleUser(user.C, 'Chen', 'Wei', { email: 'chen@moodle.example', phone1: '138', city: 'Beijing', country: 'CN' }), 'CREATED');
  moodle('user_created', 'D', 'Student', moodleUser(user.D, 'Dana', 'Moodleonly', { email: 'dana@moodle.example', phone1: '0790 444 444', city: 'Zarqa', country: 'JO' }), 'CREATED');

  // Registrations
  const registrationFields = (s: { name: string; id: string }, name: string, fees: string | number): Json => ({
    Name: name,
    Student: s,
    Program: P1,
    Registration_Date: '2025-08-20',
    Start_Date: '2025-09-15',
    End_Date: '2027-06-30',
    Status: 'Active',
    Total_Fees: fees,
    Currency: 'GBP',
  });
  zoho('BTEC_Registrations', 'RA', registration.A, registrationFields(SA, RA.name, '9000.00'), 'CREATED');
  zoho('BTEC_Registrations', 'RB', registration.B, registrationFields(SB, RB.name, 9000), 'CREATED');
  zoho('BTEC_Registrations', 'RC', registration.C, registrationFields(SC, RC.name, '8500'), 'CREATED');

  // Enrolments, from both systems
  const moodleEnrolment = (id: string, u: string, c: string, courseName: string) => (at: Date) => ({
    enrollment_id: id,
    userid: u,
    courseid: c,
    course_name: courseName,
    status: 0,
    timestart: unix(new Date('2025-09-15T00:00:00Z')),
    timeend: 0,
    timecreated: unix(at),
  });
  const enrollmentFields = (name: string, s: { name: string; id: string }, c: { name: string; id: string }, courseId: string): Json => ({
    Name: name,
    Student: s,
    Class: c,
    Moodle_Course_ID: courseId,
    Start_Date: '2025-09-15',
    End_Date: '2026-06-30',
    Status: 'Active',
  });
  moodle('user_enrolment_created', 'A-C1', 'Enrollment', moodleEnrolment(enrolment.AC1, user.A, course.C1, C1.name), 'CREATED');
  zoho('BTEC_Enrollments', 'A-C1', enrollment.AC1, enrollmentFields('ENR-CVG-A1', SA, C1, course.C1), 'UPDATED');
  zoho('BTEC_Enrollments', 'A-C2', enrollment.AC2, enrollmentFields('ENR-CVG-A2', SA, C2, course.C2), 'CREATED');
  moodle('user_enrolment_created', 'A-C2', 'Enrollment', moodleEnrolment(enrolment.AC2, user.A, course.C2, C2.name), 'UPDATED');
  zoho('BTEC_Enrollments', 'B-C1', enrollment.BC1, enrollmentFields('ENR-CVG-B1', SB, C1, course.C1), 'CREATED');
  moodle('user_enrolment_created', 'B-C1', 'Enrollment', moodleEnrolment(enrolment.BC1, user.B, course.C1, C1.name), 'UPDATED', 'moodle-mutation');
  moodle('user_enrolment_created', 'C-C2', 'Enrollment', moodleEnrolment(enrolment.CC2, user.C, course.C2, C2.name), 'CREATED');
  zoho('BTEC_Enrollments', 'C-C2', enrollment.CC2, enrollmentFields('ENR-CVG-C2', SC, C2, course.C2), 'CREATED');
  moodle('user_enrolment_created', 'D-C1', 'Enrollment', moodleEnrolment(enrolment.DC1, user.D, course.C1, C1.name), 'CREATED');
  // A Moodle sandbox course that Zoho does not know: parked for good, in any order.
  moodle('user_enrolment_created', 'D-sandbox', 'Enrollment', moodleEnrolment(enrolment.DX, user.D, course.X, 'Moodle sandbox'), 'PARKED');

  // C's Zoho record now carries the Moodle id: C's two rows become one.
  zoho('BTEC_Students', 'C', student.C, cFields('chen.wei2@college.example', user.C), 'UPDATED', { label: 'zoho BTEC_Students C v2 (Student_Moodle_ID added: merge)' });

  // Payments
  const paymentFields = (name: string, s: { name: string; id: string }, r: { name: string; id: string }, amount: string | number, due: string, extra: Json = {}): Json => ({
    Name: name,
    Student: s,
    Registration: r,
    Amount: amount,
    Currency: 'GBP',
    Due_Date: due,
    Payment_Date: null,
    Status: 'Pending',
    Payment_Method: null,
    Receipt_Number: null,
    ...extra,
  });
  zoho('BTEC_Payments', 'PA1', payment.PA1, paymentFields('PAY-CVG-A1', SA, RA, '3000.00', '2025-09-30'), 'CREATED');
  zoho('BTEC_Payments', 'PA2', payment.PA2, paymentFields('PAY-CVG-A2', SA, RA, '3000.00', '2099-01-31'), 'CREATED');
  zoho('BTEC_Payments', 'PA3', payment.PA3, paymentFields('PAY-CVG-A3', SA, RA, 250, '2099-03-31'), 'CREATED', { label: 'zoho BTEC_Payments PA3 v1 (entered by mistake)' });
  zoho('BTEC_Payments', 'PB1', payment.PB1, paymentFields('PAY-CVG-B1', SB, RB, '4500.00', '2025-10-31'), 'CREATED');
  zoho(
    'BTEC_Payments',
    'PC1',
    payment.PC1,
    paymentFields('PAY-CVG-C1', SC, RC, '8500.00', '2025-09-30', { Status: 'Paid', Payment_Date: '2025-09-20', Payment_Method: 'Card', Receipt_Number: 'RCP-CVG-C1' }),
    'CREATED',
  );

  // Requests (through the GraphQL mutation, as an integration would)
  const requestFields = (name: string, s: { name: string; id: string }, type: string, subject: string, extra: Json = {}): Json => ({
    Name: name,
    Student: s,
    Request_Type: type,
    Subject: subject,
    Description: `${subject}, please.`,
    Status: 'Submitted',
    Submitted_Date: '2026-01-05T10:00:00+03:00',
    Resolved_Date: null,
    Response: null,
    ...extra,
  });
  zoho('BTEC_Requests', 'QA1', request.QA1, requestFields('REQ-CVG-A1', SA, 'Transcript', 'Official transcript'), 'CREATED', { channel: 'zoho-mutation' });
  zoho('BTEC_Requests', 'QA2', request.QA2, requestFields('REQ-CVG-A2', SA, 'Leave of Absence', 'Two weeks leave'), 'CREATED', { channel: 'zoho-mutation' });
  zoho('BTEC_Requests', 'QB1', request.QB1, requestFields('REQ-CVG-B1', SB, 'Certificate', 'Enrolment certificate'), 'CREATED');

  // Grades: Moodle marks first, the Zoho grade (synced from Moodle) after
  const outcomes = (rows: [code: string, title: string, score: string, achieved: number][]) =>
    rows.map(([code, description, score, achieved]) => ({ code, description, score, feedback: `${code}: ${achieved ? 'met' : 'not yet met'}`, achieved }));
  const zohoOutcomes = (rows: [code: string, title: string, score: string][]) =>
    rows.map(([code, title, score]) => ({ LO_Code: code, LO_Title: title, LO_Definition: `${title} (definition)`, LO_Score: score, LO_Feedback: `${code} assessed` }));
  const submission = (u: string, a: string, c: string, name: string, finalgrade: number, extra: Json) => (at: Date) => ({
    student_id: u,
    assignment_id: a,
    course_id: c,
    assignment_name: name,
    finalgrade,
    grademax: 20,
    grademin: 0,
    timemodified: unix(at),
    ...extra,
  });
  const gradeFields = (g: Json): Json => ({
    Grader_Name: T1.name,
    Grader_Moodle_ID: teacherUser.T1,
    IV_Name: null,
    IV_Moodle_ID: null,
    Grade_Status: 'Published',
    ...g,
  });

  moodle(
    'submission_graded',
    'A-asg1',
    'Grade',
    submission(user.A, assignment.asg1, course.C1, 'Assignment 1: Algorithms', 7, {
      attempt_number: 1,
      grader_id: teacherUser.T1,
      grader_name: 'Omar K.',
      grader_role: 'teacher',
      feedback: 'Algorithms are incomplete.',
      learning_outcomes: outcomes([['A.P1', 'Explain algorithms', 'Refer', 0], ['A.P2', 'Implement an algorithm', 'Pass', 1]]),
    }),
    'CREATED',
  );
  zoho(
    'BTEC_Grades',
    'GA1',
    grade.GA1,
    gradeFields({
      Name: 'GRD-CVG-A1',
      Assignment_Name: 'Assignment 1: Algorithms',
      Student: SA,
      Unit: U1,
      Class: C1,
      Grade: 'Refer',
      Score: 35,
      Moodle_Grade_ID: moodleGrade.Aasg1,
      Moodle_Grade_Composite_Key: `${user.A}_${assignment.asg1}`,
      Attempt_Number: 1,
      Attempt_Date: '2026-01-05T12:00:00+03:00',
      Feedback: 'Algorithms are incomplete.',
      Learning_Outcomes_Assessm: zohoOutcomes([['A.P1', 'Explain algorithms', 'Refer'], ['A.P2', 'Implement an algorithm', 'Pass']]),
    }),
    'UPDATED',
  );
  moodle(
    'user_graded',
    'A-quiz',
    'Grade',
    (at) => ({ grade_id: moodleGrade.Aquiz, userid: user.A, itemid: quiz, item_name: 'Quiz 1: Syntax', courseid: course.C1, finalgrade: 12, grademax: 20, grademin: 0, timemodified: unix(at) }),
    'CREATED',
    'moodle-mutation',
  );
  moodle(
    'submission_graded',
    'B-asg1',
    'Grade',
    submission(user.B, assignment.asg1, course.C1, 'Assignment 1: Algorithms', 15, {
      attempt_number: 1,
      grader_id: teacherUser.T1,
      grader_name: 'Omar K.',
      grader_role: 'teacher',
      feedback: 'Excellent.',
      learning_outcomes: outcomes([['A.P1', 'Explain algorithms', 'Distinction', 1], ['A.D1', 'Evaluate efficiency', 'Distinction', 1]]),
    }),
    'CREATED',
  );
  zoho(
    'BTEC_Grades',
    'GB1',
    grade.GB1,
    gradeFields({
      Name: 'GRD-CVG-B1',
      Assignment_Name: 'Assignment 1: Algorithms',
      Student: SB,
      Unit: U1,
      Class: C1,
      Grade: 'D',
      Score: '75',
      Moodle_Grade_ID: moodleGrade.Basg1,
      Moodle_Grade_Composite_Key: `${user.B}_${assignment.asg1}`,
      Attempt_Number: 1,
      Attempt_Date: '2026-01-05T13:00:00+03:00',
      Feedback: 'Excellent.',
      Learning_Outcomes_Assessm: zohoOutcomes([['A.P1', 'Explain algorithms', 'D'], ['A.D1', 'Evaluate efficiency', 'D']]),
    }),
    'UPDATED',
  );
  zoho(
    'BTEC_Grades',
    'GB2',
    grade.GB2,
    gradeFields({
      Name: 'GRD-CVG-B2',
      Assignment_Name: 'Cyber Security practical (paper based)',
      Student: SB,
      Unit: U3,
      Class: null,
      Grade: 'Pass',
      Score: 52,
      Moodle_Grade_ID: null,
      Moodle_Grade_Composite_Key: null,
      Attempt_Number: 1,
      Attempt_Date: '2026-01-05',
      Feedback: 'Paper-based assessment.',
      Learning_Outcomes_Assessm: zohoOutcomes([['B.P3', 'Identify threats', 'P']]),
    }),
    'CREATED',
  );
  moodle(
    'submission_graded',
    'C-asg2',
    'Grade',
    submission(user.C, assignment.asg2, course.C2, 'Assignment 2: Subnetting', 13, {
      attempt_number: 1,
      grader_id: teacherUser.T2,
      grader_name: 'Ruth V.',
      grader_role: 'teacher',
      feedback: 'Good subnetting.',
      learning_outcomes: outcomes([['B.P3', 'Design a network', 'Merit', 1]]),
    }),
    'CREATED',
  );
  zoho(
    'BTEC_Grades',
    'GC1',
    grade.GC1,
    gradeFields({
      Name: 'GRD-CVG-C1',
      Assignment_Name: 'Assignment 2: Subnetting',
      Student: SC,
      Unit: U2,
      Class: C2,
      Grade: 'Merit',
      Score: 65,
      Moodle_Grade_ID: null,
      Moodle_Grade_Composite_Key: `${user.C}_${assignment.asg2}`,
      Attempt_Number: 1,
      Attempt_Date: '2026-01-05T15:00:00+03:00',
      Grader_Name: T2.name,
      Grader_Moodle_ID: teacherUser.T2,
      Feedback: 'Good subnetting.',
      Learning_Outcomes_Assessm: zohoOutcomes([['B.P3', 'Design a network', 'M'], ['B.M2', 'Justify the design', 'M']]),
    }),
    'UPDATED',
  );
  moodle(
    'submission_graded',
    'D-asg1',
    'Grade',
    submission(user.D, assignment.asg1, course.C1, 'Assignment 1: Algorithms', 9, {
      attempt_number: 1,
      grader_id: teacherUser.T1,
      grader_name: 'Omar K.',
      grader_role: 'teacher',
      feedback: 'Just a pass.',
      learning_outcomes: outcomes([['A.P1', 'Explain algorithms', 'Pass', 1], ['A.P2', 'Implement an algorithm', 'Refer', 0]]),
    }),
    'CREATED',
  );
  moodle(
    'user_graded',
    'D-quiz',
    'Grade',
    (at) => ({ grade_id: moodleGrade.Dquiz, userid: user.D, itemid: quiz, item_name: 'Quiz 1: Syntax', courseid: course.C1, finalgrade: 6.5, grademax: 20, grademin: 0, timemodified: unix(at) }),
    'CREATED',
  );
  // A grade in the sandbox course: waits for a class Zoho never sends.
  moodle(
    'user_graded',
    'D-sandbox',
    'Grade',
    (at) => ({ grade_id: moodleGrade.Dsandbox, userid: user.D, itemid: ids.moodle('item', 'sandbox-quiz'), item_name: 'Sandbox quiz', courseid: course.X, finalgrade: 10, grademax: 10, grademin: 0, timemodified: unix(at) }),
    'PARKED',
  );

  // ---------------------------------------------------------------------------------------
  // Updates, corrections and deletes

  zoho(
    'BTEC_Payments',
    'PA1',
    payment.PA1,
    paymentFields('PAY-CVG-A1', SA, RA, '3000.00', '2025-09-30', { Status: 'Paid', Payment_Date: '2025-09-28', Payment_Method: 'Bank Transfer', Receipt_Number: 'RCP-CVG-A1' }),
    'UPDATED',
    { label: 'zoho BTEC_Payments PA1 v2 (Paid)' },
  );
  zoho('BTEC_Requests', 'QA1', request.QA1, requestFields('REQ-CVG-A1', SA, 'Transcript', 'Official transcript', { Status: 'In Review' }), 'UPDATED', { label: 'zoho BTEC_Requests QA1 v2 (In Review)' });
  zoho('BTEC_Payments', 'PA3', payment.PA3, {}, 'DELETED', { operation: 'delete', label: 'zoho BTEC_Payments PA3 (delete)' });
  zoho('BTEC_Requests', 'QA2', request.QA2, {}, 'DELETED', { operation: 'delete', channel: 'zoho-mutation', label: 'zoho BTEC_Requests QA2 (delete)' });
  zoho('BTEC_Payments', 'PB1', payment.PB1, paymentFields('PAY-CVG-B1', SB, RB, '4500.00', '2025-10-31', { Status: 'Overdue' }), 'UPDATED', { label: 'zoho BTEC_Payments PB1 v2 (Overdue)' });
  // The corrected grade: Moodle re-marks (attempt 2), the IV signs it off, Zoho follows.
  moodle(
    'submission_graded',
    'A-asg1',
    'Grade',
    submission(user.A, assignment.asg1, course.C1, 'Assignment 1: Algorithms', 11, {
      attempt_number: 2,
      grader_id: teacherUser.T1,
      grader_name: 'Omar K.',
      grader_role: 'teacher',
      feedback: 'Resubmission meets the pass criteria.',
      learning_outcomes: outcomes([['A.P1', 'Explain algorithms', 'Pass', 1], ['A.P2', 'Implement an algorithm', 'Pass', 1]]),
    }),
    'UPDATED',
  );
  moodle(
    'submission_graded',
    'A-asg1',
    'Grade',
    submission(user.A, assignment.asg1, course.C1, 'Assignment 1: Algorithms', 11, {
      attempt_number: 2,
      grader_id: teacherUser.T2,
      grader_name: 'Ruth V.',
      grader_role: 'iv',
      feedback: 'Internally verified.',
      learning_outcomes: outcomes([['A.P1', 'Explain algorithms', 'Pass', 1], ['A.P2', 'Implement an algorithm', 'Pass', 1]]),
    }),
    'UPDATED',
    'moodle-mutation',
  );
  zoho(
    'BTEC_Grades',
    'GA1',
    grade.GA1,
    gradeFields({
      Name: 'GRD-CVG-A1',
      Assignment_Name: 'Assignment 1: Algorithms',
      Student: SA,
      Unit: U1,
      Class: C1,
      Grade: 'Pass',
      Score: 55,
      Moodle_Grade_ID: moodleGrade.Aasg1,
      Moodle_Grade_Composite_Key: `${user.A}_${assignment.asg1}`,
      Attempt_Number: 2,
      Attempt_Date: '2026-01-20T12:00:00+03:00',
      IV_Name: T2.name,
      IV_Moodle_ID: teacherUser.T2,
      Feedback: 'Resubmission meets the pass criteria.',
      Learning_Outcomes_Assessm: zohoOutcomes([['A.P1', 'Explain algorithms', 'Pass'], ['A.P2', 'Implement an algorithm', 'Pass'], ['A.M1', 'Compare algorithms', 'Refer']]),
    }),
    'UPDATED',
    { label: 'zoho BTEC_Grades GA1 v2 (corrected: Pass, attempt 2)' },
  );
  moodle(
    'user_graded',
    'A-quiz',
    'Grade',
    (at) => ({ grade_id: moodleGrade.Aquiz, userid: user.A, itemid: quiz, item_name: 'Quiz 1: Syntax', courseid: course.C1, finalgrade: 15, grademax: 20, grademin: 0, timemodified: unix(at) }),
    'UPDATED',
  );
  zoho(
    'BTEC_Requests',
    'QA1',
    request.QA1,
    requestFields('REQ-CVG-A1', SA, 'Transcript', 'Official transcript', { Status: 'Approved', Resolved_Date: '2026-01-21T09:30:00+03:00', Response: 'Ready for collection.' }),
    'UPDATED',
    { label: 'zoho BTEC_Requests QA1 v3 (Approved)' },
  );
  moodle(
    'user_updated',
    'D',
    'Student',
    moodleUser(user.D, 'Dana', 'Moodleonly', { email: 'dana@moodle.example', phone1: '0790 444 444', city: 'Aqaba', country: 'JO', suspended: 1 }),
    'UPDATED',
  );
  // Moodle profile edits of a Zoho-owned student change nothing but Moodle's bookkeeping.
  moodle('user_updated', 'A', 'Student', moodleUser(user.A, 'Amira', 'Saleh', { email: 'amira.new@moodle.example', phone1: '0790 999 999', city: 'Irbid', country: 'JO' }), 'UPDATED');
  zoho(
    'BTEC_Students',
    'A',
    student.A,
    studentFields('STU-CVG-A', 'Amira', 'Saleh', { Academic_Email: 'amira.saleh@college.example', Phone_Number: '+962 790 555 555', City: 'Amman', Country: 'Jordan', Student_Moodle_ID: user.A }),
    'UPDATED',
    { label: 'zoho BTEC_Students A v2 (new phone)' },
  );
  zoho('BTEC_Registrations', 'RA', registration.A, registrationFields(SA, RA.name, '9500.00'), 'UPDATED', { label: 'zoho BTEC_Registrations RA v2 (fees 9500)' });

  // Suspended for unpaid fees, then reactivated: the last version equals an earlier one.
  zoho('BTEC_Students', 'C', student.C, { ...cFields('chen.wei2@college.example', user.C), Status: 'Suspended' }, 'UPDATED', { label: 'zoho BTEC_Students C v3 (Suspended)' });
  zoho('BTEC_Students', 'C', student.C, cFields('chen.wei2@college.example', user.C), 'UPDATED', { label: 'zoho BTEC_Students C v4 (Active again: same as v2)' });
  moodle('user_updated', 'D', 'Student', moodleUser(user.D, 'Dana', 'Moodleonly', { email: 'dana@moodle.example', phone1: '0790 444 444', city: 'Zarqa', country: 'JO' }), 'UPDATED');

  // QA2 comes back from Zoho's recycle bin (rejected), then is deleted again.
  zoho('BTEC_Requests', 'QA2', request.QA2, requestFields('REQ-CVG-A2', SA, 'Leave of Absence', 'Two weeks leave', { Status: 'Rejected', Resolved_Date: '2026-01-22T10:00:00+03:00', Response: 'Not during assessments.' }), 'UPDATED', {
    operation: 'insert',
    label: 'zoho BTEC_Requests QA2 v3 (restored from the recycle bin: Rejected)',
  });
  zoho('BTEC_Requests', 'QA2', request.QA2, {}, 'DELETED', { operation: 'delete', label: 'zoho BTEC_Requests QA2 (deleted again)' });
  // B's grade GB1 is withdrawn in Zoho (misconduct review); the teacher then re-marks in Moodle.
  // Zoho, the system of record, deleted it: Moodle's later mark does not bring it back.
  zoho('BTEC_Grades', 'GB1', grade.GB1, {}, 'DELETED', { operation: 'delete', label: 'zoho BTEC_Grades GB1 (delete: withdrawn)' });
  moodle(
    'submission_graded',
    'B-asg1',
    'Grade',
    submission(user.B, assignment.asg1, course.C1, 'Assignment 1: Algorithms', 12, {
      attempt_number: 2,
      grader_id: teacherUser.T1,
      grader_name: 'Omar K.',
      grader_role: 'teacher',
      feedback: 'Re-marked.',
      learning_outcomes: outcomes([['A.P1', 'Explain algorithms', 'Merit', 1]]),
    }),
    'UPDATED',
  );
  // B graduates in Zoho; Moodle's clean-up then deletes B's account. Zoho keeps the student.
  zoho(
    'BTEC_Students',
    'B',
    student.B,
    studentFields('STU-CVG-B', 'Ben', 'Carter', { Status: 'Graduated', Academic_Email: 'ben.carter@college.example', Phone_Number: '+44 7700 222 222', City: 'Leeds', Country: 'United Kingdom', Student_Moodle_ID: user.B }),
    'UPDATED',
    { label: 'zoho BTEC_Students B v2 (Graduated)' },
  );
  moodle('user_updated', 'B', 'Student', moodleUser(user.B, 'Ben', 'Carter', { email: 'ben@moodle.example', deleted: 1, suspended: 1 }), 'UNCHANGED');
  zoho(
    'BTEC_Students',
    'B',
    student.B,
    studentFields('STU-CVG-B', 'Ben', 'Carter', { Status: 'Graduated', Academic_Email: 'ben.carter@alumni.college.example', Phone_Number: '+44 7700 222 222', City: 'Leeds', Country: 'United Kingdom', Student_Moodle_ID: user.B }),
    'UPDATED',
    { label: 'zoho BTEC_Students B v3 (alumni email)' },
  );

  return {
    ns,
    deliveries,
    students: [
      { name: 'A', moodleUserId: user.A },
      { name: 'B', moodleUserId: user.B },
      { name: 'C', moodleUserId: user.C },
      { name: 'D', moodleUserId: user.D },
    ],
    zohoPrefix: ids.zohoPrefix,
    moodlePrefix: ids.moodlePrefix,
    canonical: (value) => ids.canonical(value),
    replayOf(delivery, recordIndex, tag) {
      const rv = delivery.records[recordIndex]!;
      const body = delivery.body;
      if (delivery.channel.startsWith('moodle')) {
        return { label: `${delivery.label} replayed (${tag})`, channel: delivery.channel, body: { ...body, event_id: `${String(body.event_id)}-replay-${tag}` }, records: [rv] };
      }
      const bulk = Array.isArray(body.data);
      const data = (bulk ? (body.data as Json[])[recordIndex] : body.data) as Json;
      return {
        label: `${delivery.label}${bulk ? ` [${rv.chain}]` : ''} replayed (${tag})`,
        channel: 'zoho-webhook',
        body: {
          notification_id: `wf-replay-${pad(ns, 5)}-${tag}`,
          timestamp: zohoTime(new Date(rv.at.getTime() + 4_000)),
          module: body.module,
          operation: bulk ? 'update' : body.operation,
          record_id: data.id,
          data,
        },
        records: [rv],
      };
    },
    expectedParked: [
      'user_enrolment_created awaiting Class:moodleCourseId:<m:course:sandbox>',
      'user_graded awaiting Class:moodleCourseId:<m:course:sandbox>',
    ],
  };
}
