import type { GraphQLFieldResolver } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.js';
import './scalars.js';
import './finance.js';
import './academics.js';
import './classes.js';
import './requests.js';
import './grades.js';
import './student.js';
import './sync.js';
import './subscriptions.js';

/** Also an Apollo Federation v2 subgraph: `_service { sdl }` and `_entities` (Student by id or moodleUserId). */
export const schema = builder.toSubGraphSchema({
  linkUrl: 'https://specs.apollo.dev/federation/v2.6',
  federationDirectives: ['@key'],
  sortSchema: false,
});

/**
 * @apollo/subgraph's `_entities` throws plain errors (masked as "Unexpected error.") for
 * representations that are not objects or name no known entity: they are refused up front,
 * naming the position, as the client's error (BAD_USER_INPUT).
 */
const entitiesField = schema.getQueryType()?.getFields()._entities;
if (entitiesField?.resolve) {
  const resolveEntities: GraphQLFieldResolver<unknown, unknown> = entitiesField.resolve;
  entitiesField.resolve = (root, args: { representations?: unknown }, context, info) => {
    const representations = Array.isArray(args.representations) ? args.representations : [];
    representations.forEach((representation, index) => {
      const valid =
        representation !== null &&
        typeof representation === 'object' &&
        !Array.isArray(representation) &&
        (representation as { __typename?: unknown }).__typename === 'Student' &&
        ['id', 'moodleUserId'].some((key) => typeof (representation as Record<string, unknown>)[key] === 'string');
      if (!valid) {
        throw createGraphQLError(`representations[${index}]: expected {"__typename": "Student", "id" or "moodleUserId": string}`, {
          extensions: { code: 'BAD_USER_INPUT' },
        });
      }
    });
    return resolveEntities(root, args, context, info);
  };
}
