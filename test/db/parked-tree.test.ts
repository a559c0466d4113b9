/**
 * The release tree (batch.ts parkedTree): the parked events that storing some keys releases,
 * and those they release in turn, by the keys stored with each parked row — found in one
 * statement, each event once however many paths lead to it.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parkedTree } from '../../src/ingest/batch.js';
import { sqlTransaction } from '../../src/db/sql.js';
import { useFreshDatabase } from '../support/database.js';

const database = useFreshDatabase();

/** A parked event awaiting `awaiting` whose record stores `recordKeys` (null: not written, as by older versions). */
async function park(name: string, awaiting: string, recordKeys: string[] | null): Promise<string> {
  const id = randomUUID();
  await database.db.$executeRawUnsafe(
    `INSERT INTO "SyncEvent" ("id", "tenantId", "idempotencyKey", "source", "module", "status") VALUES ($1::uuid, 'default', $2, 'ZOHO', 'BTEC_Payments', 'PARKED')`,
    id,
    `tree-${name}-${id}`,
  );
  await database.db.$executeRawUnsafe(
    `INSERT INTO "ParkedEvent" ("id", "tenantId", "syncEventId", "awaiting", "payload", "recordKeys") VALUES (gen_random_uuid(), 'default', $1::uuid, $2, '{}'::jsonb, $3::text[])`,
    id,
    awaiting,
    recordKeys,
  );
  return id;
}

const tree = (seeds: { key: string; depth: number }[]) =>
  sqlTransaction(async (tx) => (await parkedTree(tx, 'default', seeds)).map((n) => ({ id: n.syncEventId, depth: n.depth, recordKeys: n.recordKeys })));

describe('release tree', () => {
  it('each event once: a diamond, a parked delete awaiting its own key, a seed stored again below; a row parked without keys is found, its keys unknown', async () => {
    const student = 'Student:zohoId:tree-1';
    // A delete of the student before the student: it awaits the key it stores.
    const del = await park('delete', student, [student]);
    const payments = await Promise.all([1, 2, 3].map((i) => park(`payment-${i}`, student, [`Payment:zohoId:tree-${i}`])));
    // Two updates of one registration, both awaiting the student: what awaits it is found once per depth.
    const registrations = await Promise.all([1, 2].map((i) => park(`registration-${i}`, student, ['Registration:zohoId:tree-r'])));
    const below = await park('below', 'Registration:zohoId:tree-r', ['Payment:zohoId:tree-4', student]);
    // A delete of that registration, found a level down: it too awaits the key it stores.
    const deleteBelow = await park('delete-below', 'Registration:zohoId:tree-r', ['Registration:zohoId:tree-r']);
    const legacy = await park('legacy', 'Payment:zohoId:tree-1', null);

    const found = await tree([{ key: student, depth: 0 }]);
    expect(found).toHaveLength(9);
    expect(new Set(found.map((n) => n.id)).size).toBe(9);
    expect(Object.fromEntries(found.map((n) => [n.id, n.depth]))).toEqual({
      [del]: 0,
      ...Object.fromEntries([...payments, ...registrations].map((id) => [id, 0])),
      [below]: 1,
      [deleteBelow]: 1,
      [legacy]: 1,
    });
    expect(found.find((n) => n.id === legacy)!.recordKeys).toBeNull();
    expect(found.find((n) => n.id === below)!.recordKeys).toEqual(['Payment:zohoId:tree-4', student]);
  });

  it('keys looked up before (by the statement that asks again from a record) are not looked up again', async () => {
    const seedKey = 'Student:zohoId:tree-looked';
    const first = await park('looked-first', seedKey, ['Payment:zohoId:tree-looked']);
    const back = await park('looked-back', 'Payment:zohoId:tree-looked', [seedKey]);
    // Asked from the payment's key with the student's already looked up: the student's events are not fetched again.
    expect(await sqlTransaction(async (tx) => (await parkedTree(tx, 'default', [{ key: 'Payment:zohoId:tree-looked', depth: 1 }], [seedKey, 'Payment:zohoId:tree-looked'])).map((n) => n.syncEventId))).toEqual([back]);
    // Without it, the student's key is looked up below the payment's.
    expect(await sqlTransaction(async (tx) => (await parkedTree(tx, 'default', [{ key: 'Payment:zohoId:tree-looked', depth: 1 }])).map((n) => n.syncEventId))).toEqual([back, first]);
  });

  it('seeds at their own depths; nothing below MAX_PARKED_DEPTH', async () => {
    const a = await park('depth-a', 'Student:zohoId:tree-d', ['Payment:zohoId:tree-d']);
    const b = await park('depth-b', 'Payment:zohoId:tree-d', ['Payment:zohoId:tree-e']);
    expect(await tree([{ key: 'Student:zohoId:tree-d', depth: 31 }])).toEqual([
      { id: a, depth: 31, recordKeys: ['Payment:zohoId:tree-d'] },
      { id: b, depth: 32, recordKeys: ['Payment:zohoId:tree-e'] },
    ]);
    expect(await tree([{ key: 'Student:zohoId:tree-d', depth: 32 }])).toEqual([{ id: a, depth: 32, recordKeys: ['Payment:zohoId:tree-d'] }]);
  });
});
