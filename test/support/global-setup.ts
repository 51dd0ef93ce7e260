// Starts the real local stack once for the whole run (free ports, throwaway state), bundles
// the workflow code once, and seeds two tenants. Tests read it all through `inject`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config';
import { startLocalStack } from '../../src/local/stack';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { Store } from '../../src/adapters/dynamo/store';
import { seedTenant } from '../../src/local/dev-tenant';
import { WORKFLOWS_PATH } from '../../workers/create-worker';
import { writeFileSync } from 'node:fs';

export const TENANTS = {
  a: { tenantId: 'tenant-a', apiKey: 'test-key-tenant-a-0123456789', webhookSecret: 'whsec_dGVzdC1zZWNyZXQtYS0wMTIzNDU2Nzg5' },
  b: { tenantId: 'tenant-b', apiKey: 'test-key-tenant-b-0123456789', webhookSecret: 'whsec_dGVzdC1zZWNyZXQtYi0wMTIzNDU2Nzg5' },
};

declare module 'vitest' {
  export interface ProvidedContext {
    stackEnv: Record<string, string>;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'email-engine-test-'));
  const started = Date.now();
  console.error('[global-setup] starting the local stack (the first run on a machine builds the Temporal CLI with Go: minutes)');
  const base = loadConfig({
    ...process.env,
    LOCAL_STACK_DIR: dir,
    TEMPORAL_ADDRESS: '',
    DYNAMODB_ENDPOINT: '',
    S3_ENDPOINT: '',
    SES_ENDPOINT: '',
  });
  const stack = await startLocalStack(base, { ports: 'random', persistent: false, temporalUi: false });
  const env: Record<string, string> = { ...stack.env, LOCAL_STACK_DIR: dir, APP_ENV: 'test', LOG_LEVEL: 'warn' };
  const config = loadConfig({ ...process.env, ...env });
  const aws = createAwsClients(config);
  const store = new Store(aws.doc, config.DYNAMODB_TABLE);
  for (const tenant of Object.values(TENANTS)) await seedTenant(store, tenant, tenant.tenantId);
  destroyAwsClients(aws);

  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
  });
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, code);
  console.error(`[global-setup] stack ready in ${Date.now() - started} ms: ${stack.started.join(', ')}`);

  project.provide('stackEnv', env);
  project.provide('workflowBundlePath', workflowBundlePath);
  return async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
