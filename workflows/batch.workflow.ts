// One batch (≤ 1,000 messages). Sends it chunk by chunk on the rate-limited send task queue,
// paced by the campaign's throttle and honouring pause/resume/cancel between chunks; tells its
// transaction when sending is over; then waits for delivery outcomes (woken by one signal from
// the SES event endpoint once the batch's outcome count is complete, polled as a safety net)
// until all are in or the final-state deadline passes; tells its transaction again and returns
// the exact tally.
import { condition, patched, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/common';
import type { Activities } from '../activities';
import { batchControlSignal, outcomesSignal, SEND_HEARTBEAT_TIMEOUT_MS, type BatchTally, type BatchWorkflowInput } from '../src/contracts';
import { chunkSummary, count } from '../src/contracts/ui-text';
import { failureReason } from './failure';
import { checkInputVersion } from './input-version';
import { describeWindow, windowAt } from '../src/domain/send-window';

const tallyOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
};
const { tallyBatch, chunkBounds } = proxyActivities<Activities>(tallyOptions);

/**
 * Patch id (this workflow and the transaction's): summaries on timers, activities and child
 * workflows for the Temporal UI. They travel in the commands' user metadata, so histories
 * recorded before them replay without.
 */
export const UI_SUMMARIES = 'ui-summaries';

/** What the batch shows in the Temporal UI: summaries on its commands (since UI_SUMMARIES), its current details. */
class BatchUi {
  /** Messages the send chunks handed to SES so far. */
  sent = 0;

  constructor(
    readonly input: BatchWorkflowInput,
    readonly summaries: boolean,
  ) {}

  /** The batch's current details (not a command: replay sees nothing). */
  show(phase: string): void {
    const of = this.input.messageCount !== undefined ? ` of ${count(this.input.messageCount)}` : '';
    setCurrentDetails(`**${phase}** · ${this.input.batchId} · ${count(this.sent)}${of} sent`);
  }

  /** `condition` with a timeout, its timer shown with `summary`. */
  wait(fn: () => boolean, ms: number, summary: string): Promise<boolean> {
    return this.summaries ? condition(fn, ms, { summary }) : condition(fn, ms);
  }
}

/** What the batch's signals set: the transaction's control, and the event endpoint's nudge. */
interface BatchSignals {
  paused: boolean;
  cancelled: boolean;
  /** Every sent message has an outcome (set by the event endpoint); cleared by a recount. */
  outcomesIn: boolean;
  /** How many resumes arrived (a grace wait begun before one ends at it, since RESUME_ENDS_GRACE). */
  resumes: number;
}

function listen(): BatchSignals {
  const signals: BatchSignals = { paused: false, cancelled: false, outcomesIn: false, resumes: 0 };
  setHandler(batchControlSignal, (action) => {
    if (action === 'pause') signals.paused = true;
    else if (action === 'resume') {
      signals.paused = false;
      signals.resumes += 1;
    } else signals.cancelled = true;
  });
  setHandler(outcomesSignal, () => {
    signals.outcomesIn = true;
  });
  return signals;
}

/** The send activity on the campaign's send task queue (with `summary` in the UI, when given). */
function sendActivity(input: BatchWorkflowInput, summary?: string) {
  return proxyActivities<Activities>({
    ...(summary !== undefined ? { summary } : {}),
    taskQueue: input.sendTaskQueue,
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: SEND_HEARTBEAT_TIMEOUT_MS,
    // No maximum attempts: throttling and outages delay a send, they never drop a recipient.
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      nonRetryableErrorTypes: ['SesAccountError', 'TemplateNotReady'],
    },
  }).sendBatchChunk;
}

type Cursor = Record<string, unknown> | undefined;

/**
 * Patch id: a resume ends a grace wait that began before it. A chunk of a tenant held by the
 * reputation guard comes back deferred (the send gate pauses the campaign); once an operator
 * resumes it, waiting out the rest of SENDING_GRACE_SECONDS would hold it for minutes. Waking
 * early is safe: the send activity itself leaves a message another attempt marked SENDING until
 * the grace has passed for it.
 */
export const RESUME_ENDS_GRACE = 'resume-ends-grace';

/**
 * The grace before a deferred chunk (or pass) is tried again; since RESUME_ENDS_GRACE it ends at a
 * resume that came after `resumesBefore` (read before the chunk ran: the send gate pauses the
 * campaign while its chunk still runs, and the resume can come before the wait begins).
 */
function graceWait(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi, resumesBefore: number): Promise<boolean> {
  const summary = "grace: a dead attempt's Send events may still arrive";
  if (!patched(RESUME_ENDS_GRACE)) return ui.wait(() => signals.cancelled, input.sendingGraceMs, summary);
  return ui.wait(() => signals.cancelled || signals.resumes !== resumesBefore, input.sendingGraceMs, summary);
}

/**
 * Patch id (issue 17, item 4): a batch of a campaign with a send window sends a chunk only while
 * the window is open; outside it, it waits on a durable timer for the next opening. Only
 * campaigns with a window ask (none recorded before it has one).
 */
export const SEND_WINDOWS = 'send-windows';

/**
 * Patch id: send-window times around a daylight-saving change read right (a skipped time opens
 * past the change, a repeated one at its first occurrence); workflows that ran before keep the
 * mapping they decided with. Asked by every window check of a campaign with a window.
 */
export const SEND_WINDOW_DST = 'send-window-dst';

/** Returns once the campaign's send window is open (at once without one), or at a cancel. */
async function awaitWindow(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi): Promise<void> {
  if (!input.sendWindow || !patched(SEND_WINDOWS)) return;
  for (;;) {
    if (signals.cancelled) return;
    const state = windowAt(input.sendWindow, Date.now(), { dstBefore: !patched(SEND_WINDOW_DST) });
    if (state.open) return;
    const opens = new Date(state.opensAt).toISOString();
    ui.show(`outside the send window: opens ${opens}`);
    await ui.wait(
      () => signals.cancelled,
      Math.max(1, state.opensAt - Date.now()),
      `send window ${describeWindow(input.sendWindow)}: opens ${opens}`,
    );
  }
}

/**
 * Patch id: a pause that comes while a batch waits for its send window holds the batch when the
 * window opens (before it, the chunk after the window's wait went out paused). Only asked when a
 * pause is found after a window's wait, so histories without that moment have no marker.
 */
export const PAUSE_AFTER_WINDOW = 'pause-after-window';

/** Returns when the batch may send its next chunk: not paused and inside its send window, or at a cancel. */
async function awaitSendable(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi, showPaused = true): Promise<void> {
  for (;;) {
    if (showPaused && signals.paused && !signals.cancelled) ui.show('paused');
    await condition(() => !signals.paused || signals.cancelled);
    await awaitWindow(input, signals, ui);
    if (signals.cancelled || !signals.paused || !patched(PAUSE_AFTER_WINDOW)) return;
  }
}

/** The send activity's input for the chunk of the batch at `cursor`. */
const chunkOf = (input: BatchWorkflowInput, cursor: Cursor) => ({
  transactionId: input.transactionId,
  batchId: input.batchId,
  tenantId: input.tenantId,
  templateId: input.templateId,
  limit: input.sendChunkSize,
  cursor,
  sendingGraceMs: input.sendingGraceMs,
});

/**
 * Patch id (issue 17, item 4): with recipients' local time, ingest groups the recipients by their
 * send time and the campaign's batches each wait for theirs (`notBefore`) on a durable timer.
 * Only campaigns that ask call it (the transaction at ingest, a batch with a time to wait for).
 */
export const RECIPIENT_LOCAL_TIME = 'recipient-local-time';

/**
 * Patch id (issue 17, item 3): a batch given send lanes (a high-priority campaign's, unthrottled)
 * keeps that many chunks in flight at once, each lane over chunks of its own. One chunk at a time
 * leaves the rate-limited send queue idle for this batch between chunks (a workflow task and the
 * queue's dispatch), and a busy low-priority campaign takes those gaps: the high one sent at half
 * the platform rate. Only batches started with lanes ask.
 */
export const SEND_LANES = 'send-lanes';

/**
 * The batch's chunks over `lanes` lanes: the bounds of each chunk are read first (one keys-only
 * query), then each lane takes the next chunk not taken, sends it up to its bound (again after the
 * grace when a dead attempt's message was deferred), between chunks honouring pause and cancel.
 */
async function sendInLanes(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi, lanes: number): Promise<void> {
  const plan = await chunkBounds({ transactionId: input.transactionId, batchId: input.batchId, chunkSize: input.sendChunkSize });
  // The first lane's failure (an account-level SES error) stops the others: each lane ends once its
  // chunk in flight has, and waits of theirs wake (a cancel to them), so the batch reports the
  // failure with no send still running and nothing more sent after it.
  let failed: { error: unknown } | undefined;
  const laneSignals: BatchSignals = {
    get paused() {
      return signals.paused;
    },
    get cancelled() {
      return signals.cancelled || failed !== undefined;
    },
    get outcomesIn() {
      return signals.outcomesIn;
    },
    get resumes() {
      return signals.resumes;
    },
  };
  let next = 0;
  const lane = async () => {
    while (next < plan.bounds.length && !laneSignals.cancelled) {
      const j = next++;
      let cursor: Cursor = j === 0 ? undefined : { PK: plan.pk, SK: plan.bounds[j - 1] };
      let again = false;
      for (;;) {
        await awaitSendable(input, laneSignals, ui);
        if (laneSignals.cancelled) return;
        ui.show('sending');
        const summary = ui.summaries
          ? chunkSummary(input.batchId, j * input.sendChunkSize + 1, input.sendChunkSize, input.messageCount, again)
          : undefined;
        const resumesBefore = signals.resumes;
        let chunk: Awaited<ReturnType<ReturnType<typeof sendActivity>>>;
        try {
          chunk = await sendActivity(input, summary)({ ...chunkOf(input, cursor), until: plan.bounds[j] });
        } catch (error) {
          failed ??= { error };
          return;
        }
        ui.sent += chunk.sent;
        if (chunk.deferred > 0) {
          again = true;
          await graceWait(input, laneSignals, ui, resumesBefore);
          continue;
        }
        again = false;
        cursor = chunk.nextCursor;
        if (!cursor) break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, plan.bounds.length) }, lane));
  if (failed) throw failed.error;
}

/** Sends the batch chunk by chunk at the campaign's pace, between chunks honouring pause and cancel. */
async function sendAll(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi): Promise<void> {
  const plainSend = sendActivity(input);
  let cursor: Cursor;
  if (input.notBefore !== undefined && patched(RECIPIENT_LOCAL_TIME)) {
    ui.show(`waiting for its recipients' local time: ${input.notBefore}`);
    await ui.wait(
      () => signals.cancelled,
      Math.max(1, Date.parse(input.notBefore) - Date.now()),
      `recipients' local time: ${input.notBefore}`,
    );
  }
  if (input.startDelayMs > 0) {
    ui.show('waiting for its slot');
    await ui.wait(() => signals.cancelled, input.startDelayMs, 'stagger: first chunk after the batches before it');
  }
  if (input.sendLanes !== undefined && input.sendLanes > 1 && patched(SEND_LANES)) return sendInLanes(input, signals, ui, input.sendLanes);
  // Positions in the batch (1-based) of the next chunk's first message, for its summary.
  let position = 1;
  let again = false;
  for (;;) {
    await awaitSendable(input, signals, ui);
    if (signals.cancelled) return;
    ui.show('sending');
    const started = Date.now();
    const sendBatchChunk = ui.summaries
      ? sendActivity(input, chunkSummary(input.batchId, position, input.sendChunkSize, input.messageCount, again))
      : plainSend;
    const resumesBefore = signals.resumes;
    const chunk = await sendBatchChunk(chunkOf(input, cursor));
    ui.sent += chunk.sent;
    if (chunk.deferred > 0) {
      // The same chunk again, once a dead attempt's Send events had time to arrive.
      again = true;
      await graceWait(input, signals, ui, resumesBefore);
      continue;
    }
    again = false;
    position += input.sendChunkSize;
    cursor = chunk.nextCursor;
    // A throttled batch holds its slot for the whole interval, even after its last chunk,
    // so the batch that takes the slot over keeps the campaign's pace.
    const wait = input.chunkIntervalMs - (Date.now() - started);
    if (wait > 0) await ui.wait(() => signals.cancelled, wait, "throttle: the campaign's pace between chunks");
    if (!cursor) return;
  }
}

/** Patch id: the proof pass below (histories recorded before it have no marker and skip it). */
export const PROVE_BATCH_SENT = 'prove-batch-sent';

/**
 * The proof before a batch reports sent: passes over the messages not yet settled (neither
 * SENT nor final) until a pass finds nothing it had to leave for later. Normally the first
 * pass finds nothing at all; a message another attempt still held is sent (or explained as
 * failed) here instead of being left behind. The first pass belongs to the chunks already
 * sent and runs even if a pause came meanwhile (a pause during the last chunk must not hold
 * a fully sent batch); later passes wait for resume like any chunk.
 */
async function sendUnsettled(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi): Promise<void> {
  ui.show('proving every message sent');
  await passesOver(input, signals, ui, {
    summary: (pass) => `prove ${input.batchId} sent: pass ${pass + 1} over unsettled messages`,
    request: { unsettledOnly: true },
    // The first pass belongs to chunks sent in the window (and normally sends nothing); later ones wait for it.
    gate: async (pass) => {
      if (pass > 0) await awaitSendable(input, signals, ui, false);
    },
  });
}

/**
 * Passes of the send activity over the batch (the messages `request` selects) until a pass
 * defers nothing, with the grace wait between passes; `gate` runs before each chunk (pause,
 * send window), a cancel ends it.
 */
async function passesOver(
  input: BatchWorkflowInput,
  signals: BatchSignals,
  ui: BatchUi,
  opts: {
    summary: (pass: number) => string;
    request: { unsettledOnly?: true; softBounceRetry?: true };
    gate: (pass: number) => Promise<void>;
  },
): Promise<void> {
  for (let pass = 0; ; pass += 1) {
    const sendBatchChunk = sendActivity(input, ui.summaries ? opts.summary(pass) : undefined);
    let cursor: Cursor;
    let deferred = 0;
    const resumesBefore = signals.resumes;
    do {
      await opts.gate(pass);
      if (signals.cancelled) return;
      const started = Date.now();
      const chunk = await sendBatchChunk({ ...chunkOf(input, cursor), ...opts.request });
      ui.sent += chunk.sent;
      deferred += chunk.deferred;
      cursor = chunk.nextCursor;
      const wait = chunk.sent > 0 ? input.chunkIntervalMs - (Date.now() - started) : 0;
      if (wait > 0) await ui.wait(() => signals.cancelled, wait, "throttle: the campaign's pace between chunks");
    } while (cursor);
    if (deferred === 0) return;
    await graceWait(input, signals, ui, resumesBefore);
  }
}

type Recount = (
  phase: 'sent' | 'outcomes' | 'completed',
  opts?: { retriesStopped?: true },
) => Promise<BatchTally & { nextRetryAt?: string }>;

/**
 * Patch id (issue 17, item 2): soft-bounced messages are sent again when their retry is due. The
 * batch's recount says when the next one is (`nextRetryAt`); the wait for outcomes ends then, as a
 * durable timer, and a retry pass sends every due one. Histories recorded before it never ask.
 */
export const SOFT_BOUNCE_RETRIES = 'soft-bounce-retries';

/**
 * With retries, the wait between recounts grows to at most this: a soft bounce is learnt of at a
 * recount (it sends no signal: a batch may have hundreds), so its retry is at most this late.
 */
const MAX_POLL_WITH_RETRIES_MS = 15 * 60_000;

/**
 * One retry round: passes over the batch's soft-bounced messages (and retries an attempt left
 * SENDING) until a pass defers nothing; waits out a pause like any chunk, stops at a cancel.
 */
async function retrySoftBounced(input: BatchWorkflowInput, signals: BatchSignals, ui: BatchUi): Promise<void> {
  ui.show('retrying soft-bounced messages');
  await passesOver(input, signals, ui, {
    summary: (pass) => `retry the soft-bounced messages of ${input.batchId}: pass ${pass + 1}`,
    request: { softBounceRetry: true },
    gate: () => awaitSendable(input, signals, ui),
  });
}

/**
 * Recounts when the endpoint says every outcome is in (or the poll interval passes, in case
 * that signal was lost): one or two activities per batch, whatever the number of events.
 * While outcomes keep arriving the poll backs off (doubling), so slow deliveries do not turn
 * into a recount every interval. Past the final-state deadline, what is still pending stays so.
 */
async function awaitOutcomes(
  input: BatchWorkflowInput,
  signals: BatchSignals,
  recount: Recount,
  sent: BatchTally & { nextRetryAt?: string },
  ui: BatchUi,
  retriesOn: boolean,
): Promise<BatchTally> {
  let tally = sent;
  const deadline = Date.now() + input.finalStateDeadlineMs;
  let pollMs = input.outcomePollMs;
  // A retry pass that failed for good (an account-level SES error) stops the retries, not the wait.
  let retries = retriesOn;
  while (tally.pending > 0 && Date.now() < deadline) {
    const retryAt = retries && tally.nextRetryAt !== undefined ? Date.parse(tally.nextRetryAt) : undefined;
    if (retryAt !== undefined && retryAt <= Date.now()) {
      try {
        await retrySoftBounced(input, signals, ui);
      } catch {
        retries = false;
      }
      // Retries stopped: the recount ends the soft bounces left waiting on them (same command).
      tally = await recount('outcomes', retries ? undefined : { retriesStopped: true });
      continue;
    }
    ui.show(`waiting for delivery outcomes: ${count(tally.pending)} pending`);
    const timeout = Math.max(1, Math.min(pollMs, deadline - Date.now(), retryAt !== undefined ? retryAt - Date.now() : Infinity));
    const summary =
      retryAt !== undefined && retryAt - Date.now() <= timeout
        ? `soft bounces: the next retry is due then (${count(tally.pending)} pending)`
        : `outcomes: recount at the latest then (${count(tally.pending)} pending)`;
    await ui.wait(() => signals.outcomesIn, timeout, summary);
    const before = tally.pending;
    // Once retries stopped, every recount ends a soft bounce that came since on its bounce.
    tally = await recount('outcomes', retriesOn && !retries ? { retriesStopped: true } : undefined);
    if (tally.pending > 0 && tally.pending < before)
      pollMs = retriesOn ? Math.min(pollMs * 2, Math.max(input.outcomePollMs, MAX_POLL_WITH_RETRIES_MS)) : pollMs * 2;
  }
  if (tally.pending > 0) tally = await recount('completed', retriesOn && !retries ? { retriesStopped: true } : undefined);
  return tally;
}

export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchTally> {
  checkInputVersion(input.version);
  const ui = new BatchUi(input, patched(UI_SUMMARIES));
  const signals = listen();
  let failure: string | undefined;
  try {
    await sendAll(input, signals, ui);
    if (!signals.cancelled && patched(PROVE_BATCH_SENT)) await sendUnsettled(input, signals, ui);
  } catch (error) {
    // An account-level SES failure: stop this batch; the transaction fails the campaign.
    failure = failureReason(error);
  }
  // Each count reports to the transaction itself (from the activity): sending over, then
  // outcomes in. A signal that lands while a recount runs may or may not be in it: it stays set.
  const report = { batchNumber: input.batchNumber, ...(failure ? { failure } : {}) };
  const stopped = () => signals.cancelled || failure !== undefined;
  // Asked once, before the first recount: a history is on one side of the patch throughout.
  const retriesOn = patched(SOFT_BOUNCE_RETRIES);
  const recount: Recount = async (phase, opts) => {
    const before = signals.outcomesIn;
    const tally = ui.summaries
      ? proxyActivities<Activities>({ ...tallyOptions, summary: `recount ${input.batchId} (${phase})` }).tallyBatch
      : tallyBatch;
    const result = await tally({
      transactionId: input.transactionId,
      batchId: input.batchId,
      cancelled: stopped(),
      phase,
      report,
      ...(retriesOn ? { withRetries: true } : {}),
      ...opts,
    });
    if (before) signals.outcomesIn = false;
    return result;
  };
  const sent = await recount('sent');
  // The tally the transaction sums has counts only (the retry time is the batch's own business).
  const done = ({ nextRetryAt: _next, ...tally }: BatchTally & { nextRetryAt?: string }) => {
    ui.show(`${stopped() ? (failure ? 'failed' : 'cancelled') : 'done'}: ${count(tally.pending)} without an outcome`);
    return tally;
  };
  if (stopped()) return done(sent);
  return done(await awaitOutcomes(input, signals, recount, sent, ui, retriesOn));
}
