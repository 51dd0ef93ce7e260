// A platform of its own for the benchmarks and the drills (test/bench, test/drills, and the
// restart drills that test/e2e/infra-restart.e2e.test.ts runs): a fresh local stack on free
// ports (OpenSearch too, unless OPENSEARCH_LOCAL=off), the SES event pipeline, a seeded tenant,
// workers and the API, in this process or, with `processes`, as child processes. The other
// stack tests share the stack of the vitest global setup instead (`useEngine` in harness.ts).
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
import { freePort } from '../../src/local/ports';
import { startProcess, stopProcess } from '../../src/local/processes';
import type { ChildProcess } from 'node:child_process';

export const BENCH_TENANT = {
  tenantId: 'bench',
  apiKey: 'bench-key-0123456789abcdef',
  webhookSecret: 'whsec_YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODlh',
  // The benches and drills send as sender@example.com (harness-http's default) to example.com and the simulator.
  senders: ['example.com', 'simulator.amazonses.com'],
};

/**
 * With `processes`, the worker and the API run as separate processes (so their memory can be
 * measured, or a crash of one seen); otherwise in this one, with the workflow code of
 * `workflowBundlePath` if given (else bundled at start). `echo` receives the processes' output
 * (stderr and, then, stdout). `engineError()` says if the worker (process or in-process run) or
 * the API process ended before `stop()`. `processEnv` adds variables to one process's
 * environment only (the bench's DynamoDB request log, a file per process); `nodeArgs` adds Node
 * flags to one process (the bench's `--cpu-prof`). `stackPids` are the stack's own child
 * processes (DynamoDB Local, OpenSearch) for the bench's CPU figures.
 */
export async function startPlatform(
  overrides: Record<string, string> = {},
  opts: {
    processes?: boolean;
    connectEvents?: boolean;
    echo?: (name: 'worker' | 'api', chunk: Buffer) => void;
    workflowBundlePath?: string;
    processEnv?: Partial<Record<'worker' | 'api', Record<string, string>>>;
    nodeArgs?: Partial<Record<'worker' | 'api', string[]>>;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'email-engine-bench-'));
  const base = loadConfig({ ...process.env, LOCAL_STACK_DIR: dir, LOG_LEVEL: 'warn', ...overrides });
  const stack = await startLocalStack(base, {
    ports: 'random',
    persistent: false,
    temporalUi: false,
    opensearch: true,
    log: () => undefined,
  });
  const events = await startLocalEventsPipeline({
    topicArn: base.SNS_TOPIC_ARNS[0]!,
    sesEndpoint: stack.env.SES_ENDPOINT ?? base.SES_ENDPOINT!,
  });
  const config: Config = loadConfig({
    ...process.env,
    LOCAL_STACK_DIR: dir,
    LOG_LEVEL: 'warn',
    // The drills' and benchmarks' webhook receivers listen on 127.0.0.1.
    CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    ...overrides,
    ...stack.env,
    ...events.env,
    PORT: '0',
  });
  const aws = createAwsClients(config);
  await seedTenant(new Store(aws.doc, config.DYNAMODB_TABLE), BENCH_TENANT, 'bench');
  destroyAwsClients(aws);
  let apiUrl: string;
  let pids: { worker: number; api: number } | undefined;
  let children: { worker: ChildProcess; api: ChildProcess } | undefined;
  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  let engineError: string | undefined;
  const ended = (what: string) => {
    if (!stopping) engineError ??= what;
  };
  if (opts.processes) {
    const port = await freePort();
    const env = {
      ...process.env,
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '')])),
      PORT: String(port),
    };
    const echo = (name: 'worker' | 'api') => (chunk: Buffer) => opts.echo?.(name, chunk);
    const stdout = opts.echo ? 'echo' : 'inherit';
    const worker = await startProcess(
      'worker',
      'workers/main.ts',
      { ...env, ...opts.processEnv?.worker },
      /worker running/,
      echo('worker'),
      stdout,
      opts.nodeArgs?.worker,
    );
    const api = await startProcess(
      'api',
      'api/main.ts',
      { ...env, ...opts.processEnv?.api },
      /api listening/,
      echo('api'),
      stdout,
      opts.nodeArgs?.api,
    );
    stops.push(
      () => stopProcess(api),
      () => stopProcess(worker),
    );
    apiUrl = `http://127.0.0.1:${port}`;
    pids = { worker: worker.pid!, api: api.pid! };
    children = { worker, api };
    for (const [name, child] of Object.entries(children))
      child.once('exit', (code, signal) => ended(`${name} process exited (${signal ?? code})`));
  } else {
    const workers = await createEngineWorkers(config, opts.workflowBundlePath ? { workflowBundlePath: opts.workflowBundlePath } : {});
    const running = workers.run();
    running.then(
      () => ended('worker stopped on its own'),
      (error: Error) => ended(`worker failed: ${error.message}`),
    );
    const api = await serveApi(config, 0);
    stops.push(api.close, async () => {
      await workers.shutdown();
      await running;
    });
    apiUrl = api.url;
  }
  if (opts.connectEvents !== false) await events.connect(apiUrl, 200);
  return {
    config,
    apiUrl,
    pids,
    stackPids: stack.pids,
    children,
    events,
    engineError: () => engineError,
    async stop() {
      stopping = true;
      await events.stop();
      for (const stop of stops) await stop();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
