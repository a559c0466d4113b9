import { createGraphQLError } from 'graphql-yoga';
import { AuthenticationError, type Viewer } from './auth/jwt.js';
import type { ViewerResolver } from './auth/viewer.js';
import { requestIdOf } from './http/request-log.js';
import type { Ingestor } from './ingest/pipeline.js';
import type { Logger } from './logger.js';
import type { PubSub } from './pubsub.js';
import type { ZohoClient } from './zoho/index.js';

/** Per-request (or per-subscription) GraphQL context. The Prisma client is not on it. */
export interface Context {
  viewer: Viewer | null;
  /** The tenant every read and write is scoped to: the viewer's, or the default one. */
  tenantId: string;
  requestId: string;
  log: Logger;
  ingestor: Ingestor;
  pubsub: PubSub;
  /** The Zoho CRM API client; null when Zoho is not configured. */
  zoho: ZohoClient | null;
}

export interface ContextOptions {
  viewers: ViewerResolver;
  defaultTenant: string;
  log: Logger;
  ingestor: Ingestor;
  pubsub: PubSub;
  zoho: ZohoClient | null;
}

/**
 * Builds the context from the request (over graphql-ws: the upgrade request and the
 * connection_init payload). A present but invalid token is an UNAUTHENTICATED error
 * (HTTP 401), never anonymous access. The request id is `x-request-id` or a new one.
 */
export function createContextFactory(options: ContextOptions) {
  return async function createContext(initial: { request: Request; connectionParams?: Record<string, unknown> }): Promise<Context> {
    const requestId = requestIdOf(initial.request);
    let viewer: Viewer | null;
    try {
      viewer = await options.viewers.viewerOf(initial.request, initial.connectionParams);
    } catch (error) {
      if (error instanceof AuthenticationError) throw unauthenticated(error.message);
      throw error;
    }
    return {
      viewer,
      tenantId: viewer?.tenant ?? options.defaultTenant,
      requestId,
      log: options.log.child({ requestId }),
      ingestor: options.ingestor,
      pubsub: options.pubsub,
      zoho: options.zoho,
    };
  };
}

export function unauthenticated(message: string) {
  return createGraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}
