// Test harness over the real local stack: per-test task queues, in-process workers and API
// on real ports, an HTTP client for the API, a webhook receiver and the SES inbox, and
// `useEngine`, the one setup the stack tests share (workers, API, events, template).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, MIN_SENDING_GRACE_SECONDS, type Config } from '../../src/config';
import { createEngineWorkers } from '../../workers/create-worker';
import { serveApi } from '../../api/server';
import { TENANTS } from './global-setup';
import { apiClient, uploadTemplate, type ApiClient } from './harness-http';

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
    // The production minimum (heartbeat timeout twice plus the SES request timeout), not the
    // 300 s default: a message an interrupted send left SENDING is resent within a test's time.
    SENDING_GRACE_SECONDS: String(MIN_SENDING_GRACE_SECONDS),
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
    /** The worker's metrics endpoint, when the config sets WORKER_METRICS_PORT ('0': a free port). */
    metricsUrl: workers.metricsUrl,
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

export type RunningWorkers = Awaited<ReturnType<typeof startWorkers>>;
export type RunningApi = Awaited<ReturnType<typeof startApi>>;
export type SnsPipeline = Awaited<ReturnType<typeof startSnsPipeline>>;
type Overrides = Record<string, string>;

export interface EngineOptions {
  /** testConfig overrides; as a function, called in beforeAll with the SNS pipeline's env (`{}` without `events`). */
  config?: Overrides | ((eventsEnv: Overrides) => Overrides | Promise<Overrides>);
  /**
   * The local SES → SNS pipeline, its env in the config: 'connect' subscribes the (first) API,
   * so SES events flow on their own; 'signer' only starts it, for tests that sign and post events.
   */
  events?: 'connect' | 'signer';
  /** In-process engine workers on the config's task queues (default 1; 0 where the test runs worker processes). */
  workers?: number;
  /** API servers on the same config (default 1). */
  apis?: number;
  /** The API key of `api` (default tenant a's). */
  apiKey?: string;
  /** Builds every client `api` and `apiFor` hand out (default apiClient). */
  client?: (baseUrl: () => string, apiKey: string | undefined) => ApiClient;
  /** Uploaded through the presigned URL and confirmed by `api` once everything is up: `templateId`. */
  template?: Parameters<typeof uploadTemplate>[1];
  /** A Temporal client on the stack's dev server: `temporal`. */
  temporal?: boolean;
}

/** What `useEngine` sets up; every field but `api` and `apiFor` reads as an error before its beforeAll ran. */
export interface TestEngine {
  readonly config: Config;
  /** The first API's base URL. */
  readonly url: string;
  readonly urls: string[];
  /** A client of the first API with the options' key; may be taken at module level (it finds its URL when called). */
  readonly api: ApiClient;
  /** A client with another key (undefined: none), of API number `server`; may be taken at module level. */
  apiFor(apiKey: string | undefined, server?: number): ApiClient;
  readonly templateId: string;
  readonly pipeline: SnsPipeline;
  readonly temporal: Client;
  readonly workers: RunningWorkers[];
  /** Stops the in-process workers, waits for `whileDown`, starts as many again (stopped after the file as well). */
  restartWorkers(whileDown?: () => Promise<unknown>): Promise<void>;
}

/**
 * The setup the stack tests share, registered as this file's beforeAll/afterAll: the config
 * (own task queues), the SNS pipeline, in-process workers and APIs on real ports, an API client,
 * a confirmed template and a Temporal client, as `opts` asks; all stopped after the file.
 */
export function useEngine(opts: EngineOptions = {}): TestEngine {
  let config: Config | undefined;
  let pipeline: SnsPipeline | undefined;
  let temporal: Client | undefined;
  let templateId: string | undefined;
  const workers: RunningWorkers[] = [];
  const servers: RunningApi[] = [];
  let started = false;
  const ready = <T>(what: string, value: T | undefined): T => {
    if (value === undefined) {
      throw new Error(
        `useEngine: no ${what}${started ? ' (not asked for in its options)' : ' before its beforeAll ran (read it inside a test or a later hook)'}`,
      );
    }
    return value;
  };
  const url = (server: number) => ready(`API number ${server}`, servers[server]).url;
  const client = opts.client ?? apiClient;
  const api = client(() => url(0), opts.apiKey ?? TENANTS.a.apiKey);

  beforeAll(async () => {
    if (opts.events) pipeline = await startSnsPipeline(testConfig());
    const eventsEnv = pipeline?.env ?? {};
    const overrides = typeof opts.config === 'function' ? await opts.config(eventsEnv) : opts.config;
    config = testConfig({ ...eventsEnv, ...overrides });
    for (let i = 0; i < (opts.workers ?? 1); i++) workers.push(await startWorkers(config));
    for (let i = 0; i < (opts.apis ?? 1); i++) servers.push(await startApi(config));
    if (opts.events === 'connect') await pipeline!.connect(url(0), 200);
    if (opts.temporal) temporal = new Client({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS! }) });
    if (opts.template) templateId = await uploadTemplate(api, opts.template);
    started = true;
  });
  afterAll(async () => {
    await pipeline?.stop();
    await temporal?.connection.close();
    for (const server of servers) await server.close();
    for (const worker of workers) await worker.stop();
  });

  return {
    get config() {
      return ready('config', config);
    },
    get url() {
      return url(0);
    },
    get urls() {
      return servers.map((s) => s.url);
    },
    api,
    apiFor: (apiKey, server = 0) => client(() => url(server), apiKey),
    get templateId() {
      return ready('template', templateId);
    },
    get pipeline() {
      return ready('SNS pipeline', pipeline);
    },
    get temporal() {
      return ready('Temporal client', temporal);
    },
    get workers() {
      return workers;
    },
    async restartWorkers(whileDown) {
      const count = workers.length;
      for (const worker of workers.splice(0)) await worker.stop();
      await whileDown?.();
      for (let i = 0; i < count; i++) workers.push(await startWorkers(ready('config', config)));
    },
  };
}
