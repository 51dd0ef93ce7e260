// Issue 16, item 1, end to end on the local stack: a small campaign through the real engine
// (ingest with rejected and suppressed rows, sends through the SES emulator, its events back
// through the signed SNS endpoint: deliveries, bounces and complaints from the mailbox
// simulator, a status webhook per change), then the worker's metrics endpoint and the API's
// /metrics are scraped over HTTP: every count equals the campaign's own figures, the gauges
// come from Temporal (visibility, DescribeTaskQueue), and no label value is an address or an id.
import { describe, expect, it } from 'vitest';
import { startWebhookReceiver, TENANTS, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';

const OPERATOR_TOKEN = 'metrics-e2e-operator-token-0123456789abcdef';
const engine = useEngine({
  events: 'connect',
  config: {
    BATCH_SIZE: '10',
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
    // The worker's endpoint on a free port, its gauges refreshed every second.
    WORKER_METRICS_PORT: '0',
    COLLECT_INTERVAL_SECONDS: '1',
    OPERATOR_TOKEN,
  },
});
const api = engine.api;
const tenant = TENANTS.a.tenantId;

const SIM = 'simulator.amazonses.com';
const run = `${Date.now()}`;
const group = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}${run}m${i}@${SIM}`);
const list = { delivered: group('success+', 6), bounced: group('bounce+', 3), complained: group('complaint+', 2) };
const suppressedAddress = `success+suppressed${run}@${SIM}`;
const rows = [
  ...Object.values(list).flat(),
  suppressedAddress,
  'not-an-address',
  'also not an address',
  // A duplicate of the first row.
  list.delivered[0]!,
];
const csv = ['email,name', ...rows.map((e, i) => `${e},R${i}`)].join('\n');

type Sample = { name: string; labels: Record<string, string>; value: number };

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parse(await res.text());
}
const scrapeWorker = () => scrape(engine.workers[0]!.metricsUrl!);
const scrapeApi = () => scrape(`${engine.url}/metrics`, { 'x-operator-token': OPERATOR_TOKEN });

/** The sum of a metric's samples whose labels include `labels`. */
function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}
const has = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe('engine metrics', () => {
  it('counts exactly what a campaign did, on the worker and the API, with bounded labels', async () => {
    expect(engine.workers[0]!.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const hooks = await startWebhookReceiver(TENANTS.a.webhookSecret);
    try {
      expect((await api.put(`/api/v1/suppressions/${encodeURIComponent(suppressedAddress)}`, {})).status).toBe(200);
      const templateId = await uploadTemplate(api, {
        from: `news@${SIM}`,
        subject: 'Hello {{ name }}',
        html: '<p>Hi {{ name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
      });
      const fileId = await uploadCsv(api, csv);
      // A second campaign waits for its send_at an hour away: the SCHEDULED gauge, never overdue.
      const later = await api.post('/api/v1/campaigns', {
        template_id: templateId,
        file_id: await uploadCsv(api, `email,name\nsuccess+later${run}@${SIM},L`),
        schedule: { send_at: new Date(Date.now() + 3600_000).toISOString() },
      });
      expect(later.status).toBe(202);
      const laterId = later.body.transaction_id as string;
      await waitForStatus(api, laterId, ['SCHEDULED']);

      const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, callback_url: hooks.url });
      expect(started.status).toBe(202);
      const id = started.body.transaction_id as string;
      const final = await waitForStatus(api, id, ['COMPLETED', 'FAILED'], 150_000);
      expect(final.status).toBe('COMPLETED');
      const counts = final.counts as Record<string, number>;
      expect(counts).toMatchObject({ sent: 11, suppressed: 1, invalid: 3, bounced: 3, complained: 2, failed: 0 });
      // The last webhook (COMPLETED) lands after the status: wait for the workflow to be done with it.
      await waitFor('the COMPLETED webhook', async () => (hooks.received.some((h) => h.json.status === 'COMPLETED') ? true : undefined));

      // Worker: the gauges settle once the collector ran after the campaign's workflow closed.
      const worker = await waitFor(
        'the gauges after the campaign',
        async () => {
          const s = await scrapeWorker();
          const running = ['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'PAUSED'].map((status) =>
            sum(s, 'email_engine_campaigns', { status }),
          );
          return running.every((n) => n === 0) && sum(s, 'email_engine_campaigns', { status: 'SCHEDULED' }) === 1 ? s : undefined;
        },
        30_000,
      );
      console.log(
        '[figures] worker metrics after the campaign:',
        worker
          .filter((s) => s.name.startsWith('email_engine_') && !s.name.includes('_bucket'))
          .map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`)
          .join('\n  '),
      );
      // Sending: SES accepted every message sent; every message marked SENDING was settled again.
      expect(sum(worker, 'email_engine_messages_sent_total', { tenant })).toBe(counts.sent);
      expect(sum(worker, 'email_engine_ses_send_duration_seconds_count', { outcome: 'accepted' })).toBe(counts.sent);
      expect(sum(worker, 'email_engine_render_duration_seconds_count')).toBe(counts.sent);
      expect(sum(worker, 'email_engine_message_transitions_total', { to: 'SENT', from: 'SENDING', tenant })).toBe(counts.sent);
      const marked = sum(worker, 'email_engine_message_transitions_total', { to: 'SENDING', tenant });
      const settled = ['SENT', 'FAILED', 'READY_TO_SEND'].reduce(
        (n, to) => n + sum(worker, 'email_engine_message_transitions_total', { from: 'SENDING', to, tenant }),
        0,
      );
      expect(marked).toBe(settled);
      expect(sum(worker, 'email_engine_ses_errors_total')).toBe(0);
      // Ingest: the file's rows by verdict, the rejected ones by code.
      expect(sum(worker, 'email_engine_ingest_rows_total', { tenant, verdict: 'valid' })).toBe(counts.sent! + 1); // and the later campaign's row
      expect(sum(worker, 'email_engine_ingest_rows_total', { tenant, verdict: 'suppressed' })).toBe(1);
      expect(sum(worker, 'email_engine_ingest_rows_total', { tenant, verdict: 'rejected' })).toBe(3);
      expect(sum(worker, 'email_engine_ingest_rejected_rows_total', { code: 'INVALID_EMAIL' })).toBe(2);
      expect(sum(worker, 'email_engine_ingest_rejected_rows_total', { code: 'DUPLICATE' })).toBe(1);
      // The campaign's end, and every webhook the receiver took.
      expect(sum(worker, 'email_engine_campaigns_finished_total', { status: 'COMPLETED' })).toBe(1);
      expect(sum(worker, 'email_engine_campaign_processing_seconds_count')).toBe(1);
      expect(sum(worker, 'email_engine_webhook_deliveries_total', { outcome: 'delivered' })).toBe(hooks.received.length);
      // The later campaign has no callback: it runs no webhook activity at all (none answers no_callback).
      expect(sum(worker, 'email_engine_webhook_deliveries_total', { outcome: 'no_callback' })).toBe(0);
      // Gauges from Temporal: nothing processing, nothing overdue, no webhook pending, the send queue drained.
      expect(sum(worker, 'email_engine_oldest_processing_campaign_seconds')).toBe(0);
      expect(sum(worker, 'email_engine_scheduled_campaign_overdue_seconds')).toBe(0);
      expect(sum(worker, 'email_engine_webhook_backlog')).toBe(0);
      expect(sum(worker, 'email_engine_webhook_oldest_pending_seconds')).toBe(0);
      expect(has(worker, 'email_engine_send_queue_backlog', { task_queue: engine.config.TEMPORAL_SEND_TASK_QUEUE })).toBe(true);
      expect(sum(worker, 'email_engine_send_queue_backlog', { task_queue: engine.config.TEMPORAL_SEND_TASK_QUEUE })).toBe(0);

      // API: every SES event the campaign brought, by type and outcome.
      const apiSamples = await scrapeApi();
      console.log(
        '[figures] API SES event metrics:',
        apiSamples
          .filter((s) => /^email_engine_(ses_events|bounces|complaints)_total$/.test(s.name))
          .map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`)
          .join('\n  '),
      );
      expect(sum(apiSamples, 'email_engine_ses_events_total', { type: 'send', outcome: 'applied', tenant })).toBe(counts.sent);
      expect(sum(apiSamples, 'email_engine_ses_events_total', { type: 'delivery', outcome: 'applied', tenant })).toBe(counts.delivered);
      expect(sum(apiSamples, 'email_engine_ses_events_total', { type: 'bounce', outcome: 'applied', tenant })).toBe(counts.bounced);
      expect(sum(apiSamples, 'email_engine_ses_events_total', { type: 'complaint', outcome: 'applied', tenant })).toBe(counts.complained);
      expect(sum(apiSamples, 'email_engine_bounces_total', { tenant, bounce_type: 'Permanent' })).toBe(counts.bounced);
      expect(sum(apiSamples, 'email_engine_complaints_total', { tenant })).toBe(counts.complained);
      // The HTTP metrics are still there, by route pattern.
      expect(has(apiSamples, 'http_requests_total', { route: '/api/v1/campaigns/:id/status', method: 'GET', status: '200' })).toBe(true);

      // No label value is an address, a campaign id or any other ULID-shaped id.
      const ids = [id, laterId];
      for (const s of [...worker, ...apiSamples]) {
        for (const value of Object.values(s.labels)) {
          expect(value, `${s.name}${JSON.stringify(s.labels)}`).not.toMatch(/@/);
          expect(value, `${s.name}${JSON.stringify(s.labels)}`).not.toMatch(/[0-9A-HJKMNP-TV-Z]{26}/);
          for (const txn of ids) expect(value).not.toContain(txn);
        }
      }

      expect((await api.post(`/api/v1/campaigns/${laterId}/cancel`)).status).toBe(202);
      await waitForStatus(api, laterId, ['CANCELLED']);
      const afterCancel = await waitFor(
        'the CANCELLED campaign counted and gone from the gauges',
        async () => {
          const s = await scrapeWorker();
          return sum(s, 'email_engine_campaigns', { status: 'SCHEDULED' }) === 0 ? s : undefined;
        },
        30_000,
      );
      expect(sum(afterCancel, 'email_engine_campaigns_finished_total', { status: 'CANCELLED' })).toBe(1);
    } finally {
      await hooks.close();
    }
  });

  it('shows a webhook the receiver refuses as backlog with its age, until it is delivered', async () => {
    // The first two attempts at the first webhook (PROCESSING) get a 503: retried after 5 s, then 10 s.
    const hooks = await startWebhookReceiver(TENANTS.a.webhookSecret, (n) => (n < 2 ? 503 : 204));
    try {
      const before = await scrapeWorker();
      const templateId = await uploadTemplate(api, { from: `news@${SIM}`, subject: 'Hi', html: '<p>Hi {{ name }}</p>' });
      const fileId = await uploadCsv(api, `email,name\nsuccess+hook${run}@${SIM},H`);
      const startedAt = Date.now();
      const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, callback_url: hooks.url });
      expect(started.status).toBe(202);
      const id = started.body.transaction_id as string;
      const pending = await waitFor(
        'a pending webhook at least 5 s old',
        async () => {
          const s = await scrapeWorker();
          return sum(s, 'email_engine_webhook_backlog') >= 1 && sum(s, 'email_engine_webhook_oldest_pending_seconds') >= 5 ? s : undefined;
        },
        60_000,
      );
      const age = sum(pending, 'email_engine_webhook_oldest_pending_seconds');
      console.log(`[figures] webhook backlog ${sum(pending, 'email_engine_webhook_backlog')}, oldest pending ${age.toFixed(1)} s`);
      // Its age runs from the first attempt's schedule, never before the campaign started.
      expect(age).toBeLessThanOrEqual((Date.now() - startedAt) / 1000 + 1);
      expect(hooks.received).toHaveLength(0);
      const final = await waitForStatus(api, id, ['COMPLETED', 'FAILED'], 150_000);
      expect(final.status).toBe('COMPLETED');
      const after = await waitFor(
        'every webhook delivered and the backlog empty',
        async () => {
          const s = await scrapeWorker();
          const done = hooks.received.some((h) => h.json.status === 'COMPLETED');
          return done && sum(s, 'email_engine_webhook_backlog') === 0 && sum(s, 'email_engine_campaigns', { status: 'SENT' }) === 0
            ? s
            : undefined;
        },
        90_000,
      );
      const delta = (name: string, labels: Record<string, string>) => sum(after, name, labels) - sum(before, name, labels);
      expect(delta('email_engine_webhook_deliveries_total', { outcome: 'failed' })).toBe(2);
      expect(delta('email_engine_webhook_deliveries_total', { outcome: 'delivered' })).toBe(hooks.received.length);
      expect(sum(after, 'email_engine_webhook_oldest_pending_seconds')).toBe(0);
      expect(delta('email_engine_campaigns_finished_total', { status: 'COMPLETED' })).toBe(1);
      expect(delta('email_engine_messages_sent_total', { tenant })).toBe(1);
    } finally {
      await hooks.close();
    }
  });
});
