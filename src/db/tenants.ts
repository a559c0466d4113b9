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
}
