/**
 * POST /webhooks/zoho and /webhooks/moodle as a Yoga plugin (so tests reach it through
 * yoga.fetch). Order matters: size and type limits → tenant → signature over the raw bytes
 * (before any parsing) → JSON → events → the ingest pipeline, with bounded concurrency.
 */
import type { Plugin } from 'graphql-yoga';
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
import { readBodyWithin } from './bounded-body.js';

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
  /**
   * The tenant's webhook rate limit, consulted only once the request is authenticated (so an
   * unsigned flood naming a tenant cannot lock its real sender out): seconds to wait, or null.
   */
  tenantLimit?: (tenantId: string) => Promise<number | null>;
  /** Accepted clock skew of an X-Timestamp (default 300 s). */
  toleranceSeconds?: number;
}

const ROUTES = { '/webhooks/zoho': 'zoho', '/webhooks/moodle': 'moodle' } as const;
type Sender = (typeof ROUTES)[keyof typeof ROUTES];

/**
 * The server adapter's fetch API (onRequest's `fetchAPI`): its Response is written to the socket as
 * is, where the global (undici) one goes through a web stream: 0.6 → 0.4 ms of CPU per webhook (bench S3
 * with the ingest stubbed out, an experiment).
 */
type FetchAPI = { Response: typeof Response };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function webhookRoutes(options: WebhookOptions): Plugin {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const maxQueued = options.maxQueued ?? 256;
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const concurrency = options.concurrency ?? 64;
  const queue = new PQueue({ concurrency });
  /** Requests admitted and not yet answered: reading their body, looking up their tenant, queued or ingesting. */
  let admitted = 0;

  async function handle(sender: Sender, request: Request, fetchAPI: FetchAPI): Promise<Response> {
    if (request.method !== 'POST') throw new HttpError(405, `use POST for ${new URL(request.url).pathname}`, { allow: 'POST' });
    const contentType = request.headers.get('content-type') ?? '';
    if (!/^application\/(.+\+)?json\b/i.test(contentType)) {
      throw new HttpError(415, `Content-Type must be application/json, got ${contentType ? JSON.stringify(contentType) : 'none'}`);
    }
    const declared = Number(request.headers.get('content-length') ?? 0);
    if (declared > maxBodyBytes) throw new HttpError(413, `body of ${declared} bytes exceeds the limit of ${maxBodyBytes} bytes`);
    // Admission before anything that costs memory or a database connection (the tenant lookup):
    // a saturated instance answers 503 at once instead of piling requests up in front of the pool.
    if (admitted >= maxQueued + concurrency) throw saturated();
    admitted++;
    try {
      return await admittedRequest(sender, request, fetchAPI);
    } finally {
      admitted--;
    }
  }

  async function admittedRequest(sender: Sender, request: Request, fetchAPI: FetchAPI): Promise<Response> {
    const body = await readBodyWithin(request, maxBodyBytes);
    if (!body) throw new HttpError(413, `body exceeds the limit of ${maxBodyBytes} bytes`);

    const tenantId = request.headers.get('x-tenant-id')?.trim() || options.defaultTenant;
    const tenant = await tenantSecrets(db, tenantId).catch((error: unknown) => {
      throw unavailable(error);
    });
    // Replay window: with X-Timestamp (unix seconds) the signature covers `<timestamp>.<body>`,
    // and a timestamp outside the tolerance is refused even when the signature matches.
    const timestamp = request.headers.get('x-timestamp');
    if (timestamp !== null) {
      const seconds = Number(timestamp);
      const skew = Math.abs(Date.now() / 1000 - seconds);
      if (!/^\d{9,11}$/.test(timestamp.trim()) || skew > toleranceSeconds) {
        throw new HttpError(401, `X-Timestamp must be unix seconds within ${toleranceSeconds} s of now (got ${JSON.stringify(timestamp.slice(0, 20))})`);
      }
    }
    const signedBytes = timestamp === null ? body : Buffer.concat([Buffer.from(`${timestamp.trim()}.`), body]);
    const signed = tenant !== null && verifySignature(signedBytes, request.headers.get('x-signature-256'), tenant.webhookSecret);

    // Unsigned: only a Zoho Notifications-API callback carrying the tenant's channel token is
    // let through; any other unsigned body (malformed JSON included) is a 401, never a parse error.
    const json = signed ? parseJson(body) : sender === 'zoho' && tenant?.zohoChannelToken ? parseJsonOrUndefined(body) : undefined;
    if (!signed && !(tenant && isRecord(json) && isZohoNotification(json) && secretsEqual(json.token, tenant.zohoChannelToken))) {
      throw new HttpError(401, request.headers.get('x-signature-256')
        ? `X-Signature-256 does not match the body for tenant "${tenantId}"`
        : 'missing X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the tenant\'s webhook secret>');
    }
    const retryAfter = await options.tenantLimit?.(tenantId);
    if (retryAfter) throw new HttpError(429, `webhook rate limit of tenant "${tenantId}" reached; retry in ${retryAfter} s`, { 'retry-after': String(retryAfter) });

    let events: KeyedEvent[];
    try {
      events = sender === 'zoho' ? zohoWebhookEvents(json) : [moodleEvent(json)];
    } catch (error) {
      if (error instanceof IngestInputError) throw new HttpError(422, error.message);
      throw error;
    }
    if (queue.size >= maxQueued) throw saturated();
    const results = await queue.add(() => options.ingestor.ingestEvents(tenantId, events));
    const accepted = results.some((r) => r.status !== 'REJECTED');
    return fetchAPI.Response.json({ results: results.map(publicResult) }, { status: accepted ? 200 : 422 });
  }

  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      const sender = ROUTES[url.pathname as keyof typeof ROUTES];
      if (!sender) return;
      try {
        endResponse(await handle(sender, request, fetchAPI));
      } catch (error) {
        const failure = error instanceof HttpError ? error : error instanceof DatabaseUnavailableError ? unavailable(error) : null;
        if (!failure) {
          options.log.error({ err: error, path: url.pathname }, 'webhook failed');
          endResponse(fetchAPI.Response.json({ error: 'internal error; the event was not stored, retry it' }, { status: 500 }));
          return;
        }
        if (failure.status >= 500) options.log.warn({ path: url.pathname, status: failure.status }, failure.message);
        endResponse(fetchAPI.Response.json({ error: failure.message }, { status: failure.status, headers: failure.headers }));
      }
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
