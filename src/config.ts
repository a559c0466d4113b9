import proxyaddr from 'proxy-addr';
import { z } from 'zod';

/**
 * The only reader of process.env. Parsed once with zod; any error prints every problem on
 * its own line and exits (see loadConfig). Unset DATABASE_URL means "embedded Postgres".
 */
const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.string().url().optional())
  .optional();
const optionalSecret = (min: number) =>
  z
    .string()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().min(min, `must be at least ${min} characters`).optional())
    .optional();
const booleanFlag = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Which proxies in front of the gateway report the client's address in X-Forwarded-For: none
 * (`false`), every hop (`true`: the leftmost entry, safe only when the first proxy overwrites the
 * header), the nearest N hops (`1`: the address the one proxy saw; safe only when the port is
 * reachable through the proxies alone), or the proxies' addresses and subnets (`loopback,
 * 10.0.0.0/8`: the nearest address not among them), as proxy-addr (Express' `trust proxy`)
 * reads them. (Until stop 18 the variable was a boolean flag, and `1` meant `true`.)
 */
export type TrustProxy = boolean | number | string[];
const trustProxy = z
  .string()
  .trim()
  .transform((value, ctx): TrustProxy => {
    const lower = value.toLowerCase();
    if (['', 'false', 'no', '0'].includes(lower)) return false;
    if (['true', 'yes'].includes(lower)) return true;
    if (/^\d+$/.test(lower)) return Number(lower);
    const proxies = lower.split(',').map((p) => p.trim());
    const problem = (() => {
      if (proxies.some((p) => !p)) return 'an empty entry';
      // ipaddr.js would read a bare number as an IPv4 address (2 → 0.0.0.2).
      const number = proxies.find((p) => /^\d+$/.test(p));
      if (number) return `${number} is a number of hops only on its own`;
      try {
        proxyaddr.compile(proxies);
        return null;
      } catch (error) {
        return (error as Error).message;
      }
    })();
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `expected false, true, a number of trusted hops, or comma-separated proxy addresses, subnets and names (loopback, linklocal, uniquelocal), e.g. "loopback, 10.0.0.0/8": ${problem}` });
      return z.NEVER;
    }
    return proxies;
  });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().optional(),
  DATABASE_URL: optionalUrl,
  DATABASE_POOL_SIZE: positiveInt(10),
  REDIS_URL: optionalUrl,
  JWT_SECRET: optionalSecret(32),
  JWT_PUBLIC_KEY: z
    .string()
    .optional()
    .refine((v) => !v || v.includes('BEGIN PUBLIC KEY'), 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)'),
  JWT_JWKS_URL: optionalUrl,
  CACHE_TTL_SECONDS: z.coerce.number().int().min(0).default(300),
  DEFAULT_TENANT: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "-" or "_" (max 63)')
    .default('default'),
  WEBHOOK_SECRET: optionalSecret(16),
  ZOHO_API_URL: optionalUrl,
  ZOHO_ACCOUNTS_URL: optionalUrl,
  ZOHO_CLIENT_ID: z.string().optional(),
  ZOHO_CLIENT_SECRET: z.string().optional(),
  ZOHO_REFRESH_TOKEN: z.string().optional(),
  ZOHO_DAILY_CREDITS: positiveInt(5000),
  ZOHO_CHANNEL_TOKEN: z.string().optional(),
  GRAPHQL_INTROSPECTION: booleanFlag.optional(),
  RATE_LIMIT_PER_VIEWER: z.coerce.number().int().min(0).default(600),
  RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).default(1200),
  RATE_LIMIT_WEBHOOKS_PER_TENANT: z.coerce.number().int().min(0).default(12000),
  TRUST_PROXY: trustProxy.default(false),
  WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).default(300),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  production: boolean;
  http: { port: number; host: string };
  log: { level: Env['LOG_LEVEL'] };
  /** Where embedded Postgres and dev secrets live (default `<project>/.data`). */
  dataDir: string;
  database: { url: string | undefined; poolSize: number };
  redis: { url: string | undefined };
  auth: { jwtSecret: string | undefined; jwtPublicKey: string | undefined; jwksUrl: string | undefined };
  cache: { ttlSeconds: number };
  graphql: { introspection: boolean };
  /** Requests per minute (0: off). */
  rateLimits: { perViewer: number; perIp: number; webhooksPerTenant: number; trustProxy: TrustProxy };
  webhooks: { toleranceSeconds: number };
  tenancy: { defaultTenant: string; webhookSecret: string | undefined; zohoChannelToken: string | undefined };
  zoho:
    | { enabled: false; dailyCredits: number }
    | {
        enabled: true;
        apiUrl: string;
        accountsUrl: string;
        clientId: string;
        clientSecret: string;
        refreshToken: string;
        dailyCredits: number;
      };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const projectRoot = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

/** Parses an environment (default process.env); throws ConfigError listing every problem. */
export function parseConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const env = parsed.data;
  const problems: string[] = [];
  const production = env.NODE_ENV === 'production';
  if (production) {
    if (!env.DATABASE_URL) problems.push('DATABASE_URL: required in production (embedded Postgres is for development)');
    if (!env.JWT_SECRET) problems.push('JWT_SECRET: required in production');
    if (!env.WEBHOOK_SECRET) problems.push('WEBHOOK_SECRET: required in production');
  }
  const zohoKeys = ['ZOHO_API_URL', 'ZOHO_ACCOUNTS_URL', 'ZOHO_CLIENT_ID', 'ZOHO_CLIENT_SECRET', 'ZOHO_REFRESH_TOKEN'] as const;
  const zohoSet = zohoKeys.filter((k) => env[k]);
  if (zohoSet.length > 0 && zohoSet.length < zohoKeys.length) {
    for (const k of zohoKeys) if (!env[k]) problems.push(`${k}: required when any ZOHO_* API setting is set`);
  }
  if (problems.length) throw new ConfigError(problems);

  return {
    env: env.NODE_ENV,
    production,
    http: { port: env.PORT, host: env.HOST },
    log: { level: env.LOG_LEVEL },
    dataDir: env.DATA_DIR ?? `${projectRoot}/.data`,
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE },
    redis: { url: env.REDIS_URL },
    auth: { jwtSecret: env.JWT_SECRET, jwtPublicKey: env.JWT_PUBLIC_KEY?.replaceAll('\\n', '\n'), jwksUrl: env.JWT_JWKS_URL },
    cache: { ttlSeconds: env.CACHE_TTL_SECONDS },
    graphql: { introspection: env.GRAPHQL_INTROSPECTION ?? !production },
    rateLimits: {
      perViewer: env.RATE_LIMIT_PER_VIEWER,
      perIp: env.RATE_LIMIT_PER_IP,
      webhooksPerTenant: env.RATE_LIMIT_WEBHOOKS_PER_TENANT,
      trustProxy: env.TRUST_PROXY,
    },
    webhooks: { toleranceSeconds: env.WEBHOOK_TOLERANCE_SECONDS },
    tenancy: {
      defaultTenant: env.DEFAULT_TENANT,
      webhookSecret: env.WEBHOOK_SECRET,
      zohoChannelToken: env.ZOHO_CHANNEL_TOKEN,
    },
    zoho:
      zohoSet.length === zohoKeys.length
        ? {
            enabled: true,
            apiUrl: env.ZOHO_API_URL!,
            accountsUrl: env.ZOHO_ACCOUNTS_URL!,
            clientId: env.ZOHO_CLIENT_ID!,
            clientSecret: env.ZOHO_CLIENT_SECRET!,
            refreshToken: env.ZOHO_REFRESH_TOKEN!,
            dailyCredits: env.ZOHO_DAILY_CREDITS,
          }
        : { enabled: false, dailyCredits: env.ZOHO_DAILY_CREDITS },
  };
}

/** parseConfig(process.env), or print the problems (one line each) and exit 1. */
export function loadConfig(): Config {
  try {
    return parseConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
