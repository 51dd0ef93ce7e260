// `npm run drills [-- --only <name>]`: longer reliability drills (issue #7), each on a fresh local
// stack and each ending with the same checks: every valid recipient sent exactly once, counts
// exact, webhooks delivered, signed and in order.
//   webhooks      – the receiver answers 500, then 429, then times out, then recovers: every status
//                   webhook arrives, signed, in order; a later 410 stops that callback.
//   ses-outage    – SES answers TooManyRequests for 30 s mid-send, then recovers.
//   worker-kill   – a worker process SIGKILLed during PROCESSING (30,000-row CSV), during sending,
//                   and while batches wait for delivery events; a new worker picks up each time.
//   two-instances – two workers and two API processes; one campaign started through both at once
//                   with one Idempotency-Key is one transaction.
//   event-abuse   – every SES event posted twice, shuffled, redelivered, plus unknown messages, as
//                   one burst of 5,000+ signed posts 32 at a time: no 5xx, state exact, rate reported.
//   temporal-restart – the Temporal dev server (persistent db file) is SIGKILLed mid-send and
//                   restarted 10 s later on the same port and file.
//   dynamodb-restart – DynamoDB Local (file-backed) is killed mid-ingest and restarted 5 s later.
//   ses-hang      – SES calls hang past the 30 s heartbeat timeout mid-campaign (fault proxy): some
//                   reach SES late (settled by their Send event), some never (sent again after the grace).
//   late-send-events – Send events held back 60 s while the worker is SIGKILLed between SES accepting
//                   and SENT: nothing SES had is sent again (send-drills.ts, short: test/e2e/send-drills).
//   template-bomb – tenant B's template renders 200 MB per recipient: its messages fail with
//                   RENDER_TOO_LARGE, tenant A's campaign beside it keeps its rate; worker peak RSS.
//   mutated-upload – template and CSV replaced through their presigned URLs after confirm and
//                   campaign start: the campaign sends what was confirmed.
//   priority      – a high-priority campaign beside a 50,000-recipient low-priority one, and two
//                   tenants weighted 2 : 1 (priority-drills.ts): first-mail latency and shares.
//   event-webhooks – a 2,000-recipient campaign with an event webhook endpoint whose receiver is
//                   down for 5 minutes mid-campaign (event-webhook-drills.ts): every event once, in order.
// worker-kill, two-instances and event-abuse live in process-drills.ts, the restarts in
// infra-drills.ts; their short versions run in test/e2e (worker-kill, drills, infra-restart).
import { createServer, request as httpRequest } from 'node:http';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import sesServer from 'aws-ses-v2-local';
import { freePort } from '../../src/local/ports';
import { apiClient, header, sesInbox, startWebhookReceiver, uploadCsv, uploadTemplate, waitForStatus } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';
import { eventAbuseDrill, twoInstancesDrill, workerKillDrill } from './process-drills';
import { dynamoRestartDrill, temporalRestartDrill } from './infra-drills';
import { lateSendEventsDrill, sesHangDrill } from './send-drills';
import { mutatedUploadDrill, templateBombDrill } from './upload-drills';
import { priorityDrill } from './priority-drills';
import { eventWebhookDrill } from './event-webhook-drills';

type Result = { drill: string; ok: boolean; detail: string; seconds: number };
const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(what);
};

async function campaignOf(platform: Awaited<ReturnType<typeof startPlatform>>, n: number, extra: Record<string, unknown> = {}) {
  const api = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
  const templateId = await uploadTemplate(api, { subject: 'Drill {{ name }}', html: '<p>{{ name }}</p>' });
  const csv = ['email,name', ...Array.from({ length: n }, (_, i) => `drill${Date.now()}x${i}@example.com,N${i}`)].join('\n');
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(api, csv), ...extra });
  return { api, id: res.body.transaction_id as string };
}

async function exactlyOnce(platform: Awaited<ReturnType<typeof startPlatform>>, id: string, n: number) {
  const mails = (await sesInbox(platform.config)).filter((e) => header(e, 'X-Transaction-Id') === id);
  const per = new Map<string, number>();
  for (const m of mails) per.set(m.destination.to[0]!, (per.get(m.destination.to[0]!) ?? 0) + 1);
  check(per.size === n, `${per.size} of ${n} recipients mailed`);
  check(
    [...per.values()].every((c) => c === 1),
    'a recipient was mailed twice',
  );
}

async function webhookDrill(): Promise<string> {
  const platform = await startPlatform({ WEBHOOK_TIMEOUT_MS: '2000', FINAL_STATE_DEADLINE_SECONDS: '120', OUTCOME_POLL_SECONDS: '5' });
  try {
    // 1st call 500, 2nd 429, 3rd hangs past the timeout, then all good.
    const hooks = await startWebhookReceiver(BENCH_TENANT.webhookSecret, (k) => (k === 0 ? 500 : k === 1 ? 429 : k === 2 ? 0 : 204));
    const { api, id } = await campaignOf(platform, 50, { callback_url: hooks.url });
    const final = await waitForStatus(api, id, ['COMPLETED'], 600_000);
    const deadline = Date.now() + 300_000;
    while (!hooks.received.some((h) => h.json.status === 'COMPLETED') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    const statuses = hooks.received.map((h) => h.json.status);
    check(
      JSON.stringify(statuses) === JSON.stringify(['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']),
      `webhooks ${statuses.join(',')}`,
    );
    check(
      hooks.received.every((h) => h.verified),
      'a webhook signature did not verify',
    );
    check(final.counts.sent === 50 && final.counts.delivered === 50, `counts ${JSON.stringify(final.counts)}`);
    await exactlyOnce(platform, id, 50);
    await hooks.close();
    // A 410 stops the callback: only the first webhook is ever tried.
    let calls = 0;
    const counting = createServer((req, res) => {
      calls += 1;
      req.resume();
      res.statusCode = 410;
      res.end();
    });
    const port = await freePort();
    await new Promise<void>((r) => counting.listen(port, '127.0.0.1', () => r()));
    const second = await campaignOf(platform, 5, { callback_url: `http://127.0.0.1:${port}/gone` });
    await waitForStatus(second.api, second.id, ['COMPLETED'], 300_000);
    check(calls === 1, `410 callback was called ${calls} times`);
    counting.close();
    return `5 webhooks in order after 500/429/timeout, all signed; a 410 callback called once`;
  } finally {
    await platform.stop();
  }
}

async function sesOutageDrill(): Promise<string> {
  const sesPort = await freePort();
  const ses = await sesServer({ host: '127.0.0.1', port: sesPort });
  let outage = false;
  let refused = 0;
  // A fault proxy in front of the real SES emulator: during the outage every send is throttled.
  const proxy = createServer((req, res) => {
    if (outage && req.method === 'POST' && req.url?.startsWith('/v2/email/outbound-emails')) {
      refused += 1;
      req.resume();
      res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' });
      res.end(JSON.stringify({ message: 'Maximum sending rate exceeded.' }));
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: sesPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  const proxyPort = await freePort();
  await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
  const platform = await startPlatform({
    SES_ENDPOINT: `http://127.0.0.1:${proxyPort}`,
    SEND_CHUNK_SIZE: '10',
    FINAL_STATE_DEADLINE_SECONDS: '300',
    OUTCOME_POLL_SECONDS: '5',
  });
  try {
    const { api, id } = await campaignOf(platform, 300, { throttle: { emails_per_minute: 1200 } });
    for (;;) {
      const s = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
      if (s.counts.sent >= 60) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    outage = true;
    await new Promise((r) => setTimeout(r, 30_000));
    outage = false;
    const final = await waitForStatus(api, id, ['COMPLETED'], 600_000);
    check(refused > 0, 'the outage refused nothing');
    check(
      final.counts.sent === 300 && final.counts.failed === 0 && final.counts.delivered === 300,
      `counts ${JSON.stringify(final.counts)}`,
    );
    await exactlyOnce(platform, id, 300);
    return `${refused} sends throttled during a 30 s outage; all 300 sent once, none failed`;
  } finally {
    await platform.stop();
    proxy.close();
    ses.close();
  }
}

const DRILLS: Record<string, () => Promise<string>> = {
  webhooks: webhookDrill,
  'ses-outage': sesOutageDrill,
  'worker-kill': () => workerKillDrill(),
  'two-instances': () => twoInstancesDrill(),
  'event-abuse': () => eventAbuseDrill(),
  'temporal-restart': () => temporalRestartDrill(),
  'dynamodb-restart': () => dynamoRestartDrill(),
  'ses-hang': () => sesHangDrill(),
  'late-send-events': () => lateSendEventsDrill(),
  'template-bomb': () => templateBombDrill(),
  'mutated-upload': () => mutatedUploadDrill(),
  priority: () => priorityDrill(),
  'event-webhooks': () => eventWebhookDrill(),
};

async function main() {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  if (values.only && !(values.only in DRILLS)) {
    console.error(`no drill ${values.only}; drills: ${Object.keys(DRILLS).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const results: Result[] = [];
  for (const [name, drill] of Object.entries(DRILLS)) {
    if (values.only && values.only !== name) continue;
    const started = Date.now();
    process.stderr.write(`drill ${name}…\n`);
    try {
      results.push({ drill: name, ok: true, detail: await drill(), seconds: Math.round((Date.now() - started) / 1000) });
    } catch (error) {
      results.push({ drill: name, ok: false, detail: (error as Error).message, seconds: Math.round((Date.now() - started) / 1000) });
    }
  }
  // One line per drill: the details are too long for a table.
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.drill} (${r.seconds} s): ${r.detail}`);
  console.log(`${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length} failed`);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

void main();
