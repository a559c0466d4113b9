import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { Kind, type DocumentNode } from 'graphql';
import type { Context } from '../context.js';

const MAX_VARIABLE_DEPTH = 32;

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  for (const child of Object.values(value as Record<string, unknown>)) {
    deepest = Math.max(deepest, depthOf(child, limit, depth + 1));
    if (deepest > limit) break;
  }
  return deepest;
}

function badInput(message: string) {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

/**
 * Requests Postgres or the resolvers cannot take are refused up front with a clear 400:
 * NUL characters anywhere (Postgres text cannot hold them) and variables nested deeper than 32.
 */
export function paramsGuard(): Plugin {
  return {
    // graphql-yoga 5 JSON.parses GET `variables`/`extensions` unguarded: malformed ones were a 500.
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'GET' || !url.pathname.startsWith('/graphql')) return;
      for (const name of ['variables', 'extensions']) {
        const value = url.searchParams.get(name);
        if (value === null) continue;
        try {
          JSON.parse(value);
        } catch {
          endResponse(
            fetchAPI.Response.json({ errors: [{ message: `the "${name}" parameter is not valid JSON`, extensions: { code: 'BAD_USER_INPUT' } }] }, { status: 400 }),
          );
          return;
        }
      }
    },
    onParams({ params }) {
      if (typeof params.query === 'string' && params.query.includes('\u0000')) throw badInput('the query contains a NUL character');
      if (params.variables) {
        if (depthOf(params.variables, MAX_VARIABLE_DEPTH) > MAX_VARIABLE_DEPTH) throw badInput(`variables nest deeper than ${MAX_VARIABLE_DEPTH} levels`);
        if (JSON.stringify(params.variables).includes('\\u0000')) throw badInput('a variable contains a NUL character');
      }
    },
  };
}

function asksForService(document: DocumentNode): boolean {
  return document.definitions.some(
    (d) => d.kind === Kind.OPERATION_DEFINITION && d.selectionSet.selections.some((s) => s.kind === Kind.FIELD && s.name.value === '_service'),
  );
}

/** With introspection off, federation's `_service { sdl }` (the whole schema) needs a signed-in viewer too. */
export function guardServiceSdl(): Plugin<Context> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (args.contextValue.viewer || !asksForService(args.document)) return;
      setResultAndStopExecution({
        errors: [createGraphQLError('Authentication required for _service', { extensions: { code: 'UNAUTHENTICATED' } })],
      });
    },
  };
}
