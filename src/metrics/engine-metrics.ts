// The engine's Prometheus metrics (issue 16), by the names of the metrics contract: created on a
// given prom-client Registry by the process that serves it (the worker's composition root, the
// API's server), handed to the code that counts as typed handles. Labels are bounded: a status,
// an outcome, an error kind or code, a tenant (operator-made, few); never a recipient, a
// campaign, batch or message id.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { SendError } from '../adapters/ses';

export const METRIC_PREFIX = 'email_engine_';

/** SES call outcomes: SES took the message, refused this recipient, or the call failed otherwise. */
export type SesSendOutcome = 'accepted' | 'rejected' | 'error';
export type SesErrorKind = 'throttle' | 'quota' | 'rejected' | 'transient' | 'other';
export type IngestVerdict = 'valid' | 'rejected' | 'suppressed';
export type WebhookOutcome = 'delivered' | 'failed' | 'gone' | 'no_callback';
export type SesEventOutcome = 'applied' | 'duplicate' | 'unknown_message' | 'ignored';

// Seconds. SES answers in tens of milliseconds normally, seconds when it struggles.
const SES_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// A render is sub-millisecond to tens of milliseconds (its limits stop it well before a second).
const RENDER_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
// A campaign from accepted to SENT: seconds for a small one, hours for millions at the rate limit.
const CAMPAIGN_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** The worker's metrics (the SES account gauges and the reputation guard's are registered elsewhere). */
export interface EngineMetrics {
  transitions: Counter<'from' | 'to' | 'tenant'>;
  sent: Counter<'tenant'>;
  sesSendDuration: Histogram<'outcome'>;
  sesErrors: Counter<'kind'>;
  renderDuration: Histogram;
  suppressedAtSend: Counter<'tenant'>;
  ingestRows: Counter<'tenant' | 'verdict'>;
  ingestRejectedRows: Counter<'code'>;
  campaignsFinished: Counter<'status'>;
  campaignProcessing: Histogram;
  webhookDeliveries: Counter<'outcome'>;
  // Gauges, set by the collector (src/metrics/collector.ts).
  campaigns: Gauge<'status'>;
  oldestProcessingCampaign: Gauge;
  scheduledCampaignOverdue: Gauge;
  sendQueueBacklog: Gauge<'task_queue'>;
  webhookBacklog: Gauge;
  webhookOldestPending: Gauge;
  /** When each of the collector's steps last succeeded (a gauge that stopped moving is stale, not calm). */
  collectionLastSuccess: Gauge<'step'>;
}

const name = (n: string) => `${METRIC_PREFIX}${n}`;

export function createEngineMetrics(registry: Registry): EngineMetrics {
  const metrics = defineEngineMetrics(registry);
  // Bounded label sets start at 0, so increase() sees their first event (a series born at 1 counts
  // nothing until its second sample): the first FAILED campaign after a restart must alert.
  for (const status of ['COMPLETED', 'FAILED', 'CANCELLED']) metrics.campaignsFinished.inc({ status }, 0);
  for (const kind of ['throttle', 'quota', 'rejected', 'transient', 'other']) metrics.sesErrors.inc({ kind }, 0);
  for (const outcome of ['delivered', 'failed', 'gone', 'no_callback']) metrics.webhookDeliveries.inc({ outcome }, 0);
  return metrics;
}

function defineEngineMetrics(registry: Registry): EngineMetrics {
  const registers = [registry];
  return {
    transitions: new Counter({
      name: name('message_transitions_total'),
      help: 'Message status transitions made by the worker, by from and to status and tenant',
      labelNames: ['from', 'to', 'tenant'],
      registers,
    }),
    sent: new Counter({
      name: name('messages_sent_total'),
      help: 'Messages SES accepted',
      labelNames: ['tenant'],
      registers,
    }),
    sesSendDuration: new Histogram({
      name: name('ses_send_duration_seconds'),
      help: 'Duration of SES SendEmail calls, by outcome (accepted, rejected, error)',
      labelNames: ['outcome'],
      buckets: SES_BUCKETS,
      registers,
    }),
    sesErrors: new Counter({
      name: name('ses_errors_total'),
      help: 'SES SendEmail errors by kind (throttle, quota, rejected, transient, other)',
      labelNames: ['kind'],
      registers,
    }),
    renderDuration: new Histogram({
      name: name('render_duration_seconds'),
      help: 'Time to render one message from its template',
      buckets: RENDER_BUCKETS,
      registers,
    }),
    suppressedAtSend: new Counter({
      name: name('suppressed_at_send_total'),
      help: 'Messages suppressed by the check before sending (suppressed or erased since ingest)',
      labelNames: ['tenant'],
      registers,
    }),
    ingestRows: new Counter({
      name: name('ingest_rows_total'),
      help: 'Recipient rows ingested, by verdict (valid, rejected, suppressed); counted when an ingest finishes',
      labelNames: ['tenant', 'verdict'],
      registers,
    }),
    ingestRejectedRows: new Counter({
      name: name('ingest_rejected_rows_total'),
      help: 'Rejected recipient rows by code; counted when an ingest finishes',
      labelNames: ['code'],
      registers,
    }),
    campaignsFinished: new Counter({
      name: name('campaigns_finished_total'),
      help: 'Campaigns that reached a final status (COMPLETED, FAILED, CANCELLED)',
      labelNames: ['status'],
      registers,
    }),
    campaignProcessing: new Histogram({
      name: name('campaign_processing_seconds'),
      help: 'Campaign time from accepted (or its send_at, when scheduled) to SENT',
      buckets: CAMPAIGN_BUCKETS,
      registers,
    }),
    webhookDeliveries: new Counter({
      name: name('webhook_deliveries_total'),
      help: 'Status webhook delivery attempts by outcome (delivered, failed, gone, no_callback)',
      labelNames: ['outcome'],
      registers,
    }),
    campaigns: new Gauge({
      name: name('campaigns'),
      help: 'Running campaigns by TransactionStatus (Temporal visibility)',
      labelNames: ['status'],
      registers,
    }),
    oldestProcessingCampaign: new Gauge({
      name: name('oldest_processing_campaign_seconds'),
      help: 'Age of the oldest running campaign in PROCESSING; 0 if none',
      registers,
    }),
    scheduledCampaignOverdue: new Gauge({
      name: name('scheduled_campaign_overdue_seconds'),
      help: 'How far past its send_at the most overdue scheduled campaign not yet sending is; 0 if none',
      registers,
    }),
    sendQueueBacklog: new Gauge({
      name: name('send_queue_backlog'),
      help: "Approximate backlog of the send task queue (Temporal's DescribeTaskQueue)",
      labelNames: ['task_queue'],
      registers,
    }),
    webhookBacklog: new Gauge({
      name: name('webhook_backlog'),
      help: 'Status webhooks not yet delivered (running campaigns with a pending webhook activity)',
      registers,
    }),
    webhookOldestPending: new Gauge({
      name: name('webhook_oldest_pending_seconds'),
      help: 'Age of the oldest status webhook not yet delivered; 0 if none',
      registers,
    }),
    collectionLastSuccess: new Gauge({
      name: name('gauge_collection_last_success_timestamp_seconds'),
      help: "Unix time of the last successful refresh of the worker's gauges, by collection step (the gauges keep their last values between)",
      labelNames: ['step'],
      registers,
    }),
  };
}

/** The API's SES event metrics. */
export interface SesEventMetrics {
  events: Counter<'type' | 'outcome' | 'tenant'>;
  bounces: Counter<'tenant' | 'bounce_type'>;
  complaints: Counter<'tenant'>;
  /**
   * Called with each event's tenant: a tenant first seen gets its bounce and complaint series at 0,
   * so its first complaint (one in a thousand mails is already SES's review threshold) is an increase.
   */
  noteTenant(tenant: string): void;
}

export function createSesEventMetrics(registry: Registry): SesEventMetrics {
  const counters = defineSesEventCounters(registry);
  const seen = new Set<string>();
  return {
    ...counters,
    noteTenant(tenant) {
      if (!tenant || seen.has(tenant)) return;
      seen.add(tenant);
      for (const bounce_type of ['Permanent', 'Transient', 'Undetermined']) counters.bounces.inc({ tenant, bounce_type }, 0);
      counters.complaints.inc({ tenant }, 0);
    },
  };
}

function defineSesEventCounters(registry: Registry) {
  const registers = [registry];
  return {
    events: new Counter({
      name: name('ses_events_total'),
      help: 'SES events processed, by type, outcome (applied, duplicate, unknown_message, ignored) and tenant ("" when unknown)',
      labelNames: ['type', 'outcome', 'tenant'],
      registers,
    }),
    bounces: new Counter({
      name: name('bounces_total'),
      help: 'Bounces applied, by tenant and bounce type (Permanent, Transient, Undetermined)',
      labelNames: ['tenant', 'bounce_type'],
      registers,
    }),
    complaints: new Counter({
      name: name('complaints_total'),
      help: 'Complaints applied, by tenant',
      labelNames: ['tenant'],
      registers,
    }),
  };
}

const SES_EVENT_TYPES = new Set([
  'send',
  'delivery',
  'bounce',
  'complaint',
  'reject',
  'open',
  'click',
  'delivery_delay',
  'subscription',
  'rendering_failure',
]);

/** An SES event's type as a label: one of the known kinds, else "other" (the raw type is the sender's to choose). */
export function sesEventTypeLabel(raw: string | undefined): string {
  const type = (raw ?? '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/\s+/g, '_')
    .toLowerCase();
  if (type === 'deliverydelay') return 'delivery_delay';
  if (type === 'renderingfailure') return 'rendering_failure';
  return SES_EVENT_TYPES.has(type) ? type : 'other';
}

/** SES's bounce types; anything else is counted as Undetermined. */
export function bounceTypeLabel(raw: unknown): 'Permanent' | 'Transient' | 'Undetermined' {
  return raw === 'Permanent' || raw === 'Transient' ? raw : 'Undetermined';
}

/** The kind of an SES send error, for email_engine_ses_errors_total. */
export function sesErrorKind(error: unknown): SesErrorKind {
  if (!(error instanceof SendError)) return 'other';
  // SES says "Daily message quota exceeded" / "Maximum sending rate exceeded" under throttling names.
  if (/quota/i.test(error.code) || /quota/i.test(error.message)) return 'quota';
  switch (error.kind) {
    case 'throttled':
      return 'throttle';
    case 'recipient':
      return 'rejected';
    case 'transient':
      return 'transient';
    default:
      return 'other';
  }
}

/** A rejected row's code as a label: the engine's codes are UPPER_SNAKE; anything else is bounded the same way. */
export function rowCodeLabel(code: string): string {
  const cleaned = code
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .slice(0, 40);
  return cleaned || 'UNKNOWN';
}
