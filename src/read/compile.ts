import { Kind, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { STUDENT_TREE } from './student-tree.js';

/** json_build_object takes at most 100 arguments: 50 keys. Wider selections take the resolver path. */
const MAX_KEYS = 50;

/**
 * A query operation whose root is one Student field (plus any `__typename`), compiled to the
 * SQL expression of its `data` object over the student row alias `s`. Null when anything in it
 * is outside what compiled reads answer (see compiledReadOf).
 */
export interface CompiledRead {
  operation: OperationDefinitionNode;
  /** The Student root field (`student` or `me`). */
  field: FieldNode;
  /** `json_build_object(...)` of the whole `data` object; the root field's value is the row `s`. */
  dataSql: string;
}

/**
 * Compiles `document`'s operation (by name, or its only one) when it is a query whose selections
 * are exactly one root field of `rootFields` (returning Student) and `__typename`s, with no
 * directives anywhere, and every field below it is in STUDENT_TREE. Otherwise null: the query is
 * executed by graphql-js and the Pothos resolvers, which also produce every error message.
 */
export function compileStudentRead(document: DocumentNode, operationName: string | null | undefined, rootFields: ReadonlySet<string>): CompiledRead | null {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation || operation.operation !== 'query' || operation.directives?.length) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  const compiler = new SelectionCompiler(fragments);
  const root = compiler.collect('Query', [operation.selectionSet]);
  if (!root) return null;
  let field: FieldNode | undefined;
  const pairs: string[] = [];
  for (const [key, nodes] of root) {
    const name = nodes[0]!.name.value;
    if (name === '__typename') {
      pairs.push(`'${key}', 'Query'::text`);
      continue;
    }
    if (!rootFields.has(name) || field || nodes.length > 1) return null;
    field = nodes[0]!;
    const student = compiler.object('Student', nodes, 's');
    if (!student) return null;
    pairs.push(`'${key}', ${student}`);
  }
  if (!field || pairs.length > MAX_KEYS) return null;
  return { operation, field, dataSql: `json_build_object(${pairs.join(', ')})` };
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

  /** `json_build_object(...)` of the selection of `nodes` on a `typeName` row aliased `row`. */
  object(typeName: string, nodes: readonly FieldNode[], row: string): string | null {
    const sets = nodes.map((n) => n.selectionSet).filter((s): s is SelectionSetNode => s !== undefined);
    const fields = this.collect(typeName, sets);
    const tree = STUDENT_TREE[typeName];
    if (!fields || !tree || fields.size === 0 || fields.size > MAX_KEYS) return null;
    const pairs: string[] = [];
    for (const [key, fieldNodes] of fields) {
      const name = fieldNodes[0]!.name.value;
      if (fieldNodes.some((n) => n.arguments?.length)) return null;
      if (name === '__typename') {
        pairs.push(`'${key}', '${typeName}'::text`);
        continue;
      }
      const spec = tree[name];
      if (!spec) return null;
      let value: string | null;
      if (spec.kind === 'leaf') value = spec.sql(row);
      else if (spec.kind === 'variant') value = this.object(spec.type, fieldNodes, row);
      else {
        const target = `t${++this.aliases}`;
        const object = this.object(spec.type, fieldNodes, target);
        value = object && spec.sql(row, target, object);
      }
      if (value === null) return null;
      pairs.push(`'${key}', ${value}`);
    }
    return `json_build_object(${pairs.join(', ')})`;
  }
}
