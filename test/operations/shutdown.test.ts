import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/auth/signature.js';
import { useFreshDatabase } from '../support/database.js';
import { JWT_SECRET, TEST_TENANTS } from '../support/fixtures.js';

const database = useFreshDatabase();
const SECRET = TEST_TENANTS[0].webhookSecret;
let child: ChildProcess | null = null;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

/** Starts `src/main.ts` as a real process on the test database; resolves with its port. */
async function startGateway(): Promise<{ port: number; output: string[] }> {
  const output: string[] = [];
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      REDIS_URL: '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      JWT_SECRET,
      WEBHOOK_SECRET: SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (chunk) => output.push(String(chunk)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${output.join('')}`)), 60_000);
    child!.stdout!.on('data', (chunk) => {
      output.push(String(chunk));
      const match = /"url":"http:\/\/localhost:(\d+)\/graphql"/.exec(String(chunk));
      if (match) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), output });
      }
    });
    child!.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${output.join('')}`)));
  });
}

describe('graceful shutdown', () => {
  it('finishes the ingest in flight on SIGTERM, writes nothing partial, refuses new work and exits 0', async () => {
    const { port, output } = await startGateway();
    const records = Array.from({ length: 150 }, (_, i) => ({
      id: `77740000000000${String(i).padStart(5, '0')}`,
      Name: `PRG-${i}`,
      Program_Code: `SHUT-${i}`,
      Status: 'Active',
      Modified_Time: '2031-08-01T10:00:00+00:00',
    }));
    const body = JSON.stringify({ module: 'BTEC_Programs', data: records });
    const inFlight = fetch(`http://127.0.0.1:${port}/webhooks/zoho`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature-256': signBody(body, SECRET) },
      body,
    });
    // Let the bulk ingest start, then ask the process to stop.
    for (let i = 0; i < 100; i++) {
      const started = await database.db.syncEvent.count({ where: { module: 'BTEC_Programs', recordId: { startsWith: '7774' } } });
      if (started > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const exited = once(child!, 'exit');
    child!.kill('SIGTERM');

    const reply = await inFlight.catch((error: unknown) => {
      throw new Error(`the in-flight webhook failed: ${String(error)}\n${output.join("")}`);
    });
    expect(reply.status).toBe(200);
    const { results } = (await reply.json()) as { results: { status: string }[] };
    expect(results).toHaveLength(150);
    expect(results.every((r) => r.status === 'CREATED')).toBe(true);

    const [code] = await exited;
    expect(code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();

    // Every acknowledged record is durable, each with its log row; nothing half-written.
    expect(await database.db.program.count({ where: { zohoId: { startsWith: '7774' } } })).toBe(150);
    expect(await database.db.syncEvent.count({ where: { module: 'BTEC_Programs', recordId: { startsWith: '7774' }, status: 'CREATED' } })).toBe(150);
    expect(await database.db.syncEvent.count({ where: { processedAt: null } })).toBe(0);
  });
});
