// The engine's metric definitions (issue 16): the contract's names, types and label sets; the
// label helpers keep label values bounded; a scrape of every metric parses as Prometheus's text
// format; the worker's endpoint serves it; the gauges' collector keeps its last values when
// Temporal cannot answer.
import { afterAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { Client } from '@temporalio/client';
import {
  bounceTypeLabel,
  createEngineMetrics,
  createSesEventMetrics,
  rowCodeLabel,
  sesErrorKind,
  sesEventTypeLabel,
} from '../../src/metrics/engine-metrics';
import { serveMetrics, type MetricsServer } from '../../src/metrics/server';
import { createGaugeCollector } from '../../src/metrics/collector';
import { SendError } from '../../src/adapters/ses';
import { createLogger } from '../../src/logging';

// The metrics contract, worker side (less the SES account gauges, registered by the quota monitor).
const WORKER_CONTRACT: Record<string, { type: string; labels: string[] }> = {
  email_engine_message_transitions_total: { type: 'counter', labels: ['from', 'to', 'tenant'] },
  email_engine_messages_sent_total: { type: 'counter', labels: ['tenant'] },
  email_engine_ses_send_duration_seconds: { type: 'histogram', labels: ['outcome'] },
  email_engine_ses_errors_total: { type: 'counter', labels: ['kind'] },
  email_engine_render_duration_seconds: { type: 'histogram', labels: [] },
  email_engine_suppressed_at_send_total: { type: 'counter', labels: ['tenant'] },
  email_engine_ingest_rows_total: { type: 'counter', labels: ['tenant', 'verdict'] },
  email_engine_ingest_rejected_rows_total: { type: 'counter', labels: ['code'] },
  email_engine_campaigns_finished_total: { type: 'counter', labels: ['status'] },
  email_engine_campaign_processing_seconds: { type: 'histogram', labels: [] },
  email_engine_webhook_deliveries_total: { type: 'counter', labels: ['outcome'] },
  email_engine_campaigns: { type: 'gauge', labels: ['status'] },
  email_engine_oldest_processing_campaign_seconds: { type: 'gauge', labels: [] },
  email_engine_scheduled_campaign_overdue_seconds: { type: 'gauge', labels: [] },
  email_engine_send_queue_backlog: { type: 'gauge', labels: ['task_queue'] },
  email_engine_webhook_backlog: { type: 'gauge', labels: [] },
  email_engine_webhook_oldest_pending_seconds: { type: 'gauge', labels: [] },
  email_engine_gauge_collection_last_success_timestamp_seconds: { type: 'gauge', labels: ['step'] },
};
const API_CONTRACT: Record<string, { type: string; labels: string[] }> = {
  email_engine_ses_events_total: { type: 'counter', labels: ['type', 'outcome', 'tenant'] },
  email_engine_bounces_total: { type: 'counter', labels: ['tenant', 'bounce_type'] },
  email_engine_complaints_total: { type: 'counter', labels: ['tenant'] },
};

/** Prometheus text format: HELP/TYPE comments and `name{label="value",...} number` samples, nothing else. */
function parseExposition(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!sample) throw new Error(`not Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

function definitions(registry: Registry) {
  return Object.fromEntries(
    registry.getMetricsAsArray().map((m) => {
      const labelNames = (m as unknown as { labelNames: string[] }).labelNames;
      return [m.name, { type: String(m.type), labels: [...labelNames] }];
    }),
  );
}

describe('metric definitions', () => {
  it('the worker registers exactly the contract names, types and label sets', () => {
    const registry = new Registry();
    createEngineMetrics(registry);
    expect(definitions(registry)).toEqual(WORKER_CONTRACT);
  });

  it('the API registers the SES event metrics of the contract', () => {
    const registry = new Registry();
    createSesEventMetrics(registry);
    expect(definitions(registry)).toEqual(API_CONTRACT);
  });

  it('follows the conventions: prefix, _total counters only, base units', () => {
    const all = { ...WORKER_CONTRACT, ...API_CONTRACT };
    for (const [name, { type }] of Object.entries(all)) {
      expect(name.startsWith('email_engine_')).toBe(true);
      expect(name.endsWith('_total')).toBe(type === 'counter');
      expect(/_(ms|milliseconds|minutes)$/.test(name)).toBe(false);
    }
  });

  it('a scrape with every metric recorded parses, and its labels are the bounded ones', async () => {
    const registry = new Registry();
    const m = createEngineMetrics(registry);
    m.transitions.inc({ from: 'READY_TO_SEND', to: 'SENDING', tenant: 'tenant-a' });
    m.sent.inc({ tenant: 'tenant-a' });
    m.sesSendDuration.observe({ outcome: 'accepted' }, 0.03);
    m.sesErrors.inc({ kind: sesErrorKind(new SendError('throttled', 'TooManyRequestsException', 'slow down')) });
    m.renderDuration.observe(0.001);
    m.suppressedAtSend.inc({ tenant: 'tenant-a' });
    m.ingestRows.inc({ tenant: 'tenant-a', verdict: 'valid' }, 10);
    m.ingestRejectedRows.inc({ code: rowCodeLabel('INVALID_EMAIL') });
    m.campaignsFinished.inc({ status: 'COMPLETED' });
    m.campaignProcessing.observe(42);
    m.webhookDeliveries.inc({ outcome: 'delivered' });
    m.campaigns.set({ status: 'PROCESSING' }, 2);
    m.oldestProcessingCampaign.set(12.5);
    m.sendQueueBacklog.set({ task_queue: 'email-engine-send' }, 3);
    const { samples, types } = parseExposition(await registry.metrics());
    expect(new Set(types.keys())).toEqual(new Set(Object.keys(WORKER_CONTRACT)));
    expect(samples.find((s) => s.name === 'email_engine_ingest_rows_total')).toEqual({
      name: 'email_engine_ingest_rows_total',
      labels: { tenant: 'tenant-a', verdict: 'valid' },
      value: 10,
    });
    expect(samples.find((s) => s.name === 'email_engine_ses_errors_total')?.labels).toEqual({ kind: 'throttle' });
    const buckets = samples.filter((s) => s.name === 'email_engine_ses_send_duration_seconds_bucket');
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf', outcome: 'accepted' }, value: 1 });
  });
});

describe('series that start at zero', () => {
  it('bounded label sets exist at 0 before their first event, and a tenant first seen gets its bounce and complaint series', async () => {
    const worker = new Registry();
    createEngineMetrics(worker);
    const text = await worker.metrics();
    for (const status of ['COMPLETED', 'FAILED', 'CANCELLED']) {
      expect(text).toContain(`email_engine_campaigns_finished_total{status="${status}"} 0`);
    }
    expect(text).toContain('email_engine_ses_errors_total{kind="throttle"} 0');
    expect(text).toContain('email_engine_webhook_deliveries_total{outcome="failed"} 0');

    const api = new Registry();
    const events = createSesEventMetrics(api);
    events.noteTenant('tenant-x');
    events.noteTenant('tenant-x');
    events.noteTenant('');
    const apiText = await api.metrics();
    expect(apiText).toContain('email_engine_complaints_total{tenant="tenant-x"} 0');
    expect(apiText).toContain('email_engine_bounces_total{tenant="tenant-x",bounce_type="Permanent"} 0');
    expect(apiText).not.toContain('tenant=""');
  });
});

describe('label helpers', () => {
  it('SES send errors map to the contract kinds', () => {
    expect(sesErrorKind(new SendError('throttled', 'TooManyRequestsException', 'Maximum sending rate exceeded.'))).toBe('throttle');
    expect(sesErrorKind(new SendError('throttled', 'LimitExceededException', 'Daily message quota exceeded.'))).toBe('quota');
    expect(sesErrorKind(new SendError('recipient', 'MessageRejected', 'Email address is not verified.'))).toBe('rejected');
    expect(sesErrorKind(new SendError('transient', 'InternalFailure', 'try again'))).toBe('transient');
    expect(sesErrorKind(new SendError('account', 'AccountSuspendedException', 'suspended'))).toBe('other');
    expect(sesErrorKind(new Error('socket hang up'))).toBe('other');
  });

  it('SES event types are the contract names; anything a sender invents is "other"', () => {
    expect(sesEventTypeLabel('Bounce')).toBe('bounce');
    expect(sesEventTypeLabel('DeliveryDelay')).toBe('delivery_delay');
    expect(sesEventTypeLabel('Rendering Failure')).toBe('rendering_failure');
    expect(sesEventTypeLabel('Subscription')).toBe('subscription');
    expect(sesEventTypeLabel('someone@example.com')).toBe('other');
    expect(sesEventTypeLabel(undefined)).toBe('other');
  });

  it('bounce types and row codes stay in a bounded alphabet', () => {
    expect(bounceTypeLabel('Permanent')).toBe('Permanent');
    expect(bounceTypeLabel('Transient')).toBe('Transient');
    expect(bounceTypeLabel('Whatever')).toBe('Undetermined');
    expect(bounceTypeLabel(undefined)).toBe('Undetermined');
    expect(rowCodeLabel('DUPLICATE')).toBe('DUPLICATE');
    expect(rowCodeLabel('a@b.c "quoted" and a very long code beyond forty characters')).toMatch(/^[A-Z0-9_]{1,40}$/);
  });
});

describe('worker metrics endpoint', () => {
  let server: MetricsServer | undefined;
  afterAll(async () => server?.close());

  it('serves the registry on a free port at /metrics, and nothing else', async () => {
    const registry = new Registry();
    createEngineMetrics(registry).sent.inc({ tenant: 't' }, 3);
    server = await serveMetrics(registry, 0, '127.0.0.1');
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    const { samples } = parseExposition(await res.text());
    expect(samples.find((s) => s.name === 'email_engine_messages_sent_total')?.value).toBe(3);
    expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);
  });
});

describe('gauge collector', () => {
  it('keeps the last values when Temporal cannot answer, and logs instead of throwing', async () => {
    const registry = new Registry();
    const metrics = createEngineMetrics(registry);
    let up = true;
    const warnings: string[] = [];
    const log = createLogger({ component: 'test' }, 'warn', (line) => void warnings.push(line));
    // A stand-in for the Temporal client's visibility and service calls (pure logic under test).
    const client = {
      workflow: {
        count: async () => {
          if (!up) throw new Error('unavailable');
          return { count: 4 };
        },
        list: () =>
          (async function* () {
            if (!up) throw new Error('unavailable');
          })(),
      },
      workflowService: {
        describeTaskQueue: async () => {
          if (!up) throw new Error('unavailable');
          return { stats: { approximateBacklogCount: 7 } };
        },
        describeWorkflowExecution: async () => ({ pendingActivities: [] }),
      },
    } as unknown as Client;
    const collector = createGaugeCollector({
      client,
      namespace: 'default',
      taskQueue: 'q',
      sendTaskQueue: 'q-send',
      sendAtOf: async () => undefined,
      metrics,
      log,
    });
    await collector.collect();
    const value = async (name: string, labels: Record<string, string> = {}) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    expect(await value('email_engine_campaigns', { status: 'PROCESSING' })).toBe(4);
    expect(await value('email_engine_send_queue_backlog', { task_queue: 'q-send' })).toBe(7);
    up = false;
    await collector.collect();
    expect(await value('email_engine_campaigns', { status: 'PROCESSING' })).toBe(4);
    expect(await value('email_engine_send_queue_backlog', { task_queue: 'q-send' })).toBe(7);
    expect(warnings.some((line) => line.includes('metrics collection failed'))).toBe(true);
    await collector.stop();
  });

  it('ages the oldest PROCESSING campaign, the most overdue one not yet sending, and the oldest pending webhook', async () => {
    const registry = new Registry();
    const metrics = createEngineMetrics(registry);
    let now = Date.parse('2026-12-02T10:00:00Z');
    const workflows = [
      { workflowId: 'txn-A', startTime: new Date(now - 120_000), status: 'PROCESSING' },
      { workflowId: 'txn-B', startTime: new Date(now - 30_000), status: 'PROCESSING' },
      { workflowId: 'txn-C', startTime: new Date(now - 999_000), status: 'SCHEDULED' },
      { workflowId: 'txn-D', startTime: new Date(now - 999_000), status: 'SCHEDULED' },
    ];
    const sendAt: Record<string, string> = { C: new Date(now - 90_000).toISOString(), D: new Date(now + 60_000).toISOString() };
    const reads: string[] = [];
    const queries: string[] = [];
    const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: 0 });
    // Stand-ins answering the visibility queries by the statuses they name.
    const client = {
      workflow: {
        count: async () => ({ count: 0 }),
        list: ({ query }: { query: string }) =>
          (async function* () {
            queries.push(query);
            for (const w of workflows) {
              if (query.includes(`'${w.status}'`) || query.includes('WorkflowType')) {
                yield { workflowId: w.workflowId, startTime: w.startTime, searchAttributes: { TransactionStatus: [w.status] } };
              }
            }
          })(),
      },
      workflowService: {
        describeTaskQueue: async () => ({ stats: { approximateBacklogCount: 0 } }),
        describeWorkflowExecution: async ({ execution }: { execution: { workflowId: string } }) => ({
          pendingActivities:
            execution.workflowId === 'txn-A'
              ? [
                  // First scheduled 10 minutes ago (its 3-day schedule-to-close runs from then), retrying.
                  {
                    activityType: { name: 'deliverWebhook' },
                    expirationTime: ts(now - 600_000 + 3 * 24 * 3600_000),
                    scheduledTime: ts(now - 5000),
                  },
                  { activityType: { name: 'ingestRecipients' }, scheduledTime: ts(now - 900_000) },
                ]
              : execution.workflowId === 'txn-B'
                ? [{ activityType: { name: 'deliverWebhook' }, scheduledTime: ts(now - 20_000) }]
                : [],
        }),
      },
    } as unknown as Client;
    const collector = createGaugeCollector({
      client,
      namespace: 'default',
      taskQueue: "q'1",
      sendTaskQueue: 'q-send',
      sendAtOf: async (id) => {
        reads.push(id);
        return sendAt[id];
      },
      metrics,
      log: createLogger({}, 'error'),
      now: () => now,
    });
    await collector.collect();
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
    expect(await value('email_engine_oldest_processing_campaign_seconds')).toBe(120);
    expect(await value('email_engine_scheduled_campaign_overdue_seconds')).toBe(90);
    expect(await value('email_engine_webhook_backlog')).toBe(2);
    expect(await value('email_engine_webhook_oldest_pending_seconds')).toBe(600);
    // The task queue is quoted in every query (an apostrophe in its name cannot end the string).
    expect(queries.every((q) => q.includes("TaskQueue = 'q\\'1'"))).toBe(true);
    // A PROCESSING campaign's send_at is read once; a SCHEDULED one's each round (it can be rescheduled).
    await collector.collect();
    expect(reads.filter((id) => id === 'A')).toHaveLength(1);
    expect(reads.filter((id) => id === 'C')).toHaveLength(2);
    // Each step says when it last succeeded; a failing one keeps its time (and its gauges) from before.
    const lastSuccess = async () =>
      Object.fromEntries(
        (await registry.getSingleMetric('email_engine_gauge_collection_last_success_timestamp_seconds')!.get()).values.map((v) => [
          v.labels.step,
          v.value,
        ]),
      );
    expect(await lastSuccess()).toEqual({
      campaigns: now / 1000,
      oldest_processing: now / 1000,
      scheduled_overdue: now / 1000,
      send_queue_backlog: now / 1000,
      webhook_backlog: now / 1000,
    });
    const before = now;
    now += 60_000;
    (client.workflowService as unknown as { describeTaskQueue: () => Promise<unknown> }).describeTaskQueue = async () => {
      throw new Error('visibility unreachable');
    };
    await collector.collect();
    expect(await lastSuccess()).toMatchObject({ campaigns: now / 1000, send_queue_backlog: before / 1000 });
    await collector.stop();
  });
});
