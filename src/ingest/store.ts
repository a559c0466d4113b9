/**
 * What one IncomingRecord does to the read model, inside the caller's transaction: reference
 * resolution (or PARKED), identity matching and merging, stale guard, change detection,
 * tombstones — planned here (planRecord, a pure function), written by the caller with the
 * event's outcome (batch.ts writeRoundSql). No event log, no parking rows.
 */
import { randomUUID } from 'node:crypto';
import type { SqlTx } from '../db/sql.js';
import { canonicalHash } from './raw-event.js';
import type { LockFn } from './locks.js';
import { IngestInputError, type EntityRef, type EntityType, type IncomingRecord, type LearningOutcomeInput, type RefColumn, type UniqueKey } from './record.js';

/** The ingest's transactions run on the pg pool directly (db/sql.ts). */
export type Tx = SqlTx;

/**
 * The content hash a stored row keeps to tell a new version from a re-send. Kept per record
 * object (records are never mutated): a parked event is planned on arrival and again when released.
 */
export function fingerprintOf(record: IncomingRecord): string {
  let fingerprint = fingerprints.get(record);
  if (fingerprint === undefined) {
    fingerprint = canonicalHash({ keys: record.keys, fields: record.fields, refs: record.refs, learningOutcomes: record.learningOutcomes ?? null });
    fingerprints.set(record, fingerprint);
  }
  return fingerprint;
}
const fingerprints = new WeakMap<IncomingRecord, string>();

export type AppliedStatus = 'CREATED' | 'UPDATED' | 'UNCHANGED' | 'DELETED' | 'STALE' | 'PARKED';

export interface Applied {
  status: AppliedStatus;
  entityType: EntityType;
  entityId: string | null;
  /** The student whose dashboard the change touches, when there is exactly one. */
  studentId: string | null;
  message: string | null;
  /** PARKED: the reference it waits for, `Entity:key:value` (see refKey). */
  awaiting?: string;
  /** Keys of the stored row: parked events awaiting any of them can now be applied. */
  storedKeys: string[];
  /**
   * CREATED grade: its learning outcomes, not written yet. The caller MUST write them with the
   * event's outcome (pipeline.ts recordOutcome does), in the same transaction.
   */
  learningOutcomes?: { gradeId: string; outcomes: LearningOutcomeInput[] };
}

export interface Row {
  id: string;
  deletedAt: Date | null;
  sourceUpdatedAt: Date | null;
  fingerprint: string | null;
  moodleUpdatedAt?: Date | null;
  moodleFingerprint?: string | null;
  studentId?: string;
  [column: string]: unknown;
}

interface EntitySpec {
  keys: readonly UniqueKey[];
  /** Moodle writes this entity too (it has moodleUpdatedAt / moodleFingerprint). */
  moodle: boolean;
}

const ENTITIES: Record<EntityType, EntitySpec> = {
  Student: { keys: ['zohoId', 'moodleUserId'], moodle: true },
  Teacher: { keys: ['zohoId', 'moodleUserId'], moodle: true },
  Program: { keys: ['zohoId'], moodle: false },
  Unit: { keys: ['zohoId'], moodle: false },
  Class: { keys: ['zohoId', 'moodleCourseId'], moodle: false },
  Enrollment: { keys: ['zohoId', 'moodleEnrollmentId'], moodle: true },
  Registration: { keys: ['zohoId'], moodle: false },
  Payment: { keys: ['zohoId'], moodle: false },
  StudentRequest: { keys: ['zohoId'], moodle: false },
  Grade: { keys: ['zohoId', 'compositeKey'], moodle: true },
};

/** Rows that point at a student, moved when two identities turn out to be one. */
const STUDENT_CHILDREN = ['Registration', 'Payment', 'Enrollment', 'StudentRequest', 'Grade'] as const;

export function refKey(ref: EntityRef): string {
  return `${ref.entity}:${ref.key}:${ref.value}`;
}

export function describeRef(ref: EntityRef): string {
  return `${ref.entity} with ${ref.key} ${ref.value}`;
}

/** Parses `Entity:key:value` back into a reference. */
export function parseRefKey(key: string): EntityRef | null {
  const [entity, k, ...rest] = key.split(':');
  if (!entity || !k || !rest.length || !(entity in ENTITIES)) return null;
  return { entity: entity as EntityType, key: k as UniqueKey, value: rest.join(':') };
}

function ownRefs(record: IncomingRecord): EntityRef[] {
  return Object.entries(record.keys)
    .filter((entry): entry is [UniqueKey, string] => typeof entry[1] === 'string' && entry[1] !== '')
    .map(([key, value]) => ({ entity: record.entity, key, value }));
}

/**
 * A record's keys, worked out once: a batch asks for them again and again (group commit, each
 * round, locks, releases; ≈ 6 % of the bytes allocated per S3 event before). A parsed record is
 * not changed afterwards; callers must not change the arrays.
 */
const recordKeys = new WeakMap<IncomingRecord, { own: readonly string[]; lock: readonly string[] }>();

function keysOf(record: IncomingRecord): { own: readonly string[]; lock: readonly string[] } {
  let keys = recordKeys.get(record);
  if (!keys) {
    const own = ownRefs(record).map(refKey);
    const parents = Object.values(record.refs).filter((r): r is EntityRef => r !== null && r !== undefined);
    keys = { own, lock: [...own, ...parents.map(refKey)] };
    recordKeys.set(record, keys);
  }
  return keys;
}

/** The keys the record stores: parked events awaiting one of them are released by it. */
export function ownKeysOf(record: IncomingRecord): readonly string[] {
  return keysOf(record).own;
}

/** The entity locks applying the record needs: its own keys and its parents' (see locks.ts). */
export function lockKeysOf(record: IncomingRecord): readonly string[] {
  return keysOf(record).lock;
}

function storedKeysOf(entity: EntityType, row: Row): string[] {
  return ENTITIES[entity].keys
    .filter((key) => typeof row[key] === 'string' && row[key] !== '')
    .map((key) => refKey({ entity, key, value: row[key] as string }));
}

/** Entities whose rows carry a studentId (studentIdOf) — read with the row. */
const HAS_STUDENT: ReadonlySet<EntityType> = new Set(['Registration', 'Payment', 'Enrollment', 'StudentRequest', 'Grade']);
const DATE_COLUMNS = ['deletedAt', 'sourceUpdatedAt', 'moodleUpdatedAt', 'syncedAt'] as const;

/** The columns of a stored row that applying a record reads (identity, stale guard, fingerprints, keys). */
function rowColumns(entity: EntityType): string[] {
  const spec = ENTITIES[entity];
  return [
    'id', 'deletedAt', 'sourceUpdatedAt', 'fingerprint', 'syncedAt', ...spec.keys,
    ...(spec.moodle ? ['moodleUpdatedAt', 'moodleFingerprint'] : []),
    ...(HAS_STUDENT.has(entity) ? ['studentId'] : []),
    ...(entity === 'Enrollment' ? ['classId'] : []),
  ];
}

/** What applying a record reads first: its parents (by their unique keys) and the stored rows matching its keys. */
export interface RecordRead {
  parents: ({ id: string; unitId?: string | null } | null)[];
  /** Oldest sync first. */
  matches: Row[];
}

/** One row looked up by a unique key (or, for an enrolment, by its student and class). */
interface Lookup {
  entity: EntityType;
  key: UniqueKey | 'pair';
  value: string;
  /** pair: the student's key, the class's key and value. */
  studentKey?: UniqueKey;
  classKey?: UniqueKey;
  classValue?: string;
}

const column = (name: string) => `t."${name}"`;

/** The columns `rowColumns` of the row `t` as one json value (read back as a Row by `rowOf`). */
function rowJsonSql(entity: EntityType): string {
  const columns = [...new Set([...rowColumns(entity), ...(entity === 'Class' ? ['unitId'] : [])])];
  return `json_build_object(${columns.map((c) => `'${c}', ${column(c)}`).join(', ')})`;
}

function rowOf(row: Row): Row {
  for (const c of DATE_COLUMNS) if (typeof row[c] === 'string') row[c] = new Date(row[c] as string);
  return row;
}

/**
 * The tenant's rows of `entity` whose `conditions` (on a key) hold, as a subquery the planner
 * cannot flatten (OFFSET 0) into a join with the lookups: per lookup one probe of the key's
 * unique index, which leads with the key, the tenant second. Before, with the indexes led by the
 * tenant and the lookups a join, a plan made before the table's first ANALYZE (the planner then
 * gives an equality on tenantId 0.5 % of the rows) read the tenant's rows through another
 * tenantId-led index: 14,656 Student index entries for one grade among 3,000 students. Inside the
 * fence every candidate index is probed with the key's value; the key-led one also matches the
 * tenant, so it is the most selective under any statistics (test/db/ingest-plans.test.ts).
 */
function probeSql(entity: EntityType, alias: string, conditions: string): string {
  return `(SELECT * FROM "${entity}" ${alias} WHERE ${conditions} AND ${alias}."tenantId" = $1 OFFSET 0) ${alias}`;
}

/** The id of the `entity` row of the tenant that the lookup `l` names by a key of its (pair lookups name their parents' keys). */
function idByAnyKeySql(entity: EntityType, alias: string, keyColumn: string, valueColumn: string): string {
  const probes = ENTITIES[entity].keys.map(
    (key) => `WHEN '${key}' THEN (SELECT ${alias}."id" FROM ${probeSql(entity, alias, `${alias}."${key}" = l."${valueColumn}"`)})`,
  );
  return `CASE l."${keyColumn}" ${probes.join(' ')} END`;
}

/** Per entity and key (`Entity|key`, and `Enrollment|pair`: an enrolment by its student and class), the read's branch that looks rows up by it. */
const BRANCHES = new Map<string, string>();
for (const entity of Object.keys(ENTITIES) as EntityType[]) {
  const row = rowJsonSql(entity);
  for (const key of ENTITIES[entity].keys) {
    BRANCHES.set(
      `${entity}|${key}`,
      `SELECT l."n", ${row} AS "row" FROM l CROSS JOIN LATERAL ${probeSql(entity, 't', `t."${key}" = l."value"`)}
          WHERE l."entity" = '${entity}' AND l."key" = '${key}'`,
    );
  }
  if (entity === 'Enrollment') {
    const pair = `t."studentId" = ${idByAnyKeySql('Student', 's', 'studentKey', 'value')} AND t."classId" = ${idByAnyKeySql('Class', 'c', 'classKey', 'classValue')}`;
    BRANCHES.set(
      'Enrollment|pair',
      `SELECT l."n", ${row} AS "row" FROM l CROSS JOIN LATERAL ${probeSql('Enrollment', 't', pair)}
          WHERE l."entity" = 'Enrollment' AND l."key" = 'pair'`,
    );
  }
}
export const READ_BRANCHES: readonly string[] = [...BRANCHES.keys()];
export const READ_TEXT_LIMIT = 256;

function readText(names: readonly string[]): string {
  return `WITH l AS MATERIALIZED (
      SELECT * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
        AS l("n", "entity", "key", "value", "studentKey", "classKey", "classValue"))
    ${names.map((name) => BRANCHES.get(name)).join('\n    UNION ALL ')}`;
}
const EVERY_BRANCH = readText(READ_BRANCHES);
/** By the names of their branches, joined. */
const READ_TEXTS = new Map([[READ_BRANCHES.join(' '), EVERY_BRANCH]]);

/**
 * Every lookup of a round in one statement: the branches of the entities and keys it looks up,
 * joined with the lookups by index. Each row found comes back with the lookup's number and the
 * columns applying a record reads. One text per set of branches, so Postgres plans each once per
 * connection once it is named (client.ts statementName: from its second use; a statement per
 * batch, one subquery per record, spent more time planning than running) — not one text with
 * all sixteen: Postgres initialises and ends every node of a plan at each execution, used or not
 * (58 nodes for all sixteen, 8 for a payment's two; an S3 round left 7–21 of the 58 unrun).
 * S3 met 170 sets in 18,000 events; past READ_TEXT_LIMIT sets a new one reads with every
 * branch, so reads never take more than that many of the process's prepared-statement names
 * (which the writes, Prisma and the compiled dashboard reads share).
 */
export function readSql(branches: ReadonlySet<string>): string {
  const names = READ_BRANCHES.filter((name) => branches.has(name));
  if (names.length !== branches.size) throw new Error(`read: no lookup by ${[...branches].filter((b) => !BRANCHES.has(b)).join(', ')}`);
  const id = names.join(' ');
  let text = READ_TEXTS.get(id);
  if (text === undefined) {
    if (READ_TEXTS.size >= READ_TEXT_LIMIT) return EVERY_BRANCH;
    READ_TEXTS.set(id, (text = readText(names)));
  }
  return text;
}

/**
 * Reads, for each record, every parent it refers to (by its unique key) and every stored row
 * matching one of its keys (for an enrolment also its student and class), in one statement.
 */
export async function readRecords(tx: Tx, tenantId: string, records: readonly IncomingRecord[]): Promise<RecordRead[]> {
  if (!records.length) return [];
  const lookups: Lookup[] = [];
  const plan = records.map((record) => {
    const refs = Object.values(record.refs).filter((r): r is EntityRef => r !== null && r !== undefined);
    const parents = refs.map((ref) => lookups.push({ entity: ref.entity, key: ref.key, value: ref.value }) - 1);
    const own = ownRefs(record).map((ref) => lookups.push({ entity: ref.entity, key: ref.key, value: ref.value }) - 1);
    const { studentId, classId } = record.refs;
    if (record.entity === 'Enrollment' && studentId && classId) {
      own.push(lookups.push({ entity: 'Enrollment', key: 'pair', value: studentId.value, studentKey: studentId.key, classKey: classId.key, classValue: classId.value }) - 1);
    }
    return { parents, own };
  });
  const rows = await tx.query<{ n: number; row: Row }>(readSql(new Set(lookups.map((l) => `${l.entity}|${l.key}`))), [
    tenantId,
    lookups.map((_, n) => n),
    lookups.map((l) => l.entity),
    lookups.map((l) => l.key),
    lookups.map((l) => l.value),
    lookups.map((l) => l.studentKey ?? null),
    lookups.map((l) => l.classKey ?? null),
    lookups.map((l) => l.classValue ?? null),
  ]);
  const found = new Map<number, Row>();
  for (const { n, row } of rows) found.set(n, rowOf(row));
  return plan.map(({ parents, own }) => {
    const matches = new Map<string, Row>();
    for (const n of own) {
      const row = found.get(n);
      if (row) matches.set(row.id, row);
    }
    return {
      parents: parents.map((n) => {
        const row = found.get(n);
        return row ? { id: row.id, ...(typeof row.unitId !== 'undefined' ? { unitId: row.unitId as string | null } : {}) } : null;
      }),
      matches: [...matches.values()].sort((x, y) => (x.syncedAt as Date).getTime() - (y.syncedAt as Date).getTime()),
    };
  });
}

export type ResolvedRefs = { ok: true; columns: Partial<Record<RefColumn, string | null>> } | { ok: false; missing: EntityRef };

/** Every parent looked up (readRecord); tombstoned parents count as present (the child stays hidden with them). */
export function resolveRefs(record: IncomingRecord, found: ({ id: string; unitId?: string | null } | null)[]): ResolvedRefs {
  const columns: Partial<Record<RefColumn, string | null>> = {};
  let i = 0;
  for (const [column, ref] of Object.entries(record.refs) as [RefColumn, EntityRef | null][]) {
    if (ref === undefined) continue;
    if (ref === null) {
      columns[column] = null;
      continue;
    }
    const parent = found[i++] ?? null;
    if (!parent) return { ok: false, missing: ref };
    columns[column] = parent.id;
    // A grade from Moodle names its course; the unit comes from the class.
    if (record.entity === 'Grade' && column === 'classId' && record.refs.unitId === undefined && typeof parent.unitId === 'string') {
      columns.unitId = parent.unitId;
    }
  }
  return { ok: true, columns };
}

/**
 * Two rows for one identity (a Moodle-created student, then the Zoho student that carries
 * its Student_Moodle_ID): children move to the row with the Zoho id, the other row goes.
 */
export async function mergeRows(tx: Tx, entity: EntityType, rows: Row[]): Promise<Row> {
  const keep = rows.find((r) => r.zohoId) ?? rows[0]!;
  const others = rows.filter((r) => r !== keep);
  if (entity !== 'Student' && entity !== 'Teacher') {
    throw new IngestInputError(`${entity}: its keys match ${rows.length} different stored records; resolve the conflict in the source`);
  }
  for (const other of others) {
    if (entity === 'Student') {
      // One enrolment per student and class: the other row's enrolment in a class the kept row
      // is enrolled in goes, and its ids (Moodle's enrolment id) go to the kept enrolment.
      const enrolments = `SELECT ${rowJsonSql('Enrollment')} AS "row" FROM "Enrollment" t WHERE t."studentId" = $1::uuid`;
      const kept = new Map((await tx.query<{ row: Row }>(enrolments, [keep.id])).map(({ row }) => [row.classId as string, rowOf(row)]));
      const twins = (await tx.query<{ row: Row }>(`${enrolments} AND t."classId" = ANY($2::uuid[])`, [other.id, [...kept.keys()]])).map(({ row }) => rowOf(row));
      if (twins.length) await tx.execute('DELETE FROM "Enrollment" WHERE "id" = ANY($1::uuid[])', [twins.map((e) => e.id)]);
      for (const twin of twins) {
        const target = kept.get(twin.classId as string)!;
        const fill = absorbed('Enrollment', target, [twin]);
        if (Object.keys(fill).length) await updateRow(tx, 'Enrollment', target.id, fill);
      }
      const moves = STUDENT_CHILDREN.map((child, n) => `"m${n}" AS (UPDATE "${child}" SET "studentId" = $2::uuid WHERE "studentId" = $1::uuid)`);
      await tx.execute(`WITH ${moves.join(', ')} SELECT 1`, [other.id, keep.id]);
    } else {
      await tx.execute('UPDATE "Class" SET "teacherId" = $2::uuid WHERE "teacherId" = $1::uuid', [other.id, keep.id]);
    }
    await tx.execute(`DELETE FROM "${entity}" WHERE "id" = $1::uuid`, [other.id]);
  }
  const fill = absorbed(entity, keep, others);
  return Object.keys(fill).length ? updateRow(tx, entity, keep.id, fill) : keep;
}

/** Sets `data`'s columns of one row (typed through the table's row type, as a batch's writes are); the row as read back. */
async function updateRow(tx: Tx, entity: EntityType, id: string, data: Record<string, unknown>): Promise<Row> {
  const columns = Object.keys(data).map((c) => `"${c}"`);
  const [updated] = await tx.query<{ row: Row }>(
    `UPDATE "${entity}" t SET ${columns.map((c) => `${c} = x.${c}`).join(', ')}
       FROM jsonb_populate_record(NULL::"${entity}", $2::jsonb) x WHERE t."id" = $1::uuid RETURNING ${rowJsonSql(entity)} AS "row"`,
    [id, JSON.stringify(data)],
  );
  return rowOf(updated!.row);
}

/**
 * What the kept row of a merge takes from the rows it replaces: the keys it lacks, and the
 * newest Moodle stamp and fingerprint (so Moodle's stale guard survives the merge).
 */
function absorbed(entity: EntityType, keep: Row, others: Row[]): Record<string, unknown> {
  const fill: Record<string, unknown> = {};
  for (const key of ENTITIES[entity].keys) {
    if (!keep[key]) {
      const value = others.find((o) => o[key])?.[key];
      if (value) fill[key] = value;
    }
  }
  if (ENTITIES[entity].moodle) {
    const newest = others.reduce<Row | null>((best, o) => (o.moodleUpdatedAt && (!best?.moodleUpdatedAt || o.moodleUpdatedAt > best.moodleUpdatedAt) ? o : best), null);
    if (newest?.moodleUpdatedAt && (!keep.moodleUpdatedAt || newest.moodleUpdatedAt > keep.moodleUpdatedAt)) {
      fill.moodleUpdatedAt = newest.moodleUpdatedAt;
      fill.moodleFingerprint = newest.moodleFingerprint ?? null;
    }
  }
  return fill;
}

function studentIdOf(entity: EntityType, row: Row): string | null {
  if (entity === 'Student') return row.id;
  return typeof row.studentId === 'string' ? row.studentId : null;
}

function result(record: IncomingRecord, status: AppliedStatus, row: Row | null, message: string | null, storedKeys: string[] = []): Applied {
  return {
    status,
    entityType: record.entity,
    entityId: row?.id ?? null,
    studentId: row ? studentIdOf(record.entity, row) : null,
    message,
    storedKeys,
  };
}

/** A row applying a record writes: planned by planRecord, written with the event's outcome (batch.ts writeRoundSql). */
export interface RecordWrite {
  kind: 'create' | 'update';
  entity: EntityType;
  /** The record's module, for messages. */
  module: string;
  id: string;
  /** Columns to set (without id and tenantId); undefined sets nothing. */
  data: Record<string, unknown>;
}

export interface RecordPlan {
  applied: Applied;
  write: RecordWrite | null;
  /** An existing grade's learning outcomes: replaced by this set (a created grade's go in Applied.learningOutcomes). */
  replaceOutcomes?: { gradeId: string; outcomes: LearningOutcomeInput[] };
}

/**
 * Plans the record alone (a batch plans its records together, batch.ts): takes its entity locks
 * through `lock` (a no-op for those the caller holds), reads, merges; the caller writes the plan.
 * Throws IngestInputError for unusable input.
 */
export async function planAlone(tx: Tx, tenantId: string, record: IncomingRecord, lock: LockFn): Promise<RecordPlan> {
  if (!ownRefs(record).length) throw new IngestInputError(`${record.module}: the record has no id`);
  await lock(lockKeysOf(record));
  const [read] = await readRecords(tx, tenantId, [record]);
  const resolved = resolveRefs(record, read!.parents);
  const existing = resolved.ok ? await existingRow(tx, record, read!) : null;
  return planRecord(record, resolved, existing);
}

/** The stored row the record is about: none, the one matching, or the merge of several (mergeRows). */
export async function existingRow(tx: Tx, record: IncomingRecord, read: RecordRead): Promise<Row | null> {
  return read.matches.length > 1 ? mergeRows(tx, record.entity, read.matches) : (read.matches[0] ?? null);
}

/**
 * Decides what the record does to the stored row `existing` (after merging): the outcome and
 * the write, without touching the database. Throws IngestInputError for unusable input.
 */
export function planRecord(record: IncomingRecord, resolved: ResolvedRefs, existing: Row | null): RecordPlan {
  const own = ownRefs(record);
  if (!own.length) throw new IngestInputError(`${record.module}: the record has no id`);
  if (!resolved.ok) {
    const applied = { ...result(record, 'PARKED', null, `waiting for ${describeRef(resolved.missing)}`), awaiting: refKey(resolved.missing) };
    return { applied, write: null };
  }
  const spec = ENTITIES[record.entity];
  const moodle = record.source === 'MOODLE';
  if (moodle && !spec.moodle) throw new IngestInputError(`${record.module}: Moodle cannot write ${record.entity} records`);
  const stampColumn = moodle ? 'moodleUpdatedAt' : 'sourceUpdatedAt';
  const fingerprintColumn = moodle ? 'moodleFingerprint' : 'fingerprint';
  const stored = (existing?.[stampColumn] as Date | null | undefined) ?? null;
  const at = record.modifiedAt;
  const unchanged = (row: Row, message: string | null): RecordPlan => ({ applied: result(record, 'UNCHANGED', row, message), write: null });
  const stale = (row: Row, message: string): RecordPlan => ({ applied: result(record, 'STALE', row, message), write: null });
  /** The plan of an update of `existing` with `data`: the outcome as `status` with the updated row. */
  const update = (row: Row, data: Record<string, unknown>, status: AppliedStatus, message: string | null, stores: boolean): RecordPlan => {
    const updated = { ...row, ...data } as Row;
    return { applied: result(record, status, updated, message, stores ? storedKeysOf(record.entity, updated) : []), write: { kind: 'update', entity: record.entity, module: record.module, id: row.id, data } };
  };
  // Zoho is the system of record: once a Zoho record is applied, Moodle only adds its ids and
  // keeps its own stamp and fingerprint: it never overwrites fields, and never deletes or
  // restores the record (whether it is live is Zoho's to say). Likewise a Zoho record takes
  // over a record that only Moodle had, even one Moodle deleted.
  const zohoOwned = moodle && Boolean(existing?.sourceUpdatedAt);
  const takesOver = !moodle && Boolean(existing?.deletedAt) && !existing?.zohoId;

  if (record.operation === 'delete') {
    if (!existing) {
      const self = own[0]!;
      const applied = { ...result(record, 'PARKED', null, `delete of a record not received yet: applied when ${describeRef(self)} arrives`), awaiting: refKey(self) };
      return { applied, write: null };
    }
    if (at && stored && at < stored) return stale(existing, `deleted at ${at.toISOString()}, but the stored record is newer (${stored.toISOString()})`);
    // A tombstone holds no version of the record: the deleting source's fingerprint goes with it.
    if (zohoOwned) {
      return update(existing, { [stampColumn]: laterOf(stored, at), [fingerprintColumn]: null }, 'UNCHANGED', 'Zoho owns this record: a Moodle deletion does not remove it', false);
    }
    // Deleted again later (e.g. after a restore): the tombstone moves to the later deletion,
    // so a restore between the two deletions stays overruled in any order.
    if (existing.deletedAt && !(at && at > existing.deletedAt)) return unchanged(existing, 'already deleted');
    const data = { deletedAt: at ?? new Date(), [stampColumn]: laterOf(stored, at), [fingerprintColumn]: null, syncedAt: new Date() };
    if (existing.deletedAt) return update(existing, data, 'UNCHANGED', 'already deleted; deleted again later', false);
    return update(existing, data, 'DELETED', null, true);
  }

  if (existing?.deletedAt && !zohoOwned && !takesOver && !(at && at > existing.deletedAt)) {
    return stale(existing, `deleted at ${existing.deletedAt.toISOString()}; an older record does not bring it back`);
  }
  const fingerprint = fingerprintOf(record);
  const storedFingerprint = (existing?.[fingerprintColumn] as string | null | undefined) ?? null;
  if (existing && (!existing.deletedAt || zohoOwned)) {
    if (at && stored && at < stored) return stale(existing, `modified at ${at.toISOString()}, but the stored record is newer (${stored.toISOString()})`);
    if (storedFingerprint === fingerprint) {
      // Same content at a newer time: nothing to show, but the stale guard must remember the
      // newer time, or a delayed version from in between (different content) would win.
      if (!at || (stored && at <= stored)) return unchanged(existing, null);
      return update(existing, { [stampColumn]: at }, 'UNCHANGED', null, false);
    }
    // Same modification time, different content: the larger fingerprint wins, in any order.
    if (at && stored && at.getTime() === stored.getTime() && storedFingerprint && fingerprint < storedFingerprint) {
      return stale(existing, 'a different version with the same modification time was kept');
    }
  }

  // Moodle only adds the ids a row lacks (never overwrites them); a Zoho record sets all of its keys.
  const keyColumns = Object.fromEntries(own.filter((r) => !existing || !existing[r.key]).map((r) => [r.key, r.value]));
  const data: Record<string, unknown> = {
    ...(zohoOwned ? {} : { ...record.fields, ...resolved.columns }),
    ...(existing && moodle ? keyColumns : Object.fromEntries(own.map((r) => [r.key, r.value]))),
    [stampColumn]: laterOf(stored, at),
    [fingerprintColumn]: fingerprint,
    ...(zohoOwned ? {} : { deletedAt: null }),
    syncedAt: new Date(),
  };
  const outcomes = record.learningOutcomes && !zohoOwned && record.entity === 'Grade' ? record.learningOutcomes : undefined;
  if (existing) {
    const restored = existing.deletedAt && !zohoOwned ? (takesOver ? 'restored: Zoho has the record Moodle deleted' : 'restored: newer than its deletion') : null;
    const plan = update(existing, data, 'UPDATED', restored, true);
    return outcomes ? { ...plan, replaceOutcomes: { gradeId: existing.id, outcomes } } : plan;
  }
  const id = randomUUID();
  const created = { id, ...data } as Row;
  const applied = result(record, 'CREATED', created, null, storedKeysOf(record.entity, created));
  // A grade created just now has no outcomes to replace; its own go in with its outcome (the caller's recordOutcome).
  return {
    applied: outcomes?.length ? { ...applied, learningOutcomes: { gradeId: id, outcomes } } : applied,
    write: { kind: 'create', entity: record.entity, module: record.module, id, data },
  };
}

function laterOf(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a > b ? a : b;
}
