import { describe, expect, it } from 'vitest';
import { IngestInputError } from '../../src/ingest/record.js';
import {
  ZOHO_MODULES,
  isZohoModule,
  parseZohoOperation,
  parseZohoRecord,
} from '../../src/ingest/zoho-records.js';

const upsert = { operation: 'upsert' } as const;
const MODIFIED = '2026-02-13T10:30:11+03:00';
const MODIFIED_UTC = new Date('2026-02-13T07:30:11.000Z');
const day = (yyyyMmDd: string) => new Date(`${yyyyMmDd}T00:00:00.000Z`);

/** The IngestInputError message thrown by `fn`. */
function inputErrorOf(fn: () => unknown): IngestInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(IngestInputError);
    return error as IngestInputError;
  }
  throw new Error('expected an IngestInputError');
}

describe('ZOHO_MODULES / isZohoModule', () => {
  it('lists the ten BTEC modules', () => {
    expect(ZOHO_MODULES).toHaveLength(10);
    expect(ZOHO_MODULES.every(isZohoModule)).toBe(true);
  });

  it('rejects anything else', () => {
    expect(isZohoModule('Contacts')).toBe(false);
    expect(isZohoModule('btec_students')).toBe(false);
    expect(isZohoModule(undefined)).toBe(false);
  });
});

describe('parseZohoOperation', () => {
  it.each([
    ['insert', 'upsert'],
    ['INSERT', 'upsert'],
    ['update', 'upsert'],
    ['Update', 'upsert'],
    ['create', 'upsert'],
    ['edit', 'upsert'],
    ['upsert', 'upsert'],
    ['delete', 'delete'],
    ['DELETE', 'delete'],
  ])('%s → %s', (op, expected) => {
    expect(parseZohoOperation(op)).toBe(expected);
  });

  it.each(['remove', '', null, 3])('rejects %j', (op) => {
    expect(inputErrorOf(() => parseZohoOperation(op)).message).toMatch(
      /^Zoho event\.operation: expected insert, update, delete \(or create, edit, upsert\), got /,
    );
  });
});

describe('parseZohoRecord: every module', () => {
  it('BTEC_Students (the FORMATS.md record event)', () => {
    const record = parseZohoRecord(
      'BTEC_Students',
      {
        id: '5398830000123456',
        Name: 'STU-0042',
        Full_Name: 'Lina Haddad',
        First_Name: 'Lina',
        Last_Name: 'Haddad',
        Academic_Email: 'lina.haddad@college.example',
        Phone_Number: '+962 7 9555 0142',
        City: 'Amman',
        Country: 'Jordan',
        Student_Moodle_ID: '00042',
        Status: 'Active',
        Created_Time: '2025-09-01T08:00:00+03:00',
        Modified_Time: MODIFIED,
      },
      { operation: 'upsert', recordId: '5398830000123456', timestamp: new Date('2026-02-13T07:30:15Z') },
    );
    expect(record).toEqual({
      source: 'ZOHO',
      module: 'BTEC_Students',
      entity: 'Student',
      operation: 'upsert',
      keys: { zohoId: '5398830000123456', moodleUserId: '00042' },
      modifiedAt: MODIFIED_UTC,
      fields: {
        studentNumber: 'STU-0042',
        fullName: 'Lina Haddad',
        firstName: 'Lina',
        lastName: 'Haddad',
        email: 'lina.haddad@college.example',
        phone: '+962 7 9555 0142',
        city: 'Amman',
        country: 'Jordan',
        status: 'ACTIVE',
      },
      refs: {},
    });
    expect(record.learningOutcomes).toBeUndefined();
  });

  it('BTEC_Teachers', () => {
    const record = parseZohoRecord(
      'BTEC_Teachers',
      {
        id: '5398830000200001',
        Name: 'Omar Khalil',
        Full_Name: 'Dr. Omar Khalil',
        Email: 'o.khalil@college.example',
        Teacher_Moodle_ID: '1207',
        Status: 'Active',
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.entity).toBe('Teacher');
    expect(record.keys).toEqual({ zohoId: '5398830000200001', moodleUserId: '1207' });
    expect(record.fields).toEqual({
      name: 'Omar Khalil',
      fullName: 'Dr. Omar Khalil',
      email: 'o.khalil@college.example',
      status: 'Active',
    });
  });

  it('BTEC_Programs', () => {
    const record = parseZohoRecord(
      'BTEC_Programs',
      {
        id: '5398830000300001',
        Name: 'BTEC Level 5 HND in Computing',
        Program_Code: 'HND-COMP',
        Level: 'Level 5',
        Duration_Months: 24,
        Status: 'Active',
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record).toMatchObject({ entity: 'Program', keys: { zohoId: '5398830000300001' }, refs: {} });
    expect(record.fields).toEqual({
      name: 'BTEC Level 5 HND in Computing',
      code: 'HND-COMP',
      level: 'Level 5',
      durationMonths: 24,
      status: 'Active',
    });
  });

  it('BTEC_Units', () => {
    const record = parseZohoRecord(
      'BTEC_Units',
      {
        id: '5398830000400001',
        Name: 'Programming',
        Unit_Code: 'U1',
        Credits: 15,
        Level: 4,
        Program: { name: 'BTEC Level 5 HND in Computing', id: '5398830000300001' },
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.entity).toBe('Unit');
    expect(record.fields).toEqual({ name: 'Programming', code: 'U1', credits: 15, level: '4' });
    expect(record.refs).toEqual({ programId: { entity: 'Program', key: 'zohoId', value: '5398830000300001' } });
  });

  it('BTEC_Classes', () => {
    const record = parseZohoRecord(
      'BTEC_Classes',
      {
        id: '5398830000500001',
        Name: 'Programming — Group A',
        Class_Code: 'U1-A-2026',
        Moodle_Class_ID: '7',
        Unit: { name: 'Programming', id: '5398830000400001' },
        Program: { name: 'BTEC Level 5 HND in Computing', id: '5398830000300001' },
        Teacher: { name: 'Omar Khalil', id: '5398830000200001' },
        Start_Date: '2026-01-12',
        End_Date: '2026-05-29',
        Schedule: 'Mon/Wed 09:00–12:00',
        Status: 'Running',
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.keys).toEqual({ zohoId: '5398830000500001', moodleCourseId: '7' });
    expect(record.fields).toEqual({
      name: 'Programming — Group A',
      code: 'U1-A-2026',
      startDate: day('2026-01-12'),
      endDate: day('2026-05-29'),
      schedule: 'Mon/Wed 09:00–12:00',
      status: 'Running',
    });
    expect(record.refs).toEqual({
      unitId: { entity: 'Unit', key: 'zohoId', value: '5398830000400001' },
      programId: { entity: 'Program', key: 'zohoId', value: '5398830000300001' },
      teacherId: { entity: 'Teacher', key: 'zohoId', value: '5398830000200001' },
    });
  });

  it('BTEC_Enrollments', () => {
    const record = parseZohoRecord(
      'BTEC_Enrollments',
      {
        id: '5398830000600001',
        Name: 'ENR-0042-U1',
        Student: { name: 'Lina Haddad', id: '5398830000123456' },
        Class: { name: 'Programming — Group A', id: '5398830000500001' },
        Moodle_Course_ID: '7',
        Start_Date: '2026-01-12',
        End_Date: null,
        Status: 'Active',
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.entity).toBe('Enrollment');
    expect(record.fields).toEqual({ name: 'ENR-0042-U1', status: 'Active', startDate: day('2026-01-12'), endDate: null });
    expect(record.refs).toEqual({
      studentId: { entity: 'Student', key: 'zohoId', value: '5398830000123456' },
      classId: { entity: 'Class', key: 'zohoId', value: '5398830000500001' },
    });
  });

  it('BTEC_Enrollments without a Class lookup links the class by Moodle_Course_ID', () => {
    const record = parseZohoRecord(
      'BTEC_Enrollments',
      { id: '5398830000600002', Student: '5398830000123456', Moodle_Course_ID: 7, Status: 'Active' },
      upsert,
    );
    expect(record.refs.classId).toEqual({ entity: 'Class', key: 'moodleCourseId', value: '7' });
  });

  it('BTEC_Registrations', () => {
    const record = parseZohoRecord(
      'BTEC_Registrations',
      {
        id: '5398830000700001',
        Name: 'REG-0042',
        Student: { name: 'Lina Haddad', id: '5398830000123456' },
        Program: { name: 'BTEC Level 5 HND in Computing', id: '5398830000300001' },
        Registration_Date: '2025-08-20',
        Start_Date: '2025-09-01',
        End_Date: '2027-06-30',
        Status: 'Active',
        Total_Fees: '4500.00',
        Currency: 'JOD',
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.entity).toBe('Registration');
    expect(record.fields).toEqual({
      name: 'REG-0042',
      status: 'Active',
      registrationDate: day('2025-08-20'),
      startDate: day('2025-09-01'),
      endDate: day('2027-06-30'),
      totalFees: '4500.00',
      currency: 'JOD',
    });
    expect(record.refs).toEqual({
      studentId: { entity: 'Student', key: 'zohoId', value: '5398830000123456' },
      programId: { entity: 'Program', key: 'zohoId', value: '5398830000300001' },
    });
  });

  it('BTEC_Payments', () => {
    const record = parseZohoRecord(
      'BTEC_Payments',
      {
        id: '5398830000800001',
        Name: 'PAY-0042-01',
        Student: { name: 'Lina Haddad', id: '5398830000123456' },
        Registration: { name: 'REG-0042', id: '5398830000700001' },
        Amount: 1500,
        Currency: 'JOD',
        Due_Date: '2026-03-01',
        Payment_Date: '2026-02-27',
        Status: 'Paid',
        Payment_Method: 'Bank Transfer',
        Receipt_Number: 'RCPT-99812',
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.entity).toBe('Payment');
    expect(record.fields).toEqual({
      name: 'PAY-0042-01',
      amount: '1500.00',
      currency: 'JOD',
      dueDate: day('2026-03-01'),
      paidAt: day('2026-02-27'),
      status: 'PAID',
      method: 'Bank Transfer',
      reference: 'RCPT-99812',
    });
    expect(record.refs).toEqual({
      studentId: { entity: 'Student', key: 'zohoId', value: '5398830000123456' },
      registrationId: { entity: 'Registration', key: 'zohoId', value: '5398830000700001' },
    });
  });

  it('BTEC_Requests', () => {
    const record = parseZohoRecord(
      'BTEC_Requests',
      {
        id: '5398830000900001',
        Name: 'REQ-0042-03',
        Student: { name: 'Lina Haddad', id: '5398830000123456' },
        Request_Type: 'Assessment Extension',
        Subject: 'Extension for Unit 1 assignment 2',
        Description: 'Medical certificate attached.',
        Status: 'In Review',
        Submitted_Date: '2026-02-10T09:15:00+03:00',
        Resolved_Date: null,
        Response: null,
        Modified_Time: MODIFIED,
      },
      upsert,
    );
    expect(record.entity).toBe('StudentRequest');
    expect(record.fields).toEqual({
      name: 'REQ-0042-03',
      type: 'Assessment Extension',
      subject: 'Extension for Unit 1 assignment 2',
      description: 'Medical certificate attached.',
      status: 'IN_REVIEW',
      submittedAt: new Date('2026-02-10T06:15:00Z'),
      resolvedAt: null,
      response: null,
    });
    expect(record.refs).toEqual({ studentId: { entity: 'Student', key: 'zohoId', value: '5398830000123456' } });
  });

  it('BTEC_Grades with learning outcomes', () => {
    const record = parseZohoRecord(
      'BTEC_Grades',
      {
        id: '5725767000003000064',
        Name: 'GRD-0042-U1-A1',
        Student: { name: 'Lina Haddad', id: '5398830000123456' },
        Unit: { name: 'Programming', id: '5398830000400001' },
        Class: { name: 'Programming — Group A', id: '5398830000500001' },
        Grade: 'Merit',
        Score: '65',
        Moodle_Grade_ID: '812',
        Moodle_Grade_Composite_Key: '00042_55',
        Attempt_Number: '1',
        Attempt_Date: '2026-02-12',
        Grader_Name: 'Omar Khalil',
        Grader_Moodle_ID: '1207',
        IV_Name: 'Sara Nasser',
        IV_Moodle_ID: 1301,
        Feedback: 'Good algorithm design; tests incomplete.',
        Grade_Status: 'Verified',
        Modified_Time: MODIFIED,
        Learning_Outcomes_Assessm: [
          {
            id: '5725767000003000100',
            LO_Code: 'A.P1',
            LO_Title: 'Define basic algorithms',
            LO_Definition: 'Provide a definition of what an algorithm is',
            LO_Score: 'P',
            LO_Feedback: 'Clear definitions.',
          },
          { LO_Code: 'A.M1', LO_Title: 'Analyse the process', LO_Score: 'M', LO_Feedback: null },
          { LO_Code: 'AB.D1', LO_Title: 'Evaluate', LO_Score: 'Not Achieved' },
          { LO_Code: null, LO_Title: null, LO_Score: null },
        ],
      },
      upsert,
    );
    expect(record.entity).toBe('Grade');
    expect(record.keys).toEqual({ zohoId: '5725767000003000064', compositeKey: '00042_55' });
    expect(record.fields).toEqual({
      name: 'GRD-0042-U1-A1',
      assignmentName: 'GRD-0042-U1-A1',
      score: 65,
      btecGrade: 'MERIT',
      attemptNumber: 1,
      gradedAt: day('2026-02-12'),
      graderName: 'Omar Khalil',
      graderMoodleId: '1207',
      internalVerifierName: 'Sara Nasser',
      internalVerifierMoodleId: '1301',
      feedback: 'Good algorithm design; tests incomplete.',
      gradeStatus: 'Verified',
      moodleGradeId: '812',
    });
    expect(record.refs).toEqual({
      studentId: { entity: 'Student', key: 'zohoId', value: '5398830000123456' },
      unitId: { entity: 'Unit', key: 'zohoId', value: '5398830000400001' },
      classId: { entity: 'Class', key: 'zohoId', value: '5398830000500001' },
    });
    expect(record.learningOutcomes).toEqual([
      {
        code: 'A.P1',
        title: 'Define basic algorithms',
        definition: 'Provide a definition of what an algorithm is',
        score: 'P',
        feedback: 'Clear definitions.',
        achieved: true,
      },
      { code: 'A.M1', title: 'Analyse the process', definition: null, score: 'M', feedback: null, achieved: true },
      { code: 'AB.D1', title: 'Evaluate', definition: null, score: 'Not Achieved', feedback: null, achieved: false },
    ]);
  });
});

describe('parseZohoRecord: keys and modifiedAt', () => {
  it('keeps leading zeros of Student_Moodle_ID and accepts it as a number', () => {
    expect(parseZohoRecord('BTEC_Students', { id: '1', Student_Moodle_ID: '00042' }, upsert).keys.moodleUserId).toBe('00042');
    expect(parseZohoRecord('BTEC_Students', { id: '1', Student_Moodle_ID: 42 }, upsert).keys.moodleUserId).toBe('42');
    expect(parseZohoRecord('BTEC_Students', { id: '1', Student_Moodle_ID: null }, upsert).keys).toEqual({ zohoId: '1' });
  });

  it('does not repeat keys in fields', () => {
    const record = parseZohoRecord('BTEC_Classes', { id: '1', Name: 'C', Moodle_Class_ID: '7' }, upsert);
    expect(record.fields).toEqual({ name: 'C' });
  });

  it('keys a Zoho-only grade as zoho_<id>', () => {
    expect(parseZohoRecord('BTEC_Grades', { id: '5725767000003000071', Score: 55 }, upsert).keys).toEqual({
      zohoId: '5725767000003000071',
      compositeKey: 'zoho_5725767000003000071',
    });
  });

  it('uses Modified_Time, else the event timestamp, else null', () => {
    const timestamp = new Date('2026-02-13T07:30:15Z');
    expect(parseZohoRecord('BTEC_Units', { id: '1', Modified_Time: MODIFIED }, { ...upsert, timestamp }).modifiedAt).toEqual(
      MODIFIED_UTC,
    );
    expect(parseZohoRecord('BTEC_Units', { id: '1' }, { ...upsert, timestamp }).modifiedAt).toEqual(timestamp);
    expect(parseZohoRecord('BTEC_Units', { id: '1' }, upsert).modifiedAt).toBeNull();
  });

  it('falls back to record_id when data has no id, and rejects a mismatch', () => {
    expect(parseZohoRecord('BTEC_Units', { Name: 'U' }, { ...upsert, recordId: '77' }).keys).toEqual({ zohoId: '77' });
    expect(inputErrorOf(() => parseZohoRecord('BTEC_Units', { id: '78' }, { ...upsert, recordId: '77' })).message).toBe(
      'BTEC_Units.id: expected the event\'s record_id "77", got "78"',
    );
  });
});

describe('parseZohoRecord: deletes', () => {
  it('needs no data: the key comes from recordId', () => {
    const timestamp = new Date('2026-02-13T07:30:15Z');
    for (const data of [null, undefined]) {
      expect(
        parseZohoRecord('BTEC_Payments', data, { operation: 'delete', recordId: '5398830000800001', timestamp }),
      ).toEqual({
        source: 'ZOHO',
        module: 'BTEC_Payments',
        entity: 'Payment',
        operation: 'delete',
        keys: { zohoId: '5398830000800001' },
        modifiedAt: timestamp,
        fields: {},
        refs: {},
      });
    }
  });

  it('reads only id and Modified_Time from data when sent', () => {
    const record = parseZohoRecord(
      'BTEC_Students',
      { id: '5398830000123456', Status: 'Nonsense', Student_Moodle_ID: '00042', Modified_Time: MODIFIED },
      { operation: 'delete' },
    );
    expect(record).toMatchObject({ operation: 'delete', keys: { zohoId: '5398830000123456' }, modifiedAt: MODIFIED_UTC, fields: {} });
  });

  it('fails without any id', () => {
    expect(inputErrorOf(() => parseZohoRecord('BTEC_Grades', null, { operation: 'delete' })).message).toBe(
      'BTEC_Grades.id: expected a non-empty Zoho record id, got nothing',
    );
  });
});

describe('parseZohoRecord: tolerated variants (✱)', () => {
  it('accepts the id as a safe integer', () => {
    expect(parseZohoRecord('BTEC_Units', { id: 5398830000123456 }, upsert).keys.zohoId).toBe('5398830000123456');
  });

  it('accepts field names in space form', () => {
    const record = parseZohoRecord(
      'BTEC_Students',
      {
        id: '1',
        'Full Name': 'Lina Haddad',
        'Academic Email': 'lina@college.example',
        'Phone Number': '0790000000',
        'Student Moodle ID': '00042',
      },
      upsert,
    );
    expect(record.keys.moodleUserId).toBe('00042');
    expect(record.fields).toEqual({ fullName: 'Lina Haddad', email: 'lina@college.example', phone: '0790000000' });
  });

  it('builds a student fullName from First_Name + Last_Name, never from Name (the student number)', () => {
    const record = parseZohoRecord('BTEC_Students', { id: '1', Name: 'STU-0042', First_Name: 'Lina', Last_Name: 'Haddad' }, upsert);
    expect(record.fields).toMatchObject({ fullName: 'Lina Haddad', studentNumber: 'STU-0042' });
    expect(parseZohoRecord('BTEC_Students', { id: '1', Full_Name: '', Last_Name: 'Haddad' }, upsert).fields.fullName).toBe('Haddad');
    expect(parseZohoRecord('BTEC_Students', { id: '1', Name: 'STU-0042' }, upsert).fields.fullName).toBeUndefined();
  });

  it('falls back to Name for a teacher fullName', () => {
    expect(parseZohoRecord('BTEC_Teachers', { id: '1', Name: 'Omar Khalil' }, upsert).fields.fullName).toBe('Omar Khalil');
  });

  it('falls back Academic_Email → Email and Phone_Number → Phone → Mobile', () => {
    const fields = (data: object) => parseZohoRecord('BTEC_Students', { id: '1', ...data }, upsert).fields;
    expect(fields({ Email: 'a@x.example' }).email).toBe('a@x.example');
    expect(fields({ Academic_Email: null, Email: 'a@x.example' }).email).toBe('a@x.example');
    expect(fields({ Academic_Email: 'b@college.example', Email: 'a@x.example' }).email).toBe('b@college.example');
    expect(fields({ Phone: '06 555 0101' }).phone).toBe('06 555 0101');
    expect(fields({ Mobile: '079 555 0101' }).phone).toBe('079 555 0101');
    expect(fields({ Phone_Number: '', Phone: null, Mobile: '079 555 0101' }).phone).toBe('079 555 0101');
    expect(fields({ Phone_Number: null, Phone: '' }).phone).toBeNull();
    expect(fields({}).phone).toBeUndefined();
  });

  it('accepts lookups as {name,id}, a bare id string or number, and null (cleared)', () => {
    const refs = (Program: unknown) => parseZohoRecord('BTEC_Units', { id: '1', Program }, upsert).refs;
    const program = { entity: 'Program', key: 'zohoId', value: '5398830000300001' };
    expect(refs({ name: 'HND', id: '5398830000300001' })).toEqual({ programId: program });
    expect(refs('5398830000300001')).toEqual({ programId: program });
    expect(refs(5398830000300001)).toEqual({ programId: program });
    expect(refs(null)).toEqual({ programId: null });
    expect(refs({ name: null, id: null })).toEqual({ programId: null });
    expect(parseZohoRecord('BTEC_Units', { id: '1' }, upsert).refs).toEqual({});
  });

  it('accepts numbers as strings and formats money with two decimals', () => {
    const amount = (Amount: unknown) => parseZohoRecord('BTEC_Payments', { id: '1', Amount }, upsert).fields.amount;
    expect(amount('1500.00')).toBe('1500.00');
    expect(amount('1500')).toBe('1500.00');
    expect(amount(' 1500.5 ')).toBe('1500.50');
    expect(amount(1500.456)).toBe('1500.46');
    expect(amount('1.005')).toBe('1.01');
    expect(amount(0)).toBe('0.00');
    const units = parseZohoRecord('BTEC_Units', { id: '1', Credits: '15' }, upsert).fields;
    expect(units.credits).toBe(15);
    expect(parseZohoRecord('BTEC_Grades', { id: '1', Score: '72.5' }, upsert).fields).toMatchObject({
      score: 72.5,
      btecGrade: 'DISTINCTION',
    });
  });

  it('maps picklists to enums in any case', () => {
    const status = (module: string, Status: string) => parseZohoRecord(module, { id: '1', Status }, upsert).fields.status;
    expect(status('BTEC_Students', 'graduated')).toBe('GRADUATED');
    expect(status('BTEC_Payments', 'Overdue')).toBe('OVERDUE');
    expect(status('BTEC_Payments', 'CANCELLED')).toBe('CANCELLED');
    expect(status('BTEC_Requests', 'in review')).toBe('IN_REVIEW');
    expect(status('BTEC_Requests', 'In_Review')).toBe('IN_REVIEW');
    expect(status('BTEC_Enrollments', 'Withdrawn')).toBe('Withdrawn');
  });

  it('accepts every BTEC grade letter variant', () => {
    const grade = (Grade: string) => parseZohoRecord('BTEC_Grades', { id: '1', Grade }, upsert).fields.btecGrade;
    expect(['Distinction', 'D', 'Merit', 'm', 'Pass', 'P', 'Refer', 'U', 'Unclassified'].map(grade)).toEqual([
      'DISTINCTION',
      'DISTINCTION',
      'MERIT',
      'MERIT',
      'PASS',
      'PASS',
      'REFER',
      'REFER',
      'REFER',
    ]);
  });

  it('takes btecGrade from the Score band when Grade is absent or empty, and clears both together', () => {
    const fields = (data: object) => parseZohoRecord('BTEC_Grades', { id: '1', ...data }, upsert).fields;
    expect(fields({ Score: 45 }).btecGrade).toBe('PASS');
    expect(fields({ Grade: null, Score: 39 }).btecGrade).toBe('REFER');
    expect(fields({ Grade: 'Merit', Score: 85 }).btecGrade).toBe('MERIT');
    expect(fields({ Grade: null, Score: null })).toMatchObject({ btecGrade: null, score: null });
    expect(fields({ Name: 'GRD-1' }).btecGrade).toBeUndefined();
  });

  it('prefers an assignment title field over Name for assignmentName', () => {
    expect(
      parseZohoRecord('BTEC_Grades', { id: '1', Name: 'GRD-1', Assignment_Name: 'Assignment 1: Algorithms' }, upsert).fields
        .assignmentName,
    ).toBe('Assignment 1: Algorithms');
  });

  it('reads learning outcome subform rows in space form and an empty subform as a cleared set', () => {
    const record = parseZohoRecord(
      'BTEC_Grades',
      { id: '1', 'Learning Outcomes Assessm': [{ 'LO Code': 'B.P3', 'LO Score': 55 }] },
      upsert,
    );
    expect(record.learningOutcomes).toEqual([
      { code: 'B.P3', title: null, definition: null, score: '55', feedback: null, achieved: true },
    ]);
    expect(parseZohoRecord('BTEC_Grades', { id: '1', Learning_Outcomes_Assessm: [] }, upsert).learningOutcomes).toEqual([]);
    expect(parseZohoRecord('BTEC_Grades', { id: '1', Learning_Outcomes_Assessm: null }, upsert).learningOutcomes).toEqual([]);
    expect(parseZohoRecord('BTEC_Grades', { id: '1' }, upsert).learningOutcomes).toBeUndefined();
  });

  it('accepts a date-time in a date column, keeping the day as written', () => {
    expect(parseZohoRecord('BTEC_Payments', { id: '1', Due_Date: '2026-03-01T23:30:00+03:00' }, upsert).fields.dueDate).toEqual(
      day('2026-03-01'),
    );
  });
});

describe('parseZohoRecord: errors name module and field', () => {
  it.each<[string, string, object, string]>([
    ['missing id', 'BTEC_Students', { Name: 'STU-1' }, 'BTEC_Students.id: expected a non-empty Zoho record id, got nothing'],
    ['empty id', 'BTEC_Units', { id: '' }, 'BTEC_Units.id: expected a non-empty Zoho record id, got ""'],
    [
      'an id beyond 2^53',
      'BTEC_Grades',
      { id: 5725767000003000064 },
      'BTEC_Grades.id: expected an id sent as a string (this number is beyond 2^53, so its digits may already be lost; send the id as a string), got 5725767000003000000',
    ],
    ['a non-numeric amount', 'BTEC_Payments', { id: '1', Amount: 'abc' }, 'BTEC_Payments.Amount: expected a decimal number, got "abc"'],
    [
      'a negative amount',
      'BTEC_Payments',
      { id: '1', Amount: '-250.00' },
      'BTEC_Payments.Amount: expected a non-negative decimal number, got "-250.00"',
    ],
    [
      'an amount with a thousands separator',
      'BTEC_Registrations',
      { id: '1', Total_Fees: '4,500.00' },
      'BTEC_Registrations.Total_Fees: expected a decimal number, got "4,500.00"',
    ],
    [
      'an amount too large for Decimal(12,2)',
      'BTEC_Payments',
      { id: '1', Amount: '12345678901.00' },
      'BTEC_Payments.Amount: expected an amount with at most 10 digits before the decimal point, got "12345678901.00"',
    ],
    [
      'an amount that cannot be cleared',
      'BTEC_Payments',
      { id: '1', Amount: null },
      'BTEC_Payments.Amount: expected a value (this field cannot be cleared), got null',
    ],
    ['an unparseable date', 'BTEC_Payments', { id: '1', Due_Date: '01/03/2026' }, 'BTEC_Payments.Due_Date: expected a date YYYY-MM-DD, got "01/03/2026"'],
    ['an impossible date', 'BTEC_Classes', { id: '1', Start_Date: '2026-02-30' }, 'BTEC_Classes.Start_Date: expected a date YYYY-MM-DD, got "2026-02-30"'],
    [
      'a date-time without offset',
      'BTEC_Students',
      { id: '1', Modified_Time: '2026-02-13T10:30:11' },
      'BTEC_Students.Modified_Time: expected an ISO-8601 date-time with offset (e.g. 2026-02-13T10:30:15+03:00) or a date YYYY-MM-DD, got "2026-02-13T10:30:11"',
    ],
    [
      'an unknown student status',
      'BTEC_Students',
      { id: '1', Status: 'Alumni' },
      'BTEC_Students.Status: expected one of Active, Inactive, Suspended, Graduated, got "Alumni"',
    ],
    [
      'an unknown payment status',
      'BTEC_Payments',
      { id: '1', Status: 'Partially Paid' },
      'BTEC_Payments.Status: expected one of Paid, Pending, Overdue, Refunded, Cancelled, got "Partially Paid"',
    ],
    [
      'an unknown request status',
      'BTEC_Requests',
      { id: '1', Status: 'Escalated' },
      'BTEC_Requests.Status: expected one of Submitted, In Review, Approved, Rejected, Completed, got "Escalated"',
    ],
    [
      'an unknown grade letter',
      'BTEC_Grades',
      { id: '1', Grade: 'Fail' },
      'BTEC_Grades.Grade: expected Distinction, Merit, Pass or Refer (also D, M, P, R, U or Unclassified), got "Fail"',
    ],
    ['a score above 100', 'BTEC_Grades', { id: '1', Score: 105 }, 'BTEC_Grades.Score: expected a number from 0 to 100, got 105'],
    ['fractional credits', 'BTEC_Units', { id: '1', Credits: '7.5' }, 'BTEC_Units.Credits: expected a non-negative whole number, got "7.5"'],
    [
      'a cleared required lookup',
      'BTEC_Payments',
      { id: '1', Student: null },
      'BTEC_Payments.Student: expected a lookup {"name": …, "id": …} (this reference cannot be cleared), got null',
    ],
    [
      'a malformed lookup',
      'BTEC_Units',
      { id: '1', Program: { name: 'HND' } },
      'BTEC_Units.Program: expected a lookup {"name": …, "id": …}, an id, or null, got {"name":"HND"}',
    ],
    [
      'a student without any name',
      'BTEC_Students',
      { id: '1', Full_Name: null, First_Name: '', Last_Name: null },
      'BTEC_Students.Full_Name: expected a name (Full_Name, or First_Name/Last_Name), got null',
    ],
    [
      'a learning outcome without a code',
      'BTEC_Grades',
      { id: '1', Learning_Outcomes_Assessm: [{ LO_Code: 'A.P1' }, { LO_Title: 'Evaluate', LO_Score: 'D' }] },
      'BTEC_Grades.Learning_Outcomes_Assessm[1].LO_Code: expected a criterion code (e.g. A.P1), got nothing',
    ],
    [
      'a repeated learning outcome code',
      'BTEC_Grades',
      { id: '1', Learning_Outcomes_Assessm: [{ LO_Code: 'A.P1' }, { LO_Code: 'A.P1' }] },
      'BTEC_Grades.Learning_Outcomes_Assessm[1].LO_Code: expected a LO_Code unique within the list (row 0 has it too), got "A.P1"',
    ],
    [
      'a subform that is not a list',
      'BTEC_Grades',
      { id: '1', Learning_Outcomes_Assessm: 'A.P1' },
      'BTEC_Grades.Learning_Outcomes_Assessm: expected a list of rows, got "A.P1"',
    ],
  ])('%s', (_, module, data, message) => {
    const error = inputErrorOf(() => parseZohoRecord(module, data, upsert));
    expect(error.message).toBe(message);
    expect(error.message.startsWith(`${module}.`)).toBe(true);
  });

  it('rejects an unknown module', () => {
    expect(inputErrorOf(() => parseZohoRecord('Contacts', { id: '1' }, upsert)).message).toMatch(
      /^Unknown Zoho module "Contacts": expected one of BTEC_Students, BTEC_Teachers, .*BTEC_Grades$/,
    );
  });

  it('rejects an upsert whose data is not an object', () => {
    expect(inputErrorOf(() => parseZohoRecord('BTEC_Units', [{ id: '1' }], upsert)).message).toBe(
      'BTEC_Units.data: expected a record object, got [{"id":"1"}]',
    );
    expect(inputErrorOf(() => parseZohoRecord('BTEC_Units', null, upsert)).message).toBe(
      'BTEC_Units.data: expected a record object, got null',
    );
  });

  it('sets the field on the error', () => {
    expect(inputErrorOf(() => parseZohoRecord('BTEC_Payments', { id: '1', Amount: 'abc' }, upsert)).field).toBe('Amount');
  });
});
