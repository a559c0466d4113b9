/**
 * A fake Zoho (accounts + CRM v2) on a local port, for tests only. It speaks the shapes of
 * FORMATS.md "Zoho REST API": the OAuth refresh-token endpoint, GET record / records?ids= /
 * search (204 when nothing matches) / list pages (200 per page, info.more_records,
 * If-Modified-Since → 304), 401 AUTHENTICATION_FAILURE for unknown or expired tokens, and
 * failures scripted per call (500, 429 with Retry-After, any error body, delays, resets).
 * It counts every API call by path and the token requests.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ZohoSettings } from '../../src/zoho/client.js';

export type FakeRecord = Record<string, unknown> & { id: string };

export interface FakeCall {
  method: string;
  /** e.g. `/crm/v2/BTEC_Students/search` */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  status: number;
  at: number;
}

export interface ScriptedFailure {
  /** Which requests it applies to: a path prefix, a RegExp on `path?query`, or a predicate (default: every API call). */
  match?: string | RegExp | ((path: string, query: URLSearchParams) => boolean);
  /** Answers with this status (default 500). */
  status?: number;
  /** How many matching requests it applies to (default 1; Infinity until cleared). */
  times?: number;
  /** Sets `Retry-After` (seconds). */
  retryAfterSeconds?: number;
  /** The error body (default: Zoho's error shape for the status). */
  body?: unknown;
  /** Waits this long before answering (or before resetting). */
  delayMs?: number;
  /** Destroys the socket instead of answering (a network error). */
  reset?: boolean;
}

export const CLIENT_ID = '1000.FAKECLIENTID';
export const CLIENT_SECRET = 'fake-client-secret';
export const REFRESH_TOKEN = '1000.fake-refresh-token';

/** Zoho's error body: `{"code","details","message","status":"error"}`. */
export function zohoErrorBody(code: string, message: string, details: Record<string, unknown> = {}) {
  return { code, details, message, status: 'error' };
}

const DEFAULT_ERRORS: Record<number, ReturnType<typeof zohoErrorBody>> = {
  400: zohoErrorBody('INVALID_DATA', 'invalid data'),
  401: zohoErrorBody('AUTHENTICATION_FAILURE', 'Authentication failed'),
  404: zohoErrorBody('INVALID_URL_PATTERN', 'Please check if the URL trying to access is a correct one'),
  429: zohoErrorBody('TOO_MANY_REQUESTS', 'The number of API requests has exceeded the allowed limit'),
  500: zohoErrorBody('INTERNAL_ERROR', 'Internal Server Error'),
  503: zohoErrorBody('SERVICE_UNAVAILABLE', 'Service is temporarily unavailable'),
};

export class FakeZoho {
  readonly records = new Map<string, Map<string, FakeRecord>>();
  readonly calls: FakeCall[] = [];
  tokenRequests = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Lifetime of issued tokens, in seconds (default 3600). */
  tokenTtlSeconds = 3600;
  /** Delay every API answer by this long (to widen concurrency windows). */
  latencyMs = 0;
  private readonly tokens = new Map<string, number>(); // token → expires at
  private failures: (ScriptedFailure & { left: number })[] = [];
  private outage: ScriptedFailure | null = null;
  private tokenSequence = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeZoho> {
    let fake: FakeZoho | undefined;
    const server = createServer((req, res) => void fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeZoho(server, `http://127.0.0.1:${port}`);
    return fake;
  }

  /** `config.zoho` pointing at this server (both the API and accounts URLs). */
  settings(overrides: Partial<ZohoSettings> = {}): ZohoSettings {
    return {
      enabled: true,
      apiUrl: this.url,
      accountsUrl: this.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      refreshToken: REFRESH_TOKEN,
      dailyCredits: 5000,
      ...overrides,
    };
  }

  /** Adds or replaces records of a module. */
  put(module: string, ...records: FakeRecord[]): void {
    let table = this.records.get(module);
    if (!table) this.records.set(module, (table = new Map()));
    for (const record of records) table.set(String(record.id), structuredClone(record));
  }

  remove(module: string, id: string): void {
    this.records.get(module)?.delete(id);
  }

  /** Scripts failures: each matching request consumes one, in the order given. */
  fail(...failures: ScriptedFailure[]): void {
    this.failures.push(...failures.map((f) => ({ ...f, left: f.times ?? 1 })));
  }

  /** Every API call fails like this until up() (token requests still work unless `includeToken`). */
  down(failure: ScriptedFailure = { status: 500 }): void {
    this.outage = failure;
  }

  up(): void {
    this.outage = null;
  }

  clearFailures(): void {
    this.failures = [];
    this.outage = null;
  }

  /** Every token issued so far is rejected from now on (401 AUTHENTICATION_FAILURE). */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** API calls (token requests excluded) whose path starts with / matches `pattern` (all when omitted). */
  count(pattern?: string | RegExp): number {
    return this.callsTo(pattern).length;
  }

  callsTo(pattern?: string | RegExp): FakeCall[] {
    if (pattern === undefined) return [...this.calls];
    return this.calls.filter((c) => (typeof pattern === 'string' ? c.path.startsWith(pattern) : pattern.test(`${c.path}?${c.query}`)));
  }

  /** Forgets the counted calls and token requests (records, tokens and failures stay). */
  resetCounts(): void {
    this.calls.length = 0;
    this.tokenRequests = 0;
    this.maxInFlight = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    const query = url.searchParams;
    // In flight until answered or until the client hangs up (an aborted request is no longer its).
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let settled = false;
    const settle = () => {
      if (!settled) this.inFlight--;
      settled = true;
    };
    res.once('close', settle);
    const call: FakeCall = { method: req.method ?? 'GET', path, query, headers: req.headers, status: 0, at: Date.now() };
    const isToken = path === '/oauth/v2/token';
    if (isToken) this.tokenRequests++;
    else this.calls.push(call);
    try {
      req.resume();
      const failure = this.scriptedFailure(path, query, isToken);
      if (failure?.delayMs) await delay(failure.delayMs);
      else if (this.latencyMs && !isToken) await delay(this.latencyMs);
      if (failure?.reset) {
        call.status = -1;
        req.socket.destroy();
        return;
      }
      if (failure) {
        const status = failure.status ?? 500;
        const headers: Record<string, string> = failure.retryAfterSeconds !== undefined ? { 'Retry-After': String(failure.retryAfterSeconds) } : {};
        call.status = status;
        return send(res, status, failure.body ?? DEFAULT_ERRORS[status] ?? zohoErrorBody(`HTTP_${status}`, 'error'), headers);
      }
      const [status, body] = isToken ? this.token(req, query) : this.api(req, path, query);
      call.status = status;
      send(res, status, body);
    } finally {
      settle();
    }
  }

  private scriptedFailure(path: string, query: URLSearchParams, isToken: boolean): ScriptedFailure | null {
    for (const failure of this.failures) {
      if (failure.left <= 0) continue;
      const matches =
        failure.match === undefined
          ? !isToken
          : typeof failure.match === 'string'
            ? path.startsWith(failure.match)
            : failure.match instanceof RegExp
              ? failure.match.test(`${path}?${query}`)
              : failure.match(path, query);
      if (!matches) continue;
      failure.left--;
      this.failures = this.failures.filter((f) => f.left > 0);
      return failure;
    }
    return this.outage && !isToken ? this.outage : null;
  }

  private token(req: IncomingMessage, query: URLSearchParams): [number, unknown] {
    if (req.method !== 'POST') return [405, { error: 'method not allowed' }];
    if (query.get('grant_type') !== 'refresh_token' || query.get('client_id') !== CLIENT_ID || query.get('client_secret') !== CLIENT_SECRET) {
      return [200, { error: 'invalid_client' }];
    }
    if (query.get('refresh_token') !== REFRESH_TOKEN) return [200, { error: 'invalid_code' }];
    const token = `1000.fake-access-${++this.tokenSequence}`;
    this.tokens.set(token, Date.now() + this.tokenTtlSeconds * 1000);
    return [200, { access_token: token, expires_in: this.tokenTtlSeconds, api_domain: this.url, token_type: 'Bearer' }];
  }

  private api(req: IncomingMessage, path: string, query: URLSearchParams): [number, unknown] {
    const auth = /^Zoho-oauthtoken (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiresAt = auth ? this.tokens.get(auth) : undefined;
    if (!expiresAt || expiresAt <= Date.now()) return [401, DEFAULT_ERRORS[401]];
    const parts = /^\/crm\/v2\/([A-Za-z0-9_]+)(?:\/([A-Za-z0-9_-]+))?$/.exec(path);
    if (!parts || req.method !== 'GET') return [404, DEFAULT_ERRORS[404]];
    const [, module, rest] = parts as unknown as [string, string, string | undefined];
    const table = [...(this.records.get(module)?.values() ?? [])].sort(byId);
    if (rest === 'search') {
      const criteria = query.get('criteria');
      if (!criteria) return [400, zohoErrorBody('REQUIRED_PARAM_MISSING', 'One of the expected parameter is missing', { param: 'criteria' })];
      let predicate: (r: FakeRecord) => boolean;
      try {
        predicate = parseCriteria(criteria);
      } catch (error) {
        return [400, zohoErrorBody('INVALID_QUERY', (error as Error).message, { criteria })];
      }
      return page(table.filter(predicate), query);
    }
    if (rest) {
      const record = this.records.get(module)?.get(rest);
      return record ? [200, { data: [record] }] : [204, null];
    }
    const ids = query.get('ids');
    if (ids) {
      const found = ids.split(',').flatMap((id) => this.records.get(module)?.get(id) ?? []);
      return found.length ? [200, { data: found }] : [204, null];
    }
    const since = req.headers['if-modified-since'];
    if (since) {
      const after = Date.parse(String(since));
      const modified = table.filter((r) => Date.parse(String(r.Modified_Time)) > after);
      return modified.length ? page(modified, query) : [304, null];
    }
    return page(table, query);
  }
}

function page(records: FakeRecord[], query: URLSearchParams): [number, unknown] {
  const perPage = Math.min(200, Number(query.get('per_page') ?? 200));
  const number = Number(query.get('page') ?? 1);
  const slice = records.slice((number - 1) * perPage, number * perPage);
  if (!slice.length) return [204, null];
  return [200, { data: slice, info: { per_page: perPage, count: slice.length, page: number, more_records: number * perPage < records.length } }];
}

function byId(a: FakeRecord, b: FakeRecord): number {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x < y ? -1 : x > y ? 1 : 0;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204 || status === 304 || body === null) {
    res.writeHead(status, headers).end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers }).end(JSON.stringify(body));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Zoho search criteria: `(Field:equals:value)`, `((A:equals:x)and(B:equals:y))`, `or`; values
 * escape `(`, `)`, `,` and `\` with a backslash. A lookup field matches on its id.
 */
export function parseCriteria(text: string): (record: FakeRecord) => boolean {
  let at = 0;
  const expect = (char: string) => {
    if (text[at] !== char) throw new Error(`criteria: expected "${char}" at ${at} in ${text}`);
    at++;
  };
  const expression = (): ((r: FakeRecord) => boolean) => {
    expect('(');
    let result: (r: FakeRecord) => boolean;
    if (text[at] === '(') {
      result = expression();
      while (text.startsWith('and', at) || text.startsWith('or', at)) {
        const and = text.startsWith('and', at);
        at += and ? 3 : 2;
        const left = result;
        const right = expression();
        result = and ? (r) => left(r) && right(r) : (r) => left(r) || right(r);
      }
    } else {
      const end = text.indexOf(':', at);
      const field = text.slice(at, end);
      const opEnd = text.indexOf(':', end + 1);
      const operator = text.slice(end + 1, opEnd);
      at = opEnd + 1;
      let value = '';
      while (at < text.length && text[at] !== ')') {
        if (text[at] === '\\') at++;
        value += text[at++];
      }
      if (operator !== 'equals' && operator !== 'starts_with') throw new Error(`criteria: unsupported operator ${operator}`);
      result = (r) => {
        const raw = r[field];
        const actual = raw && typeof raw === 'object' ? String((raw as { id?: unknown }).id ?? '') : raw === null || raw === undefined ? '' : String(raw);
        return operator === 'equals' ? actual === value : actual.startsWith(value);
      };
    }
    expect(')');
    return result;
  };
  const predicate = expression();
  if (at !== text.length) throw new Error(`criteria: unexpected text at ${at} in ${text}`);
  return predicate;
}

// -------------------------------------------------------------------------------------------
// Realistic records (FORMATS.md field shapes). Ids are 19 digits; times carry the org offset.

/** Zoho writes times with the org's offset (+03:00 here). */
export function zohoTime(at: Date): string {
  return `${new Date(at.getTime() + 3 * 3600_000).toISOString().slice(0, 19)}+03:00`;
}

/** A 19-digit Zoho id: `5725767` + a 2-digit module tag + a 10-digit number. */
export function zohoId(tag: number, n: number): string {
  return `5725767${String(tag).padStart(2, '0')}${String(n).padStart(10, '0')}`;
}

const OWNER = { name: 'Registry Office', id: '5725767000000312001', email: 'registry@college.example' };
const lookup = (name: string, id: string) => ({ name, id });

function stamps(modified: Date) {
  return { Owner: OWNER, Created_Time: zohoTime(new Date(modified.getTime() - 86_400_000)), Modified_Time: zohoTime(modified) };
}

export interface StudentSpec {
  id: string;
  moodleUserId: string;
  number: number;
  firstName?: string;
  lastName?: string;
  modified?: Date;
}

export function studentRecord(spec: StudentSpec): FakeRecord {
  const first = spec.firstName ?? 'Omar';
  const last = spec.lastName ?? `Khalil${spec.number}`;
  return {
    id: spec.id,
    Name: `STU-${String(spec.number).padStart(4, '0')}`,
    Full_Name: `${first} ${last}`,
    First_Name: first,
    Last_Name: last,
    Academic_Email: `${first}.${last}@college.example`.toLowerCase(),
    Phone_Number: `+962 7 9${String(spec.number).padStart(7, '0')}`,
    City: 'Amman',
    Country: 'Jordan',
    Status: 'Active',
    Student_Moodle_ID: spec.moodleUserId,
    ...stamps(spec.modified ?? new Date('2026-02-13T07:30:11Z')),
  };
}

export function programRecord(id: string, code: string, modified = new Date('2026-01-10T08:00:00Z')): FakeRecord {
  return { id, Name: `BTEC Level 5 HND in ${code}`, Program_Code: code, Level: 'Level 5', Duration_Months: '24', Status: 'Active', ...stamps(modified) };
}

export function unitRecord(id: string, code: string, program: FakeRecord, modified = new Date('2026-01-10T08:00:00Z')): FakeRecord {
  return { id, Name: `Unit ${code}`, Unit_Code: code, Credits: 15, Level: 'Level 5', Program: lookup(String(program.Name), program.id), ...stamps(modified) };
}

export function classRecord(id: string, code: string, moodleCourseId: string, unit: FakeRecord, program: FakeRecord, modified = new Date('2026-01-11T08:00:00Z')): FakeRecord {
  return {
    id,
    Name: `${code} — ${String(unit.Name)}`,
    Class_Code: code,
    Moodle_Class_ID: moodleCourseId,
    Unit: lookup(String(unit.Name), unit.id),
    Program: lookup(String(program.Name), program.id),
    Teacher: null,
    Start_Date: '2026-01-12',
    End_Date: '2026-06-30',
    Schedule: 'Mon/Wed 10:00–12:00',
    Status: 'Active',
    ...stamps(modified),
  };
}

export function registrationRecord(id: string, n: number, student: FakeRecord, program: FakeRecord, modified = new Date('2026-02-01T09:00:00Z')): FakeRecord {
  return {
    id,
    Name: `REG-${String(n).padStart(5, '0')}`,
    Student: lookup(String(student.Full_Name), student.id),
    Program: lookup(String(program.Name), program.id),
    Registration_Date: '2026-01-05',
    Start_Date: '2026-01-12',
    End_Date: '2027-12-20',
    Status: 'Active',
    Total_Fees: '6000.00',
    Currency: 'GBP',
    ...stamps(modified),
  };
}

export function paymentRecord(id: string, n: number, student: FakeRecord, registration: FakeRecord, status: 'Paid' | 'Pending' | 'Overdue', modified = new Date('2026-02-02T09:00:00Z')): FakeRecord {
  return {
    id,
    Name: `PAY-${String(n).padStart(5, '0')}`,
    Student: lookup(String(student.Full_Name), student.id),
    Registration: lookup(String(registration.Name), registration.id),
    Amount: '1500.00',
    Currency: 'GBP',
    Due_Date: '2026-03-01',
    Payment_Date: status === 'Paid' ? '2026-02-20' : null,
    Status: status,
    Payment_Method: status === 'Paid' ? 'Bank Transfer' : null,
    Receipt_Number: status === 'Paid' ? `RCPT-${n}` : null,
    ...stamps(modified),
  };
}

export function enrollmentRecord(id: string, n: number, student: FakeRecord, klass: FakeRecord, modified = new Date('2026-02-03T09:00:00Z')): FakeRecord {
  return {
    id,
    Name: `ENR-${String(n).padStart(5, '0')}`,
    Student: lookup(String(student.Full_Name), student.id),
    Class: lookup(String(klass.Name), klass.id),
    Moodle_Course_ID: klass.Moodle_Class_ID,
    Start_Date: '2026-01-12',
    End_Date: '2026-06-30',
    Status: 'Active',
    ...stamps(modified),
  };
}

export function requestRecord(id: string, n: number, student: FakeRecord, modified = new Date('2026-02-04T09:00:00Z')): FakeRecord {
  return {
    id,
    Name: `REQ-${String(n).padStart(5, '0')}`,
    Student: lookup(String(student.Full_Name), student.id),
    Request_Type: 'Transcript',
    Subject: 'Transcript for employer',
    Description: 'Please issue an official transcript.',
    Status: 'In Review',
    Submitted_Date: '2026-02-04T10:00:00+03:00',
    Resolved_Date: null,
    Response: null,
    ...stamps(modified),
  };
}

export function gradeRecord(id: string, n: number, student: FakeRecord, unit: FakeRecord, klass: FakeRecord, modified = new Date('2026-02-05T09:00:00Z')): FakeRecord {
  return {
    id,
    Name: `GRD-${String(n).padStart(5, '0')}`,
    Student: lookup(String(student.Full_Name), student.id),
    Unit: lookup(String(unit.Name), unit.id),
    Class: lookup(String(klass.Name), klass.id),
    Grade: 'Merit',
    Score: '65',
    Moodle_Grade_Composite_Key: `${String(student.Student_Moodle_ID)}_${7000 + n}`,
    Attempt_Number: 1,
    Attempt_Date: '2026-02-05T09:00:00+03:00',
    Grader_Name: 'Rania Saleh',
    Grader_Moodle_ID: '100007',
    IV_Name: null,
    IV_Moodle_ID: null,
    Feedback: 'Good analysis; extend the evaluation for D1.',
    Grade_Status: 'Published',
    Learning_Outcomes_Assessm: [
      { LO_Code: 'A.P1', LO_Title: 'Explain the principles', LO_Definition: null, LO_Score: 'Achieved', LO_Feedback: 'Clear.' },
      { LO_Code: 'A.M1', LO_Title: 'Analyse the principles', LO_Definition: null, LO_Score: 'Achieved', LO_Feedback: null },
    ],
    ...stamps(modified),
  };
}
