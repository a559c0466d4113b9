/**
 * The limits of issue 6 at their configured thresholds: query limits (graphql-armor,
 * QUERY_LIMITS in src/app.ts: depth 12, cost 8000, aliases 15, directives 20, tokens 2000),
 * the introspection switch, and rate limits (per viewer and per IP on /graphql, per tenant on
 * /webhooks; shared by instances through Redis). Just below a limit passes validation, just
 * above is refused with a message naming the limit.
 */
import { Lexer, Source, TokenKind } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_QUERY_COST } from '../../src/app.js';
import type { Role } from '../../src/auth/jwt.js';
import { signBody } from '../../src/auth/signature.js';
import { STUDENTS_DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { createTestApp, type GraphQLResponse, type TestApp } from '../support/app.js';
import { tableChecksum } from '../support/checksum.js';
import { useFreshDatabase } from '../support/database.js';
import { TEST_TENANTS } from '../support/fixtures.js';
import { REDIS_URL, requireRedis, uniqueNamespace } from '../support/redis.js';

const database = useFreshDatabase();
const apps: TestApp[] = [];

function app(options: Parameters<typeof createTestApp>[0] = {}): TestApp {
  const created = createTestApp(options);
  apps.push(created);
  return created;
}

afterAll(async () => {
  for (const { app: built } of apps) await built.stop();
});

/** Tokens as the parser counts them (graphql-armor max-tokens counts every token but <EOF>). */
function tokenCount(document: string): number {
  const lexer = new Lexer(new Source(document));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) count++;
  return count;
}

const refusedBy = (reply: GraphQLResponse, pattern: RegExp) => {
  expect(reply.data ?? null, JSON.stringify(reply)).toBeNull();
  expect(reply.errors?.map((e) => e.message).join('\n')).toMatch(pattern);
};

const passes = (reply: GraphQLResponse) => {
  expect(reply.errors, JSON.stringify(reply.errors)).toBeUndefined();
  expect(reply.status).toBe(200);
};

/** No parse or validation error (execution errors, e.g. FORBIDDEN, are another matter). */
const validates = (reply: GraphQLResponse) => {
  for (const error of reply.errors ?? []) {
    expect(error.extensions?.code, error.message).not.toMatch(/GRAPHQL_PARSE_FAILED|GRAPHQL_VALIDATION_FAILED/);
    expect(error.message).not.toMatch(/limit of|Syntax Error/);
  }
};

describe('query limits (QUERY_LIMITS)', () => {
  const limitsApp = app();
  const { graphql, token } = limitsApp;

  it('depth 12 passes, 13 is refused', async () => {
    const nested = (levels: number) => `{${' ... on Query {'.repeat(levels - 1)} __typename ${'}'.repeat(levels - 1)} }`;
    passes(await graphql(nested(12)));
    refusedBy(await graphql(nested(13)), /Query depth limit of 12 exceeded, found 13/);
    // A real path: students → edges → node → grades → class → teacher → id is depth 7.
    passes(await graphql('{ students(first: 1) { edges { node { grades { class { teacher { id } } } } } } }', {}, await token('staff')));
  });

  it(`cost ${MAX_QUERY_COST} passes, more is refused (a page size multiplies its selection)`, async () => {
    // students(first: N) { edges { node { id } } } costs 1 + 3 × N with the cost model of src/http/query-cost.ts.
    const costOf = (n: number) => 1 + 3 * n;
    const n = Math.floor((MAX_QUERY_COST - 1) / 3);
    expect(costOf(n)).toBeLessThanOrEqual(MAX_QUERY_COST);
    const staff = await token('staff');
    const page = '{ students(first: $n) { edges { node { id } } } }'.replace('{ students', 'query($n: Int) { students');
    passes(await graphql(page, { n }, staff));
    refusedBy(await graphql(page, { n: n + 1 }, staff), new RegExp(`Query cost ${costOf(n + 1)} exceeds the limit of ${MAX_QUERY_COST}`));
    refusedBy(await graphql(`{ students(first: ${n + 1}) { edges { node { id } } } }`, {}, staff), new RegExp(`Query cost ${costOf(n + 1)} exceeds`));
  });

  it('a cost remembered for a document still follows the variables that change it (numbers, booleans)', async () => {
    const staff = await token('staff');
    const n = Math.floor((MAX_QUERY_COST - 1) / 3);
    // Two pages of n: within the limit only while the second one is skipped.
    const twoPages = 'query($n: Int, $both: Boolean!, $after: String) { a: students(first: $n, after: $after) { edges { node { id } } } b: students(first: $n) @include(if: $both) { edges { node { id } } } }';
    passes(await graphql(twoPages, { n, both: false, after: null }, staff));
    // A string (an id, a cursor) changes no cost: whatever it does, it is not refused as too costly.
    const withCursor = await graphql(twoPages, { n, both: false, after: 'a-string-instead-of-a-cursor' }, staff);
    expect(withCursor.errors?.map((e) => e.message).join('\n') ?? '').not.toMatch(/Query cost/);
    refusedBy(await graphql(twoPages, { n, both: true, after: null }, staff), /Query cost \d+ exceeds the limit/);
    refusedBy(await graphql(twoPages, { n: n + 1, both: false, after: null }, staff), /Query cost \d+ exceeds the limit/);
  });

  it('15 aliases pass, 16 are refused', async () => {
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
    const staff = await token('staff');
    passes(await graphql(aliased(15), {}, staff));
    refusedBy(await graphql(aliased(16), {}, staff), /Aliases limit of 15 exceeded, found 16/);
  });

  it('20 directives pass, 21 are refused', async () => {
    const directed = (n: number) => `{ ${'__typename @include(if: true) '.repeat(n)}}`;
    passes(await graphql(directed(20)));
    refusedBy(await graphql(directed(21), {}), /Directives limit of 20 exceeded, found 21/);
  });

  it('2000 tokens pass, 2001 are refused', async () => {
    // Tokens in a list argument (distinct fields would hit graphql-js' overlap budget first).
    const representations = Array.from({ length: 248 }, () => '{ __typename: "Student", id: "not-a-uuid" }').join(', ');
    const base = `{ _entities(representations: [${representations}]) { __typename } }`;
    const padded = (tokens: number) => `{ ${'__typename '.repeat(tokens - tokenCount(base))}${base.slice(1)}`;
    expect(tokenCount(padded(2000))).toBe(2000);
    expect(tokenCount(padded(2001))).toBe(2001);
    const staff = await token('staff');
    const below = await graphql(padded(2000), {}, staff);
    passes(below);
    expect(below.data!._entities).toHaveLength(248);
    refusedBy(await graphql(padded(2001), {}, staff), /Token limit of 2000 exceeded/);
  });

  it('the full STUDENTS_DASHBOARD_QUERY with first: 100 passes', async () => {
    const reply = await graphql(STUDENTS_DASHBOARD_QUERY, { first: 100 }, await token('staff'));
    passes(reply);
    expect(reply.data!.students.edges).toHaveLength(100);
    expect(reply.data!.students.edges[0].node.finance.balance).toMatch(/^-?\d+\.\d{2}$/);
  });

  /**
   * The cost must not depend on how the client spells the page size: a literal and a variable
   * get the same verdict (graphql-armor's cost read only literals, so it was replaced).
   */
  it('gives the dashboard the same verdict whether the page size is a literal or a variable', async () => {
    const staff = await token('staff');
    for (const first of [100, 200]) {
      const literal = STUDENTS_DASHBOARD_QUERY.replace('$first: Int = 50, ', '').replace('students(first: $first', `students(first: ${first}`);
      expect(literal).not.toBe(STUDENTS_DASHBOARD_QUERY);
      const viaVariable = await graphql(STUDENTS_DASHBOARD_QUERY, { first }, staff);
      const viaLiteral = await graphql(literal, {}, staff);
      const verdict = (reply: typeof viaLiteral) => reply.errors?.map((e) => e.message) ?? 'passes';
      expect({ first, literal: verdict(viaLiteral) }).toEqual({ first, literal: verdict(viaVariable) });
      if (first === 100) expect(verdict(viaLiteral)).toBe('passes');
      else expect(verdict(viaLiteral)).not.toBe('passes');
    }
  });

  it('does not suggest field names to a client exploring the schema', async () => {
    const reply = await graphql('{ studnts { id } }', {}, await token('staff'));
    expect(reply.errors?.[0]?.message).toMatch(/Cannot query field "studnts"/);
    expect(JSON.stringify(reply.errors)).not.toMatch(/Did you mean|"students"/);
  });

  it('applies the limits to every operation of a document and to fragments', async () => {
    const deep = `query Deep {${' ... on Query {'.repeat(12)} __typename ${'}'.repeat(12)} }`;
    const response = await limitsApp.app.yoga.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `query Fine { __typename } ${deep}`, operationName: 'Fine' }),
    });
    refusedBy({ status: response.status, ...((await response.json()) as object) }, /depth limit of 12/);
    const spread = `query { ...F ...F } fragment F on Query { ${Array.from({ length: 8 }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
    refusedBy(await graphql(spread, {}, await token('staff')), /Aliases limit of 15 exceeded, found 16/);
    validates(await graphql('query { ...F } fragment F on Query { ...G } fragment G on Query { __typename }'));
  });
});

describe('request body limit (POST /graphql, 1 MiB)', () => {
  const ONE_MIB = 1024 * 1024;
  /** `bytes` streamed in 64 KiB chunks: sent without a Content-Length (chunked). */
  const chunked = (bytes: Uint8Array) => {
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.byteLength) return controller.close();
        controller.enqueue(bytes.subarray(at, (at += 64 * 1024)));
      },
    });
  };
  /** A JSON body of `bytes` bytes, chunked. */
  const streamed = (bytes: number) => {
    const text = new TextEncoder().encode(JSON.stringify({ query: '{ __typename }', extensions: { pad: 'x'.repeat(bytes - 50) } }));
    expect(text.byteLength).toBe(bytes);
    return chunked(text);
  };
  const TOO_LARGE = { message: 'request body exceeds the limit of 1048576 bytes', extensions: { code: 'PAYLOAD_TOO_LARGE' } };
  const post = (t: TestApp, body: BodyInit, headers: Record<string, string> = {}) =>
    t.app.yoga.fetch('http://test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, duplex: 'half' } as RequestInit);

  it('413 over the limit with or without Content-Length; exactly the limit is answered', async () => {
    const t = app();
    const declared = await post(t, JSON.stringify({ query: '{ __typename }', extensions: { pad: 'x'.repeat(ONE_MIB) } }));
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as GraphQLResponse).errors?.[0]?.message).toMatch(/bytes exceeds the limit of 1048576 bytes/);

    const undeclared = await post(t, streamed(ONE_MIB + 1));
    expect(undeclared.status).toBe(413);
    expect(((await undeclared.json()) as GraphQLResponse).errors?.[0]).toMatchObject(TOO_LARGE);

    // A signed request's body is read before parsing (to check the signature): within the limit too.
    const signed = await post(t, streamed(ONE_MIB + 1), { 'x-signature-256': `sha256=${'0'.repeat(64)}` });
    expect(signed.status).toBe(413);
    expect(((await signed.json()) as GraphQLResponse).errors?.[0]).toMatchObject(TOO_LARGE);

    const atLimit = await post(t, streamed(ONE_MIB));
    expect(atLimit.status).toBe(200);
    expect(await atLimit.json()).toEqual({ data: { __typename: 'Query' } });
  });

  const BOUNDARY = 'campus-graph-limit';
  const FORM = `multipart/form-data; boundary=${BOUNDARY}`;
  /** A multipart GraphQL request (operations + a padding field of `pad` bytes), chunked. */
  const streamedForm = (pad = ONE_MIB) => {
    const part = (name: string, value: string) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    return chunked(new TextEncoder().encode(`${part('operations', JSON.stringify({ query: '{ __typename }' }))}${part('pad', 'x'.repeat(pad))}--${BOUNDARY}--\r\n`));
  };
  it('413 for a chunked multipart body over the limit too (not the form parser\'s 400); one within it is answered', async () => {
    const t = app();
    const reply = await post(t, streamedForm(), { 'content-type': FORM });
    expect(reply.status).toBe(413);
    expect(((await reply.json()) as GraphQLResponse).errors?.[0]).toMatchObject(TOO_LARGE);

    const within = await post(t, streamedForm(64 * 1024), { 'content-type': FORM });
    expect(within.status).toBe(200);
    expect(await within.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('over a real port: chunked JSON and multipart bodies over the limit get 413', async () => {
    const t = app();
    const port = await t.app.start(0, '127.0.0.1');
    // A ReadableStream body goes out chunked (fetch sets no Content-Length for it).
    const send = (body: ReadableStream<Uint8Array>, contentType: string) =>
      fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': contentType }, body, duplex: 'half' } as RequestInit);
    for (const [body, contentType] of [[streamed(ONE_MIB + 1), 'application/json'], [streamedForm(), FORM]] as const) {
      const reply = await send(body, contentType);
      expect(reply.status, contentType).toBe(413);
      expect(((await reply.json()) as GraphQLResponse).errors?.[0], contentType).toMatchObject(TOO_LARGE);
    }
  });
});

describe('introspection', () => {
  const INTROSPECTION = '{ __schema { queryType { name } } __type(name: "Student") { fields { name } } }';

  it('is on by default', async () => {
    const { graphql } = app();
    const reply = await graphql(INTROSPECTION);
    passes(reply);
    expect(reply.data!.__schema.queryType.name).toBe('Query');
    expect(reply.data!.__type.fields.map((f: { name: string }) => f.name)).toContain('finance');
  });

  it('is off with introspection: false (__schema and __type refused; __typename still answered)', async () => {
    const { graphql } = app({ introspection: false });
    for (const query of ['{ __schema { queryType { name } } }', '{ __type(name: "Student") { name } }']) {
      const reply = await graphql(query);
      expect(reply.data ?? null).toBeNull();
      expect(reply.errors?.[0]?.message).toMatch(/introspection has been disabled/i);
    }
    passes(await graphql('{ __typename }'));
  });

  /**
   * Federation's `_service { sdl }` prints the whole schema: with introspection off it must not
   * hand the schema out anyway (Apollo's own guidance: expose it to the router only).
   */
  it('is off for the federation SDL too when introspection: false', async () => {
    const { graphql } = app({ introspection: false });
    const reply = await graphql('{ _service { sdl } }');
    expect(reply.data?._service?.sdl ?? null, 'the SDL of the whole schema, to an anonymous caller, with introspection off').toBeNull();
    expect(reply.errors?.length).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------

const LIMITS = { perViewer: 0, perIp: 0, webhooksPerTenant: 0, trustProxy: false };

async function post(target: TestApp | string, options: { token?: string; headers?: Record<string, string>; query?: string } = {}): Promise<Response> {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
    body: JSON.stringify({ query: options.query ?? '{ __typename }' }),
  };
  return typeof target === 'string' ? fetch(`${target}/graphql`, init) : await target.app.yoga.fetch('http://test/graphql', init);
}

async function expectRateLimited(response: Response) {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  // GraphQL replies carry {errors: [{code RATE_LIMITED}]}, webhook replies {error} like their other errors.
  const body = (await response.json()) as { errors?: { message: string; extensions: { code: string } }[]; error?: string };
  if (body.errors) {
    expect(body.errors[0]!.extensions.code).toBe('RATE_LIMITED');
    expect(body.errors[0]!.message).toMatch(/retry in \d+ s/);
  } else {
    expect(body.error).toMatch(/rate limit .* retry in \d+ s/);
  }
}

async function untilRedisReady(instance: TestApp) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const health = (await (await instance.app.yoga.fetch('http://test/health')).json()) as { cache?: string };
    if (health.cache === 'ok') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('Redis did not become ready');
}

async function statuses(count: number, send: () => Promise<Response>): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push((await send()).status);
  return result;
}

describe('rate limits', () => {
  it('per viewer: the 6th request of a viewer in a minute is a 429 with Retry-After; other viewers are unaffected', async () => {
    const limited = app({ rateLimits: { ...LIMITS, perViewer: 5 } });
    const staff = await limited.token('staff');
    expect(await statuses(5, () => post(limited, { token: staff }))).toEqual([200, 200, 200, 200, 200]);
    await expectRateLimited(await post(limited, { token: staff }));
    // Another subject, and the same subject in another tenant, have budgets of their own.
    expect((await post(limited, { token: await limited.token('admin') })).status).toBe(200);
    expect((await post(limited, { token: await limited.token('staff', { tenant: 'northfield' }) })).status).toBe(200);
    // Anonymous callers have no viewer budget (the per-IP limit is theirs); liveness is never limited.
    expect(await statuses(8, () => post(limited))).toEqual(Array(8).fill(200));
    expect((await limited.app.yoga.fetch('http://test/health/live')).status).toBe(200);
  });

  it('per IP: the 6th request from one address is a 429 whatever the token; X-Forwarded-For counts only behind a trusted proxy', async () => {
    const direct = app({ rateLimits: { ...LIMITS, perIp: 5 } });
    const url = `http://127.0.0.1:${await direct.app.start(0, '127.0.0.1')}`;
    const tokens = await Promise.all((['staff', 'admin', 'integration'] as Role[]).map((role) => direct.token(role)));
    // A rotating X-Forwarded-For (and token) must not buy a fresh budget when the proxy is not trusted.
    let sent = 0;
    const rotating = () => {
      sent++;
      return post(url, { token: tokens[sent % 3]!, headers: { 'x-forwarded-for': `10.0.0.${sent}` } });
    };
    expect(await statuses(5, rotating)).toEqual(Array(5).fill(200));
    await expectRateLimited(await post(url, { headers: { 'x-forwarded-for': '10.9.9.9' } }));
    await expectRateLimited(await post(url, { token: tokens[1] }));

    const proxied = app({ rateLimits: { ...LIMITS, perIp: 5, trustProxy: true } });
    const proxiedUrl = `http://127.0.0.1:${await proxied.app.start(0, '127.0.0.1')}`;
    const as = (client: string) => () => post(proxiedUrl, { headers: { 'x-forwarded-for': `${client}, 127.0.0.1` } });
    expect(await statuses(5, as('203.0.113.1'))).toEqual(Array(5).fill(200));
    await expectRateLimited(await as('203.0.113.1')());
    expect((await as('203.0.113.2')()).status).toBe(200);

    // One trusted hop (the proxy at 127.0.0.1 appends what it saw): what the client itself wrote
    // in X-Forwarded-For buys nothing, on /graphql and on /webhooks alike.
    const oneHop = app({ rateLimits: { ...LIMITS, perIp: 3, trustProxy: 1 } });
    const oneHopUrl = `http://127.0.0.1:${await oneHop.app.start(0, '127.0.0.1')}`;
    let forged = 0;
    const forging = () => post(oneHopUrl, { headers: { 'x-forwarded-for': `10.0.0.${++forged}, 203.0.113.5` } });
    expect(await statuses(3, forging)).toEqual(Array(3).fill(200));
    await expectRateLimited(await forging());
    expect((await post(oneHopUrl, { headers: { 'x-forwarded-for': '203.0.113.5, 203.0.113.6' } })).status).toBe(200);
    const unsigned = () => fetch(`${oneHopUrl}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.0.1.${++forged}, 203.0.113.5` }, body: '{}' });
    expect(await statuses(3, unsigned)).toEqual(Array(3).fill(401));
    expect((await unsigned()).status).toBe(429);
    // The address the proxy saw is the key: another one has its own budget.
    const other = await fetch(`${oneHopUrl}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.5, 203.0.113.77' }, body: '{}' });
    expect(other.status).toBe(401);
  });

  it('per IP on /webhooks over a real port: only requests failing authentication spend the address\'s budget; once spent, it is refused before its body is read', async () => {
    const limited = app({ rateLimits: { ...LIMITS, perIp: 3 } });
    const url = `http://127.0.0.1:${await limited.app.start(0, '127.0.0.1')}`;
    const before = await tableChecksum(database.db);
    // Signed, but not an event (422, nothing stored): a genuine sender, as many as it likes.
    const body = JSON.stringify({ event: 'user_created', data: 'not an object' });
    const genuine = () => fetch(`${url}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature-256': signBody(body, TEST_TENANTS[0].webhookSecret) }, body });
    expect(await statuses(6, genuine)).toEqual(Array(6).fill(422));
    const unsigned = () => fetch(`${url}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const stale = () => fetch(`${url}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-timestamp': '1000000000', 'x-signature-256': signBody(`1000000000.${body}`, TEST_TENANTS[0].webhookSecret) }, body });
    expect([...(await statuses(2, unsigned)), ...(await statuses(1, stale))]).toEqual([401, 401, 401]);
    // Spent: the address is refused whatever it sends, signed or not, before the body is read
    // (a body over the limit, not read, closes the connection after the reply).
    const refused = await fetch(`${url}/webhooks/moodle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(1536 * 1024) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('connection')).toBe('close');
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(((await refused.json()) as { error: string }).error).toMatch(/rate limit of unauthenticated webhooks from 127\.0\.0\.1 reached; retry in \d+ s/);
    expect((await genuine()).status).toBe(429);
    // A separate budget from /graphql's.
    expect((await post(url)).status).toBe(200);
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it('per tenant on /webhooks: the 6th webhook of a tenant in a minute is a 429 with Retry-After; the other tenant is unaffected', async () => {
    const limited = app({ rateLimits: { ...LIMITS, webhooksPerTenant: 5 } });
    const before = await tableChecksum(database.db);
    // Signed, but not an event: answered 422, nothing stored; what counts here is the budget.
    const webhook = async (tenant: string) => {
      const body = JSON.stringify({ module: 'BTEC_Students', operation: 'update', data: 'not a record', tenant });
      const secret = TEST_TENANTS.find((t) => t.id === tenant)!.webhookSecret;
      return limited.app.fetch('http://test/webhooks/zoho', { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': tenant, 'x-signature-256': signBody(body, secret) }, body });
    };
    expect(await statuses(5, () => webhook('default'))).toEqual(Array(5).fill(422));
    await expectRateLimited(await webhook('default'));
    expect((await webhook('northfield')).status).toBe(422);
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  /**
   * The tenant budget is keyed by the X-Tenant-Id header and spent before the signature is
   * checked: anyone can exhaust a tenant's webhook budget with unsigned junk and so lock its
   * real sender (Zoho/Moodle) out. Requests that fail authentication must not spend it.
   */
  it('does not let unsigned requests spend a tenant\'s webhook budget', async () => {
    const limited = app({ rateLimits: { ...LIMITS, webhooksPerTenant: 5 } });
    const junk = async () => limited.app.fetch('http://test/webhooks/moodle', { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'default' }, body: '{}' });
    const junkStatuses = await statuses(10, junk);
    expect(junkStatuses.slice(0, 5)).toEqual(Array(5).fill(401));
    const body = JSON.stringify({ event: 'user_created', data: 'not an object' });
    const genuine = await limited.app.fetch('http://test/webhooks/moodle', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': 'default', 'x-signature-256': signBody(body, TEST_TENANTS[0].webhookSecret) },
      body,
    });
    expect(genuine.status, 'the genuine, signed sender after 10 unsigned requests').toBe(422);
  });

  it('shares the limits between instances through Redis (same namespace), and only within it', async () => {
    await requireRedis();
    const namespace = uniqueNamespace();
    const options = { redisUrl: REDIS_URL, redisNamespace: namespace, rateLimits: { ...LIMITS, perViewer: 5 } };
    const a = app(options);
    const b = app(options);
    const elsewhere = app({ ...options, redisNamespace: uniqueNamespace() });
    // Until its Redis connection is ready an instance counts in memory (the insurance limiter).
    for (const instance of [a, b, elsewhere]) await untilRedisReady(instance);
    const staff = await a.token('staff');
    const sent: number[] = [];
    for (const target of [a, b, a, b, a]) sent.push((await post(target, { token: staff })).status);
    expect(sent).toEqual(Array(5).fill(200));
    await expectRateLimited(await post(b, { token: staff }));
    await expectRateLimited(await post(a, { token: staff }));
    expect((await post(elsewhere, { token: staff })).status).toBe(200);
  });
});
