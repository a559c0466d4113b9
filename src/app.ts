import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga, type Plugin } from 'graphql-yoga';
import { createContextFactory, type Context } from './context.js';
import { DASHBOARD_QUERY } from './dashboard-query.js';
import { db } from './db/client.js';
import { signedGraphQLRequests } from './http/signed-graphql.js';
import { webhookRoutes } from './http/webhooks.js';
import { Ingestor } from './ingest/pipeline.js';
import type { Logger } from './logger.js';
import { schema } from './schema/index.js';

export interface AppOptions {
  log: Logger;
  jwtSecret: string;
  defaultTenant: string;
  /** Show GraphiQL on GET /graphql (default true). */
  graphiql?: boolean;
}

export interface App {
  /** The ingest pipeline; listeners (cache, pub/sub, metrics) subscribe to its outcomes. */
  ingestor: Ingestor;
  yoga: ReturnType<typeof createYoga<Record<string, unknown>, Context>>;
  server: Server;
  /** Listens on the port (0: any free one) and resolves with the bound port. */
  start(port: number, host?: string): Promise<number>;
  /** Stops accepting connections and closes open sockets. */
  stop(): Promise<void>;
}

/** The composition root: one Yoga instance behind a node:http server. Tests use it too. */
export function buildApp(options: AppOptions): App {
  const ingestor = new Ingestor();
  const signedTenants = new WeakMap<Request, string>();
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    context: createContextFactory({
      jwtSecret: options.jwtSecret,
      defaultTenant: options.defaultTenant,
      log: options.log,
      ingestor,
      signedTenants,
    }),
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health/live',
    landingPage: false,
    logging: options.log,
    graphiql: options.graphiql === false ? false : { title: 'campus-graph', defaultQuery: DASHBOARD_QUERY },
    plugins: [
      readinessCheck(),
      webhookRoutes({ ingestor, log: options.log, defaultTenant: options.defaultTenant }),
      signedGraphQLRequests({ defaultTenant: options.defaultTenant, signedTenants }),
    ],
  });

  const server = createServer(yoga);

  return {
    ingestor,
    yoga,
    server,
    start: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      }),
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** GET /health: 200 when the database answers, else 503 (load balancers stop routing). */
function readinessCheck(): Plugin {
  return {
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== '/health') return;
      const database = await db.$queryRawUnsafe('SELECT 1').then(
        () => 'ok' as const,
        () => 'down' as const,
      );
      endResponse(
        fetchAPI.Response.json({ status: database === 'ok' ? 'ok' : 'degraded', database }, { status: database === 'ok' ? 200 : 503 }),
      );
    },
  };
}
