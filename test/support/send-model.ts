// A model of one send chunk under overlapping attempts, for property-based interleaving tests
// with fast-check's scheduler (issue 13, "Prove it"). It drives the real `sendBatchChunk` (from
// `createActivities(deps)`, one MockActivityEnvironment per attempt, so one token per attempt)
// over a store behind the Messages port: the in-memory ConditionalStore
// (test/unit/send-interleavings.property.test.ts) or DynamoDB Local itself
// (test/integration/send-interleavings.property.test.ts). SES is a stand-in behind the
// Messenger port; SES events go through the real event processor (createSesEventProcessor, so
// `messages.applyEffect` of the store under test).
//
// What one interleaving explores:
// - two or three overlapping attempts of the chunk: attempt n+1 starts at a point the
//   scheduler picks after attempt n started (Temporal gave up on n: its heartbeat timed out,
//   the clock moves on by the heartbeat timeout and a backoff); Temporal's cancellation may
//   reach attempt n at a later point, or never (MockActivityEnvironment.cancel());
// - a crash of an attempt at one point: before the SENDING mark, after it, after SES accepted,
//   after SENT was written. The crashed attempt does nothing further: every later call of its
//   ports throws, a call already in flight still lands (the write was sent) but its answer is lost;
// - SES answering accepted, throttled, rejected, a transient error (SES may or may not have
//   the message), or hanging past the heartbeat timeout (the answer comes only after the clock
//   moved by it: accepted late, or a timeout while SES may have it); an abort signal ends a call;
// - Send, Delivery and Bounce (permanent, transient) events for every message SES accepted:
//   missing, once or twice, at any point the scheduler picks (before the sender saw SES's
//   answer, after a takeover, ...) or held back past the grace period into the batch's later runs;
// - time: Date is faked (vi.useFakeTimers with only Date) and moves only at scheduled points
//   (an attempt starting, a pause of 5 s or of more than the grace period, a hung call ending).
//
// Every store and SES call of an attempt waits at a scheduled point first; after each step
// the model waits until no store call is in flight, so the order of steps, and so the whole
// run, follows from fast-check's seed and path alone (against DynamoDB Local too).
//
// Then the batch is driven to its end as workflows/batch.workflow.ts does: a failed activity
// is retried, the chunk runs again (after the grace period) while it reports `deferred`, then the
// proof pass over unsettled messages (`unsettledOnly`) runs until a pass defers nothing; these
// later attempts do not crash and SES accepts them. Earlier attempts may still be running
// meanwhile. Held-back events arrive between those runs. Then the properties:
// - P1: SES accepted each message at most once, unless the later acceptance came from a
//   SENDING mark set at least the grace period after the earlier acceptance's mark, with no
//   Send event in the message's history before it (allowed: counted as `allowedResends`);
// - P2: every message ends SENT or final (never CREATED / READY_TO_SEND / SENDING); and P2a:
//   the chunk loop's last answer is true: when it reports nothing deferred, every message of
//   the chunk is settled before the proof pass runs (else the proof pass had to rescue it);
// - P3: the live counters sendBatchChunk adds (sent, failed, suppressed) never exceed the recount
//   from the stored messages (by tallyBatch's rules) except by messages taken over (both attempts
//   counted them), and equal it when no attempt crashed or failed, nothing was taken over and
//   every message was settled by its sender (an attempt that crashes, or fails on a throttle or
//   a transient error, never records the counts it had not written yet; a message an SES event
//   settled while its sender got no answer is counted by nobody: the batch's recount repairs
//   all of these, counted as `liveCountDrift`); after the batch's recount (tallyBatch) and the
//   transaction's reconcile they equal it always.
//
// A failure prints the scenario, the order the scheduler ran the steps in, and the command
// that replays it (FC_SEED, FC_PATH).
import fc from 'fast-check';
import { vi } from 'vitest';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { SendChunkInput, SendChunkResult } from '../../activities/send.activities';
import { classifySesError, SendError, type Messenger, type OutgoingEmail } from '../../src/adapters/ses';
import { emptyCounts, type Counts, type IdentityRecord, type MessageRecord, type TemplateRecord } from '../../src/adapters/dynamo/types';
import { LocalIdentityVerifier } from '../../src/adapters/identity-verifier';
import { ConditionalStore } from './conditional-store';
import { SEND_HEARTBEAT_TIMEOUT_MS, type BatchTally } from '../../src/contracts';
import { SENDABLE_STATUSES, type MessageStatus } from '../../src/domain/message-status';
import type { SesEvent } from '../../src/domain/ses-event';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import type { Logger } from '../../src/logging';
import type { Batches, Messages, Suppressions } from '../../src/ports';

/** The grace the workflow passes to a chunk (SENDING_GRACE_SECONDS' default, 300 s). */
export const GRACE_MS = 300_000;
export const HEARTBEAT_TIMEOUT_MS = SEND_HEARTBEAT_TIMEOUT_MS;
const MAX_MESSAGES = 3;
const BATCH_ID = 'b00001';

// ---------------------------------------------------------------------------------------------
// Scenarios

export type SesAnswer = 'accept' | 'throttle' | 'transient' | 'reject' | 'hang';
export type CrashPoint = 'before-mark' | 'after-mark' | 'after-accept' | 'after-sent';

export interface AttemptPlan {
  /** SES's answer to this attempt's call for message i. */
  answers: SesAnswer[];
  /** For a transient error or a hang: whether SES took message i all the same. */
  sesTakes: boolean[];
  /** How a hung call for message i ends once the heartbeat timeout passed: SES answers, or the request times out. */
  hangEnds: ('answer' | 'timeout')[];
  crash: { at: CrashPoint; message: number } | null;
  /** Temporal's cancellation reaches this attempt (at a point the scheduler picks) once the next one started. */
  cancelled: boolean;
  backoffMs: number;
}

export interface EventPlan {
  send: 0 | 1 | 2;
  outcome: 'none' | 'delivery' | 'bounce-permanent' | 'bounce-transient';
  outcomeCopies: 1 | 2;
  /** Held back past the grace period: delivered between the batch's later runs (step 0, 1, 2) or at its end. */
  held: 'none' | 'send' | 'outcome' | 'both';
  heldUntil: 0 | 1 | 2 | 3;
}

export interface Scenario {
  messages: number;
  /** A recipient on the tenant's suppression list. */
  suppressed: number | null;
  concurrency: 1 | 2;
  attempts: AttemptPlan[];
  /** Clock moves, each at a point the scheduler picks once `afterStep` steps have run. */
  pauses: { ms: number; afterStep: number }[];
  /** What SES publishes for its k-th acceptance (cycled). */
  events: EventPlan[];
}

const perMessage = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: MAX_MESSAGES, maxLength: MAX_MESSAGES });

const attemptPlanArb: fc.Arbitrary<AttemptPlan> = fc.record({
  answers: perMessage(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<SesAnswer>('accept') },
      { weight: 2, arbitrary: fc.constant<SesAnswer>('hang') },
      { weight: 2, arbitrary: fc.constant<SesAnswer>('throttle') },
      { weight: 1, arbitrary: fc.constant<SesAnswer>('transient') },
      { weight: 1, arbitrary: fc.constant<SesAnswer>('reject') },
    ),
  ),
  sesTakes: perMessage(fc.boolean()),
  hangEnds: perMessage(fc.constantFrom<('answer' | 'timeout')[]>('answer', 'timeout')),
  crash: fc.option(
    fc.record({
      at: fc.constantFrom<CrashPoint[]>('before-mark', 'after-mark', 'after-accept', 'after-sent'),
      message: fc.nat(MAX_MESSAGES - 1),
    }),
    { freq: 2 },
  ),
  cancelled: fc.boolean(),
  backoffMs: fc.constantFrom(1_000, 2_000, 4_000),
});

const eventPlanArb: fc.Arbitrary<EventPlan> = fc.record({
  send: fc.constantFrom<(0 | 1 | 2)[]>(0, 1, 1, 2),
  outcome: fc.constantFrom<EventPlan['outcome'][]>('none', 'none', 'delivery', 'bounce-permanent', 'bounce-transient'),
  outcomeCopies: fc.constantFrom<(1 | 2)[]>(1, 2),
  held: fc.constantFrom<EventPlan['held'][]>('none', 'none', 'send', 'send', 'outcome', 'both'),
  heldUntil: fc.constantFrom<(0 | 1 | 2 | 3)[]>(0, 1, 2, 3),
});

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  messages: fc.integer({ min: 1, max: MAX_MESSAGES }),
  suppressed: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(MAX_MESSAGES - 1) }),
  concurrency: fc.constantFrom<(1 | 2)[]>(1, 2),
  attempts: fc.oneof(
    { weight: 1, arbitrary: fc.array(attemptPlanArb, { minLength: 2, maxLength: 2 }) },
    { weight: 2, arbitrary: fc.array(attemptPlanArb, { minLength: 3, maxLength: 3 }) },
  ),
  pauses: fc.array(fc.record({ ms: fc.constantFrom(5_000, GRACE_MS + 1_000, GRACE_MS + 1_000), afterStep: fc.nat(24) }), { maxLength: 3 }),
  events: fc.array(eventPlanArb, { minLength: 6, maxLength: 6 }),
});

// ---------------------------------------------------------------------------------------------
// What a model runs against

/** The base deps of the send path plus what the event path and the checks need. */
export type ModelDeps = Omit<ActivityDeps, 'messages' | 'batches' | 'suppressions'> & {
  messages: Messages;
  batches: ActivityDeps['batches'] & Pick<Batches, 'addBatchOutcome'>;
  suppressions: ActivityDeps['suppressions'] & Pick<Suppressions, 'addSuppression'>;
};

export interface Fixture {
  transactionId: string;
  tenantId: string;
  templateId: string;
  batchId: string;
  /** In row order. */
  messages: MessageRecord[];
}

export interface Backend {
  deps: ModelDeps;
  /** A new transaction with one batch of CREATED messages to `emails`; `suppressed` are on the tenant's list. */
  prepare(run: { emails: string[]; suppressed: string[] }): Promise<Fixture>;
  counts(transactionId: string): Promise<Counts>;
}

/** The in-memory backend: a ConditionalStore with one template, a transaction per interleaving. */
export function inMemoryBackend(tenantId = 'tenant-a'): Backend {
  const table = new ConditionalStore();
  const at = new Date().toISOString();
  const template: TemplateRecord = {
    template_id: 'tpl-property',
    tenant_id: tenantId,
    name: 'property template',
    subject: TEMPLATE.subject,
    from: 'sender@example.com',
    status: 'READY',
    placeholders: [],
    s3_key: `templates/${tenantId}/tpl-property.html`,
    created_at: at,
    updated_at: at,
  };
  table.putTemplate(template, TEMPLATE.html);
  // The template's sender domain is the tenant's identity, as local seeding makes it.
  const identity: IdentityRecord = {
    tenant_id: tenantId,
    identity: 'example.com',
    type: 'DOMAIN',
    verified_for_sending: true,
    verification_status: 'SUCCESS',
    dkim_tokens: [],
    created_at: at,
    updated_at: at,
  };
  const deps = {
    store: table.store,
    messages: table.messages,
    batches: table.batches,
    suppressions: table.suppressions,
    identities: {
      senderIdentities: async (_tenantId: string, names: string[]) => ({ identities: names.includes(identity.identity) ? [identity] : [] }),
    },
    identityVerifier: new LocalIdentityVerifier(),
    objects: table.objects,
    log: silentLog,
    settings: {
      maxCsvBytes: 1_000_000,
      webhookTimeoutMs: 1_000,
      sendConcurrency: 2,
      publicBaseUrl: 'http://localhost:3000',
      unsubscribeSecret: 'property-test-secret',
    },
  } as unknown as ModelDeps;
  let n = 0;
  return {
    deps,
    async prepare({ emails, suppressed }) {
      const transactionId = `txn-property-${++n}`;
      const now = new Date().toISOString();
      table.putTransaction({
        transaction_id: transactionId,
        tenant_id: tenantId,
        template_id: template.template_id,
        file_id: 'file-property',
        status: 'READY_TO_SEND',
        counts: emptyCounts(),
        status_history: [],
        created_at: now,
        updated_at: now,
      });
      const messages = messageRecords(transactionId, tenantId, emails);
      table.putMessages(messages);
      for (const email of suppressed)
        await table.suppressions.putSuppression({ tenant_id: tenantId, email, reason: 'TEST', created_at: now });
      return { transactionId, tenantId, templateId: template.template_id, batchId: BATCH_ID, messages };
    },
    counts: async (transactionId) => table.counts(transactionId),
  };
}

/** The template every interleaving sends. */
export const TEMPLATE = { subject: 'Hi {{ email }}', html: '<p>Hi {{ email }}, <a href="{{ unsubscribe_url }}">unsubscribe</a></p>' };

export const silentLog: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLog };
const quietTemporalLogger = new DefaultLogger('ERROR');

/** Builds the CREATED message records of a fixture (as ingest writes them). */
export function messageRecords(transactionId: string, tenantId: string, emails: string[]): MessageRecord[] {
  const at = new Date().toISOString();
  return emails.map((email, i) => ({
    message_id: `${BATCH_ID}-r${String(i + 2).padStart(9, '0')}`,
    batch_id: BATCH_ID,
    transaction_id: transactionId,
    tenant_id: tenantId,
    row: i + 2,
    recipient_email: email,
    placeholder_data: {},
    status: 'CREATED',
    status_history: [{ status: 'CREATED', timestamp: at, metadata: { source: 'csv_processing' } }],
    created_at: at,
    updated_at: at,
  }));
}

// ---------------------------------------------------------------------------------------------
// Statistics over a whole property run

export class Stats {
  interleavings = 0;
  /** Interleavings replayed step for step on a second store (the stand-in beside DynamoDB Local) with the same outcome. */
  mirrored = 0;
  attempts = 0;
  crashes = 0;
  cancels = 0;
  hangs = 0;
  acceptances = 0;
  allowedResends = 0;
  /** Allowed resends where SES took the earlier-marked attempt's call only after the takeover's (a call held up past the grace). */
  lateAcceptances = 0;
  takeovers = 0;
  eventsApplied = 0;
  eventsDuplicate = 0;
  reruns = 0;
  proofPassRescues = 0;
  /** Runs whose live counters (before the recount) were behind it: by cause. */
  liveCountDrift = { crash: 0, takeover: 0, failedAttempt: 0, eventSettled: 0, other: 0 };
  finalStatuses: Record<string, number> = {};

  summary(): string {
    const finals = Object.entries(this.finalStatuses)
      .sort()
      .map(([s, n]) => `${s} ${n}`)
      .join(', ');
    return (
      `${this.interleavings} interleavings${this.mirrored ? ` (${this.mirrored} replayed on the in-memory stand-in, same outcome)` : ''}: ${this.attempts} attempts (${this.crashes} crashed, ${this.cancels} cancelled, ` +
      `${this.hangs} SES calls hung), ${this.acceptances} SES acceptances, ${this.allowedResends} allowed resends ` +
      `(grace passed, no Send event; ${this.lateAcceptances} of them an earlier call SES took only after the resend), ${this.takeovers} takeovers of a stale SENDING, ${this.reruns} chunk reruns, ` +
      `${this.proofPassRescues} proof-pass rescues, live counters behind the recount in ${this.liveCountDrift.crash} runs with a crash, ` +
      `${this.liveCountDrift.takeover} more with a takeover, ${this.liveCountDrift.failedAttempt} more with an attempt that failed ` +
      `(throttled, transient) before recording its counts, ${this.liveCountDrift.eventSettled} more where an SES event settled a message ` +
      `its sender got no answer for, ${this.liveCountDrift.other} others, ` +
      `${this.eventsApplied} events applied (${this.eventsDuplicate} duplicates); final statuses: ${finals}`
    );
  }
}

// ---------------------------------------------------------------------------------------------
// One interleaving

class CrashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrashError';
  }
}

interface AttemptRun {
  label: string;
  token: string;
  plan?: AttemptPlan;
  dead: boolean;
  crashedAt?: string;
  env: MockActivityEnvironment;
  done: boolean;
  outcome?: { ok: true; result: SendChunkResult } | { ok: false; error: unknown };
}

interface Acceptance {
  messageId: string;
  token: string;
  sesId: string;
  /** Order of acceptance. */
  seq: number;
}

const SENT_OR_LATER: MessageStatus[] = ['SENT', 'DELIVERED', 'OPENED', 'CLICKED', 'BOUNCED', 'COMPLAINED'];
const settled = (status: MessageStatus) => !SENDABLE_STATUSES.includes(status);
const short = (messageId: string) => `m${Number(messageId.slice(-9)) - 1}`;
const realNow = () => Math.round(performance.timeOrigin + performance.now());

type History = { status?: string; event?: string; timestamp: string; metadata?: Record<string, unknown> }[];

class World {
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private hung: { label: string; resolve: () => void }[] = [];
  private held: { until: number; label: string; event: SesEvent }[] = [];
  private readonly processSesEvent;
  readonly runs: AttemptRun[] = [];
  readonly acceptances: Acceptance[] = [];
  readonly violations: string[] = [];
  readonly input: SendChunkInput;
  /** The grace the send path applies: the chunk's, or the worker's floor when that is longer. */
  readonly grace: number;
  readonly runId = `run-${Math.random().toString(36).slice(2, 10)}`;

  constructor(
    readonly s: fc.Scheduler,
    readonly scenario: Scenario,
    readonly backend: Backend,
    readonly fixture: Fixture,
    readonly stats: Stats,
  ) {
    const { deps } = backend;
    this.processSesEvent = createSesEventProcessor({
      store: deps.store,
      messages: deps.messages,
      batches: deps.batches,
      suppressions: deps.suppressions,
      log: silentLog,
      onOutcome: () => {},
    });
    this.grace = Math.max(GRACE_MS, (deps.settings as { minSendingGraceMs?: number }).minSendingGraceMs ?? 0);
    this.input = {
      transactionId: fixture.transactionId,
      tenantId: fixture.tenantId,
      templateId: fixture.templateId,
      batchId: fixture.batchId,
      limit: 10,
      sendingGraceMs: GRACE_MS,
    };
  }

  // ---- bookkeeping of what is in flight, so each step ends before the next is picked ----

  track<T>(promise: Promise<T>): Promise<T> {
    this.inflight += 1;
    const done = () => {
      this.inflight -= 1;
      if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    promise.then(done, done);
    return promise;
  }

  private async quiesce(): Promise<void> {
    for (let quiet = 0; quiet < 2;) {
      await new Promise<void>((r) => setImmediate(r));
      if (this.inflight === 0) quiet += 1;
      else {
        quiet = 0;
        await new Promise<void>((r) => this.idleWaiters.push(r));
      }
    }
  }

  private steps = 0;
  private pausesDue: { ms: number; afterStep: number }[] = [];

  private gate(label: string): Promise<void> {
    return this.s.schedule(Promise.resolve(), label).then(() => {
      this.steps += 1;
      this.schedulePauses();
    });
  }

  /** Each pause becomes a scheduled step once its `afterStep` steps have run (so pauses fall anywhere in the run). */
  schedulePauses(): void {
    if (this.steps === 0) this.pausesDue = this.pausesDue.length > 0 ? this.pausesDue : [...this.scenario.pauses];
    const due = this.pausesDue.filter((p) => p.afterStep <= this.steps);
    this.pausesDue = this.pausesDue.filter((p) => p.afterStep > this.steps);
    for (const p of due) void this.s.schedule(Promise.resolve(), `${p.ms / 1000} s pass`).then(() => this.advance(p.ms));
  }

  /** Runs scheduled steps one at a time until `until()` holds. */
  async drive(until: () => boolean): Promise<void> {
    for (let steps = 0; ; steps += 1) {
      await this.quiesce();
      if (until()) return;
      if (this.s.count() === 0) {
        // Nothing else can happen before a hung SES call ends: time passes until it does.
        if (this.hung.length > 0) {
          this.advance(HEARTBEAT_TIMEOUT_MS);
          continue;
        }
        throw new Error('model stuck: nothing is scheduled and the run is not over');
      }
      if (steps > 20_000) throw new Error('model stuck: too many steps');
      await this.s.waitNext(1);
    }
  }

  advance(ms: number): void {
    vi.setSystemTime(Date.now() + ms);
    if (ms >= HEARTBEAT_TIMEOUT_MS) {
      // Hung SES calls end now that the heartbeat timeout passed, at points the scheduler picks.
      for (const h of this.hung.splice(0)) void this.gate(`SES answers ${h.label} (after hanging)`).then(h.resolve);
    }
  }

  // ---- SES and its events ----

  private accept(messageId: string, token: string, label: string): string {
    const sesId = `ses-${this.runId}-${this.acceptances.length}`;
    const plan = this.scenario.events[this.acceptances.length % this.scenario.events.length]!;
    this.acceptances.push({ messageId, token, sesId, seq: this.acceptances.length });
    this.stats.acceptances += 1;
    const message = this.fixture.messages.find((m) => m.message_id === messageId)!;
    const mail = {
      messageId: sesId,
      timestamp: new Date().toISOString(),
      destination: [message.recipient_email],
      tags: { transaction_id: [message.transaction_id], batch_id: [message.batch_id], message_id: [messageId] },
    };
    const publish = (event: SesEvent, copies: number, held: boolean, name: string) => {
      for (let c = 0; c < copies; c += 1) {
        const what = `${name}${c > 0 ? ' again' : ''} for ${label}`;
        if (held) this.held.push({ until: plan.heldUntil, label: what, event });
        else void this.gate(what).then(() => this.deliver(event, what));
      }
    };
    publish({ eventType: 'Send', mail }, plan.send, plan.held === 'send' || plan.held === 'both', 'Send event');
    const outcomeHeld = plan.held === 'outcome' || plan.held === 'both';
    if (plan.outcome === 'delivery') {
      publish({ eventType: 'Delivery', mail, delivery: { smtpResponse: '250 2.0.0 OK' } }, plan.outcomeCopies, outcomeHeld, 'Delivery');
    } else if (plan.outcome !== 'none') {
      const bounceType = plan.outcome === 'bounce-permanent' ? 'Permanent' : 'Transient';
      publish(
        {
          eventType: 'Bounce',
          mail,
          bounce: { bounceType, bounceSubType: 'General', bouncedRecipients: [{ emailAddress: message.recipient_email }] },
        },
        plan.outcomeCopies,
        outcomeHeld,
        `${bounceType} Bounce`,
      );
    }
    return sesId;
  }

  private async deliver(event: SesEvent, label: string): Promise<void> {
    try {
      const outcome = await this.track(this.processSesEvent(event));
      if (outcome === 'applied') this.stats.eventsApplied += 1;
      else if (outcome === 'duplicate') this.stats.eventsDuplicate += 1;
      else this.violations.push(`${label}: the event path answered ${outcome}`);
    } catch (error) {
      this.violations.push(`${label}: the event path failed: ${(error as Error).message}`);
    }
  }

  /** Delivers the held-back events due by `step`. */
  async deliverHeld(step: number): Promise<void> {
    const due = this.held.filter((h) => h.until <= step);
    this.held = this.held.filter((h) => h.until > step);
    for (const h of due) await this.deliver(h.event, `${h.label} (held back)`);
  }

  private messenger(run: AttemptRun): Messenger {
    const alive = () => {
      if (run.dead) throw new CrashError(`${run.label} crashed at ${run.crashedAt}`);
    };
    return {
      send: async (email: OutgoingEmail, signal?: AbortSignal) => {
        const messageId = email.headers['X-Message-Id']!;
        const index = this.fixture.messages.findIndex((m) => m.message_id === messageId);
        const label = `${run.label} ${short(messageId)}`;
        await this.gate(`${label}: the SES request arrives`);
        alive();
        const abortError = () => classifySesError(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
        if (signal?.aborted) throw abortError();
        const answer: SesAnswer = run.plan?.answers[index] ?? 'accept';
        const takes = answer === 'accept' || ((answer === 'transient' || answer === 'hang') && (run.plan?.sesTakes[index] ?? false));
        const sesId = takes ? this.accept(messageId, run.token, label) : undefined;
        let response: Promise<void>;
        if (answer === 'hang') {
          this.stats.hangs += 1;
          response = new Promise<void>((resolve) => this.hung.push({ label, resolve }));
        } else response = this.gate(`SES answers ${label}`);
        const aborted = await new Promise<boolean>((resolve) => {
          const onAbort = () => resolve(true);
          signal?.addEventListener('abort', onAbort, { once: true });
          void response.then(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve(false);
          });
        });
        alive();
        if (aborted) throw abortError();
        const accepted = () => {
          if (run.plan?.crash?.at === 'after-accept' && run.plan.crash.message % this.scenario.messages === index)
            this.crash(run, 'after-accept');
          return { messageId: sesId! };
        };
        switch (answer) {
          case 'accept':
            return accepted();
          case 'throttle':
            throw classifySesError(Object.assign(new Error('Maximum sending rate exceeded.'), { name: 'TooManyRequestsException' }));
          case 'reject':
            throw classifySesError(Object.assign(new Error('Email address is not verified.'), { name: 'MessageRejected' }));
          case 'transient':
            throw classifySesError(
              Object.assign(new Error('Internal failure'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }),
            );
          case 'hang':
            if (run.plan?.hangEnds[index] === 'answer' && takes) return accepted();
            if (run.plan?.hangEnds[index] === 'answer') throw new SendError('transient', 'ServiceUnavailable', 'Service unavailable');
            throw classifySesError(Object.assign(new Error('Request timed out'), { name: 'TimeoutError' }));
        }
      },
    };
  }

  private crash(run: AttemptRun, at: string): never {
    run.dead = true;
    run.crashedAt = at;
    this.stats.crashes += 1;
    throw new CrashError(`${run.label} crashed ${at}`);
  }

  // ---- attempts ----

  /** The deps one attempt sees: every call waits at a scheduled point, and a crashed attempt's calls fail. */
  private attemptDeps(run: AttemptRun): ActivityDeps {
    const base = this.backend.deps;
    const alive = () => {
      if (run.dead) throw new CrashError(`${run.label} crashed at ${run.crashedAt}`);
    };
    const crashes = (point: CrashPoint, messageId: string) =>
      run.plan?.crash?.at === point && this.fixture.messages[run.plan.crash.message % this.scenario.messages]?.message_id === messageId;
    const tracked = <T extends object>(target: T, overrides: Record<string, unknown> = {}): T =>
      new Proxy(target, {
        get: (t, prop) => {
          if (typeof prop === 'string' && prop in overrides) return overrides[prop];
          const value = Reflect.get(t, prop, t) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            alive();
            const out = (value as (...a: unknown[]) => unknown).apply(t, args);
            return out instanceof Promise ? this.track(out) : out;
          };
        },
      });
    const L = run.label;
    const step = async <T>(label: string, call: () => Promise<T>): Promise<T> => {
      await this.gate(label);
      alive();
      const out = await this.track(call());
      alive();
      return out;
    };
    const messages: Messages = base.messages;
    return {
      ...base,
      store: tracked(base.store, {
        updateCounts: (...args: Parameters<ModelDeps['store']['updateCounts']>) =>
          step(`${L} adds to the counters ${JSON.stringify(args[1])}`, () => base.store.updateCounts(...args)),
      }),
      messages: tracked(messages, {
        pageMessages: (...args: Parameters<Messages['pageMessages']>) =>
          step(`${L} reads its page${args[4] ? ' (unsettled only)' : ''}`, () => messages.pageMessages(...args)),
        getMessage: (...args: Parameters<Messages['getMessage']>) =>
          step(`${L} re-reads ${short(args[2])}`, () => messages.getMessage(...args)),
        transitionMessage: async (...args: Parameters<Messages['transitionMessage']>) => {
          const [message, to] = args;
          await this.gate(`${L} writes ${short(message.message_id)} ${to}`);
          alive();
          if (to === 'SENDING' && crashes('before-mark', message.message_id)) this.crash(run, 'before-mark');
          const ok = await this.track(messages.transitionMessage(...args));
          alive();
          if (to === 'SENDING' && ok && crashes('after-mark', message.message_id)) this.crash(run, 'after-mark');
          if (to === 'SENT' && crashes('after-sent', message.message_id)) this.crash(run, 'after-sent');
          return ok;
        },
      }),
      batches: tracked(base.batches),
      suppressions: tracked(base.suppressions),
      identities: tracked(base.identities),
      identityVerifier: tracked(base.identityVerifier),
      objects: tracked(base.objects),
      messenger: this.messenger(run),
      log: silentLog,
      settings: { ...base.settings, sendConcurrency: this.scenario.concurrency },
    };
  }

  start(input: SendChunkInput, activityId: string, attempt: number, plan?: AttemptPlan): AttemptRun {
    const info: Partial<Info> = {
      activityId,
      attempt,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
      workflowExecution: { workflowId: `txn-${this.fixture.transactionId}/batch-1`, runId: this.runId },
    };
    const env = new MockActivityEnvironment(info, { logger: quietTemporalLogger });
    const label = `${activityId === 'chunk' ? '' : `${activityId} `}attempt ${attempt}`;
    const run: AttemptRun = { label, token: `${this.runId}:${activityId}:${attempt}`, plan, dead: false, env, done: false };
    this.runs.push(run);
    this.stats.attempts += 1;
    const { sendBatchChunk } = createActivities(this.attemptDeps(run));
    void (env.run(sendBatchChunk, input) as Promise<SendChunkResult>).then(
      (result) => {
        run.outcome = { ok: true, result };
        run.done = true;
      },
      (error: unknown) => {
        run.outcome = { ok: false, error };
        run.done = true;
        const expected =
          error instanceof CrashError ||
          (error instanceof ApplicationFailure && (error.type === 'SesThrottled' || error.type === 'SesTransient'));
        if (!expected) this.violations.push(`${label} failed unexpectedly: ${(error as Error)?.stack ?? String(error)}`);
      },
    );
    return run;
  }

  /** The overlapping attempts of the scenario: attempt n+1 starts at a point after attempt n started. */
  startOverlapping(i = 0): void {
    const plan = this.scenario.attempts[i]!;
    if (i > 0) {
      this.advance(HEARTBEAT_TIMEOUT_MS + plan.backoffMs);
      const previous = this.runs[i - 1]!;
      if (this.scenario.attempts[i - 1]!.cancelled) {
        void this.gate(`Temporal cancels ${previous.label}`).then(() => {
          this.stats.cancels += 1;
          previous.env.cancel();
        });
      }
    }
    this.start(this.input, 'chunk', i + 1, plan);
    if (i + 1 < this.scenario.attempts.length) void this.gate(`attempt ${i + 2} starts`).then(() => this.startOverlapping(i + 1));
  }

  /** One activity as Temporal runs it: attempts (that do not crash, SES accepting) until one succeeds. */
  async activity(input: SendChunkInput, activityId: string, firstAttempt = 1): Promise<SendChunkResult> {
    for (let attempt = firstAttempt; ; attempt += 1) {
      const run = this.start(input, activityId, attempt);
      await this.drive(() => run.done);
      const outcome = run.outcome!;
      if (outcome.ok) return outcome.result;
      if (attempt - firstAttempt > 8) throw new Error(`${activityId} fails on every attempt: ${String(outcome.error)}`);
      this.advance(1_000 * 2 ** (attempt - firstAttempt));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running and checking one interleaving

export interface InterleavingOutcome {
  violations: string[];
  /** What happened, without ids and times: the same for two stores that behave alike under one schedule. */
  digest: string;
}

export async function runInterleaving(backend: Backend, s: fc.Scheduler, scenario: Scenario, stats: Stats): Promise<InterleavingOutcome> {
  vi.setSystemTime(realNow());
  const tag = Math.random().toString(36).slice(2, 10);
  const emails = Array.from({ length: scenario.messages }, (_, i) => `prop-${tag}-${i}@example.com`);
  const suppressed = scenario.suppressed !== null && scenario.suppressed < scenario.messages ? [emails[scenario.suppressed]!] : [];
  const fixture = await backend.prepare({ emails, suppressed });
  const world = new World(s, scenario, backend, fixture, stats);
  stats.interleavings += 1;

  // 1. The overlapping attempts, and the pauses, at points the scheduler picks.
  world.schedulePauses();
  world.startOverlapping();
  const attempts = scenario.attempts.length;
  await world.drive(() => world.runs.length === attempts && world.runs[attempts - 1]!.done);

  // 2. The batch workflow goes on with the last attempt's outcome (earlier ones may still run).
  const last = world.runs[attempts - 1]!;
  const lastOutcome = last.outcome!;
  let result: SendChunkResult;
  if (lastOutcome.ok) result = lastOutcome.result;
  else {
    // Temporal retries: after the heartbeat timeout when the worker died, else after a backoff.
    world.advance(last.dead ? HEARTBEAT_TIMEOUT_MS + 1_000 : 1_000);
    result = await world.activity(world.input, 'chunk', attempts + 1);
  }
  let step = 0;
  await world.deliverHeld(step);
  for (let rerun = 1; result.deferred > 0; rerun += 1) {
    if (rerun > 6) {
      world.violations.push(`P2: the chunk still defers ${result.deferred} after ${rerun - 1} reruns`);
      break;
    }
    stats.reruns += 1;
    world.advance(world.grace + 1_000);
    await world.deliverHeld(++step);
    result = await world.activity(world.input, `chunk-rerun-${rerun}`);
  }
  const afterChunkLoop = await readAll(backend, fixture);
  const leftBehind = afterChunkLoop.filter((m) => !settled(m.status));
  if (leftBehind.length > 0 && result.deferred === 0) {
    stats.proofPassRescues += 1;
    world.violations.push(
      `P2a: the chunk reported nothing deferred (${JSON.stringify(result)}) but left ${leftBehind
        .map((m) => `${short(m.message_id)} ${m.status}`)
        .join(', ')} for the proof pass`,
    );
  }
  // The proof pass over unsettled messages, as workflows/batch.workflow.ts's sendUnsettled.
  for (let pass = 0; ; pass += 1) {
    const proof = await world.activity({ ...world.input, unsettledOnly: true } as SendChunkInput, `prove-${pass}`);
    if (proof.deferred === 0) break;
    if (pass > 6) {
      world.violations.push(`P2: the proof pass still defers ${proof.deferred} after ${pass} passes`);
      break;
    }
    world.advance(world.grace + 1_000);
    await world.deliverHeld(++step);
  }
  // Whatever is still running or on its way ends; the held-back events arrive at last.
  await world.drive(() => world.runs.every((r) => r.done) && world.s.count() === 0);
  await world.deliverHeld(Number.POSITIVE_INFINITY);
  await world.drive(() => world.s.count() === 0);

  const final = await readAll(backend, fixture);
  const live = await backend.counts(fixture.transactionId);
  checkProperties(world, final, stats);
  await checkCounters(world, backend, fixture, final, stats);
  return { violations: world.violations, digest: digestOf(world, final, live) };
}

/** The run as a comparable text: each message's status and history, SES's acceptances, each attempt's outcome, the live counters. */
function digestOf(world: World, final: MessageRecord[], live: Counts): string {
  const strip = (token: unknown) => (typeof token === 'string' ? token.replace(`${world.runId}:`, '') : '');
  return JSON.stringify({
    messages: final.map((m) => ({
      status: m.status,
      sesId: m.ses_message_id !== undefined,
      history: historyOf(m).map((h) => [h.status ?? '', h.event ?? '', strip(h.metadata?.attempt)].join('/')),
    })),
    acceptances: world.acceptances.map((a) => `${short(a.messageId)}/${strip(a.token)}`),
    attempts: world.runs.map((r) => [r.label, r.outcome?.ok ? JSON.stringify(r.outcome.result) : (r.outcome?.error as Error)?.name]),
    counts: { sent: live.sent, failed: live.failed, suppressed: live.suppressed },
  });
}

async function readAll(backend: Backend, fixture: Fixture): Promise<MessageRecord[]> {
  const page = await backend.deps.messages.pageMessages(fixture.transactionId, fixture.batchId, 100);
  return page.items;
}

function historyOf(m: MessageRecord): History {
  return m.status_history as unknown as History;
}

/**
 * How often another attempt took the message from an attempt's SENDING (a stale mark taken
 * over: SENDING again, or SUPPRESSED); the event path moving SENDING on is not a takeover.
 */
function takeoversOf(history: History): number {
  let n = 0;
  let lastStatus: string | undefined;
  for (const h of history) {
    if (h.event === undefined && lastStatus === 'SENDING' && (h.status === 'SENDING' || h.status === 'SUPPRESSED')) n += 1;
    if (h.status) lastStatus = h.status;
  }
  return n;
}

function checkProperties(world: World, final: MessageRecord[], stats: Stats): void {
  for (const m of final) {
    stats.finalStatuses[m.status] = (stats.finalStatuses[m.status] ?? 0) + 1;
    const history = historyOf(m);
    stats.takeovers += takeoversOf(history);
    // P2
    if (!settled(m.status)) {
      world.violations.push(`P2: ${short(m.message_id)} ends ${m.status}; history ${JSON.stringify(history)}`);
    }
    // P1: SES's acceptances in the order of their SENDING marks; each later one must come from
    // a mark set at least the grace period after the earlier one's, with no Send event stored before it.
    const markOf = (token: string) => history.findIndex((h) => h.status === 'SENDING' && h.metadata?.attempt === token);
    const accepted = world.acceptances
      .filter((a) => a.messageId === m.message_id)
      .map((a) => ({ ...a, mark: markOf(a.token) }))
      .sort((x, y) => x.mark - y.mark);
    if (accepted.some((a) => a.mark < 0)) {
      world.violations.push(
        `P1: ${short(m.message_id)} accepted by SES without a SENDING mark of its attempt; history ${JSON.stringify(history)}`,
      );
      continue;
    }
    for (let k = 1; k < accepted.length; k += 1) {
      const earlier = accepted[k - 1]!;
      const later = accepted[k]!;
      const sendEventBefore = history.slice(0, later.mark).some((h) => h.event === 'SEND');
      const elapsed = Date.parse(history[later.mark]!.timestamp) - Date.parse(history[earlier.mark]!.timestamp);
      if (!sendEventBefore && elapsed >= world.grace) {
        stats.allowedResends += 1;
        if (earlier.seq > later.seq) stats.lateAcceptances += 1;
        continue;
      }
      world.violations.push(
        `P1: SES accepted ${short(m.message_id)} ${accepted.length} times; the mark of ${later.token.split(':').slice(1).join(' attempt ')} ` +
          `came ${elapsed / 1000} s after that of ${earlier.token.split(':').slice(1).join(' attempt ')}` +
          `${sendEventBefore ? ', with a Send event already in the store' : ''} (grace ${world.grace / 1000} s); history ${JSON.stringify(history)}`,
      );
    }
  }
}

/** The batch's recount, by the same rules as tallyBatch's countBatch. */
function recount(final: MessageRecord[]) {
  const counts = { sent: 0, failed: 0, suppressed: 0 };
  for (const m of final) {
    if (m.status === 'FAILED') counts.failed += 1;
    else if (m.status === 'SUPPRESSED') counts.suppressed += 1;
    else if (m.status !== 'CANCELLED' && (m.ses_message_id !== undefined || SENT_OR_LATER.includes(m.status))) counts.sent += 1;
  }
  return counts;
}

async function checkCounters(world: World, backend: Backend, fixture: Fixture, final: MessageRecord[], stats: Stats): Promise<void> {
  const expected = recount(final);
  const pick = (c: Counts) => ({ sent: c.sent, failed: c.failed, suppressed: c.suppressed });
  const live = pick(await backend.counts(fixture.transactionId));
  const takeovers = final.reduce((n, m) => n + takeoversOf(historyOf(m)), 0);
  if (JSON.stringify(live) !== JSON.stringify(expected)) {
    const eventSettled = final.some((m) => {
      const h = historyOf(m);
      return !h.some((e) => e.event === undefined && (e.status === 'SENT' || e.status === 'FAILED' || e.status === 'SUPPRESSED'));
    });
    const failedAttempt = world.runs.some((r) => r.outcome && !r.outcome.ok);
    const cause = world.runs.some((r) => r.dead)
      ? 'crash'
      : takeovers > 0
        ? 'takeover'
        : failedAttempt
          ? 'failedAttempt'
          : eventSettled
            ? 'eventSettled'
            : 'other';
    stats.liveCountDrift[cause] += 1;
    if (cause === 'other') {
      world.violations.push(
        `P3: no attempt crashed or failed, no message was taken over or settled by an event alone, yet the live counters ${JSON.stringify(live)} differ from the recount ${JSON.stringify(expected)}`,
      );
    }
  }
  // Live counters may lag (an attempt that failed or crashed before recording its counts, a
  // message the event path settled while its sender got no answer); they never count a message
  // the recount does not, except one taken over (both attempts counted it).
  if (live.sent > expected.sent + takeovers || live.failed > expected.failed + takeovers || live.suppressed > expected.suppressed) {
    world.violations.push(
      `P3: the live counters ${JSON.stringify(live)} exceed the recount ${JSON.stringify(expected)} by more than the ${takeovers} takeovers`,
    );
  }
  // The batch's recount and the transaction's reconcile make them exact whatever happened.
  const { tallyBatch, reconcileTransactionCounts } = createActivities({ ...backend.deps, log: silentLog } as unknown as ActivityDeps);
  const tally: BatchTally = await tallyBatch({ transactionId: fixture.transactionId, batchId: fixture.batchId, phase: 'completed' });
  await reconcileTransactionCounts({ transactionId: fixture.transactionId, totals: tally, phase: 'completed' });
  const reconciled = pick(await backend.counts(fixture.transactionId));
  if (JSON.stringify(reconciled) !== JSON.stringify(expected)) {
    world.violations.push(
      `P3: after the recount the counters ${JSON.stringify(reconciled)} differ from the messages ${JSON.stringify(expected)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The property run, with its replay command

export interface PropertyRun {
  backend: Backend;
  /**
   * A second store to replay every interleaving on, step for step in the same order (by
   * fast-check's task ids); the two runs must tell the same story (digest), or the stores differ.
   */
  mirror?: () => Backend;
  numRuns: number;
  /** A fixed seed and run (a kept counterexample); else FC_SEED / FC_PATH, else a random seed. */
  seed?: number;
  path?: string;
  /** The replay command's tail, e.g. `--project unit test/unit/send-interleavings.property.test.ts`. */
  vitestArgs: string;
}

export async function checkInterleavings(run: PropertyRun): Promise<{ stats: Stats; seed: number; numRuns: number }> {
  const seed = run.seed ?? (process.env.FC_SEED ? Number(process.env.FC_SEED) : Math.floor(Math.random() * 2 ** 31));
  const path = run.seed !== undefined ? run.path : process.env.FC_PATH || undefined;
  const numRuns = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : run.numRuns;
  const stats = new Stats();
  const property = fc.asyncProperty(fc.scheduler(), scenarioArb, async (s, scenario) => {
    const primary = await runInterleaving(run.backend, s, scenario, stats);
    const violations = [...primary.violations];
    if (run.mirror && violations.length === 0) {
      const order = s
        .report()
        .filter((task) => task.status !== 'pending')
        .map((task) => task.taskId);
      const labels = s
        .report()
        .filter((task) => task.status !== 'pending')
        .map((task) => task.label);
      const replay = fc.schedulerFor(order);
      try {
        const mirrored = await runInterleaving(run.mirror(), replay, scenario, new Stats());
        const replayedLabels = replay
          .report()
          .filter((task) => task.status !== 'pending')
          .map((task) => task.label);
        if (mirrored.digest !== primary.digest || JSON.stringify(replayedLabels) !== JSON.stringify(labels)) {
          violations.push(
            `the stores differ under one schedule:\n  real:     ${primary.digest}\n  stand-in: ${mirrored.digest}` +
              `\n  real steps:     ${labels.join(' | ')}\n  stand-in steps: ${replayedLabels.join(' | ')}`,
          );
        }
        stats.mirrored += 1;
      } catch (error) {
        violations.push(`the stand-in could not follow the real store's schedule: ${(error as Error).message}`);
      }
    }
    if (violations.length > 0) throw new Error(violations.join('\n'));
  });
  const details = await fc.check(property, { seed, path, numRuns });
  if (details.failed) {
    const [scheduler, scenario] = details.counterexample ?? [];
    // The run that failed, by its index: replaying it shrinks again to the same counterexample. (A
    // deeper path does not replay faithfully: a scheduler shrinks from what its own run did.)
    const failedRun = String(details.counterexamplePath).split(':')[0];
    const replay = `FC_SEED=${details.seed} FC_PATH=${failedRun} npx vitest run ${run.vitestArgs}`;
    throw new Error(
      [
        `The send path broke a property after ${details.numRuns} interleavings (${details.numShrinks} shrinks, path ${details.counterexamplePath}).`,
        `replay with: ${replay}`,
        `${(details.errorInstance as Error | undefined)?.message ?? String(details.errorInstance)}`,
        `scenario: ${JSON.stringify(scenario)}`,
        `schedule: ${String(scheduler)}`,
        `replay with: ${replay}`,
      ].join('\n'),
    );
  }
  return { stats, seed, numRuns: details.numRuns };
}
