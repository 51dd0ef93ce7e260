// Test harness over the real local stack: per-test task queues, in-process workers and API
// on real ports, an HTTP client for the API, a webhook receiver and the SES inbox.
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config';
import { createEngineWorkers } from '../../workers/create-worker';
import { serveApi } from '../../api/server';

export { TENANTS } from './global-setup';
export * from './harness-http';

export function testConfig(overrides: Record<string, string> = {}): Config {
  const suffix = randomUUID().slice(0, 8);
  return loadConfig({
    ...inject('stackEnv'),
    TEMPORAL_TASK_QUEUE: `test-${suffix}`,
    TEMPORAL_SEND_TASK_QUEUE: `test-send-${suffix}`,
    SEND_RATE_PER_SECOND: '2000',
    SEND_CHUNK_SIZE: '50',
    BATCH_SIZE: '250',
    MAX_CONCURRENT_BATCHES: '3',
    PORT: '0',
    ...overrides,
  });
}

export async function startWorkers(config: Config) {
  const workers = await createEngineWorkers(config, {
    workflowBundlePath: inject('workflowBundlePath'),
    maxCachedWorkflows: 0,
  });
  const running = workers.run();
  return {
    running,
    stop: async () => {
      await workers.shutdown();
      await running;
    },
  };
}

export async function startApi(config: Config) {
  return serveApi(config, 0);
}

// Worker logs at WARN so test output stays readable (once per process).
import { DefaultLogger, Runtime } from '@temporalio/worker';
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed by an earlier test file in this process
}

import { startLocalEventsPipeline } from '../../src/local/events-pipeline';

/** The local SES → SNS event pipeline for one test file; its env makes the API trust it. */
export function startSnsPipeline(config: Config) {
  return startLocalEventsPipeline({ topicArn: config.SNS_TOPIC_ARNS[0]!, sesEndpoint: config.SES_ENDPOINT! });
}
