/**
 * Moodle events → IncomingRecord. Accepts the college plugin's `{event, event_id, data}`, the
 * ingestMoodleEvent mutation's `{event, eventId, data}`, and the standard Moodle event
 * envelope `{eventname, objectid, relateduserid, courseid, other, timecreated, …}` where it
 * carries enough to act (user_graded only).
 */
import { z } from 'zod';
import { achievedFromScore, btecGradeFromPercent, percentFromMoodle, type BtecGrade } from './btec.js';
import {
  assertDistinct,
  findField,
  inputError,
  isBlank,
  isRecord,
  present,
  readCount,
  readField,
  readFlag,
  readId,
  readNumber,
  readRows,
  readLongText,
  readText,
  readUnixTime,
  requireField,
  source,
  utcDay,
  type RawRecord,
  type Reader,
  type Source,
} from './fields.js';
import { IngestInputError, type EntityRef, type IncomingRecord, type LearningOutcomeInput } from './record.js';

export const MOODLE_EVENTS = [
  'user_created',
  'user_updated',
  'user_enrolment_created',
  'user_graded',
  'submission_graded',
] as const;

export type MoodleEventName = (typeof MOODLE_EVENTS)[number];

/** ✱ names some senders use for the same events. */
const EVENT_ALIASES: Readonly<Record<string, MoodleEventName>> = {
  enrollment_created: 'user_enrolment_created',
  grade_updated: 'user_graded',
};

export interface ParsedMoodleEvent {
  /** The sender's event id; null when it sent none (the pipeline then hashes the payload). */
  eventId: string | null;
  /** The canonical event name (aliases resolved, `\core\event\` prefix dropped). */
  event: MoodleEventName;
  record: IncomingRecord;
}

/**
 * `user_graded`, `\core\event\user_graded` and the alias `grade_updated` all give
 * `user_graded`; null when the name is not one of the handled events.
 */
export function canonicalMoodleEvent(name: string): MoodleEventName | null {
  const short = name.trim().split('\\').pop() ?? '';
  if ((MOODLE_EVENTS as readonly string[]).includes(short)) return short as MoodleEventName;
  return EVENT_ALIASES[short] ?? null;
}

function eventName(name: unknown, field: string): MoodleEventName {
  const event = typeof name === 'string' ? canonicalMoodleEvent(name) : null;
  if (event) return event;
  throw inputError(
    { module: 'Moodle event', field },
    `one of ${MOODLE_EVENTS.join(', ')} (or ${Object.keys(EVENT_ALIASES).join(', ')})`,
    name,
  );
}

// ---------------------------------------------------------------------------------------
// Shared pieces

function moodleRecord(
  event: MoodleEventName,
  record: Pick<IncomingRecord, 'entity' | 'keys' | 'modifiedAt'> & Partial<IncomingRecord>,
): IncomingRecord {
  return { source: 'MOODLE', module: event, operation: 'upsert', fields: {}, refs: {}, ...record };
}

function requireId(src: Source, field: string, what: string): string {
  return requireField(src, field, readId, `${what} (a string or an integer)`);
}

function studentRef(userId: string): EntityRef {
  return { entity: 'Student', key: 'moodleUserId', value: userId };
}

function courseRef(courseId: string): EntityRef {
  return { entity: 'Class', key: 'moodleCourseId', value: courseId };
}

/** The first of `fields` holding a time; 0 and blanks mean "not set". */
function unixTime(src: Source, ...fields: string[]): Date | null {
  for (const field of fields) {
    const time = readField(src, field, readUnixTime);
    if (time) return time;
  }
  return null;
}

/**
 * Moodle profile text: Moodle cannot tell "not set" from "cleared" (empty columns are ''),
 * so a blank value leaves the column alone instead of wiping what Zoho stored.
 */
function profileText(src: Source, field: string): string | undefined {
  return readField(src, field, readText) ?? undefined;
}

// ---------------------------------------------------------------------------------------
// user_created / user_updated

const ROLES: Readonly<Record<string, 'Student' | 'Teacher'>> = { student: 'Student', teacher: 'Teacher' };

const readRole: Reader<'Student' | 'Teacher'> = (value, origin) => {
  const role = typeof value === 'string' ? ROLES[value.trim().toLowerCase()] : undefined;
  if (!role) throw inputError(origin, '"student" or "teacher"', value);
  return role;
};

function parseUser(src: Source, event: MoodleEventName): IncomingRecord {
  const keys = { moodleUserId: requireId(src, 'userid', 'the Moodle user id') };
  const entity = readField(src, 'role', readRole) ?? 'Student';
  const modifiedAt = unixTime(src, 'timemodified', 'timecreated');
  if (readField(src, 'deleted', readFlag)) return moodleRecord(event, { entity, keys, modifiedAt, operation: 'delete' });

  const firstName = profileText(src, 'firstname');
  const lastName = profileText(src, 'lastname');
  const fullName = [firstName, lastName].filter(Boolean).join(' ') || undefined;
  const email = profileText(src, 'email');
  if (entity === 'Teacher') return moodleRecord(event, { entity, keys, modifiedAt, fields: present({ fullName, email }) });

  const suspended = readField(src, 'suspended', readFlag);
  const status = suspended === true ? 'SUSPENDED' : suspended === false ? 'ACTIVE' : undefined;
  const fields = present({
    fullName,
    firstName,
    lastName,
    email,
    phone: profileText(src, 'phone1'),
    city: profileText(src, 'city'),
    country: profileText(src, 'country'),
    status,
  });
  return moodleRecord(event, { entity, keys, modifiedAt, fields });
}

// ---------------------------------------------------------------------------------------
// user_enrolment_created

const ENROLMENT_STATUS: Readonly<Record<string, string>> = { '0': 'Active', '1': 'Suspended' };

const readEnrolmentStatus: Reader<string> = (value, origin) => {
  const status = ENROLMENT_STATUS[String(value).trim()];
  if (!status || (typeof value !== 'number' && typeof value !== 'string')) {
    throw inputError(origin, '0 (active) or 1 (suspended)', value);
  }
  return status;
};

/** An enrolment date: the UTC day of the unix time; 0 (no limit) → null. */
function enrolmentDate(src: Source, field: string): Date | null | undefined {
  const time = readField(src, field, readUnixTime);
  return time ? utcDay(time) : time;
}

function parseEnrolment(src: Source, event: MoodleEventName): IncomingRecord {
  return moodleRecord(event, {
    entity: 'Enrollment',
    keys: { moodleEnrollmentId: requireId(src, 'enrollment_id', 'the Moodle enrolment id') },
    modifiedAt: unixTime(src, 'timemodified', 'timecreated'),
    refs: {
      studentId: studentRef(requireId(src, 'userid', 'the Moodle user id')),
      classId: courseRef(requireId(src, 'courseid', 'the Moodle course id')),
    },
    fields: present({
      status: readField(src, 'status', readEnrolmentStatus) ?? undefined,
      startDate: enrolmentDate(src, 'timestart'),
      endDate: enrolmentDate(src, 'timeend'),
    }),
  });
}

// ---------------------------------------------------------------------------------------
// Grades

interface GradeScale {
  grademin: number;
  grademax: number;
}

interface ScoreFields {
  score: number | null;
  btecGrade: BtecGrade | null;
}

/**
 * score (percentage) and btecGrade from `finalgrade`; a null finalgrade is a cleared grade.
 * `scale` is read from the payload, or given when the sender does not carry one.
 */
function scoreFields(src: Source, event: MoodleEventName, scale?: GradeScale, notGradedMarker?: number): ScoreFields {
  const found = findField(src, 'finalgrade');
  if (!found) throw inputError({ module: event, field: `${src.path ?? ''}finalgrade` }, 'a number, or null for a cleared grade', undefined);
  const finalgrade = readField(src, 'finalgrade', readNumber);
  if (finalgrade === null || finalgrade === undefined || finalgrade === notGradedMarker) {
    return { score: null, btecGrade: null };
  }
  const { grademin, grademax } = scale ?? {
    grademin: requireField(src, 'grademin', readNumber, 'the grade item minimum (a number)'),
    grademax: requireField(src, 'grademax', readNumber, 'the grade item maximum (a number)'),
  };
  const score = percentFromMoodle(finalgrade, grademin, grademax, event);
  return { score, btecGrade: btecGradeFromPercent(score, event) };
}

function parseUserGraded(src: Source, event: MoodleEventName): IncomingRecord {
  const userId = requireId(src, 'userid', 'the Moodle user id');
  const itemId = requireId(src, 'itemid', 'the grade item id');
  const courseId = readField(src, 'courseid', readId);
  const gradedAt = unixTime(src, 'timemodified');
  return moodleRecord(event, {
    entity: 'Grade',
    keys: { compositeKey: `${userId}_${itemId}` },
    modifiedAt: gradedAt,
    refs: present({ studentId: studentRef(userId), classId: courseId ? courseRef(courseId) : undefined }),
    fields: present({
      moodleGradeId: readField(src, 'grade_id', readId),
      assignmentName: readField(src, 'item_name', readText),
      ...scoreFields(src, event),
      gradedAt: gradedAt ?? undefined,
    }),
  });
}

type GraderRole = 'grader' | 'iv';

const GRADER_ROLES: Readonly<Record<string, GraderRole>> = { teacher: 'grader', other: 'grader', iv: 'iv' };

const readGraderRole: Reader<GraderRole> = (value, origin) => {
  const role = typeof value === 'string' ? GRADER_ROLES[value.trim().toLowerCase()] : undefined;
  if (!role) throw inputError(origin, '"teacher", "iv" or "other"', value);
  return role;
};

/** Grader and internal verifier are kept apart: only the columns of the named role are set. */
function graderFields(src: Source): Record<string, string | null> {
  const name = readField(src, 'grader_name', readText);
  const id = readField(src, 'grader_id', readId);
  if (name === undefined && id === undefined) return {};
  const role = requireField(src, 'grader_role', readGraderRole, '"teacher", "iv" or "other" (who grader_id/grader_name is)');
  const named = role === 'iv'
    ? { internalVerifierName: name, internalVerifierMoodleId: id }
    : { graderName: name, graderMoodleId: id };
  return present(named);
}

function submissionOutcome(row: Source): LearningOutcomeInput {
  const score = readField(row, 'score', readText) ?? null;
  return {
    code: requireField(row, 'code', readText, 'a criterion code (e.g. A.P1)'),
    title: readField(row, 'description', readText) ?? null,
    definition: null,
    score,
    feedback: readField(row, 'feedback', readLongText) ?? null,
    achieved: readField(row, 'achieved', readFlag) ?? achievedFromScore(score),
  };
}

// mod_assign stores -1 for "not graded yet"; it must not become a 0 % REFER.
const ASSIGN_NOT_GRADED = -1;

function parseSubmissionGraded(src: Source, event: MoodleEventName): IncomingRecord {
  const studentId = requireId(src, 'student_id', 'the Moodle user id of the student');
  const assignmentId = requireId(src, 'assignment_id', 'the assignment id');
  const courseId = readField(src, 'course_id', readId);
  const gradedAt = unixTime(src, 'timemodified');
  const learningOutcomes = readRows(src, 'learning_outcomes', submissionOutcome);
  if (learningOutcomes) assertDistinct(src, 'learning_outcomes', learningOutcomes, (lo) => lo.code, 'code');
  return moodleRecord(event, {
    entity: 'Grade',
    keys: { compositeKey: `${studentId}_${assignmentId}` },
    modifiedAt: gradedAt,
    refs: present({ studentId: studentRef(studentId), classId: courseId ? courseRef(courseId) : undefined }),
    fields: present({
      assignmentName: readField(src, 'assignment_name', readText),
      ...scoreFields(src, event, undefined, ASSIGN_NOT_GRADED),
      attemptNumber: readField(src, 'attempt_number', readCount),
      ...graderFields(src),
      feedback: readField(src, 'feedback', readLongText),
      gradedAt: gradedAt ?? undefined,
    }),
    ...(learningOutcomes ? { learningOutcomes } : {}),
  });
}

const PLUGIN_PARSERS: Readonly<Record<MoodleEventName, (src: Source, event: MoodleEventName) => IncomingRecord>> = {
  user_created: parseUser,
  user_updated: parseUser,
  user_enrolment_created: parseEnrolment,
  user_graded: parseUserGraded,
  submission_graded: parseSubmissionGraded,
};

// ---------------------------------------------------------------------------------------
// Standard Moodle event envelope

/** What a standard envelope lacks for each event it cannot be acted on. */
const ENVELOPE_LACKS: Readonly<Partial<Record<MoodleEventName, string>>> = {
  user_created: 'the profile (firstname, lastname, email, role)',
  user_updated: 'the profile (firstname, lastname, email, role, suspended, deleted)',
  user_enrolment_created: 'the enrolment status (0 active / 1 suspended) and timestart/timeend',
  submission_graded: 'assignment_id, finalgrade, grademax and grademin',
};

/** Moodle's default grade range, assumed when the envelope's `other` does not carry one. */
const DEFAULT_SCALE: GradeScale = { grademin: 0, grademax: 100 };

function envelopeUserGraded(envelope: Source, event: MoodleEventName): IncomingRecord {
  const other = source(event, isRecord(envelope.data.other) ? envelope.data.other : {}, false, 'other.');
  const missing = [
    isBlank(envelope.data.relateduserid) && ['relateduserid', 'the graded student'],
    isBlank(other.data.itemid) && ['other.itemid', 'the grade item'],
    !Object.hasOwn(other.data, 'finalgrade') && ['other.finalgrade', 'the grade, or null when cleared'],
  ].filter((m): m is [string, string] => Array.isArray(m));
  if (missing[0]) {
    const list = missing.map(([field, what]) => `${field} (${what})`).join(', ');
    throw new IngestInputError(`${event}: the Moodle event envelope is missing ${list}`, missing[0][0]);
  }
  const userId = requireId(envelope, 'relateduserid', 'the Moodle user id of the graded student');
  const itemId = requireId(other, 'itemid', 'the grade item id');
  const courseId = readField(envelope, 'courseid', readId);
  const gradedAt = unixTime(envelope, 'timecreated');
  const scale = {
    grademin: readField(other, 'grademin', readNumber) ?? DEFAULT_SCALE.grademin,
    grademax: readField(other, 'grademax', readNumber) ?? DEFAULT_SCALE.grademax,
  };
  return moodleRecord(event, {
    entity: 'Grade',
    keys: { compositeKey: `${userId}_${itemId}` },
    modifiedAt: gradedAt,
    refs: present({ studentId: studentRef(userId), classId: courseId ? courseRef(courseId) : undefined }),
    fields: present({
      moodleGradeId: readField(envelope, 'objectid', readId),
      ...scoreFields(other, event, scale),
      gradedAt: gradedAt ?? undefined,
    }),
  });
}

function parseEnvelope(body: RawRecord): ParsedMoodleEvent {
  const event = eventName(body.eventname, 'eventname');
  const envelope = source(event, body, false);
  if (event !== 'user_graded') {
    throw new IngestInputError(
      `${event}: a standard Moodle event envelope does not carry ${ENVELOPE_LACKS[event] ?? 'enough to act'}; ` +
        'send the plugin form {"event", "event_id", "data"}',
      'eventname',
    );
  }
  return { eventId: null, event, record: envelopeUserGraded(envelope, event) };
}

// ---------------------------------------------------------------------------------------
// Entry point

const idLike = z.union([z.string(), z.number()]).nullish();
const pluginBody = z.looseObject({ event: z.unknown(), event_id: idLike, eventId: idLike, data: z.unknown() });

function pluginEventId(body: z.infer<typeof pluginBody>): string | null {
  const origin = (field: string) => ({ module: 'Moodle event', field });
  const snake = isBlank(body.event_id) ? null : readId(body.event_id, origin('event_id'));
  const camel = isBlank(body.eventId) ? null : readId(body.eventId, origin('eventId'));
  if (snake && camel && snake !== camel) throw inputError(origin('eventId'), `the same id as event_id ${JSON.stringify(snake)}`, camel);
  return snake ?? camel;
}

function parsePlugin(body: RawRecord): ParsedMoodleEvent {
  const parsed = pluginBody.safeParse(body);
  if (!parsed.success) throw inputError({ module: 'Moodle event', field: 'event_id' }, 'an event id (a string or an integer)', body.event_id ?? body.eventId);
  const event = eventName(parsed.data.event, 'event');
  const eventId = pluginEventId(parsed.data);
  if (!isRecord(parsed.data.data)) throw inputError({ module: event, field: 'data' }, 'an object with the event fields', parsed.data.data);
  return { eventId, event, record: PLUGIN_PARSERS[event](source(event, parsed.data.data, false), event) };
}

/** One Moodle event, in any of the accepted shapes (see the file comment). */
export function parseMoodleEvent(body: unknown): ParsedMoodleEvent {
  if (!isRecord(body)) {
    throw inputError({ module: 'Moodle event', field: 'body' }, 'a JSON object {"event", "event_id", "data"}', body);
  }
  if (!isBlank(body.eventname) && isBlank(body.event)) return parseEnvelope(body);
  if (!isBlank(body.event)) return parsePlugin(body);
  throw inputError(
    { module: 'Moodle event', field: 'event' },
    'an event name ({"event", "event_id", "data"}, or a Moodle envelope with "eventname")',
    body.event,
  );
}
