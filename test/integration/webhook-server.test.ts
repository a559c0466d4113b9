/**
 * The node:http side of the webhook routes (src/http/webhook-server.ts), on a server of its own
 * with one admission slot (concurrency 1, nothing queued), so a slot that is not given back
 * shows as a 503 on the next webhook: bodies cut off by the client, connections kept or closed
 * after early refusals, a request whose connection is gone before its body is read.
 */
import { Agent, createServer, IncomingMessage, request as httpRequest, type Server } from 'node:http';
import net, { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/auth/signature.js';
import { readNodeBody, serveWebhooks } from '../../src/http/webhook-server.js';
import { HttpError, webhookRoutes } from '../../src/http/webhooks.js';
import { Ingestor } from '../../src/ingest/pipeline.js';
import { tableChecksum } from '../support/checksum.js';
import { useFreshDatabase } from '../support/database.js';
import { TEST_TENANTS } from '../support/fixtures.js';

const database = useFreshDatabase();
const SECRET = TEST_TENANTS[0].webhookSecret;
const lines: Record<string, unknown>[] = [];
let server: Server;
let port = 0;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const webhooks = webhookRoutes({ ingestor: new Ingestor(), log: pino({ level: 'debug' }, sink), defaultTenant: 'default', concurrency: 1, maxQueued: 0 });
  const listener = serveWebhooks(webhooks, { clientAddress: (req) => req.socket.remoteAddress ?? 'unknown' });
  server = createServer((req, res) => {
    if (!listener(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let sequence = 0;
function moodleUser() {
  sequence++;
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    event: 'user_created',
    event_id: `webhook-server-${process.pid}-${sequence}`,
    data: { userid: `77${process.pid}${sequence}`, username: `ws.${sequence}`, email: `ws.${process.pid}.${sequence}@college.example`, firstname: 'Web', lastname: 'Hook', role: 'student', suspended: 0, deleted: 0, timecreated: now, timemodified: now },
  });
}

function signedPost(body: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature-256': signBody(body, SECRET) }, body });
}

/** Sends the head and the first `sent` bytes of a signed webhook's body, then closes the connection. */
function cutOff(body: string, sent: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        `POST /webhooks/moodle HTTP/1.1\r\nHost: test\r\ncontent-type: application/json\r\nx-signature-256: ${signBody(body, SECRET)}\r\n` +
          `x-request-id: cut-${sent}\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, sent)}`,
        () => setImmediate(() => socket.destroy()),
      );
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/** Resolves once the access line of request `id` is written. */
async function accessLine(id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const line = lines.find((l) => l.msg !== undefined && l.requestId === id);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access line for ${id}`);
}

/** Two requests over one kept-alive connection: whether the second reused the first's socket. */
async function twoOnOneConnection(first: { method: string; headers: Record<string, string | number>; body?: string | Buffer }): Promise<{ statuses: number[]; reused: boolean; connection: string | undefined }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const once = (spec: typeof first) =>
    new Promise<{ status: number; reused: boolean; connection: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/webhooks/moodle', agent, method: spec.method, headers: spec.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end(spec.body);
    });
  try {
    const a = await once(first);
    await new Promise((r) => setTimeout(r, 20));
    const body = moodleUser();
    const b = await once({ method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-signature-256': signBody(body, SECRET) }, body });
    return { statuses: [a.status, b.status], reused: b.reused, connection: a.connection };
  } finally {
    agent.destroy();
  }
}

describe('webhooks over node:http', () => {
  it('a body cut off by the client is a 400 in the access log (not a 500, no error line), stores nothing, and frees its slot', async () => {
    const before = await tableChecksum(database.db);
    for (const sent of [0, 20]) {
      await cutOff(moodleUser(), sent);
      expect(await accessLine(`cut-${sent}`)).toMatchObject({ msg: 'request', method: 'POST', path: '/webhooks/moodle', status: 400 });
    }
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
    expect(await tableChecksum(database.db)).toEqual(before);
    // One slot, given back each time: the next webhook is stored, not refused as saturated.
    const next = await signedPost(moodleUser());
    expect(next.status).toBe(200);
    expect(((await next.json()) as { results: { status: string }[] }).results[0]!.status).toBe('CREATED');
  });

  it('a request whose connection closed before its body was read is a 400 at once (no event would ever come)', async () => {
    const req = new IncomingMessage(new Socket());
    req.destroy();
    await new Promise((resolve) => req.once('close', resolve));
    const settled = Promise.race([readNodeBody(req, 1024), new Promise((resolve) => setTimeout(() => resolve('never settled'), 500))]);
    await expect(settled).rejects.toEqual(new HttpError(400, 'the connection closed before the whole body arrived'));
  });

  it('keeps the connection after a refusal whose body Node can discard, and closes it when the rest cannot be read safely', async () => {
    const small = await twoOnOneConnection({ method: 'POST', headers: { 'content-type': 'text/plain', 'content-length': 5000 }, body: 'x'.repeat(5000) });
    expect(small).toEqual({ statuses: [415, 200], reused: true, connection: 'keep-alive' });
    const chunked = await twoOnOneConnection({ method: 'POST', headers: { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, body: 'x'.repeat(5000) });
    expect(chunked).toEqual({ statuses: [415, 200], reused: false, connection: 'close' });
    const get = await twoOnOneConnection({ method: 'GET', headers: {} });
    expect(get).toEqual({ statuses: [405, 200], reused: true, connection: 'keep-alive' });
  });
});
