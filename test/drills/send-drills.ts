// Send-path drills of issue 13 ("Prove it"), end to end with the real SES emulator behind a
// fault proxy (`npm run drills -- --only ses-hang|late-send-events`; short versions in
// test/e2e/send-drills.e2e.test.ts, which run the same scenarios on the shared test stack):
//   ses-hang         – mid-campaign, SES calls hang past the send activity's 30 s heartbeat
//                      timeout: of the SendEmail requests of a few seconds the proxy passes one
//                      in three, holds one open and forwards it to the emulator late (SES took it
//                      after all; the answer is lost), and holds one open and never forwards it
//                      (SES never had it). The late ones must be settled by their Send event,
//                      never sent again; the others must be sent again, once, only after the grace.
//   late-send-events – the event source holds every Send event (and the events behind it) back
//                      longer than the old 30 s grace, and the worker process is SIGKILLed
//                      between SES accepting and SENT being written: the proxy forwards requests,
//                      keeps SES's answers (up to 8, or 2 s), kills the worker and drops them (and
//                      the answers of requests still in flight). The new worker must leave those
//                      messages to their late Send events: each marked SENDING once, mailed once.
// Both engines run with SENDING_GRACE_SECONDS set for the drill (the default 300 s would make a
// drill of half an hour): above the longest hold plus the Send event's delay, and well above the
// heartbeat timeout. Each scenario ends with the checks of the other drills: COMPLETED; every
// valid recipient in the SES inbox exactly once (by X-Transaction-Id); counts exact (sent =
// delivered = recipients = mails in the inbox; the reconciliation balanced once the status API
// shows it); every status webhook delivered, signed and in order. A duplicate or a lost recipient
// fails the drill with its evidence (the message's attempts and history, the proxy's record of
// each of its SES calls, its mails), also written as JSON to the process log folder. ses-hang
// also checks that the engine gave up on every held call by itself within the SES request
// timeout (AWS_TIMEOUTS.sesRequestMs), long before the proxy cut it.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import sesServer from 'aws-ses-v2-local';
import type { Email } from 'aws-ses-v2-local/dist/store';
import { AWS_TIMEOUTS, createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { createTables } from '../../src/adapters/dynamo/tables';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { batchId, SEND_HEARTBEAT_TIMEOUT_MS } from '../../src/contracts';
import { startEventSource, type EventSource } from '../../src/local/event-source';
import { freePort } from '../../src/local/ports';
import { apiClient, header, startWebhookReceiver, uploadCsv, uploadTemplate, waitForStatus, type ApiClient } from '../support/harness-http';
import { check, drillPlatform, type Engine } from './process-drills';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
/** "10.1–10.4 s" (or "10.1 s"), "none" for no values. */
function range(values: number[]): string {
  if (values.length === 0) return 'none';
  const [low, high] = [seconds(Math.min(...values)), seconds(Math.max(...values))];
  return low === high ? low : `${low.replace(/ s$/, '')}–${high}`;
}

// ---- the fault proxy in front of the SES emulator ----

/** What the proxy does with one SendEmail request. */
export type SendFault =
  | { kind: 'pass' }
  /** Held open; after `forwardAfterMs` SES gets it (its answer is dropped); the engine's connection is cut after `releaseAfterMs`. */
  | { kind: 'hang'; forwardAfterMs?: number; releaseAfterMs: number }
  /** Forwarded at once; SES's answer waits for the proxy's `beforeAnswer` hook and is then dropped. */
  | { kind: 'withhold-answer' };

/** The proxy's record of one SendEmail request. Times are epoch milliseconds. */
export interface ProxiedSend {
  seq: number;
  fault: 'pass' | 'late' | 'never' | 'withheld';
  recipient: string;
  messageId?: string;
  batchId?: string;
  receivedAt: number;
  /** The engine closed the connection itself (gave up on the call: timeout or abort). */
  gaveUpAt?: number;
  forwardedAt?: number;
  /** SES (the emulator) accepted it, with this id. */
  acceptedAt?: number;
  sesMessageId?: string;
  /** The proxy answered, or cut the engine's connection. */
  releasedAt?: number;
  /** SES's answer was passed back to the engine. */
  answered?: boolean;
  status?: number;
}

export interface SesFaultProxy {
  /**
   * The proxy's URL: the engine's SES endpoint, and the inbox (`/store`) of this engine alone,
   * for the event source and the checks (several engines may share one emulator).
   */
  url: string;
  /** The SES emulator behind the proxy. */
  upstream: string;
  sends: ProxiedSend[];
  /** Decides each SendEmail request's fault, in arrival order (`seq` from 0). */
  setPolicy(decide: (send: ProxiedSend) => SendFault): void;
  /** Runs when SES has accepted a `withhold-answer` request, before its answer is dropped. */
  beforeAnswer?: (send: ProxiedSend) => Promise<void>;
  close(): Promise<void>;
}

const SEND_PATH = '/v2/email/outbound-emails';

/**
 * A fault proxy for SES v2 SendEmail. `GET /store` answers with the emulator's mails of the
 * transactions sent through this proxy only (known from each request's tags before SES has
 * it); everything else passes through untouched.
 */
export async function startSesFaultProxy(upstream: string): Promise<SesFaultProxy> {
  const target = new URL(upstream);
  const sends: ProxiedSend[] = [];
  const transactions = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let decide: (send: ProxiedSend) => SendFault = () => ({ kind: 'pass' });
  let closed = false;
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
  };

  const forward = (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = httpRequest({ host: target.hostname, port: target.port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const accepted = (send: ProxiedSend, answer: { status: number; body: Buffer }) => {
    send.status = answer.status;
    if (answer.status !== 200) return;
    send.acceptedAt = Date.now();
    send.sesMessageId = (JSON.parse(answer.body.toString('utf8')) as { MessageId?: string }).MessageId;
  };

  const proxy: SesFaultProxy = {
    url: '',
    upstream,
    sends,
    setPolicy(fn) {
      decide = fn;
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/store')) {
      forward('GET', req.url, req.headers, Buffer.alloc(0)).then(
        (a) => {
          const store = JSON.parse(a.body.toString('utf8')) as { emails: Email[] };
          const body = JSON.stringify({
            ...store,
            emails: store.emails.filter((e) => transactions.has(header(e, 'X-Transaction-Id') ?? '')),
          });
          res.writeHead(a.status, { 'content-type': 'application/json' });
          res.end(body);
        },
        () => res.destroy(),
      );
      return;
    }
    if (req.method !== 'POST' || !req.url?.startsWith(SEND_PATH)) {
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const parsed = JSON.parse(body.toString('utf8')) as {
        Destination?: { ToAddresses?: string[] };
        EmailTags?: { Name: string; Value: string }[];
      };
      const tag = (name: string) => parsed.EmailTags?.find((t) => t.Name === name)?.Value;
      transactions.add(tag('transaction_id') ?? '');
      const send: ProxiedSend = {
        seq: sends.length,
        fault: 'pass',
        recipient: (parsed.Destination?.ToAddresses?.[0] ?? '').toLowerCase(),
        messageId: tag('message_id'),
        batchId: tag('batch_id'),
        receivedAt: Date.now(),
      };
      sends.push(send);
      res.on('close', () => {
        if (send.releasedAt === undefined) send.gaveUpAt ??= Date.now();
      });
      const fault = decide(send);
      const answer = (a: { status: number; headers: IncomingHttpHeaders; body: Buffer }) => {
        send.releasedAt = Date.now();
        send.answered = true;
        const headers = { ...a.headers };
        delete headers['transfer-encoding'];
        delete headers['connection'];
        headers['content-length'] = String(a.body.length);
        res.writeHead(a.status, headers);
        res.end(a.body);
      };
      const cut = () => {
        send.releasedAt ??= Date.now();
        res.destroy();
      };
      const upstreamFailed = () => {
        send.status = 502;
        if (send.releasedAt === undefined)
          answer({ status: 502, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });
      };
      if (fault.kind === 'pass') {
        forward('POST', req.url!, req.headers, body).then((a) => {
          accepted(send, a);
          if (send.gaveUpAt === undefined) answer(a);
        }, upstreamFailed);
      } else if (fault.kind === 'hang') {
        send.fault = fault.forwardAfterMs === undefined ? 'never' : 'late';
        if (fault.forwardAfterMs !== undefined) {
          later(fault.forwardAfterMs, () => {
            send.forwardedAt = Date.now();
            forward('POST', req.url!, req.headers, body).then(
              (a) => accepted(send, a),
              () => (send.status = 502),
            );
          });
        }
        later(fault.releaseAfterMs, cut);
      } else {
        send.fault = 'withheld';
        send.forwardedAt = Date.now();
        forward('POST', req.url!, req.headers, body).then(
          async (a) => {
            accepted(send, a);
            await proxy.beforeAnswer?.(send);
            cut();
          },
          () => {
            send.status = 502;
            cut();
          },
        );
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  proxy.url = `http://127.0.0.1:${port}`;
  return proxy;
}

// ---- one campaign, start to checks ----

/** What a scenario drives: worker processes it may kill, an API, and the proxy in front of SES. */
export interface SendDrillContext {
  engine: Engine;
  proxy: SesFaultProxy;
}

interface Run {
  id: string;
  api: ApiClient;
  hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
  since: number;
  startedAt: number;
  recipients: string[];
}

const FULL_RUN = ['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED'];
const runTag = () => `${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;

async function launch(ctx: SendDrillContext, prefix: string, n: number, perMinute: number): Promise<Run> {
  const { engine } = ctx;
  const api = apiClient(engine.apiUrl, engine.tenant.apiKey);
  const recipients = Array.from({ length: n }, (_, i) => `${prefix}${runTag()}x${i}@example.com`);
  const templateId = await uploadTemplate(api, { subject: 'Drill {{ name }}', html: '<p>Hello {{ name }}</p>' });
  const fileId = await uploadCsv(api, ['email,name', ...recipients.map((r, i) => `${r},N${i}`)].join('\n'));
  const hooks = await startWebhookReceiver(engine.tenant.webhookSecret);
  const since = Math.floor(Date.now() / 1000);
  const res = await api.post('/api/v1/campaigns', {
    template_id: templateId,
    file_id: fileId,
    callback_url: hooks.url,
    throttle: { emails_per_minute: perMinute },
  });
  check(res.status === 202, `campaign start: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.transaction_id as string, api, hooks, since, startedAt: Date.now(), recipients };
}

/** The local SES event source on this engine's mails (the proxy's store), posting to its API. */
function eventSource(ctx: SendDrillContext, since: number, sendEventDelayMs = 0): Promise<EventSource> {
  return startEventSource({
    sesEndpoint: ctx.proxy.url,
    targetUrl: `${ctx.engine.apiUrl}/api/v1/events/ses`,
    signer: ctx.engine.signer,
    pollMs: 200,
    since,
    sendEventDelayMs,
  });
}

async function mailsOf(ctx: SendDrillContext, run: Run): Promise<Email[]> {
  const res = await fetch(`${ctx.proxy.url}/store?since=${run.since - 1}`);
  return ((await res.json()) as { emails: Email[] }).emails.filter((e) => header(e, 'X-Transaction-Id') === run.id);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Every message of the transaction, by recipient. */
async function storedMessages(ctx: SendDrillContext, transactionId: string): Promise<Map<string, MessageRecord>> {
  const aws = createAwsClients(ctx.engine.config);
  try {
    const { messages } = createTables(aws.doc, ctx.engine.config.DYNAMODB_TABLE);
    const out = new Map<string, MessageRecord>();
    for (let n = 1; ; n++) {
      let inBatch = 0;
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await messages.pageMessages(transactionId, batchId(n), 1000, cursor);
        for (const m of page.items) out.set(m.recipient_email.toLowerCase(), m);
        inBatch += page.items.length;
        cursor = page.cursor;
      } while (cursor);
      if (inBatch === 0) return out;
    }
  } finally {
    destroyAwsClients(aws);
  }
}

const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

/**
 * What the engine and the proxy know of each recipient that was mailed twice or never: its
 * message (status, attempt token, history of marks and events), each SES call the proxy saw for
 * it, and its mails in the inbox. Written as JSON beside the process logs; the first few are
 * summed up in the error.
 */
async function evidence(ctx: SendDrillContext, run: Run, name: string, recipients: string[], mails: Email[]): Promise<string> {
  const stored = await storedMessages(ctx, run.id).catch(() => new Map<string, MessageRecord>());
  const items = recipients.map((recipient) => {
    const m = stored.get(recipient);
    return {
      recipient,
      message: m && {
        message_id: m.message_id,
        batch_id: m.batch_id,
        status: m.status,
        attempt_token: m.attempt_token,
        ses_message_id: m.ses_message_id,
        updated_at: m.updated_at,
        history: m.status_history,
      },
      ses_calls: ctx.proxy.sends
        .filter((s) => s.recipient === recipient)
        .map((s) => ({
          seq: s.seq,
          fault: s.fault,
          received: iso(s.receivedAt),
          engine_gave_up: iso(s.gaveUpAt),
          forwarded: iso(s.forwardedAt),
          accepted: iso(s.acceptedAt),
          ses_message_id: s.sesMessageId,
          released: iso(s.releasedAt),
          status: s.status,
        })),
      mails: mails
        .filter((e) => e.destination.to.some((to) => to.toLowerCase() === recipient))
        .map((e) => ({ ses_message_id: e.messageId, at: new Date(e.at * 1000).toISOString() })),
    };
  });
  const file = join(ctx.engine.logDir, `${name}-evidence-${run.id}.json`);
  writeFileSync(file, JSON.stringify(items, null, 2));
  const brief = items.slice(0, 3).map((i) => {
    const calls = i.ses_calls.map((c) => `#${c.seq} ${c.fault} at ${c.received}${c.accepted ? ` accepted ${c.ses_message_id}` : ''}`);
    const marks = (i.message?.history ?? []).map((h) => `${h.status}${h.event ? `(${h.event})` : ''} ${h.timestamp}`);
    return `${i.recipient} (${i.message?.message_id ?? '?'}, ${i.message?.status ?? 'not stored'}): calls [${calls.join('; ')}], history [${marks.join('; ')}], ${i.mails.length} mails`;
  });
  return `${brief.join(' | ')} (evidence of ${items.length} in ${file}, process logs in ${ctx.engine.logDir})`;
}

/** Every recipient in the inbox exactly once, by this transaction; with the evidence if not. */
async function exactlyOnce(ctx: SendDrillContext, run: Run, name: string): Promise<Email[]> {
  const mails = await mailsOf(ctx, run);
  const per = new Map<string, number>();
  for (const m of mails) for (const to of m.destination.to) per.set(to.toLowerCase(), (per.get(to.toLowerCase()) ?? 0) + 1);
  const twice = [...per].filter(([, c]) => c > 1).map(([to]) => to);
  const missing = run.recipients.filter((r) => !per.has(r));
  const strangers = [...per.keys()].filter((to) => !run.recipients.includes(to));
  if (twice.length > 0 || missing.length > 0 || strangers.length > 0) {
    throw new Error(
      `${twice.length} recipients mailed more than once, ${missing.length} never mailed, ${strangers.length} unknown addresses mailed: ` +
        (await evidence(ctx, run, name, [...twice, ...missing], mails)),
    );
  }
  return mails;
}

/** COMPLETED with exact counts, each recipient once, the status webhooks signed and in order. */
async function completes(ctx: SendDrillContext, run: Run, name: string, timeoutMs: number) {
  const final = await waitForStatus(run.api, run.id, ['COMPLETED', 'FAILED', 'CANCELLED'], timeoutMs).catch(async (error: Error) => {
    // Not over in time: a lost recipient keeps its batch waiting; say which.
    await exactlyOnce(ctx, run, name);
    throw error;
  });
  const completedAt = Date.now();
  const mails = await exactlyOnce(ctx, run, name);
  check(final.status === 'COMPLETED', `campaign ended ${final.status}: ${final.reason}`);
  const n = run.recipients.length;
  const want: Record<string, number> = { sent: n, failed: 0, invalid: 0, suppressed: 0, delivered: n, bounced: 0, complained: 0 };
  const wrong = Object.entries(want).filter(([k, v]) => final.counts[k] !== v);
  check(wrong.length === 0, `counts ${wrong.map(([k, v]) => `${k} ${final.counts[k]} (expected ${v})`).join(', ')}`);
  check(final.progress.total_messages === n, `total_messages ${final.progress.total_messages}, expected ${n}`);
  check(mails.length === final.counts.sent, `${mails.length} mails in the inbox, the status API says ${final.counts.sent} sent`);
  // The reconciliation at COMPLETED, once the status API shows it.
  const rec = final.reconciliation as Record<string, any> | undefined;
  if (rec) {
    check(
      rec.balanced === true && rec.valid_recipients === n && rec.sent === n && rec.pending === 0,
      `reconciliation ${JSON.stringify(rec)}`,
    );
  }
  await until(
    'the COMPLETED webhook',
    async () => (run.hooks.received.some((h) => h.json.status === 'COMPLETED') ? true : undefined),
    120_000,
  );
  const seen = new Set<string>();
  const order: string[] = [];
  for (const h of run.hooks.received) {
    const id = String(h.headers['webhook-id']);
    if (seen.has(id)) continue;
    seen.add(id);
    order.push(h.json.status);
  }
  check(JSON.stringify(order) === JSON.stringify(FULL_RUN), `webhooks ${order.join(',')}; expected ${FULL_RUN.join(',')}`);
  check(
    run.hooks.received.every((h) => h.verified),
    'a webhook signature did not verify',
  );
  const summary = run.hooks.received.find((h) => h.json.status === 'COMPLETED')!.json.summary as Record<string, number>;
  check(summary.sent === n && summary.delivered === n, `COMPLETED webhook summary ${JSON.stringify(summary)}`);
  return { final, mails, completedAt, seconds: Math.round((completedAt - run.startedAt) / 1000), reconciled: rec !== undefined };
}

/** Each message's history: how many times it was marked SENDING (handed to an attempt for SES). */
const marks = (m: MessageRecord | undefined) => (m?.status_history ?? []).filter((h) => h.status === 'SENDING').length;

// ---- ses-hang ----

export interface SesHangOptions {
  recipients: number;
  perMinute: number;
  /** SendEmail requests of the campaign passed before the hang begins. */
  holdFrom: number;
  /** How long the hang lasts from its first request (ms): of the requests meanwhile, one in three passes, one is forwarded late, one never. */
  windowMs: number;
  /** When late requests reach SES after they arrived: in seven steps over this range (ms, both past the heartbeat timeout). */
  lateMs: [number, number];
  /** When the proxy cuts the connection of a request it never forwards (ms). */
  neverMs: number;
  timeoutMs?: number;
}

export async function sesHang(ctx: SendDrillContext, opts: SesHangOptions): Promise<string> {
  const { engine, proxy } = ctx;
  const graceMs = engine.config.SENDING_GRACE_SECONDS * 1000;
  check(
    opts.lateMs[0] > SEND_HEARTBEAT_TIMEOUT_MS && opts.neverMs > SEND_HEARTBEAT_TIMEOUT_MS,
    'the holds must outlast the heartbeat timeout',
  );
  check(graceMs > opts.lateMs[1] + 10_000, `SENDING_GRACE_SECONDS ${graceMs / 1000} must exceed the latest forward by 10 s or more`);
  await engine.ensureWorkers(1);
  const since = Math.floor(Date.now() / 1000);
  const source = await eventSource(ctx, since);
  // The late forwards cycle through lateMs in steps, so SES gets them at many moments past the heartbeat timeout.
  const base = proxy.sends.length + opts.holdFrom;
  let hangStarted: number | undefined;
  let lates = 0;
  proxy.setPolicy((send) => {
    const k = send.seq - base;
    if (k < 0) return { kind: 'pass' };
    hangStarted ??= send.receivedAt;
    if (send.receivedAt - hangStarted > opts.windowMs || k % 3 === 0) return { kind: 'pass' };
    if (k % 3 === 2) return { kind: 'hang', releaseAfterMs: opts.neverMs };
    const at = opts.lateMs[0] + ((opts.lateMs[1] - opts.lateMs[0]) * (lates++ % 7)) / 6;
    return { kind: 'hang', forwardAfterMs: at, releaseAfterMs: at };
  });
  const run = await launch(ctx, 'hang', opts.recipients, opts.perMinute);
  try {
    const done = await completes(ctx, run, 'ses-hang', opts.timeoutMs ?? 600_000);
    const mine = proxy.sends.filter((s) => s.messageId && run.recipients.includes(s.recipient));
    const late = mine.filter((s) => s.fault === 'late');
    const never = mine.filter((s) => s.fault === 'never');
    check(
      late.length > 0 && never.length > 0,
      `the hang held ${late.length} late and ${never.length} never-forwarded calls: start it earlier`,
    );
    const byRecipient = new Map(done.mails.map((m) => [m.destination.to[0]!.toLowerCase(), m]));
    // SES took each late one after all: its one mail is that one, settled by its Send event, never sent again.
    const resentLate = late.filter((s) => byRecipient.get(s.recipient)?.messageId !== s.sesMessageId);
    check(
      late.every((s) => s.sesMessageId !== undefined),
      'a late forward was not accepted by the emulator',
    );
    check(
      resentLate.length === 0,
      `late-forwarded calls sent again instead of settled by their Send event: ${resentLate.map((s) => s.recipient).join(', ')}`,
    );
    // SES never had the others: each was sent again, and only once the grace had passed since its first try.
    const gaps = never.map((s) => {
      const next = mine.find((o) => o.recipient === s.recipient && o.seq > s.seq && o.sesMessageId !== undefined);
      return next ? next.receivedAt - s.receivedAt : NaN;
    });
    check(
      gaps.every((g) => Number.isFinite(g)),
      'a never-forwarded message was not sent again',
    );
    check(
      gaps.every((g) => g >= graceMs - 1000),
      `a never-forwarded message was sent again ${seconds(Math.min(...gaps))} after its first try, within the ${graceMs / 1000} s grace`,
    );
    // Every AWS call has a request timeout well below the heartbeat timeout: the engine must have
    // given up on each held call by itself, long before the proxy cut it.
    const held = [...late, ...never];
    const gaveUp = held.filter((s) => s.gaveUpAt !== undefined && s.gaveUpAt < (s.releasedAt ?? Infinity));
    const slowest = Math.max(0, ...gaveUp.map((s) => s.gaveUpAt! - s.receivedAt));
    const line =
      `${run.recipients.length} recipients; ${held.length} SES calls held ${range(held.map((s) => (s.releasedAt ?? s.receivedAt) - s.receivedAt))} ` +
      `(heartbeat timeout ${SEND_HEARTBEAT_TIMEOUT_MS / 1000} s, grace ${graceMs / 1000} s): ${late.length} reached SES late and were settled by their Send event, ` +
      `${never.length} never did and were sent again ${range(gaps)} after their first try; the engine gave up on ${gaveUp.length} of ${held.length} held calls ` +
      `itself (after ${range(gaveUp.map((s) => s.gaveUpAt! - s.receivedAt))}); ${proxy.sends.filter((s) => run.recipients.includes(s.recipient)).length} SES calls in all; ` +
      `COMPLETED in ${done.seconds} s, sent ${done.final.counts.sent} = delivered ${done.final.counts.delivered} = ${done.mails.length} mails, each recipient once` +
      (done.reconciled ? ', reconciliation balanced' : '');
    check(
      gaveUp.length === held.length && slowest <= AWS_TIMEOUTS.sesRequestMs + 5000,
      `${line}; but the engine should have ended every held call itself within its SES request timeout ` +
        `(${AWS_TIMEOUTS.sesRequestMs / 1000} s): ${held.length - gaveUp.length} were still open when the proxy cut them ` +
        `${range(held.filter((s) => !gaveUp.includes(s)).map((s) => (s.releasedAt ?? s.receivedAt) - s.receivedAt))} after they arrived ` +
        `(process logs in ${engine.logDir})`,
    );
    check(source.stats().failed === 0, `${source.stats().failed} SES events could not be delivered to the API`);
    return line;
  } finally {
    proxy.setPolicy(() => ({ kind: 'pass' }));
    await source.stop();
    await run.hooks.close();
  }
}

// ---- late-send-events ----

export interface LateSendEventsOptions {
  recipients: number;
  perMinute: number;
  /** From this SendEmail request of the campaign on, SES's answers are withheld ... */
  killAt: number;
  /** ... until this many are (or 2 s passed since the first); then the worker is killed (default 8). */
  withhold?: number;
  /** How long the event source holds each Send event (and the events behind it) back. */
  sendEventDelayMs: number;
  timeoutMs?: number;
}

export async function lateSendEvents(ctx: SendDrillContext, opts: LateSendEventsOptions): Promise<string> {
  const { engine, proxy } = ctx;
  const graceMs = engine.config.SENDING_GRACE_SECONDS * 1000;
  check(opts.sendEventDelayMs > 30_000, 'the Send events must be held back longer than the old 30 s grace');
  check(
    graceMs > opts.sendEventDelayMs + 5000,
    `SENDING_GRACE_SECONDS ${graceMs / 1000} must exceed the Send events' delay by 5 s or more`,
  );
  await engine.ensureWorkers(1);
  const since = Math.floor(Date.now() / 1000);
  const source = await eventSource(ctx, since, opts.sendEventDelayMs);
  // From request `killAt` on, SES's answers are withheld; once `withhold` are (or 2 s after the
  // first), the worker is killed; answers of calls still in flight then never reach it either.
  // Once it is dead, everything passes again.
  const killSeq = proxy.sends.length + opts.killAt;
  let killedAt: number | undefined;
  let killing: Promise<number> | undefined;
  let withheldSoFar = 0;
  let fire: () => void = () => undefined;
  const time = new Promise<void>((resolve) => (fire = resolve));
  proxy.setPolicy((send) => (send.seq >= killSeq && killedAt === undefined ? { kind: 'withhold-answer' } : { kind: 'pass' }));
  proxy.beforeAnswer = async () => {
    if (++withheldSoFar === 1) setTimeout(fire, 2000);
    if (withheldSoFar >= (opts.withhold ?? 8)) fire();
    await time;
    killing ??= engine.killWorkers().then((n) => {
      killedAt = Date.now();
      return n;
    });
    await killing;
  };
  const run = await launch(ctx, 'late', opts.recipients, opts.perMinute);
  // Each withheld message's status, as the drill sees it, from the kill until it is SENT.
  const sentSeenAt = new Map<string, number>();
  let watching = true;
  let watcher: Promise<void> = Promise.resolve();
  try {
    const killed = await until('the kill', async () => (killing ? await killing : undefined), 180_000, 50);
    check(killed > 0, 'no worker process to kill');
    const killTime = killedAt!;
    // Every call of the campaign whose answer the killed worker never got: withheld, or in flight when it died.
    const unanswered = proxy.sends.filter((s) => run.recipients.includes(s.recipient) && s.receivedAt <= killTime && !s.answered);
    const sentAtKill = (await run.api.get(`/api/v1/campaigns/${run.id}/status`)).body.counts.sent as number;
    check(sentAtKill < run.recipients.length, `all ${run.recipients.length} were sent before the kill: nothing left to resume`);
    watcher = (async () => {
      const aws = createAwsClients(engine.config);
      try {
        const { messages } = createTables(aws.doc, engine.config.DYNAMODB_TABLE);
        while (watching && sentSeenAt.size < unanswered.length) {
          for (const s of unanswered) {
            if (sentSeenAt.has(s.recipient) || !s.messageId || !s.batchId) continue;
            const m = await messages.getMessage(run.id, s.batchId, s.messageId);
            if (m && m.status !== 'SENDING' && m.status !== 'READY_TO_SEND') sentSeenAt.set(s.recipient, Date.now());
          }
          await sleep(500);
        }
      } finally {
        destroyAwsClients(aws);
      }
    })();
    await engine.ensureWorkers(1);
    const restartedIn = Date.now() - killTime;
    const done = await completes(ctx, run, 'late-send-events', opts.timeoutMs ?? 600_000);
    watching = false;
    await watcher;
    const accepted = unanswered.filter((s) => s.sesMessageId !== undefined);
    check(accepted.length > 0, 'SES accepted none of the calls whose answer the killed worker never got');
    const byRecipient = new Map(done.mails.map((m) => [m.destination.to[0]!.toLowerCase(), m]));
    const stored = await storedMessages(ctx, run.id);
    // The killed worker's messages SES had: each one mail (that one), marked SENDING once, SENT only by its late Send event.
    const resent = accepted.filter(
      (s) => byRecipient.get(s.recipient)?.messageId !== s.sesMessageId || marks(stored.get(s.recipient)) !== 1,
    );
    if (resent.length > 0) {
      throw new Error(
        `messages SES accepted before the kill were handed to SES again: ` +
          (await evidence(
            ctx,
            run,
            'late-send-events',
            resent.map((s) => s.recipient),
            done.mails,
          )),
      );
    }
    const seen = accepted.filter((s) => sentSeenAt.has(s.recipient));
    const settledAfter = seen.map((s) => sentSeenAt.get(s.recipient)! - s.acceptedAt!);
    const early = seen.filter((s) => sentSeenAt.get(s.recipient)! - s.acceptedAt! < opts.sendEventDelayMs - 1000);
    if (early.length > 0) {
      throw new Error(
        `${early.length} messages whose answer the killed worker never got were SENT ${range(settledAfter)} after SES accepted them, ` +
          `before their Send event (held ${opts.sendEventDelayMs / 1000} s): ` +
          (await evidence(
            ctx,
            run,
            'late-send-events',
            early.map((s) => s.recipient),
            done.mails,
          )),
      );
    }
    check(source.stats().failed === 0, `${source.stats().failed} SES events could not be delivered to the API`);
    const withheld = accepted.filter((s) => s.fault === 'withheld').length;
    return (
      `${run.recipients.length} recipients; worker SIGKILLed with SES's answers from call #${opts.killAt} on withheld (${sentAtKill} sent by then), ` +
      `${accepted.length} messages SES had accepted never got their answer to the worker (${withheld} withheld` +
      `${accepted.length > withheld ? `, ${accepted.length - withheld} in flight at the kill` : ''}); a new worker up ${seconds(restartedIn)} after the kill; ` +
      `Send events held back ${opts.sendEventDelayMs / 1000} s (grace ${graceMs / 1000} s, the old default 30 s): each of those SENT by its Send event ` +
      `${range(settledAfter)} after SES accepted it (${settledAfter.length} seen), marked SENDING once, never sent again; COMPLETED in ${done.seconds} s, ` +
      `sent ${done.final.counts.sent} = delivered ${done.final.counts.delivered} = ${done.mails.length} mails, each recipient once` +
      (done.reconciled ? ', reconciliation balanced' : '')
    );
  } finally {
    watching = false;
    await watcher.catch(() => undefined);
    proxy.setPolicy(() => ({ kind: 'pass' }));
    proxy.beforeAnswer = undefined;
    await source.stop();
    await run.hooks.close();
  }
}

// ---- the long versions, each on a fresh stack ----

/** A fresh stack whose engine (worker and API processes) reaches a real SES emulator only through the fault proxy. */
async function sendDrillPlatform(overrides: Record<string, string>): Promise<SendDrillContext & { stop(): Promise<void> }> {
  const sesPort = await freePort();
  const ses = await sesServer({ host: '127.0.0.1', port: sesPort });
  const proxy = await startSesFaultProxy(`http://127.0.0.1:${sesPort}`);
  const engine = await drillPlatform({
    SES_ENDPOINT: proxy.url,
    SEND_CHUNK_SIZE: '10',
    BATCH_SIZE: '100',
    FINAL_STATE_DEADLINE_SECONDS: '900',
    OUTCOME_POLL_SECONDS: '10',
    ...overrides,
  });
  return {
    engine,
    proxy,
    async stop() {
      await engine.stop();
      await proxy.close();
      ses.close();
    },
  };
}

async function withPlatform(overrides: Record<string, string>, scenario: (ctx: SendDrillContext) => Promise<string>): Promise<string> {
  const ctx = await sendDrillPlatform(overrides);
  try {
    return await scenario(ctx);
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.includes(ctx.engine.logDir) ? message : `${message} (process logs in ${ctx.engine.logDir})`);
  } finally {
    await ctx.stop();
  }
}

/**
 * SENDING_GRACE_SECONDS 75: above the latest late forward (50 s after the call) plus the Send
 * event's way back, and well above the 30 s heartbeat timeout.
 */
export function sesHangDrill(): Promise<string> {
  return withPlatform({ SENDING_GRACE_SECONDS: '75' }, (ctx) =>
    sesHang(ctx, { recipients: 600, perMinute: 3000, holdFrom: 120, windowMs: 10_000, lateMs: [32_000, 50_000], neverMs: 45_000 }),
  );
}

/** SENDING_GRACE_SECONDS 90: above the Send events' 60 s delay, which is twice the old 30 s default. */
export function lateSendEventsDrill(): Promise<string> {
  return withPlatform({ SENDING_GRACE_SECONDS: '90' }, (ctx) =>
    lateSendEvents(ctx, { recipients: 600, perMinute: 3000, killAt: 150, sendEventDelayMs: 60_000 }),
  );
}
