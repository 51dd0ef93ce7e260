// The local stack's one tenant: its API key and webhook secret come from DEV_API_KEY and
// DEV_WEBHOOK_SECRET, or are generated once and kept under LOCAL_STACK_DIR.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../ports';
import { generateWebhookSecret } from '../domain/webhook-signature';

export interface DevTenant {
  tenantId: string;
  apiKey: string;
  webhookSecret: string;
}

export function devTenantCredentials(dir: string, tenantId: string, env: { apiKey?: string; webhookSecret?: string }): DevTenant {
  const file = join(dir, 'dev-tenant.json');
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DevTenant>) : {};
  const tenant: DevTenant = {
    tenantId,
    apiKey: env.apiKey ?? saved.apiKey ?? `dev_${randomBytes(24).toString('base64url')}`,
    webhookSecret: env.webhookSecret ?? saved.webhookSecret ?? generateWebhookSecret(),
  };
  writeFileSync(file, JSON.stringify(tenant, null, 2), { mode: 0o600 });
  return tenant;
}

export async function seedTenant(store: Pick<Catalog, 'putTenant'>, tenant: DevTenant, name = 'Local development'): Promise<void> {
  await store.putTenant(
    { tenant_id: tenant.tenantId, name, webhook_secret: tenant.webhookSecret, created_at: new Date().toISOString() },
    tenant.apiKey,
  );
}
