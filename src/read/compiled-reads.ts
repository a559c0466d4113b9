import { getArgumentValues, getVariableValues, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { sqlQuery } from '../db/sql.js';
import { cursorId } from '../schema/cursors.js';
import { STUDENTS_PAGE, studentKeyOf } from '../schema/student.js';
import { compileStudentRead, type CompiledRead } from './compile.js';

/**
 * Compiled student reads: a query for one student (`student(...)` or `me`) or a forward page of
 * `students(...)`, any selection of the Student subtree, is answered by one SQL statement whose result is the response JSON, built by
 * Postgres; the gateway neither materialises rows nor runs a resolver per field. Everything else,
 * and every case with a different outcome than "the visible student's data" (no or unsigned
 * viewer, the wrong role, bad arguments, a student not in the read model and so the Zoho
 * cold-miss path), runs the ordinary graphql-js + Pothos execution, which stays the reference:
 * tests compare the two field by field.
 *
 * Why by hand: the bench's S1 dashboard spent ≈ 9 ms of gateway CPU in Prisma row mapping and
 * graphql execution of ≈ 2,500 fields; no maintained library compiles a Pothos/Prisma schema to
 * SQL (graphql-jit still runs every resolver, PostGraphile owns its whole schema).
 */
export function compiledStudentReads(): Plugin<Context> {
  const plans = new WeakMap<DocumentNode, Map<string, Plan | null>>();
  const planOf = (document: DocumentNode, operationName: string | null | undefined): Plan | null => {
    let byName = plans.get(document);
    if (!byName) plans.set(document, (byName = new Map()));
    const key = operationName ?? '';
    let plan = byName.get(key);
    if (plan === undefined) {
      const compiled = compileStudentRead(document, operationName);
      plan = compiled && new Plan(compiled);
      byName.set(key, plan);
    }
    return plan;
  };
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn(async (args: ExecutionArgs) => {
        const plan = planOf(args.document, args.operationName);
        return (plan && (await plan.run(args))) ?? executeFn(args);
      });
    },
  };
}

/** Search terms with LIKE wildcards or escapes take the resolver path (Prisma decides their meaning). */
const LIKE_SPECIAL = /[%_\\]/;

/** One way a request reads: the SQL conditions (over `s`) beyond tenant and tombstone, and their values. */
interface Lookup {
  /** Names the statement variant: the same shape gives the same SQL text (prepared once per connection). */
  shape: string;
  where: (next: () => string) => string;
  values: unknown[];
  /** `students`: page size, and whether an `after` cursor was given. */
  page?: { size: number; afterGiven: boolean };
}

class Plan {
  /** SQL text by lookup shape, built once: the same string hits the prepared-statement cache. */
  private readonly statements = new Map<string, string>();

  constructor(private readonly compiled: CompiledRead) {}

  /** The result, or null when this request must take the ordinary execution. */
  async run(args: ExecutionArgs): Promise<ExecutionResult | null> {
    const ctx = args.contextValue as Context;
    const role = ctx.viewer?.role;
    if (!(role === 'student' || role === 'staff' || role === 'admin')) return null;
    const lookup = this.lookupOf(args, ctx);
    if (!lookup) return null;
    const params: unknown[] = [ctx.tenantId, ...(lookup.page ? [lookup.page.size, lookup.page.afterGiven] : []), ...lookup.values];
    // A student sees only themself (schema/student.ts visibleStudents).
    const self = role === 'student' ? (ctx.viewer!.moodleUserId ?? '\u0000') : null;
    if (self !== null) params.push(self);
    const rows = await sqlQuery<{ data: string }>(this.statement(lookup, self !== null), params);
    return rows[0] ? preSerializedData(rows[0].data) : null;
  }

  private lookupOf(args: ExecutionArgs, ctx: Context): Lookup | null {
    const name = this.compiled.field.name.value;
    if (name === 'me') {
      const own = ctx.viewer?.role === 'student' ? ctx.viewer.moodleUserId : undefined;
      return own ? { shape: 'me', where: (p) => `s."moodleUserId" = ${p()}::text`, values: [own] } : null;
    }
    const values = argumentsOf(args.schema, this.compiled, args.variableValues);
    if (!values) return null;
    return name === 'students' ? pageLookup(values) : keyLookup(values);
  }

  private statement(lookup: Lookup, self: boolean): string {
    const name = `${lookup.shape}:${self}`;
    let sql = this.statements.get(name);
    if (sql === undefined) {
      let next = lookup.page ? 3 : 1;
      const param = () => `$${++next}`;
      const where = `s."tenantId" = $1::text and s."deletedAt" is null and ${lookup.where(param)}${self ? ` and s."moodleUserId" = ${param()}::text` : ''}`;
      const data = `select row_to_json(d)::text as data from (select ${this.compiled.dataColumns}`;
      sql = lookup.page
        ? `with page_args as (select $3::boolean as after_given), page as (select r.*, row_number() over (order by r."fullName", r.id) as n from (select s.* from "Student" s where ${where} ` +
          `order by s."fullName", s.id${lookup.page.afterGiven ? ' offset 1' : ''} limit $2::int + 1) r) ${data}) d`
        : `${data} from "Student" s where ${where} limit 1) d`;
      this.statements.set(name, sql);
    }
    return sql;
  }
}

/** `student(...)`: the key schema/student.ts looks up by; anything else is the resolvers' to answer. */
function keyLookup(values: Record<string, unknown>): Lookup | null {
  let lookup: ReturnType<typeof studentKeyOf>;
  try {
    lookup = studentKeyOf(values);
  } catch {
    return null;
  }
  if (!lookup) return null;
  const { key, value } = lookup;
  return { shape: key, where: (p) => (key === 'id' ? `s.id = ${p()}::uuid` : `s."${key}" = ${p()}::text`), values: [value] };
}

/**
 * `students(...)` forward pages as schema/student.ts and @pothos/plugin-prisma answer them:
 * search in name, email or student number (case-insensitive, trimmed), status, ordered by name
 * then id; `after` is Prisma's cursor (rows from the cursor row's position on, the first skipped).
 * Backward pages, bad sizes and bad cursors take the resolver path (and its errors).
 */
function pageLookup(values: Record<string, unknown>): Lookup | null {
  const { first, after, before, last, search, status } = values as Record<string, string | number | null | undefined>;
  if (before != null || last != null || (first != null && (typeof first !== 'number' || first < 0))) return null;
  const term = typeof search === 'string' ? search.trim() : '';
  if (LIKE_SPECIAL.test(term)) return null;
  const afterId = after != null ? cursorId(String(after)) : null;
  if (after != null && afterId === null) return null;
  const conditions: ((p: () => string) => string)[] = [];
  const bound: unknown[] = [];
  if (status != null) {
    conditions.push((p) => `s.status = ${p()}::"StudentStatus"`);
    bound.push(status);
  }
  if (term) {
    conditions.push((p) => {
      const pattern = p();
      return `(s."fullName" ilike ${pattern} or s.email ilike ${pattern} or s."studentNumber" ilike ${pattern})`;
    });
    bound.push(`%${term}%`);
  }
  if (afterId !== null) {
    conditions.push((p) => `(s."fullName", s.id) >= (select c."fullName", c.id from "Student" c where c.id = ${p()}::uuid)`);
    bound.push(afterId);
  }
  return {
    shape: `page:${status != null}:${term !== ''}:${afterId !== null}`,
    where: (p) => (conditions.length ? conditions.map((c) => c(p)).join(' and ') : 'true'),
    values: bound,
    page: { size: Math.min(first ?? STUDENTS_PAGE.defaultSize, STUDENTS_PAGE.maxSize), afterGiven: afterId !== null },
  };
}

/** The root field's arguments with variables coerced as graphql-js would; null when they do not coerce. */
function argumentsOf(schema: GraphQLSchema, compiled: CompiledRead, variables: ExecutionArgs['variableValues']): Record<string, unknown> | null {
  const definition = schema.getQueryType()?.getFields()[compiled.field.name.value];
  if (!definition) return null;
  const coerced = getVariableValues(schema, compiled.operation.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors) return null;
  try {
    return getArgumentValues(definition, compiled.field, coerced.coerced);
  } catch {
    return null;
  }
}

/**
 * The result of a compiled read: yoga's result processor calls `stringify` and gets the JSON
 * Postgres built, unparsed. A plugin that reads `data` (the response cache collecting entities)
 * gets it parsed on first access; once `data` is replaced, or errors or extensions are added,
 * the result serialises as any other.
 */
export function preSerializedData(json: string): ExecutionResult {
  let text: string | null = json;
  let parsed: unknown;
  const result = {
    get data() {
      if (parsed === undefined) parsed = JSON.parse(json);
      return parsed;
    },
    set data(value: unknown) {
      parsed = value;
      text = null;
    },
    stringify(value: ExecutionResult) {
      return value === result && text !== null && !value.errors && !value.extensions ? `{"data":${text}}` : JSON.stringify(value);
    },
  };
  return result as ExecutionResult;
}
