/**
 * Webhooks when Postgres cannot be reached: the sender gets 503 with Retry-After and a clear
 * message, promptly, so it retries; nothing is acknowledged. The app's `db` is a module
 * singleton, so this file binds it to an address nothing listens on (port 1) for all its tests.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/auth/signature.js';
import { useDatabase } from '../../src/db/client.js';
import { createTestApp } from '../support/app.js';
import { TEST_TENANTS } from '../support/fixtures.js';

const DOWN_URL = 'postgresql://postgres@127.0.0.1:1/none';
const db = useDatabase(DOWN_URL, { poolSize: 2 });
const { app } = createTestApp();
const SECRET = TEST_TENANTS[0].webhookSecret;

afterAll(async () => {
  await db.$disconnect().catch(() => {});
});

async function post(path: string, payload: object, headers: Record<string, string> = {}) {
  const raw = JSON.stringify(payload);
  const started = performance.now();
  const response = await app.fetch(`http://test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature-256': signBody(raw, SECRET), ...headers },
    body: raw,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text), ms: performance.now() - started };
}

const zohoEvent = {
  notification_id: 'wf-db-down-1',
  timestamp: '2026-02-13T10:30:15+03:00',
  module: 'BTEC_Students',
  operation: 'update',
  record_id: '5398830000123456',
  data: { id: '5398830000123456', Name: 'STU-0042', Full_Name: 'Lina Haddad', Status: 'Active', Modified_Time: '2026-02-13T10:30:11+03:00' },
};
const moodleEvent = {
  event: 'user_created',
  event_id: 'moodle-db-down-1',
  data: { userid: '00042', firstname: 'Lina', lastname: 'Haddad', email: 'lina@college.example', role: 'student', timemodified: 1760000000 },
};

describe('webhooks with the database down', () => {
  it('answers a signed webhook with 503, Retry-After and a message saying nothing was stored', async () => {
    for (const [sender, payload] of [['zoho', zohoEvent], ['moodle', moodleEvent]] as const) {
      for (const headers of [{}, { 'x-tenant-id': 'default' }] as Record<string, string>[]) {
        const reply = await post(`/webhooks/${sender}`, payload, headers);
        expect(reply.status, reply.text).toBe(503);
        expect(reply.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        expect(reply.body.error).toMatch(/database is unavailable/);
        expect(reply.body.error).toMatch(/nothing was stored/);
        expect(reply.body.error).toMatch(/retry/i);
        // The cause is named, not an empty "()" or a stack trace.
        expect(reply.body.error).toMatch(/127\.0\.0\.1:1|ECONNREFUSED|reach/i);
        expect(reply.body.error).not.toMatch(/\(\)|\n|invocation/);
        expect(reply.ms, 'a 503 must come promptly, not after a long hang').toBeLessThan(10_000);
      }
    }
  });

  it('answers a bulk push and a Notifications-API callback with 503 too (never a 401 or 500)', async () => {
    const bulk = await post('/webhooks/zoho', { module: 'BTEC_Units', data: [{ id: '1', Name: 'Unit 1' }] });
    expect(bulk.status, bulk.text).toBe(503);
    expect(bulk.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    const callback = { server_time: 1718117126473, module: 'BTEC_Grades', ids: ['5725767000003000064'], operation: 'update', channel_id: '1000000068001', token: 'whatever' };
    const raw = JSON.stringify(callback);
    const response = await app.fetch('http://test/webhooks/zoho', { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    expect(response.status, await response.clone().text()).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  });

  it('still refuses bad requests that need no database with their own 4xx', async () => {
    const get = await app.fetch('http://test/webhooks/zoho', { method: 'GET' });
    expect(get.status).toBe(405);
    const text = await app.fetch('http://test/webhooks/moodle', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    expect(text.status).toBe(415);
  });

  it('answers a signed GraphQL ingest mutation with 503 and Retry-After, not a 500', async () => {
    const reply = await post('/graphql', {
      query: 'mutation { ingestMoodleEvent(input: {event: "user_created", eventId: "m-1", data: {userid: "00042"}}) { status } }',
    });
    expect(reply.status, reply.text).toBe(503);
    expect(reply.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(reply.body.errors?.[0]?.message).toMatch(/database is unavailable/i);
  });

  it('reports itself not ready on GET /health', async () => {
    const response = await app.yoga.fetch('http://test/health');
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ database: 'down' });
  });
});
