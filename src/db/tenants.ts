import { LRUCache } from 'lru-cache';
import type { Db } from './client.js';

export interface TenantSettings {
  id: string;
  name?: string;
  webhookSecret: string;
  zohoChannelToken?: string | undefined;
}

/**
 * Makes the tenant row match the environment (the default tenant is configured there, not
 * in the database): created on first start, its secrets updated when the environment changes.
 */
export async function ensureTenant(db: Db, tenant: TenantSettings): Promise<void> {
  await db.tenant.upsert({
    where: { id: tenant.id },
    create: {
      id: tenant.id,
      name: tenant.name ?? tenant.id,
      webhookSecret: tenant.webhookSecret,
      zohoChannelToken: tenant.zohoChannelToken ?? null,
    },
    update: { webhookSecret: tenant.webhookSecret, zohoChannelToken: tenant.zohoChannelToken ?? null },
  });
  forgetTenantSecrets();
}

/** What signature checks need of a tenant. */
export interface TenantSecrets {
  id: string;
  webhookSecret: string;
  zohoChannelToken: string | null;
}

/** A tenant read within this long is reused: a rotated secret takes effect within it. */
export const TENANT_CACHE_MS = 5_000;
const tenants = new LRUCache<string, TenantSecrets, Db>({
  max: 1_000,
  ttl: TENANT_CACHE_MS,
  // lru-cache's fetch: the webhooks in flight when the entry expires share one query.
  fetchMethod: async (id, _stale, { context: db }) =>
    (await db.tenant.findUnique({ where: { id }, select: { id: true, webhookSecret: true, zohoChannelToken: true } })) ?? undefined,
});

/**
 * The tenant's secrets, remembered for TENANT_CACHE_MS (a webhook's tenant lookup was ≈ 0.5 ms
 * of gateway CPU, a fifth of ingesting one event); concurrent lookups of a tenant not remembered
 * share one query; an unknown tenant is never remembered, so a tenant created meanwhile is found
 * at once. Throws when the database cannot be reached.
 */
export async function tenantSecrets(db: Db, id: string): Promise<TenantSecrets | null> {
  return (await tenants.fetch(id, { context: db })) ?? null;
}

/** Forgets what tenantSecrets remembered (after writing a tenant's secrets). */
export function forgetTenantSecrets(): void {
  tenants.clear();
}
