import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { createYoga, useErrorHandler, type Plugin } from 'graphql-yoga';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { ExecutionArgs } from 'graphql';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { AuthenticationError } from './auth/jwt.js';
import { ViewerResolver } from './auth/viewer.js';
import { createResponseCache, type ResponseCache } from './cache/response-cache.js';
import { createContextFactory, type Context } from './context.js';
import { DASHBOARD_QUERY } from './dashboard-query.js';
import { currentPool, db } from './db/client.js';
import { listMigrations } from './db/migrate.js';
import { adminPage } from './http/admin-page.js';
import { graphqlBodyLimit } from './http/body-limit.js';
import { guardServiceSdl, paramsGuard } from './http/params-guard.js';
import { queryCostLimit } from './http/query-cost.js';
import { clientAddressOf, rateLimits } from './http/rate-limits.js';
import { requestLog } from './http/request-log.js';
import { signedGraphQLRequests } from './http/signed-graphql.js';
import { fetchWebhook, serveWebhooks } from './http/webhook-server.js';
import { webhookRoutes } from './http/webhooks.js';
import { compiledStudentReads } from './read/compiled-reads.js';
import { Ingestor } from './ingest/pipeline.js';
import type { Config, TrustProxy } from './config.js';
import type { Logger } from './logger.js';
import { NotificationResolver, createZohoClient, type ZohoClient } from './zoho/index.js';
import { createSyncPubSub, type PubSub } from './pubsub.js';
import { createMetrics } from './metrics.js';
import { createRedis } from './redis.js';
import { schema } from './schema/index.js';
import { connectFanout } from './sync-fanout.js';

export interface AppOptions {
  log: Logger;
  jwtSecret: string;
  /** RS256 tokens of an identity provider: a PEM public key and/or a JWKS URL. */
  jwtPublicKey?: string | undefined;
  jwksUrl?: string | undefined;
  defaultTenant: string;
  /** Redis for the response cache and cross-instance pub/sub; in-process memory when unset. */
  redisUrl?: string | undefined;
  /** Prefix of every Redis key and pub/sub channel (default `campus-graph`). */
  redisNamespace?: string;
  /** Zoho CRM API settings (config.zoho); absent or disabled: no cold-miss fallback, notifications wait. */
  zoho?: Config['zoho'];
  /** Response cache lifetime; 0 turns the cache off (default 300). */
  cacheTtlSeconds?: number;
  /** Show GraphiQL on GET /graphql (default true). */
  graphiql?: boolean;
  /** Answer introspection queries (default true; production default off, see config). */
  introspection?: boolean;
  /** Requests per minute per viewer / IP on /graphql, per tenant on /webhooks and, per IP, of webhooks failing authentication; absent: no limits. */
  rateLimits?: { perViewer: number; perIp: number; webhooksPerTenant: number; trustProxy: TrustProxy };
  /** Accepted clock skew of a webhook's X-Timestamp (default 300 s). */
  webhookToleranceSeconds?: number;
  /** How long stop() lets in-flight requests finish before closing their sockets (default 25 s). */
  shutdownGraceMs?: number;
}

/**
 * Query limits (graphql-armor), sized so the full dashboard of STUDENTS_DASHBOARD_QUERY passes
 * (depth 8, ≈ 330 tokens) with room for GraphiQL exploration, and abuse does not. Cost is
 * limited by http/query-cost.ts instead of armor's, which cannot see variables.
 */
export const MAX_QUERY_COST = 25_000;

/**
 * A request's head and body must arrive within this (Node: 408, connection closed); a client
 * trickling a body holds a webhook admission slot no longer. Node's default is 300 s, checked
 * every 30 s.
 */
const REQUEST_TIMEOUT_MS = 30_000;
const QUERY_LIMITS = {
  maxDepth: { n: 12 },
  costLimit: { enabled: false },
  maxAliases: { n: 15 },
  maxDirectives: { n: 20 },
  maxTokens: { n: 2000 },
  blockFieldSuggestion: { enabled: true },
};

export interface App {
  /** The ingest pipeline; the cache and pub/sub listen to its outcomes. */
  ingestor: Ingestor;
  cache: ResponseCache | null;
  pubsub: PubSub;
  yoga: ReturnType<typeof createYoga<Record<string, unknown>, Context>>;
  /** A request to the app without a socket (tests): the webhook routes, else Yoga. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  server: Server;
  /** Listens on the port (0: any free one) and resolves with the bound port. */
  start(port: number, host?: string): Promise<number>;
  /** Stops accepting, closes WebSockets (1001 going away) and sockets, and Redis connections. */
  stop(): Promise<void>;
}

/** The composition root: one Yoga instance shared by HTTP and graphql-ws. Tests use it too. */
export function buildApp(options: AppOptions): App {
  const namespace = options.redisNamespace ?? 'campus-graph';
  const redis = options.redisUrl ? connectRedis(options.redisUrl, namespace, options.log) : null;
  const ingestor = new Ingestor();
  // Zoho: the API client (credit budget shared through Redis) and the resolver of parked
  // Notifications-API ids; the one Zoho organisation of the configuration feeds the default tenant.
  const zoho: ZohoClient | null = options.zoho
    ? createZohoClient(options.zoho, { redis: redis?.publishClient, budgetKey: `${namespace}:zoho:credits`, log: options.log })
    : null;
  const notifications = zoho ? new NotificationResolver({ client: zoho, ingestor, log: options.log, tenantIds: [options.defaultTenant] }) : null;
  const viewers = new ViewerResolver({ secret: options.jwtSecret, publicKeyPem: options.jwtPublicKey, jwksUrl: options.jwksUrl });
  const pubsub = createSyncPubSub(namespace, redis ?? undefined);
  const ttl = options.cacheTtlSeconds ?? 300;
  const cache =
    ttl > 0
      ? createResponseCache({ redis: redis?.cacheClient, ttlSeconds: ttl, log: options.log, viewerOf: (request) => viewers.viewerOf(request) })
      : null;
  connectFanout(ingestor, { cache, pubsub, log: options.log });
  let sockets: WebSocketServer | null = null;
  let activeSubscriptions = 0;
  const metrics = createMetrics({
    ingestor,
    cacheCounters: () => cache?.counters ?? null,
    pool: currentPool,
    webSockets: () => sockets?.clients.size ?? 0,
    subscriptions: () => activeSubscriptions,
  });

  const limits = options.rateLimits
    ? rateLimits({ ...options.rateLimits, redis: redis?.cacheClient, namespace, viewers })
    : null;
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    context: createContextFactory({ viewers, defaultTenant: options.defaultTenant, log: options.log, ingestor, pubsub, zoho }),
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health/live',
    landingPage: false,
    // graphqlBodyLimit limits bodies (1 MiB; yoga's own streams every body through a counter).
    maxRequestBodySize: false,
    logging: options.log,
    graphiql:
      options.graphiql === false
        ? false
        : { title: 'campus-graph', defaultQuery: DASHBOARD_QUERY, subscriptionsProtocol: 'WS' },
    plugins: [
      requestLog(options.log),
      metrics.plugin,
      readinessCheck(redis),
      ...(limits ? [limits.plugin] : []),
      adminPage(),
      graphqlBodyLimit(),
      signedGraphQLRequests({ defaultTenant: options.defaultTenant, signedTenants: viewers.signedTenants }),
      paramsGuard(),
      EnvelopArmorPlugin(QUERY_LIMITS),
      queryCostLimit(schema, MAX_QUERY_COST),
      ...(options.introspection === false ? [useDisableIntrospection(), guardServiceSdl()] : []),
      logUnexpectedErrors(),
      // Before the cache: on a miss the cache runs this execute (its typename-augmented document).
      compiledStudentReads(),
      ...(cache ? [cache.plugin] : []),
    ],
  });

  // Webhooks are answered ahead of Yoga (webhooks.ts says why); everything else is Yoga's.
  const webhooks = webhookRoutes({
    ingestor,
    log: options.log,
    defaultTenant: options.defaultTenant,
    addressLimit: limits?.webhookAddressLimit,
    tenantLimit: limits?.webhookTenantLimit,
    toleranceSeconds: options.webhookToleranceSeconds,
    observe: metrics.observeWebhook,
  });
  const webhookListener = serveWebhooks(webhooks, { clientAddress: clientAddressOf(options.rateLimits?.trustProxy ?? false) });
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 }, (req, res) => {
    if (!webhookListener(req, res)) void yoga(req, res);
  });
  sockets = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  useServer(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      // A present but invalid token closes the connection (4403 Forbidden) at connection_init.
      onConnect: async (ctx) => {
        try {
          await viewers.viewerOf(fetchRequestOf(ctx.extra.request), ctx.connectionParams ?? {});
          return true;
        } catch (error) {
          if (error instanceof AuthenticationError) return false;
          throw error;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const request = fetchRequestOf(ctx.extra.request);
        const enveloped = yoga.getEnveloped({ request, connectionParams: ctx.connectionParams ?? {}, params });
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: params.operationName ?? null,
          document: enveloped.parse(params.query),
          variableValues: params.variables ?? null,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
        const errors = enveloped.validate(args.schema, args.document);
        if (errors.length) return errors;
        activeSubscriptions++;
        return args;
      },
      onComplete: () => {
        activeSubscriptions = Math.max(0, activeSubscriptions - 1);
      },
    },
    sockets,
  );

  return {
    ingestor,
    cache,
    pubsub,
    yoga,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      return webhooks.routes(new URL(request.url).pathname) ? fetchWebhook(webhooks, request) : yoga.fetch(request);
    },
    server,
    start: (port, host) =>
      new Promise((resolve, reject) => {
        notifications?.start();
        server.once('error', reject);
        // A deep accept queue: webhook bursts (1,000 at once) otherwise overflow Node's default 511 and get reset.
        server.listen({ port, host, backlog: 4096 }, () => resolve((server.address() as AddressInfo).port));
      }),
    stop: async () => {
      // Stop accepting; in-flight requests (ingests included) finish, idle keep-alives close now.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const client of sockets!.clients) client.close(1001, 'server shutting down');
      // Connections become idle as their last response is sent: close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const grace = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? 25_000);
      await closed;
      clearInterval(sweep);
      clearTimeout(grace);
      sockets!.close();
      await notifications?.stop();
      await zoho?.close();
      await Promise.all([redis?.cacheClient.quit(), redis?.publishClient.quit(), redis?.subscribeClient.quit()].map((p) => p?.catch(() => {})));
    },
  };
}

/** Unexpected errors (no `code` extension: bugs) are logged once, with the request id; the client sees them masked. */
function logUnexpectedErrors(): Plugin<Context> {
  return useErrorHandler(({ errors, context }) => {
    for (const error of errors) {
      const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
      if (code) continue;
      const log = (context as Partial<Context>).log;
      log?.error({ err: (error as { originalError?: unknown }).originalError ?? error, path: (error as { path?: unknown }).path }, 'unexpected GraphQL error');
    }
  }) as Plugin<Context>;
}

interface Enveloped {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

function connectRedis(url: string, namespace: string, log: Logger) {
  return {
    cacheClient: createRedis(url, log, 'cache', { keyPrefix: `${namespace}:cache:` }),
    // A committed batch publishes a message per event and two per student: one write for all of them.
    publishClient: createRedis(url, log, 'publish', { enableAutoPipelining: true }),
    // A subscriber connection must queue its SUBSCRIBE until connected and re-subscribes on reconnect.
    subscribeClient: createRedis(url, log, 'subscribe', { enableOfflineQueue: true, maxRetriesPerRequest: null }),
  };
}

/** The upgrade request as a fetch Request (what the context factory reads headers from). */
function fetchRequestOf(request: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string') headers.set(name, value);
  }
  return new Request(`http://localhost${request.url ?? '/graphql'}`, { headers });
}

/**
 * GET /health (readiness): database, migrations, cache and pub/sub. 503 when the database is
 * down or migrations are pending (load balancers stop routing); Redis away is `degraded`, still
 * 200, since requests are then served from Postgres. GET /health/live is liveness (always 200).
 */
function readinessCheck(redis: { cacheClient: Redis; subscribeClient: Redis } | null): Plugin {
  const expected = listMigrations().then((list) => list.map((m) => m.name));
  return {
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== '/health') return;
      const applied = await db
        .$queryRawUnsafe<{ migration_name: string }[]>(
          'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
        )
        .catch(() => null);
      const database = applied ? 'ok' : 'down';
      const done = new Set(applied?.map((row) => row.migration_name));
      const migrations = !applied ? 'unknown' : (await expected).every((name) => done.has(name)) ? 'ok' : 'pending';
      const status = (client: Redis | undefined) => (!client ? 'memory' : client.status === 'ready' ? 'ok' : 'degraded');
      const ready = database === 'ok' && migrations === 'ok';
      endResponse(
        fetchAPI.Response.json(
          { status: ready ? 'ok' : 'unavailable', database, migrations, cache: status(redis?.cacheClient), pubsub: status(redis?.subscribeClient) },
          { status: ready ? 200 : 503 },
        ),
      );
    },
  };
}
