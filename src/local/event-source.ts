// The local SES event source: watches the SES emulator's store and, for every email sent,
// posts the SES event-publishing records a configuration set would publish to SNS, as signed
// SNS Notifications, so the engine's real event endpoint and verifier run locally.
//
// Recipients follow the SES mailbox simulator
// (https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html#send-email-simulator),
// matched case-insensitively and with "+label" accepted as SES does (bounce+x@ is bounce@):
//   success@  → Delivery          bounce@          → Bounce (Permanent, General)
//   ooto@     → Delivery          complaint@       → Delivery, Complaint
//   suppressionlist@ → Bounce (Permanent, OnAccountSuppressionList)
//   anything else (any domain) → Delivery
// Every email gets a Send event first. Local-only labels, because SES's simulator has no way
// to ask for engagement or soft bounces and the engine must handle both:
//   success+open…@simulator.amazonses.com   → Delivery, Open
//   success+click…@simulator.amazonses.com  → Delivery, Open, Click
//   bounce+transient…@simulator.amazonses.com → Bounce (Transient, MailboxFull)
//   bounce+soft<N>…@simulator.amazonses.com → Bounce (Transient, MailboxFull) for the first N
//     emails to the address this source sees, then Delivery (a soft bounce that a retry gets past)
import { randomUUID } from 'node:crypto';
import type { Email } from 'aws-ses-v2-local/dist/store';
import type { SnsSigner } from './sns-signer';

export interface EventSource {
  stop(): Promise<void>;
  stats(): { emails: number; posted: number; failed: number };
  flush(): Promise<void>;
}

export interface EventSourceOptions {
  sesEndpoint: string;
  targetUrl: string;
  signer: SnsSigner;
  pollMs?: number;
  /** Epoch seconds; emails stored at or after this second are published. Default: those sent after start. */
  since?: number;
  /**
   * Holds each email's events back this long after the source first sees it: the Send event,
   * and the email's other events behind it in order, as when SNS retries or the endpoint is
   * down for a while. Held emails take no posting slot; `flush` waits for them, `stop` drops
   * them. Default 0: published as soon as seen.
   */
  sendEventDelayMs?: number;
  log?: (line: string) => void;
}

type EventType = 'Send' | 'Delivery' | 'Bounce' | 'Complaint' | 'Open' | 'Click';
type SesEvent = { eventType: EventType; mail: Record<string, unknown> } & Record<string, unknown>;

const SIMULATOR_DOMAIN = 'simulator.amazonses.com';
const CONFIGURATION_SET = 'email-engine';
const ACCOUNT_ID = '000000000000';
const REPORTING_MTA = 'a1-1.smtp-out.amazonses.com';
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const ID_HEADERS = { transaction_id: 'X-Transaction-Id', batch_id: 'X-Batch-Id', message_id: 'X-Message-Id' } as const;
const MAX_RETRIES = 5;
const POST_TIMEOUT_MS = 15_000; // what SNS itself allows an HTTP endpoint
// Enough to keep a local API busy without one slow email holding up the rest.
const CONCURRENT_EMAILS = 8;

/** Which events one recipient produces after Send, by simulator mailbox and label. */
function outcomesFor(recipient: string, earlier: number): Exclude<EventType, 'Send'>[] | 'transient-bounce' | 'suppressed' {
  const address = (/<([^>]+)>/.exec(recipient)?.[1] ?? recipient).trim().toLowerCase();
  const at = address.lastIndexOf('@');
  if (address.slice(at + 1) !== SIMULATOR_DOMAIN) return ['Delivery'];
  const [mailbox = '', label = ''] = address.slice(0, at).split(/\+(.*)/s);
  switch (mailbox) {
    case 'success':
      if (label.startsWith('click')) return ['Delivery', 'Open', 'Click'];
      if (label.startsWith('open')) return ['Delivery', 'Open'];
      return ['Delivery'];
    case 'bounce':
      if (label.startsWith('transient')) return 'transient-bounce';
      if (/^soft\d+/.test(label)) return earlier < Number(/^soft(\d+)/.exec(label)![1]) ? 'transient-bounce' : ['Delivery'];
      return ['Bounce'];
    case 'complaint':
      return ['Delivery', 'Complaint'];
    case 'suppressionlist':
      return 'suppressed';
    default: // ooto@ auto-replies by mail, which is not an event
      return ['Delivery'];
  }
}

function header(email: Email, name: string): string | undefined {
  return email.headers?.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}

const recipientsOf = (email: Email) => [...email.destination.to, ...email.destination.cc, ...email.destination.bcc];

function mailObject(email: Email): Record<string, unknown> {
  const tags: Record<string, string[]> = { 'ses:configuration-set': [CONFIGURATION_SET] };
  for (const [tag, name] of Object.entries(ID_HEADERS)) {
    const value = header(email, name);
    if (value !== undefined) tags[tag] = [value];
  }
  return {
    timestamp: new Date(email.at * 1000).toISOString(),
    messageId: email.messageId,
    source: email.from,
    sendingAccountId: ACCOUNT_ID,
    destination: recipientsOf(email),
    headersTruncated: false,
    headers: [
      { name: 'From', value: email.from },
      { name: 'To', value: email.destination.to.join(', ') },
      { name: 'Subject', value: email.subject },
      ...(email.headers ?? []),
    ],
    commonHeaders: { from: [email.from], to: email.destination.to, messageId: email.messageId, subject: email.subject },
    tags,
  };
}

function bounce(recipient: string, bounceType: string, bounceSubType: string, status: string, diagnosticCode: string) {
  return {
    bounceType,
    bounceSubType,
    bouncedRecipients: [{ emailAddress: recipient, action: 'failed', status, diagnosticCode }],
    timestamp: new Date().toISOString(),
    feedbackId: feedbackId(),
    reportingMTA: `dsn; ${REPORTING_MTA}`,
  };
}

const feedbackId = () => `${randomUUID()}-000000`;

function detailFor(eventType: Exclude<EventType, 'Send'>, recipient: string, email: Email, now: Date) {
  const timestamp = now.toISOString();
  switch (eventType) {
    case 'Delivery':
      return {
        delivery: {
          timestamp,
          processingTimeMillis: Math.max(0, now.getTime() - email.at * 1000),
          recipients: [recipient],
          smtpResponse: '250 2.6.0 Message received',
          reportingMTA: REPORTING_MTA,
        },
      };
    case 'Bounce':
      return { bounce: bounce(recipient, 'Permanent', 'General', '5.1.1', 'smtp; 550 5.1.1 user unknown') };
    case 'Complaint':
      return {
        complaint: {
          complainedRecipients: [{ emailAddress: recipient }],
          timestamp,
          feedbackId: feedbackId(),
          complaintFeedbackType: 'abuse',
          userAgent: 'ExampleCorp Feedback Loop (V0.01)',
        },
      };
    case 'Open':
      return { open: { timestamp, userAgent: USER_AGENT, ipAddress: '192.0.2.1' } };
    case 'Click':
      return {
        click: { timestamp, userAgent: USER_AGENT, ipAddress: '192.0.2.1', link: 'https://example.com/landing', linkTags: {} },
      };
  }
}

/**
 * The SES event-publishing records for one email, in the order SES would publish them;
 * `earlier` says how many emails to a recipient came before this one (for bounce+soft<N>).
 */
export function sesEventsFor(email: Email, now: Date = new Date(), earlier: (recipient: string) => number = () => 0): SesEvent[] {
  const mail = mailObject(email);
  const events: SesEvent[] = [{ eventType: 'Send', mail, send: {} }];
  for (const recipient of recipientsOf(email)) {
    const outcome = outcomesFor(recipient, earlier(recipient));
    if (outcome === 'transient-bounce') {
      events.push({
        eventType: 'Bounce',
        mail,
        bounce: bounce(recipient, 'Transient', 'MailboxFull', '4.2.2', 'smtp; 452 4.2.2 Mailbox full'),
      });
    } else if (outcome === 'suppressed') {
      const why = 'Amazon SES did not send the message to this address because it is on the suppression list for your account.';
      events.push({ eventType: 'Bounce', mail, bounce: bounce(recipient, 'Permanent', 'OnAccountSuppressionList', '5.1.1', why) });
    } else {
      for (const eventType of outcome) events.push({ eventType, mail, ...detailFor(eventType, recipient, email, now) });
    }
  }
  return events;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startEventSource(opts: EventSourceOptions): Promise<EventSource> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const pollMs = opts.pollMs ?? 500;
  let since = opts.since ?? Math.floor(Date.now() / 1000);
  // Ids already taken, with their second: `since` is inclusive, so the boundary second comes back.
  const seen = new Map<string, number>();
  // Emails per bounce+soft<N> recipient so far (only those: the map stays small).
  const softSends = new Map<string, number>();
  const countEarlier = (recipient: string) => {
    const address = recipient.toLowerCase();
    if (!/^bounce\+soft\d+/.test(address)) return 0;
    const earlier = softSends.get(address) ?? 0;
    softSends.set(address, earlier + 1);
    return earlier;
  };
  const counts = { emails: 0, posted: 0, failed: 0 };
  const queue: Email[] = [];
  const delayMs = opts.sendEventDelayMs ?? 0;
  // Emails seen but held back by `sendEventDelayMs`, each with its release timer.
  const held = new Set<NodeJS.Timeout>();
  let active = 0;
  let idleWaiters: (() => void)[] = [];
  let polling: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const warn = (msg: string, fields: Record<string, unknown>) =>
    log(JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg, ...fields }));

  async function post(event: SesEvent, email: Email): Promise<void> {
    const message = opts.signer.sign({
      Type: 'Notification',
      MessageId: randomUUID(),
      TopicArn: opts.signer.topicArn,
      Timestamp: new Date().toISOString(),
      Message: JSON.stringify(event),
    });
    const body = JSON.stringify(message);
    let lastError = '';
    for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
      if (attempt > 0) await sleep(100 * 2 ** (attempt - 1));
      try {
        const res = await fetch(opts.targetUrl, {
          method: 'POST',
          headers: {
            'content-type': 'text/plain; charset=UTF-8',
            'x-amz-sns-message-type': 'Notification',
            'x-amz-sns-message-id': message.MessageId,
            'x-amz-sns-topic-arn': message.TopicArn,
            'user-agent': 'Amazon Simple Notification Service Agent',
          },
          body,
          signal: AbortSignal.timeout(POST_TIMEOUT_MS),
        });
        await res.arrayBuffer().catch(() => undefined); // free the connection
        if (res.ok) {
          counts.posted++;
          return;
        }
        lastError = `HTTP ${res.status}`;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      }
    }
    counts.failed++;
    warn('local SES event not delivered', {
      transaction_id: header(email, ID_HEADERS.transaction_id),
      ses_message_id: email.messageId,
      event_type: event.eventType,
      target: opts.targetUrl,
      attempts: MAX_RETRIES + 1,
      error: lastError,
    });
  }

  async function publish(email: Email): Promise<void> {
    try {
      // One email's events go strictly in order: a Delivery must not overtake its Send.
      for (const event of sesEventsFor(email, new Date(), countEarlier)) await post(event, email);
    } catch (error) {
      warn('local SES event source failed on an email', { ses_message_id: email.messageId, error: String(error) });
    }
  }

  function pump(): void {
    while (active < CONCURRENT_EMAILS) {
      const email = queue.shift();
      if (!email) break;
      active++;
      void publish(email).finally(() => {
        active--;
        pump();
      });
    }
    if (active === 0 && queue.length === 0 && held.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  const idle = () =>
    active === 0 && queue.length === 0 && held.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));

  const take = (email: Email) => {
    if (delayMs <= 0) {
      queue.push(email);
      return;
    }
    const release = setTimeout(() => {
      held.delete(release);
      queue.push(email);
      pump();
    }, delayMs);
    held.add(release);
  };

  async function pollOnce(enqueue: boolean): Promise<void> {
    const res = await fetch(`${opts.sesEndpoint}/store?since=${since}`, { signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`SES emulator store: HTTP ${res.status}`);
    const { emails } = (await res.json()) as { emails: Email[] };
    for (const email of emails) {
      if (seen.has(email.messageId)) continue;
      seen.set(email.messageId, email.at);
      since = Math.max(since, email.at);
      if (!enqueue) continue;
      counts.emails++;
      take(email);
    }
    for (const [id, at] of seen) if (at < since) seen.delete(id);
    pump();
  }

  // Polls run one at a time; a caller that needs a fresh look queues behind the current one.
  const poll = (enqueue = true): Promise<void> => {
    const next = polling.catch(() => undefined).then(() => pollOnce(enqueue));
    polling = next;
    return next;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void poll()
        .catch((error: unknown) => warn('local SES event source could not read the SES emulator', { error: String(error) }))
        .finally(schedule);
    }, pollMs);
    timer.unref();
  };

  // The store only knows whole seconds, so "from now" would also catch emails sent earlier in
  // this second: without an explicit `since`, whatever is already there counts as seen.
  // Doing it at start also fails fast on a wrong endpoint.
  await poll(opts.since !== undefined);
  schedule();

  return {
    stats: () => ({ ...counts }),
    async flush() {
      await poll();
      await idle();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await polling.catch(() => undefined);
      for (const release of held) clearTimeout(release);
      held.clear();
      pump();
      await idle();
    },
  };
}
