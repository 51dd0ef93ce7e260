// The composition root of a worker process: config → clients → adapters → activities → workers.
// Two workers share one connection: the main queue runs workflows and bookkeeping, the send
// queue runs only SES sends under the server-enforced rate limit.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { batchCompletedSignal, batchSentSignal, transactionWorkflowId } from '../src/contracts';
import { sendChunkSize, type Config } from '../src/config';
import { createAwsClients, destroyAwsClients } from '../src/adapters/aws';
import { createTables, type Tables } from '../src/adapters/dynamo/tables';
import { ObjectStore } from '../src/adapters/s3';
import { checkSendEvents, SesMessenger } from '../src/adapters/ses';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { createLogger, type Logger } from '../src/logging';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { createActivities, type ActivityDeps } from '../activities';
import type { BatchReporter } from '../activities/deps';
import { BUILT_WORKFLOW_BUNDLE_PATH, RUNNING_FROM_BUILD } from './workflows-path';

export { WORKFLOWS_PATH } from './workflows-path';

/** Webpack needs a few hundred MB while it bundles; a child process keeps that out of the worker. */
async function bundleInChildProcess(): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'email-engine-workflows-')), 'workflow-bundle.js');
  await promisify(execFile)(process.execPath, ['--import', 'tsx', join(__dirname, 'bundle-workflows.ts'), out], {
    cwd: join(__dirname, '..'),
  });
  return out;
}

/**
 * The built worker (dist/) runs the bundle `npm run build` made from the same sources; run from
 * source (tsx: `npm start`, `npm run worker`) it bundles the current workflow code at start, so
 * an edit is never shadowed by an old build.
 */
async function workflowBundlePath(): Promise<string> {
  if (!RUNNING_FROM_BUILD) return bundleInChildProcess();
  if (!existsSync(BUILT_WORKFLOW_BUNDLE_PATH)) throw new Error(`${BUILT_WORKFLOW_BUNDLE_PATH} is missing: run \`npm run build\``);
  return BUILT_WORKFLOW_BUNDLE_PATH;
}

export interface EngineWorkers {
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

export function activityDepsFromConfig(config: Config, log: Logger = createLogger({ component: 'worker' }, config.LOG_LEVEL)) {
  const aws = createAwsClients(config);
  const deps: ActivityDeps & Tables = {
    ...createTables(aws.doc, config.DYNAMODB_TABLE),
    objects: new ObjectStore(aws.s3, config.S3_BUCKET),
    messenger: new SesMessenger(aws.ses, config.SES_CONFIGURATION_SET),
    log,
    settings: {
      maxCsvBytes: config.MAX_CSV_BYTES,
      webhookTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
      sendConcurrency: 8,
      publicBaseUrl: config.PUBLIC_BASE_URL!,
      unsubscribeSecret: config.UNSUBSCRIBE_SECRET!,
    },
  };
  return { deps, ses: aws.ses, close: () => destroyAwsClients(aws) };
}

/**
 * Against AWS, a message an attempt left SENDING is settled by its Send event. If the
 * configuration set publishes none (or SES cannot say), say so loudly and never resend such a
 * message before SENDING_GRACE_WITHOUT_SEND_EVENTS_SECONDS. The local stack's event source
 * always publishes them.
 */
async function checkSendEventsAtStart(config: Config, ses: SESv2Client, deps: ActivityDeps): Promise<void> {
  if (config.AWS_ENDPOINT_MODE !== 'aws') return;
  const sendEvents = await checkSendEvents(ses, config.SES_CONFIGURATION_SET);
  if (sendEvents === 'published') return;
  const graceSeconds = Math.max(config.SENDING_GRACE_SECONDS, config.SENDING_GRACE_WITHOUT_SEND_EVENTS_SECONDS);
  deps.settings.minSendingGraceMs = graceSeconds * 1000;
  deps.log.error(
    'SES configuration set publishes no Send events: a message whose send was interrupted waits the longer grace before it is resent',
    {
      configuration_set: config.SES_CONFIGURATION_SET ?? null,
      check: sendEvents,
      grace_seconds: graceSeconds,
      fix: 'add an event destination for SEND (and the other event types) to the configuration set',
    },
  );
}

/** Batch reports reach the transaction workflow as signals sent over the worker's own connection. */
function batchReporter(client: Client): BatchReporter {
  return {
    async report(transactionId, kind, report) {
      const signal = kind === 'sent' ? batchSentSignal : batchCompletedSignal;
      try {
        await client.workflow.getHandle(transactionWorkflowId(transactionId)).signal(signal, report);
      } catch (error) {
        // A transaction that already ended no longer listens; the batch still finishes its own work.
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    },
  };
}

export async function createEngineWorkers(
  config: Config,
  overrides: { workflowBundlePath?: string; maxCachedWorkflows?: number; identity?: string } = {},
): Promise<EngineWorkers> {
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const { deps, ses, close } = activityDepsFromConfig(config);
  await checkSendEventsAtStart(config, ses, deps);
  deps.reporter = batchReporter(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }));
  const activities = createActivities(deps);
  const workflowSource: Pick<WorkerOptions, 'workflowBundle'> = {
    workflowBundle: { codePath: overrides.workflowBundlePath ?? (await workflowBundlePath()) },
  };
  const common = { connection, namespace: config.TEMPORAL_NAMESPACE, ...(overrides.identity ? { identity: overrides.identity } : {}) };
  const main = await Worker.create({
    ...common,
    ...workflowSource,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: {
      ingestRecipients: activities.ingestRecipients,
      recordTransactionStatus: activities.recordTransactionStatus,
      tallyBatch: activities.tallyBatch,
      reconcileTransactionCounts: activities.reconcileTransactionCounts,
      annotateTransaction: activities.annotateTransaction,
      deliverWebhook: activities.deliverWebhook,
    },
    ...(overrides.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: overrides.maxCachedWorkflows } : {}),
  });
  const send = await Worker.create({
    ...common,
    taskQueue: config.TEMPORAL_SEND_TASK_QUEUE,
    activities: { sendBatchChunk: activities.sendBatchChunk },
    // The server enforces this across all workers: each task is one chunk of at most a second's mail.
    maxTaskQueueActivitiesPerSecond: config.SEND_RATE_PER_SECOND / sendChunkSize(config),
    maxConcurrentActivityTaskExecutions: 16,
  });
  let running: Promise<void> | undefined;
  return {
    run() {
      running ??= Promise.all([main.run(), send.run()]).then(async () => {
        await connection.close();
        close();
      });
      return running;
    },
    async shutdown() {
      for (const worker of [main, send]) if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}
