import { AuthenticationError, createTokenVerifier, type TokenKeys, type TokenVerifier, type Viewer } from './jwt.js';

/**
 * The viewer of an HTTP request or a graphql-ws connection: verifies `Authorization: Bearer
 * <JWT>` once per request (the response cache's session key and the GraphQL context both ask),
 * or accepts a request already authenticated by X-Signature-256 as an `integration` viewer.
 * Throws AuthenticationError for a present but unusable credential.
 */
export class ViewerResolver {
  private readonly byRequest = new WeakMap<Request, Promise<Viewer | null>>();
  /** Requests authenticated by X-Signature-256 (http/signed-graphql.ts), with their tenant. */
  readonly signedTenants = new WeakMap<Request, string>();

  private readonly verify: TokenVerifier;

  constructor(keys: TokenKeys) {
    this.verify = createTokenVerifier(keys);
  }

  viewerOf(request: Request, connectionParams?: Record<string, unknown>): Promise<Viewer | null> {
    if (connectionParams) return this.fromAuthorization(authorizationOf(request, connectionParams), request);
    let viewer = this.byRequest.get(request);
    if (!viewer) {
      viewer = this.fromAuthorization(authorizationOf(request), request);
      this.byRequest.set(request, viewer);
    }
    return viewer;
  }

  private async fromAuthorization(authorization: string | null, request: Request): Promise<Viewer | null> {
    if (authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
      if (!match?.[1]) throw new AuthenticationError('Authorization must be "Bearer <JWT>"');
      return this.verify(match[1]);
    }
    const signedTenant = this.signedTenants.get(request);
    return signedTenant ? { sub: 'x-signature-256', role: 'integration', tenant: signedTenant } : null;
  }
}

function authorizationOf(request: Request, connectionParams?: Record<string, unknown>): string | null {
  const fromParams = connectionParams?.authorization ?? connectionParams?.Authorization;
  if (typeof fromParams === 'string') return fromParams;
  return request.headers.get('authorization');
}
