/**
 * The ingest floor: the least any per-event design must do for one webhook — claim the
 * idempotency key, take the entity's advisory lock, upsert the entity, record the outcome, in
 * one committed transaction — run straight from this process over node-postgres (32 clients,
 * named prepared statements, no HTTP, no signature, no parsing, no ORM). Its events/s bounds a
 * gateway that commits each acknowledged webhook in its own transaction, on this machine.
 * Uses two scratch tables in a schema of the bench database, dropped afterwards.
 */
import pg from 'pg';
import { startCpuProbe } from './cpu.js';

export interface IngestFloor {
  transactions: number;
  seconds: number;
  perSecond: number;
  cpuMsPerTransaction: { postgres: number; client: number };
}

const SCHEMA = 'bench_ingest_floor';

export async function measureIngestFloor(databaseUrl: string, adminUrl: string, database: string, seconds: number, clients = 32): Promise<IngestFloor> {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA};
    CREATE TABLE ${SCHEMA}.event (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant text NOT NULL, key text NOT NULL, status text, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now(), UNIQUE (tenant, key));
    CREATE TABLE ${SCHEMA}.payment (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant text NOT NULL, zoho_id text NOT NULL, amount numeric(12,2), status text, fingerprint text, source_updated_at timestamptz, UNIQUE (tenant, zoho_id));`);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  const connections = await Promise.all(Array.from({ length: clients }, () => pool.connect()));
  const payload = JSON.stringify({ module: 'BTEC_Payments', operation: 'insert', data: { Name: 'PAY-1', Amount: '1500.00', Status: 'Paid' } });
  let n = 0;
  const deadline = Date.now() + seconds * 1000;
  const probe = await startCpuProbe(process.pid, adminUrl, database);
  const started = performance.now();
  try {
    await Promise.all(
      connections.map(async (c) => {
        while (Date.now() < deadline) {
          const id = String(n++);
          await c.query('BEGIN');
          const claimed = await c.query({ name: 'floor-claim', text: `INSERT INTO ${SCHEMA}.event (tenant, key, payload) VALUES ('default', $1, $2) ON CONFLICT DO NOTHING RETURNING id`, values: [`zoho:${id}`, payload] });
          await c.query({ name: 'floor-lock', text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`Payment:${id}`] });
          await c.query({ name: 'floor-upsert', text: `INSERT INTO ${SCHEMA}.payment (tenant, zoho_id, amount, status, fingerprint, source_updated_at) VALUES ('default', $1, 1500, 'PAID', md5($1), now()) ON CONFLICT (tenant, zoho_id) DO UPDATE SET amount = EXCLUDED.amount, fingerprint = EXCLUDED.fingerprint`, values: [id] });
          await c.query({ name: 'floor-outcome', text: `UPDATE ${SCHEMA}.event SET status = 'CREATED' WHERE id = $1`, values: [claimed.rows[0].id] });
          await c.query('COMMIT');
        }
      }),
    );
  } finally {
    for (const c of connections) c.release();
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu = await probe.stop();
  await pool.end();
  await setup.query(`DROP SCHEMA ${SCHEMA} CASCADE`);
  await setup.end();
  // The probe's "server" is this process here: it is the client side of the floor.
  return { transactions: n, seconds: elapsed, perSecond: n / elapsed, cpuMsPerTransaction: { postgres: cpu.postgresMs / n, client: cpu.loadGeneratorMs / n } };
}
