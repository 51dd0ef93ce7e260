// One batch (≤ 1,000 messages). Sends it chunk by chunk on the rate-limited send task queue,
// paced by the campaign's throttle and honouring pause/resume/cancel between chunks; tells its
// transaction when sending is over; then waits for delivery outcomes (woken by one signal from
// the SES event endpoint once the batch's outcome count is complete, polled as a safety net)
// until all are in or the final-state deadline passes; tells its transaction again and returns
// the exact tally.
import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { batchControlSignal, outcomesSignal, type BatchTally, type BatchWorkflowInput } from '../src/contracts';
import { failureReason } from './failure';
import { checkInputVersion } from './input-version';

const { tallyBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchTally> {
  checkInputVersion(input.version);
  const { sendBatchChunk } = proxyActivities<Activities>({
    taskQueue: input.sendTaskQueue,
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '30s',
    // No maximum attempts: throttling and outages delay a send, they never drop a recipient.
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      nonRetryableErrorTypes: ['SesAccountError', 'TemplateNotReady'],
    },
  });
  let paused = false;
  let cancelled = false;
  // Set by the event endpoint's signal: every sent message has an outcome; cleared by a recount.
  let outcomesIn = false;
  setHandler(batchControlSignal, (action) => {
    if (action === 'pause') paused = true;
    else if (action === 'resume') paused = false;
    else cancelled = true;
  });
  setHandler(outcomesSignal, () => {
    outcomesIn = true;
  });
  const ids = { transactionId: input.transactionId, batchId: input.batchId };

  async function sendAll(): Promise<void> {
    let cursor: Record<string, unknown> | undefined;
    if (input.startDelayMs > 0) await condition(() => cancelled, input.startDelayMs);
    for (;;) {
      await condition(() => !paused || cancelled);
      if (cancelled) return;
      const started = Date.now();
      const chunk = await sendBatchChunk({
        ...ids,
        tenantId: input.tenantId,
        templateId: input.templateId,
        limit: input.sendChunkSize,
        cursor,
        sendingGraceMs: input.sendingGraceMs,
      });
      if (chunk.deferred > 0) {
        // The same chunk again, once a dead attempt's Send events had time to arrive.
        await condition(() => cancelled, input.sendingGraceMs);
        continue;
      }
      cursor = chunk.nextCursor;
      // A throttled batch holds its slot for the whole interval, even after its last chunk,
      // so the batch that takes the slot over keeps the campaign's pace.
      const wait = input.chunkIntervalMs - (Date.now() - started);
      if (wait > 0) await condition(() => cancelled, wait);
      if (!cursor) return;
    }
  }

  let failure: string | undefined;
  try {
    await sendAll();
  } catch (error) {
    // An account-level SES failure: stop this batch; the transaction fails the campaign.
    failure = failureReason(error);
  }
  // Each count reports to the transaction itself (from the activity): sending over, then
  // outcomes in. A signal that lands while a recount runs may or may not be in it: it stays set.
  const report = { batchNumber: input.batchNumber, ...(failure ? { failure } : {}) };
  const recount = async (phase: 'sent' | 'outcomes' | 'completed') => {
    const before = outcomesIn;
    const result = await tallyBatch({ ...ids, cancelled: cancelled || failure !== undefined, phase, report });
    if (before) outcomesIn = false;
    return result;
  };
  let tally = await recount('sent');
  if (cancelled || failure) return tally;

  const deadline = Date.now() + input.finalStateDeadlineMs;
  // Recount when the endpoint says every outcome is in (or the poll interval passes, in case
  // that signal was lost): one or two activities per batch, whatever the number of events.
  // While outcomes keep arriving the poll backs off (doubling), so slow deliveries do not turn
  // into a recount every interval.
  let pollMs = input.outcomePollMs;
  while (tally.pending > 0 && Date.now() < deadline) {
    await condition(() => outcomesIn, Math.max(1, Math.min(pollMs, deadline - Date.now())));
    const before = tally.pending;
    tally = await recount('outcomes');
    if (tally.pending > 0 && tally.pending < before) pollMs *= 2;
  }
  if (tally.pending > 0) tally = await recount('completed');
  return tally;
}
