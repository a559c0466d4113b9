import { buildApp, type App, type AppOptions } from '../../src/app.js';
import { signToken, type Role } from '../../src/auth/jwt.js';
import { createLogger } from '../../src/logger.js';
import { DEMO_MOODLE_USER_ID, JWT_SECRET } from './fixtures.js';

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

export interface TestApp {
  app: App;
  /** POST /graphql through yoga.fetch (no port). */
  graphql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResponse<T>>;
  token(role: Role, options?: { tenant?: string; moodleUserId?: string }): Promise<string>;
}

/** The app on the test database; the response cache is off unless asked for (it would hide SQL counts). */
export function createTestApp(
  options: { redisUrl?: string; cacheTtlSeconds?: number; redisNamespace?: string } & Pick<AppOptions, 'rateLimits' | 'introspection'> = {},
): TestApp {
  const app = buildApp({
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    jwtSecret: JWT_SECRET,
    defaultTenant: 'default',
    graphiql: false,
    redisUrl: options.redisUrl,
    redisNamespace: options.redisNamespace,
    cacheTtlSeconds: options.cacheTtlSeconds ?? 0,
    rateLimits: options.rateLimits,
    introspection: options.introspection,
  });
  return {
    app,
    async graphql(query, variables, token) {
      const response = await app.yoga.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, ...((await response.json()) as object) };
    },
    token: (role, options = {}) =>
      signToken(
        {
          sub: `test-${role}`,
          role,
          tenant: options.tenant ?? 'default',
          ...(role === 'student' ? { moodleUserId: options.moodleUserId ?? DEMO_MOODLE_USER_ID } : {}),
        },
        JWT_SECRET,
      ),
  };
}
