// The composition root of a worker process: config → clients → adapters → activities → workers.
// Two workers share one connection: the main queue runs workflows and bookkeeping, the send
// queue runs only SES sends under the server-enforced rate limit.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { batchCompletedSignal, batchSentSignal, transactionWorkflowId } from '../src/contracts';
import { retentionDefaults, sendChunkSize, type Config } from '../src/config';
import { createAwsClients, destroyAwsClients } from '../src/adapters/aws';
import { createTables, type Tables } from '../src/adapters/dynamo/tables';
import { ObjectStore } from '../src/adapters/s3';
import { analyticsFromConfig } from '../src/adapters/opensearch';
import { callbackPolicy } from '../src/adapters/safe-http';
import { checkSendEvents, SesMessenger } from '../src/adapters/ses';
import { createIdentityVerifier } from '../src/adapters/identity-verifier';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { createLogger, type Logger } from '../src/logging';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { traceAwsClients, tracingClientInterceptors, tracingWorkerOptions } from '../src/tracing';
import { createActivities, createExportActivities, createGovernanceActivities, type ActivityDeps } from '../activities';
import type { BatchReporter } from '../activities/deps';
import { BUILT_WORKFLOW_BUNDLE_PATH, RUNNING_FROM_BUILD } from './workflows-path';
import { ensureRetentionSchedule } from './retention-schedule';
import { createSuppressionListActivities, suppressionListSettings } from '../activities';
import { createEventWebhookActivities, eventWebhookSettings, eventWebhookTaskQueue } from '../activities/event-webhook.activities';
import { EventLog, eventLogSettings } from '../src/events/event-log';
import { Registry } from 'prom-client';
import { ReputationTable } from '../src/adapters/dynamo/reputation';
import { appendAudit } from '../src/adapters/dynamo/audit';
import { guardSettings } from '../src/reputation/rates';
import { reputationSendGate } from '../src/reputation/send-gate';
import { createEngineMetrics } from '../src/metrics/engine-metrics';
import { ensureTemporalRuntimeMetrics, serveWorkerMetrics } from './worker-metrics';
import { holdForQuota, platformSendRate, quotaWouldBeCrossed, SesQuotaMonitor, temporalQuotaHoldDeps } from '../src/reputation/ses-quota';

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
  /** The worker's metrics (issue 16): every engine metric is registered here. */
  registry: Registry;
  /** Where they are scraped (http://host:port/metrics), when WORKER_METRICS_PORT is set. */
  metricsUrl?: string;
}

export function activityDepsFromConfig(config: Config, log: Logger = createLogger({ component: 'worker' }, config.LOG_LEVEL)) {
  const aws = createAwsClients(config);
  traceAwsClients(aws.dynamo, aws.s3, aws.ses);
  // Retention and erasure delete analytics documents too, when analytics are on.
  const analytics = analyticsFromConfig(config);
  const deps: ActivityDeps & Tables = {
    ...createTables(aws.doc, config.DYNAMODB_TABLE, { groupTransitions: config.DYNAMODB_GROUP_TRANSITIONS === 'on' }),
    objects: new ObjectStore(aws.s3, config.S3_BUCKET),
    messenger: new SesMessenger(aws.ses, config.SES_CONFIGURATION_SET),
    identityVerifier: createIdentityVerifier(config, aws.ses),
    log,
    settings: {
      maxCsvBytes: config.MAX_CSV_BYTES,
      webhookTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
      sendConcurrency: 8,
      publicBaseUrl: config.PUBLIC_BASE_URL!,
      unsubscribeSecret: config.UNSUBSCRIBE_SECRET!,
      callbacks: callbackPolicy(config),
      retention: retentionDefaults(config),
      exportPartBytes: config.EXPORT_PART_BYTES,
    },
    analytics,
  };
  const close = () => {
    destroyAwsClients(aws);
    void analytics?.close();
  };
  return { deps, ses: aws.ses, doc: aws.doc, close };
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

/** Retention and erasure wait only for campaigns whose workflow still runs (a record can outlive a terminated one). */
function workflowLiveness(client: Client): NonNullable<ActivityDeps['workflows']> {
  return {
    async isRunning(workflowId) {
      try {
        return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      }
    },
  };
}

export async function createEngineWorkers(
  config: Config,
  overrides: {
    workflowBundlePath?: string;
    maxCachedWorkflows?: number;
    identity?: string;
    /** Where the worker's own metrics go (the SES quota gauges; served by the worker's metrics endpoint). */
    registry?: Registry;
  } = {},
): Promise<EngineWorkers> {
  // The SDK's runtime metrics (TEMPORAL_METRICS_PORT) need the runtime installed before any connection.
  ensureTemporalRuntimeMetrics(config, createLogger({ component: 'worker' }, config.LOG_LEVEL));
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const { deps, ses, doc, close } = activityDepsFromConfig(config);
  // The engine's metrics (issue 16), counted by the activities and served on WORKER_METRICS_PORT.
  const registry = overrides.registry ?? new Registry();
  if (config.ENGINE_METRICS === 'on') deps.metrics = createEngineMetrics(registry);
  await checkSendEventsAtStart(config, ses, deps);
  // The SES account quota (issue 16, item 4): gauges, and the send rate follows MaxSendRate.
  const quota = new SesQuotaMonitor(ses, config, deps.log, registry);
  const sendRate = platformSendRate(config, await quota.refreshAtStart());
  if (sendRate < config.SEND_RATE_PER_SECOND) {
    deps.log.warn('send rate lowered to the SES account MaxSendRate', { configured: config.SEND_RATE_PER_SECOND, rate: sendRate });
    // Chunks are sized by the API for the configured rate: the send activity cuts each to a second
    // of mail at this rate and spreads it over that second (the queue rate below matches).
    deps.settings.paceMessagesPerSecond = sendRate;
  }
  const sendChunkLimit = deps.settings.paceMessagesPerSecond
    ? Math.min(sendChunkSize(config), Math.max(1, Math.floor(sendRate)))
    : sendChunkSize(config);
  quota.start(config.SES_QUOTA_POLL_SECONDS * 1000);
  const interceptors = tracingClientInterceptors();
  deps.reporter = batchReporter(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors }));
  const governanceClient = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors });
  deps.workflows = workflowLiveness(governanceClient);
  // Before the SES 24-hour quota would be crossed, sending campaigns hold (src/reputation/ses-quota.ts).
  const pollMs = config.SES_QUOTA_POLL_SECONDS * 1000;
  const reputationTable = new ReputationTable(doc, config.DYNAMODB_TABLE);
  const workerIdentity = overrides.identity ?? `${process.pid}@${hostname()}`;
  const quotaHold = {
    ...temporalQuotaHoldDeps(governanceClient, deps.store, deps.audit, deps.log),
    // Every worker polls the same account: one of them acts on each interval's reading.
    claim: () => reputationTable.claimQuotaHold(Math.floor(Date.now() / pollMs) * pollMs, workerIdentity),
  };
  quota.onReading = async (reading) => {
    if (quotaWouldBeCrossed(reading, sendRate, pollMs)) await holdForQuota(quotaHold, reading);
  };
  if (quota.latest) await quota.onReading(quota.latest);
  // A held tenant's chunks send nothing, and its campaign is paused here if no sweep did (issue 16, item 4).
  if (guardSettings(config).mode === 'hold') {
    deps.sendGate = reputationSendGate({
      counters: reputationTable,
      store: deps.store,
      temporal: governanceClient,
      audit: { record: async (entry) => void (await appendAudit(deps.audit, entry)) },
      log: deps.log.child({ component: 'send-gate' }),
    });
  }
  // Event webhooks (issue 17, item 1): a failed send logs its event; delivery runs on a queue of its own.
  deps.eventLog = new EventLog(deps.eventWebhooks, deps.log, eventLogSettings(config));
  const activities = createActivities(deps);
  const workflowSource: Pick<WorkerOptions, 'workflowBundle'> = {
    workflowBundle: { codePath: overrides.workflowBundlePath ?? (await workflowBundlePath()) },
  };
  const common = {
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...(overrides.identity ? { identity: overrides.identity } : {}),
    // Activity spans and the sink the bundled workflow interceptors export to (src/tracing).
    ...tracingWorkerOptions(),
  };
  const main = await Worker.create({
    ...common,
    ...workflowSource,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: {
      ingestRecipients: activities.ingestRecipients,
      recordTransactionStatus: activities.recordTransactionStatus,
      tallyBatch: activities.tallyBatch,
      chunkBounds: activities.chunkBounds,
      reconcileTransactionCounts: activities.reconcileTransactionCounts,
      annotateTransaction: activities.annotateTransaction,
      deliverWebhook: activities.deliverWebhook,
      // Retention and erasure.
      ...createGovernanceActivities(deps),
      // Suppression import and export (issue 15, item 6).
      ...createSuppressionListActivities(deps, suppressionListSettings(config)),
      // Result exports (issue 15, item 5).
      ...createExportActivities(deps),
    },
    ...(overrides.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: overrides.maxCachedWorkflows } : {}),
  });
  // Campaigns do not depend on it: a worker that cannot reach the schedule still runs, loudly.
  await ensureRetentionSchedule(governanceClient, config).catch((error: unknown) =>
    deps.log.error('the retention sweep schedule could not be ensured', { error: (error as Error).message }),
  );
  const send = await Worker.create({
    ...common,
    taskQueue: config.TEMPORAL_SEND_TASK_QUEUE,
    activities: { sendBatchChunk: activities.sendBatchChunk },
    // The server enforces this across all workers: each task is one chunk of at most a second's mail.
    // The chunk size is the API's (from the configured rate), cut to a second's mail under a lower MaxSendRate.
    maxTaskQueueActivitiesPerSecond: sendRate / sendChunkLimit,
    maxConcurrentActivityTaskExecutions: 16,
  });
  // Its own task queue, so long-running deliveries never take a slot a send or a status webhook needs.
  const eventWebhooks = await Worker.create({
    ...common,
    taskQueue: eventWebhookTaskQueue(config),
    activities: createEventWebhookActivities({ eventWebhooks: deps.eventWebhooks, log: deps.log, settings: eventWebhookSettings(config) }),
    maxConcurrentActivityTaskExecutions: 200,
  });
  const metricsEndpoint = await serveWorkerMetrics(config, registry, governanceClient, deps);
  let running: Promise<void> | undefined;
  // The metrics endpoint and the quota poll stop with the workers, or on a shutdown without a run.
  let stopped: Promise<void> | undefined;
  const stopSideServices = () => (stopped ??= metricsEndpoint.stop().finally(() => quota.stop()));
  return {
    registry,
    ...(metricsEndpoint.url ? { metricsUrl: metricsEndpoint.url } : {}),
    run() {
      running ??= Promise.all([main.run(), send.run(), eventWebhooks.run()]).then(async () => {
        await stopSideServices();
        await connection.close();
        close();
      });
      return running;
    },
    async shutdown() {
      for (const worker of [main, send, eventWebhooks]) if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await stopSideServices();
    },
  };
}
