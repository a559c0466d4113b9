/**
 * Shared by the security tests: a seeded PRNG, a per-tenant database checksum, and a leak
 * scanner that knows, for a viewer, every value in the database that viewer must never see.
 */
import type { Db } from '../../src/db/client.js';
import { JWT_SECRET, TEST_TENANTS } from '../support/fixtures.js';

// ---------------------------------------------------------------------------------------
// Deterministic randomness

/** sfc32: small, fast, and the same sequence for the same seed on every machine. */
export function createRandom(seed: number) {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162 ^ Math.imul(seed, 0xc2b2ae35);
  let d = 1 ^ seed;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p,
  };
}
export type Random = ReturnType<typeof createRandom>;

// ---------------------------------------------------------------------------------------
// Per-tenant checksum: proves a tenant's rows were not touched

/**
 * md5 per table over the rows of one tenant (LearningOutcome through its grade; the Tenant
 * row itself). Equal before and after means nothing of that tenant was inserted, changed or
 * deleted in between.
 */
export async function tenantChecksum(db: Db, tenantId: string): Promise<Record<string, string>> {
  const tables = await db.$queryRawUnsafe<{ table: string }[]>(
    `SELECT c.relname AS "table" FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenantId' AND NOT a.attisdropped
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  const literal = `'${tenantId.replaceAll("'", "''")}'`;
  const parts = [
    ...tables.map(
      ({ table }) =>
        `SELECT '${table}' AS "table", md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS md5 FROM "${table}" t WHERE t."tenantId" = ${literal}`,
    ),
    `SELECT 'LearningOutcome', md5(coalesce(string_agg(lo::text, '|' ORDER BY lo::text), '')) FROM "LearningOutcome" lo JOIN "Grade" g ON g.id = lo."gradeId" WHERE g."tenantId" = ${literal}`,
    `SELECT 'Tenant', md5(coalesce(string_agg(t::text, '|'), '')) FROM "Tenant" t WHERE t.id = ${literal}`,
  ];
  const rows = await db.$queryRawUnsafe<{ table: string; md5: string }[]>(parts.join('\nUNION ALL\n'));
  return Object.fromEntries(rows.map((r) => [r.table, r.md5]));
}

// ---------------------------------------------------------------------------------------
// Leak scanner

export type Role = 'anonymous' | 'student' | 'staff' | 'admin' | 'integration';

/** Who reads: the role and tenant the gateway should derive from the credentials. */
export interface Scope {
  role: Role;
  tenant: string;
  /** Students: the Moodle user id of the token (their own record, if it exists). */
  moodleUserId?: string | undefined;
}

/** Columns whose values identify a record or a person (what a leak would show). */
const IDENTIFYING: Record<string, readonly string[]> = {
  Student: ['id', 'zohoId', 'moodleUserId', 'studentNumber', 'fullName', 'email', 'phone'],
  Teacher: ['id', 'zohoId', 'moodleUserId', 'fullName', 'email', 'name'],
  Program: ['id', 'zohoId', 'name'],
  Unit: ['id', 'zohoId', 'name'],
  Class: ['id', 'zohoId', 'moodleCourseId', 'name', 'code'],
  Enrollment: ['id', 'zohoId', 'moodleEnrollmentId', 'name'],
  Registration: ['id', 'zohoId', 'name'],
  Payment: ['id', 'zohoId', 'name', 'reference'],
  StudentRequest: ['id', 'zohoId', 'name', 'subject'],
  Grade: ['id', 'zohoId', 'compositeKey', 'moodleGradeId'],
  SyncEvent: ['id', 'idempotencyKey', 'recordId', 'entityId', 'studentId'],
  ParkedEvent: ['id', 'syncEventId'],
};
const CATALOG = new Set(['Teacher', 'Program', 'Unit', 'Class']);
const PERSONAL = new Set(['Enrollment', 'Registration', 'Payment', 'StudentRequest', 'Grade']);
const SYNC_LOG = new Set(['SyncEvent', 'ParkedEvent']);

interface RowValues {
  table: string;
  tenantId: string;
  /** Student rows: the student; personal rows: their student; else null. */
  studentId: string | null;
  /** The API hides it (tombstoned row, or a row of a tombstoned student or grade). */
  hidden: boolean;
  /** [column, value] of the identifying columns that hold a value. */
  values: [string, string][];
}

/** Secrets no response may ever contain, whoever asks. */
const SECRETS = [JWT_SECRET, ...TEST_TENANTS.map((t) => t.webhookSecret)];

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const LONG_DIGITS = /\d{10,}/g;
const EMAIL = /[^\s"'<>(),;:]+@[^\s"'<>(),;:]+\.[a-z]{2,}/gi;

export interface Leak {
  path: string;
  value: string;
}

/** A snapshot of the identifying values of every row; `scannerFor` derives what a viewer must not see. */
export class DataMap {
  private readonly scanners = new Map<string, LeakScanner>();

  private constructor(
    private readonly rows: RowValues[],
    private readonly liveStudents: Map<string, { tenantId: string; moodleUserId: string | null }>,
  ) {}

  static async load(db: Db): Promise<DataMap> {
    type Row = Record<string, unknown> & { id: string; tenantId: string; studentId?: string; deletedAt?: Date | null; gradeId?: string };
    const read = (table: string, extra: string[]) =>
      db.$queryRawUnsafe<Row[]>(`SELECT ${[...new Set([...IDENTIFYING[table]!, 'tenantId', ...extra])].map((c) => `"${c}"`).join(', ')} FROM "${table}"`);
    const personal = ['studentId', 'deletedAt'];
    const [students, grades, outcomes, ...others] = await Promise.all([
      read('Student', ['deletedAt']),
      read('Grade', personal),
      db.$queryRawUnsafe<{ id: string; gradeId: string }[]>('SELECT "id", "gradeId" FROM "LearningOutcome"'),
      ...['Teacher', 'Program', 'Unit', 'Class', 'SyncEvent', 'ParkedEvent'].map(async (table) => [table, await read(table, [])] as const),
      ...['Enrollment', 'Registration', 'Payment', 'StudentRequest'].map(async (table) => [table, await read(table, personal)] as const),
    ]);
    const live = new Map<string, { tenantId: string; moodleUserId: string | null }>();
    for (const s of students) if (!s.deletedAt) live.set(s.id, { tenantId: s.tenantId, moodleUserId: (s.moodleUserId as string | null) ?? null });
    const rows: RowValues[] = [];
    const push = (table: string, row: Row, studentId: string | null, hidden: boolean) => {
      const values = IDENTIFYING[table]!.flatMap((c): [string, string][] => {
        const v = row[c];
        return typeof v === 'string' && v.length >= 4 ? [[c, v]] : [];
      });
      rows.push({ table, tenantId: row.tenantId, studentId, hidden, values });
    };
    const hidden = (row: Row) => Boolean(row.deletedAt) || !live.has(row.studentId!);
    for (const s of students) push('Student', s, s.id, Boolean(s.deletedAt));
    for (const g of grades) push('Grade', g, g.studentId!, hidden(g));
    for (const [table, list] of others as (readonly [string, Row[]])[]) {
      for (const row of list) push(table, row, PERSONAL.has(table) ? row.studentId! : null, PERSONAL.has(table) && hidden(row));
    }
    const gradeOf = new Map(grades.map((g) => [g.id, g]));
    for (const lo of outcomes) {
      const grade = gradeOf.get(lo.gradeId)!;
      rows.push({ table: 'LearningOutcome', tenantId: grade.tenantId, studentId: grade.studentId!, hidden: hidden(grade), values: [['id', lo.id]] });
    }
    return new DataMap(rows, live);
  }

  /** The live student a student token stands for (null: no such record in its tenant). */
  ownStudentId(scope: Scope): string | null {
    if (scope.role !== 'student') return null;
    for (const [id, s] of this.liveStudents) if (s.tenantId === scope.tenant && s.moodleUserId === scope.moodleUserId) return id;
    return null;
  }

  private visible(scope: Scope, row: RowValues, own: string | null): boolean {
    if (row.tenantId !== scope.tenant || row.hidden) return false;
    switch (scope.role) {
      case 'anonymous':
        return false;
      case 'integration':
        // Ingest replies name what was written in the token's tenant (entity ids, references).
        return true;
      case 'student':
        if (CATALOG.has(row.table)) return true;
        if (SYNC_LOG.has(row.table)) return false;
        return row.studentId !== null && row.studentId === own;
      case 'staff':
        return !SYNC_LOG.has(row.table);
      case 'admin':
        return true;
    }
  }

  /**
   * A scanner for one viewer: every identifying value of a row the viewer may not see (other
   * tenant, other student, tombstoned rows, the sync log for non-admins), minus values that
   * also belong to a row it may see (the seeds share names and Zoho ids across tenants).
   * `echo`: values the viewer sent itself (a reply may repeat them).
   */
  scannerFor(scope: Scope, echo: readonly string[] = []): LeakScanner {
    const key = `${scope.role}|${scope.tenant}|${scope.moodleUserId ?? ''}`;
    let base = this.scanners.get(key);
    if (!base) {
      const own = this.ownStudentId(scope);
      const allowed = new Set<string>();
      for (const row of this.rows) if (this.visible(scope, row, own)) for (const [, v] of row.values) allowed.add(v.toLowerCase());
      const forbidden = new Set<string>();
      const names: string[] = [];
      for (const row of this.rows) {
        if (this.visible(scope, row, own)) continue;
        for (const [column, v] of row.values) {
          if (allowed.has(v.toLowerCase())) continue;
          forbidden.add(v.toLowerCase());
          // Person names are matched inside longer text too (error messages, the SDL…).
          if (column === 'fullName' && v.includes(' ')) names.push(v);
        }
      }
      base = new LeakScanner(forbidden, names);
      this.scanners.set(key, base);
    }
    return echo.length ? base.except(echo) : base;
  }
}

export class LeakScanner {
  private readonly names: RegExp | null;

  constructor(
    private readonly forbidden: Set<string>,
    names: string[] | RegExp | null,
    private readonly echoed: ReadonlySet<string> = new Set(),
  ) {
    if (names === null || names instanceof RegExp) {
      this.names = names;
      return;
    }
    const escaped = [...new Set(names)].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.names = escaped.length ? new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join('|')})(?![\\p{L}\\p{N}])`, 'iu') : null;
  }

  /** The same scanner, but values the viewer sent itself (a reply may repeat them) are not leaks. */
  except(echo: readonly string[]): LeakScanner {
    return new LeakScanner(this.forbidden, this.names, new Set(echo.map((v) => v.toLowerCase())));
  }

  /** Every forbidden value found in a JSON value: whole string leaves, and ids, emails and names inside text. */
  scan(value: unknown): Leak[] {
    const leaks: Leak[] = [];
    const visit = (node: unknown, path: string) => {
      if (typeof node === 'string') {
        const found = new Set<string>();
        if (this.forbidden.has(node.toLowerCase())) found.add(node);
        for (const pattern of [UUID, LONG_DIGITS, EMAIL]) {
          for (const match of node.matchAll(pattern)) if (this.forbidden.has(match[0].toLowerCase())) found.add(match[0]);
        }
        const name = this.names?.exec(node);
        if (name) found.add(name[0]);
        for (const secret of SECRETS) if (node.includes(secret)) found.add(secret);
        for (const v of found) if (!this.echoed.has(v.toLowerCase())) leaks.push({ path, value: v });
      } else if (Array.isArray(node)) {
        node.forEach((child, i) => visit(child, `${path}[${i}]`));
      } else if (node && typeof node === 'object') {
        for (const [key, child] of Object.entries(node)) visit(child, path ? `${path}.${key}` : key);
      }
    };
    visit(value, '');
    return leaks;
  }
}
