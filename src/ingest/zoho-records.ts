/**
 * Zoho CRM BTEC records → IncomingRecord. One table of column specs per module; the
 * tolerant readers (✱ in FORMATS.md) live in fields.ts.
 */
import { achievedFromScore, btecGradeFromPercent, parseBtecLetter } from './btec.js';
import {
  assertDistinct,
  asRecord,
  enumReader,
  findField,
  isBlank,
  numberReader,
  originOf,
  present,
  readCount,
  readDate,
  readDateTime,
  readField,
  readId,
  readLookup,
  readMoney,
  readRows,
  readLongText,
  readText,
  source,
  inputError,
  type Reader,
  type Source,
} from './fields.js';
import {
  IngestInputError,
  type EntityRef,
  type EntityType,
  type IncomingRecord,
  type LearningOutcomeInput,
  type RefColumn,
  type UniqueKey,
} from './record.js';

export const ZOHO_MODULES = [
  'BTEC_Students',
  'BTEC_Teachers',
  'BTEC_Programs',
  'BTEC_Units',
  'BTEC_Classes',
  'BTEC_Enrollments',
  'BTEC_Registrations',
  'BTEC_Payments',
  'BTEC_Requests',
  'BTEC_Grades',
] as const;

export type ZohoModule = (typeof ZOHO_MODULES)[number];

export function isZohoModule(name: unknown): name is ZohoModule {
  return typeof name === 'string' && (ZOHO_MODULES as readonly string[]).includes(name);
}

export type ZohoOperation = 'upsert' | 'delete';

const OPERATIONS: Readonly<Record<string, ZohoOperation>> = {
  insert: 'upsert',
  create: 'upsert',
  update: 'upsert',
  edit: 'upsert',
  upsert: 'upsert',
  delete: 'delete',
};

/** insert/update/create/edit/upsert → 'upsert', delete → 'delete'; any case. */
export function parseZohoOperation(op: unknown): ZohoOperation {
  const operation = typeof op === 'string' ? OPERATIONS[op.trim().toLowerCase()] : undefined;
  if (operation) return operation;
  throw inputError(
    { module: 'Zoho event', field: 'operation' },
    'insert, update, delete (or create, edit, upsert)',
    op,
  );
}

export interface ZohoRecordOptions {
  operation: ZohoOperation;
  /** The event's record_id; for a delete the only key when `data` is absent. */
  recordId?: string;
  /** The event's timestamp: modifiedAt when the record has no Modified_Time. */
  timestamp?: Date;
}

// ---------------------------------------------------------------------------------------
// Spec table

/** Reads one column: undefined = not touched, null = cleared. */
type ColumnSpec = (src: Source) => unknown;

interface RefSpec {
  entity: EntityType;
  /** The lookup field. */
  from: string;
  /** The column is NOT NULL: an empty lookup is an error, not a clear. */
  required: boolean;
  /** A Moodle course id field used when the lookup is empty or absent (enrolments). */
  moodleCourseFallback?: string;
}

/** An extra unique key besides zohoId. */
type KeySpec = (src: Source, zohoId: string) => [UniqueKey, string] | undefined;

interface ModuleSpec {
  entity: EntityType;
  keys: readonly KeySpec[];
  fields: Readonly<Record<string, ColumnSpec>>;
  refs: Partial<Record<RefColumn, RefSpec>>;
  learningOutcomes?: (src: Source) => LearningOutcomeInput[] | undefined;
}

const REQUIRED = { required: true } as const;

function column<T>(reader: Reader<T>, from: string | readonly string[], options: { required?: boolean } = {}): ColumnSpec {
  return (src) => readField(src, from, reader, options);
}

function lookup(entity: EntityType, from: string, required = false): RefSpec {
  return { entity, from, required };
}

function moodleKey(key: UniqueKey, from: string): KeySpec {
  return (src) => {
    const value = readField(src, from, readId);
    return value ? [key, value] : undefined;
  };
}

/** Grades are unique per `<moodle user id>_<assignment id>`; Zoho-only grades get `zoho_<id>`. */
const gradeCompositeKey: KeySpec = (src, zohoId) => [
  'compositeKey',
  readField(src, 'Moodle_Grade_Composite_Key', readText) || `zoho_${zohoId}`,
];

const STUDENT_STATUS = enumReader(['Active', 'Inactive', 'Suspended', 'Graduated']);
const PAYMENT_STATUS = enumReader(['Paid', 'Pending', 'Overdue', 'Refunded', 'Cancelled']);
const REQUEST_STATUS = enumReader(['Submitted', 'In Review', 'Approved', 'Rejected', 'Completed']);
const readScore = numberReader({ min: 0, max: 100 });
const EMAIL = ['Academic_Email', 'Email'];
const PHONE = ['Phone_Number', 'Phone', 'Mobile'];

/**
 * fullName (NOT NULL): Full_Name, else "First_Name Last_Name", else (teachers only) Name —
 * a student's Name is the student number, never a person's name.
 */
function personName(nameFallback: boolean): ColumnSpec {
  return (src) => {
    const full = readField(src, 'Full_Name', readText);
    if (full) return full;
    const first = readField(src, 'First_Name', readText);
    const last = readField(src, 'Last_Name', readText);
    const joined = [first, last].filter(Boolean).join(' ');
    if (joined) return joined;
    const name = nameFallback ? readField(src, 'Name', readText) : undefined;
    if (name) return name;
    if ([full, first, last, name].every((v) => v === undefined)) return undefined;
    throw inputError(
      originOf(src, 'Full_Name'),
      `a name (Full_Name, or First_Name/Last_Name${nameFallback ? ', or Name' : ''})`,
      full,
    );
  };
}

/** btecGrade: the Grade letter, else the band of Score when Grade is empty or absent. */
const gradeBand: ColumnSpec = (src) => {
  const letter = readField(src, 'Grade', (value, origin) => parseBtecLetter(value, `${origin.module}.${origin.field}`));
  if (letter) return letter;
  const score = readField(src, 'Score', readScore);
  if (typeof score === 'number') return btecGradeFromPercent(score, `${src.module}.Score`);
  return letter === null || score === null ? null : undefined;
};

const LEARNING_OUTCOMES = 'Learning_Outcomes_Assessm';

function learningOutcomeRow(row: Source): LearningOutcomeInput | undefined {
  const names = ['LO_Code', 'LO_Title', 'LO_Definition', 'LO_Score', 'LO_Feedback'];
  if (names.every((name) => isBlank(findField(row, name)?.value))) return undefined; // an empty subform row
  const code = readField(row, 'LO_Code', readText);
  if (!code) throw inputError(originOf(row, 'LO_Code'), 'a criterion code (e.g. A.P1)', code);
  const score = readField(row, 'LO_Score', readText) ?? null;
  return {
    code,
    title: readField(row, 'LO_Title', readText) ?? null,
    definition: readField(row, 'LO_Definition', readLongText) ?? null,
    score,
    feedback: readField(row, 'LO_Feedback', readLongText) ?? null,
    achieved: achievedFromScore(score),
  };
}

function gradeLearningOutcomes(src: Source): LearningOutcomeInput[] | undefined {
  const rows = readRows(src, LEARNING_OUTCOMES, learningOutcomeRow);
  if (rows) assertDistinct(src, findField(src, LEARNING_OUTCOMES)?.field ?? LEARNING_OUTCOMES, rows, (r) => r.code, 'LO_Code');
  return rows;
}

const MODULES: Readonly<Record<ZohoModule, ModuleSpec>> = {
  BTEC_Students: {
    entity: 'Student',
    keys: [moodleKey('moodleUserId', 'Student_Moodle_ID')],
    refs: {},
    fields: {
      studentNumber: column(readText, 'Name'),
      fullName: personName(false),
      firstName: column(readText, 'First_Name'),
      lastName: column(readText, 'Last_Name'),
      email: column(readText, EMAIL),
      phone: column(readText, PHONE),
      city: column(readText, 'City'),
      country: column(readText, 'Country'),
      status: column(STUDENT_STATUS, 'Status', REQUIRED),
    },
  },
  BTEC_Teachers: {
    entity: 'Teacher',
    keys: [moodleKey('moodleUserId', 'Teacher_Moodle_ID')],
    refs: {},
    fields: {
      name: column(readText, 'Name'),
      fullName: personName(true),
      email: column(readText, ['Email', 'Academic_Email']),
      status: column(readText, 'Status'),
    },
  },
  BTEC_Programs: {
    entity: 'Program',
    keys: [],
    refs: {},
    fields: {
      name: column(readText, 'Name', REQUIRED),
      code: column(readText, 'Program_Code'),
      level: column(readText, 'Level'),
      durationMonths: column(readCount, 'Duration_Months'),
      status: column(readText, 'Status'),
    },
  },
  BTEC_Units: {
    entity: 'Unit',
    keys: [],
    refs: { programId: lookup('Program', 'Program') },
    fields: {
      name: column(readText, 'Name', REQUIRED),
      code: column(readText, 'Unit_Code'),
      credits: column(readCount, 'Credits'),
      level: column(readText, 'Level'),
    },
  },
  BTEC_Classes: {
    entity: 'Class',
    keys: [moodleKey('moodleCourseId', 'Moodle_Class_ID')],
    refs: {
      unitId: lookup('Unit', 'Unit'),
      programId: lookup('Program', 'Program'),
      teacherId: lookup('Teacher', 'Teacher'),
    },
    fields: {
      name: column(readText, 'Name', REQUIRED),
      code: column(readText, 'Class_Code'),
      startDate: column(readDate, 'Start_Date'),
      endDate: column(readDate, 'End_Date'),
      schedule: column(readText, 'Schedule'),
      status: column(readText, 'Status'),
    },
  },
  BTEC_Enrollments: {
    entity: 'Enrollment',
    keys: [],
    refs: {
      studentId: lookup('Student', 'Student', true),
      classId: { ...lookup('Class', 'Class', true), moodleCourseFallback: 'Moodle_Course_ID' },
    },
    fields: {
      name: column(readText, 'Name'),
      status: column(readText, 'Status', REQUIRED),
      startDate: column(readDate, 'Start_Date'),
      endDate: column(readDate, 'End_Date'),
    },
  },
  BTEC_Registrations: {
    entity: 'Registration',
    keys: [],
    refs: { studentId: lookup('Student', 'Student', true), programId: lookup('Program', 'Program', true) },
    fields: {
      name: column(readText, 'Name'),
      status: column(readText, 'Status', REQUIRED),
      registrationDate: column(readDate, 'Registration_Date'),
      startDate: column(readDate, 'Start_Date'),
      endDate: column(readDate, 'End_Date'),
      totalFees: column(readMoney, 'Total_Fees'),
      currency: column(readText, 'Currency'),
    },
  },
  BTEC_Payments: {
    entity: 'Payment',
    keys: [],
    refs: { studentId: lookup('Student', 'Student', true), registrationId: lookup('Registration', 'Registration') },
    fields: {
      name: column(readText, 'Name'),
      amount: column(readMoney, 'Amount', REQUIRED),
      currency: column(readText, 'Currency'),
      dueDate: column(readDate, 'Due_Date'),
      paidAt: column(readDate, 'Payment_Date'),
      status: column(PAYMENT_STATUS, 'Status', REQUIRED),
      method: column(readText, 'Payment_Method'),
      reference: column(readText, 'Receipt_Number'),
    },
  },
  BTEC_Requests: {
    entity: 'StudentRequest',
    keys: [],
    refs: { studentId: lookup('Student', 'Student', true) },
    fields: {
      name: column(readText, 'Name'),
      type: column(readText, 'Request_Type', REQUIRED),
      subject: column(readText, 'Subject'),
      description: column(readLongText, 'Description'),
      status: column(REQUEST_STATUS, 'Status', REQUIRED),
      submittedAt: column(readDateTime, 'Submitted_Date'),
      resolvedAt: column(readDateTime, 'Resolved_Date'),
      response: column(readLongText, 'Response'),
    },
  },
  BTEC_Grades: {
    entity: 'Grade',
    keys: [gradeCompositeKey],
    refs: {
      studentId: lookup('Student', 'Student', true),
      unitId: lookup('Unit', 'Unit'),
      classId: lookup('Class', 'Class'),
    },
    fields: {
      name: column(readText, 'Name'),
      assignmentName: column(readText, ['Assignment_Name', 'Assignment_Title', 'Title', 'Name']),
      score: column(readScore, 'Score'),
      btecGrade: gradeBand,
      attemptNumber: column(readCount, 'Attempt_Number'),
      gradedAt: column(readDateTime, 'Attempt_Date'),
      graderName: column(readText, 'Grader_Name'),
      graderMoodleId: column(readId, 'Grader_Moodle_ID'),
      internalVerifierName: column(readText, 'IV_Name'),
      internalVerifierMoodleId: column(readId, 'IV_Moodle_ID'),
      feedback: column(readLongText, 'Feedback'),
      gradeStatus: column(readText, 'Grade_Status'),
      moodleGradeId: column(readId, 'Moodle_Grade_ID'),
    },
    learningOutcomes: gradeLearningOutcomes,
  },
};

// ---------------------------------------------------------------------------------------
// Parsing

function moduleSpec(module: string): ModuleSpec {
  if (isZohoModule(module)) return MODULES[module];
  throw new IngestInputError(
    `Unknown Zoho module ${JSON.stringify(module)}: expected one of ${ZOHO_MODULES.join(', ')}`,
    'module',
  );
}

/** The record as an object; a delete may come without data. */
function recordSource(module: string, data: unknown, operation: ZohoOperation): Source {
  const origin = { module, field: 'data' };
  if (operation === 'delete' && isBlank(data)) return source(module, {}, true);
  return source(module, asRecord(data, origin, 'a record object'), true);
}

/** The Zoho id: data.id, else the event's record_id; both present must agree. */
function zohoIdOf(src: Source, recordId: string | undefined): string {
  const dataId = readField(src, 'id', readId);
  const eventId = isBlank(recordId) ? undefined : readId(recordId, { module: src.module, field: 'record_id' });
  if (dataId && eventId && dataId !== eventId) {
    throw inputError(originOf(src, 'id'), `the event's record_id ${JSON.stringify(eventId)}`, dataId);
  }
  const id = dataId ?? eventId;
  if (!id) throw inputError(originOf(src, 'id'), 'a non-empty Zoho record id', findField(src, 'id')?.value);
  return id;
}

function readRefs(spec: ModuleSpec, src: Source): IncomingRecord['refs'] {
  const refs: Partial<Record<RefColumn, EntityRef | null>> = {};
  for (const [column, ref] of Object.entries(spec.refs) as [RefColumn, RefSpec][]) {
    const value = readRef(ref, src);
    if (value !== undefined) refs[column] = value;
  }
  return refs;
}

function readRef(ref: RefSpec, src: Source): EntityRef | null | undefined {
  const id = readField(src, ref.from, readLookup);
  if (id) return { entity: ref.entity, key: 'zohoId', value: id };
  const courseId = ref.moodleCourseFallback ? readField(src, ref.moodleCourseFallback, readId) : undefined;
  if (courseId) return { entity: ref.entity, key: 'moodleCourseId', value: courseId };
  if (id === undefined) return undefined;
  if (ref.required) {
    throw inputError(originOf(src, findField(src, ref.from)?.field ?? ref.from), 'a lookup {"name": …, "id": …} (this reference cannot be cleared)', null);
  }
  return null;
}

function readColumns(spec: ModuleSpec, src: Source): Record<string, unknown> {
  return present(Object.fromEntries(Object.entries(spec.fields).map(([name, read]) => [name, read(src)])));
}

function readKeys(spec: ModuleSpec, src: Source, zohoId: string): IncomingRecord['keys'] {
  const keys: Partial<Record<UniqueKey, string>> = { zohoId };
  for (const readKey of spec.keys) {
    const entry = readKey(src, zohoId);
    if (entry) keys[entry[0]] = entry[1];
  }
  return keys;
}

/**
 * One record of one BTEC module. For a delete only the Zoho id (data.id or recordId) and
 * Modified_Time are read. modifiedAt: Modified_Time, else options.timestamp, else null.
 */
export function parseZohoRecord(module: string, data: unknown, options: ZohoRecordOptions): IncomingRecord {
  const spec = moduleSpec(module);
  const src = recordSource(module, data, options.operation);
  const zohoId = zohoIdOf(src, options.recordId);
  const modifiedAt = readField(src, 'Modified_Time', readDateTime) ?? options.timestamp ?? null;
  const base = { source: 'ZOHO', module, entity: spec.entity, modifiedAt } as const;
  if (options.operation === 'delete') {
    return { ...base, operation: 'delete', keys: { zohoId }, fields: {}, refs: {} };
  }
  const learningOutcomes = spec.learningOutcomes?.(src);
  return {
    ...base,
    operation: 'upsert',
    keys: readKeys(spec, src, zohoId),
    fields: readColumns(spec, src),
    refs: readRefs(spec, src),
    ...(learningOutcomes ? { learningOutcomes } : {}),
  };
}
