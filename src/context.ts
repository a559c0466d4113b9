import { randomUUID } from 'node:crypto';
import { createGraphQLError } from 'graphql-yoga';
import { AuthenticationError, verifyToken, type Viewer } from './auth/jwt.js';
import type { Ingestor } from './ingest/pipeline.js';
import type { Logger } from './logger.js';

/** Per-request (or per-subscription) GraphQL context. The Prisma client is not on it. */
export interface Context {
  viewer: Viewer | null;
  /** The tenant every read and write is scoped to: the viewer's, or the default one. */
  tenantId: string;
  requestId: string;
  log: Logger;
  ingestor: Ingestor;
}

export interface ContextOptions {
  jwtSecret: string;
  defaultTenant: string;
  log: Logger;
  ingestor: Ingestor;
  /** Requests authenticated by X-Signature-256 (see http/signed-graphql.ts), by tenant. */
  signedTenants: WeakMap<Request, string>;
}

/**
 * Builds the context from the request: verifies `Authorization: Bearer <JWT>` (or, over
 * graphql-ws, the `authorization` of connection_init) and takes `x-request-id` or makes one.
 * A present but invalid token is an UNAUTHENTICATED error (HTTP 401), never anonymous access.
 */
export function createContextFactory(options: ContextOptions) {
  return async function createContext(initial: {
    request: Request;
    connectionParams?: Record<string, unknown>;
  }): Promise<Context> {
    const requestId = initial.request.headers.get('x-request-id')?.slice(0, 128) || randomUUID();
    const authorization =
      initial.request.headers.get('authorization') ??
      (typeof initial.connectionParams?.authorization === 'string' ? initial.connectionParams.authorization : null);
    const signedTenant = options.signedTenants.get(initial.request);
    const viewer = authorization
      ? await viewerFrom(authorization, options.jwtSecret)
      : signedTenant
        ? { sub: 'x-signature-256', role: 'integration' as const, tenant: signedTenant }
        : null;
    return {
      viewer,
      tenantId: viewer?.tenant ?? options.defaultTenant,
      requestId,
      log: options.log.child({ requestId }),
      ingestor: options.ingestor,
    };
  };
}

async function viewerFrom(authorization: string, secret: string): Promise<Viewer> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match?.[1]) throw unauthenticated('Authorization header must be "Bearer <JWT>"');
  try {
    return await verifyToken(match[1], secret);
  } catch (error) {
    if (error instanceof AuthenticationError) throw unauthenticated(error.message);
    throw error;
  }
}

export function unauthenticated(message: string) {
  return createGraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}
