import { getArgumentValues, getVariableValues, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { db } from '../db/client.js';
import { compileStudentRead, type CompiledRead } from './compile.js';

/**
 * Compiled student reads: a query for one student (`student(...)` or `me`, any selection of the
 * Student subtree) is answered by one SQL statement whose result is the response JSON, built by
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
      const compiled = compileStudentRead(document, operationName, ROOT_FIELDS);
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

const ROOT_FIELDS = new Set(['student', 'me']);
const KEYS = ['id', 'moodleUserId', 'zohoId', 'studentNumber'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class Plan {
  /** SQL text by lookup key and viewer kind, built once: the same string hits the prepared-statement cache. */
  private readonly statements = new Map<string, string>();

  constructor(private readonly compiled: CompiledRead) {}

  /** The result, or null when this request must take the ordinary execution. */
  async run(args: ExecutionArgs): Promise<ExecutionResult | null> {
    const ctx = args.contextValue as Context;
    const role = ctx.viewer?.role;
    const lookup = this.lookupOf(args, ctx);
    if (!lookup || !(role === 'student' || role === 'staff' || role === 'admin')) return null;
    // A student sees only themself (schema/student.ts visibleStudents).
    const self = role === 'student' ? (ctx.viewer!.moodleUserId ?? '\u0000') : null;
    const params: string[] = [ctx.tenantId, lookup.value];
    if (self !== null) params.push(self);
    const rows = await db.$queryRawUnsafe<{ data: string }[]>(this.statement(lookup.key, self !== null), ...params);
    return rows[0] ? preSerializedData(rows[0].data) : null;
  }

  private lookupOf(args: ExecutionArgs, ctx: Context): { key: string; value: string } | null {
    const field = this.compiled.field;
    if (field.name.value === 'me') {
      return ctx.viewer?.role === 'student' && ctx.viewer.moodleUserId ? { key: 'moodleUserId', value: ctx.viewer.moodleUserId } : null;
    }
    const values = argumentsOf(args.schema, this.compiled, args.variableValues);
    if (!values) return null;
    const given = KEYS.filter((k) => values[k] !== null && values[k] !== undefined);
    if (given.length !== 1) return null;
    const key = given[0]!;
    const value = String(values[key]);
    return key === 'id' && !UUID.test(value) ? null : { key, value };
  }

  private statement(key: string, self: boolean): string {
    const name = `${key}:${self}`;
    let sql = this.statements.get(name);
    if (sql === undefined) {
      const match = key === 'id' ? 's.id = $2::uuid' : `s."${key}" = $2::text`;
      sql =
        `select row_to_json(d)::text as data from (select ${this.compiled.dataColumns} from "Student" s ` +
        `where s."tenantId" = $1::text and s."deletedAt" is null and ${match}${self ? ` and s."moodleUserId" = $3::text` : ''} limit 1) d`;
      this.statements.set(name, sql);
    }
    return sql;
  }
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
