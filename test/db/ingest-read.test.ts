/**
 * A round's read (src/ingest/store.ts readSql) holds a branch only for the entities and keys its
 * lookups use: Postgres initialises and ends every node of a plan at each execution, used or not.
 * The texts are read here as the ingest's transactions send them; their plans' nodes are counted
 * by EXPLAIN of the prepared text, generic and with the ingest's planner settings (sql.ts).
 */
import { describe, expect, it } from 'vitest';
import { zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { READ_BRANCHES, READ_TEXT_LIMIT, readSql } from '../../src/ingest/store.js';
import { recordStatements, useFreshDatabase, useOtherConnection } from '../support/database.js';
import { paymentEvent, studentEvent } from '../support/webhooks.js';

const database = useFreshDatabase();
const ingestor = new Ingestor();

const other = useOtherConnection(database);

const isRead = (text: string) => text.trimStart().startsWith('WITH l AS MATERIALIZED');
/** The read's branches, as `Entity|key`. */
const branchesOf = (text: string) => [...text.matchAll(/l\."entity" = '(\w+)' AND l\."key" = '(\w+)'/g)].map(([, entity, key]) => `${entity}|${key}`).sort();

/** The reads one event's ingest sends. */
async function readsOf(event: object): Promise<string[]> {
  const [keyed] = zohoWebhookEvents(event);
  const { statements } = await recordStatements(database, () => ingestor.ingest('default', keyed!));
  return statements.filter(isRead);
}

/** Nodes of the generic plan Postgres makes for a read's text, with the ingest's planner settings. */
async function planNodes(text: string): Promise<number> {
  await other().query('BEGIN');
  try {
    await other().query("SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off; SET LOCAL random_page_cost = 1.1");
    await other().query(`PREPARE read_probe AS ${text}`);
    const arrays = Array.from({ length: 7 }, () => "'{}'");
    const { rows } = await other().query(`EXPLAIN (FORMAT JSON) EXECUTE read_probe('default', ${arrays.join(', ')})`);
    const count = (node: { Plans?: unknown[] }): number => 1 + (node.Plans ?? []).reduce<number>((n, child) => n + count(child as { Plans?: unknown[] }), 0);
    return count(rows[0]['QUERY PLAN'][0].Plan);
  } finally {
    await other().query('ROLLBACK');
    await other().query('DEALLOCATE ALL');
  }
}

describe('a round reads with the branches its lookups use', () => {
  it("a payment's read probes its student and itself by Zoho id; its student's read, the student's keys", async () => {
    const [paymentRead] = await readsOf(paymentEvent('9398830077000000001', '9398830077000000002', '12.00', '2026-02-13T10:00:00+03:00'));
    expect(branchesOf(paymentRead!)).toEqual(['Payment|zohoId', 'Student|zohoId']);

    // The student releases the parked payment: its own read, then the payment's (the same text as before).
    const reads = await readsOf(studentEvent('9398830077000000001'));
    expect(reads.map(branchesOf)).toEqual([['Student|zohoId'], ['Payment|zohoId', 'Student|zohoId']]);
  });

  it("the payment's plan has a fifth of the nodes of the plan with every branch", async () => {
    const [paymentRead] = await readsOf(paymentEvent('9398830077000000003', '9398830077000000004', '12.00', '2026-02-13T10:00:00+03:00'));
    expect(READ_BRANCHES).toHaveLength(16);
    const [payment, all] = [await planNodes(paymentRead!), await planNodes(readSql(new Set(READ_BRANCHES)))];
    expect(payment * 5).toBeLessThanOrEqual(all);
  });

  it('a lookup by a key no branch reads is refused, not read as found nowhere', () => {
    expect(() => readSql(new Set(['Student|zohoId', 'Grade|moodleUserId']))).toThrow('read: no lookup by Grade|moodleUserId');
  });

  it(`past ${READ_TEXT_LIMIT} sets of branches, a new set reads with every branch (the process's statement names are shared)`, () => {
    const every = readSql(new Set(READ_BRANCHES));
    const texts = new Set<string>();
    // The 4,095 sets of the first 12 branches: a text each until the limit, then every branch's.
    for (let bits = 1; bits < 1 << 12; bits++) texts.add(readSql(new Set(READ_BRANCHES.filter((_, i) => bits & (1 << i)))));
    expect(texts.has(every)).toBe(true);
    // The limit counts the sets this file's ingests read before (a few) and every branch's.
    expect(texts.size).toBeLessThanOrEqual(READ_TEXT_LIMIT);
    expect(texts.size).toBeGreaterThan(READ_TEXT_LIMIT - 8);
    expect(readSql(new Set(READ_BRANCHES.slice(12)))).toBe(every);
  });
});
