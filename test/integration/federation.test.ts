import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';
import { useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID } from '../support/fixtures.js';

const database = useFreshDatabase();
const { graphql, token } = createTestApp();

const ENTITIES = /* GraphQL */ `
  query($r: [_Any!]!) { _entities(representations: $r) { ... on Student { id fullName moodleUserId finance { balance } } } }
`;

describe('Apollo Federation v2 subgraph', () => {
  it('publishes an SDL that composes into a supergraph, with Student keyed by id and moodleUserId', async () => {
    const res = await graphql('{ _service { sdl } }', {}, await token('admin'));
    expect(res.errors).toBeUndefined();
    const sdl: string = res.data!._service.sdl;
    expect(sdl).toMatch(/type Student\s+@key\(fields: "id"\)\s+@key\(fields: "moodleUserId"\)/);
    const composed = composeServices([{ name: 'campus', typeDefs: parse(sdl), url: 'http://campus-graph/graphql' }]);
    expect(composed.errors ?? []).toEqual([]);
    expect(composed.supergraphSdl).toContain('type Student');
  });

  it('resolves _entities by both keys with the authorization of student(...)', async () => {
    const lina = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const other = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', deletedAt: null, moodleUserId: { not: DEMO_MOODLE_USER_ID } } });
    const representations = [
      { __typename: 'Student', id: lina.id },
      { __typename: 'Student', moodleUserId: other.moodleUserId },
    ];

    const staff = await graphql(ENTITIES, { r: representations }, await token('staff'));
    expect(staff.errors).toBeUndefined();
    expect(staff.data!._entities.map((e: any) => e?.id)).toEqual([lina.id, other.id]);
    expect(staff.data!._entities[0].finance.balance).toMatch(/^-?\d+\.\d{2}$/);

    const asLina = await graphql(ENTITIES, { r: representations }, await token('student', { moodleUserId: DEMO_MOODLE_USER_ID }));
    expect(asLina.data!._entities.map((e: any) => e?.id ?? null)).toEqual([lina.id, null]);

    // Another tenant never gets the default tenant's students (a moodleUserId may exist there too: its own student).
    const otherTenant = await graphql(ENTITIES, { r: representations }, await token('staff', { tenant: 'northfield' }));
    const defaultIds = new Set((await database.db.student.findMany({ where: { tenantId: 'default' }, select: { id: true } })).map((s) => s.id));
    expect(otherTenant.data!._entities[0]).toBeNull();
    for (const entity of otherTenant.data!._entities) if (entity) expect(defaultIds.has(entity.id)).toBe(false);

    const anonymous = await graphql(ENTITIES, { r: representations });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(anonymous.data ?? null)).not.toContain(lina.fullName);

    const integration = await graphql(ENTITIES, { r: representations }, await token('integration'));
    expect(integration.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
