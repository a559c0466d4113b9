import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheCounters } from './cache/resilient-cache.js';
import { db } from './db/client.js';
import { RETRY_REASONS, type Ingestor } from './ingest/pipeline.js';

export interface MetricsSources {
  ingestor: Ingestor;
  cacheCounters: () => CacheCounters | null;
  pool: () => pg.Pool | null;
  webSockets: () => number;
  subscriptions: () => number;
  /** Extra gauges filled by other parts (the Zoho client). */
  extra?: (registry: Registry) => void;
}

/**
 * GET /metrics in Prometheus text format, one registry per app: HTTP and GraphQL durations
 * (@graphql-yoga/plugin-prometheus), ingest outcomes and durations, parked backlog, response
 * cache hits/misses/errors, open WebSockets and subscriptions, connection pool usage.
 */
export function createMetrics(sources: MetricsSources): { plugin: Plugin; registry: Registry; observeWebhook: (route: string, status: number, seconds: number) => void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'campus_graph_' });

  const outcomes = new Counter({
    name: 'campus_graph_ingest_outcomes_total',
    help: 'Ingested events by outcome status, source and module',
    labelNames: ['status', 'source', 'module'] as const,
    registers: [registry],
  });
  sources.ingestor.onOutcomes((list) => {
    for (const o of list) outcomes.inc({ status: o.status, source: o.source, module: o.module });
  });

  // Group commit at work: how many events share a transaction, and how long one takes.
  const batchEvents = new Histogram({
    name: 'campus_graph_ingest_batch_events',
    help: "Events per committed group-commit batch transaction: the batch's own events, not the parked ones it released (replays and Zoho fetches not counted)",
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'campus_graph_ingest_transaction_seconds',
    help: 'Time of a committed group-commit batch transaction: from its first attempt (a pool connection awaited, deadlock retries included) to its commit; a part of a batch that failed and was split counts from its own attempt',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  sources.ingestor.onBatch((batch) => {
    batchEvents.observe(batch.events);
    batchSeconds.observe(batch.seconds);
  });
  const retries = new Counter({
    name: 'campus_graph_ingest_retries_total',
    help: "Ingest work run again, by reason: a transaction retried as it was (deadlock or serialization: Postgres' victim; lock_busy: an entity lock needed after others were held; key_race: an event alone lost a unique key to another transaction), or a batch re-run carefully after a refused value (refused_value) or event by event (split)",
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of RETRY_REASONS) retries.inc({ reason }, 0);
  sources.ingestor.onRetry((reason) => retries.inc({ reason }));

  new Gauge({
    name: 'campus_graph_parked_events',
    help: 'Events parked now (waiting for a parent or a Zoho fetch), all tenants',
    registers: [registry],
    async collect() {
      this.set(await db.parkedEvent.count().catch(() => Number.NaN));
    },
  });

  const cacheTotals = { hits: 0, misses: 0, errors: 0 };
  for (const kind of ['hits', 'misses', 'errors'] as const) {
    new Counter({
      name: `campus_graph_response_cache_${kind}_total`,
      help: `Response cache ${kind}${kind === 'errors' ? ' (Redis away: served from Postgres)' : ''}`,
      registers: [registry],
      collect() {
        const now = sources.cacheCounters()?.[kind] ?? 0;
        if (now > cacheTotals[kind]) this.inc(now - cacheTotals[kind]);
        cacheTotals[kind] = now;
      },
    });
  }
  new Gauge({
    name: 'campus_graph_response_cache_pending_invalidations',
    help: 'Invalidations waiting for Redis to come back',
    registers: [registry],
    collect() {
      this.set(sources.cacheCounters()?.pendingInvalidations ?? 0);
    },
  });

  new Gauge({
    name: 'campus_graph_websocket_connections',
    help: 'Open graphql-ws connections',
    registers: [registry],
    collect() {
      this.set(sources.webSockets());
    },
  });
  new Gauge({
    name: 'campus_graph_subscriptions_active',
    help: 'Active GraphQL subscriptions',
    registers: [registry],
    collect() {
      this.set(sources.subscriptions());
    },
  });
  new Gauge({
    name: 'campus_graph_db_pool_connections',
    help: 'Postgres pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = sources.pool();
      if (!pool) return;
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  // Webhooks are served ahead of Yoga, so its HTTP duration does not see them.
  const webhookSeconds = new Histogram({
    name: 'campus_graph_webhook_request_seconds',
    help: 'Time from a webhook request to its answer, by route and HTTP status',
    labelNames: ['route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  sources.extra?.(registry);

  const plugin = usePrometheus({
    registry,
    endpoint: '/metrics',
    metrics: {
      graphql_yoga_http_duration: true,
      graphql_envelop_request_duration: true,
      graphql_envelop_phase_execute: true,
      graphql_envelop_error_result: true,
      graphql_envelop_request: true,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_phase_subscribe: true,
    },
  });
  return { plugin, registry, observeWebhook: (route, status, seconds) => webhookSeconds.observe({ route, status: String(status) }, seconds) };
}
