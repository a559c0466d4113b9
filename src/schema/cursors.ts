import { createGraphQLError } from 'graphql-yoga';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Connection cursors are Pothos' base64 `GPC:S:<uuid>`. A forged one (any other id) would
 * reach Postgres as a malformed uuid and surface as an internal error: refuse it as the
 * client's (BAD_USER_INPUT) before any query.
 */
export function assertCursors(args: { after?: string | null; before?: string | null }): void {
  for (const name of ['after', 'before'] as const) {
    const cursor = args[name];
    if (cursor == null) continue;
    const decoded = Buffer.from(cursor, 'base64').toString('utf8');
    const id = decoded.startsWith('GPC:S:') ? decoded.slice(6) : '';
    if (!UUID.test(id)) {
      throw createGraphQLError(`"${name}" is not a cursor this connection returned`, { extensions: { code: 'BAD_USER_INPUT' } });
    }
  }
}
