import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Query cost with the variables in view (graphql-armor's cost limit reads `first` only from
 * literals, so `first: $n` cost 100× less than `first: 100`). Each field costs 1; a connection's
 * selection is multiplied by its page size (`first`/`last`, else its default size).
 */
const pageSizeEstimator: ComplexityEstimator = ({ args, childComplexity }) => {
  const size = typeof args.first === 'number' ? args.first : typeof args.last === 'number' ? args.last : null;
  return size === null ? undefined : 1 + childComplexity * Math.max(1, size);
};

/**
 * The variables as far as they can change a cost: page sizes are numbers, @include/@skip take
 * booleans; no estimator reads a string (ids, cursors, enum values), so those are blanked — a
 * dashboard asked for 2,000 different students is one cost computation, not 2,000.
 */
function costKey(operationName: string | null | undefined, variables: unknown): string {
  return `${operationName ?? ''}|${JSON.stringify(variables ?? {}, (_key, value: unknown) => (typeof value === 'string' ? '' : value))}`;
}

export function queryCostLimit(schema: GraphQLSchema, maxCost: number): Plugin {
  // Per parsed document (Yoga's parser cache hands out the same DocumentNode for the same text).
  const costs = new WeakMap<DocumentNode, LRUCache<string, number>>();
  return {
    onExecute({ args, setResultAndStopExecution }) {
      let known = costs.get(args.document);
      if (!known) costs.set(args.document, (known = new LRUCache({ max: 100 })));
      const key = costKey(args.operationName, args.variableValues);
      let cost = known.get(key);
      if (cost === undefined) {
        try {
          cost = getComplexity({
            schema,
            query: args.document,
            operationName: args.operationName ?? undefined,
            variables: (args.variableValues ?? {}) as Record<string, unknown>,
            estimators: [pageSizeEstimator, simpleEstimator({ defaultComplexity: 1 })],
          });
        } catch {
          return; // invalid variables are reported by execution itself
        }
        known.set(key, cost);
      }
      if (cost > maxCost) {
        setResultAndStopExecution({
          errors: [createGraphQLError(`Query cost ${cost} exceeds the limit of ${maxCost} (page sizes multiply their selections)`, { extensions: { code: 'QUERY_TOO_COSTLY' } })],
        });
      }
    },
  };
}
