// `npm run bench -- --recipients N [--batch-size B] [--chunk-size C] [--json out.json]`:
// one campaign of N recipients on a fresh local stack, measured against the raw rates of the
// components taken in the same run. Reports throughput, latency, event intake, peak memory of
// the worker and API processes, and what the campaign costs in Temporal.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { createTables } from '../../src/adapters/dynamo/tables';
import { apiClient, uploadCsv, uploadTemplate } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';
import { dynamoConditionalUpdateRate, dynamoWriteRate, openSearchIndexRate, sesSendRate, temporalActivityRate } from './raw-rates';
import { temporalCost } from './temporal-cost';

const { values } = parseArgs({
  options: {
    recipients: { type: 'string', default: '10000' },
    'batch-size': { type: 'string', default: '1000' },
    'chunk-size': { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '4' },
    events: { type: 'string', default: '5000' },
    json: { type: 'string' },
    /** `off`: the engine's metrics neither counted nor served (ENGINE_METRICS), to measure what they cost. */
    metrics: { type: 'string', default: 'on' },
    /** A directory: the worker's and the API's output go to worker.log and api.log there. */
    logs: { type: 'string' },
  },
});
const N = Number(values.recipients);
const status = (line: string) => process.stderr.write(`\r\x1b[K${line}`);
/** A field of /proc/<pid>/status in MB; NaN once the process has exited (a zombie has no memory lines). */
const procStatusMb = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const peakRssMb = (pid: number) => procStatusMb(pid, 'VmHWM');
const rssMb = (pid: number) => procStatusMb(pid, 'VmRSS');
const round = (n: number, d = 1) => Number(n.toFixed(d));

function bar(done: number, total: number, label: string) {
  const width = 30;
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  status(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${label}`);
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  status('starting the local stack, worker and API…');
  const platform = await startPlatform(
    {
      BATCH_SIZE: values['batch-size']!,
      SEND_CHUNK_SIZE: values['chunk-size']!,
      MAX_CONCURRENT_BATCHES: values.parallel!,
      SEND_RATE_PER_SECOND: '100000',
      FINAL_STATE_DEADLINE_SECONDS: '7200',
      // With metrics on, the worker serves them (and runs the gauges' collector) as it does in production.
      ENGINE_METRICS: values.metrics!,
      ...(values.metrics === 'on' ? { WORKER_METRICS_PORT: '0' } : {}),
    },
    {
      processes: true,
      connectEvents: false,
      ...(values.logs ? { echo: (name: string, chunk: Buffer) => appendFileSync(join(values.logs!, `${name}.log`), chunk) } : {}),
    },
  );
  const { config } = platform;
  try {
    status('measuring raw component rates…');
    const raw = {
      dynamodb_batch_write_items_per_s: round(await dynamoWriteRate(config)),
      dynamodb_conditional_updates_per_s: round(await dynamoConditionalUpdateRate(config)),
      ses_send_calls_per_s: round(await sesSendRate(config)),
      temporal_empty_activities_per_s: round(await temporalActivityRate(config)),
      opensearch_indexed_events_per_s: config.OPENSEARCH_URL ? round(await openSearchIndexRate(config.OPENSEARCH_URL)) : null,
    };
    await platform.events.connect(platform.apiUrl, 250);
    const api = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
    const templateId = await uploadTemplate(api, { subject: 'Hello {{ name }}', html: '<p>Hi {{ name }}, this is issue {{ issue }}.</p>' });
    const csv = ['email,name,issue', ...Array.from({ length: N }, (_, i) => `u${i}@example${i % 3}.com,Reader ${i},${i % 50}`)].join('\n');
    const fileId = await uploadCsv(api, csv);

    // Resident memory per campaign phase (the peak per process is VmHWM, below).
    const rssByPhase: Record<string, { worker: number; api: number }> = {};
    let phase = 'ACCEPT';
    const sampler = setInterval(() => {
      // A process that ended is said so, once, instead of read (its /proc entry has no memory lines left).
      const ended = platform.engineError();
      if (ended) {
        clearInterval(sampler);
        console.error(`\n${ended} during ${phase}`);
        return;
      }
      const p = (rssByPhase[phase] ??= { worker: 0, api: 0 });
      try {
        p.worker = Math.max(p.worker, round(rssMb(platform.pids!.worker)));
        p.api = Math.max(p.api, round(rssMb(platform.pids!.api)));
      } catch (error) {
        // Gone before its exit was seen: said once; the run fails at its next request.
        clearInterval(sampler);
        console.error(`\n${(error as Error).message} during ${phase} (worker ${platform.pids!.worker}, api ${platform.pids!.api})`);
      }
    }, 250);
    const accepted = Date.now();
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
    const id = started.body.transaction_id as string;
    let firstMailAt: number | undefined;
    let txn: Record<string, any> = {};
    for (;;) {
      if (firstMailAt === undefined) {
        const res = await fetch(`${config.SES_ENDPOINT}/store?since=${Math.floor(accepted / 1000)}`);
        const { emails } = (await res.json()) as { emails: { headers?: { name: string; value: string }[] }[] };
        if (emails.some((e) => e.headers?.some((h) => h.name === 'X-Transaction-Id' && h.value === id))) firstMailAt = Date.now();
      }
      txn = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
      phase = txn.status;
      const c = txn.counts ?? {};
      bar(
        txn.status === 'SENT' || txn.status === 'COMPLETED' ? (c.delivered ?? 0) : (c.sent ?? 0),
        N,
        `${txn.status} (sent ${c.sent ?? 0}, delivered ${c.delivered ?? 0})`,
      );
      if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(txn.status)) break;
      await new Promise((r) => setTimeout(r, firstMailAt === undefined ? 100 : 1000));
    }
    status('');
    if (txn.status !== 'COMPLETED') throw new Error(`campaign ended ${txn.status}: ${txn.reason}`);
    const at = (s: string) => Date.parse(txn.status_history.find((h: { status: string }) => h.status === s).timestamp);
    const ingestS = (at('READY_TO_SEND') - at('PROCESSING')) / 1000;
    const sendS = (at('SENT') - at('READY_TO_SEND')) / 1000;

    phase = 'event load';
    status('posting signed events…');
    const eventsPerS = await eventLoad(platform, id, Number(values.events));
    const client = new Client({
      connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS! }),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    clearInterval(sampler);
    status('reading workflow histories…');
    const cost = await temporalCost(client, id, txn.batch_count ?? Math.ceil(N / Number(values['batch-size'])));
    await client.connection.close();

    const perThousand = (n: number) => round((n / N) * 1000);
    // Per message the send path makes two conditional writes (SENDING, SENT) and one SES call;
    // Temporal runs one activity per chunk.
    const sendLimits = {
      ses: raw.ses_send_calls_per_s,
      dynamodb: raw.dynamodb_conditional_updates_per_s / 2,
      temporal: raw.temporal_empty_activities_per_s * Math.min(Number(values['chunk-size']), Number(values['batch-size'])),
    };
    const [slowest, sendLimit] = Object.entries(sendLimits).sort((a, b) => a[1] - b[1])[0]!;
    const report = {
      machine: `${(await import('node:os')).cpus().length} cores, node ${process.version}`,
      recipients: N,
      batch_size: Number(values['batch-size']),
      chunk_size: Number(values['chunk-size']),
      raw,
      ingest_rows_per_s: round(N / ingestS),
      ingest_vs_raw_dynamodb: round(N / ingestS / raw.dynamodb_batch_write_items_per_s, 2),
      send_messages_per_s: round(N / sendS),
      send_limit_messages_per_s: { ...sendLimits, slowest },
      send_vs_slowest_component: round(N / sendS / sendLimit, 2),
      latency_s: {
        accepted_to_first_mail: firstMailAt ? round((firstMailAt - accepted) / 1000, 2) : null,
        accepted_to_sent: round((at('SENT') - accepted) / 1000),
        accepted_to_completed: round((at('COMPLETED') - accepted) / 1000),
      },
      events_per_s_with_signature_check: round(eventsPerS),
      event_posts_retried_after_a_connection_error: connectionRetries,
      peak_rss_mb: { worker: round(peakRssMb(platform.pids!.worker)), api: round(peakRssMb(platform.pids!.api)) },
      rss_mb_by_phase: rssByPhase,
      temporal: {
        ...cost,
        history_events_per_1000: perThousand(cost.historyEvents),
        actions_per_1000: perThousand(cost.actions),
        signals_per_1000: perThousand(cost.signals),
      },
      counts: txn.counts,
    };
    console.log(JSON.stringify(report, null, 2));
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  } finally {
    await platform.stop();
  }
}

/** Event posts sent again after their connection failed (the last event load's). */
let connectionRetries = 0;

/** Signed Open events for already-sent messages, posted 32 at a time: what the endpoint absorbs. */
async function eventLoad(platform: Awaited<ReturnType<typeof startPlatform>>, transactionId: string, count: number): Promise<number> {
  const aws = createAwsClients(platform.config);
  const { batches, messages } = createTables(aws.doc, platform.config.DYNAMODB_TABLE);
  const targets: { message_id: string; batch_id: string; ses_message_id?: string; recipient_email: string }[] = [];
  for (const batch of await batches.listBatches(transactionId)) {
    let cursor;
    do {
      const page = await messages.pageMessages(transactionId, batch.batch_id, 1000, cursor);
      targets.push(...page.items);
      cursor = page.cursor;
    } while (cursor && targets.length < count);
    if (targets.length >= count) break;
  }
  destroyAwsClients(aws);
  const bodies = targets.slice(0, count).map((m) =>
    JSON.stringify(
      platform.events.signer.sign({
        Type: 'Notification',
        MessageId: randomUUID(),
        TopicArn: platform.events.signer.topicArn,
        Timestamp: new Date().toISOString(),
        Message: JSON.stringify({
          eventType: 'Open',
          mail: {
            messageId: m.ses_message_id ?? randomUUID(),
            tags: { transaction_id: [transactionId], batch_id: [m.batch_id], message_id: [m.message_id] },
          },
          open: { timestamp: new Date().toISOString(), userAgent: 'bench', ipAddress: '192.0.2.1' },
        }),
      }),
    ),
  );
  let next = 0;
  let failed = 0;
  const started = Date.now();
  connectionRetries = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        // As SNS does, a post whose connection failed is posted again (counted: it is reported).
        for (let attempt = 1; ; attempt++) {
          try {
            const res = await fetch(`${platform.apiUrl}/api/v1/events/ses`, {
              method: 'POST',
              headers: { 'content-type': 'text/plain' },
              body,
            });
            if (res.status !== 200) failed += 1;
            await res.arrayBuffer();
            break;
          } catch (error) {
            if (attempt >= 3) throw error;
            connectionRetries += 1;
          }
        }
      }
    }),
  );
  if (failed > 0) throw new Error(`${failed} event posts failed`);
  return bodies.length / ((Date.now() - started) / 1000);
}

main().catch((error) => {
  console.error('\n', error);
  process.exit(1);
});
