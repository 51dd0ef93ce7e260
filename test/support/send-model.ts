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
// - Send, Delivery and Bounce (permanent, transient) events for every message SES accepted,
//   a retry's too (SES publishes them for each acceptance): missing, once or twice, at any point
//   the scheduler picks (before the sender saw SES's answer, after a takeover, ...) or held back
//   past the grace period into the batch's later runs or retry rounds; and one more late copy
//   of the Send event or the outcome, arriving in a later retry round (after a retry superseded
//   its attempt, typically);
// - the soft-bounce policy (issue 17, item 2) in the event processor: retries 10 s and 20 s after
//   a transient bounce, within a deadline from the first send that is ample or tight (60 s);
// - time: Date is faked (vi.useFakeTimers with only Date) and moves only at scheduled points
//   (an attempt starting, a pause of 5 s or of more than the grace period, a hung call ending,
//   the batch's timer for the next retry).
//
// Every store and SES call of an attempt waits at a scheduled point first; after each step
// the model waits until no store call is in flight, so the order of steps, and so the whole
// run, follows from fast-check's seed and path alone (against DynamoDB Local too).
//
// Then the batch is driven to its end as workflows/batch.workflow.ts does: a failed activity
// is retried, the chunk runs again (after the grace period) while it reports `deferred`, then the
// proof pass over unsettled messages (`unsettledOnly`) runs until a pass defers nothing; these
// later attempts do not crash and SES accepts them. Earlier attempts may still be running
// meanwhile. Held-back events arrive between those runs. Once every attempt has ended, the
// soft-bounce retries, as awaitOutcomes and retrySoftBounced drive them: the recount (tallyBatch
// with `withRetries`) says when the next retry is due, the clock moves to it, and a retry round
// runs passes of sendBatchChunk with `softBounceRetry` until one defers nothing, the grace
// period between them; the round's first pass as two or three overlapping attempts with the
// same faults as the chunk's (crashes, hangs, throttles, rejections, cancellations), the later
// passes' attempts SES accepts. Held-back and late events arrive at points the scheduler
// picks; a recipient may be suppressed meanwhile; when no retry is due any more, the events
// still on their way land, and the batch counts again (a late soft bounce makes one due).
// Everything the store takes is logged in one order: SENDING marks (a retry's: from
// SOFT_BOUNCED, with its round, the message's soft_bounce_retries), SES's acceptances, and each
// event with the status before and after it. Then the properties:
// - P1 / P1': SES accepts a message more than once only as follows. Within one round (the send,
//   or one retry round) a later acceptance comes from a SENDING mark of the send path set at
//   least the grace period after the earlier acceptance's mark, with no Send event stored in
//   the round before it (allowed: counted as `allowedResends`, or `retryRoundResends`); never
//   two retries' acceptances in one round. The first acceptance of retry round r comes from the
//   retry's mark, made no earlier than the retry_at that a soft bounce of an acceptance of round
//   r − 1 set when it took the message to SOFT_BOUNCED with r retries done;
// - P2 / P2': every message ends SENT or final (never CREATED / READY_TO_SEND / SENDING, nor
//   SOFT_BOUNCED: the retries are done or exhausted), with its recipient, and one SES accepted
//   never ends SUPPRESSED; an event of an attempt a retry superseded (its attempt's mark came
//   before a retry's mark) changes nothing, and the store ignores no event of an attempt no
//   retry came after; P2a: the chunk loop's last answer is true: when it reports nothing
//   deferred, every message of the chunk is settled before the proof pass runs (else the proof
//   pass had to rescue it);
// - P3: once every attempt of the send phase has ended, the live counters sendBatchChunk adds
//   (sent, failed, suppressed; retry passes add none) never exceed the recount from the stored
//   messages (by tallyBatch's rules) except by messages taken over (both attempts counted them),
//   and equal it when no attempt crashed or failed, nothing was taken over and every message was
//   settled by its sender (an attempt that crashes, or fails on a throttle or a transient error,
//   never records the counts it had not written yet; a message an SES event settled while its
//   sender got no answer is counted by nobody: the batch's recount repairs all of these, counted
//   as `liveCountDrift`);
// - P4: a soft bounce the policy retried moves no counter; at the end the event counters
//   (delivered, bounced, soft_bounced, ...) equal the flags stored (but for the soft bounces a
//   retry's suppression check ended: the send path writes those, the recount counts them); after
//   the batch's recount (tallyBatch) and the transaction's reconcile every counter (sent, failed,
//   suppressed and those) equals the recount of the stored messages, always.
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
import type { MessageEffect, SesEvent } from '../../src/domain/ses-event';
import type { SoftBouncePolicy } from '../../src/domain/soft-bounce';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import type { Logger } from '../../src/logging';
import type { Batches, MessageLocation, Messages, Suppressions } from '../../src/ports';

/** The grace the workflow passes to a chunk (SENDING_GRACE_SECONDS' default, 300 s). */
export const GRACE_MS = 300_000;
export const HEARTBEAT_TIMEOUT_MS = SEND_HEARTBEAT_TIMEOUT_MS;
const MAX_MESSAGES = 3;
const BATCH_ID = 'b00001';
/** The soft-bounce policy the event processor applies: two retries, 10 s and 20 s after the bounce. */
export const RETRY_DELAYS_MS = [10_000, 20_000];
/** Its final-state deadline: ample (never reached), or tight (a later retry would come too late). */
const DEADLINES_MS = { ample: 24 * 3_600_000, tight: 60_000 } as const;
/** Held-back events due in retry round r are due at RETRY_STEP + r (past any step of the send phase). */
const RETRY_STEP = 100;
/** Retry rounds the model drives at most (each message has at most RETRY_DELAYS_MS.length retries; throttles add rounds). */
const MAX_RETRY_ROUNDS = 10;

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
  /**
   * Held back past the grace period: delivered between the batch's later runs (step 0, 1, 2), else
   * in the first retry round at a point the scheduler picks (or at the end); an event of a retry's
   * acceptance held back arrives in the next retry round (or at the end).
   */
  held: 'none' | 'send' | 'outcome' | 'both';
  heldUntil: 0 | 1 | 2 | 3;
  /** One more copy of the Send event or of the outcome, late: it arrives in the retry round `lateRound` after this one (or at the end). */
  lateCopy: 'none' | 'send' | 'outcome';
  lateRound: 0 | 1;
}

/** The soft-bounce retries after the batch's send phase. */
export interface RetryPlan {
  /** The first retry pass of round r runs as rounds[r % length]'s overlapping attempts (later passes: attempts SES accepts). */
  rounds: AttemptPlan[][];
  /** What SES publishes for the k-th acceptance of a retry (cycled). */
  events: EventPlan[];
  /** Clock moves during the retries, at points the scheduler picks once `afterStep` steps of them have run. */
  pauses: { ms: number; afterStep: number }[];
  deadline: keyof typeof DEADLINES_MS;
  /** A recipient put on the suppression list during the retries, at a point the scheduler picks. */
  suppressDuringRetries: number | null;
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
  retries: RetryPlan;
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

const eventPlanArb = (outcomes: EventPlan['outcome'][]): fc.Arbitrary<EventPlan> =>
  fc.record({
    send: fc.constantFrom<(0 | 1 | 2)[]>(0, 1, 1, 2),
    outcome: fc.constantFrom(...outcomes),
    outcomeCopies: fc.constantFrom<(1 | 2)[]>(1, 2),
    held: fc.constantFrom<EventPlan['held'][]>('none', 'none', 'send', 'send', 'outcome', 'both'),
    heldUntil: fc.constantFrom<(0 | 1 | 2 | 3)[]>(0, 1, 2, 3),
    lateCopy: fc.constantFrom<EventPlan['lateCopy'][]>('none', 'none', 'send', 'outcome'),
    lateRound: fc.constantFrom<(0 | 1)[]>(0, 0, 1),
  });

const pausesArb = (maxStep: number) =>
  fc.array(fc.record({ ms: fc.constantFrom(5_000, GRACE_MS + 1_000, GRACE_MS + 1_000), afterStep: fc.nat(maxStep) }), { maxLength: 3 });

const retryPlanArb: fc.Arbitrary<RetryPlan> = fc.record({
  rounds: fc.array(fc.array(attemptPlanArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 2 }),
  // A retry soft-bounces again often: the next round, and the last (final), get explored.
  events: fc.array(eventPlanArb(['none', 'delivery', 'bounce-permanent', 'bounce-transient', 'bounce-transient']), {
    minLength: 4,
    maxLength: 4,
  }),
  pauses: pausesArb(16),
  deadline: fc.constantFrom<RetryPlan['deadline'][]>('ample', 'ample', 'ample', 'tight'),
  suppressDuringRetries: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(MAX_MESSAGES - 1) }),
});

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  messages: fc.integer({ min: 1, max: MAX_MESSAGES }),
  suppressed: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(MAX_MESSAGES - 1) }),
  concurrency: fc.constantFrom<(1 | 2)[]>(1, 2),
  attempts: fc.oneof(
    { weight: 1, arbitrary: fc.array(attemptPlanArb, { minLength: 2, maxLength: 2 }) },
    { weight: 2, arbitrary: fc.array(attemptPlanArb, { minLength: 3, maxLength: 3 }) },
  ),
  pauses: pausesArb(24),
  events: fc.array(eventPlanArb(['none', 'none', 'delivery', 'bounce-permanent', 'bounce-transient', 'bounce-transient']), {
    minLength: 6,
    maxLength: 6,
  }),
  retries: retryPlanArb,
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
  // Soft-bounce retries
  /** Interleavings in which SES accepted at least one retry. */
  runsWithRetries = 0;
  retryRounds = 0;
  retryPasses = 0;
  /** Acceptances of a retry (the first of its round), by the round's number (1: first retry, 2: second). */
  retryAcceptances: Record<number, number> = {};
  /** Allowed resends within a retry round (its attempt left SENDING, taken over after the grace, no Send event). */
  retryRoundResends = 0;
  /** Soft bounces the policy retried (SOFT_BOUNCED), and those that were final, by reason. */
  softBouncesRetried = 0;
  softBouncesFinal: Record<string, number> = {};
  /** Soft-bounced messages whose recipient was suppressed before their retry (BOUNCED, not sent again). */
  retriesSuppressed = 0;
  /** Retries that failed outright (SES refused the address): BOUNCED (soft) on the bounce before. */
  retriesFailed = 0;
  /** Events delivered of an attempt a retry had superseded, and how many of them the store ignored as superseded. */
  supersededEvents = 0;
  supersededIgnored = 0;

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
      `${this.eventsApplied} events applied (${this.eventsDuplicate} duplicates); final statuses: ${finals}; ` +
      `soft-bounce retries: ${this.runsWithRetries} runs with a retry SES accepted, ${this.retryRounds} retry rounds ` +
      `(${this.retryPasses} passes), retries accepted ${Object.entries(this.retryAcceptances)
        .map(([round, n]) => `${n} in round ${round}`)
        .join(', ')}, ${this.retryRoundResends} allowed resends within a retry round, ${this.softBouncesRetried} soft bounces ` +
      `retried, final ones ${Object.entries(this.softBouncesFinal)
        .sort()
        .map(([why, n]) => `${n} ${why}`)
        .join(
          ', ',
        )}, ${this.retriesSuppressed} suppressed before their retry, ${this.retriesFailed} retries refused by SES, ${this.supersededEvents} events of a ` +
      `superseded attempt delivered (${this.supersededIgnored} ignored by the store as superseded)`
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
  activityId: string;
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
  /** In the order of everything the model logs. */
  order: number;
}

/** A SENDING mark the store took, in the order of everything the model logs (`order`). */
interface Mark {
  order: number;
  messageId: string;
  token: string;
  /** The clock at the write (its history entry's timestamp). */
  at: number;
  /** A soft-bounce retry's mark (from SOFT_BOUNCED), or a mark of the send path (first, takeover). */
  retry: boolean;
  /** The retry round the mark belongs to: the message's soft_bounce_retries (0 before any retry). */
  round: number;
  /** A retry's: the SES ids it superseded (previous_ses_message_ids as it wrote them). */
  supersedes?: string[];
}

/** One SES event as the store answered it, with what the model knows about its attempt. */
interface Application {
  order: number;
  messageId: string;
  sesId: string;
  label: string;
  kind: MessageEffect['kind'];
  found: boolean;
  applied: boolean;
  /** The store said: an attempt a retry superseded. */
  superseded: boolean;
  /** The model knows: its attempt's mark came before a retry's mark of the message (its attempt was superseded). */
  ofSupersededAttempt: boolean;
  statusBefore?: MessageStatus;
  statusAfter?: MessageStatus;
  effect?: MessageEffect;
  /** Transaction counters that moved (read around soft bounces only). */
  countersMoved?: string[];
}

const SENT_OR_LATER: MessageStatus[] = ['SENT', 'SOFT_BOUNCED', 'DELIVERED', 'OPENED', 'CLICKED', 'BOUNCED', 'COMPLAINED'];
/** Where the batch leaves a message for good: settled for the send path, and no retry of it due. */
const isFinal = (status: MessageStatus) => !SENDABLE_STATUSES.includes(status) && status !== 'SOFT_BOUNCED';
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
  /** The SENDING marks the store took and the SES events it answered, in one order (`order`). */
  readonly marks: Mark[] = [];
  readonly applications: Application[] = [];
  private order = 0;
  readonly violations: string[] = [];
  readonly input: SendChunkInput;
  readonly policy: SoftBouncePolicy;
  /** The retry round the batch is in (-1: still sending), and how many acceptances of retries SES made. */
  round = -1;
  private retryAcceptances = 0;
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
    this.policy = { retryDelaysMs: RETRY_DELAYS_MS, finalStateDeadlineMs: DEADLINES_MS[scenario.retries.deadline] };
    const base = deps.messages;
    // The event path's store, observed: each applyEffect is logged with the status before and after.
    const observed: Messages = {
      messageItem: (m) => base.messageItem(m),
      pageMessages: (...args) => base.pageMessages(...args),
      chunkBounds: (...args) => base.chunkBounds(...args),
      getMessage: (...args) => base.getMessage(...args),
      transitionMessage: (...args) => base.transitionMessage(...args),
      findBySesMessageId: (...args) => base.findBySesMessageId(...args),
      applyEffect: (ref, effect, opts) => this.observeEffect(ref, effect, opts),
    };
    this.processSesEvent = createSesEventProcessor({
      store: deps.store,
      messages: observed,
      batches: deps.batches,
      suppressions: deps.suppressions,
      log: silentLog,
      onOutcome: () => {},
      softBounce: this.policy,
    });
    this.pausesDue = [...scenario.pauses];
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

  /** Something outside the send path (a store write) at a point the scheduler picks. */
  step(label: string, call: () => Promise<unknown>): void {
    void this.gate(label)
      .then(() => this.track(call()))
      .catch((error: unknown) => this.violations.push(`${label}: failed: ${(error as Error).message}`));
  }

  /** Pauses counted from now: each falls once `afterStep` more steps have run. */
  addPauses(pauses: { ms: number; afterStep: number }[]): void {
    this.pausesDue.push(...pauses.map((p) => ({ ms: p.ms, afterStep: this.steps + p.afterStep })));
    this.schedulePauses();
  }

  /** Each pause becomes a scheduled step once its `afterStep` steps have run (so pauses fall anywhere in the run). */
  schedulePauses(): void {
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

  private accept(messageId: string, token: string, label: string, sendRound?: string): string {
    const sesId = `ses-${this.runId}-${this.acceptances.length}`;
    const retrying = this.round >= 0;
    const plans = retrying ? this.scenario.retries.events : this.scenario.events;
    const plan = plans[(retrying ? this.retryAcceptances++ : this.acceptances.length) % plans.length]!;
    // Held back in the send phase: until that step of it; in a retry round: until the next round.
    const heldUntil = retrying ? RETRY_STEP + this.round + 1 : plan.heldUntil;
    const lateUntil = RETRY_STEP + (retrying ? this.round + 1 : 0) + plan.lateRound;
    this.acceptances.push({ messageId, token, sesId, seq: this.acceptances.length, order: this.log() });
    this.stats.acceptances += 1;
    const message = this.fixture.messages.find((m) => m.message_id === messageId)!;
    const mail = {
      messageId: sesId,
      timestamp: new Date().toISOString(),
      destination: [message.recipient_email],
      // As SES publishes the email's tags: a retry's carries its send round.
      tags: {
        transaction_id: [message.transaction_id],
        batch_id: [message.batch_id],
        message_id: [messageId],
        ...(sendRound !== undefined ? { send_round: [sendRound] } : {}),
      },
    };
    const publish = (event: SesEvent, copies: number, held: boolean, name: string, late: boolean) => {
      for (let c = 0; c < copies; c += 1) {
        const what = `${name}${c > 0 ? ' again' : ''} for ${label}`;
        if (held) this.held.push({ until: heldUntil, label: what, event });
        else void this.gate(what).then(() => this.deliver(event, what));
      }
      // One more copy, late: SES (or SNS) publishing it again in a later retry round.
      if (late) this.held.push({ until: lateUntil, label: `${name} late again for ${label}`, event });
    };
    publish({ eventType: 'Send', mail }, plan.send, plan.held === 'send' || plan.held === 'both', 'Send event', plan.lateCopy === 'send');
    const outcomeHeld = plan.held === 'outcome' || plan.held === 'both';
    const outcomeLate = plan.lateCopy === 'outcome';
    if (plan.outcome === 'delivery') {
      const delivery: SesEvent = { eventType: 'Delivery', mail, delivery: { smtpResponse: '250 2.0.0 OK' } };
      publish(delivery, plan.outcomeCopies, outcomeHeld, 'Delivery', outcomeLate);
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
        outcomeLate,
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

  /** The held-back events due in retry round `round`: each arrives at a point the scheduler picks. */
  releaseHeld(round: number): void {
    const due = this.held.filter((h) => h.until <= RETRY_STEP + round);
    this.held = this.held.filter((h) => h.until > RETRY_STEP + round);
    for (const h of due) void this.gate(`${h.label} (held back)`).then(() => this.deliver(h.event, `${h.label} (held back)`));
  }

  get heldBack(): number {
    return this.held.length;
  }

  private log(): number {
    return ++this.order;
  }

  /** The acceptance an SES id is of, with its mark. */
  acceptanceOf(sesId: string): { acceptance: Acceptance; mark?: Mark } | undefined {
    const acceptance = this.acceptances.find((a) => a.sesId === sesId);
    if (!acceptance) return undefined;
    return { acceptance, mark: this.markOf(acceptance.messageId, acceptance.token) };
  }

  markOf(messageId: string, token: string): Mark | undefined {
    return this.marks.find((m) => m.messageId === messageId && m.token === token);
  }

  /** What the model saw happen to one message, in order: marks, SES's acceptances, events as the store answered them. */
  storyOf(messageId: string): string {
    const name = (token: string) => token.replace(`${this.runId}:`, '');
    const lines: [number, string][] = [
      ...this.marks
        .filter((m) => m.messageId === messageId)
        .map((m): [number, string] => [m.order, `${name(m.token)} marks SENDING${m.retry ? ` (retry ${m.round})` : ''}`]),
      ...this.acceptances
        .filter((a) => a.messageId === messageId)
        .map((a): [number, string] => [a.order, `SES accepts ${name(a.token)}'s call: acceptance ${a.seq}`]),
      ...this.applications
        .filter((a) => a.messageId === messageId)
        .map((a): [number, string] => [
          a.order,
          `${a.label}: ${a.superseded ? 'superseded' : a.applied ? 'applied' : 'repeat'}, ${a.statusBefore} → ${a.statusAfter}` +
            `${a.effect?.fields.soft_bounce_retries !== undefined ? ` (soft_bounce_retries ${String(a.effect.fields.soft_bounce_retries)})` : ''}`,
        ]),
    ];
    return lines
      .sort((x, y) => x[0] - y[0])
      .map(([, line]) => line)
      .join('; ');
  }

  /** MessageTable.applyEffect as the event path calls it, logged: the status around it and, for a bounce, the counters. */
  private async observeEffect(
    ref: MessageLocation & { sesMessageId: string },
    effect: MessageEffect,
    opts?: { softBounce?: SoftBouncePolicy },
  ): ReturnType<Messages['applyEffect']> {
    const { deps } = this.backend;
    const attempt = this.acceptanceOf(ref.sesMessageId);
    // Superseded: a retry's mark came after the mark of the attempt SES published this event for.
    const ofSupersededAttempt =
      attempt?.mark !== undefined && this.marks.some((m) => m.messageId === ref.messageId && m.retry && m.order > attempt.mark!.order);
    const countsBefore = effect.softBounce ? await this.backend.counts(ref.transactionId) : undefined;
    const result = await deps.messages.applyEffect(ref, effect, opts);
    // What it left (read again only when the store says it wrote: otherwise the message is as it read it).
    const after = result.applied ? await deps.messages.getMessage(ref.transactionId, ref.batchId, ref.messageId) : result.before;
    let countersMoved: string[] | undefined;
    if (countsBefore) {
      const countsAfter = await this.backend.counts(ref.transactionId);
      countersMoved = (Object.keys(countsAfter) as (keyof Counts)[]).filter((k) => (countsAfter[k] ?? 0) !== (countsBefore[k] ?? 0));
    }
    this.applications.push({
      order: this.log(),
      messageId: ref.messageId,
      sesId: ref.sesMessageId,
      label: `${effect.kind} of ${attempt ? `${short(ref.messageId)}'s acceptance ${attempt.acceptance.seq}` : ref.sesMessageId}`,
      kind: effect.kind,
      found: result.found,
      applied: result.applied,
      superseded: result.superseded === true,
      ofSupersededAttempt,
      statusBefore: result.before?.status,
      statusAfter: after?.status,
      effect: result.effect,
      countersMoved,
    });
    return result;
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
        const sesId = takes ? this.accept(messageId, run.token, label, email.tags?.send_round) : undefined;
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
          const [message, to, opts] = args;
          await this.gate(`${L} writes ${short(message.message_id)} ${to}`);
          alive();
          if (to === 'SENDING' && crashes('before-mark', message.message_id)) this.crash(run, 'before-mark');
          const at = Date.now();
          const ok = await this.track(messages.transitionMessage(...args));
          if (to === 'SENDING' && ok) {
            const retry = opts.from.includes('SOFT_BOUNCED');
            const previous = this.marks.filter((m) => m.messageId === message.message_id).at(-1);
            const round = retry ? Number(opts.expect?.soft_bounce_retries ?? NaN) : (previous?.round ?? 0);
            const supersedes = retry ? ((opts.set?.previous_ses_message_ids as string[] | undefined) ?? []) : undefined;
            this.marks.push({ order: this.log(), messageId: message.message_id, token: run.token, at, retry, round, supersedes });
          }
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
    const run: AttemptRun = { label, activityId, token: `${this.runId}:${activityId}:${attempt}`, plan, dead: false, env, done: false };
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

  /** Overlapping attempts of one activity, one per plan: attempt n+1 starts at a point after attempt n started. */
  startOverlapping(input: SendChunkInput, activityId: string, plans: AttemptPlan[], i = 0): void {
    const plan = plans[i]!;
    if (i > 0) {
      this.advance(HEARTBEAT_TIMEOUT_MS + plan.backoffMs);
      const previous = this.runsOf(activityId)[i - 1]!;
      if (plans[i - 1]!.cancelled) {
        void this.gate(`Temporal cancels ${previous.label}`).then(() => {
          this.stats.cancels += 1;
          previous.env.cancel();
        });
      }
    }
    this.start(input, activityId, i + 1, plan);
    const next = `${activityId === 'chunk' ? '' : `${activityId} `}attempt ${i + 2} starts`;
    if (i + 1 < plans.length) void this.gate(next).then(() => this.startOverlapping(input, activityId, plans, i + 1));
  }

  runsOf(activityId: string): AttemptRun[] {
    return this.runs.filter((r) => r.activityId === activityId);
  }

  /**
   * An activity whose first attempts overlap as `plans` say (crashes, hangs, SES faults, Temporal's
   * cancellation), then (if the last of them failed) attempts SES accepts until one succeeds.
   */
  async overlappingActivity(input: SendChunkInput, activityId: string, plans: AttemptPlan[]): Promise<SendChunkResult> {
    this.startOverlapping(input, activityId, plans);
    await this.drive(() => this.runsOf(activityId).length === plans.length && this.runsOf(activityId)[plans.length - 1]!.done);
    const last = this.runsOf(activityId)[plans.length - 1]!;
    const outcome = last.outcome!;
    if (outcome.ok) return outcome.result;
    // Temporal retries: after the heartbeat timeout when the worker died, else after a backoff.
    this.advance(last.dead ? HEARTBEAT_TIMEOUT_MS + 1_000 : 1_000);
    return this.activity(input, activityId, plans.length + 1);
  }

  /**
   * One retry round, as batch.workflow.ts's retrySoftBounced: passes with softBounceRetry until
   * one defers nothing, the grace between them; the round's first pass under its plan's faults.
   */
  async retryRound(round: number): Promise<void> {
    const input: SendChunkInput = { ...this.input, softBounceRetry: true };
    const plans = this.scenario.retries.rounds[round % this.scenario.retries.rounds.length]!;
    this.stats.retryRounds += 1;
    this.stats.retryPasses += 1;
    let result = await this.overlappingActivity(input, `retry-${round}`, plans);
    for (let pass = 1; result.deferred > 0; pass += 1) {
      if (pass > 6) {
        this.violations.push(`P2': retry round ${round} still defers ${result.deferred} after ${pass} passes`);
        return;
      }
      this.stats.retryPasses += 1;
      this.advance(this.grace + 1_000);
      result = await this.activity(input, `retry-${round}-pass-${pass + 1}`);
    }
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

  // 1. The overlapping attempts, and the pauses, at points the scheduler picks; 2. the batch
  // workflow goes on with the last attempt's outcome (earlier ones may still run).
  world.schedulePauses();
  let result = await world.overlappingActivity(world.input, 'chunk', scenario.attempts);
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
  // Whatever is still running or on its way ends (events held back longer come during the retries).
  await world.drive(() => world.runs.every((r) => r.done) && world.s.count() === 0);
  const afterSending = await readAll(backend, fixture);
  await checkLiveCounters(world, backend, fixture, afterSending, stats);

  // 3. The soft-bounce retries, as the batch's wait for outcomes drives them; then the end.
  await driveRetries(world, backend, fixture);
  await world.drive(() => world.runs.every((r) => r.done) && world.s.count() === 0);
  await world.deliverHeld(Number.POSITIVE_INFINITY);
  await world.drive(() => world.s.count() === 0);

  const final = await readAll(backend, fixture);
  const live = await backend.counts(fixture.transactionId);
  checkProperties(world, final, stats);
  await checkCounters(world, backend, fixture, final);
  return { violations: world.violations, digest: digestOf(world, final, live) };
}

/**
 * The soft-bounce retries as workflows/batch.workflow.ts's awaitOutcomes drives them: the recount
 * (tallyBatch with `withRetries`) says when the next retry is due; the clock moves to it (the
 * batch's timer) and a retry round runs (retrySoftBounced); until no retry is due, once every
 * event on its way has landed (a late soft bounce makes one due: the batch counts again then).
 */
async function driveRetries(world: World, backend: Backend, fixture: Fixture): Promise<void> {
  const { tallyBatch } = createActivities({ ...backend.deps, log: silentLog } as unknown as ActivityDeps);
  const recount = () =>
    tallyBatch({ transactionId: fixture.transactionId, batchId: fixture.batchId, phase: 'outcomes', withRetries: true });
  const plan = world.scenario.retries;
  const suppress = plan.suppressDuringRetries !== null ? fixture.messages[plan.suppressDuringRetries] : undefined;
  if (suppress) {
    // A complaint elsewhere, the tenant's list: the address is suppressed while its retries go on.
    world.step(`${short(suppress.message_id)}'s recipient is suppressed`, () =>
      backend.deps.suppressions.addSuppression({
        tenant_id: fixture.tenantId,
        email: suppress.recipient_email,
        reason: 'TEST',
        created_at: new Date().toISOString(),
      }),
    );
  }
  world.addPauses(plan.pauses);
  for (let round = 0; ; round += 1) {
    world.round = round;
    world.releaseHeld(round);
    let tally = await recount();
    if (tally.nextRetryAt === undefined) {
      if (world.runs.every((r) => r.done) && world.s.count() === 0 && world.heldBack === 0) return;
      await world.drive(() => world.runs.every((r) => r.done) && world.s.count() === 0);
      await world.deliverHeld(Number.POSITIVE_INFINITY);
      await world.drive(() => world.s.count() === 0);
      tally = await recount();
      if (tally.nextRetryAt === undefined) return;
    }
    if (round >= MAX_RETRY_ROUNDS) {
      world.violations.push(`P2': a retry is still due (${tally.nextRetryAt}) after ${round} retry rounds`);
      return;
    }
    const wait = Date.parse(tally.nextRetryAt) - Date.now();
    if (wait > 0) world.advance(wait);
    await world.retryRound(round);
  }
}

/** The run as a comparable text: each message's status and history, SES's acceptances, each attempt's outcome, the live counters. */
function digestOf(world: World, final: MessageRecord[], live: Counts): string {
  const strip = (token: unknown) => (typeof token === 'string' ? token.replace(`${world.runId}:`, '') : '');
  return JSON.stringify({
    messages: final.map((m) => ({
      status: m.status,
      sesId: m.ses_message_id !== undefined,
      retries: m.soft_bounce_retries ?? 0,
      superseded: m.previous_ses_message_ids?.length ?? 0,
      dropped: m.status_history_dropped ?? 0,
      history: historyOf(m).map((h) => [h.status ?? '', h.event ?? '', strip(h.metadata?.attempt)].join('/')),
    })),
    acceptances: world.acceptances.map((a) => `${short(a.messageId)}/${strip(a.token)}`),
    events: world.applications.map(
      (a) => `${short(a.messageId)}/${a.kind}/${a.superseded ? 'superseded' : a.applied ? 'applied' : 'repeat'}/${a.statusAfter ?? ''}`,
    ),
    attempts: world.runs.map((r) => [r.label, r.outcome?.ok ? JSON.stringify(r.outcome.result) : (r.outcome?.error as Error)?.name]),
    counts: {
      sent: live.sent,
      failed: live.failed,
      suppressed: live.suppressed,
      delivered: live.delivered,
      bounced: live.bounced,
      soft_bounced: live.soft_bounced ?? 0,
    },
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

const roundName = (round: number) => (round === 0 ? 'its send' : `retry round ${round}`);

function checkProperties(world: World, final: MessageRecord[], stats: Stats): void {
  const tokenName = (token: string) => token.split(':').slice(1).join(' attempt ');
  let retried = false;
  for (const m of final) {
    stats.finalStatuses[m.status] = (stats.finalStatuses[m.status] ?? 0) + 1;
    const history = historyOf(m);
    stats.takeovers += takeoversOf(history);
    const marks = world.marks.filter((k) => k.messageId === m.message_id);
    const accepted = world.acceptances
      .filter((a) => a.messageId === m.message_id)
      .map((a) => ({ ...a, mark: world.markOf(a.messageId, a.token) }));
    const what = () =>
      `${short(m.message_id)} (retries done ${m.soft_bounce_retries ?? 0}); story: ${world.storyOf(m.message_id)}; history ${JSON.stringify(history)}`;
    // P2 / P2': every message ends SENT or final, none soft-bounced with its retries left undone, with its recipient.
    if (!isFinal(m.status)) {
      const due = m.status === 'SOFT_BOUNCED' ? ` (retry_at ${m.retry_at ?? 'none'})` : '';
      world.violations.push(`P2': ${short(m.message_id)} ends ${m.status}${due}, after every retry was done; ${what()}`);
    }
    const fixture = world.fixture.messages.find((f) => f.message_id === m.message_id);
    if (!fixture || m.recipient_email !== fixture.recipient_email) {
      world.violations.push(`P2': ${short(m.message_id)} lost its recipient (${m.recipient_email}); ${what()}`);
    }
    if (m.status === 'SUPPRESSED' && accepted.length > 0) {
      world.violations.push(`P2': ${short(m.message_id)}, which SES accepted, ends SUPPRESSED (counted as never sent); ${what()}`);
    }
    if ((m as MessageRecord & { soft_bounce_final?: string }).soft_bounce_final === 'suppressed') stats.retriesSuppressed += 1;
    if ((m as MessageRecord & { soft_bounce_final?: string }).soft_bounce_final === 'retry_failed') stats.retriesFailed += 1;
    // P1 / P1': SES's acceptances in the order of their SENDING marks; within one round (the send,
    // or a retry round) each later one must come from a mark of the send path set at least the
    // grace period after the earlier one's, with no Send event stored in the round before it; the
    // first of a retry round from the retry's mark, after a soft bounce of an attempt of the round
    // before it took the message to SOFT_BOUNCED.
    if (accepted.some((a) => a.mark === undefined)) {
      world.violations.push(`P1: ${short(m.message_id)} accepted by SES without a SENDING mark of its attempt; ${what()}`);
      continue;
    }
    const inOrder = (accepted as (Acceptance & { mark: Mark })[]).sort((x, y) => x.mark.order - y.mark.order);
    if (inOrder.some((a) => a.mark.retry)) retried = true;
    for (let k = 1; k < inOrder.length; k += 1) {
      const earlier = inOrder[k - 1]!;
      const later = inOrder[k]!;
      const round = later.mark.round;
      const opening = marks.find((x) => x.retry && x.round === round);
      if (round === earlier.mark.round) {
        const from = round === 0 ? 0 : (opening?.order ?? 0);
        const sendEventBefore = world.applications.some(
          (a) => a.messageId === m.message_id && a.kind === 'send' && a.applied && a.order > from && a.order < later.mark.order,
        );
        const elapsed = later.mark.at - earlier.mark.at;
        if (!later.mark.retry && !sendEventBefore && elapsed >= world.grace) {
          if (round === 0) stats.allowedResends += 1;
          else stats.retryRoundResends += 1;
          if (earlier.seq > later.seq) stats.lateAcceptances += 1;
          continue;
        }
        world.violations.push(
          `P1': SES accepted ${short(m.message_id)} twice in ${roundName(round)}: the ${later.mark.retry ? "retry's " : ''}mark of ` +
            `${tokenName(later.token)} came ${elapsed / 1000} s after that of ${tokenName(earlier.token)}` +
            `${sendEventBefore ? ', with a Send event already in the store' : ''} (grace ${world.grace / 1000} s); ${what()}`,
        );
      } else if (round === earlier.mark.round + 1 && opening) {
        // The soft bounce that opened this round: it took the message to SOFT_BOUNCED with this many retries done.
        const bounce = world.applications.find(
          (a) =>
            a.messageId === m.message_id &&
            a.applied &&
            a.statusBefore !== 'SOFT_BOUNCED' &&
            a.statusAfter === 'SOFT_BOUNCED' &&
            a.effect?.fields.soft_bounce_retries === round &&
            a.order < opening.order,
        );
        const of = bounce ? world.acceptanceOf(bounce.sesId) : undefined;
        if (!bounce || of?.mark?.round !== earlier.mark.round) {
          world.violations.push(
            `P1': SES accepted ${short(m.message_id)} again in ${roundName(round)} (${tokenName(later.token)}) ` +
              (bounce
                ? `after a soft bounce of ${of ? `an attempt of ${roundName(of.mark?.round ?? -1)}` : `SES id ${bounce.sesId}`}, not of the attempt before it (${tokenName(earlier.token)}, ${roundName(earlier.mark.round)})`
                : `with no soft bounce of the attempt before it (${tokenName(earlier.token)}) applied`) +
              `; ${what()}`,
          );
          continue;
        }
        const due = bounce.effect?.fields.retry_at;
        if (typeof due !== 'string' || opening.at < Date.parse(due)) {
          world.violations.push(
            `P1': ${short(m.message_id)}'s retry ${round} (${tokenName(opening.token)}) was marked at ${new Date(opening.at).toISOString()}, ` +
              `before the retry_at its soft bounce set (${String(due)}); ${what()}`,
          );
        }
        stats.retryAcceptances[round] = (stats.retryAcceptances[round] ?? 0) + 1;
      } else {
        world.violations.push(
          `P1': SES accepted ${short(m.message_id)} in ${roundName(round)} (${tokenName(later.token)}) right after an acceptance in ` +
            `${roundName(earlier.mark.round)} (${tokenName(earlier.token)}), with no retry between; ${what()}`,
        );
      }
    }
  }
  if (retried) stats.runsWithRetries += 1;
  // P2': an event of an attempt a retry superseded changes nothing; a retried soft bounce counts nothing.
  for (const a of world.applications) {
    if (a.ofSupersededAttempt) {
      stats.supersededEvents += 1;
      if (a.superseded) stats.supersededIgnored += 1;
      if (a.applied || a.statusAfter !== a.statusBefore) {
        // Why the store did not know it as superseded: it kept another acceptance's SES id (one of the
        // same round: an allowed resend), or none of this one's (its send never recorded before the retry).
        const known = world.marks.some((k) => k.messageId === a.messageId && k.order < a.order && k.supersedes?.includes(a.sesId));
        const of = world.acceptanceOf(a.sesId);
        const sameRound = world.acceptances.some(
          (x) => x.messageId === a.messageId && x.sesId !== a.sesId && world.markOf(x.messageId, x.token)?.round === of?.mark?.round,
        );
        const why = known
          ? 'its SES id among those the retry superseded'
          : sameRound
            ? 'the store kept the SES id of another acceptance of its round, an allowed resend, and never had this one'
            : 'the store never had its SES id: its send was not recorded (no SENT write, no Send event) before the retry';
        world.violations.push(
          `P2': the ${a.label}, an attempt a retry had superseded (${why}), ` +
            `changed the message (${a.statusBefore} → ${a.statusAfter}` +
            `${a.applied ? ', applied' : ''}${a.countersMoved?.length ? `, counted ${a.countersMoved.join(', ')}` : ''}); ` +
            `story: ${world.storyOf(a.messageId)}`,
        );
      }
    } else if (
      a.superseded &&
      // Its attempt's own soft bounce, applied before it, already moved the message to the next
      // round (its send round is behind the message's): a repeat of it, or a later event of that attempt.
      // (of it or of another acceptance of the same round, an allowed resend).
      !world.applications.some(
        (b) =>
          b.messageId === a.messageId &&
          (b.sesId === a.sesId || world.acceptanceOf(b.sesId)?.mark?.round === world.acceptanceOf(a.sesId)?.mark?.round) &&
          b.order < a.order &&
          b.applied &&
          b.effect?.softBounce &&
          b.effect.status === 'SOFT_BOUNCED',
      )
    ) {
      world.violations.push(
        `P2': the ${a.label} was ignored as superseded, but no retry came after its attempt's mark; story: ${world.storyOf(a.messageId)}`,
      );
    }
    if (a.applied && a.effect?.softBounce) {
      if (a.effect.status === 'SOFT_BOUNCED') {
        stats.softBouncesRetried += 1;
        if (a.countersMoved?.length) {
          world.violations.push(`counters: the ${a.label}, a soft bounce the policy retried, counted ${a.countersMoved.join(', ')}`);
        }
      } else {
        // A first attempt's soft bounce that came before its send was recorded (no SENT, no Send event) has no send time: final.
        const unrecorded =
          a.statusBefore === 'SENDING' && !world.marks.some((k) => k.messageId === a.messageId && k.retry && k.order < a.order);
        const why = `${String(a.effect.fields.soft_bounce_final ?? 'final')}${unrecorded ? ' (its send not recorded yet)' : ''}`;
        stats.softBouncesFinal[why] = (stats.softBouncesFinal[why] ?? 0) + 1;
      }
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

/** The outcome counters as the recount counts them: one per message with the flag. */
function outcomeRecount(final: MessageRecord[]) {
  const flagged = (flag: string) => final.filter((m) => (m as MessageRecord & Record<string, unknown>)[flag] !== undefined).length;
  return {
    delivered: flagged('delivered_time'),
    bounced: flagged('bounced_time'),
    soft_bounced: flagged('soft_bounced_time'),
    complained: flagged('complained_time'),
    opened: flagged('opened_time'),
    clicked: flagged('clicked_time'),
  };
}

/** P3, on the batch as its send phase left it (retries never touch the live counters: the recount settles them). */
async function checkLiveCounters(world: World, backend: Backend, fixture: Fixture, sent: MessageRecord[], stats: Stats): Promise<void> {
  const expected = recount(sent);
  const pick = (c: Counts) => ({ sent: c.sent, failed: c.failed, suppressed: c.suppressed });
  const live = pick(await backend.counts(fixture.transactionId));
  const takeovers = sent.reduce((n, m) => n + takeoversOf(historyOf(m)), 0);
  if (JSON.stringify(live) !== JSON.stringify(expected)) {
    const eventSettled = sent.some((m) => {
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
}

/**
 * P3 / P4 at the end: the event counters (moved with their flags) match the flags stored, but for
 * the soft bounces a retry's suppression ended (written by the send path, counted by the recount);
 * after the batch's recount (tallyBatch) and the transaction's reconcile every counter equals the
 * recount of the stored messages, whatever happened.
 */
async function checkCounters(world: World, backend: Backend, fixture: Fixture, final: MessageRecord[]): Promise<void> {
  const expected = { ...recount(final), ...outcomeRecount(final) };
  type Figures = typeof expected;
  const pick = (c: Counts): Figures =>
    Object.fromEntries(Object.keys(expected).map((k) => [k, c[k as keyof Counts] ?? 0])) as unknown as Figures;
  const events = pick(await backend.counts(fixture.transactionId));
  // Soft bounces the send path ended (a retry that did not go out: suppressed since, or failed
  // outright) move the counter after their write, never twice; an attempt that died between the
  // two leaves it to the reconcile below (so the live counter may be behind by those, never ahead).
  const endedBySendPath = final.filter((m) =>
    ['suppressed', 'retry_failed', 'cancelled'].includes((m as MessageRecord & { soft_bounce_final?: string }).soft_bounce_final ?? ''),
  ).length;
  const outcomeNames = ['delivered', 'bounced', 'soft_bounced', 'complained', 'opened', 'clicked'] as const;
  const drift = outcomeNames.filter((k) =>
    k === 'soft_bounced' ? events[k] > expected[k] || events[k] < expected[k] - endedBySendPath : events[k] !== expected[k],
  );
  if (drift.length > 0) {
    world.violations.push(
      `P4: the event counters ${JSON.stringify(Object.fromEntries(drift.map((k) => [k, events[k]])))} differ from the flags stored ` +
        `${JSON.stringify(Object.fromEntries(drift.map((k) => [k, expected[k]])))}`,
    );
  }
  // The batch's recount and the transaction's reconcile make them exact whatever happened (the
  // final recount also ends a soft bounce still waiting for its retry on its bounce).
  const { tallyBatch, reconcileTransactionCounts } = createActivities({ ...backend.deps, log: silentLog } as unknown as ActivityDeps);
  const tally: BatchTally = await tallyBatch({ transactionId: fixture.transactionId, batchId: fixture.batchId, phase: 'completed' });
  await reconcileTransactionCounts({ transactionId: fixture.transactionId, totals: tally, phase: 'completed' });
  const after = await readAll(backend, fixture);
  const left = after.filter((m) => m.status === 'SOFT_BOUNCED');
  if (left.length > 0) world.violations.push(`P2': ${left.length} messages still SOFT_BOUNCED after the final recount`);
  Object.assign(expected, recount(after), outcomeRecount(after));
  const reconciled = pick(await backend.counts(fixture.transactionId));
  if (JSON.stringify(reconciled) !== JSON.stringify(expected)) {
    world.violations.push(
      `P3/P4: after the recount the counters ${JSON.stringify(reconciled)} differ from the messages ${JSON.stringify(expected)}`,
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
  /**
   * A fixed seed and run (a kept counterexample); else FC_SEED / FC_PATH, else a random seed.
   * FC_ONLY=<text> makes a run fail only on a violation whose text has it (to look for one kind of
   * counterexample while another, known, is not fixed yet); the stores differing always fails.
   */
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
    // FC_ONLY: a run fails only on a violation with that text (another kind, known, is left aside).
    const only = process.env.FC_ONLY;
    const violations = only && !primary.violations.some((v) => v.includes(only)) ? [] : [...primary.violations];
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
