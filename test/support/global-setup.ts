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
import { ensurePrometheus } from '../../src/local/prometheus';
import { WORKFLOWS_PATH } from '../../workers/create-worker';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../src/tracing/workflow-modules';
import { writeFileSync } from 'node:fs';

// Sender identities: tenant a sends as example.com (the tests' `sender@example.com`) and the
// SES mailbox simulator; tenant b has a domain of its own (a domain belongs to one tenant).
export const TENANTS = {
  a: {
    tenantId: 'tenant-a',
    apiKey: 'test-key-tenant-a-0123456789',
    webhookSecret: 'whsec_dGVzdC1zZWNyZXQtYS0wMTIzNDU2Nzg5',
    senders: ['example.com', 'simulator.amazonses.com'],
  },
  b: {
    tenantId: 'tenant-b',
    apiKey: 'test-key-tenant-b-0123456789',
    webhookSecret: 'whsec_dGVzdC1zZWNyZXQtYi0wMTIzNDU2Nzg5',
    senders: ['tenant-b.example'],
  },
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
  // Prometheus and promtool (Debian's package, apt-installed where missing) for the alert tests,
  // which start a Prometheus of their own.
  const prometheus = await ensurePrometheus((line) => console.error(`[global-setup] ${line}`));
  // The tests' webhook receivers listen on 127.0.0.1: the SSRF guard must let them through
  // (tests of the guard itself turn this off).
  const env: Record<string, string> = {
    ...stack.env,
    LOCAL_STACK_DIR: dir,
    APP_ENV: 'test',
    LOG_LEVEL: 'warn',
    CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
  };
  const config = loadConfig({ ...process.env, ...env });
  const aws = createAwsClients(config);
  const store = new Store(aws.doc, config.DYNAMODB_TABLE);
  for (const tenant of Object.values(TENANTS)) await seedTenant(store, tenant, tenant.tenantId);
  destroyAwsClients(aws);

  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
  });
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, code);
  console.error(
    `[global-setup] stack ready in ${Date.now() - started} ms: ${stack.started.join(', ')}, prometheus ${prometheus.version} (${prometheus.source})`,
  );

  project.provide('stackEnv', env);
  project.provide('workflowBundlePath', workflowBundlePath);
  return async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
