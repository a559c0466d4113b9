import SchemaBuilder from '@pothos/core';
import DirectivePlugin from '@pothos/plugin-directives';
import FederationPlugin from '@pothos/plugin-federation';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { createGraphQLError } from 'graphql-yoga';
import type { Decimal } from '@prisma/client/runtime/client';
import { unauthenticated, type Context } from './context.js';
import { db } from './db/client.js';
import type PrismaTypes from './generated/pothos-types.js';
import { getDatamodel } from './generated/pothos-types.js';

export interface AuthScopes {
  authenticated: boolean;
  student: boolean;
  /** staff and admins */
  staff: boolean;
  admin: boolean;
  integration: boolean;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: AuthScopes;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    Date: { Input: Date; Output: Date };
    Decimal: { Input: string; Output: Decimal | string | number };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  // Federation wraps resolvers last (after auth), as its docs require.
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, DirectivePlugin, FederationPlugin],
  defaultFieldNullability: false,
  prisma: {
    client: () => db,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === 'production' ? null : 'warn',
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
  },
  scopeAuth: {
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, context, _info, result) =>
      context.viewer ? forbidden(result.message) : unauthenticated('Authentication required: send Authorization: Bearer <JWT>'),
    authScopes: (context) => {
      const role = context.viewer?.role;
      return {
        authenticated: role !== undefined,
        student: role === 'student',
        staff: role === 'staff' || role === 'admin',
        admin: role === 'admin',
        integration: role === 'integration',
      };
    },
  },
});

function forbidden(message: string) {
  return createGraphQLError(`Forbidden: ${message}`, { extensions: { code: 'FORBIDDEN' } });
}

builder.queryType({});
builder.mutationType({});
