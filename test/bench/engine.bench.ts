// `npm run bench -- --recipients N [--batch-size B] [--chunk-size C] [--json out.json]`:
// one campaign of N recipients on a fresh local stack, measured against the raw rates of the
// components taken in the same run and against a floor (the campaign's essential I/O without
// Temporal, test/bench/floor.ts). Reports throughput, latency, event intake, peak memory of
// the worker and API processes, what the campaign costs in Temporal, and its DynamoDB requests
// per message and hottest item as the worker and API count them (DYNAMODB_REQUEST_LOG), and the
// CPU seconds each process of the run used (test/bench/cpu.ts; `--profile DIR` adds V8 CPU
// profiles of the worker, the API and this process, test/bench/cpu-profile.ts).
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { REQUEST_LOG_FLUSH_MS } from '../../src/adapters/dynamo-request-log';
import { createTables } from '../../src/adapters/dynamo/tables';
import { activityDepsFromConfig } from '../../workers/create-worker';
import { apiClient, uploadCsv, uploadTemplate } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';
import { dynamoConditionalUpdateRate, dynamoWriteRate, openSearchIndexRate, sesSendRate, temporalActivityRate } from './raw-rates';
import { temporalCost } from './temporal-cost';
import { runFloor } from './floor';
import { addCounts, countsAt, hottestKeys, parseLog, per, ratio, subtractCounts, totalRequests, type Counts } from './dynamo-counts';
import {
  clockTicksPerSecond,
  cmdline,
  coresBusy,
  cpuSecondsBetween,
  descendants,
  listProcesses,
  perThousand as cpuPerThousand,
  readStat,
  sample as sampleCpu,
  type CpuSample,
  type Tracked,
} from './cpu';
import { formatSummary, profileFiles, summariseProfile, tsxResolver, type CpuProfile, type ProfileSummary } from './cpu-profile';

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
    /** A directory: the worker's and the API's output go to worker.log and api.log there (and their DynamoDB request logs). */
    logs: { type: 'string' },
    /**
     * `off`: the worker and API count no DynamoDB requests (DYNAMODB_REQUEST_LOG unset). The count
     * keeps every key written in memory (about 100 bytes each), which the RSS figures then include.
     */
    'request-log': { type: 'string', default: 'on' },
    /**
     * A directory: the worker and the API run with `--cpu-prof` (profiles in DIR/worker and
     * DIR/api, written when they exit at the platform's stop) and this process is profiled over
     * the campaign (DIR/bench); after the run, each one's top 20 functions by self time over the
     * campaign (accepted → COMPLETED) go to stderr and to the report's `cpu_profiles`.
     */
    profile: { type: 'string' },
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
  const loadAtStart = loadavg().map((l) => round(l, 2));
  // Each engine process appends its DynamoDB totals to a file of its own, read after the run.
  const countDynamo = values['request-log'] === 'on';
  const logDir = values.logs ?? mkdtempSync(join(tmpdir(), 'email-engine-bench-dynamodb-'));
  const requestLog = { worker: join(logDir, 'worker.dynamodb.jsonl'), api: join(logDir, 'api.dynamodb.jsonl') };
  for (const path of Object.values(requestLog)) rmSync(path, { force: true });
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  const profileDirs = profileDir
    ? { worker: join(profileDir, 'worker'), api: join(profileDir, 'api'), bench: join(profileDir, 'bench') }
    : undefined;
  for (const dir of Object.values(profileDirs ?? {})) mkdirSync(dir, { recursive: true });
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
      ...(countDynamo
        ? { processEnv: { worker: { DYNAMODB_REQUEST_LOG: requestLog.worker }, api: { DYNAMODB_REQUEST_LOG: requestLog.api } } }
        : {}),
      // --cpu-prof is not allowed in NODE_OPTIONS, so it goes on the command line.
      ...(profileDirs
        ? {
            nodeArgs: {
              worker: ['--cpu-prof', `--cpu-prof-dir=${profileDirs.worker}`],
              api: ['--cpu-prof', `--cpu-prof-dir=${profileDirs.api}`],
            },
          }
        : {}),
    },
  );
  const { config } = platform;
  // Filled in the run, read after the platform stopped (the worker and API write their profiles as they exit).
  let profileWindow: { from: number; to: number } | undefined;
  let benchProfile: CpuProfile | undefined;
  let report: Record<string, unknown> | undefined;
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
    // CPU: every process of the run, sampled every 250 ms and at each status change seen, read
    // at the campaign's status_history times by interpolation (test/bench/cpu.ts).
    const { tracked, processes } = cpuProcesses(platform);
    const cpuSamples: CpuSample[] = [];
    const takeCpuSample = () => cpuSamples.push(sampleCpu(tracked));
    const sampler = setInterval(() => {
      takeCpuSample();
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
    const profiler = profileDirs ? await startBenchProfiler() : undefined;
    const accepted = Date.now();
    cpuSamples.push(sampleCpu(tracked, accepted));
    const eventsAtAccepted = platform.events.stats().posted;
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
    const id = started.body.transaction_id as string;
    let firstMailAt: number | undefined;
    // With the pipelined start the file is read while batches send: read once its total is the file's (every row valid here).
    let fileReadAt: number | undefined;
    let txn: Record<string, any> = {};
    for (;;) {
      if (firstMailAt === undefined) {
        const res = await fetch(`${config.SES_ENDPOINT}/store?since=${Math.floor(accepted / 1000)}`);
        const { emails } = (await res.json()) as { emails: { headers?: { name: string; value: string }[] }[] };
        if (emails.some((e) => e.headers?.some((h) => h.name === 'X-Transaction-Id' && h.value === id))) firstMailAt = Date.now();
      }
      txn = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
      if (fileReadAt === undefined && txn.progress?.total_messages === N) fileReadAt = Date.now();
      if (txn.status !== phase) takeCpuSample();
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
    // The events the API took in for the campaign: SNS notifications the event source posted and
    // the API answered 2xx from the request to COMPLETED (it posts a Send and a Delivery per
    // message here, plain addresses: 2 N; one retried after a failure counts once). By
    // COMPLETED every Delivery is applied and each message's Send was posted before it, so none
    // of the campaign's events come later.
    const campaignEvents = platform.events.stats().posted - eventsAtAccepted;
    if (profiler) benchProfile = await profiler.stop();
    if (txn.status !== 'COMPLETED') throw new Error(`campaign ended ${txn.status}: ${txn.reason}`);
    const at = (s: string) => Date.parse(txn.status_history.find((h: { status: string }) => h.status === s).timestamp);
    // The file read whole (PROCESSING → its total stored; READY_TO_SEND comes after the first segment).
    const ingestS = (Math.max(fileReadAt ?? 0, at('READY_TO_SEND')) - at('PROCESSING')) / 1000;
    const sendS = (at('SENT') - at('READY_TO_SEND')) / 1000;

    phase = 'event load';
    status('posting signed events…');
    takeCpuSample();
    const load = await eventLoad(platform, id, Number(values.events));
    takeCpuSample();
    const eventsPerS = load.perS;
    const client = new Client({
      connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS! }),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    clearInterval(sampler);
    status('reading workflow histories…');
    const cost = await temporalCost(client, id, txn.batch_count ?? Math.ceil(N / Number(values['batch-size'])));
    await client.connection.close();

    // The floor, on the same stack once the campaign is done. Its mail must not reach the API
    // as events (they would load the machine and the API's counters): the event source stops.
    status('running the floor…');
    await platform.events.stop();
    const floor = await runFloor(config, {
      messages: N,
      batchSize: Number(values['batch-size']),
      sesConcurrency: engineSesConcurrency(config, Number(values.parallel)),
      progress: status,
    });
    status('');

    // Each log gets a line past the last moment read (a flush), unless nothing changed since.
    await new Promise((r) => setTimeout(r, Math.max(0, load.ended + REQUEST_LOG_FLUSH_MS + 500 - Date.now())));
    const dynamo = countDynamo
      ? dynamoFigures(
          {
            worker: existsSync(requestLog.worker) ? parseLog(readFileSync(requestLog.worker, 'utf8')) : [],
            api: existsSync(requestLog.api) ? parseLog(readFileSync(requestLog.api, 'utf8')) : [],
          },
          {
            accept: [accepted, at('PROCESSING')],
            ingest: [at('PROCESSING'), at('READY_TO_SEND')],
            send: [at('READY_TO_SEND'), at('SENT')],
            events: [at('SENT'), at('COMPLETED')],
            campaign: [accepted, at('COMPLETED')],
            event_load: [load.started, load.ended],
          },
          N,
          load.events,
        )
      : undefined;

    const perThousand = (n: number) => round((n / N) * 1000);
    // Per message the send path makes two conditional writes (SENDING, SENT) and one SES call;
    // Temporal runs one activity per chunk.
    const sendLimits = {
      ses: raw.ses_send_calls_per_s,
      dynamodb: raw.dynamodb_conditional_updates_per_s / 2,
      temporal: raw.temporal_empty_activities_per_s * Math.min(Number(values['chunk-size']), Number(values['batch-size'])),
    };
    const [slowest, sendLimit] = Object.entries(sendLimits).sort((a, b) => a[1] - b[1])[0]!;
    const firstMailS = firstMailAt ? round((firstMailAt - accepted) / 1000, 2) : null;
    const completedS = (at('COMPLETED') - accepted) / 1000;
    const vsFloor = {
      engine_send_messages_per_s: round(N / sendS),
      floor_send_messages_per_s: floor.send_messages_per_s,
      send_vs_floor: round(N / sendS / floor.send_messages_per_s, 2),
      engine_accepted_to_completed_s: round(completedS),
      floor_total_s: floor.total_s,
      completed_vs_floor: round(completedS / floor.total_s, 2),
    };
    const hottestPer1000 = dynamo?.hottest_item?.writes_per_1000_messages;
    const windows: Record<string, Window> = {
      campaign: [accepted, at('COMPLETED')],
      accept: [accepted, at('PROCESSING')],
      ingest: [at('PROCESSING'), at('READY_TO_SEND')],
      send: [at('READY_TO_SEND'), at('SENT')],
      events: [at('SENT'), at('COMPLETED')],
      event_load: [load.started, load.ended],
    };
    const cpu = cpuFigures(cpuSamples, windows, processes, N, campaignEvents, load.events);
    profileWindow = { from: accepted, to: at('COMPLETED') };
    report = {
      machine: `${(await import('node:os')).cpus().length} cores, node ${process.version}`,
      // 1, 5 and 15 minutes: the machine is shared, and every rate here depends on it.
      load_average: { start: loadAtStart, end: loadavg().map((l) => round(l, 2)) },
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
        accepted_to_first_mail: firstMailS,
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
      dynamodb_requests_per_message: dynamo?.requests_per_message ?? null,
      dynamodb_requests_per_event_load_event: dynamo?.requests_per_event_load_event ?? null,
      hottest_item: dynamo?.hottest_item ?? null,
      dynamodb: dynamo?.detail ?? null,
      floor,
      vs_floor: vsFloor,
      cpu,
      // The issue's targets, reported, never failing the run.
      targets: {
        hottest_item_writes_per_1000_messages: {
          value: hottestPer1000 ?? null,
          target: '<= 10',
          met: hottestPer1000 === undefined ? null : hottestPer1000 <= 10,
        },
        send_vs_floor: { value: vsFloor.send_vs_floor, target: '>= 0.8', met: vsFloor.send_vs_floor >= 0.8 },
        completed_vs_floor: { value: vsFloor.completed_vs_floor, target: '<= 1.25', met: vsFloor.completed_vs_floor <= 1.25 },
        accepted_to_first_mail_s: {
          value: firstMailS,
          target: '< 2 (the issue sets it at N = 200,000)',
          met: firstMailS === null ? null : firstMailS < 2,
        },
        worker_cpu_s_per_1000_messages: {
          value: cpu.worker_cpu_s_per_1000_messages,
          target: '<= 2',
          met: cpu.worker_cpu_s_per_1000_messages === null ? null : cpu.worker_cpu_s_per_1000_messages <= 2,
        },
        api_cpu_s_per_1000_events: {
          value: cpu.api_cpu_s_per_1000_events,
          target: '<= 1.5',
          met: cpu.api_cpu_s_per_1000_events === null ? null : cpu.api_cpu_s_per_1000_events <= 1.5,
        },
      },
    };
    // With --profile, the report waits for the profiles, written as the processes exit.
    if (!profileDirs) printReport(report);
    console.error(cpuTable(cpu));
  } finally {
    await platform.stop();
    if (!values.logs) rmSync(logDir, { recursive: true, force: true });
  }
  if (profileDirs && report) {
    const exits = Object.fromEntries(
      Object.entries(platform.children ?? {}).map(([name, child]) => [name, child.signalCode ?? `exit code ${child.exitCode}`]),
    );
    if (benchProfile) writeFileSync(join(profileDirs.bench, `bench.${process.pid}.cpuprofile`), JSON.stringify(benchProfile));
    report.cpu_profiles = summariseProfiles(profileDirs, platform.pids!, benchProfile, profileWindow, exits);
    printReport(report);
  }
}

function printReport(report: Record<string, unknown>) {
  console.log(JSON.stringify(report, null, 2));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
}

/** What each measured process is, for the report. */
interface ProcessInfo {
  pid: number;
  comm: string;
  what: string;
}

/**
 * The processes to measure: the worker and the API (each a node process, its work in it:
 * startProcess spawns node itself, no shell or npx), this process (which also runs s3rver, the
 * SES emulator, the SNS signer and event source, and the bench's own polling: they are
 * libraries started in it by src/local/stack.ts and events-pipeline.ts), the Temporal dev server
 * (the `temporal` binary the SDK spawns as a child of this process; found by its command line),
 * DynamoDB Local and OpenSearch (java processes the stack holds: setpriv and bin/opensearch exec
 * the JVM, so the pid the stack holds is the JVM's, running as nobody when we are root), and
 * any other descendant of this process, so nothing started is missed. None is a wrapper whose
 * work runs in children, so none counts its children's time (cutime/cstime).
 */
function cpuProcesses(platform: Awaited<ReturnType<typeof startPlatform>>): { tracked: Tracked[]; processes: Record<string, ProcessInfo> } {
  const tree = descendants(process.pid, listProcesses());
  const temporal = tree.find((p) => cmdline(p.pid).includes('start-dev'));
  const known: [string, number | undefined, string][] = [
    ['worker', platform.pids?.worker, 'the worker (node workers/main.ts)'],
    ['api', platform.pids?.api, 'the API (node api/main.ts)'],
    ['bench', process.pid, 'this process: s3rver, the SES emulator, the SNS signer and event source, the bench itself'],
    ['temporal', temporal?.pid, 'the Temporal dev server (temporal server start-dev)'],
    ['dynamodb', platform.stackPids.dynamodb, 'DynamoDB Local (java)'],
    ['opensearch', platform.stackPids.opensearch, 'OpenSearch (java)'],
  ];
  const tracked: Tracked[] = [];
  const processes: Record<string, ProcessInfo> = {};
  for (const [name, pid, what] of known) {
    if (pid === undefined) continue;
    tracked.push({ name, pid });
    processes[name] = { pid, comm: readStat(pid)?.comm ?? '?', what };
  }
  const pids = new Set(tracked.map((t) => t.pid));
  for (const p of tree) {
    if (pids.has(p.pid)) continue;
    const name = `other ${p.comm} ${p.pid}`;
    tracked.push({ name, pid: p.pid });
    processes[name] = { pid: p.pid, comm: p.comm, what: cmdline(p.pid).join(' ').slice(0, 200) };
  }
  return { tracked, processes };
}

const r2 = (n: number | null) => (n === null ? null : Number(n.toFixed(2)));

/**
 * CPU seconds per process over the campaign and each phase (the windows of dynamoFigures), per
 * 1,000 messages, the API's per 1,000 events it took in, and the cores the processes kept busy.
 */
function cpuFigures(
  samples: CpuSample[],
  windows: Record<string, Window>,
  processes: Record<string, ProcessInfo>,
  messages: number,
  campaignEvents: number,
  loadEvents: number,
) {
  const hz = clockTicksPerSecond();
  const over = ([from, to]: Window) => {
    const perProcess = cpuSecondsBetween(samples, from, to, hz);
    const total = Object.values(perProcess).reduce<number>((sum, s) => sum + (s ?? 0), 0);
    return {
      seconds: round((to - from) / 1000, 2),
      cpu_s: Object.fromEntries(Object.entries(perProcess).map(([name, s]) => [name, r2(s)])),
      total_cpu_s: r2(total),
      cores_busy: coresBusy(perProcess, (to - from) / 1000),
      raw: perProcess,
    };
  };
  const campaign = over(windows.campaign!);
  const perMessage = (s: number | null | undefined) => cpuPerThousand(s, messages);
  const byPhase = Object.fromEntries(
    Object.entries(windows)
      .filter(([name]) => name !== 'campaign')
      .map(([name, w]) => {
        const { raw, ...figures } = over(w);
        return [
          name,
          name === 'event_load'
            ? { ...figures, events: loadEvents, api_cpu_s_per_1000_events: cpuPerThousand(raw.api, loadEvents) }
            : { ...figures, cpu_s_per_1000_messages: Object.fromEntries(Object.entries(raw).map(([n, s]) => [n, perMessage(s)])) },
        ];
      }),
  );
  const campaignPer1000: Record<string, number | null> = {
    ...Object.fromEntries(Object.entries(campaign.raw).map(([name, s]) => [name, perMessage(s)])),
    all: perMessage(campaign.total_cpu_s),
  };
  return {
    clock_ticks_per_s: hz,
    processes,
    /** accepted → COMPLETED, read at the status_history times between the samples (every 250 ms and at each status change seen). */
    campaign: {
      seconds: campaign.seconds,
      cpu_s: campaign.cpu_s,
      total_cpu_s: campaign.total_cpu_s,
      cores_busy: campaign.cores_busy,
      cpu_s_per_1000_messages: campaignPer1000,
    },
    worker_cpu_s_per_1000_messages: perMessage(campaign.raw.worker),
    /** SNS notifications the API answered 2xx from accepted to COMPLETED (Send + Delivery, 2 per message here). */
    api_events: campaignEvents,
    api_events_expected: 2 * messages,
    api_cpu_s_per_1000_events: cpuPerThousand(campaign.raw.api, campaignEvents),
    by_phase: byPhase,
  };
}

/** The campaign's CPU seconds per process as a few lines of text. */
function cpuTable(cpu: ReturnType<typeof cpuFigures>): string {
  const pad = (text: string, n: number) => (text.length >= n ? text : ' '.repeat(n - text.length) + text);
  const rows = Object.entries(cpu.campaign.cpu_s).map(
    ([name, s]) => `  ${name.padEnd(24)} ${pad(String(s ?? '-'), 8)} ${pad(String(cpu.campaign.cpu_s_per_1000_messages[name] ?? '-'), 10)}`,
  );
  return [
    `\nCPU over the campaign (${cpu.campaign.seconds} s wall, ${cpu.campaign.total_cpu_s} CPU-s, ${cpu.campaign.cores_busy} cores busy):`,
    `  ${'process'.padEnd(24)} ${pad('CPU-s', 8)} ${pad('per 1,000', 10)}`,
    ...rows,
    `  worker ${cpu.worker_cpu_s_per_1000_messages} CPU-s per 1,000 messages (target <= 2); ` +
      `API ${cpu.api_cpu_s_per_1000_events} CPU-s per 1,000 events (${cpu.api_events} events; target <= 1.5)`,
  ].join('\n');
}

/** This process's own V8 profile over the campaign, through the inspector (it hosts s3rver, the SES emulator and the event source). */
async function startBenchProfiler(): Promise<{ stop(): Promise<CpuProfile> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile as unknown as CpuProfile;
    },
  };
}

/**
 * Each profile's top 20 functions by self time over the campaign (the window in epoch ms, taken
 * to V8's clock, CLOCK_MONOTONIC in µs, through this process's hrtime); printed to stderr.
 */
function summariseProfiles(
  dirs: { worker: string; api: string; bench: string },
  pids: { worker: number; api: number },
  bench: CpuProfile | undefined,
  window: { from: number; to: number } | undefined,
  exits: Record<string, string>,
) {
  const offsetUs = Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n);
  const toMonotonic = (ms: number) => ms * 1000 - offsetUs;
  const loaded: { name: string; file: string; profile: CpuProfile }[] = [];
  for (const name of ['worker', 'api'] as const) {
    for (const f of profileFiles(dirs[name]).filter((f) => f.pid === pids[name])) {
      loaded.push({
        name: f.thread === 0 ? name : `${name} thread ${f.thread}`,
        file: f.path,
        profile: JSON.parse(readFileSync(f.path, 'utf8')) as CpuProfile,
      });
    }
  }
  if (bench) loaded.push({ name: 'bench', file: join(dirs.bench, `bench.${process.pid}.cpuprofile`), profile: bench });
  const resolveLocation = tsxResolver(loaded.flatMap((l) => l.profile.nodes.map((n) => n.callFrame)));
  const out: Record<string, { file: string; summary: ProfileSummary } | string> = {};
  for (const name of ['worker', 'api'])
    if (!loaded.some((l) => l.name === name)) out[name] = `no profile written (the process ended: ${exits[name]})`;
  for (const l of loaded) {
    const summary = summariseProfile(l.profile, {
      root: resolve(__dirname, '..', '..'),
      top: 20,
      resolve: resolveLocation,
      ...(window ? { from: toMonotonic(window.from), to: toMonotonic(window.to) } : {}),
    });
    // A thread that did nothing in the campaign (all idle) is left out.
    if (summary.samples === 0 || summary.idle_percent >= 99.5) continue;
    out[l.name] = { file: l.file, summary };
    console.error(`\n${formatSummary(`${l.name} (${l.file}), accepted → COMPLETED`, summary)}`);
  }
  return { window: 'accepted → COMPLETED', exits, profiles: out };
}

/**
 * The engine's SES calls in flight at most: batches sending at once (MAX_CONCURRENT_BATCHES, the
 * bench's --parallel) × each send chunk's own concurrency, read from the worker's composition root.
 */
function engineSesConcurrency(config: Awaited<ReturnType<typeof startPlatform>>['config'], parallel: number): number {
  const { deps, close } = activityDepsFromConfig(config);
  close();
  return parallel * deps.settings.sendConcurrency;
}

type Window = [from: number, to: number];

/**
 * The worker's and API's DynamoDB totals over each window: requests per message (per Open event
 * for the event load), by operation and by process, the items written by kind, and the most
 * written keys, the same key's writes in both processes summed.
 */
function dynamoFigures(
  logs: Record<'worker' | 'api', ReturnType<typeof parseLog>>,
  windows: Record<'accept' | 'ingest' | 'send' | 'events' | 'campaign' | 'event_load', Window>,
  messages: number,
  loadEvents: number,
) {
  const at = (lines: ReturnType<typeof parseLog>, t: number) => countsAt(lines, t, REQUEST_LOG_FLUSH_MS);
  const over = ([from, to]: Window) => {
    const worker = subtractCounts(at(logs.worker, to), at(logs.worker, from));
    const api = subtractCounts(at(logs.api, to), at(logs.api, from));
    return { worker, api, all: addCounts(worker, api) };
  };
  const hot = (c: Counts, by: number, unit: string, count: number) =>
    hottestKeys(c, count).map((k) => ({ ...k, [`writes_per_1000_${unit}s`]: round((k.writes / by) * 1000, 1) }));
  /** One window's figures, each divided by `by` (messages, or the event load's events). */
  const describe = (window: Window, by: number, unit: 'message' | 'event') => {
    const { worker, api, all } = over(window);
    const perUnit = (c: Counts) => ratio(totalRequests(c), by);
    return {
      seconds: round((window[1] - window[0]) / 1000, 2),
      requests: Math.round(totalRequests(all)),
      [`requests_per_${unit}`]: perUnit(all),
      [`requests_per_${unit}_by_process`]: { worker: perUnit(worker), api: perUnit(api) },
      [`requests_per_${unit}_by_operation`]: per(all.requests, by),
      [`failed_requests_per_${unit}_by_operation`]: per(all.errors, by),
      [`items_written_per_${unit}`]: ratio(all.items_written, by),
      // PK prefix / SK prefix, e.g. BATCH/MESSAGE for a message, TRANSACTION/METADATA for the campaign record.
      [`items_written_per_${unit}_by_kind`]: per(all.writes_by_kind, by),
      top_items: hot(all, by, unit, 3),
    };
  };
  const phases = ['accept', 'ingest', 'send', 'events', 'campaign'] as const;
  const perMessage = (name: (typeof phases)[number]) => ratio(totalRequests(over(windows[name]).all), messages);
  const campaign = over(windows.campaign).all;
  return {
    requests_per_message: {
      overall: perMessage('campaign'),
      accept: perMessage('accept'),
      ingest: perMessage('ingest'),
      send: perMessage('send'),
      events: perMessage('events'),
    },
    requests_per_event_load_event: ratio(totalRequests(over(windows.event_load).all), loadEvents),
    hottest_item: hot(campaign, messages, 'message', 1)[0] as
      { key: string; kind: string; writes: number; writes_per_1000_messages: number } | undefined,
    detail: {
      by_phase: {
        ...Object.fromEntries(phases.map((name) => [name, describe(windows[name], messages, 'message')])),
        event_load: describe(windows.event_load, loadEvents, 'event'),
      },
      campaign_top_items: hot(campaign, messages, 'message', 10),
      // Per process (a key both wrote counts in each); the logs hold no per-window figure for it.
      distinct_keys_written_at_end: {
        worker: logs.worker.at(-1)?.distinct_keys_written ?? 0,
        api: logs.api.at(-1)?.distinct_keys_written ?? 0,
      },
      log_lines: { worker: logs.worker.length, api: logs.api.length },
    },
  };
}

/** Event posts sent again after their connection failed (the last event load's). */
let connectionRetries = 0;

/** Signed Open events for already-sent messages, posted 32 at a time: what the endpoint absorbs. */
async function eventLoad(
  platform: Awaited<ReturnType<typeof startPlatform>>,
  transactionId: string,
  count: number,
): Promise<{ perS: number; events: number; started: number; ended: number }> {
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
  const ended = Date.now();
  return { perS: bodies.length / ((ended - started) / 1000), events: bodies.length, started, ended };
}

main().catch((error) => {
  console.error('\n', error);
  process.exit(1);
});
