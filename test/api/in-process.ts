// The API in this process for the access, OAuth and audit tests: createApp(deps) over the deps
// the API process builds (buildApiDeps: the shared stack's DynamoDB Local, s3rver, SES emulator
// and Temporal dev server) on 127.0.0.1 and a free port, and a tenant of the calling file only,
// seeded as the dev tenant is (its first key has `admin`).
import type { Server } from 'node:http';
import { createApp } from '../../api/app';
import type { ApiDeps } from '../../api/deps';
import { buildApiDeps } from '../../api/server';
import type { Config } from '../../src/config';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { Store } from '../../src/adapters/dynamo/store';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { seedTenant } from '../../src/local/dev-tenant';
import { uid } from '../integration/fixtures';

/** `adjust` may replace a dependency before the app is built (e.g. an audit trail over a table that does not exist). */
export async function serveApp(config: Config, adjust: (deps: ApiDeps) => void = () => {}) {
  const { deps, close } = await buildApiDeps(config);
  adjust(deps);
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as { port: number };
  return {
    deps,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await close();
    },
  };
}

export type ServedApp = Awaited<ReturnType<typeof serveApp>>;

/** A new tenant with one admin key; `senders` are sender domains it owns (unique per call). */
export async function seedOwnTenant(config: Config, name: string, senders: string[] = []) {
  const tenant = { tenantId: `${name}-${uid()}`, apiKey: `${name}-key-${uid()}`, webhookSecret: generateWebhookSecret(), senders };
  const aws = createAwsClients(config);
  try {
    await seedTenant(new Store(aws.doc, config.DYNAMODB_TABLE), tenant, tenant.tenantId);
  } finally {
    destroyAwsClients(aws);
  }
  return tenant;
}
