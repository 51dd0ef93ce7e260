// The local stack's one tenant: its API key and webhook secret come from DEV_API_KEY and
// DEV_WEBHOOK_SECRET, or are generated once and kept under LOCAL_STACK_DIR. It owns the sender
// domains example.com and the SES mailbox simulator's, verified by the local identity verifier.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../ports';
import type { Table } from '../adapters/dynamo/table';
import { IdentityTable } from '../adapters/dynamo/identities';
import { LocalIdentityVerifier } from '../adapters/identity-verifier';
import { parseIdentity } from '../domain/sender-identity';
import { claimSenderIdentity } from '../identities/sender-identities';
import { generateWebhookSecret, webhookSecretProblem } from '../domain/webhook-signature';

export interface DevTenant {
  tenantId: string;
  apiKey: string;
  webhookSecret: string;
  /** Sender identities (domains or addresses) seeded for the tenant; each domain belongs to one tenant only. */
  senders?: readonly string[];
}

/** What the dev tenant sends from locally: example.com and the SES mailbox simulator's domain. */
export const DEV_TENANT_SENDERS = ['example.com', 'simulator.amazonses.com'] as const;

export function devTenantCredentials(dir: string, tenantId: string, env: { apiKey?: string; webhookSecret?: string }): DevTenant {
  const file = join(dir, 'dev-tenant.json');
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DevTenant>) : {};
  const tenant: DevTenant = {
    tenantId,
    apiKey: env.apiKey ?? saved.apiKey ?? `dev_${randomBytes(24).toString('base64url')}`,
    webhookSecret: env.webhookSecret ?? saved.webhookSecret ?? generateWebhookSecret(),
  };
  checkWebhookSecret(tenant, env.webhookSecret !== undefined ? 'DEV_WEBHOOK_SECRET' : saved.webhookSecret !== undefined ? file : undefined);
  writeFileSync(file, JSON.stringify(tenant, null, 2), { mode: 0o600 });
  return { ...tenant, senders: DEV_TENANT_SENDERS };
}

/** `store` is the catalog Store: its client and table also hold the tenant's sender identities (if it has any). */
export async function seedTenant(
  store: Pick<Catalog, 'putTenant'> & Partial<Pick<Table, 'doc' | 'table'>>,
  tenant: DevTenant,
  name = 'Local development',
): Promise<void> {
  checkWebhookSecret(tenant);
  await store.putTenant(
    { tenant_id: tenant.tenantId, name, webhook_secret: tenant.webhookSecret, created_at: new Date().toISOString() },
    tenant.apiKey,
    // The seeded key is the tenant's administrator: it creates the tenant's other (scoped) keys.
    { name: 'seeded admin key', scopes: ['admin'] },
  );
  const senders = tenant.senders ?? [];
  if (senders.length === 0) return;
  if (!store.doc || !store.table) throw new Error(`tenant ${tenant.tenantId}: senders are seeded through the Store`);
  await seedSenders(new IdentityTable(store.doc, store.table), tenant.tenantId, senders);
}

/** Claims the tenant's senders as the identity API would, verified by the local verifier (local stacks only). */
async function seedSenders(identities: IdentityTable, tenantId: string, senders: readonly string[]): Promise<void> {
  const verifier = new LocalIdentityVerifier();
  for (const sender of senders) {
    const parsed = parseIdentity(sender);
    if (!parsed) throw new Error(`tenant ${tenantId}: ${sender} is not a domain or an address`);
    const claim = await claimSenderIdentity({ identities, verifier }, tenantId, parsed);
    if (claim.outcome === 'taken') throw new Error(`tenant ${tenantId}: the sender domain of ${sender} is held by another tenant`);
  }
}

/**
 * Only Standard Webhooks secrets ("whsec_" + base64) are kept: receivers verify with the
 * official libraries, which would read any other secret differently and reject every webhook.
 */
function checkWebhookSecret(tenant: DevTenant, source?: string): void {
  const problem = webhookSecretProblem(tenant.webhookSecret);
  if (!problem) return;
  const from = source ? ` (from ${source})` : '';
  throw new Error(`tenant ${tenant.tenantId}: the webhook secret${from} ${problem}; remove it to have one generated`);
}
