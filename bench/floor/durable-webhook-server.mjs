// The durable webhook floor: the webhook floor (read the body, check its HMAC-SHA256 signature,
// parse the JSON) plus the least any receiver must do before it may answer "stored": each
// distinct event written to Postgres once, idempotently, and committed. Webhooks arriving while a
// batch is written wait and go together into the next one (group commit, as the gateway does);
// a batch is ONE statement, its own transaction: claim the events' keys (ON CONFLICT DO NOTHING)
// and insert the payload of each claimed one. No parsing into records, no parents, no parking,
// no outcomes, no cache, no pub/sub. Driven by S3's sender with S3's webhooks, its rate bounds
// from above what a receiver that stores every event before answering can do on this machine.
// One batch written at a time, as the gateway writes a tenant's (2 or 4 writers at once measured
// 1,972 and 2,506 webhooks/s, one 2,300, in consecutive runs: the same within this machine's
// noise). A failed write answers its batch 500 (the sender re-sends a few times, then counts it).
// Env: PORT, SECRET, DATABASE_URL.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { receiveSigned, replyJson } from './receive.mjs';

const MAX_BATCH = 64;
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
pool.on('error', (error) => console.error(`idle client: ${error.message}`));

await pool.query(`
  CREATE TABLE IF NOT EXISTS bench_floor_event ("key" text PRIMARY KEY, "receivedAt" timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor_payload ("key" text PRIMARY KEY REFERENCES bench_floor_event ON DELETE CASCADE, "payload" jsonb NOT NULL);
  TRUNCATE bench_floor_event, bench_floor_payload;`);

const WRITE = `
  WITH input AS (SELECT * FROM unnest($1::text[], $2::jsonb[]) AS x("key", "payload")),
  claimed AS (INSERT INTO bench_floor_event ("key") SELECT "key" FROM input ON CONFLICT DO NOTHING RETURNING "key")
  INSERT INTO bench_floor_payload ("key", "payload") SELECT i."key", i."payload" FROM input i JOIN claimed c USING ("key")
  RETURNING "key"`;

/** @type {{ key: string, text: string, res: import('node:http').ServerResponse }[]} */
const queue = [];
let writing = false;

// Batches form while a write runs: the webhooks that arrive meanwhile are the next one.
function drain() {
  if (writing || !queue.length) return;
  writing = true;
  const batch = queue.splice(0, MAX_BATCH);
  // A key twice in one batch: the first is stored, the second answered as a duplicate.
  const first = new Map();
  for (const item of batch) if (!first.has(item.key)) first.set(item.key, item.text);
  pool
    .query(WRITE, [[...first.keys()], [...first.values()]])
    .then(
      ({ rows }) => {
        const stored = new Set(rows.map((r) => r.key));
        for (const { key, res } of batch) replyJson(res, 200, { results: [{ eventId: key, status: stored.delete(key) ? 'CREATED' : 'DUPLICATE', message: null }] });
      },
      (error) => {
        for (const { res } of batch) if (!res.headersSent) replyJson(res, 500, { error: error.message });
      },
    )
    .finally(() => {
      writing = false;
      drain();
    });
}

createServer(
  receiveSigned(process.env.SECRET, (body, text, res) => {
    // The idempotency key: the delivery's content (a re-delivery is byte-identical).
    queue.push({ key: createHash('sha256').update(body).digest('base64url'), text, res });
    if (!writing) drain();
  }),
).listen(Number(process.env.PORT), '127.0.0.1');
