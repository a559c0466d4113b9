import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
import { db } from '../db/client.js';
import { IngestStatus, SyncSource } from '../generated/prisma/enums.js';
import type { Prisma } from '../generated/prisma/client.js';
import { moodleEvent, zohoBulkEvents, zohoRecordEvent } from '../ingest/envelopes.js';
import { isBlank, isRecord } from '../ingest/fields.js';
import { canonicalMoodleEvent } from '../ingest/moodle-events.js';
import { AWAITING_ZOHO_FETCH, DatabaseUnavailableError, type IngestResult } from '../ingest/pipeline.js';
import type { KeyedEvent } from '../ingest/raw-event.js';
import { IngestInputError } from '../ingest/record.js';
import { assertCursors } from './cursors.js';
import { zohoStatus, type ZohoStatus } from '../zoho/index.js';

export const IngestStatusEnum = builder.enumType(IngestStatus, { name: 'IngestStatus' });
export const SyncSourceEnum = builder.enumType(SyncSource, { name: 'SyncSource' });

export const SyncEvent = builder.prismaObject('SyncEvent', {
  description: 'One received event and what became of it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    source: t.expose('source', { type: SyncSourceEnum }),
    module: t.exposeString('module'),
    operation: t.exposeString('operation', { nullable: true }),
    recordId: t.exposeString('recordId', { nullable: true }),
    status: t.expose('status', { type: IngestStatusEnum }),
    entityType: t.exposeString('entityType', { nullable: true }),
    entityId: t.exposeID('entityId', { nullable: true }),
    studentId: t.exposeID('studentId', { nullable: true }),
    message: t.exposeString('message', { nullable: true }),
    waitingFor: t.string({
      nullable: true,
      description: 'PARKED: the reference it waits for (`Student:zohoId:…`), or `zoho-fetch` for a notification not yet fetched.',
      select: { parked: { select: { awaiting: true } } },
      resolve: (event) => event.parked?.awaiting ?? null,
    }),
    receivedAt: t.expose('receivedAt', { type: 'DateTime' }),
    processedAt: t.expose('processedAt', { type: 'DateTime', nullable: true }),
  }),
});

const StatusCount = builder.objectRef<{ status: IngestStatus; count: number }>('IngestStatusCount').implement({
  fields: (t) => ({
    status: t.expose('status', { type: IngestStatusEnum }),
    count: t.exposeInt('count'),
  }),
});

interface SyncStatsShape {
  byStatus: { status: IngestStatus; count: number }[];
  parkedBacklog: number;
  awaitingFetch: number;
  oldestParkedAt: Date | null;
  lastEventAt: Date | null;
}

const ZohoApiStatus = builder.objectRef<ZohoStatus>('ZohoApiStatus').implement({
  fields: (t) => ({
    configured: t.exposeBoolean('configured'),
    breaker: t.string({ nullable: true, description: 'closed, open or half-open', resolve: (s) => (s.configured ? s.breaker : null) }),
    remainingCredits: t.int({ nullable: true, resolve: (s) => (s.configured ? s.remainingCredits : null) }),
    dailyCredits: t.int({ nullable: true, resolve: (s) => (s.configured ? s.dailyCredits : null) }),
    sharedBudget: t.boolean({ nullable: true, description: 'Counted across instances through Redis', resolve: (s) => (s.configured ? s.sharedBudget : null) }),
  }),
});

const SyncStats = builder.objectRef<SyncStatsShape>('SyncStats').implement({
  description: 'The state of ingestion for the viewer\'s tenant.',
  fields: (t) => ({
    byStatus: t.field({ type: [StatusCount], description: 'Logged events per status (DUPLICATE and REJECTED are answered, not logged).', resolve: (s) => s.byStatus }),
    parkedBacklog: t.exposeInt('parkedBacklog', { description: 'Events parked now (waiting for a parent or a Zoho fetch).' }),
    awaitingFetch: t.exposeInt('awaitingFetch', { description: 'Parked Notifications-API ids not yet fetched from Zoho.' }),
    oldestParkedAgeSeconds: t.int({
      nullable: true,
      resolve: (s) => (s.oldestParkedAt ? Math.floor((Date.now() - s.oldestParkedAt.getTime()) / 1000) : null),
    }),
    oldestParkedAt: t.expose('oldestParkedAt', { type: 'DateTime', nullable: true }),
    lastEventAt: t.expose('lastEventAt', { type: 'DateTime', nullable: true }),
    zoho: t.field({
      type: ZohoApiStatus,
      description: 'The outbound Zoho API: circuit breaker and the rolling 24 h credit budget.',
      resolve: (_stats, _args, ctx) => zohoStatus(ctx.zoho),
    }),
  }),
});

export const IngestResultRef = builder.objectRef<IngestResult>('IngestResult').implement({
  description: 'What became of one event. Success statuses are returned only after commit.',
  fields: (t) => ({
    eventId: t.exposeID('eventId', { nullable: true }),
    status: t.expose('status', { type: IngestStatusEnum }),
    entityType: t.exposeString('entityType', { nullable: true }),
    entityId: t.exposeID('entityId', { nullable: true }),
    message: t.exposeString('message', { nullable: true }),
  }),
});

const IngestBatchResult = builder.objectRef<{ results: IngestResult[] }>('IngestBatchResult').implement({
  fields: (t) => ({
    results: t.field({ type: [IngestResultRef], resolve: (batch) => batch.results }),
  }),
});

const ZohoEventInput = builder.inputType('ZohoEventInput', {
  description: 'A Zoho record event (FORMATS.md), camel-cased.',
  fields: (t) => ({
    notificationId: t.string({ required: true }),
    module: t.string({ required: true }),
    operation: t.string({ required: true }),
    recordId: t.string({ required: true }),
    timestamp: t.string(),
    data: t.field({ type: 'JSON' }),
  }),
});

const MoodleEventInput = builder.inputType('MoodleEventInput', {
  fields: (t) => ({
    event: t.string({ required: true }),
    eventId: t.string(),
    data: t.field({ type: 'JSON', required: true }),
  }),
});

/** Bulk records per call; larger backfills page (`npm run backfill`). */
const MAX_BATCH = 1000;

function rejected(event: { module: string; source: 'ZOHO' | 'MOODLE' }, error: IngestInputError): IngestResult {
  return {
    eventId: null,
    status: 'REJECTED',
    source: event.source,
    module: event.module,
    operation: null,
    entityType: null,
    entityId: null,
    studentId: null,
    message: error.message,
    awaiting: null,
  };
}

async function ingestOne(ctx: Context, build: () => KeyedEvent, fallback: { module: string; source: 'ZOHO' | 'MOODLE' }) {
  let event: KeyedEvent;
  try {
    event = build();
  } catch (error) {
    if (error instanceof IngestInputError) return rejected(fallback, error);
    throw error;
  }
  return guardDatabase(() => ctx.ingestor.ingest(ctx.tenantId, event));
}

async function guardDatabase<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) {
      throw createGraphQLError('The database is unavailable; nothing was stored. Retry later.', {
        extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: { 'retry-after': '5' } } },
      });
    }
    throw error;
  }
}

/**
 * The ingestMoodleEvent input as an event: `{event, eventId, data}` in the plugin form, or,
 * when `data` is a standard Moodle event envelope (it has `eventname`), that envelope, which
 * `event` must name too. `eventId`, when given, is the idempotency key in both forms.
 */
function moodleInputEvent(input: { event: string; eventId?: string | null; data?: unknown }): KeyedEvent {
  const { event, eventId, data } = input;
  if (!isRecord(data) || isBlank(data.eventname)) return moodleEvent({ event, eventId: eventId ?? undefined, data });
  const enveloped = typeof data.eventname === 'string' ? canonicalMoodleEvent(data.eventname) : null;
  if (canonicalMoodleEvent(event) !== enveloped) {
    throw new IngestInputError(
      `Moodle event.event: expected the event of the envelope's eventname ${JSON.stringify(data.eventname)}, got ${JSON.stringify(event)}`,
      'event',
    );
  }
  const keyed = moodleEvent(data);
  return eventId ? { ...keyed, idempotencyKey: `moodle:${eventId}` } : keyed;
}

const INGEST_SCOPES = { integration: true, admin: true } as const;

builder.mutationFields((t) => ({
  ingestZohoEvent: t.field({
    type: IngestResultRef,
    description: 'One Zoho record event. Idempotent by notificationId.',
    authScopes: INGEST_SCOPES,
    args: { input: t.arg({ type: ZohoEventInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ingestOne(ctx, () => zohoRecordEvent({ ...input, data: input.data ?? null }), { module: input.module, source: 'ZOHO' }),
  }),
  ingestZohoRecords: t.field({
    type: IngestBatchResult,
    description: `Bulk records of one module (at most ${MAX_BATCH}); one result per record, in order. Idempotent by module:id:Modified_Time.`,
    authScopes: INGEST_SCOPES,
    args: { module: t.arg.string({ required: true }), records: t.arg({ type: ['JSON'], required: true }) },
    resolve: async (_root, { module, records }, ctx) => {
      if (records.length > MAX_BATCH) {
        throw createGraphQLError(`ingestZohoRecords takes at most ${MAX_BATCH} records per call, got ${records.length}`, {
          extensions: { code: 'BAD_USER_INPUT' },
        });
      }
      // Record by record (results in order), so an unusable one (nested too deep) is REJECTED alone;
      // the usable ones are ingested together (they share transactions, in order).
      const slots: (IngestResult | KeyedEvent)[] = records.map((record) => {
        try {
          return zohoBulkEvents(module, [record])[0]!;
        } catch (error) {
          if (!(error instanceof IngestInputError)) throw error;
          return rejected({ module, source: 'ZOHO' }, error);
        }
      });
      const events = slots.filter((s): s is KeyedEvent => 'raw' in s);
      const ingested = await guardDatabase(() => ctx.ingestor.ingestEvents(ctx.tenantId, events));
      let next = 0;
      const results = slots.map((s) => ('raw' in s ? ingested[next++]! : s));
      return { results };
    },
  }),
  ingestMoodleEvent: t.field({
    type: IngestResultRef,
    description: 'One Moodle event. Idempotent by eventId (a hash of the event when absent).',
    authScopes: INGEST_SCOPES,
    args: { input: t.arg({ type: MoodleEventInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ingestOne(ctx, () => moodleInputEvent(input), {
        module: input.event,
        source: 'MOODLE',
      }),
  }),
  replayParkedEvents: t.int({
    description: 'Re-tries parked events whose parents now exist; returns how many were applied.',
    authScopes: { admin: true },
    resolve: (_root, _args, ctx) => guardDatabase(() => ctx.ingestor.replayParked(ctx.tenantId)),
  }),
}));

builder.queryFields((t) => ({
  syncEvents: t.prismaConnection(
    {
      type: SyncEvent,
      cursor: 'id',
      defaultSize: 50,
      maxSize: 500,
      description: 'The tenant\'s event log, newest first.',
      authScopes: { admin: true },
      args: {
        status: t.arg({ type: IngestStatusEnum }),
        source: t.arg({ type: SyncSourceEnum }),
        module: t.arg.string(),
      },
      resolve: (query, _root, args, ctx) => {
        assertCursors(args);
        const where: Prisma.SyncEventWhereInput = { tenantId: ctx.tenantId };
        if (args.status) where.status = args.status;
        if (args.source) where.source = args.source;
        if (args.module) where.module = args.module;
        return db.syncEvent.findMany({ ...query, where, orderBy: [{ receivedAt: 'desc' }, { id: 'desc' }] });
      },
    },
    { name: 'SyncEventConnection' },
    { name: 'SyncEventEdge' },
  ),
  syncStats: t.field({
    type: SyncStats,
    authScopes: { admin: true },
    resolve: (_root, _args, ctx) => syncStats(ctx.tenantId),
  }),
}));

export async function syncStats(tenantId: string): Promise<SyncStatsShape> {
  const [groups, parked, awaitingFetch, last] = await Promise.all([
    db.syncEvent.groupBy({ by: ['status'], where: { tenantId }, _count: { _all: true } }),
    db.parkedEvent.aggregate({ where: { tenantId }, _count: { _all: true }, _min: { createdAt: true } }),
    db.parkedEvent.count({ where: { tenantId, awaiting: AWAITING_ZOHO_FETCH } }),
    db.syncEvent.aggregate({ where: { tenantId }, _max: { receivedAt: true } }),
  ]);
  const counts = new Map(groups.map((g) => [g.status, g._count._all]));
  return {
    byStatus: Object.values(IngestStatus).map((status) => ({ status, count: counts.get(status) ?? 0 })),
    parkedBacklog: parked._count._all,
    awaitingFetch,
    oldestParkedAt: parked._min.createdAt ?? null,
    lastEventAt: last._max.receivedAt ?? null,
  };
}
