// `npm run bench:suppression-import [-- --lines N]` (issue 15, item 6): a suppression import of
// N lines (default 1,000,000, the engine's limit) on a fresh DynamoDB Local and s3rver. The CSV
// (one line in 1,000 an invalid address, one in 500 an address repeated from earlier, mixed
// reasons) is written to disk and uploaded to s3rver as a stream, then the import activity runs
// in this process as a worker would run it; prints lines/s, the process's peak RSS, the counts
// and the machine's load. s3rver and the SES emulator run in this process too (the local
// stack starts them here), so the RSS includes them; the figures at each tenth of the file show
// whether the import's own memory grows with it.
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Upload } from '@aws-sdk/lib-storage';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { startLocalStack } from '../src/local/stack';
import { activityDepsFromConfig } from '../workers/create-worker';
import { createSuppressionListActivities, suppressionListSettings } from '../activities/suppression-lists.activities';
import { emptyProgress, importPinnedKey, importUploadKey } from '../src/domain/suppression-lists';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '1000000' } } });
const LINES = Number(values.lines);
const TENANT = 'bench';
const REASONS = ['', 'hard bounce', 'COMPLAINT', 'unsubscribe', 'moved to another list'];

const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const round = (n: number, d = 1) => Number(n.toFixed(d));

/** The benchmark's CSV, streamed to `path` (never held in memory). */
async function writeCsv(path: string): Promise<number> {
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('email,reason\r\n');
  for (let i = 1; i <= LINES; i++) {
    const n = i % 500 === 0 && i % 1000 !== 0 ? i - 250 : i;
    const email = i % 1000 === 0 ? `not-an-address-${i}` : `user${n}@example${n % 7}.com`;
    await write(`${email},${REASONS[i % REASONS.length]}\r\n`);
  }
  out.end();
  await once(out, 'finish');
  return out.bytesWritten;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'email-engine-suppression-bench-'));
  // No Temporal: the activity runs here, as a worker would run it (heartbeats go nowhere).
  const base = loadConfig({ ...process.env, LOCAL_STACK_DIR: dir, LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: '127.0.0.1:1' });
  const stack = await startLocalStack(base, {
    ports: 'random',
    persistent: false,
    temporalUi: false,
    opensearch: false,
    log: () => undefined,
  });
  const config = loadConfig({ ...process.env, LOCAL_STACK_DIR: dir, LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: '127.0.0.1:1', ...stack.env });
  const { deps, close } = activityDepsFromConfig(config);
  try {
    const file = join(dir, 'suppressions.csv');
    const bytes = await writeCsv(file);
    const importId = `si_BENCH${Date.now()}`;
    const pinned = importPinnedKey(TENANT, importId, 'bench');
    const upload = new Upload({
      client: deps.objects.s3,
      params: { Bucket: deps.objects.bucket, Key: pinned, Body: createReadStream(file), ContentType: 'text/csv' },
    });
    await upload.done();
    const at = new Date().toISOString();
    await deps.suppressionJobs.createImport({
      import_id: importId,
      tenant_id: TENANT,
      state: 'QUEUED',
      upload_key: importUploadKey(TENANT, importId),
      pinned_key: pinned,
      file_bytes: bytes,
      progress: emptyProgress(),
      created_at: at,
      updated_at: at,
    });
    const activities = createSuppressionListActivities(deps, suppressionListSettings(config));
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    // Memory as the import goes: RSS and V8 heap at each tenth of the file (flat means no growth with the file).
    const byTenth: Record<string, { rss_mb: number; heap_mb: number }> = {};
    env.on('heartbeat', (checkpoint: { line: number }) => {
      const tenth = `${Math.floor(((checkpoint.line - 1) / LINES) * 10) * 10}%`;
      byTenth[tenth] ??= { rss_mb: round(rssMb()), heap_mb: round(process.memoryUsage().heapUsed / 1024 / 1024) };
    });
    const rssBefore = rssMb();
    const loadBefore = loadavg();
    const started = Date.now();
    const progress = await env.run(activities.importSuppressionFile, { version: 1, tenantId: TENANT, jobId: importId });
    const seconds = (Date.now() - started) / 1000;
    const job = await deps.suppressionJobs.getImport(TENANT, importId);
    console.log(
      JSON.stringify(
        {
          lines: LINES,
          file_mb: round(bytes / 1024 / 1024),
          seconds: round(seconds),
          lines_per_s: round(LINES / seconds, 0),
          rss_mb_before_import: round(rssBefore),
          peak_rss_mb: round(peakRssMb()),
          memory_by_progress: byTenth,
          state: job?.state,
          progress,
          // One line in 1,000 is invalid and one in 500 repeats an earlier address.
          expected: {
            imported: LINES - 2 * Math.floor(LINES / 1000),
            duplicates: Math.floor(LINES / 1000),
            rejected: Math.floor(LINES / 1000),
          },
          write_concurrency: config.SUPPRESSION_IMPORT_WRITE_CONCURRENCY,
          machine: {
            cpus: cpus().length,
            loadavg_before: loadBefore.map((l) => round(l, 2)),
            loadavg_after: loadavg().map((l) => round(l, 2)),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
