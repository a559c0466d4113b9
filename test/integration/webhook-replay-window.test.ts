import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';
import { tableChecksum } from '../support/checksum.js';
import { useFreshDatabase } from '../support/database.js';
import { TEST_TENANTS } from '../support/fixtures.js';

const database = useFreshDatabase();
const { app } = createTestApp();
const SECRET = TEST_TENANTS[0].webhookSecret;

function moodleUser(id: string) {
  return JSON.stringify({ event: 'user_created', event_id: `replay-window-${id}`, data: { userid: id, firstname: 'Rae', lastname: 'Window', email: `${id}@college.example`, role: 'student', timemodified: 1763800000 } });
}

async function post(body: string, timestamp: string | null, signedOver = timestamp === null ? body : `${timestamp}.${body}`) {
  const signature = `sha256=${createHmac('sha256', SECRET).update(signedOver).digest('hex')}`;
  const response = await app.fetch('http://test/webhooks/moodle', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature-256': signature, ...(timestamp === null ? {} : { 'x-timestamp': timestamp }) },
    body,
  });
  return { status: response.status, body: (await response.json()) as { results?: { status: string }[]; error?: string } };
}

describe('webhook replay window (X-Timestamp)', () => {
  it('accepts a fresh timestamp covered by the signature', async () => {
    const now = String(Math.floor(Date.now() / 1000));
    const reply = await post(moodleUser('96001'), now);
    expect(reply.status).toBe(200);
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
  });

  it('refuses, storing nothing, a timestamp outside the tolerance, one not covered by the signature, or a malformed one', async () => {
    const before = await tableChecksum(database.db);
    const old = String(Math.floor(Date.now() / 1000) - 301);
    const stale = await post(moodleUser('96002'), old);
    expect(stale.status).toBe(401);
    expect(stale.body.error).toMatch(/X-Timestamp must be unix seconds within 300 s/);
    const future = await post(moodleUser('96003'), String(Math.floor(Date.now() / 1000) + 400));
    expect(future.status).toBe(401);
    // A fresh timestamp added to a body signed without it (a replayed request): the signature no longer matches.
    const body = moodleUser('96004');
    const replayed = await post(body, String(Math.floor(Date.now() / 1000)), body);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error).toMatch(/X-Signature-256 does not match/);
    expect((await post(moodleUser('96005'), 'yesterday')).status).toBe(401);
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it('still accepts a signature over the body alone when no X-Timestamp is sent', async () => {
    const reply = await post(moodleUser('96006'), null);
    expect(reply.body.results?.[0]?.status).toBe('CREATED');
  });
});
