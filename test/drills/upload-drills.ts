// Drills of issue 13 items 4 and 5 (`npm run drills -- --only template-bomb|mutated-upload`;
// short versions in test/e2e/template-bomb.e2e.test.ts and test/e2e/upload-pinning.e2e.test.ts,
// which run the same scenarios on the shared test stack):
//   template-bomb  – tenant B confirms the issue's template (a 100 KB literal inside a loop of
//                    2,000, the bound taken from the CSV so confirm cannot see it; the literal
//                    bound is refused at confirm with 422 RENDER_TOO_LARGE) and starts a campaign;
//                    tenant A's campaign on the same worker completes at the rate it has alone
//                    (the long version also times it beside an ordinary campaign of B's as large);
//                    every bomb message ends FAILED with RENDER_TOO_LARGE, none is mailed, no send
//                    activity fails or retries, the worker stays up; its peak RSS is reported.
//   mutated-upload – after confirm the template is replaced through its presigned URL (larger
//                    than the limit, a syntax error, a new placeholder, a literal loop bomb), and
//                    after the campaign started the CSV is replaced (other recipients, another
//                    header): the campaign sends what was confirmed, every valid recipient once,
//                    nobody from the replacement; a later campaign of the same file pins and
//                    sends the file as it is by then.
import { mkdtempSync, createWriteStream, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Email } from 'aws-ses-v2-local/dist/store';
import type { Config } from '../../src/config';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { Store } from '../../src/adapters/dynamo/store';
import { batchWorkflowId } from '../../src/contracts';
import { MAX_RENDERED_PART_BYTES } from '../../src/domain/template';
import { seedTenant } from '../../src/local/dev-tenant';
import { temporalConnectionOptions } from '../../src/temporal-connection';
import { apiClient, header, waitForStatus, type ApiClient } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';

/** What the scenarios drive: an engine with two tenants on the same workers. */
export interface UploadDrillContext {
  config: Config;
  apiUrl: string;
  /** Each tenant's key and its sender identities (a domain each: they send as sender@<domain>). */
  a: DrillTenant;
  b: DrillTenant;
  /** The worker process, when it is one: its resident memory is sampled during the drill. */
  workerPid?: number;
  /** Says if the worker or the API ended on its own. */
  engineError?: () => string | undefined;
}

type DrillTenant = { apiKey: string; senders: readonly string[] };
/** An address the tenant may send from: at its first sender domain. */
const senderOf = (tenant: DrillTenant) => `sender@${tenant.senders[0]}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(what);
};

const tag = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// ---- uploads as a client does them, keeping the presigned URLs (valid until they expire) ----

interface Upload {
  id: string;
  /** PUTs `body` through the presigned URL, as the tenant may until it expires. */
  put(body: string | Buffer): Promise<void>;
}

async function presigned(api: ApiClient, path: string, body: Record<string, unknown>, idField: string): Promise<Upload> {
  const created = await api.post(path, body);
  check(created.status === 201, `${path}: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  const { upload_url: url, headers } = created.body as { upload_url: string; headers: Record<string, string> };
  return {
    id: created.body[idField] as string,
    async put(content) {
      const res = await fetch(url, { method: 'PUT', headers, body: content });
      check(res.ok, `upload through the presigned URL: HTTP ${res.status} ${await res.text()}`);
    },
  };
}

const presignTemplate = (api: ApiClient, subject: string, from: string) =>
  presigned(api, '/api/v1/templates/presigned-url', { name: 'drill', subject, from }, 'template_id');
const presignCsv = (api: ApiClient) =>
  presigned(api, '/api/v1/files/presigned-url', { file_name: 'recipients.csv', content_type: 'text/csv' }, 'file_id');

async function confirmedTemplate(
  api: ApiClient,
  subject: string,
  html: string,
  from: string,
): Promise<{ upload: Upload; placeholders: string[] }> {
  const upload = await presignTemplate(api, subject, from);
  await upload.put(html);
  const res = await api.post(`/api/v1/templates/${upload.id}/confirm`);
  check(res.status === 200, `confirm: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { upload, placeholders: res.body.placeholders as string[] };
}

async function startCampaign(api: ApiClient, body: Record<string, unknown>): Promise<string> {
  const res = await api.post('/api/v1/campaigns', body);
  check(res.status === 202, `campaign start: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.transaction_id as string;
}

// ---- what the checks read ----

async function inbox(config: Config, since: number): Promise<Email[]> {
  const res = await fetch(`${config.SES_ENDPOINT}/store?since=${since - 1}`);
  return ((await res.json()) as { emails: Email[] }).emails;
}

/** The transaction's mail: every recipient exactly once, nobody else. */
async function mailedOnce(config: Config, since: number, transactionId: string, recipients: string[]): Promise<Email[]> {
  const mails = (await inbox(config, since)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);
  const per = new Map<string, number>();
  for (const m of mails) for (const to of m.destination.to) per.set(to.toLowerCase(), (per.get(to.toLowerCase()) ?? 0) + 1);
  const twice = [...per].filter(([, c]) => c > 1);
  check(twice.length === 0, `${twice.length} recipients mailed more than once, e.g. ${twice[0]?.join(' ×')}`);
  const missing = recipients.filter((r) => !per.has(r));
  check(missing.length === 0, `${missing.length} of ${recipients.length} recipients never mailed, e.g. ${missing[0]}`);
  check(per.size === recipients.length, `${per.size} addresses mailed for ${recipients.length} recipients`);
  return mails;
}

/** Every message of the transaction with `status`, through the API's pages. */
async function messagesWith(api: ApiClient, id: string, status: string): Promise<Record<string, any>[]> {
  const out: Record<string, any>[] = [];
  let cursor: string | undefined;
  do {
    const res = await api.get(`/api/v1/campaigns/${id}/messages?status=${status}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    check(res.status === 200, `messages: HTTP ${res.status}`);
    out.push(...(res.body.items as Record<string, any>[]));
    cursor = res.body.next_cursor ?? undefined;
  } while (cursor);
  return out;
}

/** Seconds from READY_TO_SEND to SENT in the transaction's history: how long it took to send. */
function sendingSeconds(final: Record<string, any>): number {
  const at = (s: string) =>
    Date.parse((final.status_history as { status: string; timestamp: string }[]).find((h) => h.status === s)!.timestamp);
  return (at('SENT') - at('READY_TO_SEND')) / 1000;
}

/** Send activity attempts that failed (retried, or for good) over the transaction's batch workflows. */
export async function sendActivityRetries(config: Config, transactionId: string, batchCount: number): Promise<number> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  try {
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    let retries = 0;
    for (let n = 1; n <= batchCount; n++) {
      const history = await client.workflow.getHandle(batchWorkflowId(transactionId, n)).fetchHistory();
      for (const e of history.events ?? []) {
        // A retried attempt leaves no event of its own: the started event of the one that ended
        // carries its attempt number. An activity that ended failed or timed out counts too.
        retries += Math.max(0, (e.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
        if (e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes) retries += 1;
      }
    }
    return retries;
  } finally {
    await connection.close();
  }
}

// ---- the worker's memory ----

const procStatusMb = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/** Samples the worker's VmRSS every 100 ms; `stop` gives the peak and the kernel's VmHWM before and after. */
function rssSampler(pid: number | undefined) {
  if (pid === undefined) return { stop: () => undefined };
  const hwmBefore = procStatusMb(pid, 'VmHWM');
  const rssBefore = procStatusMb(pid, 'VmRSS');
  let peak = rssBefore;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procStatusMb(pid, 'VmRSS'));
    } catch {
      // the process is gone: engineError says so
    }
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      const r = (n: number) => Math.round(n * 10) / 10;
      return { rssBefore: r(rssBefore), peakRss: r(peak), hwmBefore: r(hwmBefore), hwmAfter: r(procStatusMb(pid, 'VmHWM')) };
    },
  };
}

// ---- template-bomb ----

/** The issue's template: 100,000 literal characters inside a loop (2,000 times: 200 MB per recipient). */
export const bombHtml = (bound: string) => `<p>Hi {{ first_name }}</p>{% for a in (1..${bound}) %}${'x'.repeat(100_000)}{% endfor %}`;

export interface BombResult {
  line: string;
  baselineSeconds: number;
  concurrentSeconds: number;
  controlSeconds?: number;
  bombFailed: number;
  retries: number;
  memory?: { rssBefore: number; peakRss: number; hwmBefore: number; hwmAfter: number };
}

export async function templateBomb(
  ctx: UploadDrillContext,
  opts: {
    recipients: number;
    bombRecipients: number;
    perMinute: number;
    /** Also measure tenant A beside an ordinary campaign of tenant B of the same size: what sharing costs anyway. */
    control?: boolean;
    timeoutMs?: number;
  },
): Promise<BombResult> {
  const a = apiClient(ctx.apiUrl, ctx.a.apiKey);
  const b = apiClient(ctx.apiUrl, ctx.b.apiKey);
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const run = tag();

  // What can be refused before any recipient is: the literal loop, with where it is.
  const literal = await presignTemplate(b, 'Hi {{ first_name }}', senderOf(ctx.b));
  await literal.put(bombHtml('2000'));
  const refused = await b.post(`/api/v1/templates/${literal.id}/confirm`);
  check(
    refused.status === 422 && refused.body.error?.code === 'RENDER_TOO_LARGE',
    `the literal bomb at confirm: HTTP ${refused.status} ${JSON.stringify(refused.body).slice(0, 300)}`,
  );
  const column = bombHtml('2000').indexOf('{% for') + 1;
  check(
    JSON.stringify(refused.body.error.details) === JSON.stringify({ part: 'html', line: 1, column }),
    `details ${JSON.stringify(refused.body.error.details)}`,
  );
  // The same template with its bound from the recipient data passes: only rendering can stop it.
  const bomb = await confirmedTemplate(b, 'Hi {{ first_name }}', bombHtml('times'), senderOf(ctx.b));
  check(JSON.stringify(bomb.placeholders) === '["first_name","times"]', `bomb placeholders ${bomb.placeholders.join(',')}`);

  const plain = await confirmedTemplate(a, 'Hello {{ first_name }}', '<p>Hello {{ first_name }}</p>', senderOf(ctx.a));
  const aCampaign = async (label: string) => {
    const recipients = Array.from({ length: opts.recipients }, (_, i) => `a${label}${run}x${i}@example.com`);
    const csv = await presignCsv(a);
    await csv.put(['email,first_name', ...recipients.map((r, i) => `${r},A${i}`)].join('\n'));
    return { recipients, body: { template_id: plain.upload.id, file_id: csv.id, throttle: { emails_per_minute: opts.perMinute } } };
  };
  const finish = async (id: string, recipients: string[], since: number) => {
    const final = await waitForStatus(a, id, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs);
    check(final.status === 'COMPLETED', `tenant A's campaign ended ${final.status}: ${final.reason}`);
    check(final.counts.sent === recipients.length && final.counts.failed === 0, `tenant A's counts ${JSON.stringify(final.counts)}`);
    await mailedOnce(ctx.config, since, id, recipients);
    return final;
  };
  /** Checked last, so that a counter problem does not hide what the drill is about. */
  const deliveredExact = (final: Record<string, any>, what: string) =>
    check(final.counts.delivered === final.counts.sent, `${what}: delivered ${final.counts.delivered} of ${final.counts.sent} sent`);

  // Tenant A alone: the rate to hold.
  const alone = await aCampaign('alone');
  const aloneSince = Math.floor(Date.now() / 1000);
  const aloneId = await startCampaign(a, alone.body);
  const aloneFinal = await finish(aloneId, alone.recipients, aloneSince);
  const baseline = sendingSeconds(aloneFinal);

  // Beside an ordinary campaign of tenant B as large as the bomb: the cost of sharing the worker.
  let control: number | undefined;
  if (opts.control) {
    const ordinary = await confirmedTemplate(b, 'Hi {{ first_name }}', '<p>Hi {{ first_name }}</p>', senderOf(ctx.b));
    const others = Array.from({ length: opts.bombRecipients }, (_, i) => `c${run}x${i}@example.com`);
    const othersCsv = await presignCsv(b);
    await othersCsv.put(['email,first_name', ...others.map((r, i) => `${r},C${i}`)].join('\n'));
    const mine = await aCampaign('control');
    const controlSince = Math.floor(Date.now() / 1000);
    const [othersId, mineId] = await Promise.all([
      startCampaign(b, { template_id: ordinary.upload.id, file_id: othersCsv.id }),
      startCampaign(a, mine.body),
    ]);
    const [othersFinal, mineFinal] = await Promise.all([
      waitForStatus(b, othersId, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs),
      finish(mineId, mine.recipients, controlSince),
    ]);
    check(othersFinal.status === 'COMPLETED', `tenant B's ordinary campaign ended ${othersFinal.status}`);
    await mailedOnce(ctx.config, controlSince, othersId, others);
    control = sendingSeconds(mineFinal);
  }

  // Then again, with tenant B's bomb starting at the same moment on the same worker.
  const beside = await aCampaign('beside');
  const bombCsv = await presignCsv(b);
  const bombRecipients = Array.from({ length: opts.bombRecipients }, (_, i) => `b${run}x${i}@example.com`);
  await bombCsv.put(['email,first_name,times', ...bombRecipients.map((r, i) => `${r},B${i},2000`)].join('\n'));
  const sampler = rssSampler(ctx.workerPid);
  const since = Math.floor(Date.now() / 1000);
  const started = Date.now();
  const [bombId, besideId] = await Promise.all([
    startCampaign(b, { template_id: bomb.upload.id, file_id: bombCsv.id }),
    startCampaign(a, beside.body),
  ]);
  const [bombFinal, besideFinal] = await Promise.all([
    waitForStatus(b, bombId, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs),
    finish(besideId, beside.recipients, since),
  ]);
  const bombSeconds = (Date.now() - started) / 1000;
  const memory = sampler.stop();
  const concurrent = sendingSeconds(besideFinal);

  check(ctx.engineError?.() === undefined, `the engine did not survive: ${ctx.engineError?.()}`);
  check(bombFinal.status === 'COMPLETED', `the bomb campaign ended ${bombFinal.status}: ${bombFinal.reason}`);
  check(
    bombFinal.counts.sent === 0 && bombFinal.counts.failed === opts.bombRecipients,
    `the bomb campaign's counts ${JSON.stringify(bombFinal.counts)}`,
  );
  const failed = await messagesWith(b, bombId, 'FAILED');
  check(failed.length === opts.bombRecipients, `${failed.length} bomb messages FAILED of ${opts.bombRecipients}`);
  const reason = `renders to more than ${MAX_RENDERED_PART_BYTES} bytes`;
  check(
    failed.every((m) => String(m.failure_reason).includes(reason)),
    `a bomb message failed otherwise: ${failed.find((m) => !String(m.failure_reason).includes(reason))?.failure_reason}`,
  );
  for (const m of failed.slice(0, 5)) {
    const detail = (await b.get(`/api/v1/campaigns/${bombId}/messages/${m.message_id}`)).body;
    const entry = (detail.status_history as { status: string; metadata?: { code?: string } }[]).find((h) => h.status === 'FAILED');
    check(entry?.metadata?.code === 'RENDER_TOO_LARGE', `message ${m.message_id} failed with ${entry?.metadata?.code}`);
  }
  const bombMail = (await inbox(ctx.config, since)).filter((e) => header(e, 'X-Transaction-Id') === bombId);
  check(bombMail.length === 0, `${bombMail.length} bomb messages were mailed`);
  const batches = Math.ceil(opts.bombRecipients / ctx.config.BATCH_SIZE);
  // The bomb's chunks never fail: each message fails, the attempt goes on. (Tenant A's may, on an
  // SES hiccup, and are retried as they should be; they are reported, not required to be none.)
  const retries = await sendActivityRetries(ctx.config, bombId, batches);
  const besideRetries = await sendActivityRetries(ctx.config, besideId, Math.ceil(opts.recipients / ctx.config.BATCH_SIZE));
  check(retries === 0, `${retries} send activity attempts of the bomb failed or were retried`);
  // Its normal rate: sending beside the bomb takes no longer than alone, give or take scheduling noise.
  check(
    concurrent <= baseline * 1.5 + 3,
    `tenant A sent in ${concurrent} s beside the bomb, ${baseline} s alone (throttle ${opts.perMinute}/min)`,
  );
  deliveredExact(aloneFinal, "tenant A's campaign alone");
  deliveredExact(besideFinal, "tenant A's campaign beside the bomb");
  const rate = (s: number) => Math.round(opts.recipients / Math.max(s, 0.001));
  const mem = memory
    ? `; worker RSS ${memory.rssBefore} MB before, peak ${memory.peakRss} MB during (VmHWM ${memory.hwmBefore} → ${memory.hwmAfter} MB), ` +
      `old-space cap 200 MB`
    : '';
  return {
    baselineSeconds: baseline,
    concurrentSeconds: concurrent,
    controlSeconds: control,
    bombFailed: failed.length,
    retries,
    memory,
    line:
      `literal bomb refused at confirm (422 RENDER_TOO_LARGE, html line 1 column ${column}); data-bound bomb confirmed; ` +
      `${opts.bombRecipients} bomb messages FAILED with RENDER_TOO_LARGE in ${Math.round(bombSeconds)} s, none mailed, ` +
      `0 send activity retries (tenant A's beside it: ${besideRetries}); tenant A's ${opts.recipients} at ${opts.perMinute}/min sent in ${concurrent} s beside it ` +
      `(${rate(concurrent)}/s) vs ${baseline} s alone (${rate(baseline)}/s)` +
      (control !== undefined ? ` and ${control} s beside an ordinary ${opts.bombRecipients}-recipient campaign (${rate(control)}/s)` : '') +
      `, each once${mem}`,
  };
}

// ---- mutated-upload ----

export interface MutatedResult {
  line: string;
  mailed: number;
}

export async function mutatedUpload(ctx: UploadDrillContext, opts: { recipients: number; timeoutMs?: number }): Promise<MutatedResult> {
  const api = apiClient(ctx.apiUrl, ctx.a.apiKey);
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const run = tag();

  // The template: confirmed, then replaced through the same presigned URL by everything confirm
  // would have refused: over the size limit, a syntax error, a new placeholder, a literal bomb.
  const { upload: template, placeholders } = await confirmedTemplate(
    api,
    'Hi {{ first_name }}',
    '<p>Confirmed {{ first_name }}</p>',
    senderOf(ctx.a),
  );
  const swappedTemplate =
    `<p>SWAPPED {{ coupon }}</p>{% if unclosed %}{% for a in (1..2000) %}${'x'.repeat(100_000)}{% endfor %}` +
    'y'.repeat(Math.max(0, ctx.config.MAX_TEMPLATE_BYTES + 1024 - 100_000));
  await template.put(swappedTemplate);
  const again = await api.post(`/api/v1/templates/${template.id}/confirm`);
  check(
    again.status === 200 && JSON.stringify(again.body.placeholders) === JSON.stringify(placeholders),
    `confirm after the replacement: HTTP ${again.status} ${JSON.stringify(again.body).slice(0, 300)}`,
  );

  // The CSV: some invalid rows; replaced right after the campaign starts by other recipients
  // under another header.
  const recipients: string[] = [];
  const lines = ['email,first_name'];
  for (let i = 0; i < opts.recipients; i++) {
    if (i % 10 === 9) {
      lines.push(`not-an-address-${i},Bad`);
      continue;
    }
    const email = `kept${run}x${i}@example.com`;
    recipients.push(email);
    lines.push(`${email},K${i}`);
  }
  const csv = await presignCsv(api);
  await csv.put(lines.join('\n'));
  const swappedRecipients = Array.from({ length: opts.recipients * 2 }, (_, i) => `swapped${run}x${i}@example.com`);
  const swappedCsv = ['email,coupon', ...swappedRecipients.map((r) => `${r},FREE`)].join('\n');

  const since = Math.floor(Date.now() / 1000);
  const id = await startCampaign(api, { template_id: template.id, file_id: csv.id });
  await csv.put(swappedCsv);
  const final = await waitForStatus(api, id, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs);
  check(final.status === 'COMPLETED', `campaign ended ${final.status}: ${final.reason}`);
  const invalid = opts.recipients - recipients.length;
  check(
    final.counts.sent === recipients.length &&
      final.counts.failed === 0 &&
      final.counts.invalid === invalid &&
      final.progress.total_messages === recipients.length,
    `counts ${JSON.stringify(final.counts)}, total ${final.progress.total_messages}; expected ${recipients.length} sent, ${invalid} invalid`,
  );
  const mails = await mailedOnce(ctx.config, since, id, recipients);
  const wrong = mails.filter((m) => !/^<p>Confirmed K\d+<\/p>$/.test(m.body.html ?? ''));
  check(wrong.length === 0, `${wrong.length} mails not from the confirmed template, e.g. ${wrong[0]?.body.html?.slice(0, 80)}`);
  const swappedSet = new Set(swappedRecipients);
  const strays = (await inbox(ctx.config, since)).filter((e) => e.destination.to.some((to) => swappedSet.has(to.toLowerCase())));
  check(strays.length === 0, `${strays.length} mails to recipients of the replacement CSV`);

  // A campaign started from the same file later pins the file as it is then.
  const later = [`later${run}@example.com`];
  await csv.put(`email,first_name\n${later[0]},L0\n`);
  const laterSince = Math.floor(Date.now() / 1000);
  const laterId = await startCampaign(api, { template_id: template.id, file_id: csv.id });
  const laterFinal = await waitForStatus(api, laterId, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs);
  check(laterFinal.status === 'COMPLETED' && laterFinal.counts.sent === 1, `the later campaign: ${JSON.stringify(laterFinal.counts)}`);
  const [laterMail] = await mailedOnce(ctx.config, laterSince, laterId, later);
  check(laterMail!.body.html === '<p>Confirmed L0</p>', `the later campaign's mail: ${laterMail!.body.html}`);
  check(ctx.engineError?.() === undefined, `the engine did not survive: ${ctx.engineError?.()}`);
  check(final.counts.delivered === recipients.length, `delivered ${final.counts.delivered} of ${recipients.length} sent`);

  return {
    mailed: mails.length,
    line:
      `template replaced after confirm (${Buffer.byteLength(swappedTemplate)} bytes, a syntax error, a new placeholder, a literal bomb): ` +
      `confirm again answers the confirmed placeholders; CSV replaced right after the start (${swappedRecipients.length} other recipients, another header): ` +
      `${recipients.length} valid recipients each mailed once from the confirmed template, ${invalid} invalid, none of the replacement mailed; ` +
      `a later campaign of the same file sent the file as uploaded by then`,
  };
}

// ---- the long versions, each on a platform of its own ----

export const DRILL_TENANT_B = {
  tenantId: 'drill-b',
  apiKey: 'drill-b-key-0123456789abcdef',
  webhookSecret: 'whsec_ZHJpbGwtYi1zZWNyZXQtMDEyMzQ1Njc4OQ==',
  // A domain of its own: the bench tenant (A) holds example.com.
  senders: ['drill-b.example'],
};

async function uploadPlatform<T>(fn: (ctx: UploadDrillContext) => Promise<T>): Promise<T> {
  const logDir = mkdtempSync(join(tmpdir(), 'email-engine-drill-logs-'));
  const logs = { worker: createWriteStream(join(logDir, 'worker.log')), api: createWriteStream(join(logDir, 'api.log')) };
  const platform = await startPlatform(
    {
      SEND_RATE_PER_SECOND: '2000',
      SEND_CHUNK_SIZE: '50',
      BATCH_SIZE: '1000',
      MAX_CONCURRENT_BATCHES: '4',
      SENDING_GRACE_SECONDS: '10',
      FINAL_STATE_DEADLINE_SECONDS: '1200',
      OUTCOME_POLL_SECONDS: '10',
      WEBHOOK_TIMEOUT_MS: '5000',
    },
    { processes: true, echo: (name, chunk) => logs[name].write(chunk) },
  );
  try {
    const aws = createAwsClients(platform.config);
    await seedTenant(new Store(aws.doc, platform.config.DYNAMODB_TABLE), DRILL_TENANT_B, 'drill tenant B');
    destroyAwsClients(aws);
    return await fn({
      config: platform.config,
      apiUrl: platform.apiUrl,
      a: BENCH_TENANT,
      b: DRILL_TENANT_B,
      workerPid: platform.pids!.worker,
      engineError: platform.engineError,
    });
  } catch (error) {
    throw new Error(`${(error as Error).message} (process logs in ${logDir})`);
  } finally {
    await platform.stop();
    logs.worker.end();
    logs.api.end();
    await sleep(0);
  }
}

export const templateBombDrill = () =>
  uploadPlatform(async (ctx) => (await templateBomb(ctx, { recipients: 3000, bombRecipients: 5000, perMinute: 6000, control: true })).line);

export const mutatedUploadDrill = () => uploadPlatform(async (ctx) => (await mutatedUpload(ctx, { recipients: 3000 })).line);
