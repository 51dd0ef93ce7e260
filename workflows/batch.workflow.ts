// One batch (≤ 1,000 messages). Sends it chunk by chunk on the rate-limited send task queue,
// paced by the campaign's throttle and honouring pause/resume/cancel between chunks; tells its
// transaction when sending is over; then waits for delivery outcomes (woken by one signal from
// the SES event endpoint once the batch's outcome count is complete, polled as a safety net)
// until all are in or the final-state deadline passes; tells its transaction again and returns
// the exact tally.
import { condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { batchControlSignal, outcomesSignal, SEND_HEARTBEAT_TIMEOUT_MS, type BatchTally, type BatchWorkflowInput } from '../src/contracts';
import { failureReason } from './failure';
import { checkInputVersion } from './input-version';

const { tallyBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** What the batch's signals set: the transaction's control, and the event endpoint's nudge. */
interface BatchSignals {
  paused: boolean;
  cancelled: boolean;
  /** Every sent message has an outcome (set by the event endpoint); cleared by a recount. */
  outcomesIn: boolean;
}

function listen(): BatchSignals {
  const signals: BatchSignals = { paused: false, cancelled: false, outcomesIn: false };
  setHandler(batchControlSignal, (action) => {
    if (action === 'pause') signals.paused = true;
    else if (action === 'resume') signals.paused = false;
    else signals.cancelled = true;
  });
  setHandler(outcomesSignal, () => {
    signals.outcomesIn = true;
  });
  return signals;
}

/** The send activity on the campaign's send task queue. */
function sendActivity(input: BatchWorkflowInput) {
  return proxyActivities<Activities>({
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

/** Sends the batch chunk by chunk at the campaign's pace, between chunks honouring pause and cancel. */
async function sendAll(input: BatchWorkflowInput, signals: BatchSignals): Promise<void> {
  const sendBatchChunk = sendActivity(input);
  let cursor: Cursor;
  if (input.startDelayMs > 0) await condition(() => signals.cancelled, input.startDelayMs);
  for (;;) {
    await condition(() => !signals.paused || signals.cancelled);
    if (signals.cancelled) return;
    const started = Date.now();
    const chunk = await sendBatchChunk(chunkOf(input, cursor));
    if (chunk.deferred > 0) {
      // The same chunk again, once a dead attempt's Send events had time to arrive.
      await condition(() => signals.cancelled, input.sendingGraceMs);
      continue;
    }
    cursor = chunk.nextCursor;
    // A throttled batch holds its slot for the whole interval, even after its last chunk,
    // so the batch that takes the slot over keeps the campaign's pace.
    const wait = input.chunkIntervalMs - (Date.now() - started);
    if (wait > 0) await condition(() => signals.cancelled, wait);
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
async function sendUnsettled(input: BatchWorkflowInput, signals: BatchSignals): Promise<void> {
  const sendBatchChunk = sendActivity(input);
  for (let pass = 0; ; pass += 1) {
    let cursor: Cursor;
    let deferred = 0;
    do {
      if (pass > 0) await condition(() => !signals.paused || signals.cancelled);
      if (signals.cancelled) return;
      const started = Date.now();
      const chunk = await sendBatchChunk({ ...chunkOf(input, cursor), unsettledOnly: true });
      deferred += chunk.deferred;
      cursor = chunk.nextCursor;
      const wait = chunk.sent > 0 ? input.chunkIntervalMs - (Date.now() - started) : 0;
      if (wait > 0) await condition(() => signals.cancelled, wait);
    } while (cursor);
    if (deferred === 0) return;
    await condition(() => signals.cancelled, input.sendingGraceMs);
  }
}

type Recount = (phase: 'sent' | 'outcomes' | 'completed') => Promise<BatchTally>;

/**
 * Recounts when the endpoint says every outcome is in (or the poll interval passes, in case
 * that signal was lost): one or two activities per batch, whatever the number of events.
 * While outcomes keep arriving the poll backs off (doubling), so slow deliveries do not turn
 * into a recount every interval. Past the final-state deadline, what is still pending stays so.
 */
async function awaitOutcomes(input: BatchWorkflowInput, signals: BatchSignals, recount: Recount, sent: BatchTally): Promise<BatchTally> {
  let tally = sent;
  const deadline = Date.now() + input.finalStateDeadlineMs;
  let pollMs = input.outcomePollMs;
  while (tally.pending > 0 && Date.now() < deadline) {
    await condition(() => signals.outcomesIn, Math.max(1, Math.min(pollMs, deadline - Date.now())));
    const before = tally.pending;
    tally = await recount('outcomes');
    if (tally.pending > 0 && tally.pending < before) pollMs *= 2;
  }
  if (tally.pending > 0) tally = await recount('completed');
  return tally;
}

export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchTally> {
  checkInputVersion(input.version);
  const signals = listen();
  let failure: string | undefined;
  try {
    await sendAll(input, signals);
    if (!signals.cancelled && patched(PROVE_BATCH_SENT)) await sendUnsettled(input, signals);
  } catch (error) {
    // An account-level SES failure: stop this batch; the transaction fails the campaign.
    failure = failureReason(error);
  }
  // Each count reports to the transaction itself (from the activity): sending over, then
  // outcomes in. A signal that lands while a recount runs may or may not be in it: it stays set.
  const report = { batchNumber: input.batchNumber, ...(failure ? { failure } : {}) };
  const stopped = () => signals.cancelled || failure !== undefined;
  const recount: Recount = async (phase) => {
    const before = signals.outcomesIn;
    const result = await tallyBatch({ transactionId: input.transactionId, batchId: input.batchId, cancelled: stopped(), phase, report });
    if (before) signals.outcomesIn = false;
    return result;
  };
  const sent = await recount('sent');
  if (stopped()) return sent;
  return awaitOutcomes(input, signals, recount, sent);
}
