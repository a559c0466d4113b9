/**
 * Backfill: pages through a Zoho module (200 records a page, ordered by id, optionally only
 * records modified since a date) and ingests every record through the pipeline as a bulk
 * record (idempotency key `module:id:Modified_Time`, so re-reading a page changes nothing).
 * A cursor per tenant and module (BackfillCursor) records the last page fully ingested; a run
 * interrupted anywhere continues after it. `npm run backfill` (scripts/backfill.ts) is the CLI.
 */
import { db } from '../db/client.js';
import { zohoBulkEvents } from '../ingest/envelopes.js';
import type { IngestResult, Ingestor } from '../ingest/pipeline.js';
import { ZOHO_MODULES, type ZohoModule } from '../ingest/zoho-records.js';
import type { IngestStatus } from '../generated/prisma/enums.js';
import { PAGE_SIZE, type ZohoClient } from './client.js';
import { isZohoError } from './errors.js';

/** Every module in an order that stores parents before the records that refer to them. */
export const BACKFILL_ORDER: readonly ZohoModule[] = [
  'BTEC_Programs',
  'BTEC_Units',
  'BTEC_Teachers',
  'BTEC_Classes',
  'BTEC_Students',
  'BTEC_Registrations',
  'BTEC_Payments',
  'BTEC_Enrollments',
  'BTEC_Requests',
  'BTEC_Grades',
];

export interface BackfillOptions {
  client: ZohoClient;
  ingestor: Ingestor;
  tenantId: string;
  module: ZohoModule;
  /** Only records modified after this (If-Modified-Since). A cursor of another `since` is not resumed. */
  since?: Date | null;
  /** Start again at page 1 even when a cursor says otherwise. */
  restart?: boolean;
  /** Records per page (default and Zoho's maximum: 200). */
  perPage?: number;
  /** Records of a page ingested at once (default 4). */
  concurrency?: number;
  /** Stops the run after the page in progress (read and ingested, its cursor saved); a Zoho call is never cut short. */
  signal?: AbortSignal;
  /** Called once the start page is known. */
  onStart?: (start: { startPage: number; records: number; resumed: boolean }) => void;
  /** Called after each page is ingested and its cursor saved; a throw stops the run there. */
  onPage?: (progress: BackfillProgress) => void | Promise<void>;
}

export interface BackfillProgress {
  module: ZohoModule;
  page: number;
  pageRecords: number;
  /** Records ingested by this run and the runs it continues. */
  records: number;
  moreRecords: boolean;
  counts: Partial<Record<IngestStatus, number>>;
}

export interface BackfillSummary {
  tenantId: string;
  module: ZohoModule;
  since: Date | null;
  /** The first page this run read (> 1 when it continued an interrupted run). */
  startPage: number;
  resumed: boolean;
  /** The last page fully ingested. */
  page: number;
  records: number;
  /** Outcomes of this run's records by status. */
  counts: Partial<Record<IngestStatus, number>>;
  /** Every page was read: the module is backfilled. */
  done: boolean;
  /** Stopped by the signal; run again to continue after `page`. */
  interrupted: boolean;
  zohoCalls: number;
}

export class BackfillError extends Error {
  override name = 'BackfillError';
  constructor(
    message: string,
    readonly summary: BackfillSummary,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isBackfillModule(name: string): name is ZohoModule {
  return (ZOHO_MODULES as readonly string[]).includes(name);
}

/**
 * Backfills one module of one tenant. Resolves with the summary when every page is read or
 * the signal stopped it (`interrupted`); rejects with BackfillError (carrying the summary:
 * the cursor is at the last complete page) when Zoho fails after its retries, and with the
 * hook's error when onPage throws. Throws DatabaseUnavailableError when Postgres is down.
 */
export async function runBackfill(options: BackfillOptions): Promise<BackfillSummary> {
  const { client, ingestor, tenantId, module } = options;
  const since = options.since ?? null;
  const perPage = options.perPage ?? PAGE_SIZE;
  const meter = { requests: 0 };
  const cursor = await db.backfillCursor.findUnique({ where: { tenantId_module: { tenantId, module } } });
  const resumable = cursor && !cursor.done && !options.restart && (cursor.since?.getTime() ?? null) === (since?.getTime() ?? null);
  if (!resumable) {
    const fresh = { since, page: 0, records: 0, done: false, startedAt: new Date() };
    await db.backfillCursor.upsert({ where: { tenantId_module: { tenantId, module } }, create: { tenantId, module, ...fresh }, update: fresh });
  }
  const summary: BackfillSummary = {
    tenantId,
    module,
    since,
    startPage: resumable ? cursor.page + 1 : 1,
    resumed: Boolean(resumable) && cursor!.page > 0,
    page: resumable ? cursor.page : 0,
    records: resumable ? cursor.records : 0,
    counts: {},
    done: false,
    interrupted: false,
    zohoCalls: 0,
  };
  options.onStart?.({ startPage: summary.startPage, records: summary.records, resumed: summary.resumed });

  for (let page = summary.startPage; ; page++) {
    if (options.signal?.aborted) return { ...summary, interrupted: true, zohoCalls: meter.requests };
    let listed;
    try {
      listed = await client.listPage(module, page, { perPage, meter, ...(since ? { since } : {}) });
    } catch (error) {
      summary.zohoCalls = meter.requests;
      if (!isZohoError(error)) throw error;
      throw new BackfillError(`reading ${module} page ${page} from Zoho failed: ${error.message}`, summary, { cause: error });
    }
    const results = await ingestPage(ingestor, tenantId, module, listed.records, options.concurrency ?? 4);
    for (const result of results) summary.counts[result.status] = (summary.counts[result.status] ?? 0) + 1;
    summary.page = page;
    summary.records += listed.records.length;
    summary.done = !listed.moreRecords;
    summary.zohoCalls = meter.requests;
    await db.backfillCursor.update({
      where: { tenantId_module: { tenantId, module } },
      data: { page, records: summary.records, done: summary.done },
    });
    await options.onPage?.({ module, page, pageRecords: listed.records.length, records: summary.records, moreRecords: listed.moreRecords, counts: { ...summary.counts } });
    if (summary.done) return { ...summary };
  }
}

async function ingestPage(ingestor: Ingestor, tenantId: string, module: string, records: readonly unknown[], concurrency: number): Promise<IngestResult[]> {
  const events = zohoBulkEvents(module, records);
  const results: IngestResult[] = new Array(events.length);
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const index = next++;
      results[index] = await ingestor.ingest(tenantId, events[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, events.length) }, worker));
  return results;
}
