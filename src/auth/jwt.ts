import { LRUCache } from 'lru-cache';
import { SignJWT, createRemoteJWKSet, errors, importSPKI, jwtVerify, type CryptoKey, type JWTVerifyGetKey } from 'jose';

export const ROLES = ['student', 'staff', 'admin', 'integration'] as const;
export type Role = (typeof ROLES)[number];

/** Who is asking: the verified claims of a bearer token. */
export interface Viewer {
  sub: string;
  role: Role;
  tenant: string;
  /** Students only: the Moodle user id that identifies their own record. */
  moodleUserId?: string;
}

export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

const ALGORITHM = 'HS256';

export interface TokenKeys {
  /** HS256 shared secret (JWT_SECRET). */
  secret: string;
  /** RS256 public key, PEM (JWT_PUBLIC_KEY), for colleges whose identity provider signs tokens. */
  publicKeyPem?: string | undefined;
  /** RS256 keys from a JWKS endpoint (JWT_JWKS_URL), fetched and cached by jose. */
  jwksUrl?: string | undefined;
}

export type TokenVerifier = (token: string) => Promise<Viewer>;

/**
 * A verifier accepting HS256 tokens signed with the secret and, when configured, RS256 tokens
 * from an identity provider (public key or JWKS). Throws AuthenticationError with a reason a
 * client can act on; claims are checked the same way whatever signed the token.
 */
export function createTokenVerifier(keys: TokenKeys): TokenVerifier {
  const secret = new TextEncoder().encode(keys.secret);
  const jwks = keys.jwksUrl ? createRemoteJWKSet(new URL(keys.jwksUrl)) : null;
  let publicKey: Promise<CryptoKey> | null = keys.publicKeyPem ? importSPKI(keys.publicKeyPem, 'RS256') : null;
  publicKey?.catch(() => {
    publicKey = null;
  });
  const algorithms = ['HS256', ...(jwks || publicKey ? ['RS256'] : [])];
  const keyFor: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === 'HS256') return secret;
    if (jwks) return jwks(header, token);
    if (publicKey) return publicKey;
    throw new AuthenticationError(`invalid token: algorithm ${header.alg} is not accepted`);
  };
  // A dashboard sends the same token on every request; verifying it (WebCrypto HMAC) was ≈ 11 % of
  // a compiled dashboard read's gateway CPU. A verified token is remembered until it expires, at
  // most VERIFIED_TTL_MS (so a key removed from the JWKS stops being honoured within a minute).
  const verified = new LRUCache<string, Viewer>({ max: 10_000 });
  return async (token) => {
    const known = verified.get(token);
    if (known) return known;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keyFor, { algorithms }));
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      if (error instanceof errors.JWTExpired) throw new AuthenticationError('token expired');
      if (error instanceof errors.JOSEError) throw new AuthenticationError(`invalid token (${error.code})`);
      if (error instanceof TypeError || error instanceof SyntaxError) throw new AuthenticationError('invalid token (malformed)');
      throw error;
    }
    const viewer = viewerOfClaims(payload);
    const ttl = Math.min(VERIFIED_TTL_MS, typeof payload.exp === 'number' ? payload.exp * 1000 - Date.now() : VERIFIED_TTL_MS);
    if (ttl > 0) verified.set(token, viewer, { ttl });
    return viewer;
  };
}

const VERIFIED_TTL_MS = 60_000;

/** Verifies an HS256 token with the secret (see createTokenVerifier for RS256). */
export async function verifyToken(token: string, secret: string): Promise<Viewer> {
  return createTokenVerifier({ secret })(token);
}

function viewerOfClaims(payload: Record<string, unknown>): Viewer {
  const { sub, role, tenant, moodleUserId } = payload;
  if (typeof sub !== 'string' || !sub) throw new AuthenticationError('invalid token: claim "sub" missing');
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    throw new AuthenticationError(`invalid token: claim "role" must be one of ${ROLES.join(', ')}`);
  }
  if (typeof tenant !== 'string' || !tenant) throw new AuthenticationError('invalid token: claim "tenant" missing');
  if (role === 'student' && (typeof moodleUserId !== 'string' || !moodleUserId)) {
    throw new AuthenticationError('invalid token: a student token needs the "moodleUserId" claim');
  }
  return { sub, role: role as Role, tenant, ...(typeof moodleUserId === 'string' ? { moodleUserId } : {}) };
}

/** Signs a token for a viewer (used by `npm run token`, the dev banner and tests). */
export async function signToken(viewer: Viewer, secret: string, expiresIn: string | number = '12h'): Promise<string> {
  return new SignJWT({ role: viewer.role, tenant: viewer.tenant, ...(viewer.moodleUserId ? { moodleUserId: viewer.moodleUserId } : {}) })
    .setProtectedHeader({ alg: ALGORITHM })
    .setSubject(viewer.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
