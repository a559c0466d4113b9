/**
 * POST /webhooks/zoho and /webhooks/moodle (and signed GraphQL ingest) end to end, on a fresh
 * database: authentication, bad input, idempotency under concurrency, and 1,000 webhooks in
 * flight at once over a real port. "Nothing stored" is checked against a checksum of every
 * row of every table (test/support/checksum.ts), not against a row count.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/auth/signature.js';
import { createTestApp } from '../support/app.js';
import { tableChecksum, type TableChecksums } from '../support/checksum.js';
import { useFreshDatabase } from '../support/database.js';
import { TEST_TENANTS } from '../support/fixtures.js';
import { ADMIN_URL } from '../support/postgres.js';

const database = useFreshDatabase();
const { app, graphql, token } = createTestApp();

const SECRET = Object.fromEntries(TEST_TENANTS.map((t) => [t.id, t.webhookSecret])) as Record<'default' | 'northfield', string>;
const CHANNEL_TOKEN = { default: 'zoho-channel-token-default-5c1e9a', northfield: 'zoho-channel-token-northfield-77b0d2' };
const POOL_SIZE = 5; // useFreshDatabase() binds the app's db with a pool of 5
const ONE_MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Sending

type Sender = 'zoho' | 'moodle';

interface SendOptions {
  /** HMAC secret to sign with (default: the default tenant's); null sends no signature. */
  secret?: string | null;
  /** An explicit X-Signature-256 value (overrides `secret`). */
  signature?: string;
  /** X-Tenant-Id (absent: the default tenant). */
  tenant?: string;
  contentType?: string | null;
  method?: string;
  headers?: Record<string, string>;
}

interface Reply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

function requestInit(payload: string | object, options: SendOptions = {}): RequestInit {
  const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const secret = options.secret === undefined ? SECRET.default : options.secret;
  const headers: Record<string, string> = { ...options.headers };
  if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  if (options.signature !== undefined) headers['x-signature-256'] = options.signature;
  else if (secret !== null) headers['x-signature-256'] = signBody(raw, secret);
  if (options.tenant !== undefined) headers['x-tenant-id'] = options.tenant;
  const method = options.method ?? 'POST';
  // A string body would get a default text/plain Content-Type; bytes get none.
  const body = options.contentType === null ? new TextEncoder().encode(raw) : raw;
  return { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body }) };
}

async function readReply(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, headers: response.headers, body };
}

/** A webhook through App.fetch (no port). */
async function send(sender: Sender, payload: string | object, options: SendOptions = {}): Promise<Reply> {
  return readReply(await app.fetch(`http://test/webhooks/${sender}`, requestInit(payload, options)));
}

/** Every message of a reply: the request's `error`, or each result's `message`. */
function problem(reply: Reply): string {
  if (typeof reply.body === 'string') return reply.body;
  if (typeof reply.body?.error === 'string') return reply.body.error;
  if (Array.isArray(reply.body?.results)) return reply.body.results.map((r: { message: string | null }) => r.message ?? '').join(' | ');
  return JSON.stringify(reply.body);
}

function statuses(reply: Reply): string[] {
  return (reply.body?.results ?? []).map((r: { status: string }) => r.status);
}

/** Tables whose rows differ between two checksums. */
function changedTables(before: TableChecksums, after: TableChecksums): string[] {
  return Object.keys({ ...before, ...after })
    .filter((table) => before[table]?.md5 !== after[table]?.md5)
    .sort();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------
// Realistic payloads with fresh ids (FORMATS.md)

const RUN = randomInt(100, 999);
let serial = 0;
const next = () => ++serial;
/** A fresh 19-digit Zoho id (the seed's ids start 5725767000…). */
const zohoId = () => `539883${RUN}${String(next()).padStart(10, '0')}`;
const hex = (bytes = 4) => randomBytes(bytes).toString('hex');
const unixNow = () => Math.floor(Date.now() / 1000);

const FIRST = ['Lina', 'Omar', 'Sara', 'Yusuf', 'Maya', 'Karim', 'Noor', 'Adam', 'Huda', 'Rami'];
const LAST = ['Haddad', 'Khalil', 'Nasser', 'Saleh', 'Aziz', 'Mansour', 'Farah', 'Jaber'];
const pick = <T>(items: readonly T[]) => items[randomInt(items.length)]!;

function zohoEvent(module: string, data: Record<string, unknown>, operation = 'insert') {
  const now = new Date().toISOString();
  return {
    notification_id: `wf-${hex(6)}`,
    timestamp: now,
    module,
    operation,
    record_id: data.id,
    data: { Created_Time: now, Modified_Time: now, ...data },
  };
}

function zohoStudent(overrides: Record<string, unknown> = {}) {
  const n = next();
  const [first, last] = [pick(FIRST), pick(LAST)];
  return {
    id: zohoId(),
    Name: `STU-${RUN}${String(n).padStart(5, '0')}`,
    Full_Name: `${first} ${last}`,
    First_Name: first,
    Last_Name: last,
    Academic_Email: `${first}.${last}.${RUN}${n}@college.example`.toLowerCase(),
    Phone_Number: `+962 7${randomInt(10_000_000, 99_999_999)}`,
    City: 'Amman',
    Country: 'Jordan',
    Status: 'Active',
    Student_Moodle_ID: `7${RUN}${String(n).padStart(6, '0')}`,
    ...overrides,
  };
}

function zohoTeacher() {
  const n = next();
  const [first, last] = [pick(FIRST), pick(LAST)];
  return {
    id: zohoId(),
    Name: `TCH-${RUN}${n}`,
    Full_Name: `${first} ${last}`,
    Email: `t.${last}.${RUN}${n}@college.example`.toLowerCase(),
    Teacher_Moodle_ID: `6${RUN}${String(n).padStart(6, '0')}`,
    Status: 'Active',
  };
}

function zohoProgram() {
  const n = next();
  return {
    id: zohoId(),
    Name: `BTEC Level 3 Extended Diploma in Applied Topic ${RUN}-${n}`,
    Program_Code: `L3-${RUN}-${n}`,
    Level: 'Level 3',
    Duration_Months: '24',
    Status: 'Active',
  };
}

interface SeededStudent {
  zohoId: string;
  moodleUserId: string;
  fullName: string;
  registrationZohoId: string | null;
}

function zohoPayment(student: SeededStudent, overrides: Record<string, unknown> = {}) {
  return {
    id: zohoId(),
    Name: `PAY-${RUN}${next()}`,
    Student: { name: student.fullName, id: student.zohoId },
    Registration: student.registrationZohoId ? { name: 'REG', id: student.registrationZohoId } : null,
    Amount: `${randomInt(100, 2000)}.50`,
    Currency: 'GBP',
    Due_Date: '2026-09-01',
    Payment_Date: null,
    Status: 'Pending',
    Payment_Method: 'Bank Transfer',
    Receipt_Number: null,
    ...overrides,
  };
}

function zohoRequest(student: SeededStudent) {
  return {
    id: zohoId(),
    Name: `REQ-${RUN}${next()}`,
    Student: { name: student.fullName, id: student.zohoId },
    Request_Type: pick(['Transcript', 'Certificate', 'Assessment Extension']),
    Subject: 'Official transcript for a university application',
    Description: 'Please send a sealed copy to the admissions office.',
    Status: 'Submitted',
    Submitted_Date: new Date().toISOString(),
    Resolved_Date: null,
    Response: null,
  };
}

function moodleUserCreated(overrides: Record<string, unknown> = {}) {
  const n = next();
  const [first, last] = [pick(FIRST), pick(LAST)];
  return {
    event: 'user_created',
    event_id: `moodle-${RUN}-${n}-${hex(4)}`,
    data: {
      userid: `8${RUN}${String(n).padStart(6, '0')}`,
      username: `${first}.${last}${n}`.toLowerCase(),
      email: `${first}.${last}.m${RUN}${n}@college.example`.toLowerCase(),
      firstname: first,
      lastname: last,
      phone1: '+962 79 000 0000',
      city: 'Irbid',
      country: 'JO',
      role: 'student',
      suspended: 0,
      deleted: 0,
      timecreated: unixNow(),
      timemodified: unixNow(),
      ...overrides,
    },
  };
}

function moodleSubmissionGraded(student: SeededStudent, courseId: string | null) {
  const n = next();
  return {
    event: 'submission_graded',
    event_id: `moodle-grade-${RUN}-${n}-${hex(4)}`,
    data: {
      student_id: student.moodleUserId,
      assignment_id: `9${RUN}${n}`,
      ...(courseId ? { course_id: courseId } : {}),
      assignment_name: `Assignment ${n}: Unit report`,
      finalgrade: randomInt(0, 101),
      grademax: 100,
      grademin: 0,
      attempt_number: 1,
      grader_id: '100001',
      grader_name: 'Tom Teacher',
      grader_role: 'teacher',
      feedback: 'Clear structure; cite your sources.',
      timemodified: unixNow(),
      learning_outcomes: [
        { code: 'A.P1', description: 'Explain the principles', score: 'Achieved', feedback: '', achieved: 1 },
        { code: 'A.M1', description: 'Analyse the principles', score: 'Not Achieved', feedback: 'Go deeper', achieved: 0 },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------

let seeded: SeededStudent[] = [];
let seededCourseIds: string[] = [];

beforeAll(async () => {
  const db = database.db;
  await db.tenant.update({ where: { id: 'default' }, data: { zohoChannelToken: CHANNEL_TOKEN.default } });
  await db.tenant.update({ where: { id: 'northfield' }, data: { zohoChannelToken: CHANNEL_TOKEN.northfield } });
  const students = await db.student.findMany({
    where: { tenantId: 'default', zohoId: { not: null }, moodleUserId: { not: null }, deletedAt: null },
    select: { zohoId: true, moodleUserId: true, fullName: true, registrations: { where: { zohoId: { not: null }, deletedAt: null }, select: { zohoId: true }, take: 1 } },
    orderBy: { id: 'asc' },
    take: 40,
  });
  seeded = students.map((s) => ({ zohoId: s.zohoId!, moodleUserId: s.moodleUserId!, fullName: s.fullName, registrationZohoId: s.registrations[0]?.zohoId ?? null }));
  const classes = await db.class.findMany({ where: { tenantId: 'default', moodleCourseId: { not: null }, deletedAt: null }, select: { moodleCourseId: true }, take: 10 });
  seededCourseIds = classes.map((c) => c.moodleCourseId!);
  expect(seeded.length).toBeGreaterThanOrEqual(10);
  expect(seeded.some((s) => s.registrationZohoId)).toBe(true);
  expect(seededCourseIds.length).toBeGreaterThan(0);
});

// ---------------------------------------------------------------------------------------

describe('signatures', () => {
  it('stores a correctly signed event of either tenant (the control for every 401 below), and the checksum sees it', async () => {
    const before = await tableChecksum(database.db);
    const student = zohoStudent();
    const zoho = await send('zoho', zohoEvent('BTEC_Students', student));
    expect(zoho.status, problem(zoho)).toBe(200);
    expect(zoho.body.results).toMatchObject([{ status: 'CREATED', entityType: 'Student', module: 'BTEC_Students' }]);
    const afterZoho = await tableChecksum(database.db);
    expect(changedTables(before, afterZoho)).toEqual(['Student', 'SyncEvent']);
    expect(afterZoho.Student!.rows).toBe(before.Student!.rows + 1);

    const moodle = await send('moodle', moodleUserCreated(), { secret: SECRET.northfield, tenant: 'northfield' });
    expect(moodle.status, problem(moodle)).toBe(200);
    expect(statuses(moodle)).toEqual(['CREATED']);
    const row = await database.db.student.findFirst({ where: { zohoId: student.id } });
    expect(row).toMatchObject({ tenantId: 'default', fullName: student.Full_Name, moodleUserId: student.Student_Moodle_ID });
    const northfield = await database.db.syncEvent.findFirst({ where: { id: moodle.body.results[0].eventId } });
    expect(northfield?.tenantId).toBe('northfield');
  });

  it('answers 401 and stores nothing for a missing, malformed, wrong, other-tenant or stale signature, or an unknown tenant', async () => {
    for (const sender of ['zoho', 'moodle'] as const) {
      const before = await tableChecksum(database.db);
      const payload = sender === 'zoho' ? zohoEvent('BTEC_Students', zohoStudent()) : moodleUserCreated();
      const raw = JSON.stringify(payload);
      const good = signBody(raw, SECRET.default).slice('sha256='.length);
      const altered = raw.replace(sender === 'zoho' ? '"Status":"Active"' : '"suspended":0', sender === 'zoho' ? '"Status":"Suspended"' : '"suspended":1');
      expect(altered).not.toBe(raw);
      const cases: [string, SendOptions, string?][] = [
        ['no X-Signature-256', { secret: null }],
        ['an empty X-Signature-256', { signature: '' }],
        ['not hex', { signature: 'sha256=this-is-not-a-hex-digest' }],
        ['a truncated digest', { signature: `sha256=${good.slice(0, 63)}` }],
        ['a doubled digest', { signature: `sha256=${good}${good}` }],
        ['no sha256= prefix', { signature: good }],
        ['another algorithm', { signature: `sha1=${createHash('sha1').update(raw).digest('hex')}` }],
        ['a plain sha256 of the body (no secret)', { signature: `sha256=${createHash('sha256').update(raw).digest('hex')}` }],
        ['the wrong secret', { secret: 'not-the-webhook-secret' }],
        ["the other tenant's secret, no X-Tenant-Id", { secret: SECRET.northfield }],
        ["the other tenant's secret, X-Tenant-Id default", { secret: SECRET.northfield, tenant: 'default' }],
        ["default's secret, X-Tenant-Id northfield", { secret: SECRET.default, tenant: 'northfield' }],
        ['an unknown X-Tenant-Id', { secret: SECRET.default, tenant: 'no-such-tenant' }],
        ['the body altered after signing', { signature: signBody(raw, SECRET.default) }, altered],
        ['whitespace added after signing', { signature: signBody(raw, SECRET.default) }, `${raw}\n`],
      ];
      for (const [name, options, body] of cases) {
        const reply = await send(sender, body ?? raw, options);
        expect(reply.status, `${sender}: ${name}: ${problem(reply)}`).toBe(401);
        expect(problem(reply), `${sender}: ${name}`).toMatch(/X-Signature-256/);
      }
      expect(await tableChecksum(database.db)).toEqual(before);
      // The same request signed correctly is accepted: the 401s above were the signatures' doing.
      const accepted = await send(sender, raw);
      expect(accepted.status, problem(accepted)).toBe(200);
      expect(statuses(accepted)).toEqual(['CREATED']);
    }
  });

  it('verifies before parsing: unsigned or wrongly signed garbage is a 401, not a parse error', async () => {
    const before = await tableChecksum(database.db);
    for (const sender of ['zoho', 'moodle'] as const) {
      for (const body of ['{"module": "BTEC_Stu', '', '[]', 'null', '{"ids": [1], "channel_id": 1, "token": 5']) {
        const unsigned = await send(sender, body, { secret: null });
        expect(unsigned.status, `${sender} unsigned ${JSON.stringify(body)}: ${problem(unsigned)}`).toBe(401);
        const wrong = await send(sender, body, { secret: 'wrong' });
        expect(wrong.status, `${sender} wrongly signed ${JSON.stringify(body)}: ${problem(wrong)}`).toBe(401);
      }
    }
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it("accepts a Zoho Notifications-API callback by the tenant's channel token and parks its ids awaiting a Zoho fetch", async () => {
    const ids = [zohoId(), zohoId()];
    const callback = {
      server_time: Date.now(),
      query_params: {},
      module: 'BTEC_Grades',
      resource_uri: 'https://www.zohoapis.com/crm/v2/BTEC_Grades',
      ids,
      affected_fields: [],
      operation: 'update',
      channel_id: '1000000068001',
      token: CHANNEL_TOKEN.default,
    };
    const before = await tableChecksum(database.db);
    const reply = await send('zoho', callback, { secret: null });
    expect(reply.status, problem(reply)).toBe(200);
    expect(statuses(reply)).toEqual(['PARKED', 'PARKED']);
    expect(reply.body.results[0].message).toMatch(/Zoho/);
    const after = await tableChecksum(database.db);
    expect(changedTables(before, after)).toEqual(['ParkedEvent', 'SyncEvent']);
    expect(after.ParkedEvent!.rows - before.ParkedEvent!.rows).toBe(2);

    // Visible to admins as parked, with what they wait for.
    const admin = await token('admin');
    const res = await graphql(
      `query { syncEvents(status: PARKED, module: "BTEC_Grades", first: 100) { edges { node { id recordId status module waitingFor } } } }`,
      {},
      admin,
    );
    expect(res.errors).toBeUndefined();
    const nodes = res.data!.syncEvents.edges.map((e: { node: Record<string, unknown> }) => e.node).filter((n: { recordId: string }) => ids.includes(n.recordId));
    expect(nodes).toHaveLength(2);
    for (const node of nodes) expect(node).toMatchObject({ status: 'PARKED', module: 'BTEC_Grades', waitingFor: 'zoho-fetch' });

    // Zoho re-delivers the same callback: idempotent by channel_id:server_time:id.
    const again = await send('zoho', callback, { secret: null });
    expect(again.status, problem(again)).toBe(200);
    expect(statuses(again)).toEqual(['DUPLICATE', 'DUPLICATE']);
    expect(await tableChecksum(database.db)).toEqual(after);

    // The other tenant's callback with its own token lands in that tenant only.
    const northfield = await send('zoho', { ...callback, ids: [zohoId()], token: CHANNEL_TOKEN.northfield }, { secret: null, tenant: 'northfield' });
    expect(northfield.status, problem(northfield)).toBe(200);
    const parked = await database.db.parkedEvent.findFirst({ where: { syncEventId: northfield.body.results[0].eventId } });
    expect(parked).toMatchObject({ tenantId: 'northfield', awaiting: 'zoho-fetch' });
  });

  it('refuses a callback with a wrong, missing or foreign channel token, and the token authenticates nothing but callbacks', async () => {
    const callback = (overrides: Record<string, unknown> = {}) => ({
      server_time: Date.now(),
      module: 'BTEC_Grades',
      ids: [zohoId()],
      operation: 'update',
      channel_id: '1000000068001',
      token: CHANNEL_TOKEN.default,
      ...overrides,
    });
    const before = await tableChecksum(database.db);
    const cases: [string, Sender, object, SendOptions][] = [
      ['a wrong token', 'zoho', callback({ token: 'guessed-token' }), { secret: null }],
      ['no token', 'zoho', callback({ token: undefined }), { secret: null }],
      ['an empty token', 'zoho', callback({ token: '' }), { secret: null }],
      ['a numeric token', 'zoho', callback({ token: 12345 }), { secret: null }],
      ["the other tenant's token", 'zoho', callback({ token: CHANNEL_TOKEN.northfield }), { secret: null }],
      ["default's token for X-Tenant-Id northfield", 'zoho', callback(), { secret: null, tenant: 'northfield' }],
      ['the token for an unknown tenant', 'zoho', callback(), { secret: null, tenant: 'no-such-tenant' }],
      ['the token on a record event', 'zoho', { ...zohoEvent('BTEC_Students', zohoStudent()), token: CHANNEL_TOKEN.default }, { secret: null }],
      ['the token on bulk records', 'zoho', { module: 'BTEC_Programs', data: [zohoProgram()], token: CHANNEL_TOKEN.default }, { secret: null }],
      ['the token on a Moodle event', 'moodle', { ...moodleUserCreated(), token: CHANNEL_TOKEN.default }, { secret: null }],
      ['a callback shape to /webhooks/moodle', 'moodle', callback(), { secret: null }],
    ];
    for (const [name, sender, payload, options] of cases) {
      const reply = await send(sender, payload, options);
      expect(reply.status, `${name}: ${problem(reply)}`).toBe(401);
    }
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it('lets a signed GraphQL request (no JWT) call ingestZohoEvent, and answers a wrongly signed one with 401', async () => {
    const student = zohoStudent();
    const mutation = {
      query: `mutation Ingest($input: ZohoEventInput!) { ingestZohoEvent(input: $input) { eventId status entityType entityId message } }`,
      variables: { input: { notificationId: `wf-${hex(6)}`, module: 'BTEC_Students', operation: 'insert', recordId: student.id, data: student } },
    };
    const raw = JSON.stringify(mutation);
    const postGraphQL = async (body: string, headers: Record<string, string>) =>
      readReply(await app.yoga.fetch('http://test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }));

    const before = await tableChecksum(database.db);
    const refused: [string, string, Record<string, string>][] = [
      ['the wrong secret', raw, { 'x-signature-256': signBody(raw, 'wrong-secret') }],
      ["the other tenant's secret", raw, { 'x-signature-256': signBody(raw, SECRET.northfield) }],
      ["default's secret for X-Tenant-Id northfield", raw, { 'x-signature-256': signBody(raw, SECRET.default), 'x-tenant-id': 'northfield' }],
      ['an unknown tenant', raw, { 'x-signature-256': signBody(raw, SECRET.default), 'x-tenant-id': 'no-such-tenant' }],
      ['a malformed signature', raw, { 'x-signature-256': 'sha256=zz' }],
      ['the body altered after signing', raw.replace('"insert"', '"update"'), { 'x-signature-256': signBody(raw, SECRET.default) }],
    ];
    for (const [name, body, headers] of refused) {
      const reply = await postGraphQL(body, headers);
      expect(reply.status, `${name}: ${JSON.stringify(reply.body)}`).toBe(401);
      expect(reply.body.errors?.[0]?.extensions?.code, name).toBe('UNAUTHENTICATED');
    }
    // Without a signature or a JWT the mutation is not allowed at all.
    const anonymous = await postGraphQL(raw, {});
    expect(anonymous.body.data?.ingestZohoEvent ?? null).toBeNull();
    expect(anonymous.body.errors?.length).toBeGreaterThan(0);
    expect(await tableChecksum(database.db)).toEqual(before);

    const signed = await postGraphQL(raw, { 'x-signature-256': signBody(raw, SECRET.default) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(signed.body.errors).toBeUndefined();
    expect(signed.body.data.ingestZohoEvent).toMatchObject({ status: 'CREATED', entityType: 'Student' });
    const row = await database.db.student.findUnique({ where: { id: signed.body.data.ingestZohoEvent.entityId } });
    expect(row).toMatchObject({ tenantId: 'default', zohoId: student.id, fullName: student.Full_Name });
  });
});

// ---------------------------------------------------------------------------------------

describe('malformed input', () => {
  /** Sends, then checks the status, the message and that the database did not change. */
  async function expectRefused(sender: Sender, payload: string | object, options: SendOptions, status: number, message: RegExp) {
    const before = await tableChecksum(database.db);
    const reply = await send(sender, payload, options);
    expect(reply.status, problem(reply)).toBe(status);
    expect(problem(reply)).toMatch(message);
    expect(await tableChecksum(database.db)).toEqual(before);
    return reply;
  }

  it('400 for truncated, empty or otherwise unparsable JSON', async () => {
    const raw = JSON.stringify(zohoEvent('BTEC_Students', zohoStudent()));
    await expectRefused('zoho', raw.slice(0, raw.length - 7), {}, 400, /malformed JSON/);
    await expectRefused('moodle', JSON.stringify(moodleUserCreated()).slice(0, 40), {}, 400, /malformed JSON/);
    await expectRefused('zoho', '', {}, 400, /malformed JSON/);
    await expectRefused('moodle', '', {}, 400, /malformed JSON/);
    await expectRefused('zoho', "{'module': 'BTEC_Students'}", {}, 400, /malformed JSON/);
    await expectRefused('zoho', '{"module": "BTEC_Students",}', {}, 400, /malformed JSON/);
    await expectRefused('moodle', `${JSON.stringify(moodleUserCreated())} trailing`, {}, 400, /malformed JSON/);
    // Deep nesting must not crash the process or reach the database: refused before parsing,
    // even when also malformed (the nesting depth is checked first, without recursion).
    await expectRefused('zoho', '['.repeat(200_000), {}, 422, /^body: JSON nested deeper than 64 levels$/);
  });

  it('415 when the body is not declared JSON', async () => {
    const raw = JSON.stringify(zohoEvent('BTEC_Students', zohoStudent()));
    await expectRefused('zoho', raw, { contentType: 'text/plain' }, 415, /Content-Type must be application\/json.*text\/plain/);
    await expectRefused('zoho', raw, { contentType: 'application/x-www-form-urlencoded' }, 415, /Content-Type must be application\/json/);
    await expectRefused('moodle', JSON.stringify(moodleUserCreated()), { contentType: 'text/html; charset=utf-8' }, 415, /Content-Type/);
    await expectRefused('moodle', JSON.stringify(moodleUserCreated()), { contentType: null }, 415, /Content-Type must be application\/json, got none/);
  });

  it('405 with Allow: POST for other methods', async () => {
    for (const sender of ['zoho', 'moodle'] as const) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const reply = await expectRefused(sender, method === 'GET' ? '' : '{}', { method }, 405, new RegExp(`use POST for /webhooks/${sender}`));
        expect(reply.headers.get('allow')).toBe('POST');
      }
    }
  });

  it('413 for a body over 1 MiB, with or without a Content-Length header; exactly 1 MiB is accepted', async () => {
    const event = zohoEvent('BTEC_Students', zohoStudent());
    const compact = JSON.stringify(event);
    const exact = compact + ' '.repeat(ONE_MIB - Buffer.byteLength(compact)); // trailing whitespace is valid JSON
    const over = `${exact} `;
    expect(Buffer.byteLength(exact)).toBe(ONE_MIB);

    // Declared: refused from the header, before the body is read.
    await expectRefused('zoho', over, { headers: { 'content-length': String(ONE_MIB + 1) } }, 413, new RegExp(`${ONE_MIB + 1} bytes exceeds the limit of ${ONE_MIB} bytes`));
    // Streamed (no Content-Length): refused while reading.
    const before = await tableChecksum(database.db);
    const chunk = new TextEncoder().encode(`{"pad":"${'x'.repeat(64 * 1024)}`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 2 * ONE_MIB) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const streamed = await readReply(
      await app.fetch('http://test/webhooks/moodle', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature-256': `sha256=${'0'.repeat(64)}` },
        body: stream,
        duplex: 'half',
      } as RequestInit),
    );
    expect(streamed.status, problem(streamed)).toBe(413);
    expect(problem(streamed)).toMatch(`exceeds the limit of ${ONE_MIB} bytes`);
    expect(await tableChecksum(database.db)).toEqual(before);

    // The limit itself is allowed.
    const atLimit = await send('zoho', exact);
    expect(atLimit.status, problem(atLimit)).toBe(200);
    expect(statuses(atLimit)).toEqual(['CREATED']);
  });

  it('422 for a body that is JSON but not an event object', async () => {
    for (const body of ['[]', '[{"module": "BTEC_Students"}]', '42', '"BTEC_Students"', 'null', 'true']) {
      await expectRefused('zoho', body, {}, 422, /Zoho webhook: expected a JSON object/);
      await expectRefused('moodle', body, {}, 422, /Moodle event: expected a JSON object/);
    }
    await expectRefused('zoho', {}, {}, 422, /Zoho webhook: expected a record event/);
    await expectRefused('zoho', { hello: 'world' }, {}, 422, /Zoho webhook: expected a record event/);
    await expectRefused('moodle', {}, {}, 422, /Moodle event\.event/);
  });

  it('422 naming the module for an unknown Zoho module, in every Zoho shape', async () => {
    const record = zohoStudent();
    await expectRefused('zoho', zohoEvent('BTEC_Nonsense', record), {}, 422, /Unknown Zoho module "BTEC_Nonsense"/);
    await expectRefused('zoho', { module: 'Contacts', data: [record, zohoStudent()] }, {}, 422, /Unknown Zoho module "Contacts"/);
    await expectRefused(
      'zoho',
      { server_time: Date.now(), module: 'Deals', ids: [zohoId()], operation: 'update', channel_id: '1000000068001', token: CHANNEL_TOKEN.default },
      { secret: null },
      422,
      /module.*Deals/,
    );
    await expectRefused('zoho', { ...zohoEvent('BTEC_Students', record), module: '' }, {}, 422, /module/);
  });

  it('422 naming the event for an unknown or unusable Moodle event', async () => {
    await expectRefused('moodle', { ...moodleUserCreated(), event: 'course_deleted' }, {}, 422, /Moodle event\.event: expected one of .*got "course_deleted"/);
    await expectRefused('moodle', { ...moodleUserCreated(), event: undefined }, {}, 422, /Moodle event\.event/);
    await expectRefused(
      'moodle',
      { eventname: '\\core\\event\\user_enrolment_created', objectid: '5', courseid: '7', relateduserid: '42', timecreated: unixNow() },
      {},
      422,
      /user_enrolment_created: a standard Moodle event envelope does not carry/,
    );
    await expectRefused(
      'moodle',
      { eventname: '\\core\\event\\user_graded', objectid: '812', courseid: '7', other: { itemid: 55 }, timecreated: unixNow() },
      {},
      422,
      /relateduserid.*other\.finalgrade/,
    );
  });

  it('422 naming the field for a missing id', async () => {
    const { id: _id, ...noId } = zohoStudent();
    const event = zohoEvent('BTEC_Students', noId);
    delete (event as Partial<typeof event>).record_id;
    await expectRefused('zoho', event, {}, 422, /BTEC_Students\.id: expected a non-empty Zoho record id/);
    await expectRefused('zoho', { ...zohoEvent('BTEC_Students', { ...noId, id: '' }), record_id: '  ' }, {}, 422, /BTEC_Students\.id/);
    await expectRefused('zoho', { ...zohoEvent('BTEC_Students', zohoStudent()), record_id: 'another-id' }, {}, 422, /BTEC_Students\.id: expected the event's record_id/);
    const user = moodleUserCreated();
    await expectRefused('moodle', { ...user, data: { ...user.data, userid: undefined } }, {}, 422, /user_created\.userid: expected the Moodle user id/);
    await expectRefused('moodle', { ...user, data: { ...user.data, userid: '' } }, {}, 422, /user_created\.userid/);
    const graded = moodleSubmissionGraded(seeded[0]!, null);
    await expectRefused('moodle', { ...graded, data: { ...graded.data, assignment_id: null } }, {}, 422, /submission_graded\.assignment_id/);
    await expectRefused(
      'zoho',
      { server_time: Date.now(), module: 'BTEC_Grades', ids: [], channel_id: '1000000068001', token: CHANNEL_TOKEN.default },
      { secret: null },
      422,
      /Zoho notification\.ids/,
    );
  });

  it('422 naming the module and field for values of the wrong type', async () => {
    const student = seeded[0]!;
    await expectRefused('zoho', zohoEvent('BTEC_Payments', zohoPayment(student, { Amount: 'abc' })), {}, 422, /BTEC_Payments\.Amount: expected a decimal number, got "abc"/);
    await expectRefused('zoho', zohoEvent('BTEC_Payments', zohoPayment(student, { Amount: -5 })), {}, 422, /BTEC_Payments\.Amount: expected a non-negative/);
    await expectRefused('zoho', zohoEvent('BTEC_Payments', zohoPayment(student, { Status: 'Whenever' })), {}, 422, /BTEC_Payments\.Status: expected one of Paid/);
    await expectRefused('zoho', zohoEvent('BTEC_Payments', zohoPayment(student, { Due_Date: '31/12/2026' })), {}, 422, /BTEC_Payments\.Due_Date: expected a date YYYY-MM-DD/);
    await expectRefused('zoho', zohoEvent('BTEC_Students', zohoStudent({ Status: 'Whatever' })), {}, 422, /BTEC_Students\.Status: expected one of Active, Inactive, Suspended, Graduated, got "Whatever"/);
    await expectRefused('zoho', zohoEvent('BTEC_Students', zohoStudent({ Full_Name: { first: 'A' } })), {}, 422, /BTEC_Students\.Full_Name: expected text/);
    await expectRefused('zoho', zohoEvent('BTEC_Programs', { ...zohoProgram(), Duration_Months: 'two years' }), {}, 422, /BTEC_Programs\.Duration_Months/);
    await expectRefused('zoho', { ...zohoEvent('BTEC_Students', zohoStudent()), operation: 'explode' }, {}, 422, /operation: expected insert, update, delete/);
    await expectRefused('zoho', { ...zohoEvent('BTEC_Students', zohoStudent()), data: 'Lina Haddad' }, {}, 422, /BTEC_Students\.data: expected a record object/);
    const graded = moodleSubmissionGraded(student, null);
    await expectRefused('moodle', { ...graded, data: { ...graded.data, finalgrade: 'abc' } }, {}, 422, /submission_graded\.finalgrade: expected a number/);
    await expectRefused('moodle', { ...graded, data: { ...graded.data, grader_role: 'janitor' } }, {}, 422, /submission_graded\.grader_role/);
    await expectRefused('moodle', { ...graded, data: { ...graded.data, learning_outcomes: 'A.P1' } }, {}, 422, /submission_graded\.learning_outcomes: expected a list of rows/);
    const user = moodleUserCreated();
    await expectRefused('moodle', { ...user, data: { ...user.data, suspended: 'maybe' } }, {}, 422, /user_created\.suspended: expected 0 or 1/);
    await expectRefused('moodle', { ...user, data: { ...user.data, timemodified: 'yesterday' } }, {}, 422, /user_created\.timemodified: expected a time in unix seconds/);
  });

  it('422 naming the field for huge ids in an idempotency key', async () => {
    const huge = randomBytes(150_000).toString('base64'); // 200,000 incompressible characters
    await expectRefused('zoho', { ...zohoEvent('BTEC_Students', zohoStudent()), notification_id: huge }, {}, 422, /notification_id: expected an id of at most/);
    await expectRefused('moodle', { ...moodleUserCreated(), event_id: huge }, {}, 422, /(user_created|Moodle event)\.event_id: expected an id of at most 255 characters/);
    await expectRefused(
      'zoho',
      { server_time: Date.now(), module: 'BTEC_Grades', ids: [huge], channel_id: '1000000068001', token: CHANNEL_TOKEN.default },
      { secret: null },
      422,
      /Zoho notification\.ids\[0\]: expected an id of at most/,
    );
    await expectRefused(
      'zoho',
      { server_time: Date.now(), module: 'BTEC_Grades', ids: [zohoId()], channel_id: huge, token: CHANNEL_TOKEN.default },
      { secret: null },
      422,
      /Zoho notification\.channel_id: expected an id of at most/,
    );
  });

  it('422 naming the field for huge strings in record fields', async () => {
    const huge = randomBytes(300_000).toString('base64'); // 400,000 incompressible characters, under 1 MiB
    const student = zohoStudent();
    const user = moodleUserCreated();
    const cases: [string, Sender, object, RegExp][] = [
      ['Zoho Full_Name', 'zoho', zohoEvent('BTEC_Students', { ...student, Full_Name: huge }), /BTEC_Students\.Full_Name/],
      ['Zoho Academic_Email', 'zoho', zohoEvent('BTEC_Students', { ...student, Academic_Email: huge }), /BTEC_Students\.Academic_Email/],
      ['Zoho City', 'zoho', zohoEvent('BTEC_Students', { ...student, City: huge }), /BTEC_Students\.City/],
      ['Zoho record_id and id', 'zoho', { ...zohoEvent('BTEC_Students', { ...student, id: huge }), record_id: huge }, /BTEC_Students\.(record_)?id/],
      ['Zoho bulk id', 'zoho', { module: 'BTEC_Students', data: [{ ...student, id: huge }] }, /BTEC_Students\.id/],
      ['Moodle firstname', 'moodle', { ...user, data: { ...user.data, firstname: huge } }, /user_created\.firstname/],
      ['Moodle userid', 'moodle', { ...user, data: { ...user.data, userid: huge } }, /user_created\.userid/],
    ];
    // Every case is tried and reported (not just the first failure).
    const wrong: string[] = [];
    for (const [name, sender, payload, message] of cases) {
      const before = await tableChecksum(database.db);
      const reply = await send(sender, payload);
      const changed = changedTables(before, await tableChecksum(database.db));
      if (reply.status !== 422 || !message.test(problem(reply)) || changed.length) {
        wrong.push(`${name}: ${reply.status} ${problem(reply).slice(0, 160)}${changed.length ? `; changed ${changed.join(', ')}` : ''}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('422 naming the field for text Postgres cannot store (NUL characters), in any event shape', async () => {
    const student = zohoStudent();
    const user = moodleUserCreated();
    const nul = 'Lina\u0000Haddad';
    const cases: [string, Sender, object, RegExp][] = [
      ['Zoho Full_Name', 'zoho', zohoEvent('BTEC_Students', { ...student, Full_Name: nul }), /BTEC_Students\.Full_Name: expected text without NUL/],
      ['Zoho field the parser ignores', 'zoho', zohoEvent('BTEC_Students', { ...student, Notes: nul }), /BTEC_Students\.Notes: expected text without NUL/],
      ['Zoho record that would be parked', 'zoho', zohoEvent('BTEC_Payments', zohoPayment({ ...seeded[0]!, zohoId: zohoId() }, { Payment_Method: nul })), /BTEC_Payments\.Payment_Method/],
      ['Zoho notification_id', 'zoho', { ...zohoEvent('BTEC_Students', student), notification_id: `wf-${nul}` }, /Zoho event\.notification_id/],
      ['Zoho notification callback', 'zoho', { server_time: Date.now(), module: 'BTEC_Grades', ids: [zohoId()], channel_id: `1000${nul}`, token: CHANNEL_TOKEN.default }, /Zoho notification\.channel_id/],
      ['Moodle firstname', 'moodle', { ...user, data: { ...user.data, firstname: nul } }, /user_created\.firstname: expected text without NUL/],
      ['Moodle key', 'moodle', { ...user, data: { ...user.data, [`x${nul}`]: 1 } }, /user_created\.xLina\\u0000Haddad: expected text without NUL/],
      ['Zoho bulk record', 'zoho', { module: 'BTEC_Programs', data: [{ ...zohoProgram(), Status: nul }] }, /BTEC_Programs\.Status/],
      ['Zoho bulk field the parser ignores', 'zoho', { module: 'BTEC_Programs', data: [zohoProgram(), { ...zohoProgram(), Notes: nul }] }, /BTEC_Programs\[1\]\.Notes: expected text without NUL/],
    ];
    const wrong: string[] = [];
    for (const [name, sender, payload, message] of cases) {
      const before = await tableChecksum(database.db);
      const reply = await send(sender, payload, name.includes('callback') ? { secret: null } : {});
      const changed = changedTables(before, await tableChecksum(database.db));
      if (reply.status !== 422 || !message.test(problem(reply)) || changed.length) {
        wrong.push(`${name}: ${reply.status} ${problem(reply).slice(0, 160)}${changed.length ? `; changed ${changed.join(', ')}` : ''}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('bulk records: 200 with a result per record, the bad one REJECTED naming its field, the good ones stored', async () => {
    const student = seeded[1]!;
    const [good1, bad, good2] = [zohoPayment(student), zohoPayment(student, { Amount: 'abc' }), zohoPayment(student, { Status: 'Paid', Payment_Date: '2026-01-10' })];
    const before = await tableChecksum(database.db);
    const reply = await send('zoho', { module: 'BTEC_Payments', data: [good1, bad, good2] });
    expect(reply.status, problem(reply)).toBe(200);
    expect(statuses(reply)).toEqual(['CREATED', 'REJECTED', 'CREATED']);
    expect(reply.body.results[1].message).toMatch(/BTEC_Payments\.Amount: expected a decimal number, got "abc"/);
    expect(reply.body.results[1].eventId).toBeNull();
    const stored = await database.db.payment.findMany({ where: { tenantId: 'default', zohoId: { in: [good1.id, bad.id, good2.id] } }, orderBy: { zohoId: 'asc' } });
    expect(stored.map((p) => p.zohoId).sort()).toEqual([good1.id, good2.id].sort());
    expect(stored.find((p) => p.zohoId === good2.id)).toMatchObject({ status: 'PAID', amount: expect.anything() });
    const after = await tableChecksum(database.db);
    expect(changedTables(before, after)).toEqual(['Payment', 'SyncEvent']);
    expect(after.Payment!.rows - before.Payment!.rows).toBe(2);
    expect(after.SyncEvent!.rows - before.SyncEvent!.rows).toBe(2);

    // All bad: 422, still one result per record.
    const allBad = await expectRefused('zoho', { module: 'BTEC_Payments', data: [bad, { ...good1, id: zohoId(), Status: 'Someday' }] }, {}, 422, /BTEC_Payments\.Amount.* \| BTEC_Payments\.Status/);
    expect(statuses(allBad)).toEqual(['REJECTED', 'REJECTED']);
  });
});

// ---------------------------------------------------------------------------------------

describe('concurrency', () => {
  it('the same signed event posted 20 times at once: exactly one CREATED, 19 DUPLICATE, one row', async () => {
    for (const sender of ['zoho', 'moodle'] as const) {
      const payload = sender === 'zoho' ? zohoEvent('BTEC_Students', zohoStudent()) : moodleUserCreated();
      const raw = JSON.stringify(payload);
      const replies = await Promise.all(Array.from({ length: 20 }, () => send(sender, raw)));
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      const all = replies.flatMap(statuses).sort();
      expect(all).toEqual(['CREATED', ...Array(19).fill('DUPLICATE')]);
      const eventIds = new Set(replies.map((r) => r.body.results[0].eventId));
      const entityIds = new Set(replies.map((r) => r.body.results[0].entityId));
      expect(eventIds.size).toBe(1);
      expect(entityIds.size).toBe(1);
      const key = sender === 'zoho' ? `zoho:${(payload as { notification_id: string }).notification_id}` : `moodle:${(payload as { event_id: string }).event_id}`;
      expect(await database.db.syncEvent.count({ where: { tenantId: 'default', idempotencyKey: key } })).toBe(1);
      const where = sender === 'zoho' ? { zohoId: (payload as { record_id: string }).record_id } : { moodleUserId: (payload as { data: { userid: string } }).data.userid };
      expect(await database.db.student.count({ where: { tenantId: 'default', ...where } })).toBe(1);
    }
  });

  describe('over a real port', () => {
    let base = '';
    beforeAll(async () => {
      const port = await app.start(0, '127.0.0.1');
      base = `http://127.0.0.1:${port}`;
    });
    afterAll(async () => {
      await app.stop();
    });

    // First on this port: no keep-alive socket left idle by an earlier test can be reused by
    // the burst (the server may close it while its event loop is busy: a reset, not an answer).
    it('1,000 distinct signed webhooks in flight at once: every one answered, none lost, memory and connections bounded', async () => {
      const TOTAL = 1000;
      const kinds = ['zoho-student', 'zoho-teacher', 'zoho-program', 'zoho-payment', 'zoho-request', 'moodle-user', 'moodle-grade'] as const;
      const sends = Array.from({ length: TOTAL }, (_, i) => {
        const kind = kinds[i % kinds.length]!;
        const student = seeded[i % seeded.length]!;
        const course = seededCourseIds[i % seededCourseIds.length]!;
        const [sender, payload, key]: [Sender, Record<string, unknown>, string] = (() => {
          switch (kind) {
            case 'zoho-student': {
              const e = zohoEvent('BTEC_Students', zohoStudent());
              return ['zoho', e, `zoho:${e.notification_id}`];
            }
            case 'zoho-teacher': {
              const e = zohoEvent('BTEC_Teachers', zohoTeacher());
              return ['zoho', e, `zoho:${e.notification_id}`];
            }
            case 'zoho-program': {
              const e = zohoEvent('BTEC_Programs', zohoProgram(), 'create');
              return ['zoho', e, `zoho:${e.notification_id}`];
            }
            case 'zoho-payment': {
              const e = zohoEvent('BTEC_Payments', zohoPayment(student));
              return ['zoho', e, `zoho:${e.notification_id}`];
            }
            case 'zoho-request': {
              const e = zohoEvent('BTEC_Requests', zohoRequest(student));
              return ['zoho', e, `zoho:${e.notification_id}`];
            }
            case 'moodle-user': {
              const e = moodleUserCreated();
              return ['moodle', e, `moodle:${e.event_id}`];
            }
            case 'moodle-grade': {
              const e = moodleSubmissionGraded(student, course);
              return ['moodle', e, `moodle:${e.event_id}`];
            }
          }
        })();
        // Half of them name their tenant explicitly.
        const tenant = i % 2 ? { tenant: 'default' } : {};
        return { kind, sender, raw: JSON.stringify(payload), key, options: { ...tenant } as SendOptions };
      });
      expect(new Set(sends.map((s) => s.key)).size).toBe(TOTAL);
      const expectedPerKind = Object.fromEntries(kinds.map((k) => [k, sends.filter((s) => s.kind === k).length]));

      const countRows = async () => ({
        SyncEvent: await database.db.syncEvent.count({ where: { tenantId: 'default' } }),
        Student: await database.db.student.count({ where: { tenantId: 'default' } }),
        Teacher: await database.db.teacher.count({ where: { tenantId: 'default' } }),
        Program: await database.db.program.count({ where: { tenantId: 'default' } }),
        Payment: await database.db.payment.count({ where: { tenantId: 'default' } }),
        StudentRequest: await database.db.studentRequest.count({ where: { tenantId: 'default' } }),
        Grade: await database.db.grade.count({ where: { tenantId: 'default' } }),
        ParkedEvent: await database.db.parkedEvent.count({ where: { tenantId: 'default' } }),
      });
      const rowsBefore = await countRows();

      // Postgres connections of the test database, sampled all along.
      const monitor = new pg.Client({ connectionString: ADMIN_URL });
      await monitor.connect();
      let sampling = true;
      let maxConnections = 0;
      let samples = 0;
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await monitor.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database.name]);
          maxConnections = Math.max(maxConnections, rows[0]!.n);
          samples++;
          await sleep(5);
        }
      })();

      // Memory of this process (client and server both live in it).
      const memoryBefore = process.memoryUsage();
      let peakRss = memoryBefore.rss;
      let peakHeap = memoryBefore.heapUsed;
      const memoryTimer = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }, 50);

      // Node's global fetch (undici) opens as many connections per origin as there are requests
      // (its default pool is unbounded), so all 1,000 are on the wire at once. A sender that
      // gets 503 waits for Retry-After (plus a little jitter, as real senders do) and tries again.
      const seen = new Map<number, number>();
      const abort = new AbortController(); // on a failure, the other senders stop too
      let retries = 0;
      let maxAttempts = 0;
      const deliver = async (s: (typeof sends)[number]) => {
        for (let attempt = 1; ; attempt++) {
          if (abort.signal.aborted) throw new Error('stopped: another delivery failed');
          const response = await fetch(`${base}/webhooks/${s.sender}`, { ...requestInit(s.raw, s.options), signal: abort.signal }).catch((error: Error) => {
            // A connection refused or reset is not an answer: the sender learns nothing.
            throw new Error(`${s.kind}, attempt ${attempt}: no HTTP answer (${String((error.cause as Error | undefined)?.message ?? error)})`);
          });
          const reply = await readReply(response);
          seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
          if (reply.status === 200) {
            maxAttempts = Math.max(maxAttempts, attempt);
            return { ...s, reply };
          }
          // Only "busy, retry later" is an acceptable answer besides success, and it says when.
          expect(reply.status, `${s.kind} attempt ${attempt}: ${problem(reply)}`).toBe(503);
          const retryAfter = reply.headers.get('retry-after');
          expect(retryAfter, `${s.kind}: 503 without Retry-After`).toMatch(/^\d+$/);
          expect(attempt, `${s.kind}: still refused after ${attempt} attempts`).toBeLessThan(40);
          retries++;
          await sleep(Number(retryAfter) * 1000 + randomInt(250));
        }
      };

      const started = performance.now();
      let delivered: Awaited<ReturnType<typeof deliver>>[];
      const deliveries = sends.map(deliver);
      try {
        delivered = await Promise.all(deliveries);
      } finally {
        abort.abort();
        await Promise.allSettled(deliveries);
        // After a failure, let the server finish what it admitted before the next test looks.
        for (let last = -1, stable = 0; stable < 3; await sleep(250)) {
          const now = await database.db.syncEvent.count();
          stable = now === last ? stable + 1 : 0;
          last = now;
        }
        clearInterval(memoryTimer);
        sampling = false;
        await sampler;
        await monitor.end();
      }
      const wallMs = performance.now() - started;

      const rowsAfter = await countRows();
      const growthMb = (peakRss - memoryBefore.rss) / 2 ** 20;
      const heapGrowthMb = (peakHeap - memoryBefore.heapUsed) / 2 ** 20;
      console.log(
        `1,000 webhooks: ${Math.round(wallMs)} ms wall; statuses ${JSON.stringify(Object.fromEntries(seen))}; ${retries} retries (max ${maxAttempts} attempts); ` +
          `peak RSS growth ${growthMb.toFixed(1)} MB, peak heap growth ${heapGrowthMb.toFixed(1)} MB; ` +
          `max ${maxConnections} connections to ${database.name} over ${samples} samples (pool ${POOL_SIZE})`,
      );

      // Every one answered with its own result, created exactly once.
      for (const d of delivered) {
        expect(d.reply.body.results, d.kind).toHaveLength(1);
        expect(d.reply.body.results[0].status, `${d.kind}: ${problem(d.reply)}`).toBe('CREATED');
      }
      // None lost: every event is in the log, once, and every entity is in the read model.
      const logged = await database.db.syncEvent.findMany({ where: { tenantId: 'default', idempotencyKey: { in: sends.map((s) => s.key) } }, select: { status: true } });
      expect(logged).toHaveLength(TOTAL);
      expect(logged.every((e) => e.status === 'CREATED')).toBe(true);
      expect(rowsAfter.SyncEvent - rowsBefore.SyncEvent).toBe(TOTAL);
      expect(rowsAfter.Student - rowsBefore.Student).toBe(expectedPerKind['zoho-student']! + expectedPerKind['moodle-user']!);
      expect(rowsAfter.Teacher - rowsBefore.Teacher).toBe(expectedPerKind['zoho-teacher']);
      expect(rowsAfter.Program - rowsBefore.Program).toBe(expectedPerKind['zoho-program']);
      expect(rowsAfter.Payment - rowsBefore.Payment).toBe(expectedPerKind['zoho-payment']);
      expect(rowsAfter.StudentRequest - rowsBefore.StudentRequest).toBe(expectedPerKind['zoho-request']);
      expect(rowsAfter.Grade - rowsBefore.Grade).toBe(expectedPerKind['moodle-grade']);
      expect(rowsAfter.ParkedEvent).toBe(rowsBefore.ParkedEvent);

      // Bounded: memory, and database connections within the pool.
      expect(growthMb).toBeLessThan(300);
      expect(samples).toBeGreaterThan(10);
      expect(maxConnections).toBeGreaterThan(0);
      expect(maxConnections).toBeLessThanOrEqual(POOL_SIZE);
    }, 240_000);

    it('over HTTP: 405 and 415 with the reason, as JSON; a query string does not change the route', async () => {
      const get = await fetch(`${base}/webhooks/zoho`);
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      expect(((await get.json()) as { error: string }).error).toBe('use POST for /webhooks/zoho');
      const text = await fetch(`${base}/webhooks/moodle?from=plugin`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(100_000) });
      expect(text.status).toBe(415);
      expect(text.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(((await text.json()) as { error: string }).error).toBe('Content-Type must be application/json, got "text/plain"');
    });

    it('over HTTP: a body trickling in slower than the request timeout (30 s) is cut off with 408, stores nothing, and the server goes on', async () => {
      const before = await tableChecksum(database.db);
      const timeouts = { request: app.server.requestTimeout, headers: app.server.headersTimeout };
      expect(timeouts).toEqual({ request: 30_000, headers: 30_000 });
      // (Node swaps the two when the headers' is the longer.)
      app.server.requestTimeout = app.server.headersTimeout = 300;
      try {
        const raw = JSON.stringify(moodleUserCreated());
        const started = performance.now();
        const answer = await new Promise<string>((resolve, reject) => {
          const socket = net.connect(Number(new URL(base).port), '127.0.0.1', () => {
            socket.write(`POST /webhooks/moodle HTTP/1.1\r\nHost: test\r\ncontent-type: application/json\r\nx-signature-256: ${signBody(raw, SECRET.default)}\r\ncontent-length: ${raw.length}\r\n\r\n${raw.slice(0, 10)}`);
          });
          let text = '';
          socket.on('data', (chunk) => (text += String(chunk)));
          socket.on('close', () => resolve(text));
          socket.on('error', reject);
        });
        expect(answer).toMatch(/^HTTP\/1\.1 408/);
        // Cut at the timeout (checked every second), not after Node's default 300 s.
        expect(performance.now() - started).toBeLessThan(5_000);
      } finally {
        app.server.requestTimeout = timeouts.request;
        app.server.headersTimeout = timeouts.headers;
      }
      expect(await tableChecksum(database.db)).toEqual(before);
      const whole = await readReply(await fetch(`${base}/webhooks/moodle`, requestInit(moodleUserCreated())));
      expect(whole.status, problem(whole)).toBe(200);
    });

    it('413 over HTTP for an oversized body, declared or chunked', async () => {
      const before = await tableChecksum(database.db);
      const big = `{"pad":"${'x'.repeat(ONE_MIB)}"}`;
      const declared = await readReply(await fetch(`${base}/webhooks/zoho`, requestInit(big)));
      expect(declared.status, problem(declared)).toBe(413);
      // Its body is not read, nor left to Node to discard: the connection closes after the reply.
      expect(declared.headers.get('connection')).toBe('close');
      expect(problem(declared)).toMatch(/bytes exceeds the limit of 1048576 bytes/);

      const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"pad":"'));
          if (sent > 2 * ONE_MIB) return controller.close();
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      const response = await fetch(`${base}/webhooks/moodle`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature-256': `sha256=${'0'.repeat(64)}` },
        body,
        duplex: 'half',
      } as RequestInit).then(readReply, (error: Error) => ({ status: 0, headers: new Headers(), body: String(error.cause ?? error) }));
      expect(response.status, problem(response)).toBe(413);
      expect(await tableChecksum(database.db)).toEqual(before);
    });
  });
});
