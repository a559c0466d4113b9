import { describe, expect, it } from 'vitest';
import { canonicalMoodleEvent, parseMoodleEvent } from '../../src/ingest/moodle-events.js';
import { IngestInputError } from '../../src/ingest/record.js';

const T = 1760000000;
const AT = new Date(T * 1000);
const day = (yyyyMmDd: string) => new Date(`${yyyyMmDd}T00:00:00.000Z`);

function inputErrorOf(fn: () => unknown): IngestInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(IngestInputError);
    return error as IngestInputError;
  }
  throw new Error('expected an IngestInputError');
}

const userCreated = {
  event: 'user_created',
  event_id: 'evt-4b1f0c9e',
  data: {
    userid: '00042',
    username: 'stu0042',
    email: 'lina.haddad@college.example',
    firstname: 'Lina',
    lastname: 'Haddad',
    phone1: '0790000042',
    city: 'Amman',
    country: 'JO',
    role: 'student',
    suspended: 0,
    deleted: 0,
    timecreated: T - 3600,
    timemodified: T,
  },
};

const userGraded = {
  event: 'user_graded',
  event_id: 'evt-grade-812',
  data: {
    grade_id: 812,
    userid: 42,
    itemid: 55,
    item_name: 'Assignment 1: Algorithms',
    courseid: 7,
    finalgrade: 13,
    grademax: 20,
    grademin: 0,
    timemodified: T,
  },
};

const submissionGraded = {
  event: 'submission_graded',
  event_id: 'evt-sub-0042-55-1',
  data: {
    student_id: '00042',
    assignment_id: '55',
    course_id: '7',
    assignment_name: 'Assignment 1: Algorithms',
    finalgrade: 72,
    grademax: 100,
    grademin: 0,
    attempt_number: 2,
    grader_id: '1207',
    grader_name: 'Omar Khalil',
    grader_role: 'teacher',
    feedback: 'Well structured; add complexity analysis.',
    timemodified: T,
    learning_outcomes: [
      { code: 'A.P1', description: 'Define basic algorithms', score: 'P', feedback: 'Clear.', achieved: 1 },
      { code: 'A.M1', description: 'Analyse the process', score: 62, feedback: '', achieved: false },
      { code: 'AB.D1', description: 'Evaluate', score: 'D', feedback: null },
    ],
  },
};

const envelope = {
  eventname: '\\core\\event\\user_graded',
  component: 'core',
  action: 'graded',
  target: 'user',
  objectid: '812',
  crud: 'u',
  contextid: 31,
  userid: '2',
  courseid: '7',
  relateduserid: '42',
  other: { itemid: 55, overridden: false, finalgrade: 78.5 },
  timecreated: T,
};

const withData = (event: { event: string; event_id: string; data: object }, data: object) => ({
  ...event,
  data: { ...event.data, ...data },
});

describe('canonicalMoodleEvent', () => {
  it('resolves aliases and namespaced class names', () => {
    expect(canonicalMoodleEvent('user_graded')).toBe('user_graded');
    expect(canonicalMoodleEvent('grade_updated')).toBe('user_graded');
    expect(canonicalMoodleEvent('enrollment_created')).toBe('user_enrolment_created');
    expect(canonicalMoodleEvent('\\mod_assign\\event\\submission_graded')).toBe('submission_graded');
    expect(canonicalMoodleEvent('course_viewed')).toBeNull();
  });
});

describe('user_created / user_updated', () => {
  it('creates a student', () => {
    expect(parseMoodleEvent(userCreated)).toEqual({
      eventId: 'evt-4b1f0c9e',
      event: 'user_created',
      record: {
        source: 'MOODLE',
        module: 'user_created',
        entity: 'Student',
        operation: 'upsert',
        keys: { moodleUserId: '00042' },
        modifiedAt: AT,
        fields: {
          fullName: 'Lina Haddad',
          firstName: 'Lina',
          lastName: 'Haddad',
          email: 'lina.haddad@college.example',
          phone: '0790000042',
          city: 'Amman',
          country: 'JO',
          status: 'ACTIVE',
        },
        refs: {},
      },
    });
  });

  it('treats an absent role as student and maps suspended=1 to SUSPENDED', () => {
    const { role: _role, ...data } = userCreated.data;
    const { record } = parseMoodleEvent({ event: 'user_updated', event_id: 'e2', data: { ...data, suspended: '1' } });
    expect(record).toMatchObject({ module: 'user_updated', entity: 'Student', fields: { status: 'SUSPENDED' } });
  });

  it('creates a teacher with only the columns a teacher has', () => {
    const { record } = parseMoodleEvent(withData(userCreated, { userid: 1207, role: 'Teacher', firstname: 'Omar', lastname: 'Khalil', email: 'o.khalil@college.example' }));
    expect(record).toMatchObject({
      entity: 'Teacher',
      keys: { moodleUserId: '1207' },
      fields: { fullName: 'Omar Khalil', email: 'o.khalil@college.example' },
    });
    expect(Object.keys(record.fields).sort()).toEqual(['email', 'fullName']);
  });

  it('turns deleted=1 into a delete', () => {
    const { record } = parseMoodleEvent(withData(userCreated, { deleted: 1 }));
    expect(record).toMatchObject({ operation: 'delete', entity: 'Student', keys: { moodleUserId: '00042' }, fields: {}, modifiedAt: AT });
  });

  it('leaves columns alone for empty Moodle profile fields (Moodle cannot say "cleared")', () => {
    const { record } = parseMoodleEvent(withData(userCreated, { phone1: '', city: '', country: '' }));
    expect(record.fields).not.toHaveProperty('phone');
    expect(record.fields).not.toHaveProperty('city');
    expect(record.fields).not.toHaveProperty('country');
  });

  it('keeps leading zeros of string ids and stringifies numeric ids', () => {
    expect(parseMoodleEvent(userCreated).record.keys.moodleUserId).toBe('00042');
    expect(parseMoodleEvent(withData(userCreated, { userid: 42 })).record.keys.moodleUserId).toBe('42');
  });

  it('falls back to timecreated for modifiedAt', () => {
    const { timemodified: _t, ...data } = userCreated.data;
    expect(parseMoodleEvent({ ...userCreated, data }).record.modifiedAt).toEqual(new Date((T - 3600) * 1000));
  });
});

describe('user_enrolment_created (✱ enrollment_created)', () => {
  const enrolment = {
    event: 'user_enrolment_created',
    event_id: 'evt-enr-9001',
    data: {
      enrollment_id: 9001,
      userid: '00042',
      courseid: 7,
      course_name: 'Programming — Group A',
      status: 0,
      timestart: 1768176000,
      timeend: 0,
      timecreated: T,
    },
  };

  it('creates an enrolment linked by Moodle user and course ids', () => {
    expect(parseMoodleEvent(enrolment).record).toEqual({
      source: 'MOODLE',
      module: 'user_enrolment_created',
      entity: 'Enrollment',
      operation: 'upsert',
      keys: { moodleEnrollmentId: '9001' },
      modifiedAt: AT,
      fields: { status: 'Active', startDate: day('2026-01-12'), endDate: null },
      refs: {
        studentId: { entity: 'Student', key: 'moodleUserId', value: '00042' },
        classId: { entity: 'Class', key: 'moodleCourseId', value: '7' },
      },
    });
  });

  it('accepts the enrollment_created alias and status 1 = Suspended', () => {
    const parsed = parseMoodleEvent({ ...withData(enrolment, { status: '1', timeend: 1780000000 }), event: 'enrollment_created' });
    expect(parsed.event).toBe('user_enrolment_created');
    expect(parsed.record.fields).toMatchObject({ status: 'Suspended', endDate: day('2026-05-28') });
  });

  it('rejects an unknown status', () => {
    expect(inputErrorOf(() => parseMoodleEvent(withData(enrolment, { status: 2 }))).message).toBe(
      'user_enrolment_created.status: expected 0 (active) or 1 (suspended), got 2',
    );
  });
});

describe('user_graded (✱ grade_updated)', () => {
  it('keys the grade <userid>_<itemid> and converts the grade to a percentage and band', () => {
    expect(parseMoodleEvent(userGraded)).toEqual({
      eventId: 'evt-grade-812',
      event: 'user_graded',
      record: {
        source: 'MOODLE',
        module: 'user_graded',
        entity: 'Grade',
        operation: 'upsert',
        keys: { compositeKey: '42_55' },
        modifiedAt: AT,
        fields: {
          moodleGradeId: '812',
          assignmentName: 'Assignment 1: Algorithms',
          score: 65,
          btecGrade: 'MERIT',
          gradedAt: AT,
        },
        refs: {
          studentId: { entity: 'Student', key: 'moodleUserId', value: '42' },
          classId: { entity: 'Class', key: 'moodleCourseId', value: '7' },
        },
      },
    });
  });

  it('accepts grade_updated and numeric strings (as Moodle prints decimals)', () => {
    const parsed = parseMoodleEvent({
      ...withData(userGraded, { finalgrade: '78.50000', grademax: '100.00000', grademin: '0.00000' }),
      event: 'grade_updated',
    });
    expect(parsed.event).toBe('user_graded');
    expect(parsed.record.fields).toMatchObject({ score: 78.5, btecGrade: 'DISTINCTION' });
  });

  it('clears score and band when finalgrade is null', () => {
    const { record } = parseMoodleEvent(withData(userGraded, { finalgrade: null }));
    expect(record.fields).toMatchObject({ score: null, btecGrade: null });
  });

  it('clamps to 0–100', () => {
    expect(parseMoodleEvent(withData(userGraded, { finalgrade: 25 })).record.fields.score).toBe(100);
  });

  it('fails clearly when grademax equals grademin', () => {
    expect(inputErrorOf(() => parseMoodleEvent(withData(userGraded, { grademax: 0 }))).message).toMatch(
      /^user_graded: grademax equals grademin \(0\)/,
    );
  });

  it('needs finalgrade present (null is a cleared grade, absent is an error)', () => {
    const { finalgrade: _f, ...data } = userGraded.data;
    expect(inputErrorOf(() => parseMoodleEvent({ ...userGraded, data })).message).toBe(
      'user_graded.finalgrade: expected a number, or null for a cleared grade, got nothing',
    );
  });
});

describe('submission_graded', () => {
  it('keeps the grader, the band, the attempt and the learning outcomes', () => {
    const { record, event, eventId } = parseMoodleEvent(submissionGraded);
    expect({ event, eventId }).toEqual({ event: 'submission_graded', eventId: 'evt-sub-0042-55-1' });
    expect(record).toEqual({
      source: 'MOODLE',
      module: 'submission_graded',
      entity: 'Grade',
      operation: 'upsert',
      keys: { compositeKey: '00042_55' },
      modifiedAt: AT,
      fields: {
        assignmentName: 'Assignment 1: Algorithms',
        score: 72,
        btecGrade: 'DISTINCTION',
        attemptNumber: 2,
        graderName: 'Omar Khalil',
        graderMoodleId: '1207',
        feedback: 'Well structured; add complexity analysis.',
        gradedAt: AT,
      },
      refs: {
        studentId: { entity: 'Student', key: 'moodleUserId', value: '00042' },
        classId: { entity: 'Class', key: 'moodleCourseId', value: '7' },
      },
      learningOutcomes: [
        { code: 'A.P1', title: 'Define basic algorithms', definition: null, score: 'P', feedback: 'Clear.', achieved: true },
        { code: 'A.M1', title: 'Analyse the process', definition: null, score: '62', feedback: null, achieved: false },
        { code: 'AB.D1', title: 'Evaluate', definition: null, score: 'D', feedback: null, achieved: true },
      ],
    });
  });

  it('files an internal verifier apart from the grader', () => {
    const { record } = parseMoodleEvent(withData(submissionGraded, { grader_id: 1301, grader_name: 'Sara Nasser', grader_role: 'iv' }));
    expect(record.fields).toMatchObject({ internalVerifierName: 'Sara Nasser', internalVerifierMoodleId: '1301' });
    expect(record.fields).not.toHaveProperty('graderName');
    expect(record.fields).not.toHaveProperty('graderMoodleId');
  });

  it('treats grader_role "other" as the grader', () => {
    const { record } = parseMoodleEvent(withData(submissionGraded, { grader_role: 'other' }));
    expect(record.fields).toMatchObject({ graderName: 'Omar Khalil', graderMoodleId: '1207' });
    expect(record.fields).not.toHaveProperty('internalVerifierName');
  });

  it('treats mod_assign\'s -1 ("not graded") and null as a cleared grade', () => {
    for (const finalgrade of [-1, null]) {
      expect(parseMoodleEvent(withData(submissionGraded, { finalgrade })).record.fields).toMatchObject({ score: null, btecGrade: null });
    }
  });

  it('accepts an empty learning outcome list as a cleared set', () => {
    expect(parseMoodleEvent(withData(submissionGraded, { learning_outcomes: [] })).record.learningOutcomes).toEqual([]);
  });

  it.each<[string, object, string]>([
    ['an unknown grader role', { grader_role: 'marker' }, 'submission_graded.grader_role: expected "teacher", "iv" or "other", got "marker"'],
    [
      'a grader without a role',
      { grader_role: null },
      'submission_graded.grader_role: expected "teacher", "iv" or "other" (who grader_id/grader_name is), got null',
    ],
    [
      'a learning outcome achieved flag that is not 0/1',
      { learning_outcomes: [{ code: 'A.P1', achieved: 'maybe' }] },
      'submission_graded.learning_outcomes[0].achieved: expected 0 or 1 (or true/false), got "maybe"',
    ],
    [
      'a learning outcome without a code',
      { learning_outcomes: [{ description: 'Evaluate' }] },
      'submission_graded.learning_outcomes[0].code: expected a criterion code (e.g. A.P1), got nothing',
    ],
    [
      'a repeated learning outcome code',
      { learning_outcomes: [{ code: 'A.P1' }, { code: 'A.P1' }] },
      'submission_graded.learning_outcomes[1].code: expected a code unique within the list (row 0 has it too), got "A.P1"',
    ],
    ['a missing assignment id', { assignment_id: '' }, 'submission_graded.assignment_id: expected the assignment id (a string or an integer), got ""'],
    ['a non-numeric finalgrade', { finalgrade: 'A' }, 'submission_graded.finalgrade: expected a number, got "A"'],
    ['a missing grademax', { grademax: undefined }, 'submission_graded.grademax: expected the grade item maximum (a number), got nothing'],
  ])('rejects %s', (_, data, message) => {
    const error = inputErrorOf(() => parseMoodleEvent(withData(submissionGraded, data)));
    expect(error.message).toBe(message);
  });
});

describe('standard Moodle event envelope', () => {
  it('acts on \\core\\event\\user_graded: student = relateduserid, item = other.itemid, grade id = objectid', () => {
    expect(parseMoodleEvent(envelope)).toEqual({
      eventId: null,
      event: 'user_graded',
      record: {
        source: 'MOODLE',
        module: 'user_graded',
        entity: 'Grade',
        operation: 'upsert',
        keys: { compositeKey: '42_55' },
        modifiedAt: AT,
        fields: { moodleGradeId: '812', score: 78.5, btecGrade: 'DISTINCTION', gradedAt: AT },
        refs: {
          studentId: { entity: 'Student', key: 'moodleUserId', value: '42' },
          classId: { entity: 'Class', key: 'moodleCourseId', value: '7' },
        },
      },
    });
  });

  it('uses other.grademax/grademin when the envelope carries them', () => {
    const { record } = parseMoodleEvent({ ...envelope, other: { ...envelope.other, finalgrade: 9, grademax: 20 } });
    expect(record.fields).toMatchObject({ score: 45, btecGrade: 'PASS' });
  });

  it('clears the grade when other.finalgrade is null', () => {
    const { record } = parseMoodleEvent({ ...envelope, other: { itemid: 55, finalgrade: null } });
    expect(record.fields).toMatchObject({ score: null, btecGrade: null });
  });

  it('names everything it is missing', () => {
    const { relateduserid: _r, ...withoutStudent } = envelope;
    const error = inputErrorOf(() => parseMoodleEvent({ ...withoutStudent, other: { overridden: false } }));
    expect(error.message).toBe(
      'user_graded: the Moodle event envelope is missing relateduserid (the graded student), other.itemid (the grade item), other.finalgrade (the grade, or null when cleared)',
    );
    expect(error.field).toBe('relateduserid');
  });

  it.each([
    ['\\core\\event\\user_created', /^user_created: a standard Moodle event envelope does not carry the profile \(firstname, lastname, email, role\)/],
    ['\\core\\event\\user_enrolment_created', /^user_enrolment_created: a standard Moodle event envelope does not carry the enrolment status/],
    ['\\mod_assign\\event\\submission_graded', /^submission_graded: .* does not carry assignment_id, finalgrade, grademax and grademin; send the plugin form/],
  ])('rejects %s, which does not carry enough', (eventname, message) => {
    expect(inputErrorOf(() => parseMoodleEvent({ ...envelope, eventname })).message).toMatch(message);
  });

  it('rejects an unknown event name', () => {
    expect(inputErrorOf(() => parseMoodleEvent({ ...envelope, eventname: '\\core\\event\\course_viewed' })).message).toMatch(
      /^Moodle event\.eventname: expected one of user_created, user_updated, user_enrolment_created, user_graded, submission_graded \(or enrollment_created, grade_updated\), got "\\\\core\\\\event\\\\course_viewed"$/,
    );
  });
});

describe('the ingestMoodleEvent mutation input {event, eventId, data}', () => {
  it('reads the camelCase eventId', () => {
    const { event_id: _e, ...rest } = userGraded;
    expect(parseMoodleEvent({ ...rest, eventId: 'mut-1' }).eventId).toBe('mut-1');
  });

  it('accepts a numeric event id and no event id at all', () => {
    expect(parseMoodleEvent({ ...userGraded, event_id: 123456 }).eventId).toBe('123456');
    const { event_id: _e, ...rest } = userGraded;
    expect(parseMoodleEvent(rest).eventId).toBeNull();
  });

  it('rejects two different event ids', () => {
    expect(inputErrorOf(() => parseMoodleEvent({ ...userGraded, eventId: 'other' })).message).toBe(
      'Moodle event.eventId: expected the same id as event_id "evt-grade-812", got "other"',
    );
  });
});

describe('malformed events', () => {
  it.each<[string, unknown, string]>([
    ['a non-object body', 'hello', 'Moodle event.body: expected a JSON object {"event", "event_id", "data"}, got "hello"'],
    [
      'a body without an event name',
      { data: {} },
      'Moodle event.event: expected an event name ({"event", "event_id", "data"}, or a Moodle envelope with "eventname"), got nothing',
    ],
    [
      'an unknown event',
      { event: 'course_viewed', data: {} },
      'Moodle event.event: expected one of user_created, user_updated, user_enrolment_created, user_graded, submission_graded (or enrollment_created, grade_updated), got "course_viewed"',
    ],
    ['data that is not an object', { event: 'user_created', data: [1] }, 'user_created.data: expected an object with the event fields, got [1]'],
    ['a missing user id', { event: 'user_created', data: { firstname: 'Lina' } }, 'user_created.userid: expected the Moodle user id (a string or an integer), got nothing'],
    [
      'an unsafe numeric id',
      { event: 'user_created', data: { userid: 2 ** 53 + 2 } },
      'user_created.userid: expected an id sent as a string (this number is beyond 2^53, so its digits may already be lost; send the id as a string), got 9007199254740994',
    ],
    ['an unknown role', { event: 'user_created', data: { userid: 5, role: 'manager' } }, 'user_created.role: expected "student" or "teacher", got "manager"'],
    ['a bad suspended flag', { event: 'user_updated', data: { userid: 5, suspended: 'yes' } }, 'user_updated.suspended: expected 0 or 1 (or true/false), got "yes"'],
    ['a bad time', { event: 'user_updated', data: { userid: 5, timemodified: '2026-02-13' } }, 'user_updated.timemodified: expected a time in unix seconds, got "2026-02-13"'],
    ['a missing item id', { event: 'user_graded', data: { userid: 5, finalgrade: 3 } }, 'user_graded.itemid: expected the grade item id (a string or an integer), got nothing'],
    [
      'a missing enrolment id',
      { event: 'user_enrolment_created', data: { userid: 5, courseid: 7 } },
      'user_enrolment_created.enrollment_id: expected the Moodle enrolment id (a string or an integer), got nothing',
    ],
  ])('rejects %s', (_, body, message) => {
    expect(inputErrorOf(() => parseMoodleEvent(body)).message).toBe(message);
  });
});
