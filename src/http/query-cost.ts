import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import type { GraphQLSchema } from 'graphql';

/**
 * Query cost with the variables in view (graphql-armor's cost limit reads `first` only from
 * literals, so `first: $n` cost 100× less than `first: 100`). Each field costs 1; a connection's
 * selection is multiplied by its page size (`first`/`last`, else its default size).
 */
const pageSizeEstimator: ComplexityEstimator = ({ args, childComplexity }) => {
  const size = typeof args.first === 'number' ? args.first : typeof args.last === 'number' ? args.last : null;
  return size === null ? undefined : 1 + childComplexity * Math.max(1, size);
};

export function queryCostLimit(schema: GraphQLSchema, maxCost: number): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      let cost: number;
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
      if (cost > maxCost) {
        setResultAndStopExecution({
          errors: [createGraphQLError(`Query cost ${cost} exceeds the limit of ${maxCost} (page sizes multiply their selections)`, { extensions: { code: 'QUERY_TOO_COSTLY' } })],
        });
      }
    },
  };
}
