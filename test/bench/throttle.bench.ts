// `npm run bench:throttle [-- --recipients 300 --per-minute 600]`: a throttled campaign on a
// fresh local stack; reports the measured send rate against the configured one and the
// busiest 1-second window (the target: within one chunk of the rate).
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { createTables } from '../../src/adapters/dynamo/tables';
import { pacing } from '../../src/contracts';
import { apiClient, uploadCsv, uploadTemplate, waitForStatus } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';

async function main() {
  const { values } = parseArgs({
    options: {
      recipients: { type: 'string', default: '300' },
      'per-minute': { type: 'string', default: '600' },
      'batch-size': { type: 'string', default: '100' },
      parallel: { type: 'string', default: '3' },
    },
  });
  const n = Number(values.recipients);
  const perMinute = Number(values['per-minute']);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const platform = await startPlatform({
    BATCH_SIZE: values['batch-size']!,
    MAX_CONCURRENT_BATCHES: values.parallel!,
    SEND_RATE_PER_SECOND: '1000',
    SEND_CHUNK_SIZE: '50',
  });
  try {
    const api = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
    const templateId = await uploadTemplate(api, { subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' });
    const csv = ['email,name', ...Array.from({ length: n }, (_, i) => `t${i}@example.com,N${i}`)].join('\n');
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: await uploadCsv(api, csv),
      throttle: { emails_per_minute: perMinute },
    });
    const id = started.body.transaction_id as string;
    await waitForStatus(api, id, ['SENT', 'COMPLETED'], 3_600_000);

    const aws = createAwsClients(platform.config);
    const { batches, messages } = createTables(aws.doc, platform.config.DYNAMODB_TABLE);
    const times: number[] = [];
    for (const batch of await batches.listBatches(id)) {
      let cursor;
      do {
        const page = await messages.pageMessages(id, batch.batch_id, 1000, cursor);
        for (const m of page.items) if (m.sent_time) times.push(Date.parse(m.sent_time));
        cursor = page.cursor;
      } while (cursor);
    }
    destroyAwsClients(aws);
    times.sort((a, b) => a - b);
    const span = (times.at(-1)! - times[0]!) / 1000;
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    const pace = pacing(
      { emails_per_minute: perMinute },
      50,
      Math.min(Number(values.parallel), Math.ceil(n / Number(values['batch-size']))),
    );
    const result = {
      recipients: n,
      sent: times.length,
      configured_per_second: perMinute / 60,
      measured_per_second: Number(((times.length - 1) / span).toFixed(2)),
      first_to_last_send_s: Number(span.toFixed(1)),
      busiest_1s_window: busiest,
      allowed_1s_window: perMinute / 60 + pace.chunkSize,
      chunk_size: pace.chunkSize,
    };
    console.table(result);
    console.log(JSON.stringify(result));
    if (busiest > result.allowed_1s_window) process.exitCode = 1;
  } finally {
    await platform.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
