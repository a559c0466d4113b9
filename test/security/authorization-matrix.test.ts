/**
 * Every root field × every kind of viewer × both tenants × own/other student: exactly what
 * each may read or do, and not one identifying value of a record it may not see in any reply
 * (ids, Zoho/Moodle ids, names, emails of the other tenant, of other students, of tombstoned
 * rows, of the sync log for non-admins; the secrets for everyone).
 *
 * The root fields are taken from the schema itself: a new root field fails the coverage test
 * until it gets a row here. The response cache is on (Redis), as in production, so a cache
 * key that mixed viewers would show up as a leak.
 */
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/jwt.js';
import { signBody } from '../../src/auth/signature.js';
import { STUDENT_DASHBOARD_FIELDS } from '../../src/dashboard-query.js';
import type { Student } from '../../src/generated/prisma/client.js';
import { schema } from '../../src/schema/index.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { tableChecksum } from '../support/checksum.js';
import { useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID, JWT_SECRET, TEST_TENANTS } from '../support/fixtures.js';
import { REDIS_URL, requireRedis, uniqueNamespace } from '../support/redis.js';
import { postWebhook } from '../support/webhooks.js';
import { DataMap, tenantChecksum, type Scope } from './support.js';

const database = useFreshDatabase();
const TENANTS = TEST_TENANTS.map((t) => t.id);
type TenantId = (typeof TENANTS)[number];

// ---------------------------------------------------------------------------------------
// Viewers

interface Viewer {
  name: string;
  /** What the gateway must make of the credentials. */
  scope: Scope;
  credentials: 'none' | 'jwt' | 'forged-jwt' | 'signature';
  headers?: Record<string, string>;
}

const VIEWERS: Viewer[] = [
  { name: 'anonymous', scope: { role: 'anonymous', tenant: 'default' }, credentials: 'none' },
  // An anonymous caller naming a tenant gets nothing more: X-Tenant-Id only routes webhooks.
  { name: 'anonymous with X-Tenant-Id: northfield', scope: { role: 'anonymous', tenant: 'default' }, credentials: 'none', headers: { 'x-tenant-id': 'northfield' } },
  { name: 'forged admin token (wrong key)', scope: { role: 'anonymous', tenant: 'default' }, credentials: 'forged-jwt' },
  { name: 'student@default', scope: { role: 'student', tenant: 'default', moodleUserId: DEMO_MOODLE_USER_ID }, credentials: 'jwt' },
  { name: 'student@northfield', scope: { role: 'student', tenant: 'northfield', moodleUserId: DEMO_MOODLE_USER_ID }, credentials: 'jwt' },
  { name: 'student@default without a record', scope: { role: 'student', tenant: 'default', moodleUserId: '99999-nobody' }, credentials: 'jwt' },
  { name: 'staff@default', scope: { role: 'staff', tenant: 'default' }, credentials: 'jwt' },
  { name: 'staff@northfield', scope: { role: 'staff', tenant: 'northfield' }, credentials: 'jwt' },
  // The token's tenant wins over a header naming another one.
  { name: 'staff@default with X-Tenant-Id: northfield', scope: { role: 'staff', tenant: 'default' }, credentials: 'jwt', headers: { 'x-tenant-id': 'northfield' } },
  { name: 'staff@ghost (no such tenant)', scope: { role: 'staff', tenant: 'ghost' }, credentials: 'jwt' },
  { name: 'admin@default', scope: { role: 'admin', tenant: 'default' }, credentials: 'jwt' },
  { name: 'admin@northfield', scope: { role: 'admin', tenant: 'northfield' }, credentials: 'jwt' },
  { name: 'integration@default', scope: { role: 'integration', tenant: 'default' }, credentials: 'jwt' },
  { name: 'integration@northfield', scope: { role: 'integration', tenant: 'northfield' }, credentials: 'jwt' },
  // A request signed with the tenant's webhook secret is an integration viewer of that tenant.
  { name: 'X-Signature-256 of northfield', scope: { role: 'integration', tenant: 'northfield' }, credentials: 'signature' },
];

const tokens = new Map<string, string>();
async function tokenOf(viewer: Viewer): Promise<string> {
  let token = tokens.get(viewer.name);
  if (!token) {
    const { role, tenant, moodleUserId } = viewer.scope;
    const claims = {
      sub: `matrix-${viewer.name.replace(/\W+/g, '-')}`,
      role: viewer.credentials === 'forged-jwt' ? 'admin' : role,
      tenant,
      ...(role === 'student' ? { moodleUserId } : {}),
    } as Parameters<typeof signToken>[0];
    token = await signToken(claims, viewer.credentials === 'forged-jwt' ? 'not-the-gateway-secret-0123456789abcdef' : JWT_SECRET);
    tokens.set(viewer.name, token);
  }
  return token;
}

function secretOf(tenant: string): string {
  return TEST_TENANTS.find((t) => t.id === tenant)!.webhookSecret;
}

/** What the gateway answers a viewer who may not do something. */
function denial(viewer: Viewer): 'UNAUTHENTICATED' | 'FORBIDDEN' {
  return viewer.scope.role === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN';
}

// ---------------------------------------------------------------------------------------
// Requests and checks

interface Reply {
  status: number;
  data?: Record<string, any> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

let testApp: TestApp;
let data: DataMap;

async function send(viewer: Viewer, query: string, variables: Record<string, unknown> = {}): Promise<Reply> {
  const body = JSON.stringify({ query, variables });
  const headers: Record<string, string> = { 'content-type': 'application/json', ...viewer.headers };
  if (viewer.credentials === 'jwt' || viewer.credentials === 'forged-jwt') headers.authorization = `Bearer ${await tokenOf(viewer)}`;
  if (viewer.credentials === 'signature') {
    headers['x-tenant-id'] = viewer.scope.tenant;
    headers['x-signature-256'] = signBody(body, secretOf(viewer.scope.tenant));
  }
  const response = await testApp.app.yoga.fetch('http://test/graphql', { method: 'POST', headers, body });
  return { status: response.status, ...((await response.json()) as object) };
}

/** No identifying value the viewer may not see, anywhere in the reply. */
function expectNoLeaks(viewer: Viewer, reply: unknown, echo: string[] = []) {
  const leaks = data.scannerFor(viewer.scope, echo).scan(reply);
  expect(leaks, `${viewer.name} received values it may not see`).toEqual([]);
}

function expectOk(reply: Reply) {
  expect(reply.errors, JSON.stringify(reply.errors)).toBeUndefined();
  expect(reply.status).toBe(200);
}

/** Refused with the viewer's denial code, and no data for the field. */
function expectDenied(viewer: Viewer, reply: Reply, field: string) {
  const code = denial(viewer);
  expect(reply.errors?.length, `${viewer.name} on ${field}: expected ${code}, got ${JSON.stringify(reply)}`).toBeGreaterThan(0);
  for (const error of reply.errors!) expect(error.extensions?.code, error.message).toBe(code);
  const value = reply.data?.[field];
  if (Array.isArray(value)) for (const item of value) expect(item).toBeNull();
  else expect(value ?? null).toBeNull();
  if (code === 'UNAUTHENTICATED') expect(reply.status).toBe(401);
}

// ---------------------------------------------------------------------------------------
// Fixtures: two students per tenant (the demo student and another), a tombstoned one

type Target = Pick<Student, 'id' | 'tenantId' | 'zohoId' | 'moodleUserId' | 'studentNumber' | 'fullName' | 'deletedAt'> & { label: string };
let targets: Target[] = [];
const targetOf = (tenant: string, label: 'own' | 'other' | 'tombstoned') => targets.find((t) => t.tenantId === tenant && t.label === label)!;

/** The student ids a viewer may read that match one key (DESIGN: a student only themself; staff their tenant). */
async function visibleMatches(scope: Scope, where: Record<string, string>): Promise<string[]> {
  if (!['student', 'staff', 'admin'].includes(scope.role)) return [];
  const rows = await database.db.student.findMany({ where: { AND: [where, visibleStudentsWhere(scope)] }, select: { id: true } });
  return rows.map((r) => r.id);
}

function visibleStudentsWhere(scope: Scope) {
  return { tenantId: scope.tenant, deletedAt: null, ...(scope.role === 'student' ? { moodleUserId: scope.moodleUserId ?? '\u0001' } : {}) };
}

let zohoSequence = 0;
/** A fresh 19-digit Zoho id no seeded record has. */
function newZohoId(): string {
  zohoSequence += 1;
  return `79${String(Date.now() % 1e9).padStart(9, '0')}${String(zohoSequence).padStart(8, '0')}`;
}

function paymentRecord(paymentZohoId: string, studentZohoId: string) {
  return {
    id: paymentZohoId,
    Name: `PAY-${paymentZohoId.slice(-6)}`,
    Student: { name: 'student', id: studentZohoId },
    Amount: '10.00',
    Currency: 'GBP',
    Due_Date: '2031-01-15',
    Status: 'Pending',
    Modified_Time: '2031-01-01T10:00:00+00:00',
  };
}

const checksumsOf = async (tenants: string[]) => Object.fromEntries(await Promise.all(tenants.map(async (t) => [t, await tenantChecksum(database.db, t)] as const)));
const otherTenants = (scope: Scope) => TENANTS.filter((t) => t !== scope.tenant);

beforeAll(async () => {
  await requireRedis();
  testApp = createTestApp({ redisUrl: REDIS_URL, redisNamespace: uniqueNamespace(), cacheTtlSeconds: 300 });
  const db = database.db;
  for (const tenant of TENANTS) {
    const own = await db.student.findFirstOrThrow({ where: { tenantId: tenant, moodleUserId: DEMO_MOODLE_USER_ID } });
    const other = await db.student.findFirstOrThrow({
      where: { tenantId: tenant, deletedAt: null, id: { not: own.id }, zohoId: { not: null }, moodleUserId: { not: null }, studentNumber: { not: null }, payments: { some: {} } },
      orderBy: { fullName: 'desc' },
    });
    const tombstoned = await db.student.findFirstOrThrow({ where: { tenantId: tenant, deletedAt: { not: null } } });
    targets.push({ ...own, label: 'own' }, { ...other, label: 'other' }, { ...tombstoned, label: 'tombstoned' });
    // The sync log of each tenant: a created payment and a parked one.
    const id = newZohoId();
    const created = await postWebhook(testApp.app, 'zoho', { notification_id: `seed-${id}`, module: 'BTEC_Payments', operation: 'insert', record_id: id, data: paymentRecord(id, own.zohoId!) }, tenant);
    expect(created.body.results?.[0]?.status).toBe('CREATED');
    const parkedId = newZohoId();
    const parked = await postWebhook(testApp.app, 'zoho', { notification_id: `seed-${parkedId}`, module: 'BTEC_Payments', operation: 'insert', record_id: parkedId, data: paymentRecord(parkedId, newZohoId()) }, tenant);
    expect(parked.body.results?.[0]?.status).toBe('PARKED');
  }
  data = await DataMap.load(db);
});

afterAll(async () => {
  await testApp?.app.stop();
});

// ---------------------------------------------------------------------------------------
// The matrix: one entry per root field, each run for every viewer

type Check = (viewer: Viewer) => Promise<void>;

const STUDENT_SECTIONS = /* GraphQL */ `
  id zohoId moodleUserId studentNumber fullName email
  academics { registrations { id zohoId payments { id } } }
  finance { payments { id zohoId } nextDue { id } }
  classes { id class { id teacher { id fullName } } }
  requests { id subject }
  grades { id compositeKey learningOutcomes { code } }
`;

const KEYS = ['id', 'moodleUserId', 'zohoId', 'studentNumber'] as const;

const INGEST_RESULT = 'eventId status entityType entityId message';

const MATRIX: Record<string, Check> = {
  'Query.me': async (viewer) => {
    const reply = await send(viewer, `{ me { ${STUDENT_DASHBOARD_FIELDS} } }`);
    expectNoLeaks(viewer, reply);
    if (viewer.scope.role === 'anonymous') return expectDenied(viewer, reply, 'me');
    expectOk(reply);
    expect(reply.data!.me?.id ?? null).toBe(data.ownStudentId(viewer.scope));
  },

  'Query.student': async (viewer) => {
    for (const target of targets) {
      const keys = KEYS.filter((k) => target[k] !== null);
      const query = `query(${keys.map((k) => `$${k}: ${k === 'id' ? 'ID' : 'String'}`).join(', ')}) {
        ${keys.map((k) => `by_${k}: student(${k}: $${k}) { ${STUDENT_SECTIONS} }`).join('\n')}
      }`;
      const reply = await send(viewer, query, Object.fromEntries(keys.map((k) => [k, target[k]])));
      expectNoLeaks(viewer, reply);
      // An unusable token refuses the whole request (401) before any field runs.
      if (viewer.credentials === 'forged-jwt') {
        expectDenied(viewer, reply, 'student');
        continue;
      }
      for (const key of keys) {
        const field = `by_${key}`;
        if (viewer.scope.role === 'anonymous' || viewer.scope.role === 'integration') {
          expect(reply.errors?.filter((e) => e.path?.[0] === field).map((e) => e.extensions?.code)).toEqual([denial(viewer)]);
          expect(reply.data?.[field] ?? null).toBeNull();
          continue;
        }
        expectOk(reply);
        const allowed = await visibleMatches(viewer.scope, { [key]: target[key]! });
        const got = reply.data![field]?.id ?? null;
        if (allowed.length) expect(allowed, `${viewer.name}: student(${key}: ${target.label}@${target.tenantId})`).toContain(got);
        else expect(got, `${viewer.name}: student(${key}: ${target.label}@${target.tenantId}) must be null`).toBeNull();
      }
    }
  },

  'Query.students': async (viewer) => {
    const page = `query($after: String, $search: String) { students(first: 100, after: $after, search: $search) {
      pageInfo { hasNextPage endCursor } edges { cursor node { id fullName email studentNumber zohoId } } } }`;
    const first = await send(viewer, page);
    expectNoLeaks(viewer, first);
    if (viewer.scope.role === 'anonymous' || viewer.scope.role === 'integration') return expectDenied(viewer, first, 'students');
    const ids: string[] = [];
    let reply = first;
    for (;;) {
      expectOk(reply);
      ids.push(...reply.data!.students.edges.map((e: any) => e.node.id));
      if (!reply.data!.students.pageInfo.hasNextPage) break;
      reply = await send(viewer, page, { after: reply.data!.students.pageInfo.endCursor });
      expectNoLeaks(viewer, reply);
    }
    const expected = await database.db.student.findMany({ where: visibleStudentsWhere(viewer.scope), orderBy: [{ fullName: 'asc' }, { id: 'asc' }], select: { id: true } });
    expect(ids).toEqual(expected.map((s) => s.id));

    // Searching for a student of the other tenant, or starting after another tenant's cursor, finds nothing of theirs.
    const visible = new Set(ids);
    for (const other of targets.filter((t) => t.tenantId !== viewer.scope.tenant)) {
      for (const search of [other.fullName, other.studentNumber!, '%', '_']) {
        const found = await send(viewer, page, { search });
        expectOk(found);
        expectNoLeaks(viewer, found);
        for (const edge of found.data!.students.edges) expect(visible.has(edge.node.id)).toBe(true);
      }
    }
  },

  'Query.syncEvents': async (viewer) => {
    const query = `query($module: String) { syncEvents(first: 100, module: $module) { edges { node { id module status entityId studentId recordId message waitingFor } } } }`;
    const reply = await send(viewer, query);
    expectNoLeaks(viewer, reply);
    if (viewer.scope.role !== 'admin') return expectDenied(viewer, reply, 'syncEvents');
    expectOk(reply);
    const expected = await database.db.syncEvent.findMany({ where: { tenantId: viewer.scope.tenant }, orderBy: [{ receivedAt: 'desc' }, { id: 'desc' }], take: 100 });
    expect(expected.length).toBeGreaterThan(0);
    expect(reply.data!.syncEvents.edges.map((e: any) => e.node.id)).toEqual(expected.map((e) => e.id));
    const filtered = await send(viewer, query, { module: 'BTEC_Payments' });
    expectOk(filtered);
    expectNoLeaks(viewer, filtered);
    expect(filtered.data!.syncEvents.edges.map((e: any) => e.node.id)).toEqual(expected.filter((e) => e.module === 'BTEC_Payments').map((e) => e.id));
  },

  'Query.syncStats': async (viewer) => {
    const reply = await send(viewer, '{ syncStats { byStatus { status count } parkedBacklog awaitingFetch lastEventAt oldestParkedAt } }');
    expectNoLeaks(viewer, reply);
    if (viewer.scope.role !== 'admin') return expectDenied(viewer, reply, 'syncStats');
    expectOk(reply);
    const tenantId = viewer.scope.tenant;
    const stats = reply.data!.syncStats;
    expect(stats.parkedBacklog).toBe(await database.db.parkedEvent.count({ where: { tenantId } }));
    const groups = await database.db.syncEvent.groupBy({ by: ['status'], where: { tenantId }, _count: { _all: true } });
    const counts = Object.fromEntries(groups.map((g) => [g.status, g._count._all]));
    for (const { status, count } of stats.byStatus) expect(count, status).toBe(counts[status] ?? 0);
  },

  'Query._entities': async (viewer) => {
    const representations = targets.flatMap((t) => [
      { __typename: 'Student', id: t.id },
      ...(t.moodleUserId ? [{ __typename: 'Student', moodleUserId: t.moodleUserId }] : []),
    ]);
    const reply = await send(viewer, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Student { ${STUDENT_SECTIONS} } } }`, { r: representations });
    expectNoLeaks(viewer, reply);
    if (viewer.scope.role === 'anonymous' || viewer.scope.role === 'integration') return expectDenied(viewer, reply, '_entities');
    expectOk(reply);
    for (const [index, representation] of representations.entries()) {
      const { __typename: _, ...key } = representation;
      const allowed = await visibleMatches(viewer.scope, key as unknown as Record<string, string>);
      const got = reply.data!._entities[index]?.id ?? null;
      if (allowed.length) expect(allowed, `${viewer.name}: ${JSON.stringify(representation)}`).toContain(got);
      else expect(got, `${viewer.name}: ${JSON.stringify(representation)} must resolve to null`).toBeNull();
    }
  },

  /**
   * Federation's SDL: schema metadata, no tenant data. It is as public as introspection (on by
   * default); limits.test.ts checks it follows the introspection switch.
   */
  'Query._service': async (viewer) => {
    const reply = await send(viewer, '{ _service { sdl } }');
    expectNoLeaks(viewer, reply);
    if (viewer.credentials === 'forged-jwt') return expectDenied(viewer, reply, '_service');
    expectOk(reply);
    expect(reply.data!._service.sdl).toContain('type Student');
  },

  'Mutation.ingestZohoEvent': async (viewer) => {
    const mutation = `mutation($input: ZohoEventInput!) { ingestZohoEvent(input: $input) { ${INGEST_RESULT} } }`;
    const event = (studentZohoId: string) => {
      const id = newZohoId();
      return { id, input: { notificationId: `matrix-${id}`, module: 'BTEC_Payments', operation: 'insert', recordId: id, data: paymentRecord(id, studentZohoId) } };
    };
    await expectIngest(viewer, 'ingestZohoEvent', async (studentZohoId) => {
      const { id, input } = event(studentZohoId);
      const reply = await send(viewer, mutation, { input });
      return { reply, results: reply.data?.ingestZohoEvent ? [reply.data.ingestZohoEvent] : [], paymentIds: [id], echo: [id, studentZohoId] };
    });
  },

  'Mutation.ingestZohoRecords': async (viewer) => {
    const mutation = `mutation($module: String!, $records: [JSON!]!) { ingestZohoRecords(module: $module, records: $records) { results { ${INGEST_RESULT} } } }`;
    await expectIngest(viewer, 'ingestZohoRecords', async (studentZohoId) => {
      const ids = [newZohoId(), newZohoId()];
      const reply = await send(viewer, mutation, { module: 'BTEC_Payments', records: ids.map((id) => paymentRecord(id, studentZohoId)) });
      return { reply, results: reply.data?.ingestZohoRecords?.results ?? [], paymentIds: ids, echo: [...ids, studentZohoId] };
    });
  },

  'Mutation.ingestMoodleEvent': async (viewer) => {
    const mutation = `mutation($input: MoodleEventInput!) { ingestMoodleEvent(input: $input) { ${INGEST_RESULT} } }`;
    const n = newZohoId();
    const userId = `matrix-user-${n}`;
    const user = { event: 'user_created', eventId: `matrix-user-${n}`, data: { userid: userId, firstname: 'Matrix', lastname: 'Probe', email: `${userId}@probe.example`, role: 'student', timemodified: 1_900_000_000 } };
    const grade = { event: 'submission_graded', eventId: `matrix-grade-${n}`, data: { student_id: DEMO_MOODLE_USER_ID, assignment_id: `matrix-${n}`, assignment_name: 'Matrix probe', finalgrade: 80, grademin: 0, grademax: 100, timemodified: 1_900_000_000 } };
    const allowed = viewer.scope.role === 'admin' || viewer.scope.role === 'integration';
    const others = otherTenants(viewer.scope);
    const before = allowed ? await checksumsOf(others) : await tableChecksum(database.db);
    const userReply = await send(viewer, mutation, { input: user });
    const gradeReply = await send(viewer, mutation, { input: grade });
    if (allowed) data = await DataMap.load(database.db);
    expectNoLeaks(viewer, userReply, [userId]);
    expectNoLeaks(viewer, gradeReply);
    if (!allowed) {
      expectDenied(viewer, userReply, 'ingestMoodleEvent');
      expectDenied(viewer, gradeReply, 'ingestMoodleEvent');
      expect(await tableChecksum(database.db)).toEqual(before);
      return;
    }
    expectOk(userReply);
    expectOk(gradeReply);
    expect(userReply.data!.ingestMoodleEvent).toMatchObject({ status: 'CREATED', entityType: 'Student' });
    const created = await database.db.student.findMany({ where: { moodleUserId: userId } });
    expect(created.map((s) => s.tenantId)).toEqual([viewer.scope.tenant]);
    expect(userReply.data!.ingestMoodleEvent.entityId).toBe(created[0]!.id);
    // The demo student exists in both tenants with the same Moodle id: the grade goes to the token's tenant's.
    expect(gradeReply.data!.ingestMoodleEvent).toMatchObject({ status: 'CREATED', entityType: 'Grade' });
    const grades = await database.db.grade.findMany({ where: { compositeKey: `${DEMO_MOODLE_USER_ID}_matrix-${n}` } });
    expect(grades.map((g) => [g.tenantId, g.studentId])).toEqual([[viewer.scope.tenant, targetOf(viewer.scope.tenant, 'own').id]]);
    expect(await checksumsOf(others)).toEqual(before);
  },

  'Mutation.replayParkedEvents': async (viewer) => {
    // In every tenant: a payment parked for a student who then appears without passing through
    // the pipeline (so only a replay can apply it).
    const parked: { tenant: string; syncEventId: string; paymentId: string }[] = [];
    for (const tenant of TENANTS) {
      const studentZohoId = newZohoId();
      const paymentId = newZohoId();
      const reply = await postWebhook(testApp.app, 'zoho', { notification_id: `replay-${paymentId}`, module: 'BTEC_Payments', operation: 'insert', record_id: paymentId, data: paymentRecord(paymentId, studentZohoId) }, tenant);
      expect(reply.body.results?.[0]?.status).toBe('PARKED');
      await database.db.student.create({ data: { tenantId: tenant, zohoId: studentZohoId, fullName: `Replay Probe ${studentZohoId.slice(-4)}` } });
      parked.push({ tenant, syncEventId: reply.body.results![0]!.eventId!, paymentId });
    }
    data = await DataMap.load(database.db);
    const others = otherTenants(viewer.scope);
    const before = viewer.scope.role === 'admin' ? await checksumsOf(others) : await tableChecksum(database.db);
    const reply = await send(viewer, 'mutation { replayParkedEvents }');
    if (viewer.scope.role === 'admin') data = await DataMap.load(database.db);
    expectNoLeaks(viewer, reply);
    if (viewer.scope.role !== 'admin') {
      expectDenied(viewer, reply, 'replayParkedEvents');
      expect(await tableChecksum(database.db)).toEqual(before);
      return;
    }
    expectOk(reply);
    expect(reply.data!.replayParkedEvents).toBeGreaterThanOrEqual(1);
    for (const { tenant, syncEventId, paymentId } of parked) {
      const payments = await database.db.payment.findMany({ where: { zohoId: paymentId } });
      const stillParked = await database.db.parkedEvent.count({ where: { syncEventId } });
      if (tenant === viewer.scope.tenant) {
        expect(payments.map((p) => p.tenantId)).toEqual([tenant]);
        expect(stillParked).toBe(0);
      } else {
        expect(payments).toEqual([]);
        expect(stillParked).toBe(1);
      }
    }
    expect(await checksumsOf(others)).toEqual(before);
  },

  'Mutation.refreshStudent': async (viewer) => {
    // Admins only. Zoho is not configured in this app, so even an admin's refresh changes
    // nothing and says why; everyone else is refused; for nobody does data move.
    const before = await tableChecksum(database.db);
    const own = targetOf(TENANTS[0]!, 'own');
    const reply = await send(viewer, 'mutation($id: ID!) { refreshStudent(id: $id) { id fullName } }', { id: own.id });
    expectNoLeaks(viewer, reply);
    if (viewer.scope.role !== 'admin') expectDenied(viewer, reply, 'refreshStudent');
    else {
      expect(reply.data?.refreshStudent ?? null).toBeNull();
      expect(reply.errors?.[0]?.extensions?.code).toMatch(/^(ZOHO_UNAVAILABLE|NOT_FOUND)$/);
    }
    expect(await tableChecksum(database.db)).toEqual(before);
  },

  // Subscriptions run over graphql-ws on a real port: see the Subscription describe below.
  'Subscription.syncEvents': async (viewer) => checkSubscriptions(viewer, 'syncEvents'),
  'Subscription.studentUpdated': async (viewer) => checkSubscriptions(viewer, 'studentUpdated'),
};

/**
 * An ingest mutation: refused (and the database untouched) for viewers who may not ingest;
 * for the others, a payment for the token's tenant's demo student lands in that tenant, on
 * that student, and a reference to a student who exists only in the other tenant never
 * reaches that tenant (the event parks in the token's tenant). The other tenant's rows do not change.
 */
async function expectIngest(
  viewer: Viewer,
  field: string,
  ingest: (studentZohoId: string) => Promise<{ reply: Reply; results: { status: string; entityType: string | null; entityId: string | null }[]; paymentIds: string[]; echo: string[] }>,
) {
  const allowed = viewer.scope.role === 'admin' || viewer.scope.role === 'integration';
  const tenant = viewer.scope.tenant;
  const others = otherTenants(viewer.scope);
  const before = allowed ? await checksumsOf(others) : await tableChecksum(database.db);
  // (a tenant without students, e.g. ghost, is never allowed here: it borrows the default tenant's id for the refused request)
  const own = targetOf((TENANTS as readonly string[]).includes(tenant) ? tenant : 'default', 'own');
  const first = await ingest(own.zohoId!);
  if (!allowed) {
    expectNoLeaks(viewer, first.reply, first.echo);
    expectDenied(viewer, first.reply, field);
    expect(await tableChecksum(database.db)).toEqual(before);
    return;
  }
  // A Zoho id of a student of the other tenant: only a student of the token's tenant with that id may get it.
  const foreignIds = (await database.db.student.findMany({ where: { tenantId: { in: others }, zohoId: { not: null } }, select: { zohoId: true } })).map((s) => s.zohoId!);
  const ownIds = new Set((await database.db.student.findMany({ where: { tenantId: tenant }, select: { zohoId: true } })).map((s) => s.zohoId));
  const foreign = foreignIds.find((id) => !ownIds.has(id)) ?? targetOf(others[0]!, 'own').zohoId!;
  const second = await ingest(foreign);
  data = await DataMap.load(database.db);
  expectNoLeaks(viewer, first.reply, first.echo);
  expectNoLeaks(viewer, second.reply, second.echo);

  expectOk(first.reply);
  expect(first.results.map((r) => r.status)).toEqual(first.paymentIds.map(() => 'CREATED'));
  for (const [index, paymentId] of first.paymentIds.entries()) {
    const rows = await database.db.payment.findMany({ where: { zohoId: paymentId } });
    expect(rows.map((r) => [r.tenantId, r.studentId])).toEqual([[tenant, own.id]]);
    expect(first.results[index]!.entityId).toBe(rows[0]!.id);
  }

  expectOk(second.reply);
  // (the token's tenant's student with that id, tombstoned or not: both seeds tombstone the same Zoho id)
  const holder = await database.db.student.findFirst({ where: { tenantId: tenant, zohoId: foreign } });
  for (const [index, paymentId] of second.paymentIds.entries()) {
    const rows = await database.db.payment.findMany({ where: { zohoId: paymentId } });
    if (holder) {
      expect(second.results[index]!.status).toBe('CREATED');
      expect(rows.map((r) => [r.tenantId, r.studentId])).toEqual([[tenant, holder.id]]);
    } else {
      expect(second.results[index]!.status).toBe('PARKED');
      expect(rows).toEqual([]);
    }
  }
  expect(await checksumsOf(others)).toEqual(before);
}

// ---------------------------------------------------------------------------------------
// Subscriptions: every viewer subscribes, then one payment per student target is ingested

interface Feed {
  messages: any[];
  errors: unknown[];
  closeCode: number | null;
}

const feeds = new Map<string, Feed>();
const feedKey = (viewer: Viewer, label: string) => `${viewer.name}|${label}`;
let triggerEvents: { tenant: string; eventId: string }[] = [];
let subscriptionsReady: Promise<void> | null = null;

const STUDENT_UPDATED = `subscription($id: ID) { studentUpdated(id: $id) { sections student { ${STUDENT_SECTIONS} } } }`;
const SYNC_EVENTS = 'subscription { syncEvents { id module status entityId studentId recordId message waitingFor } }';

/** studentUpdated targets: no id (the viewer's own / the whole tenant), then each tenant's two live students. */
function studentUpdatedTargets(): { label: string; id: string | null }[] {
  return [{ label: 'no id', id: null }, ...targets.filter((t) => t.label !== 'tombstoned').map((t) => ({ label: `${t.label}@${t.tenantId}`, id: t.id }))];
}

async function openSubscriptions() {
  const port = await testApp.app.start(0, '127.0.0.1');
  const clients: Client[] = [];
  for (const viewer of VIEWERS) {
    const headers: Record<string, string> = { ...viewer.headers };
    // A signature signs a request body; a WebSocket has none, so it cannot authenticate one.
    if (viewer.credentials === 'signature') Object.assign(headers, { 'x-tenant-id': viewer.scope.tenant, 'x-signature-256': signBody('', secretOf(viewer.scope.tenant)) });
    const closed: { code: number | null } = { code: null };
    const client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers });
        }
      },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => {},
      connectionParams: viewer.credentials === 'jwt' || viewer.credentials === 'forged-jwt' ? { authorization: `Bearer ${await tokenOf(viewer)}` } : {},
      on: { closed: (event) => (closed.code = (event as { code: number }).code) },
    });
    client.on('error', () => {});
    clients.push(client);
    const subscribe = (label: string, query: string, variables: Record<string, unknown>) => {
      const feed: Feed = { messages: [], errors: [], get closeCode() { return closed.code; } } as Feed;
      feeds.set(feedKey(viewer, label), feed);
      client.subscribe(
        { query, variables },
        {
          next: (result) => (result.errors ? feed.errors.push(result.errors) : feed.messages.push(result.data)),
          error: (error) => feed.errors.push(error instanceof Error ? error.message : error),
          complete: () => {},
        },
      );
    };
    subscribe('syncEvents', SYNC_EVENTS, {});
    for (const target of studentUpdatedTargets()) subscribe(`studentUpdated ${target.label}`, STUDENT_UPDATED, target.id ? { id: target.id } : {});
  }
  await new Promise((r) => setTimeout(r, 1000));
  // One new payment per live student target, in both tenants.
  for (const target of targets.filter((t) => t.label !== 'tombstoned')) {
    const id = newZohoId();
    const reply = await postWebhook(testApp.app, 'zoho', { notification_id: `live-${id}`, module: 'BTEC_Payments', operation: 'insert', record_id: id, data: paymentRecord(id, target.zohoId!) }, target.tenantId);
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
    triggerEvents.push({ tenant: target.tenantId, eventId: reply.body.results![0]!.eventId! });
  }
  await new Promise((r) => setTimeout(r, 1500));
  data = await DataMap.load(database.db);
  afterAllCleanups.push(async () => {
    for (const client of clients) await client.dispose();
  });
}

const afterAllCleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of afterAllCleanups) await cleanup();
});

function expectFeedDenied(viewer: Viewer, feed: Feed, code: string) {
  expect(feed.messages, `${viewer.name} must receive nothing`).toEqual([]);
  if (viewer.credentials === 'forged-jwt') {
    expect(feed.closeCode).toBe(4403);
    return;
  }
  expect(JSON.stringify(feed.errors), `${viewer.name}: expected ${code}`).toContain(code);
}

async function checkSubscriptions(viewer: Viewer, field: 'syncEvents' | 'studentUpdated') {
  subscriptionsReady ??= openSubscriptions();
  await subscriptionsReady;
  const scope = viewer.scope;
  const wsRole = viewer.credentials === 'signature' ? 'anonymous' : scope.role;
  const code = wsRole === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN';

  if (field === 'syncEvents') {
    const feed = feeds.get(feedKey(viewer, 'syncEvents'))!;
    expectNoLeaks(viewer, feed.messages);
    if (wsRole !== 'admin') return expectFeedDenied(viewer, feed, code);
    expect(feed.errors).toEqual([]);
    const expected = triggerEvents.filter((e) => e.tenant === scope.tenant).map((e) => e.eventId);
    expect(feed.messages.map((m) => m.syncEvents.id).sort()).toEqual([...expected].sort());
    return;
  }

  const own = data.ownStudentId(scope);
  for (const target of studentUpdatedTargets()) {
    const feed = feeds.get(feedKey(viewer, `studentUpdated ${target.label}`))!;
    expectNoLeaks(viewer, feed.messages);
    const received = [...new Set(feed.messages.map((m) => m.studentUpdated.student.id))].sort();
    if (wsRole === 'anonymous' || wsRole === 'integration') {
      expectFeedDenied(viewer, feed, code);
    } else if (wsRole === 'student') {
      if (!own || (target.id && target.id !== own)) expectFeedDenied(viewer, feed, 'FORBIDDEN');
      else {
        expect(feed.errors).toEqual([]);
        expect(received, `${viewer.name} following ${target.label}`).toEqual([own]);
      }
    } else {
      const live = targets.filter((t) => t.label !== 'tombstoned' && t.tenantId === scope.tenant).map((t) => t.id);
      if (target.id && !live.includes(target.id)) expectFeedDenied(viewer, feed, 'NOT_FOUND');
      else {
        expect(feed.errors).toEqual([]);
        expect(received, `${viewer.name} following ${target.label}`).toEqual((target.id ? [target.id] : live).sort());
      }
    }
  }
}

// ---------------------------------------------------------------------------------------

describe('the leak scanner', () => {
  it('finds another tenant\'s and another student\'s values, in leaves and inside text', () => {
    const staff = data.scannerFor({ role: 'staff', tenant: 'default' });
    const north = targetOf('northfield', 'other');
    expect(staff.scan({ a: north.id }).map((l) => l.value)).toEqual([north.id]);
    expect(staff.scan({ message: `see ${north.fullName}, please` }).map((l) => l.value.toLowerCase())).toEqual([north.fullName.toLowerCase()]);
    expect(staff.scan({ a: targetOf('default', 'other').id, b: targetOf('default', 'tombstoned').id }).map((l) => l.value)).toEqual([targetOf('default', 'tombstoned').id]);
    const student = data.scannerFor({ role: 'student', tenant: 'default', moodleUserId: DEMO_MOODLE_USER_ID });
    const other = targetOf('default', 'other');
    expect(student.scan([other.id, targetOf('default', 'own').id]).map((l) => l.value)).toEqual([other.id]);
    expect(student.scan({ errors: [{ message: `no student ${other.zohoId}` }] }).length).toBe(1);
    expect(data.scannerFor({ role: 'admin', tenant: 'default' }).scan({ s: 'test-webhook-secret-northfield' }).length).toBe(1);
  });
});

describe('the matrix covers every root field of the schema', () => {
  it('has exactly one entry per Query, Mutation and Subscription field', () => {
    const fields = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
      type ? Object.keys(type.getFields()).map((name) => `${type.name}.${name}`) : [],
    );
    expect(Object.keys(MATRIX).sort(), 'add a MATRIX entry for every new root field (and remove stale ones)').toEqual(fields.sort());
  });
});

for (const [field, check] of Object.entries(MATRIX)) {
  describe(field, () => {
    for (const viewer of VIEWERS) {
      it(viewer.name, () => check(viewer), 60_000);
    }
  });
}
