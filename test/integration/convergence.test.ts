/**
 * Convergence: the same Zoho + Moodle event stream (test/support/stream.ts) delivered in
 * order, and in many random orders with duplicates and stale replays mixed in, must end in
 * exactly the same dashboards, the same read model and the same parked backlog.
 *
 * Each run uses its own id namespace in one database (the seeded data stays untouched), so a
 * run starts where none of its students, classes or records exist yet.
 * Reproduce a failing permutation: CONVERGENCE_SEED=<seed> CONVERGENCE_RUNS=1 npx vitest run test/integration/convergence.test.ts
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/auth/signature.js';
import { DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { moodleEvent, zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { recordOf } from '../../src/ingest/raw-event.js';
import { fingerprintOf } from '../../src/ingest/store.js';
import { createTestApp } from '../support/app.js';
import { useFreshDatabase } from '../support/database.js';
import { buildStream, type Channel, type Delivery, type IngestStatus, type Stream } from '../support/stream.js';

const database = useFreshDatabase();
const { app, graphql, token } = createTestApp();

const TENANT = 'default';
const WEBHOOK_SECRET = 'test-webhook-secret-default';
const BASE_SEED = Number(process.env.CONVERGENCE_SEED ?? 20260213);
const RUNS = Number(process.env.CONVERGENCE_RUNS ?? 50);
/** Permutations ingested at once (each is sequential in itself; their namespaces are disjoint). */
const PARALLEL = Number(process.env.CONVERGENCE_PARALLEL ?? 4);

let admin: string;
let integration: string;

beforeAll(async () => {
  admin = await token('admin');
  integration = await token('integration');
});

// ---------------------------------------------------------------------------------------
// Delivery

interface Reply {
  eventId: string | null;
  status: IngestStatus;
  message: string | null;
}

const OTHER_CHANNEL: Record<Channel, Channel> = {
  'zoho-webhook': 'zoho-mutation',
  'zoho-mutation': 'zoho-webhook',
  'zoho-bulk-webhook': 'zoho-bulk-mutation',
  'zoho-bulk-mutation': 'zoho-bulk-webhook',
  'moodle-webhook': 'moodle-mutation',
  'moodle-mutation': 'moodle-webhook',
};

const RESULT_FIELDS = 'eventId status message';

async function webhook(sender: 'zoho' | 'moodle', body: object): Promise<Reply[]> {
  const text = JSON.stringify(body);
  const response = await app.fetch(`http://test/webhooks/${sender}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature-256': signBody(text, WEBHOOK_SECRET) },
    body: text,
  });
  const json = (await response.json()) as { results?: Reply[]; error?: string };
  if (response.status !== 200 || !json.results) throw new Error(`POST /webhooks/${sender} answered ${response.status}: ${JSON.stringify(json)}`);
  return json.results;
}

async function mutation(query: string, variables: Record<string, unknown>): Promise<any> {
  const res = await graphql(query, variables, integration);
  if (res.errors || !res.data) throw new Error(`mutation failed: ${JSON.stringify(res.errors)}`);
  return res.data;
}

async function send(delivery: Delivery, channel: Channel): Promise<Reply[]> {
  const b = delivery.body as Record<string, any>;
  switch (channel) {
    case 'zoho-webhook':
    case 'zoho-bulk-webhook':
      return webhook('zoho', b);
    case 'moodle-webhook':
      return webhook('moodle', b);
    case 'zoho-mutation': {
      const input = { notificationId: b.notification_id, module: b.module, operation: b.operation, recordId: b.record_id, timestamp: b.timestamp, data: b.data };
      const data = await mutation(`mutation($input: ZohoEventInput!) { ingestZohoEvent(input: $input) { ${RESULT_FIELDS} } }`, { input });
      return [data.ingestZohoEvent];
    }
    case 'zoho-bulk-mutation': {
      const data = await mutation(`mutation($m: String!, $r: [JSON!]!) { ingestZohoRecords(module: $m, records: $r) { results { ${RESULT_FIELDS} } } }`, {
        m: b.module,
        r: b.data,
      });
      return data.ingestZohoRecords.results;
    }
    case 'moodle-mutation': {
      const data = await mutation(`mutation($input: MoodleEventInput!) { ingestMoodleEvent(input: $input) { ${RESULT_FIELDS} } }`, {
        input: { event: b.event, eventId: b.event_id, data: b.data },
      });
      return [data.ingestMoodleEvent];
    }
  }
}

// ---------------------------------------------------------------------------------------
// Plans: the order of a run

interface Step {
  kind: 'original' | 'duplicate' | 'replay';
  delivery: Delivery;
  channel: Channel;
}

/** mulberry32 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const inOrderPlan = (stream: Stream): Step[] => stream.deliveries.map((delivery) => ({ kind: 'original', delivery, channel: delivery.channel }));

/**
 * A random order of every delivery; ~20 % re-sent identically later (a third of those through
 * the other channel); ~40 % of the older versions re-sent with a new id after a newer version.
 */
function randomPlan(stream: Stream, seed: number): Step[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const insertAfter = (steps: Step[], after: Step, step: Step) => {
    const from = steps.indexOf(after) + 1;
    steps.splice(from + Math.floor(random() * (steps.length - from + 1)), 0, step);
  };
  const steps: Step[] = stream.deliveries.map((delivery) => ({ kind: 'original', delivery, channel: delivery.channel }));
  for (let i = steps.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [steps[i], steps[j]] = [steps[j]!, steps[i]!];
  }
  const originals = [...steps];
  for (const original of originals) {
    if (random() < 0.2) {
      insertAfter(steps, original, { kind: 'duplicate', delivery: original.delivery, channel: random() < 0.33 ? OTHER_CHANNEL[original.channel] : original.channel });
    }
  }
  let tag = 0;
  for (const original of originals) {
    original.delivery.records.forEach((rv, index) => {
      const newer = originals.filter((o) => o.delivery.records.some((r) => r.chain === rv.chain && r.version > rv.version));
      if (!newer.length || random() >= 0.4) return;
      const replay = stream.replayOf(original.delivery, index, String(++tag));
      insertAfter(steps, pick(newer), { kind: 'replay', delivery: replay, channel: replay.channel });
    });
  }
  return steps;
}

// ---------------------------------------------------------------------------------------
// Running and capturing

interface Sent extends Step {
  replies: Reply[];
}

interface Outcome {
  dashboards: Record<string, unknown>;
  readModel: Record<string, unknown[]>;
  parked: string[];
  sent: Sent[];
  /** eventId → status in the event log at the end. */
  finalStatus: Map<string, IngestStatus>;
}

async function run(stream: Stream, steps: Step[]): Promise<Outcome> {
  const sent: Sent[] = [];
  for (const step of steps) {
    let replies: Reply[];
    try {
      replies = await send(step.delivery, step.channel);
    } catch (error) {
      throw new Error(`step ${sent.length} (${step.kind} ${step.delivery.label} via ${step.channel}): ${(error as Error).message}`);
    }
    sent.push({ ...step, replies });
  }
  const eventIds = sent.flatMap((s) => (s.kind === 'duplicate' ? [] : s.replies.map((r) => r.eventId).filter((id): id is string => id !== null)));
  const [dashboards, readModel, parkedRows, log] = await Promise.all([
    captureDashboards(stream),
    captureReadModel(stream),
    database.db.parkedEvent.findMany({ where: { tenantId: TENANT, syncEventId: { in: eventIds } }, include: { syncEvent: true } }),
    database.db.syncEvent.findMany({ where: { tenantId: TENANT, id: { in: eventIds } }, select: { id: true, status: true } }),
  ]);
  return {
    dashboards,
    readModel,
    parked: stream.canonical(parkedRows.map((p) => `${p.syncEvent.module} awaiting ${p.awaiting}`)).sort(),
    sent,
    finalStatus: new Map(log.map((e) => [e.id, e.status as IngestStatus])),
  };
}

/** The dashboard without generated uuids and syncedAt, with the run's ids named, lists in business-key order. */
function normaliseDashboard(stream: Stream, student: unknown): unknown {
  const businessKey = (o: Record<string, any>): string =>
    String(o.zohoId ?? o.compositeKey ?? o.code ?? o.class?.code ?? (o.type !== undefined ? `${o.type}|${o.subject}` : ''));
  const walk = (value: unknown, key?: string): unknown => {
    if (Array.isArray(value)) {
      const items = value.map((v) => walk(v));
      // Learning outcomes keep their stored order (the position of the subform row).
      if (key === 'learningOutcomes') return items;
      return items
        .map((item) => ({ item, key: item && typeof item === 'object' ? businessKey(item as Record<string, unknown>) : '', text: JSON.stringify(item) }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
        .map((x) => x.item);
    }
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'id' && k !== 'syncedAt').map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(stream.canonical(student));
}

async function captureDashboards(stream: Stream): Promise<Record<string, unknown>> {
  const dashboards: Record<string, unknown> = {};
  for (const { name, moodleUserId } of stream.students) {
    const res = await graphql(DASHBOARD_QUERY, { moodleUserId }, admin);
    if (res.errors) throw new Error(`dashboard of ${name}: ${JSON.stringify(res.errors)}`);
    dashboards[name] = normaliseDashboard(stream, res.data!.student);
  }
  return dashboards;
}

/**
 * Every row of the run (tombstones included), as stored: generated uuids replaced by the
 * business key of the row they point to, fingerprints by the record version they hash.
 */
async function captureReadModel(stream: Stream): Promise<Record<string, unknown[]>> {
  const db = database.db;
  const z = { startsWith: stream.zohoPrefix };
  const m = { startsWith: stream.moodlePrefix };
  const tenantId = TENANT;
  const students = await db.student.findMany({ where: { tenantId, OR: [{ zohoId: z }, { moodleUserId: m }] } });
  const studentId = { in: students.map((s) => s.id) };
  const [teachers, programs, units, classes, enrollments, registrations, payments, requests, grades] = await Promise.all([
    db.teacher.findMany({ where: { tenantId, OR: [{ zohoId: z }, { moodleUserId: m }] } }),
    db.program.findMany({ where: { tenantId, zohoId: z } }),
    db.unit.findMany({ where: { tenantId, zohoId: z } }),
    db.class.findMany({ where: { tenantId, OR: [{ zohoId: z }, { moodleCourseId: m }] } }),
    db.enrollment.findMany({ where: { tenantId, OR: [{ zohoId: z }, { moodleEnrollmentId: m }, { studentId }] } }),
    db.registration.findMany({ where: { tenantId, OR: [{ zohoId: z }, { studentId }] } }),
    db.payment.findMany({ where: { tenantId, OR: [{ zohoId: z }, { studentId }] } }),
    db.studentRequest.findMany({ where: { tenantId, OR: [{ zohoId: z }, { studentId }] } }),
    db.grade.findMany({
      where: { tenantId, OR: [{ zohoId: z }, { compositeKey: m }, { studentId }] },
      include: { learningOutcomes: { orderBy: { position: 'asc' } } },
    }),
  ]);
  const tables = { students, teachers, programs, units, classes, enrollments, registrations, payments, requests, grades } as Record<string, Record<string, any>[]>;
  const keyOf = (row: Record<string, any>) => String(row.zohoId ?? row.moodleUserId ?? row.moodleCourseId ?? row.moodleEnrollmentId ?? row.compositeKey ?? row.id);
  const byUuid = new Map<string, string>();
  for (const [table, rows] of Object.entries(tables)) for (const row of rows) byUuid.set(row.id, `${table}:${keyOf(row)}`);
  const fingerprints = fingerprintNames(stream);
  const FKS = new Set(['studentId', 'teacherId', 'programId', 'unitId', 'classId', 'registrationId']);
  const normaliseRow = (row: Record<string, any>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (k === 'id' || k === 'tenantId' || k === 'syncedAt' || k === 'gradeId') continue;
      if (FKS.has(k) && typeof v === 'string') out[k] = byUuid.get(v) ?? `outside the run: ${v}`;
      else if ((k === 'fingerprint' || k === 'moodleFingerprint') && typeof v === 'string') out[k] = fingerprints.get(v) ?? 'fingerprint of no record of the stream';
      else if (k === 'learningOutcomes') out[k] = (v as Record<string, any>[]).map(normaliseRow);
      else out[k] = v instanceof Date ? v.toISOString() : v !== null && typeof v === 'object' ? String(v) : v;
    }
    return out;
  };
  // A tombstone is compared by what it is (its keys, when it was deleted, the sources' stamps
  // and fingerprints): the fields it kept from whichever version came before the delete are
  // read by nothing (dashboards hide it, a restore rewrites every field).
  const TOMBSTONE = new Set(['zohoId', 'moodleUserId', 'moodleCourseId', 'moodleEnrollmentId', 'compositeKey', 'deletedAt', 'sourceUpdatedAt', 'moodleUpdatedAt', 'fingerprint', 'moodleFingerprint']);
  const normalise = (row: Record<string, any>) =>
    row.deletedAt ? Object.fromEntries(Object.entries(normaliseRow(row)).filter(([k]) => TOMBSTONE.has(k))) : normaliseRow(row);
  const model: Record<string, unknown[]> = {};
  for (const [table, rows] of Object.entries(tables)) {
    model[table] = stream
      .canonical(rows.map((row) => ({ key: keyOf(row), row: normalise(row) })))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((x) => x.row);
  }
  return model;
}

/** fingerprint → `<chain> v<version>`, computed as store.ts does for every record of the stream. */
function fingerprintNames(stream: Stream): Map<string, string> {
  const names = new Map<string, string>();
  for (const delivery of stream.deliveries) {
    const events = delivery.channel.startsWith('moodle') ? [moodleEvent(delivery.body)] : zohoWebhookEvents(delivery.body);
    events.forEach((event, index) => {
      if (event.raw.kind === 'zoho-fetch') return;
      const record = recordOf(event.raw);
      const rv = delivery.records[index]!;
      names.set(fingerprintOf(record), `${rv.chain} v${rv.version}`);
    });
  }
  return names;
}

// ---------------------------------------------------------------------------------------
// The tests

const SETTLED = new Set<IngestStatus>(['CREATED', 'UPDATED', 'UNCHANGED', 'DELETED', 'STALE']);

describe('convergence of the ingest under any delivery order', () => {
  let reference: Outcome;
  let referenceStream: Stream;

  it('in order: every event has its expected outcome and the dashboards are right', async () => {
    referenceStream = buildStream(0);
    const stream = referenceStream;
    const records = stream.deliveries.flatMap((d) => d.records);
    expect(new Set(records.map((r) => r.at.getTime())).size, 'every record has its own source time').toBe(records.length);
    for (let i = 1; i < records.length; i++) expect(records[i]!.at > records[i - 1]!.at).toBe(true);
    for (const module of ['Programs', 'Units', 'Teachers', 'Classes', 'Students', 'Registrations', 'Payments', 'Requests', 'Enrollments', 'Grades']) {
      expect(stream.deliveries.some((d) => d.body.module === `BTEC_${module}`), `the stream covers BTEC_${module}`).toBe(true);
    }

    reference = await run(stream, inOrderPlan(stream));

    const statuses = reference.sent.map((s) => ({ delivery: s.delivery.label, statuses: s.replies.map((r) => r.status) }));
    const expected = stream.deliveries.map((d) => ({ delivery: d.label, statuses: d.records.map((r) => r.inOrder) }));
    expect(statuses).toEqual(expected);
    expect(reference.parked).toEqual(stream.expectedParked);

    const { A, B, C, D } = reference.dashboards as Record<string, any>;
    // A: Moodle first, then Zoho (Zoho's profile wins, Moodle's later edits do not), paid, approved, corrected grade.
    expect(A).toMatchObject({ zohoId: '<z:student:A>', moodleUserId: '<m:user:A>', studentNumber: 'STU-CVG-A', fullName: 'Amira Saleh', email: 'amira.saleh@college.example', phone: '+962 790 555 555', city: 'Amman', status: 'ACTIVE' });
    expect(A.finance).toMatchObject({ currency: 'GBP', totalFees: '9500.00', totalPaid: '3000.00', balance: '6500.00', overdueAmount: '0.00', nextDue: { amount: '3000.00', dueDate: '2099-01-31' } });
    expect(A.finance.payments.map((p: any) => [p.zohoId, p.status, p.paidAt, p.reference])).toEqual([
      ['<z:payment:PA1>', 'PAID', '2025-09-28', 'RCP-CVG-A1'],
      ['<z:payment:PA2>', 'PENDING', null, null],
    ]);
    expect(A.requests).toEqual([
      { type: 'Transcript', subject: 'Official transcript', status: 'APPROVED', submittedAt: '2026-01-05T07:00:00.000Z', resolvedAt: '2026-01-21T06:30:00.000Z', response: 'Ready for collection.' },
    ]);
    const asg1 = A.grades.find((g: any) => g.compositeKey === '<m:user:A>_<m:assignment:asg1>');
    expect(asg1).toMatchObject({ score: 55, btecGrade: 'PASS', attemptNumber: 2, graderName: 'Omar Khalil', internalVerifierName: 'Ruth Verifier', unit: { code: 'CVG-U1', credits: 20 } });
    expect(asg1.learningOutcomes.map((lo: any) => [lo.code, lo.achieved])).toEqual([['A.P1', true], ['A.P2', true], ['A.M1', false]]);
    expect(A.grades.find((g: any) => g.compositeKey === '<m:user:A>_<m:item:quiz1>')).toMatchObject({ score: 75, btecGrade: 'DISTINCTION', unit: { code: 'CVG-U1' } });
    expect(A.classes.map((e: any) => [e.class.code, e.class.schedule, e.class.teacher.fullName])).toEqual([
      ['CVG-C1', 'Tue 09:00-12:00', 'Omar Khalil'],
      ['CVG-C2', 'Wed 13:00-16:00', 'Ruth Verifier'],
    ]);
    expect(A.academics).toMatchObject({ unitsTotal: 3, unitsCompleted: 1, currentProgram: { code: 'CVG-L3' } });
    // B: Zoho first; overdue payment; graduated, and Moodle's account deletion does not remove
    // the Zoho student; GB1 withdrawn in Zoho stays withdrawn after Moodle's re-mark.
    expect(B).toMatchObject({ city: 'Leeds', email: 'ben.carter@alumni.college.example', phone: '+44 7700 222 222', status: 'GRADUATED' });
    expect(B.finance).toMatchObject({ totalFees: '9000.00', totalPaid: '0.00', balance: '9000.00', overdueAmount: '4500.00', nextDue: null });
    expect(B.grades.map((g: any) => [g.compositeKey, g.btecGrade])).toEqual([['zoho_<z:grade:GB2>', 'PASS']]);
    expect(B.academics.unitsCompleted).toBe(1);
    // C: two rows merged into one; one enrolment in C2, not two.
    expect(C).toMatchObject({ zohoId: '<z:student:C>', moodleUserId: '<m:user:C>', email: 'chen.wei2@college.example', city: 'Shanghai', status: 'ACTIVE' });
    expect(C.classes.map((e: any) => e.class.code)).toEqual(['CVG-C2']);
    expect(C.grades.map((g: any) => [g.compositeKey, g.btecGrade, g.graderName])).toEqual([['<m:user:C>_<m:assignment:asg2>', 'MERIT', 'Ruth Verifier']]);
    expect(C.finance).toMatchObject({ totalPaid: '8500.00', balance: '0.00' });
    // D: Moodle only: suspended and moved, then back as at first; the sandbox course stays parked.
    expect(D).toMatchObject({ zohoId: null, fullName: 'Dana Moodleonly', city: 'Zarqa', status: 'ACTIVE' });
    expect(D.classes.map((e: any) => [e.class.code, e.status, e.startDate])).toEqual([['CVG-C1', 'Active', '2025-09-15']]);
    expect(D.grades.map((g: any) => [g.assignmentName, g.score, g.btecGrade])).toEqual([
      ['Assignment 1: Algorithms', 45, 'PASS'],
      ['Quiz 1: Syntax', 32.5, 'REFER'],
    ]);
    expect(D.academics).toMatchObject({ registrations: [], unitsTotal: 0, unitsCompleted: 0 });
    expect(D.finance).toMatchObject({ totalFees: '0.00', payments: [] });
  });

  it(`in ${RUNS} random orders, with duplicates and stale replays, ends in the same state`, async () => {
    expect(reference, 'the in-order run must pass first').toBeDefined();
    const started = Date.now();
    let deliveries = 0;

    const permutation = async (index: number) => {
      const seed = BASE_SEED + index;
      const stream = buildStream(index + 1);
      const steps = randomPlan(stream, seed);
      const reproduce = `seed ${seed} (reproduce: CONVERGENCE_SEED=${seed} CONVERGENCE_RUNS=1 npx vitest run test/integration/convergence.test.ts)`;
      try {
        const outcome = await run(stream, steps);
        deliveries += outcome.sent.length;
        for (const [i, s] of outcome.sent.entries()) {
          const where = `${reproduce}: step ${i}, ${s.kind} ${s.delivery.label} via ${s.channel}`;
          const got = s.replies.map((r) => r.status);
          expect(got.length, where).toBe(s.delivery.records.length);
          if (s.kind === 'duplicate') {
            expect(got, `${where} must answer DUPLICATE`).toEqual(got.map(() => 'DUPLICATE'));
            continue;
          }
          for (const [r, reply] of s.replies.entries()) {
            const final = outcome.finalStatus.get(reply.eventId!);
            if (s.kind === 'replay') {
              // After a newer version was applied, an older one is STALE. (Before, e.g. when the
              // newer one is a delete still parked for the record, it may be the first to arrive.)
              const rv = s.delivery.records[r]!;
              const newerApplied = outcome.sent
                .slice(0, i)
                .some((o) => o.kind !== 'duplicate' && o.delivery.records.some((x, k) => x.chain === rv.chain && x.version > rv.version && SETTLED.has(o.replies[k]!.status)));
              if (newerApplied) expect(reply.status, `${where}: an older version after a newer one was applied answered ${reply.status} (${reply.message})`).toBe('STALE');
              expect(SETTLED.has(final!), `${where}: an older version answered ${reply.status} (${reply.message}), ended ${final}`).toBe(true);
            } else if (s.delivery.records[r]!.inOrder === 'PARKED') {
              expect(final, where).toBe('PARKED');
            } else {
              expect(SETTLED.has(final!), `${where}: answered ${reply.status} (${reply.message}), ended ${final}`).toBe(true);
            }
          }
        }
        expect(outcome.parked, `${reproduce}: parked backlog`).toEqual(reference.parked);
        expect(outcome.dashboards, `${reproduce}: dashboards`).toEqual(reference.dashboards);
        expect(outcome.readModel, `${reproduce}: read model`).toEqual(reference.readModel);
      } catch (error) {
        console.error(`convergence failed for ${reproduce}; delivery order:\n${steps.map((s, i) => `  ${i}. ${s.kind} ${s.delivery.label} via ${s.channel}`).join('\n')}`);
        throw error;
      }
    };

    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(PARALLEL, RUNS) }, async () => {
        while (next < RUNS) await permutation(next++);
      }),
    );
    console.info(`convergence: ${RUNS} permutations, ${deliveries} deliveries in ${((Date.now() - started) / 1000).toFixed(1)} s (base seed ${BASE_SEED})`);
  }, 300_000);
});
