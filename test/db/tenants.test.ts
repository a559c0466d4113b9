/**
 * The tenant lookup every webhook and signed request makes (src/db/tenants.ts): remembered
 * briefly, one query for the lookups in flight when it is not, never remembering an unknown one.
 */
import { describe, expect, it } from 'vitest';
import { forgetTenantSecrets, tenantSecrets } from '../../src/db/tenants.js';
import { useFreshDatabase } from '../support/database.js';

const database = useFreshDatabase();
const tenantQueries = () => database.statements.filter((sql) => sql.includes('"Tenant"'));

describe('tenantSecrets', () => {
  it('lookups in flight when the tenant is not remembered share one query; the next ones none', async () => {
    forgetTenantSecrets();
    database.statements.length = 0;
    const found = await Promise.all(Array.from({ length: 20 }, () => tenantSecrets(database.db, 'default')));
    expect(new Set(found.map((t) => t?.id))).toEqual(new Set(['default']));
    expect(found.every((t) => t !== null && t === found[0] && typeof t.webhookSecret === 'string')).toBe(true);
    expect(tenantQueries()).toHaveLength(1);
    await tenantSecrets(database.db, 'default');
    expect(tenantQueries()).toHaveLength(1);
  });

  it('an unknown tenant is not remembered: created meanwhile, it is found at once', async () => {
    const id = `tenant-lookup-${Date.now()}`;
    expect(await Promise.all([tenantSecrets(database.db, id), tenantSecrets(database.db, id)])).toEqual([null, null]);
    await database.db.tenant.create({ data: { id, name: 'Lookup test', webhookSecret: 'lookup-secret' } });
    try {
      expect(await tenantSecrets(database.db, id)).toEqual({ id, webhookSecret: 'lookup-secret', zohoChannelToken: null });
    } finally {
      await database.db.tenant.delete({ where: { id } });
      forgetTenantSecrets();
    }
  });
});
