/**
 * The outbound Zoho CRM API client (`/crm/v2`). One logical call goes:
 *   breaker (refuse while open) → p-retry (network errors, 5xx, 429 with Retry-After; never
 *   other 4xx) → p-queue (at most `maxConcurrent` requests in flight) → credit budget (1 credit
 *   per request sent) → OAuth token (single-flight refresh; once more on 401) → fetch with a
 *   per-request timeout.
 * The gateway serves dashboards from Postgres; this client is for cold misses, Notifications-API
 * fetches and backfills only.
 */
import PQueue from 'p-queue';
import pRetry, { AbortError } from 'p-retry';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createMemoryBudget, createRedisBudget, type CreditBudget } from './budget.js';
import { ZohoBreaker, type BreakerState, type BreakerStats } from './breaker.js';
import { ZohoApiError, ZohoBudgetExceededError, ZohoError, ZohoNetworkError, ZohoUnavailableError, isZohoError } from './errors.js';
import { TokenSource } from './oauth.js';

/** A Zoho record as the API returns it (field names as in FORMATS.md). */
export type ZohoRecord = Record<string, unknown> & { id: string };

/** The enabled branch of `config.zoho`. */
export type ZohoSettings = Extract<Config['zoho'], { enabled: true }>;

export interface ZohoClientOptions {
  log?: Logger;
  /** Shares the credit budget across instances; without it the budget is per process. */
  redis?: Redis | null;
  /** Key of the shared budget (default `campus-graph:zoho:credits`); one per Zoho organisation. */
  budgetKey?: string;
  /** Replaces the budget built from `redis` / settings.dailyCredits (tests). */
  budget?: CreditBudget;
  /** Timeout of each HTTP request (default 10 s). */
  requestTimeoutMs?: number;
  /** Retries of a transient failure after the first attempt (default 4). */
  retries?: number;
  /** First backoff delay; doubles per retry, randomised ×1–2 (default 500 ms). */
  minRetryDelayMs?: number;
  /** Longest backoff delay (default 20 s). */
  maxRetryDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the call fails at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Requests in flight at once from this instance (default 4). */
  maxConcurrent?: number;
  /** Consecutive failed calls that open the breaker (default 5). */
  breakerFailureThreshold?: number;
  /** Open time before a half-open probe (default 30 s). */
  breakerCooldownMs?: number;
  /** Refresh the access token this long before it expires (default 5 min). */
  tokenRefreshMarginMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface CallOptions {
  /** Aborts the call, its retries and its backoff waits (the caller's deadline). */
  signal?: AbortSignal;
  /** Counts the HTTP requests this call sends (retries and paging included) into `requests`. */
  meter?: { requests: number };
}

export interface ListPage {
  records: ZohoRecord[];
  page: number;
  moreRecords: boolean;
}

export interface ZohoClientStats {
  breaker: BreakerStats;
  credits: { limit: number; remaining: number; windowHours: number; shared: boolean };
  requests: { sent: number; failed: number; retried: number };
  tokenRefreshes: number;
  queue: { inFlight: number; waiting: number };
}

/** Why a call would be refused right now without being sent. */
export type ZohoUnavailableReason = 'breaker-open' | 'budget-exhausted' | 'closed';

/** Records per `GET /crm/v2/{module}?ids=…` (Zoho's limit). */
export const MAX_IDS_PER_REQUEST = 100;
/** Records per page of a list or search. */
export const PAGE_SIZE = 200;

const SAFE_SEGMENT = /^[A-Za-z0-9_]+$/;
const SAFE_ID = /^[A-Za-z0-9_-]+$/;

export class ZohoClient {
  readonly budget: CreditBudget;
  private readonly tokens: TokenSource;
  private readonly breaker: ZohoBreaker;
  private readonly queue: PQueue;
  private readonly log: Logger | undefined;
  private readonly fetch: typeof fetch;
  private readonly o: Required<Pick<ZohoClientOptions, 'requestTimeoutMs' | 'retries' | 'minRetryDelayMs' | 'maxRetryDelayMs' | 'maxRetryAfterMs'>>;
  private readonly counters = { sent: 0, failed: 0, retried: 0 };
  private readonly active = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly settings: ZohoSettings,
    options: ZohoClientOptions = {},
  ) {
    this.log = options.log?.child({ component: 'zoho' });
    this.fetch = options.fetch ?? globalThis.fetch;
    this.o = {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      retries: options.retries ?? 4,
      minRetryDelayMs: options.minRetryDelayMs ?? 500,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 20_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    };
    this.budget =
      options.budget ??
      (options.redis
        ? createRedisBudget({
            redis: options.redis,
            key: options.budgetKey ?? 'campus-graph:zoho:credits',
            limit: settings.dailyCredits,
            ...(options.now ? { now: options.now } : {}),
            ...(this.log ? { log: this.log } : {}),
          })
        : createMemoryBudget({ limit: settings.dailyCredits, ...(options.now ? { now: options.now } : {}) }));
    this.tokens = new TokenSource(settings, {
      timeoutMs: this.o.requestTimeoutMs,
      fetch: this.fetch,
      ...(options.tokenRefreshMarginMs !== undefined ? { refreshMarginMs: options.tokenRefreshMarginMs } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.breaker = new ZohoBreaker({
      failureThreshold: options.breakerFailureThreshold ?? 5,
      cooldownMs: options.breakerCooldownMs ?? 30_000,
      isNeutral: isNeutralError,
      onStateChange: (state) => (state === 'open' ? this.log?.warn({ breaker: state }, 'Zoho API breaker opened') : this.log?.info({ breaker: state }, 'Zoho API breaker')),
    });
    this.queue = new PQueue({ concurrency: options.maxConcurrent ?? 4 });
  }

  // ----------------------------------------------------------------------------- API

  /** `GET /crm/v2/{module}/{id}`: the record, or null when Zoho has none (204 or 404). */
  async getRecord(module: string, id: string, options: CallOptions = {}): Promise<ZohoRecord | null> {
    try {
      const { status, body } = await this.call(`${modulePath(module)}/${idSegment(id)}`, {}, options);
      return status === 204 ? null : (recordsOf(body)[0] ?? null);
    } catch (error) {
      if (error instanceof ZohoApiError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * `GET /crm/v2/{module}?ids=a,b,c`, 100 ids per request: the records Zoho has (ids it does
   * not have are simply absent), deduplicated, in no particular order.
   */
  async getRecords(module: string, ids: readonly string[], options: CallOptions = {}): Promise<ZohoRecord[]> {
    const unique = [...new Set(ids.map(idSegment))];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += MAX_IDS_PER_REQUEST) chunks.push(unique.slice(i, i + MAX_IDS_PER_REQUEST));
    const pages = await Promise.all(
      chunks.map(async (chunk) => {
        const { status, body } = await this.call(modulePath(module), { ids: chunk.join(',') }, options);
        return status === 204 ? [] : recordsOf(body);
      }),
    );
    return pages.flat();
  }

  /**
   * `GET /crm/v2/{module}/search?criteria=…` (see `criteria()`), following `more_records` up to
   * `maxPages` pages of 200 (default 5; each page is a request). No match (204) → [].
   */
  async search(module: string, criteria: string, options: CallOptions & { maxPages?: number } = {}): Promise<ZohoRecord[]> {
    const records: ZohoRecord[] = [];
    const maxPages = options.maxPages ?? 5;
    for (let page = 1; page <= maxPages; page++) {
      const { status, body } = await this.call(`${modulePath(module)}/search`, { criteria, page: String(page), per_page: String(PAGE_SIZE) }, options);
      if (status === 204) break;
      records.push(...recordsOf(body));
      if (!moreRecords(body)) break;
      if (page === maxPages) this.log?.warn({ module, criteria, maxPages }, 'Zoho search has more pages than fetched');
    }
    return records;
  }

  /**
   * One page (1-based, 200 records, ordered by id) of `GET /crm/v2/{module}`; with `since`,
   * only records modified after it (`If-Modified-Since`; 304 → an empty last page).
   */
  async listPage(module: string, page: number, options: CallOptions & { since?: Date; perPage?: number } = {}): Promise<ListPage> {
    if (!Number.isSafeInteger(page) || page < 1) throw new RangeError(`listPage: page must be an integer ≥ 1, got ${page}`);
    const headers: Record<string, string> = options.since ? { 'If-Modified-Since': options.since.toISOString() } : {};
    const query = { page: String(page), per_page: String(options.perPage ?? PAGE_SIZE), sort_by: 'id', sort_order: 'asc' };
    const { status, body } = await this.call(modulePath(module), query, { ...options, headers });
    if (status === 204 || status === 304) return { records: [], page, moreRecords: false };
    return { records: recordsOf(body), page, moreRecords: moreRecords(body) };
  }

  // ----------------------------------------------------------------------------- state

  /** Credits left in the rolling window (shared across instances when on Redis). */
  remainingCredits(): Promise<number> {
    return this.budget.remaining();
  }

  breakerState(): BreakerState {
    return this.breaker.state;
  }

  /** For syncStats / metrics. */
  async stats(): Promise<ZohoClientStats> {
    return {
      breaker: this.breaker.stats(),
      credits: {
        limit: this.budget.limit,
        remaining: await this.budget.remaining(),
        windowHours: this.budget.windowMs / 3_600_000,
        shared: this.budget.scope() === 'redis',
      },
      requests: { ...this.counters },
      tokenRefreshes: this.tokens.refreshes,
      queue: { inFlight: this.queue.pending, waiting: this.queue.size },
    };
  }

  /**
   * Null when a call could be sent now; otherwise why it would be refused (breaker open,
   * budget used up, client closed). Costs no credit; callers use it to skip work early.
   */
  async unavailable(credits = 1): Promise<ZohoUnavailableReason | null> {
    if (this.closed) return 'closed';
    if (!this.breaker.accepting) return 'breaker-open';
    if ((await this.budget.remaining()) < credits) return 'budget-exhausted';
    return null;
  }

  /** Refuses new calls; calls in progress (queued, waiting to retry, or in flight) fail with ZohoUnavailableError. */
  close(): void {
    this.closed = true;
    for (const controller of this.active) controller.abort(new Error('the Zoho client is closed'));
    this.breaker.shutdown();
  }

  // ----------------------------------------------------------------------------- transport

  private async call(path: string, query: Record<string, string>, options: CallOptions & { headers?: Record<string, string> }): Promise<{ status: number; body: unknown }> {
    if (this.closed) throw new ZohoUnavailableError('the Zoho client is closed', 'CLIENT_CLOSED');
    options.signal?.throwIfAborted();
    if (this.breaker.accepting && (await this.budget.remaining()) < 1) throw new ZohoBudgetExceededError(this.budget.limit, this.budget.windowMs);
    const url = new URL(`/crm/v2/${path}`, this.settings.apiUrl);
    url.search = new URLSearchParams(query).toString();
    // One controller per call: the caller's signal and close() both abort it (queued requests,
    // backoff waits and requests in flight).
    const controller = new AbortController();
    const forward = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', forward, { once: true });
    this.active.add(controller);
    try {
      return await this.breaker.run(() =>
        this.withRetries(url, path, { ...options, signal: controller.signal }).catch((error: unknown) => {
          if (this.closed) throw new ZohoUnavailableError('the Zoho client is closed', 'CLIENT_CLOSED');
          if (controller.signal.aborted && !(isZohoError(error) && error.code === 'ABORTED')) {
            throw new ZohoError(`Zoho call aborted: ${String(controller.signal.reason)}`, { code: 'ABORTED', cause: error });
          }
          throw error;
        }),
      );
    } finally {
      options.signal?.removeEventListener('abort', forward);
      this.active.delete(controller);
    }
  }

  private withRetries(url: URL, path: string, options: CallOptions & { signal: AbortSignal; headers?: Record<string, string> }): Promise<{ status: number; body: unknown }> {
    const { signal } = options;
    return pRetry(() => this.queue.add(() => this.attempt(url, options), { signal }), {
      retries: this.o.retries,
      factor: 2,
      minTimeout: this.o.minRetryDelayMs,
      maxTimeout: this.o.maxRetryDelayMs,
      randomize: true,
      signal,
      shouldRetry: ({ error }) => this.shouldRetry(error),
      onFailedAttempt: async ({ error, retriesLeft, attemptNumber }) => {
        this.counters.failed++;
        const retrying = retriesLeft > 0 && this.shouldRetry(error);
        this.log?.[retrying ? 'debug' : 'warn']({ path, attempt: attemptNumber, retrying, err: error.message, code: (error as ZohoError).code }, 'Zoho API request failed');
        if (!retrying) return;
        this.counters.retried++;
        // Zoho said how long to wait: wait that long first; p-retry's jittered backoff follows.
        const retryAfter = error instanceof ZohoApiError ? error.retryAfterMs : undefined;
        if (retryAfter) await sleep(retryAfter, signal);
      },
    });
  }

  private shouldRetry(error: unknown): boolean {
    if (!isZohoError(error) || !error.retryable) return false;
    if (error instanceof ZohoApiError && (error.retryAfterMs ?? 0) > this.o.maxRetryAfterMs) return false;
    return true;
  }

  /** One request (and, on 401 AUTHENTICATION_FAILURE, one more with a fresh token). */
  private async attempt(url: URL, options: CallOptions & { headers?: Record<string, string> }): Promise<{ status: number; body: unknown }> {
    let token = await this.tokens.accessToken();
    let response = await this.send(url, token, options);
    if (response.status === 401 && isAuthFailure(response.body)) {
      this.tokens.invalidate(token);
      token = await this.tokens.accessToken();
      response = await this.send(url, token, options);
    }
    if (response.status < 300 || response.status === 304) return response;
    throw apiError(url, response);
  }

  private async send(url: URL, token: string, options: CallOptions & { headers?: Record<string, string> }): Promise<{ status: number; body: unknown; headers: Headers }> {
    options.signal?.throwIfAborted();
    await this.budget.take(1);
    this.counters.sent++;
    if (options.meter) options.meter.requests++;
    const timeout = AbortSignal.timeout(this.o.requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(url, { headers: { ...options.headers, Authorization: `Zoho-oauthtoken ${token}`, Accept: 'application/json' }, signal });
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw new AbortError(new ZohoError(`Zoho call aborted: ${String(options.signal.reason)}`, { code: 'ABORTED', cause: error }));
      if (timeout.aborted) throw new ZohoNetworkError(`Zoho API request timed out after ${this.o.requestTimeoutMs} ms: GET ${url.pathname}`, error, 'TIMEOUT');
      throw new ZohoNetworkError(`Zoho API unreachable: GET ${url.pathname}: ${describeCause(error)}`, error);
    }
    return { status: response.status, body: parseBody(text), headers: response.headers };
  }
}

/** A factory that returns null when Zoho is not configured (no ZOHO_* settings). */
export function createZohoClient(config: Config['zoho'], options: ZohoClientOptions = {}): ZohoClient | null {
  if (!config.enabled) return null;
  return new ZohoClient(config, options);
}

/**
 * A search criterion: `(field:operator:value)`, the value's parentheses, commas and
 * backslashes escaped as Zoho requires. Combine with `and`/`or`: `(${a}and${b})`.
 */
export function criteria(field: string, operator: 'equals' | 'starts_with', value: string): string {
  if (!SAFE_SEGMENT.test(field)) throw new RangeError(`criteria: invalid field name ${JSON.stringify(field)}`);
  return `(${field}:${operator}:${value.replace(/[\\(),]/g, (c) => `\\${c}`)})`;
}

// --------------------------------------------------------------------------------- helpers

/** Errors that say nothing about Zoho's health: they neither open nor close the breaker. */
function isNeutralError(error: unknown): boolean {
  if (error instanceof ZohoBudgetExceededError) return true;
  if (isZohoError(error) && error.code === 'ABORTED') return true;
  if (error instanceof ZohoApiError) return error.status < 500 && error.status !== 429 && error.status !== 401;
  return false;
}

function modulePath(module: string): string {
  if (!SAFE_SEGMENT.test(module)) throw new RangeError(`Zoho module name must be letters, digits or "_", got ${JSON.stringify(module)}`);
  return module;
}

function idSegment(id: string): string {
  const value = String(id).trim();
  if (!SAFE_ID.test(value)) throw new RangeError(`Zoho record id must be letters, digits, "_" or "-", got ${JSON.stringify(id)}`);
  return value;
}

function parseBody(text: string): unknown {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function recordsOf(body: unknown): ZohoRecord[] {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return [];
  return data.filter((r): r is ZohoRecord => Boolean(r) && typeof r === 'object' && r.id !== undefined && r.id !== null).map((r) => ({ ...r, id: String(r.id) }));
}

function moreRecords(body: unknown): boolean {
  return (body as { info?: { more_records?: unknown } } | null)?.info?.more_records === true;
}

function isAuthFailure(body: unknown): boolean {
  const code = (body as { code?: unknown } | null)?.code;
  return code === undefined || code === 'AUTHENTICATION_FAILURE' || code === 'INVALID_TOKEN' || code === 'OAUTH_SCOPE_MISMATCH';
}

function apiError(url: URL, response: { status: number; body: unknown; headers: Headers }): ZohoApiError {
  const body = (response.body && typeof response.body === 'object' ? response.body : {}) as { code?: unknown; message?: unknown; details?: unknown; data?: unknown };
  // Write endpoints nest the error per record in {"data": [{code, message, details}]}.
  const first = Array.isArray(body.data) && body.data[0] && typeof body.data[0] === 'object' ? (body.data[0] as typeof body) : body;
  const code = typeof first.code === 'string' ? first.code : `HTTP_${response.status}`;
  const message = typeof first.message === 'string' ? first.message : typeof response.body === 'string' ? response.body.slice(0, 200) : '';
  return new ZohoApiError(`Zoho API ${response.status} ${code} on GET ${url.pathname}${message ? `: ${message}` : ''}`, {
    status: response.status,
    code,
    details: first.details,
    retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
  });
}

/** Retry-After: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

