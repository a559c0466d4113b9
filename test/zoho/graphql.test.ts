/**
 * The cold-miss fallback and refreshStudent through GraphQL, on the app as it is composed
 * (config.zoho → client, context, resolvers) and the fake Zoho: warm 0 calls, cold once, then 0;
 * Zoho down → null with a ZOHO_UNAVAILABLE error, never a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { signToken } from '../../src/auth/jwt.js';
import { createLogger } from '../../src/logger.js';
import { useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID, JWT_SECRET } from '../support/fixtures.js';
import { FakeZoho, programRecord, registrationRecord, studentRecord, zohoId } from '../support/fake-zoho.js';

const database = useFreshDatabase();
let fake: FakeZoho;
let app: App;
let admin: string;

beforeAll(async () => {
  fake = await FakeZoho.start();
  app = buildApp({ log: createLogger('silent'), jwtSecret: JWT_SECRET, defaultTenant: 'default', graphiql: false, cacheTtlSeconds: 0, zoho: fake.settings() });
  admin = await signToken({ sub: 'zoho-admin', role: 'admin', tenant: 'default' }, JWT_SECRET);
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

async function graphql(query: string, variables: Record<string, unknown> = {}, token = admin) {
  const response = await app.yoga.fetch('http://test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

const BY_MOODLE_ID = 'query($m: String) { student(moodleUserId: $m) { id fullName moodleUserId academics { registrations { program { name } } } } }';

describe('Zoho behind GraphQL', () => {
  it('spends no Zoho call on a student the read model has', async () => {
    const before = fake.calls.length;
    const res = await graphql(BY_MOODLE_ID, { m: DEMO_MOODLE_USER_ID });
    expect(res.data!.student.fullName).toBe('Lina Haddad');
    expect(fake.calls.length - before).toBe(0);
  });

  it('fetches a cold student from Zoho once, then answers from the read model', async () => {
    const student = studentRecord({ id: zohoId(31, 1), moodleUserId: '71001', number: 7101 });
    const program = programRecord(zohoId(33, 1), 'GQLP1');
    fake.put('BTEC_Students', student);
    fake.put('BTEC_Programs', program);
    fake.put('BTEC_Registrations', registrationRecord(zohoId(37, 1), 1, student, program));
    const before = fake.calls.length;
    const first = await graphql(BY_MOODLE_ID, { m: '71001' });
    expect(first.errors).toBeUndefined();
    expect(first.data!.student.moodleUserId).toBe('71001');
    expect(first.data!.student.academics.registrations).toHaveLength(1);
    const spent = fake.calls.length - before;
    expect(spent).toBeGreaterThan(0);
    const again = await graphql(BY_MOODLE_ID, { m: '71001' });
    expect(again.data!.student.id).toBe(first.data!.student.id);
    expect(fake.calls.length - before).toBe(spent);

    const refreshed = await graphql('mutation($id: ID!) { refreshStudent(id: $id) { id fullName } }', { id: first.data!.student.id });
    expect(refreshed.errors).toBeUndefined();
    expect(refreshed.data!.refreshStudent.id).toBe(first.data!.student.id);
    expect(fake.calls.length - before).toBeGreaterThan(spent);
  });

  it('does not spend credits on another student for a student token, and refreshStudent is for admins', async () => {
    const before = fake.calls.length;
    const student = await signToken({ sub: 's', role: 'student', tenant: 'default', moodleUserId: DEMO_MOODLE_USER_ID }, JWT_SECRET);
    const res = await graphql(BY_MOODLE_ID, { m: '79999' }, student);
    expect(res.data!.student).toBeNull();
    expect(fake.calls.length - before).toBe(0);
    const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const denied = await graphql('mutation($id: ID!) { refreshStudent(id: $id) { id } }', { id: lina.id }, await signToken({ sub: 'st', role: 'staff', tenant: 'default' }, JWT_SECRET));
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('answers null with ZOHO_UNAVAILABLE when Zoho is down, without hanging', async () => {
    fake.down({ status: 500 });
    try {
      const started = Date.now();
      const res = await graphql(BY_MOODLE_ID, { m: '72002' });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(res.data!.student).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe('ZOHO_UNAVAILABLE');
      const stats = await graphql('{ syncStats { zoho { configured breaker remainingCredits dailyCredits } } }');
      expect(stats.data!.syncStats.zoho).toMatchObject({ configured: true, dailyCredits: 5000 });
      expect(stats.data!.syncStats.zoho.remainingCredits).toBeLessThan(5000);
    } finally {
      fake.up?.();
    }
  });
});
