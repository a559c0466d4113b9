/**
 * POST /webhooks/zoho and /webhooks/moodle, whatever delivered the request: node:http ahead of
 * Yoga in the server (webhook-server.ts serveWebhooks), a fetch Request in tests (App.fetch).
 * Order matters: client address limit (of requests failing authentication) → size and type
 * limits → tenant → signature over the raw bytes (before any parsing) → tenant limit → JSON →
 * events → the ingest pipeline, with bounded concurrency. Every answer gets an access-log line
 * and its request id in `x-request-id`.
 *
 * Why not a Yoga plugin (it was one until stop 18): the Fetch adapter made a Request, URL,
 * Headers, body stream and Response per webhook and ran every plugin's onRequest: 15 % of the
 * gateway's main thread in S3 (perf), for nothing a webhook uses.
 */
import { isSafeNumber, parse as parseLosslessJson } from 'lossless-json';
import PQueue from 'p-queue';
import { secretsEqual, verifySignature } from '../auth/signature.js';
import { db } from '../db/client.js';
import { tenantSecrets } from '../db/tenants.js';
import { isRecord } from '../ingest/fields.js';
import { isZohoNotification, moodleEvent, zohoWebhookEvents } from '../ingest/envelopes.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH, tooDeepMessage } from '../ingest/json-depth.js';
import { DatabaseUnavailableError, type IngestResult, type Ingestor } from '../ingest/pipeline.js';
import type { KeyedEvent } from '../ingest/raw-event.js';
import { IngestInputError } from '../ingest/record.js';
import type { Logger } from '../logger.js';
import type { AddressLimit, Limit } from './rate-limits.js';
import { elapsedMs, logRequest, requestIdFrom } from './request-log.js';
import { nextTurn } from './turns.js';

/** A webhook request as the routes read it. */
export interface WebhookRequest {
  method: string;
  /** Without the query string. */
  path: string;
  /** A header by its lower-case name. */
  header(name: string): string | null;
  /** The body's bytes, or null as soon as more than `limit` bytes have arrived (the rest is not read). */
  body(limit: number): Promise<Uint8Array | null>;
  clientIp: string;
}

export interface WebhookReply {
  status: number;
  headers: Record<string, string>;
  /** Sent as JSON. */
  body: unknown;
}

export interface Webhooks {
  /** Largest accepted body. */
  readonly maxBodyBytes: number;
  /** Whether `path` (without its query string) is a webhook route. */
  routes(path: string): boolean;
  /** The answer to a request on a webhook route; never throws. */
  answer(request: WebhookRequest): Promise<WebhookReply>;
}

export interface WebhookOptions {
  ingestor: Ingestor;
  log: Logger;
  defaultTenant: string;
  /** Largest accepted body (default 1 MiB). */
  maxBodyBytes?: number;
  /** Webhook requests ingesting at once (default 64; their events share transactions, see ingest/group-commit.ts) … */
  concurrency?: number;
  /** … and waiting for a turn (default 256); beyond that: 503 with Retry-After. */
  maxQueued?: number;
  /** The client address' budget of requests failing authentication (rate-limits.ts AddressLimit), consulted first. */
  addressLimit?: AddressLimit | undefined;
  /**
   * The tenant's webhook rate limit, consulted only once the request is authenticated (so an
   * unsigned flood naming a tenant cannot lock its real sender out).
   */
  tenantLimit?: Limit | undefined;
  /** Accepted clock skew of an X-Timestamp (default 300 s). */
  toleranceSeconds?: number;
  /** Told of every answer (metrics). */
  observe?: (route: string, status: number, seconds: number) => void;
}

const ROUTES = { '/webhooks/zoho': 'zoho', '/webhooks/moodle': 'moodle' } as const;
type Sender = (typeof ROUTES)[keyof typeof ROUTES];

/** A refusal with its status (and headers); thrown by the routes and by what reads a request for them. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function webhookRoutes(options: WebhookOptions): Webhooks {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const maxQueued = options.maxQueued ?? 256;
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const concurrency = options.concurrency ?? 64;
  const queue = new PQueue({ concurrency });
  /** Requests admitted and not yet answered: reading their body, looking up their tenant, queued or ingesting. */
  let admitted = 0;

  async function handle(sender: Sender, request: WebhookRequest): Promise<WebhookReply> {
    const retryAfter = options.addressLimit?.refused(request.clientIp);
    if (retryAfter) throw new HttpError(429, `rate limit of unauthenticated webhooks from ${request.clientIp} reached; retry in ${retryAfter} s`, { 'retry-after': String(retryAfter) });
    if (request.method !== 'POST') throw new HttpError(405, `use POST for ${request.path}`, { allow: 'POST' });
    const contentType = request.header('content-type') ?? '';
    if (!/^application\/(.+\+)?json\b/i.test(contentType)) {
      throw new HttpError(415, `Content-Type must be application/json, got ${contentType ? JSON.stringify(contentType) : 'none'}`);
    }
    const declared = Number(request.header('content-length') ?? 0);
    if (declared > maxBodyBytes) throw new HttpError(413, `body of ${declared} bytes exceeds the limit of ${maxBodyBytes} bytes`);
    // Admission before anything that costs memory or a database connection (the tenant lookup):
    // a saturated instance answers 503 at once instead of piling requests up in front of the pool.
    if (admitted >= maxQueued + concurrency) throw saturated();
    admitted++;
    try {
      return await admittedRequest(sender, request);
    } finally {
      admitted--;
    }
  }

  async function admittedRequest(sender: Sender, request: WebhookRequest): Promise<WebhookReply> {
    const body = await request.body(maxBodyBytes);
    if (!body) throw new HttpError(413, `body exceeds the limit of ${maxBodyBytes} bytes`);
    // Verifying and parsing can wait for a turn (turns.ts); the ingest's Postgres answers cannot.
    await nextTurn();

    const tenantId = request.header('x-tenant-id')?.trim() || options.defaultTenant;
    const tenant = await tenantSecrets(db, tenantId).catch((error: unknown) => {
      throw unavailable(error);
    });
    // Replay window: with X-Timestamp (unix seconds) the signature covers `<timestamp>.<body>`,
    // and a timestamp outside the tolerance is refused even when the signature matches.
    const timestamp = request.header('x-timestamp');
    if (timestamp !== null) {
      const seconds = Number(timestamp);
      const skew = Math.abs(Date.now() / 1000 - seconds);
      if (!/^\d{9,11}$/.test(timestamp.trim()) || skew > toleranceSeconds) {
        throw new HttpError(401, `X-Timestamp must be unix seconds within ${toleranceSeconds} s of now (got ${JSON.stringify(timestamp.slice(0, 20))})`);
      }
    }
    const signedBytes = timestamp === null ? body : Buffer.concat([Buffer.from(`${timestamp.trim()}.`), body]);
    const signed = tenant !== null && verifySignature(signedBytes, request.header('x-signature-256'), tenant.webhookSecret);

    // Unsigned: only a Zoho Notifications-API callback carrying the tenant's channel token is
    // let through; any other unsigned body (malformed JSON included) is a 401, never a parse error.
    const json = signed ? parseJson(body) : sender === 'zoho' && tenant?.zohoChannelToken ? parseJsonOrUndefined(body) : undefined;
    if (!signed && !(tenant && isRecord(json) && isZohoNotification(json) && secretsEqual(json.token, tenant.zohoChannelToken))) {
      throw new HttpError(401, request.header('x-signature-256')
        ? `X-Signature-256 does not match the body for tenant "${tenantId}"`
        : 'missing X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the tenant\'s webhook secret>');
    }
    if (options.tenantLimit) {
      const retryAfter = await options.tenantLimit(tenantId);
      if (retryAfter) throw new HttpError(429, `webhook rate limit of tenant "${tenantId}" reached; retry in ${retryAfter} s`, { 'retry-after': String(retryAfter) });
      // The limit's answer (a Redis round trip) arrives in a poll phase: parse the events in a later turn too.
      await nextTurn();
    }

    let events: KeyedEvent[];
    try {
      events = sender === 'zoho' ? zohoWebhookEvents(json) : [moodleEvent(json)];
    } catch (error) {
      if (error instanceof IngestInputError) throw new HttpError(422, error.message);
      throw error;
    }
    if (queue.pending >= concurrency && queue.size >= maxQueued) throw saturated();
    const results = await queue.add(() => options.ingestor.ingestEvents(tenantId, events));
    const accepted = results.some((r) => r.status !== 'REJECTED');
    return { status: accepted ? 200 : 422, headers: {}, body: { results: results.map(publicResult) } };
  }

  function failed(error: unknown, path: string): WebhookReply {
    const failure = error instanceof HttpError ? error : error instanceof DatabaseUnavailableError ? unavailable(error) : null;
    if (!failure) {
      options.log.error({ err: error, path }, 'webhook failed');
      return { status: 500, headers: {}, body: { error: 'internal error; the event was not stored, retry it' } };
    }
    if (failure.status >= 500) options.log.warn({ path, status: failure.status }, failure.message);
    return { status: failure.status, headers: { ...failure.headers }, body: { error: failure.message } };
  }

  return {
    maxBodyBytes,
    routes: (path) => Object.hasOwn(ROUTES, path),
    async answer(request) {
      const started = performance.now();
      const requestId = requestIdFrom(request.header('x-request-id'));
      const reply = await handle(ROUTES[request.path as keyof typeof ROUTES], request).catch((error: unknown) => failed(error, request.path));
      if (reply.status === 401) await options.addressLimit?.failed(request.clientIp).catch(() => {});
      reply.headers['x-request-id'] = requestId;
      const ms = elapsedMs(started);
      logRequest(options.log, { requestId, method: request.method, path: request.path, status: reply.status, ms });
      options.observe?.(request.path, reply.status, ms / 1000);
      return reply;
    },
  };
}

function saturated(): HttpError {
  return new HttpError(503, 'ingest is saturated; retry shortly', { 'retry-after': '1' });
}

function unavailable(error: unknown): HttpError {
  // Prisma messages start with a blank line and end with the cause ("Can't reach database server at …").
  const cause = error instanceof DatabaseUnavailableError ? undefined : String((error as Error)?.message ?? error).split('\n').map((line) => line.trim()).filter(Boolean).pop();
  return new HttpError(503, `the database is unavailable${cause ? ` (${cause})` : ''}; nothing was stored, retry`, {
    'retry-after': '5',
  });
}

/** The reply per event, as DESIGN.md specifies it (IngestResult plus what helps the sender). */
function publicResult(r: IngestResult) {
  return { eventId: r.eventId, status: r.status, entityType: r.entityType, entityId: r.entityId, message: r.message, module: r.module };
}

function parseJsonOrUndefined(body: Uint8Array): unknown {
  try {
    return parseJson(body);
  } catch {
    return undefined;
  }
}

/**
 * JSON where integers beyond 2^53 (19-digit Zoho ids sent as numbers) stay exact strings.
 * Nesting is checked first, without recursion: the parser (and what handles its result) would
 * overflow the stack on a body thousands of levels deep, at a depth varying with V8's tiers.
 */
function parseJson(body: Uint8Array): unknown {
  const text = Buffer.from(body).toString('utf8');
  if (jsonTextTooDeep(text, MAX_JSON_DEPTH)) throw new HttpError(422, tooDeepMessage('body'));
  try {
    return parseLosslessJson(text, null, (value) => (isSafeNumber(value) ? Number(value) : value));
  } catch (error) {
    throw new HttpError(400, `malformed JSON: ${(error as Error).message}`);
  }
}
