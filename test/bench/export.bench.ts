// `npm run bench:export -- [--rows N] [--batch-size B] [--json out.json]`: a result export of an
// N-message campaign (default 200,000) on a fresh local stack. The campaign is seeded straight
// into DynamoDB Local through the engine's writer; the export runs as it does in production
// (POST /exports, campaignExportWorkflow on a worker process, multipart upload to s3rver). Reports
// rows/s, the worker process's resident memory before, at peak during the export (sampled) and
// its high-water mark, and checks the downloaded CSV, streamed, has one row per message.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { createTables } from '../../src/adapters/dynamo/tables';
import { EXPORT_COLUMNS } from '../../src/domain/campaign-export';
import { apiClient } from '../support/harness-http';
import { seedSentCampaign } from '../support/export-seed';
import { BENCH_TENANT, startPlatform } from '../support/platform';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    'batch-size': { type: 'string', default: '500' },
    json: { type: 'string' },
  },
});
const N = Number(values.rows);
const status = (line: string) => process.stderr.write(`\r\x1b[K${line}`);
const procStatusMb = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const round = (n: number, d = 1) => Number(n.toFixed(d));
const load = () => loadavg().map((l) => round(l, 2));

/** Rows of the CSV at `url` (header checked, not counted), read as a stream. */
async function countRows(url: string): Promise<number> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`download: ${res.status}`);
  let rows = -1;
  for await (const record of Readable.fromWeb(res.body as never).pipe(parse())) {
    if (rows === -1 && (record as string[]).join(',') !== EXPORT_COLUMNS.join(',')) throw new Error('unexpected header');
    rows += 1;
  }
  return rows;
}

async function main() {
  // OpenSearch plays no part in an export: not started unless asked for.
  process.env.OPENSEARCH_LOCAL ??= 'off';
  status('starting the local stack, worker and API…');
  const platform = await startPlatform({ LOG_LEVEL: 'warn' }, { processes: true, connectEvents: false });
  try {
    const aws = createAwsClients(platform.config);
    const tables = createTables(aws.doc, platform.config.DYNAMODB_TABLE);
    const seedStarted = Date.now();
    const { transactionId } = await seedSentCampaign(tables, {
      tenantId: BENCH_TENANT.tenantId,
      messages: N,
      batchSize: Number(values['batch-size']),
      tag: `bench-${randomUUID().slice(0, 8)}`,
      progress: (n) => status(`seeding ${n}/${N} messages…`),
    });
    const seedS = (Date.now() - seedStarted) / 1000;
    destroyAwsClients(aws);

    const api = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
    const worker = platform.pids!.worker;
    const before = procStatusMb(worker, 'VmRSS');
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, procStatusMb(worker, 'VmRSS'))), 100);
    const loadAtStart = load();
    const started = Date.now();
    const created = await api.post(`/api/v1/campaigns/${transactionId}/exports`, {});
    if (created.status !== 202) throw new Error(`export: ${created.status} ${JSON.stringify(created.body)}`);
    let view = created.body;
    while (view.state === 'RUNNING') {
      await new Promise((r) => setTimeout(r, 250));
      view = (await api.get(`/api/v1/campaigns/${transactionId}/exports/${created.body.export_id}`)).body;
      status(`exporting: ${view.rows_written}/${N} rows`);
    }
    const exportS = (Date.now() - started) / 1000;
    clearInterval(sampler);
    status('');
    if (view.state !== 'COMPLETED') throw new Error(`export ended ${view.state}: ${JSON.stringify(view.error)}`);
    const downloaded = await countRows(view.download_url as string);
    const report = {
      machine: `${cpus().length} cores, node ${process.version}`,
      load_average_at_start: loadAtStart,
      load_average_at_end: load(),
      rows: N,
      batch_size: Number(values['batch-size']),
      seed_messages_per_s: round(N / seedS),
      export_s: round(exportS, 2),
      export_rows_per_s: round(N / exportS),
      object_mb: round((view.bytes_written as number) / 1024 / 1024, 2),
      part_mb: platform.config.EXPORT_PART_BYTES / 1024 / 1024,
      worker_rss_mb: {
        before_export: round(before),
        peak_during_export: round(peak),
        high_water_mark: round(procStatusMb(worker, 'VmHWM')),
      },
      rows_written: view.rows_written,
      rows_downloaded: downloaded,
    };
    console.log(JSON.stringify(report, null, 2));
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
    if (downloaded !== N || view.rows_written !== N) throw new Error(`expected ${N} rows, the CSV has ${downloaded}`);
  } finally {
    await platform.stop();
  }
}

main().catch((error) => {
  console.error('\n', error);
  process.exit(1);
});
