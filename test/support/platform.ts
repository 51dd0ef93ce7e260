// The whole platform in one process for benchmark scripts: a fresh local stack on free ports,
// the SES event pipeline, a seeded tenant, workers and the API. (Tests use the shared stack of
// the vitest global setup instead.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { startLocalStack } from '../../src/local/stack';
import { startLocalEventsPipeline } from '../../src/local/events-pipeline';
import { seedTenant } from '../../src/local/dev-tenant';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { Store } from '../../src/adapters/dynamo/store';
import { createEngineWorkers } from '../../workers/create-worker';
import { serveApi } from '../../api/server';

export const BENCH_TENANT = { tenantId: 'bench', apiKey: 'bench-key-0123456789abcdef', webhookSecret: 'whsec_YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODk=' };

export async function startPlatform(overrides: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'email-engine-bench-'));
  const base = loadConfig({ ...process.env, LOCAL_STACK_DIR: dir, LOG_LEVEL: 'warn', ...overrides });
  const stack = await startLocalStack(base, { ports: 'random', persistent: false, temporalUi: false, log: () => undefined });
  const events = await startLocalEventsPipeline({ topicArn: base.SNS_TOPIC_ARNS[0]!, sesEndpoint: stack.env.SES_ENDPOINT ?? base.SES_ENDPOINT! });
  const config: Config = loadConfig({ ...process.env, LOCAL_STACK_DIR: dir, LOG_LEVEL: 'warn', ...overrides, ...stack.env, ...events.env, PORT: '0' });
  const aws = createAwsClients(config);
  await seedTenant(new Store(aws.doc, config.DYNAMODB_TABLE), BENCH_TENANT, 'bench');
  destroyAwsClients(aws);
  const workers = await createEngineWorkers(config);
  const running = workers.run();
  const api = await serveApi(config, 0);
  await events.connect(api.url, 200);
  return {
    config,
    apiUrl: api.url,
    events,
    async stop() {
      await events.stop();
      await api.close();
      await workers.shutdown();
      await running;
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
