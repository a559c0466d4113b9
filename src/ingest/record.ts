/**
 * The validated, source-neutral form of one incoming change. Parsers (zoho-records.ts,
 * moodle-events.ts) turn raw payloads into an IncomingRecord; the pipeline stores it.
 */
export type EntityType =
  | 'Student'
  | 'Teacher'
  | 'Program'
  | 'Unit'
  | 'Class'
  | 'Enrollment'
  | 'Registration'
  | 'Payment'
  | 'StudentRequest'
  | 'Grade';

export type SourceName = 'ZOHO' | 'MOODLE';

/** Unique keys a row can be found by (each is unique per tenant for its entity). */
export type UniqueKey = 'zohoId' | 'moodleUserId' | 'moodleCourseId' | 'moodleEnrollmentId' | 'compositeKey';

/** A reference to another entity by one of its unique keys. */
export interface EntityRef {
  entity: EntityType;
  key: UniqueKey;
  value: string;
}

/** Foreign-key columns a record may reference. */
export type RefColumn = 'studentId' | 'teacherId' | 'programId' | 'unitId' | 'classId' | 'registrationId';

export interface LearningOutcomeInput {
  code: string;
  title: string | null;
  definition: string | null;
  score: string | null;
  feedback: string | null;
  achieved: boolean;
}

/** A parsed record; not changed once parsed (store.ts works out its keys once per record). */
export interface IncomingRecord {
  source: SourceName;
  /** Zoho module or Moodle event name it came from, for messages and the sync log. */
  module: string;
  entity: EntityType;
  operation: 'upsert' | 'delete';
  /**
   * Keys identifying the row. An existing row matching any of them is the same entity
   * (a Zoho student carrying Student_Moodle_ID merges with the Moodle-created student).
   * At least one key is always present.
   */
  readonly keys: Readonly<Partial<Record<UniqueKey, string>>>;
  /** Source modification time (Zoho Modified_Time, Moodle timemodified); stale guard. */
  modifiedAt: Date | null;
  /**
   * Column values this record sets, already converted (Date for dates, string for money
   * with two decimals, enums upper-case). A key that is absent is not touched; null clears.
   */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Parents: a ref that does not resolve parks the record; null clears the column. */
  readonly refs: Readonly<Partial<Record<RefColumn, EntityRef | null>>>;
  /** Grades only: the complete set of learning outcomes (replaces the stored set). */
  learningOutcomes?: LearningOutcomeInput[];
}

/** Bad input: the message names the module, the field and what was expected. */
export class IngestInputError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'IngestInputError';
  }
}
