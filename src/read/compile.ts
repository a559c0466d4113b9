import { Kind, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { STUDENT_TREE, type NestedSql } from './student-tree.js';

/** The root fields compiled reads answer, and the type of what each returns. */
const ROOT_TYPES: Record<string, string> = { student: 'Student', me: 'Student', students: 'StudentConnection' };

/**
 * A query operation whose root is one of ROOT_TYPES (plus any `__typename`), compiled to SQL.
 * Objects are `row_to_json` of a derived table whose columns are named by response key (compact
 * JSON, key order kept); lists are `json_agg` over an ordered derived table.
 */
export interface CompiledRead {
  operation: OperationDefinitionNode;
  /** The root field (`student`, `me` or `students`). */
  field: FieldNode;
  /** The select list of the `data` object (`… as "key", …`): over the student row `s`, or the CTE `page` for `students`. */
  dataColumns: string;
}

/**
 * Compiles `document`'s operation (by name, or its only one) when it is a query whose selections
 * are exactly one root field of ROOT_TYPES and `__typename`s, with no directives anywhere, and
 * every field below it is in STUDENT_TREE. Otherwise null: the query is executed by graphql-js
 * and the Pothos resolvers, which also produce every error message.
 */
export function compileStudentRead(document: DocumentNode, operationName: string | null | undefined): CompiledRead | null {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation || operation.operation !== 'query' || operation.directives?.length) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  const compiler = new SelectionCompiler(fragments);
  const root = compiler.collect('Query', [operation.selectionSet]);
  if (!root) return null;
  let field: FieldNode | undefined;
  const columns: string[] = [];
  for (const [key, nodes] of root) {
    const name = nodes[0]!.name.value;
    if (name === '__typename') {
      columns.push(`'Query'::text as "${key}"`);
      continue;
    }
    const type = Object.hasOwn(ROOT_TYPES, name) ? ROOT_TYPES[name]! : null;
    if (!type || field || nodes.length > 1) return null;
    field = nodes[0]!;
    const value = compiler.object(type, nodes, 's');
    if (!value) return null;
    columns.push(`${value} as "${key}"`);
  }
  return field ? { operation, field, dataColumns: columns.join(', ') } : null;
}

class SelectionCompiler {
  private aliases = 0;
  constructor(private readonly fragments: Map<string, FragmentDefinitionNode>) {}

  /**
   * The fields of `selectionSets` on `typeName` by response key, fragments inlined, in
   * document order (graphql-js CollectFields). Null on a directive or a fragment on another type.
   */
  collect(typeName: string, selectionSets: readonly SelectionSetNode[]): Map<string, FieldNode[]> | null {
    const fields = new Map<string, FieldNode[]>();
    const visit = (set: SelectionSetNode): boolean => {
      for (const selection of set.selections) {
        if (selection.directives?.length) return false;
        if (selection.kind === Kind.FIELD) {
          const key = selection.alias?.value ?? selection.name.value;
          const nodes = fields.get(key);
          if (nodes) nodes.push(selection);
          else fields.set(key, [selection]);
          continue;
        }
        const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? this.fragments.get(selection.name.value) : selection;
        if (!fragment || fragment.directives?.length) return false;
        if (fragment.typeCondition && fragment.typeCondition.name.value !== typeName) return false;
        if (!visit(fragment.selectionSet)) return false;
      }
      return true;
    };
    for (const set of selectionSets) if (!visit(set)) return null;
    return fields;
  }

  /** The JSON object of the selection of `nodes` on a `typeName` row aliased `row`. */
  object(typeName: string, nodes: readonly FieldNode[], row: string): string | null {
    const columns = this.columns(typeName, nodes, row);
    if (!columns) return null;
    const o = `o${++this.aliases}`;
    return `(select row_to_json(${o}) from (select ${columns}) ${o})`;
  }

  /** The select list (`expr as "key", …`) of the selection of `nodes` on a `typeName` row aliased `row`. */
  private columns(typeName: string, nodes: readonly FieldNode[], row: string): string | null {
    const sets = nodes.map((n) => n.selectionSet).filter((s): s is SelectionSetNode => s !== undefined);
    const fields = this.collect(typeName, sets);
    const tree = Object.hasOwn(STUDENT_TREE, typeName) ? STUDENT_TREE[typeName] : undefined;
    if (!fields || !tree || fields.size === 0) return null;
    const columns: string[] = [];
    for (const [key, fieldNodes] of fields) {
      const name = fieldNodes[0]!.name.value;
      if (fieldNodes.some((n) => n.arguments?.length)) return null;
      const spec = name !== '__typename' && Object.hasOwn(tree, name) ? tree[name] : undefined;
      let value: string | null;
      if (name === '__typename') value = `'${typeName}'::text`;
      else if (!spec) return null;
      else if (spec.kind === 'leaf') value = spec.sql(row);
      else if (spec.kind === 'variant') value = this.object(spec.type, fieldNodes, row);
      else value = this.nested(spec, fieldNodes, row);
      if (value === null) return null;
      columns.push(`${value} as "${key}"`);
    }
    return columns.join(', ');
  }

  private nested(spec: NestedSql, nodes: readonly FieldNode[], row: string): string | null {
    const t = `t${++this.aliases}`;
    const columns = this.columns(spec.type, nodes, t);
    if (!columns) return null;
    const o = `o${this.aliases}`;
    const rows = `(select ${columns} from ${spec.from(row, t)}) ${o}`;
    return spec.kind === 'many' ? `(select coalesce(json_agg(${o}), '[]'::json) from ${rows})` : `(select row_to_json(${o}) from ${rows})`;
  }
}
