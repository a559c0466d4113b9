import { SignJWT, errors, jwtVerify } from 'jose';

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

/** Verifies an HS256 token; throws AuthenticationError with a reason a client can act on. */
export async function verifyToken(token: string, secret: string): Promise<Viewer> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: [ALGORITHM] }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new AuthenticationError('token expired');
    if (error instanceof errors.JOSEError) throw new AuthenticationError(`invalid token (${error.code})`);
    throw error;
  }
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
