// Reliability drills of issue #7 that hit the engine's own processes and its event endpoint
// (`npm run drills`; short versions in test/e2e/worker-kill.e2e.test.ts and
// test/e2e/drills.e2e.test.ts, which run the same scenarios on the shared test stack):
//   worker-kill   – a worker process is SIGKILLed (1) while it ingests a large CSV, (2) while it
//                   sends, (3) while the batches wait for delivery events (held back until a new
//                   worker is up); each time a new worker process picks the campaign up.
//   two-instances – two workers and two API processes; one campaign started twice at the same
//                   moment with one Idempotency-Key, once through each API.
//   event-abuse   – every SES event posted twice with new SNS ids, some redelivered verbatim,
//                   plus events for unknown messages, all shuffled and posted as one burst,
//                   32 at a time: no 5xx, each event applied exactly once, counts exact.
// Every scenario ends with the same checks: COMPLETED; every valid recipient mailed exactly once
// (the SES emulator's inbox, by X-Transaction-Id); counts exact; every status webhook delivered,
// signed and in order, the last one COMPLETED with the final counts.
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, type WriteStream } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { Email } from 'aws-ses-v2-local/dist/store';
import type { Config } from '../../src/config';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { createTables, type Tables } from '../../src/adapters/dynamo/tables';
import { batchId, transactionWorkflowId } from '../../src/contracts';
import { temporalConnectionOptions } from '../../src/temporal-connection';
import { sesEventsFor, startEventSource, type EventSource } from '../../src/local/event-source';
import { freePort } from '../../src/local/ports';
import { startProcess, stopProcess } from '../../src/local/processes';
import type { SnsSigner } from '../../src/local/sns-signer';
import { apiClient, header, startWebhookReceiver, uploadCsv, uploadTemplate, waitForStatus, type ApiClient } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';

export interface Tenant {
  apiKey: string;
  webhookSecret: string;
}

/** The engine as the drills drive it: worker and API processes they can start and kill. */
export interface Engine {
  config: Config;
  /** The first API (in-process or a process); events and campaigns go here unless said otherwise. */
  apiUrl: string;
  tenant: Tenant;
  /** Signs SNS messages the API trusts. */
  signer: SnsSigner;
  liveWorkers(): number;
  /** Starts worker processes until `count` are alive. */
  ensureWorkers(count: number): Promise<void>;
  /** SIGKILLs every live worker process; resolves once they are gone, with how many there were. */
  killWorkers(): Promise<number>;
  /** Starts one more API process; its URL. */
  startApi(): Promise<string>;
  /** Where the processes' stderr goes. */
  logDir: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(what);
};

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Worker and API processes (`workers/main.ts`, `api/main.ts`) on the given configuration.
 * `adoptWorkers` are worker processes someone else started (the platform's) that the drill may kill.
 */
export function processEngine(
  config: Config,
  base: { apiUrl: string; tenant: Tenant; signer: SnsSigner; adoptWorkers?: ChildProcess[]; logDir?: string },
): Engine {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '')])),
  };
  const logDir = base.logDir ?? mkdtempSync(join(tmpdir(), 'email-engine-drill-logs-'));
  const workers: ChildProcess[] = [...(base.adoptWorkers ?? [])];
  const mine: { child: ChildProcess; log: WriteStream }[] = [];
  let started = 0;

  async function spawnProcess(name: 'worker' | 'api', extra: Record<string, string> = {}): Promise<ChildProcess> {
    const log = createWriteStream(join(logDir, `${name}-${++started}.log`));
    const script = name === 'worker' ? 'workers/main.ts' : 'api/main.ts';
    const ready = name === 'worker' ? /worker running/ : /api listening/;
    const child = await startProcess(name, script, { ...env, ...extra }, ready, (chunk) => log.write(chunk), 'echo');
    mine.push({ child, log });
    return child;
  }
  const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

  return {
    config,
    apiUrl: base.apiUrl,
    tenant: base.tenant,
    signer: base.signer,
    logDir,
    liveWorkers: () => workers.filter(alive).length,
    async ensureWorkers(count) {
      const missing = count - workers.filter(alive).length;
      workers.push(...(await Promise.all(Array.from({ length: Math.max(0, missing) }, () => spawnProcess('worker')))));
    },
    async killWorkers() {
      const live = workers.filter(alive);
      await Promise.all(
        live.map(async (child) => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
        }),
      );
      return live.length;
    },
    async startApi() {
      const port = await freePort();
      await spawnProcess('api', { PORT: String(port) });
      return `http://127.0.0.1:${port}`;
    },
    async stop() {
      await Promise.all(mine.map(({ child }) => stopProcess(child)));
      for (const { log } of mine) log.end();
    },
  };
}

/** The drills' own platform: a fresh local stack, worker and API as processes, no event source. */
export async function drillPlatform(overrides: Record<string, string> = {}): Promise<Engine> {
  const logDir = mkdtempSync(join(tmpdir(), 'email-engine-drill-logs-'));
  const logs = { worker: createWriteStream(join(logDir, 'platform-worker.log')), api: createWriteStream(join(logDir, 'platform-api.log')) };
  const platform = await startPlatform(
    {
      SEND_RATE_PER_SECOND: '2000',
      SEND_CHUNK_SIZE: '50',
      BATCH_SIZE: '1000',
      MAX_CONCURRENT_BATCHES: '4',
      SENDING_GRACE_SECONDS: '10',
      FINAL_STATE_DEADLINE_SECONDS: '1200',
      OUTCOME_POLL_SECONDS: '30',
      WEBHOOK_TIMEOUT_MS: '5000',
      ...overrides,
    },
    { processes: true, connectEvents: false, echo: (name, chunk) => logs[name].write(chunk) },
  );
  const engine = processEngine(platform.config, {
    apiUrl: platform.apiUrl,
    tenant: BENCH_TENANT,
    signer: platform.events.signer,
    adoptWorkers: [platform.children!.worker],
    logDir,
  });
  return {
    ...engine,
    async stop() {
      await engine.stop();
      await platform.stop();
      logs.worker.end();
      logs.api.end();
    },
  };
}

// ---- one campaign, start to checks ----

const FULL_RUN = ['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED'];

interface Run {
  id: string;
  api: ApiClient;
  hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
  /** Epoch second the campaign was started in (the SES inbox is read from there). */
  since: number;
  startedAt: number;
  recipients: string[];
}

/** The local SES event source, posting to the engine's first API; `since` also publishes mail sent before it started. */
function eventSource(engine: Engine, since?: number, apiUrl = engine.apiUrl): Promise<EventSource> {
  return startEventSource({
    sesEndpoint: engine.config.SES_ENDPOINT!,
    targetUrl: `${apiUrl}/api/v1/events/ses`,
    signer: engine.signer,
    pollMs: 200,
    since,
  });
}

async function upload(engine: Engine, api: ApiClient, rows: string[]) {
  const templateId = await uploadTemplate(api, { subject: 'Drill {{ name }}', html: '<p>Hello {{ name }}</p>' });
  const fileId = await uploadCsv(api, ['email,name', ...rows].join('\n'));
  const hooks = await startWebhookReceiver(engine.tenant.webhookSecret);
  return { templateId, fileId, hooks };
}

async function launch(engine: Engine, rows: string[], recipients: string[], extra: Record<string, unknown> = {}): Promise<Run> {
  const api = apiClient(engine.apiUrl, engine.tenant.apiKey);
  const { templateId, fileId, hooks } = await upload(engine, api, rows);
  const since = Math.floor(Date.now() / 1000);
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, callback_url: hooks.url, ...extra });
  check(res.status === 202, `campaign start: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.transaction_id as string, api, hooks, since, startedAt: Date.now(), recipients };
}

const status = async (run: Run) => (await run.api.get(`/api/v1/campaigns/${run.id}/status`)).body;

async function inbox(config: Config, since: number): Promise<Email[]> {
  const res = await fetch(`${config.SES_ENDPOINT}/store?since=${since - 1}`);
  return ((await res.json()) as { emails: Email[] }).emails;
}

/** Every recipient of the run mailed exactly once by this transaction, and nobody else. */
async function exactlyOnce(engine: Engine, run: Run): Promise<Email[]> {
  const mails = (await inbox(engine.config, run.since)).filter((e) => header(e, 'X-Transaction-Id') === run.id);
  const per = new Map<string, number>();
  for (const m of mails) for (const to of m.destination.to) per.set(to.toLowerCase(), (per.get(to.toLowerCase()) ?? 0) + 1);
  const twice = [...per].filter(([, c]) => c > 1);
  check(
    twice.length === 0,
    `${twice.length} recipients mailed more than once, e.g. ${twice
      .slice(0, 3)
      .map(([to, c]) => `${to} ×${c}`)
      .join(', ')}`,
  );
  const missing = run.recipients.filter((r) => !per.has(r));
  check(
    missing.length === 0,
    `${missing.length} of ${run.recipients.length} recipients never mailed, e.g. ${missing.slice(0, 3).join(', ')}`,
  );
  check(per.size === run.recipients.length, `${per.size} addresses mailed for ${run.recipients.length} recipients`);
  return mails;
}

/** Status webhooks: each status once (retries share a webhook-id and are dropped), in order, signed. */
async function webhooksInOrder(run: Run, expected = FULL_RUN): Promise<{ duplicates: number; completed: Record<string, any> }> {
  await until(
    'the COMPLETED webhook',
    async () => (run.hooks.received.some((h) => h.json.status === 'COMPLETED') ? true : undefined),
    120_000,
  );
  const byId = new Map<string, string>();
  const order: string[] = [];
  let duplicates = 0;
  for (const h of run.hooks.received) {
    const id = String(h.headers['webhook-id']);
    const known = byId.get(id);
    if (known !== undefined) {
      check(known === h.json.status, `webhook ${id} carried ${known} and then ${h.json.status}`);
      duplicates += 1;
      continue;
    }
    byId.set(id, h.json.status);
    order.push(h.json.status);
  }
  check(JSON.stringify(order) === JSON.stringify(expected), `webhooks ${order.join(',')}; expected ${expected.join(',')}`);
  check(
    run.hooks.received.every((h) => h.verified),
    'a webhook signature did not verify',
  );
  return { duplicates, completed: run.hooks.received.find((h) => h.json.status === 'COMPLETED')!.json };
}

interface Expected {
  sent: number;
  invalid?: number;
  delivered?: number;
  bounced?: number;
  complained?: number;
  opened?: number;
  clicked?: number;
}

/** Seconds from ACCEPT to each later status, from the transaction's history: "SENT 40 s, COMPLETED 51 s". */
function timeline(final: Record<string, any>): string {
  const history = final.status_history as { status: string; timestamp: string }[];
  const start = Date.parse(history[0]!.timestamp);
  return history
    .slice(1)
    .filter((h) => ['READY_TO_SEND', 'SENT', 'COMPLETED'].includes(h.status))
    .map((h) => `${h.status} ${Math.round((Date.parse(h.timestamp) - start) / 1000)} s`)
    .join(', ');
}

/** Waits for COMPLETED and runs every final check; the final status body and webhook figures. */
async function completes(engine: Engine, run: Run, expected: Expected, timeoutMs: number) {
  const final = await waitForStatus(run.api, run.id, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs);
  const completedAt = Date.now();
  check(final.status === 'COMPLETED', `campaign ended ${final.status}: ${final.reason}`);
  const want: Record<string, number> = {
    sent: expected.sent,
    failed: 0,
    invalid: expected.invalid ?? 0,
    suppressed: 0,
    delivered: expected.delivered ?? expected.sent,
    bounced: expected.bounced ?? 0,
    complained: expected.complained ?? 0,
    ...(expected.opened !== undefined ? { opened: expected.opened } : {}),
    ...(expected.clicked !== undefined ? { clicked: expected.clicked } : {}),
  };
  const wrong = Object.entries(want).filter(([k, v]) => final.counts[k] !== v);
  check(wrong.length === 0, `counts ${wrong.map(([k, v]) => `${k} ${final.counts[k]} (expected ${v})`).join(', ')}`);
  check(final.progress.total_messages === expected.sent, `total_messages ${final.progress.total_messages}, expected ${expected.sent}`);
  await exactlyOnce(engine, run);
  const hooks = await webhooksInOrder(run);
  const summary = hooks.completed.summary as Record<string, number>;
  check(summary.sent === expected.sent && summary.delivered === want.delivered, `COMPLETED webhook summary ${JSON.stringify(summary)}`);
  return {
    final,
    completedAt,
    seconds: Math.round((completedAt - run.startedAt) / 1000),
    timeline: timeline(final),
    webhookRetries: hooks.duplicates,
  };
}

const runTag = () => `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;

/** Row i is valid with the given share, spread evenly through the file. */
function recipientRows(rows: number, validShare: number, prefix: string) {
  const lines: string[] = [];
  const recipients: string[] = [];
  for (let i = 0; i < rows; i++) {
    if (Math.floor((i + 1) * validShare) > Math.floor(i * validShare)) {
      const email = `${prefix}x${i}@example.com`;
      recipients.push(email);
      lines.push(`${email},N${i}`);
    } else {
      lines.push(`not-an-address-${i},N${i}`);
    }
  }
  return { lines, recipients };
}

async function withTables<T>(config: Config, fn: (tables: Tables) => Promise<T>): Promise<T> {
  const aws = createAwsClients(config);
  try {
    return await fn(createTables(aws.doc, config.DYNAMODB_TABLE));
  } finally {
    destroyAwsClients(aws);
  }
}

/** Row number → created_at of every message stored for the transaction, batch by batch. */
async function storedRows(messages: Tables['messages'], transactionId: string): Promise<Map<number, string>> {
  const rows = new Map<number, string>();
  for (let n = 1; ; n++) {
    let inBatch = 0;
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await messages.pageMessages(transactionId, batchId(n), 1000, cursor);
      for (const m of page.items) rows.set(m.row, m.created_at);
      inBatch += page.items.length;
      cursor = page.cursor;
    } while (cursor);
    if (inBatch === 0) return rows;
  }
}

const secondsSince = (t: number) => Math.round((Date.now() - t) / 100) / 10;

// ---- drill 1: a worker killed with SIGKILL ----

export interface KillResult {
  line: string;
}

/**
 * Kills the worker while the file is read: rows of batch `killBatch` stored, the batch itself not
 * yet (its segment unfinished). With the pipelined start the campaign may be READY_TO_SEND by then,
 * its first batches sending.
 */
export async function killDuringProcessing(
  engine: Engine,
  opts: { rows: number; validShare: number; timeoutMs?: number },
): Promise<KillResult> {
  await engine.ensureWorkers(1);
  const source = await eventSource(engine);
  let started: Run | undefined;
  try {
    const { lines, recipients } = recipientRows(opts.rows, opts.validShare, `ingest${runTag()}`);
    const run = (started = await launch(engine, lines, recipients));
    // Killed once about a quarter of the valid rows are stored: the first message of that batch exists.
    const killBatch = Math.floor(recipients.length / 4 / engine.config.BATCH_SIZE) + 1;
    const atKill = await withTables(engine.config, async ({ messages, batches: stored }) => {
      await until(
        `batch ${killBatch} being stored`,
        async () => {
          const s = await status(run);
          if (s.status === 'SENT' || s.status === 'COMPLETED' || s.status === 'FAILED')
            throw new Error(`ingest ended (${s.status}) before the kill: use a larger file`);
          if (s.status === 'ACCEPT') return undefined;
          return (await messages.pageMessages(run.id, batchId(killBatch), 1)).items.length > 0 ? true : undefined;
        },
        120_000,
        50,
      );
      await engine.killWorkers();
      const killedAt = Date.now();
      // Let writes already on the wire land before looking.
      await sleep(500);
      const batches = await stored.listBatches(run.id);
      const s = await status(run);
      check(
        !batches.some((b) => b.batch_number >= killBatch),
        `the kill came too late: ingest already wrote ${batches.length} batches (status ${s.status})`,
      );
      return { killedAt, rows: await storedRows(messages, run.id) };
    });
    const { killedAt } = atKill;
    await engine.ensureWorkers(1);
    await waitForStatus(run.api, run.id, ['READY_TO_SEND', 'SENT', 'COMPLETED', 'FAILED'], 180_000);
    const resumedIn = secondsSince(killedAt);
    const done = await completes(
      engine,
      run,
      { sent: recipients.length, invalid: opts.rows - recipients.length },
      opts.timeoutMs ?? 600_000,
    );
    check(source.stats().failed === 0, `${source.stats().failed} SES events could not be delivered to the API`);
    // Where the retry resumed: the first row it wrote (rows written before the kill keep their created_at).
    const after = await withTables(engine.config, ({ messages }) => storedRows(messages, run.id));
    const rewritten = [...after].filter(([, at]) => Date.parse(at) >= killedAt).map(([row]) => row);
    const resumedAt = rewritten.length > 0 ? Math.min(...rewritten) : undefined;
    const lastStored = Math.max(0, ...atKill.rows.keys());
    const redone = [...atKill.rows.keys()].filter((row) => Date.parse(after.get(row) ?? '') >= killedAt).length;
    return {
      line:
        `${opts.rows} rows (${recipients.length} valid), killed with ${atKill.rows.size} valid rows stored (up to row ${lastStored}); ` +
        `the retry resumed at row ${resumedAt ?? '(none)'} (${redone} stored rows written again); READY_TO_SEND ${resumedIn} s after the kill; ` +
        `${done.timeline} after ACCEPT; each recipient once${done.webhookRetries ? `, ${done.webhookRetries} webhook retries` : ''}`,
    };
  } finally {
    await source.stop();
    await started?.hooks.close();
  }
}

/** Kills the worker once `killAfterSent` messages are sent, with SES Send events flowing as in production. */
export async function killDuringSending(
  engine: Engine,
  opts: { recipients: number; killAfterSent: number; perMinute: number; timeoutMs?: number },
): Promise<KillResult> {
  await engine.ensureWorkers(1);
  const source = await eventSource(engine);
  let started: Run | undefined;
  try {
    const { lines, recipients } = recipientRows(opts.recipients, 1, `send${runTag()}`);
    const run = (started = await launch(engine, lines, recipients, { throttle: { emails_per_minute: opts.perMinute } }));
    const sentAtKill = await until(
      `${opts.killAfterSent} messages sent`,
      async () => {
        const s = await status(run);
        return s.counts.sent >= opts.killAfterSent ? (s.counts.sent as number) : undefined;
      },
      180_000,
      50,
    );
    await engine.killWorkers();
    const killedAt = Date.now();
    const inboxAtKill = (await inbox(engine.config, run.since)).filter((e) => header(e, 'X-Transaction-Id') === run.id).length;
    check(inboxAtKill < recipients.length, `all ${recipients.length} were mailed before the kill: nothing left to resume`);
    await engine.ensureWorkers(1);
    await waitForStatus(run.api, run.id, ['SENT', 'COMPLETED', 'FAILED'], opts.timeoutMs ?? 300_000);
    const sentIn = secondsSince(killedAt);
    const done = await completes(engine, run, { sent: recipients.length }, opts.timeoutMs ?? 300_000);
    check(source.stats().failed === 0, `${source.stats().failed} SES events could not be delivered to the API`);
    return {
      line:
        `${recipients.length} recipients, killed at ${sentAtKill} sent (${inboxAtKill} in the inbox); SENT ${sentIn} s after the kill; ` +
        `${done.timeline} after ACCEPT; each recipient once${done.webhookRetries ? `, ${done.webhookRetries} webhook retries` : ''}`,
    };
  } finally {
    await source.stop();
    await started?.hooks.close();
  }
}

/**
 * Holds every SES event back (no event source) until the campaign is SENT and its batches wait
 * for outcomes, kills the worker, starts a new one, and only then lets the events flow.
 */
export async function killWhileWaiting(engine: Engine, opts: { recipients: number; timeoutMs?: number }): Promise<KillResult> {
  await engine.ensureWorkers(1);
  const { lines, recipients } = recipientRows(opts.recipients, 1, `wait${runTag()}`);
  const run = await launch(engine, lines, recipients);
  let source: EventSource | undefined;
  try {
    await waitForStatus(run.api, run.id, ['SENT', 'COMPLETED', 'FAILED'], opts.timeoutMs ?? 300_000);
    // The SENT webhook is out (so its activity is not what the kill interrupts).
    await until('the SENT webhook', async () => (run.hooks.received.some((h) => h.json.status === 'SENT') ? true : undefined), 60_000);
    await sleep(1000);
    const before = await status(run);
    check(
      before.status === 'SENT' && before.counts.delivered === 0,
      `not waiting for events at the kill: ${before.status}, ${before.counts.delivered} delivered`,
    );
    await engine.killWorkers();
    const killedAt = Date.now();
    await engine.ensureWorkers(1);
    const releasedAt = Date.now();
    source = await eventSource(engine, run.since);
    // How long the local event source itself takes to post them all, to tell its pace from the engine's.
    const posted = source.flush().then(
      () => secondsSince(releasedAt),
      () => NaN,
    );
    const done = await completes(engine, run, { sent: recipients.length }, opts.timeoutMs ?? 300_000);
    check(source.stats().failed === 0, `${source.stats().failed} SES events could not be delivered to the API`);
    return {
      line:
        `${recipients.length} recipients, killed at SENT with 0 outcomes; events released ${Math.round((releasedAt - killedAt) / 100) / 10} s after the kill, ` +
        `once the new worker was up (${source.stats().posted} posted in ${await posted} s); COMPLETED ${Math.round((done.completedAt - killedAt) / 100) / 10} s after the kill ` +
        `(${done.seconds} s in all), each once${done.webhookRetries ? `, ${done.webhookRetries} webhook retries` : ''}`,
    };
  } finally {
    await source?.stop();
    await run.hooks.close();
  }
}

export async function workerKillDrill(opts: { rows?: number; recipients?: number } = {}): Promise<string> {
  const engine = await drillPlatform();
  const stage = async (name: string, fn: () => Promise<KillResult>) => {
    try {
      return `${name}: ${(await fn()).line}`;
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message} (process logs in ${engine.logDir})`);
    }
  };
  try {
    const n = opts.recipients ?? 3000;
    const a = await stage('PROCESSING', () =>
      killDuringProcessing(engine, { rows: opts.rows ?? 30_000, validShare: 0.2, timeoutMs: 1_200_000 }),
    );
    const b = await stage('sending', () => killDuringSending(engine, { recipients: n, killAfterSent: Math.floor(n / 5), perMinute: 6000 }));
    const c = await stage('waiting', () => killWhileWaiting(engine, { recipients: n }));
    return [a, b, c].join(' | ');
  } finally {
    await engine.stop();
  }
}

// ---- drill 6: two workers, two API instances, one Idempotency-Key ----

/** Two workers and two APIs; the same start request through both at once must be one transaction. */
export async function twoInstances(engine: Engine, opts: { recipients: number; timeoutMs?: number }): Promise<string> {
  const [secondUrl] = await Promise.all([engine.startApi(), engine.ensureWorkers(2)]);
  check(engine.liveWorkers() >= 2, `${engine.liveWorkers()} workers alive`);
  // Events come in through the second API, the campaign through both.
  const source = await eventSource(engine, undefined, secondUrl);
  let closeHooks: () => Promise<void> = async () => undefined;
  try {
    const a = apiClient(engine.apiUrl, engine.tenant.apiKey);
    const b = apiClient(secondUrl, engine.tenant.apiKey);
    const { lines, recipients } = recipientRows(opts.recipients, 1, `twice${runTag()}`);
    const { templateId, fileId, hooks } = await upload(engine, a, lines);
    closeHooks = hooks.close;
    const body = { template_id: templateId, file_id: fileId, callback_url: hooks.url };
    const key = `drill-${randomUUID()}`;
    // Warm both connections so the two starts leave together.
    await Promise.all([a.get('/healthz'), b.get('/healthz')]);
    const since = Math.floor(Date.now() / 1000);
    const answers = await Promise.all([a, b].map((api) => api.post('/api/v1/campaigns', body, { 'Idempotency-Key': key })));
    check(
      answers.every((r) => r.status === 202),
      `answers ${answers.map((r) => `${r.status} ${JSON.stringify(r.body)}`).join('; ')}`,
    );
    const ids = new Set(answers.map((r) => r.body.transaction_id as string));
    check(ids.size === 1, `two transactions for one Idempotency-Key: ${[...ids].join(', ')}`);
    const run: Run = { id: [...ids][0]!, api: a, hooks, since, startedAt: Date.now(), recipients };
    const done = await completes(engine, run, { sent: recipients.length }, opts.timeoutMs ?? 600_000);
    // Nobody was mailed by another transaction either.
    const mine = new Set(recipients);
    const strays = (await inbox(engine.config, since)).filter(
      (e) => e.destination.to.some((to) => mine.has(to.toLowerCase())) && header(e, 'X-Transaction-Id') !== run.id,
    );
    check(strays.length === 0, `${strays.length} mails to these recipients from another transaction`);
    // A client replaying the request once the campaign is over gets it back, and nothing runs again.
    const replay = await lateReplay(engine, run, () => b.post('/api/v1/campaigns', body, { 'Idempotency-Key': key }));
    check(
      replay.status === 202 && replay.body.transaction_id === run.id && replay.body.status === 'COMPLETED',
      `replay: ${replay.status} ${JSON.stringify(replay.body)}`,
    );
    check(source.stats().failed === 0, `${source.stats().failed} SES events could not be delivered to the API`);
    return (
      `2 workers, 2 APIs; the same start through both at once → one transaction (${run.id}); ${recipients.length} recipients each once, ` +
      `${done.timeline} after ACCEPT; a replay after the workflow closed answers COMPLETED and starts nothing`
    );
  } finally {
    await source.stop();
    await closeHooks();
  }
}

/**
 * Replays the start request once the transaction workflow has closed, then checks that no new
 * run of it started (which would ingest and send the whole campaign again) and nobody got a
 * second mail.
 */
async function lateReplay(engine: Engine, run: Run, replay: () => Promise<{ status: number; body: Record<string, any> }>) {
  const client = new Client({
    connection: await Connection.connect(temporalConnectionOptions(engine.config)),
    namespace: engine.config.TEMPORAL_NAMESPACE,
  });
  try {
    const handle = client.workflow.getHandle(transactionWorkflowId(run.id));
    const closed = await until(
      'the transaction workflow to close',
      async () => {
        const d = await handle.describe();
        return d.status.name === 'RUNNING' ? undefined : d;
      },
      120_000,
    );
    const answer = await replay();
    const after = await handle.describe();
    if (after.runId !== closed.runId) {
      await sleep(5000);
      const mails = (await inbox(engine.config, run.since)).filter((e) => header(e, 'X-Transaction-Id') === run.id).length;
      throw new Error(
        `the replay (HTTP ${answer.status}, ${JSON.stringify(answer.body)}) started a new run of ${transactionWorkflowId(run.id)} (${after.status.name}) ` +
          `after the first ended ${closed.status.name}: the campaign runs again; 5 s later ${mails} mails for ${run.recipients.length} recipients`,
      );
    }
    await exactlyOnce(engine, run);
    return answer;
  } finally {
    await client.connection.close();
  }
}

export async function twoInstancesDrill(opts: { recipients?: number } = {}): Promise<string> {
  const engine = await drillPlatform();
  try {
    return await twoInstances(engine, { recipients: opts.recipients ?? 2000 });
  } catch (error) {
    throw new Error(`${(error as Error).message} (process logs in ${engine.logDir})`);
  } finally {
    await engine.stop();
  }
}

// ---- drill 7: the event endpoint under duplicated, shuffled, unknown and bursty input ----

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Recipients whose simulator mailbox decides their events (see src/local/event-source.ts). */
function simulatorRecipients(n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i % 50;
    const local =
      k < 30
        ? `success+d${tag}x${i}`
        : k < 40
          ? `success+open${tag}x${i}`
          : k < 45
            ? `success+click${tag}x${i}`
            : k < 48
              ? `bounce+${tag}x${i}`
              : `complaint+${tag}x${i}`;
    return `${local}@simulator.amazonses.com`;
  });
}

/** One SNS-style POST; fails on a transport error or after SNS's own 15 s delivery timeout. */
function postEvent(agent: HttpAgent, target: string, body: string): Promise<{ status: number; text: string }> {
  const url = new URL(target);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'text/plain; charset=UTF-8',
          'x-amz-sns-message-type': 'Notification',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('no answer within 15 s'), { code: 'TIMEOUT' })));
    req.end(body);
  });
}

export interface AbuseResult {
  line: string;
  posts: number;
  perSecond: number;
  statuses: Record<string, number>;
}

/**
 * The campaign runs with no event source; once it is SENT, every SES event its mail implies is
 * posted twice (new SNS ids), 5% once more verbatim (an SNS redelivery), plus events for unknown
 * messages, all shuffled and posted `concurrency` at a time.
 */
export async function eventAbuse(
  engine: Engine,
  opts: { recipients: number; concurrency?: number; timeoutMs?: number },
): Promise<AbuseResult> {
  await engine.ensureWorkers(1);
  const recipients = simulatorRecipients(opts.recipients, runTag());
  const run = await launch(
    engine,
    recipients.map((r, i) => `${r},N${i}`),
    recipients,
  );
  try {
    await waitForStatus(run.api, run.id, ['SENT', 'COMPLETED', 'FAILED'], opts.timeoutMs ?? 300_000);
    const mails = (await inbox(engine.config, run.since)).filter((e) => header(e, 'X-Transaction-Id') === run.id);
    check(mails.length === recipients.length, `${mails.length} mails for ${recipients.length} recipients`);
    const events = mails.flatMap((m) => sesEventsFor(m));
    const count = (type: string) => events.filter((e) => e.eventType === type).length;
    const notification = (event: unknown) =>
      JSON.stringify(
        engine.signer.sign({
          Type: 'Notification',
          MessageId: randomUUID(),
          TopicArn: engine.signer.topicArn,
          Timestamp: new Date().toISOString(),
          Message: JSON.stringify(event),
        }),
      );
    const unknownEvents = shuffle(events)
      .slice(0, Math.ceil(events.length / 20))
      .map((e, i) => {
        const mail = e.mail as Record<string, unknown>;
        // No ids at all and an SES id nobody has; or our transaction with a message it never had; or a transaction that never was.
        const tags =
          i % 3 === 0
            ? {}
            : i % 3 === 1
              ? { transaction_id: [run.id], batch_id: ['b00001'], message_id: [`b00001-r${String(900_000_000 + i).padStart(9, '0')}`] }
              : { transaction_id: [`01NOTATRANSACTION${i}`], batch_id: ['b00001'], message_id: ['b00001-r000000001'] };
        return { ...e, mail: { ...mail, messageId: `unknown-${randomUUID()}`, tags, headers: [] } };
      });
    const first = events.map(notification);
    const redelivered = first.filter((_, i) => i % 20 === 0);
    const bodies = shuffle([...first, ...events.map(notification), ...redelivered, ...unknownEvents.map(notification)]);

    const statuses: Record<string, number> = {};
    const results: Record<string, number> = {};
    let slowest = 0;
    let next = 0;
    // Fresh keep-alive connections for the burst, as SNS would open them: none left idle from before
    // (signing thousands of messages blocks this process long enough for the API to close an idle one).
    const agent = new HttpAgent({ keepAlive: true, maxSockets: opts.concurrency ?? 32 });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: opts.concurrency ?? 32 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const t = Date.now();
          let code: string;
          try {
            const res = await postEvent(agent, `${engine.apiUrl}/api/v1/events/ses`, body);
            code = String(res.status);
            if (res.status === 200) {
              const result = String((JSON.parse(res.text) as { result?: string }).result);
              results[result] = (results[result] ?? 0) + 1;
            }
          } catch (error) {
            code = `${(error as NodeJS.ErrnoException).code ?? 'error'}: ${(error as Error).message}`;
          }
          statuses[code] = (statuses[code] ?? 0) + 1;
          slowest = Math.max(slowest, Date.now() - t);
        }
      }),
    );
    agent.destroy();
    const seconds = (Date.now() - started) / 1000;
    const perSecond = Math.round(bodies.length / seconds);
    const fiveHundreds = Object.entries(statuses).filter(([code]) => !/^[1-4]\d\d$/.test(code));
    check(fiveHundreds.length === 0, `5xx or failed posts: ${JSON.stringify(statuses)}`);
    check(statuses['200'] === bodies.length, `not every post answered 200: ${JSON.stringify(statuses)}`);
    const duplicates = bodies.length - events.length - unknownEvents.length;
    check(
      results.applied === events.length && results.unknown_message === unknownEvents.length && results.duplicate === duplicates,
      `results ${JSON.stringify(results)}; expected ${events.length} applied, ${duplicates} duplicate, ${unknownEvents.length} unknown_message`,
    );
    const expected: Expected = {
      sent: recipients.length,
      delivered: count('Delivery'),
      bounced: count('Bounce'),
      complained: count('Complaint'),
      opened: count('Open'),
      clicked: count('Click'),
    };
    const done = await completes(engine, run, expected, opts.timeoutMs ?? 300_000);
    return {
      posts: bodies.length,
      perSecond,
      statuses,
      line:
        `${bodies.length} signed posts (${events.length} distinct events ×2, ${redelivered.length} redelivered, ${unknownEvents.length} unknown) ` +
        `absorbed at ${perSecond}/s (${opts.concurrency ?? 32} at a time, slowest ${slowest} ms), all 200, none 5xx; ` +
        `applied ${results.applied}, duplicate ${results.duplicate}, unknown ${results.unknown_message}; COMPLETED ${Math.round((done.completedAt - started) / 1000)} s after the burst began; ` +
        `delivered ${expected.delivered}, bounced ${expected.bounced}, complained ${expected.complained}, opened ${expected.opened}, clicked ${expected.clicked}`,
    };
  } finally {
    await run.hooks.close();
  }
}

export async function eventAbuseDrill(opts: { recipients?: number } = {}): Promise<string> {
  const engine = await drillPlatform();
  try {
    return (await eventAbuse(engine, { recipients: opts.recipients ?? 1000 })).line;
  } catch (error) {
    throw new Error(`${(error as Error).message} (process logs in ${engine.logDir})`);
  } finally {
    await engine.stop();
  }
}
