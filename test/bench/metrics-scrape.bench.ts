// `npx tsx test/bench/metrics-scrape.bench.ts [-- --messages 100000 --tenants 20 --scrapes 200]`:
// the cost of one scrape of the worker's registry (issue 16's target: under 5 ms of the worker's
// CPU per scrape at 100,000 messages in flight). Records what a worker counts for `messages`
// messages (every send-path transition, a send, a render and an SES call each, by tenant; ingest
// rows and rejected codes; the gauges set; Node's default metrics as the worker registers them),
// then times `scrapes` calls of registry.metrics() (what the endpoint serves, without the HTTP): wall and CPU ms each.
// Label sets are bounded, so the cost follows the series (statuses × tenants), not the messages.
import { parseArgs } from 'node:util';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createEngineMetrics } from '../../src/metrics/engine-metrics';

async function main() {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '100000' },
      tenants: { type: 'string', default: '20' },
      scrapes: { type: 'string', default: '200' },
    },
  });
  const messages = Number(values.messages);
  const tenants = Array.from({ length: Number(values.tenants) }, (_, i) => `tenant-${i}`);
  const scrapes = Number(values.scrapes);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = createEngineMetrics(registry);
  const recordStart = performance.now();
  for (let i = 0; i < messages; i++) {
    const tenant = tenants[i % tenants.length]!;
    m.transitions.inc({ from: 'CREATED', to: 'SENDING', tenant });
    m.transitions.inc({ from: 'SENDING', to: i % 50 === 0 ? 'FAILED' : 'SENT', tenant });
    m.renderDuration.observe(0.0005 + (i % 7) * 0.0003);
    m.sesSendDuration.observe({ outcome: i % 50 === 0 ? 'rejected' : 'accepted' }, 0.02 + (i % 11) * 0.01);
    if (i % 50 !== 0) m.sent.inc({ tenant });
    if (i % 500 === 0) m.suppressedAtSend.inc({ tenant });
    if (i % 997 === 0) m.sesErrors.inc({ kind: 'throttle' });
  }
  for (const tenant of tenants) {
    for (const verdict of ['valid', 'rejected', 'suppressed'] as const) m.ingestRows.inc({ tenant, verdict }, 100);
  }
  for (const code of ['INVALID_EMAIL', 'DUPLICATE', 'MISSING_PLACEHOLDER', 'ITEM_TOO_LARGE', 'MALFORMED_CSV'])
    m.ingestRejectedRows.inc({ code }, 3);
  for (const status of ['COMPLETED', 'FAILED', 'CANCELLED']) m.campaignsFinished.inc({ status });
  for (const outcome of ['delivered', 'failed', 'gone', 'no_callback']) m.webhookDeliveries.inc({ outcome });
  for (const status of ['ACCEPT', 'PROCESSING', 'SCHEDULED', 'READY_TO_SEND', 'SENT', 'PAUSED']) m.campaigns.set({ status }, 5);
  m.sendQueueBacklog.set({ task_queue: 'email-engine-send' }, 1200);
  m.campaignProcessing.observe(300);
  const recordMs = performance.now() - recordStart;

  // Warm-up, then the measured scrapes.
  for (let i = 0; i < 10; i++) await registry.metrics();
  let bytes = 0;
  const cpu = process.cpuUsage();
  const wall = performance.now();
  for (let i = 0; i < scrapes; i++) bytes += (await registry.metrics()).length;
  const wallMs = (performance.now() - wall) / scrapes;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / scrapes;
  const series = (await registry.getMetricsAsJSON()).reduce((n, metric) => n + (metric.values?.length ?? 0), 0);
  console.log(
    JSON.stringify(
      {
        messages,
        tenants: tenants.length,
        series,
        scrape_bytes: Math.round(bytes / scrapes),
        record_ns_per_message: Math.round((recordMs * 1e6) / messages),
        scrapes,
        wall_ms_per_scrape: Number(wallMs.toFixed(3)),
        cpu_ms_per_scrape: Number(cpuMs.toFixed(3)),
        target_cpu_ms: 5,
      },
      null,
      2,
    ),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
