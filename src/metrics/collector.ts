// The worker's gauges (issue 16), refreshed every COLLECT_INTERVAL_SECONDS from where the truth is:
// - email_engine_campaigns{status}: Temporal visibility, running campaign workflows of this
//   engine's task queue by their TransactionStatus search attribute (one count query a status);
// - email_engine_oldest_processing_campaign_seconds: the oldest such workflow in PROCESSING, by
//   its start time (the campaign enters PROCESSING as its workflow starts);
// - email_engine_scheduled_campaign_overdue_seconds: campaigns not yet sending (ACCEPT,
//   PROCESSING, SCHEDULED) whose send_at, read from their DynamoDB record once and remembered
//   while they stay there (a reschedule moves a SCHEDULED one: its send_at is read again each
//   round), has passed;
// - email_engine_send_queue_backlog{task_queue}: DescribeTaskQueue (report_stats) of the send
//   task queue's activity tasks, approximate_backlog_count;
// - email_engine_webhook_backlog / _oldest_pending_seconds: a campaign posts its status webhooks
//   one after another from its workflow, which stays open until they are done, so a webhook not
//   yet delivered is exactly a running campaign workflow with a pending deliverWebhook activity
//   (DescribeWorkflowExecution of each running campaign; the webhooks queued behind the pending
//   one are not counted). Its age is from the webhook's first schedule (its expiration minus the
//   activity's schedule-to-close timeout), else from its current attempt's.
// A failed collection is logged and the gauges keep their last values; the worker carries on;
// email_engine_gauge_collection_last_success_timestamp_seconds{step} says when each step last
// succeeded (the EmailEngineGaugesStale alert fires when one has not for 10 minutes).
import type { Client } from '@temporalio/client';
import { TRANSACTION_STATUSES, isFinalTransactionStatus, type TransactionStatus } from '../domain/transaction-status';
import { SEARCH_ATTRIBUTES } from '../contracts';
import type { Logger } from '../logging';
import type { EngineMetrics } from './engine-metrics';

/** deliverWebhook's scheduleToCloseTimeout in workflows/transaction.workflow.ts (3 days). */
export const WEBHOOK_SCHEDULE_TO_CLOSE_MS = 3 * 24 * 3600 * 1000;
/** At most this many campaigns are described (webhook backlog) or read (send_at) per round. */
const MAX_LOOKUPS_PER_ROUND = 1000;
const LOOKUP_CONCURRENCY = 8;
/** PROCESSING campaigns listed per round for the oldest one's age (ids only). */
const MAX_PROCESSING_LISTED = 10_000;

// temporal.api.enums.v1 values (TaskQueueKind.NORMAL, TaskQueueType.ACTIVITY), without a dependency on @temporalio/proto.
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;
/** The campaign workflow's type (workflows/transaction.workflow.ts). */
const CAMPAIGN_WORKFLOW_TYPE = 'transactionWorkflow';

/** The collection steps, as named in email_engine_gauge_collection_last_success_timestamp_seconds{step}. */
const STEP_NAMES = ['campaigns', 'oldest_processing', 'scheduled_overdue', 'send_queue_backlog', 'webhook_backlog'] as const;

const RUNNING_STATUSES = TRANSACTION_STATUSES.filter((s) => !isFinalTransactionStatus(s));
const NOT_YET_SENDING: TransactionStatus[] = ['ACCEPT', 'PROCESSING', 'SCHEDULED'];

export interface CollectorDeps {
  client: Client;
  namespace: string;
  /** The engine's main task queue (its campaign workflows) and its send task queue. */
  taskQueue: string;
  sendTaskQueue: string;
  /** A campaign's send_at (undefined: not scheduled, or no record). */
  sendAtOf(transactionId: string): Promise<string | undefined>;
  metrics: EngineMetrics;
  log: Logger;
  now?: () => number;
}

export interface GaugeCollector {
  /** One round now (the timer's rounds call this too); never throws. */
  collect(): Promise<void>;
  stop(): Promise<void>;
}

const tsMillis = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined => {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return undefined;
  return Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
};

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export function createGaugeCollector(deps: CollectorDeps, intervalMs?: number): GaugeCollector {
  const { client, metrics, log } = deps;
  const now = deps.now ?? Date.now;
  const quote = (v: string) => `'${v.replace(/'/g, "\\'")}'`;
  const running = `ExecutionStatus = 'Running' AND TaskQueue = ${quote(deps.taskQueue)}`;
  // TransactionStatus is set on campaign workflows only.
  const withStatus = (s: TransactionStatus) => `${running} AND ${SEARCH_ATTRIBUTES.transactionStatus} = ${quote(s)}`;
  /** send_at of campaigns not yet sending, by workflow id (null: none), kept while they stay listed. */
  const sendAts = new Map<string, string | null>();

  async function listIds(query: string, limit: number): Promise<{ workflowId: string; startTime: Date; status?: string }[]> {
    const out: { workflowId: string; startTime: Date; status?: string }[] = [];
    for await (const wf of client.workflow.list({ query, pageSize: 500 })) {
      const status = wf.searchAttributes?.[SEARCH_ATTRIBUTES.transactionStatus]?.[0];
      out.push({ workflowId: wf.workflowId, startTime: wf.startTime, status: typeof status === 'string' ? status : undefined });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A step of a round: its failure is logged and leaves its gauges as they were. */
  async function step(name: (typeof STEP_NAMES)[number], fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      metrics.collectionLastSuccess.set({ step: name }, now() / 1000);
    } catch (error) {
      log.warn('metrics collection failed; gauges keep their last value', { step: name, error: (error as Error).message });
    }
  }

  async function campaignsByStatus() {
    const counts = await Promise.all(RUNNING_STATUSES.map(async (s) => (await client.workflow.count(withStatus(s))).count));
    RUNNING_STATUSES.forEach((s, i) => metrics.campaigns.set({ status: s }, counts[i]!));
  }

  async function oldestProcessing() {
    // Listed newest first: all of them (ids only; campaigns ingesting at once are few), so the oldest is not cut off.
    const processing = await listIds(withStatus('PROCESSING'), MAX_PROCESSING_LISTED);
    const oldest = processing.reduce((min, w) => Math.min(min, w.startTime.getTime()), Number.POSITIVE_INFINITY);
    metrics.oldestProcessingCampaign.set(processing.length === 0 ? 0 : Math.max(0, (now() - oldest) / 1000));
  }

  async function scheduledOverdue() {
    const statuses = NOT_YET_SENDING.map((s) => `${SEARCH_ATTRIBUTES.transactionStatus} = ${quote(s)}`).join(' OR ');
    const waiting = await listIds(`${running} AND (${statuses})`, MAX_LOOKUPS_PER_ROUND);
    const listed = new Set(waiting.map((w) => w.workflowId));
    for (const id of sendAts.keys()) if (!listed.has(id)) sendAts.delete(id);
    // A SCHEDULED campaign can be rescheduled: read again each round. The others' send_at is fixed.
    const toRead = waiting.filter((w) => w.status === 'SCHEDULED' || !sendAts.has(w.workflowId));
    await mapLimit(toRead, LOOKUP_CONCURRENCY, async (w) => {
      const transactionId = w.workflowId.replace(/^txn-/, '');
      sendAts.set(w.workflowId, (await deps.sendAtOf(transactionId)) ?? null);
    });
    let overdueMs = 0;
    for (const w of waiting) {
      const at = sendAts.get(w.workflowId);
      if (at) overdueMs = Math.max(overdueMs, now() - Date.parse(at));
    }
    metrics.scheduledCampaignOverdue.set(Math.max(0, overdueMs / 1000));
  }

  async function sendQueueBacklog() {
    const response = await client.workflowService.describeTaskQueue({
      namespace: deps.namespace,
      taskQueue: { name: deps.sendTaskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
      reportStats: true,
    });
    if (!response.stats) throw new Error('DescribeTaskQueue returned no stats (the server does not support report_stats)');
    metrics.sendQueueBacklog.set({ task_queue: deps.sendTaskQueue }, Number(response.stats.approximateBacklogCount ?? 0));
  }

  async function webhookBacklog() {
    const campaigns = await listIds(`${running} AND WorkflowType = ${quote(CAMPAIGN_WORKFLOW_TYPE)}`, MAX_LOOKUPS_PER_ROUND);
    let pending = 0;
    let oldestMs: number | undefined;
    await mapLimit(campaigns, LOOKUP_CONCURRENCY, async (w) => {
      const described = await client.workflowService.describeWorkflowExecution({
        namespace: deps.namespace,
        execution: { workflowId: w.workflowId },
      });
      for (const activity of described.pendingActivities ?? []) {
        if (activity.activityType?.name !== 'deliverWebhook') continue;
        pending += 1;
        const expires = tsMillis(activity.expirationTime);
        const since = expires !== undefined ? expires - WEBHOOK_SCHEDULE_TO_CLOSE_MS : tsMillis(activity.scheduledTime);
        if (since !== undefined) oldestMs = Math.min(oldestMs ?? since, since);
      }
    });
    metrics.webhookBacklog.set(pending);
    metrics.webhookOldestPending.set(oldestMs === undefined ? 0 : Math.max(0, (now() - oldestMs) / 1000));
  }

  // Each step's series exists from the start (the collector's start time), so a step that never
  // succeeds goes stale like one that stopped succeeding.
  const started = now() / 1000;
  for (const name of STEP_NAMES) metrics.collectionLastSuccess.set({ step: name }, started);

  let round: Promise<void> | undefined;
  async function collect(): Promise<void> {
    // One round at a time: a slow round is not overlapped by the next tick.
    round ??= Promise.all([
      step('campaigns', campaignsByStatus),
      step('oldest_processing', oldestProcessing),
      step('scheduled_overdue', scheduledOverdue),
      step('send_queue_backlog', sendQueueBacklog),
      step('webhook_backlog', webhookBacklog),
    ]).then(
      () => {
        round = undefined;
      },
      () => {
        round = undefined;
      },
    );
    return round;
  }

  const timer = intervalMs === undefined ? undefined : setInterval(() => void collect(), intervalMs);
  timer?.unref();
  if (timer) void collect();
  return {
    collect,
    async stop() {
      if (timer) clearInterval(timer);
      await round;
    },
  };
}
