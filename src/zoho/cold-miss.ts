/**
 * Cold-miss fallback: a student the read model does not have yet is fetched from Zoho once —
 * the BTEC_Students record (by Student_Moodle_ID search or by id) and their registrations,
 * payments, enrolments, requests and grades (`(Student:equals:<zohoId>)` searches), plus any
 * program, unit, class, teacher or registration those refer to that is missing — and ingested
 * through the pipeline. Every later view reads Postgres: 0 Zoho calls.
 *
 * Everything about the student is fetched before anything is stored, and the student record
 * is ingested last (the related records park until it arrives and are applied in its
 * transaction), so a failed fetch leaves no half-loaded student that would look warm later.
 */
import { db } from '../db/client.js';
import { zohoBulkEvents } from '../ingest/envelopes.js';
import type { IngestResult, Ingestor } from '../ingest/pipeline.js';
import { parseRefKey } from '../ingest/store.js';
import type { EntityType } from '../ingest/record.js';
import type { Logger } from '../logger.js';
import { criteria, type ZohoClient, type ZohoRecord } from './client.js';
import { isZohoError, ZohoBudgetExceededError, ZohoUnavailableError } from './errors.js';

/** Which student: the read model's id (refresh only), the Zoho record id, or the Moodle user id. */
export type StudentLookup = { id: string } | { zohoId: string } | { moodleUserId: string };

export interface ColdMissDeps {
  /** null when Zoho is not configured (createZohoClient returned null). */
  client: ZohoClient | null;
  ingestor: Ingestor;
  log?: Logger;
}

export interface ColdMissOptions {
  /** Fetch from Zoho even when the read model has the student (the admin refreshStudent). Default false. */
  refresh?: boolean;
  /** Overall deadline for the Zoho calls (default 15 s); past it the result is `timeout`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** How long a "Zoho has no such student" answer is remembered, so repeated views cost nothing (default 5 min). */
  notFoundTtlMs?: number;
}

export type ColdMissReason =
  /** Zoho is not configured. */
  | 'not-configured'
  /** Neither the read model nor Zoho has the student (or an unknown read-model id was given). */
  | 'not-found'
  /** The read model holds the student as deleted: Zoho is not asked. */
  | 'deleted'
  /** The circuit breaker is open after repeated Zoho failures. */
  | 'breaker-open'
  /** The shared credit budget is used up. */
  | 'budget-exhausted'
  /** The deadline passed. */
  | 'timeout'
  /** A Zoho call failed (after its retries), or the Zoho student record was refused as invalid. */
  | 'unavailable';

export type ColdMissResult =
  | {
      studentId: string;
      /** 'read-model': it was there, nothing was fetched; 'zoho': fetched and ingested now. */
      source: 'read-model' | 'zoho';
      /** HTTP requests sent to Zoho by this call. */
      zohoCalls: number;
      /** The outcomes of the records ingested (student last). */
      outcomes: IngestResult[];
      /** References still missing after fetching parents (their records stay PARKED until they arrive). */
      missing: string[];
    }
  | { studentId: null; reason: ColdMissReason; message: string; zohoCalls: number };

const STUDENTS = 'BTEC_Students';
/** Ingest order: payments refer to registrations. */
const RELATED_MODULES = ['BTEC_Registrations', 'BTEC_Payments', 'BTEC_Enrollments', 'BTEC_Requests', 'BTEC_Grades'] as const;
/** The module a missing parent is fetched from. */
const PARENT_MODULES: Partial<Record<EntityType, string>> = {
  Program: 'BTEC_Programs',
  Unit: 'BTEC_Units',
  Class: 'BTEC_Classes',
  Teacher: 'BTEC_Teachers',
  Registration: 'BTEC_Registrations',
};
/** Requests a cold miss needs at least: find the student, then one search per related module. */
const MINIMUM_CALLS = 1 + RELATED_MODULES.length;
/** class → unit → program, class → teacher: three rounds reach every parent. */
const PARENT_ROUNDS = 3;

const inFlight = new WeakMap<ZohoClient, Map<string, Promise<ColdMissResult>>>();
const notFound = new WeakMap<ZohoClient, Map<string, number>>();
const NOT_FOUND_ENTRIES = 10_000;

/**
 * The read-model id of the student, fetching them from Zoho on a cold miss.
 *
 * - Warm (the read model has them, `refresh` false): returns `{studentId, source:
 *   'read-model', zohoCalls: 0}` after one indexed lookup.
 * - Cold: 1 request to find the student (search by Student_Moodle_ID, or GET by id), 5
 *   searches for their records, and one batched GET per module of missing parents; the
 *   result is `{studentId, source: 'zoho', zohoCalls}`.
 * - Never throws for Zoho trouble and never hangs: `{studentId: null, reason, message}`
 *   (see ColdMissReason). Throws DatabaseUnavailableError when Postgres is down.
 *
 * Concurrent calls for the same student share one fetch.
 */
export async function fetchStudentFromZoho(
  tenantId: string,
  lookup: StudentLookup,
  deps: ColdMissDeps,
  options: ColdMissOptions = {},
): Promise<ColdMissResult> {
  const known = await findStudent(tenantId, lookup);
  if ('id' in lookup && !known) return miss('not-found', `no student with id ${lookup.id} in the read model`);
  if (known?.deletedAt && !options.refresh) return miss('deleted', 'the student was deleted');
  if (known && !known.deletedAt && !options.refresh) return { studentId: known.id, source: 'read-model', zohoCalls: 0, outcomes: [], missing: [] };

  const key = zohoKey(lookup, known);
  if (!key) return miss('not-found', 'the student has neither a Zoho id nor a Moodle user id to look up in Zoho');
  const { client } = deps;
  if (!client) return miss('not-configured', 'the Zoho API is not configured (ZOHO_* settings)');

  const flightKey = `${tenantId}\u0000${key.field}\u0000${key.value}\u0000${options.refresh ? 'refresh' : ''}`;
  const negatives = mapFor(notFound, client);
  const until = negatives.get(flightKey);
  if (until !== undefined && until > Date.now() && !options.refresh) return miss('not-found', `Zoho has no student with ${key.field} ${key.value} (checked recently)`);

  const flights = mapFor(inFlight, client);
  let flight = flights.get(flightKey);
  if (!flight) {
    flight = fetchAndIngest(tenantId, key, client, deps, options).finally(() => flights.delete(flightKey));
    flights.set(flightKey, flight);
  }
  const result = await flight;
  if (result.studentId === null && result.reason === 'not-found') {
    negatives.delete(flightKey);
    negatives.set(flightKey, Date.now() + (options.notFoundTtlMs ?? 5 * 60_000));
    if (negatives.size > NOT_FOUND_ENTRIES) negatives.delete(negatives.keys().next().value!);
  }
  return result;
}

interface ZohoKey {
  field: 'zohoId' | 'moodleUserId';
  value: string;
}

async function fetchAndIngest(tenantId: string, key: ZohoKey, client: ZohoClient, deps: ColdMissDeps, options: ColdMissOptions): Promise<ColdMissResult> {
  const log = deps.log?.child({ component: 'zoho-cold-miss', tenantId, [key.field]: key.value });
  const meter = { requests: 0 };
  const deadline = AbortSignal.timeout(options.timeoutMs ?? 15_000);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const call = { signal, meter };

  // Not even started when the budget cannot cover the minimum (the student + 5 searches).
  const unavailable = await client.unavailable(MINIMUM_CALLS);
  if (unavailable) return miss(unavailable === 'closed' ? 'unavailable' : unavailable, `Zoho cannot be called now (${unavailable})`);

  let student: ZohoRecord | null;
  let related: [string, ZohoRecord[]][];
  try {
    student = await findInZoho(client, key, call, log);
    if (!student) return miss('not-found', `Zoho has no student with ${key.field === 'zohoId' ? 'id' : 'Student_Moodle_ID'} ${key.value}`, meter.requests);
    related = await searchRelated(client, student.id, call);
  } catch (error) {
    return failed(error, meter.requests, signal, log);
  }

  const outcomes: IngestResult[] = [];
  for (const [module, records] of related) outcomes.push(...(await ingestAll(deps.ingestor, tenantId, module, records)));
  const [studentOutcome] = await ingestAll(deps.ingestor, tenantId, STUDENTS, [student]);
  outcomes.push(studentOutcome!);
  if (studentOutcome!.status === 'REJECTED') {
    log?.warn({ message: studentOutcome!.message }, 'the Zoho student record was refused');
    return miss('unavailable', `the Zoho student record was refused: ${studentOutcome!.message}`, meter.requests);
  }

  const fetched = new Set([student, ...related.flatMap(([, records]) => records)].map((r) => r.id));
  const missing = await fetchMissingParents(tenantId, client, deps.ingestor, outcomes, fetched, call, log);
  const studentId = studentOutcome!.entityId ?? (await findStudent(tenantId, { zohoId: student.id }))?.id ?? null;
  if (!studentId) return miss('unavailable', `the Zoho student was not stored (${studentOutcome!.status}: ${studentOutcome!.message ?? ''})`, meter.requests);
  log?.info({ studentId, zohoCalls: meter.requests, records: outcomes.length, missing }, 'cold miss: student fetched from Zoho');
  return { studentId, source: 'zoho', zohoCalls: meter.requests, outcomes, missing };
}

/**
 * The 5 related searches, in parallel. The first failure cancels the others (no more credits
 * spent on a result that will be thrown away), and every search has ended when this returns.
 */
async function searchRelated(client: ZohoClient, studentZohoId: string, call: { signal: AbortSignal; meter: { requests: number } }): Promise<[string, ZohoRecord[]][]> {
  const cancel = new AbortController();
  const signal = AbortSignal.any([call.signal, cancel.signal]);
  const byStudent = criteria('Student', 'equals', studentZohoId);
  const settled = await Promise.allSettled(
    RELATED_MODULES.map(async (module) => {
      try {
        return [module, await client.search(module, byStudent, { ...call, signal })] as [string, ZohoRecord[]];
      } catch (error) {
        cancel.abort(error);
        throw error;
      }
    }),
  );
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(isZohoError(r.reason) && r.reason.code === 'ABORTED' && !call.signal.aborted));
  if (rejected) throw rejected.reason;
  const firstFailure = cancel.signal.aborted ? cancel.signal.reason : undefined;
  if (firstFailure !== undefined) throw firstFailure;
  return settled.map((r) => (r as PromiseFulfilledResult<[string, ZohoRecord[]]>).value);
}

async function findInZoho(client: ZohoClient, key: ZohoKey, call: { signal: AbortSignal; meter: { requests: number } }, log: Logger | undefined): Promise<ZohoRecord | null> {
  if (key.field === 'zohoId') return client.getRecord(STUDENTS, key.value, call);
  const found = await client.search(STUDENTS, criteria('Student_Moodle_ID', 'equals', key.value), { ...call, maxPages: 1 });
  if (found.length > 1) log?.warn({ ids: found.map((r) => r.id) }, 'several Zoho students share this Student_Moodle_ID; using the latest modified');
  const modified = (r: ZohoRecord) => Date.parse(String(r.Modified_Time ?? '')) || 0;
  return found.sort((a, b) => modified(b) - modified(a))[0] ?? null;
}

/**
 * Records parked for a parent the read model lacks (a program, unit, class, teacher or
 * registration by Zoho id): fetch those parents (one batched GET per module) and ingest
 * them, which applies the parked records. Returns what is still missing afterwards.
 */
async function fetchMissingParents(
  tenantId: string,
  client: ZohoClient,
  ingestor: Ingestor,
  outcomes: IngestResult[],
  fetched: Set<string>,
  call: { signal: AbortSignal; meter: { requests: number } },
  log: Logger | undefined,
): Promise<string[]> {
  const eventIds = outcomes.map((o) => o.eventId).filter((id): id is string => Boolean(id));
  // A parent fetched already (a registration a payment waits for) is itself parked for its own parent.
  const tried = new Set<string>();
  for (let round = 0; round <= PARENT_ROUNDS; round++) {
    const parked = await db.parkedEvent.findMany({ where: { tenantId, syncEventId: { in: eventIds } }, select: { awaiting: true } });
    const awaiting = [...new Set(parked.map((p) => p.awaiting))];
    const wanted = new Map<string, string[]>();
    for (const key of awaiting) {
      const ref = parseRefKey(key);
      const module = ref && ref.key === 'zohoId' ? PARENT_MODULES[ref.entity] : undefined;
      if (!ref || !module || tried.has(key) || fetched.has(ref.value)) continue;
      tried.add(key);
      wanted.set(module, [...(wanted.get(module) ?? []), ref.value]);
    }
    if (!wanted.size || round === PARENT_ROUNDS) return awaiting;
    for (const [module, ids] of wanted) {
      let records: ZohoRecord[];
      try {
        records = await client.getRecords(module, ids, call);
      } catch (error) {
        log?.warn({ module, ids, err: (error as Error).message }, 'cold miss: fetching missing parents failed; their dependents stay parked');
        continue;
      }
      for (const record of records) fetched.add(record.id);
      const applied = await ingestAll(ingestor, tenantId, module, records);
      eventIds.push(...applied.map((o) => o.eventId).filter((id): id is string => Boolean(id)));
    }
  }
  return [];
}

async function ingestAll(ingestor: Ingestor, tenantId: string, module: string, records: ZohoRecord[]): Promise<IngestResult[]> {
  const results: IngestResult[] = [];
  for (const event of zohoBulkEvents(module, records)) results.push(await ingestor.ingest(tenantId, event));
  return results;
}

async function findStudent(tenantId: string, lookup: StudentLookup): Promise<{ id: string; zohoId: string | null; moodleUserId: string | null; deletedAt: Date | null } | null> {
  const where = 'id' in lookup ? { id: lookup.id } : 'zohoId' in lookup ? { zohoId: lookup.zohoId } : { moodleUserId: lookup.moodleUserId };
  if ('id' in lookup && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(lookup.id)) return null;
  return db.student.findFirst({ where: { tenantId, ...where }, select: { id: true, zohoId: true, moodleUserId: true, deletedAt: true } });
}

function zohoKey(lookup: StudentLookup, known: { zohoId: string | null; moodleUserId: string | null } | null): ZohoKey | null {
  if ('zohoId' in lookup) return { field: 'zohoId', value: lookup.zohoId };
  if ('moodleUserId' in lookup && !known?.zohoId) return { field: 'moodleUserId', value: lookup.moodleUserId };
  if (known?.zohoId) return { field: 'zohoId', value: known.zohoId };
  if (known?.moodleUserId) return { field: 'moodleUserId', value: known.moodleUserId };
  return null;
}

function failed(error: unknown, zohoCalls: number, signal: AbortSignal, log: Logger | undefined): ColdMissResult {
  if (error instanceof ZohoUnavailableError) return miss(error.code === 'BREAKER_OPEN' ? 'breaker-open' : 'unavailable', error.message, zohoCalls);
  if (error instanceof ZohoBudgetExceededError) return miss('budget-exhausted', error.message, zohoCalls);
  if (signal.aborted) return miss('timeout', `Zoho did not answer in time: ${(error as Error).message}`, zohoCalls);
  if (!isZohoError(error)) throw error;
  log?.warn({ err: error.message, code: error.code }, 'cold miss: Zoho call failed');
  return miss('unavailable', error.message, zohoCalls);
}

function miss(reason: ColdMissReason, message: string, zohoCalls = 0): ColdMissResult {
  return { studentId: null, reason, message, zohoCalls };
}

function mapFor<V>(maps: WeakMap<ZohoClient, Map<string, V>>, client: ZohoClient): Map<string, V> {
  let map = maps.get(client);
  if (!map) maps.set(client, (map = new Map()));
  return map;
}
