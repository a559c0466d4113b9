import { createGraphQLError } from 'graphql-yoga';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string) => UUID.test(value);

/** The student id in a connection cursor (Pothos' base64 `GPC:S:<uuid>`), or null when it is not one. */
export function cursorId(cursor: string): string | null {
  const decoded = Buffer.from(cursor, 'base64').toString('utf8');
  const id = decoded.startsWith('GPC:S:') ? decoded.slice(6) : '';
  return isUuid(id) ? id : null;
}

/**
 * A forged cursor (any other id) would reach Postgres as a malformed uuid and surface as an
 * internal error: refuse it as the client's (BAD_USER_INPUT) before any query.
 */
export function assertCursors(args: { after?: string | null; before?: string | null }): void {
  for (const name of ['after', 'before'] as const) {
    const cursor = args[name];
    if (cursor != null && cursorId(cursor) === null) {
      throw createGraphQLError(`"${name}" is not a cursor this connection returned`, { extensions: { code: 'BAD_USER_INPUT' } });
    }
  }
}
