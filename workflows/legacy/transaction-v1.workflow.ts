// The transaction workflow as it was before the campaign-phases patch (commit 45b10a7),
// kept word for word apart from imports and names so that campaigns started by that code
// replay exactly: the refactored workflow issues the same kinds of commands but, when two
// completions land in one workflow task, not always in the same order. transactionWorkflow
// runs this for histories without the patch marker. Remove it (with deprecatePatch, then
// the call) once no campaign started before the patch can still be running.
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  ApplicationFailure,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { TransactionStatus } from '../../src/domain/transaction-status';
import {
  addTally,
  batchCompletedSignal,
  batchControlSignal,
  batchId,
  batchSentSignal,
  batchWorkflowId,
  cancelUpdate,
  pacing,
  emptyTally,
  pauseUpdate,
  progressQuery,
  rescheduleUpdate,
  resumeUpdate,
  searchAttributeKeys,
  sendNowUpdate,
  WORKFLOW_INPUT_VERSION,
  type CarriedState,
  type TransactionResult,
  type TransactionWorkflowInput,
} from '../../src/contracts';
import { batchWorkflow } from '../batch.workflow';
import { failureReason } from '../failure';

const { recordTransactionStatus, reconcileTransactionCounts, annotateTransaction } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const { ingestRecipients } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '1 minute', nonRetryableErrorTypes: ['InvalidRecipientFile'] },
});

// Webhooks are retried for days; a 4xx other than 408/429 is final.
const { deliverWebhook } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1 hour', nonRetryableErrorTypes: ['WebhookRejected'] },
});

/** Batches signal twice each; past this many signals a run hands over to a fresh one. */
const SIGNALS_PER_RUN = 80;
const CONTROLLABLE: TransactionStatus[] = ['ACCEPT', 'PROCESSING', 'SCHEDULED', 'READY_TO_SEND', 'PAUSED'];

export async function transactionWorkflowV1(input: TransactionWorkflowInput): Promise<TransactionResult> {
  if (input.version !== WORKFLOW_INPUT_VERSION) {
    throw ApplicationFailure.nonRetryable(`unsupported input version ${input.version}`, 'UnsupportedVersion');
  }
  const { transactionId, options } = input;
  const s: CarriedState = input.state ?? {
    status: 'ACCEPT',
    paused: false,
    cancelRequested: false,
    nextBatch: 1,
    batchCount: 0,
    totalMessages: 0,
    sentBatches: [],
    completedBatches: [],
    totals: emptyTally(),
    completedTotals: emptyTally(),
  };
  let sendAt = input.sendAt;
  let sendNow = false;
  let failure: string | undefined;
  let changes = 0;
  let signalsThisRun = 0;
  // Webhooks go out one after another, in status order, without holding the campaign up.
  let webhooks: Promise<void> = Promise.resolve();

  setHandler(batchSentSignal, ({ batchNumber, tally, failure: batchFailure }) => {
    signalsThisRun += 1;
    if (!s.sentBatches.includes(batchNumber)) {
      s.sentBatches.push(batchNumber);
      addTally(s.totals, tally);
      if (batchFailure) failure ??= `batch ${batchNumber}: ${batchFailure}`;
    }
    changes += 1;
  });
  setHandler(batchCompletedSignal, ({ batchNumber, tally }) => {
    signalsThisRun += 1;
    if (!s.completedBatches.includes(batchNumber)) {
      s.completedBatches.push(batchNumber);
      addTally(s.completedTotals, tally);
    }
    changes += 1;
  });
  setHandler(progressQuery, () => ({
    status: s.status,
    sendAt,
    paused: s.paused,
    batchCount: s.batchCount,
    batchesStarted: s.nextBatch - 1,
    batchesSent: s.sentBatches.length,
    batchesCompleted: s.completedBatches.length,
    totals: s.totals,
  }));

  const reject = (message: string) => {
    throw new Error(message);
  };
  const control = () => {
    changes += 1;
    return { status: s.status, sendAt };
  };
  setHandler(pauseUpdate, () => ((s.paused = true), control()), {
    validator: () => void (s.status !== 'READY_TO_SEND' && s.status !== 'PAUSED' && reject(`a ${s.status} campaign cannot be paused`)),
  });
  setHandler(resumeUpdate, () => ((s.paused = false), control()), {
    validator: () => void (!s.paused && reject('the campaign is not paused')),
  });
  setHandler(cancelUpdate, () => ((s.cancelRequested = true), control()), {
    validator: () => void (!CONTROLLABLE.includes(s.status) && reject(`a ${s.status} campaign cannot be cancelled`)),
  });
  setHandler(sendNowUpdate, () => ((sendNow = true), control()), {
    validator: () =>
      void (!['ACCEPT', 'PROCESSING', 'SCHEDULED'].includes(s.status) && reject(`a ${s.status} campaign is not waiting to send`)),
  });
  setHandler(rescheduleUpdate, ({ sendAt: next }) => ((sendAt = next), (sendNow = false), control()), {
    validator: ({ sendAt: next }) => {
      if (!['ACCEPT', 'PROCESSING', 'SCHEDULED'].includes(s.status)) reject(`a ${s.status} campaign can no longer be rescheduled`);
      if (Number.isNaN(Date.parse(next))) reject('send_at is not a date');
    },
  });

  const notify = (status: TransactionStatus) => {
    const timestamp = new Date().toISOString();
    webhooks = webhooks.then(() =>
      deliverWebhook({ transactionId, status, timestamp }).then(
        () => undefined,
        (error) => log.warn('webhook given up', { transaction_id: transactionId, status, error: failureReason(error) }),
      ),
    );
  };
  const moveTo = async (next: TransactionStatus, reason?: string, metadata?: Record<string, unknown>) => {
    s.status = next;
    upsertSearchAttributes([{ key: searchAttributeKeys.transactionStatus, value: next }]);
    upsertMemo({ template_id: input.templateId, counts: s.totals });
    await recordTransactionStatus({ transactionId, status: next, reason, metadata });
    notify(next);
  };
  const finish = async (final: TransactionStatus, reason?: string): Promise<TransactionResult> => {
    await moveTo(final, reason);
    await webhooks;
    return { transactionId, status: final, reason, totals: s.totals };
  };
  const handOver = async () => {
    await webhooks;
    return continueAsNew<typeof transactionWorkflowV1>({ ...input, sendAt, state: s });
  };
  const runIsFull = () => workflowInfo().continueAsNewSuggested || signalsThisRun >= SIGNALS_PER_RUN;
  // Loops note `changes` at the top of each pass and wait for it to move at the bottom, so a
  // signal or update that lands during an await inside the pass is never missed.
  const changedSince = (seen: number) => condition(() => changes !== seen);

  if (!input.state) {
    notify('ACCEPT');
    await moveTo('PROCESSING');
    try {
      const ingest = await ingestRecipients({
        transactionId,
        tenantId: input.tenantId,
        templateId: input.templateId,
        fileId: input.fileId,
        batchSize: options.batchSize,
      });
      s.batchCount = ingest.batchCount;
      s.totalMessages = ingest.totalMessages;
      if (ingest.valid === 0) {
        return finish('FAILED', ingest.totalMessages === 0 ? 'the file has no valid recipient' : 'every recipient is suppressed');
      }
    } catch (error) {
      return finish('FAILED', failureReason(error));
    }
    const lateBy = await waitUntilSendAt();
    if (s.cancelRequested) return cancelled();
    await moveTo('READY_TO_SEND', undefined, lateBy > 0 ? { late_by_ms: lateBy } : undefined);
  }

  /** The durable schedule: a timer that reschedule moves and send-now or cancel cut short. */
  async function waitUntilSendAt(): Promise<number> {
    let held = false;
    const release = async () => {
      if (held) await annotateTransaction({ transactionId, fields: { held_reason: null } });
    };
    while (sendAt && !sendNow && !s.cancelRequested) {
      const seen = changes;
      const due = Date.parse(sendAt);
      if (Date.now() < due) {
        if (s.status !== 'SCHEDULED') await moveTo('SCHEDULED');
        await condition(() => changes !== seen, Math.max(1, due - Date.now()));
        continue;
      }
      // Due. If the engine reached it much later than planned (it was down), hold or send as configured.
      const lateBy = s.status === 'SCHEDULED' ? Date.now() - due : 0;
      if (lateBy <= options.lateSendToleranceMs || options.lateSendPolicy === 'send') {
        await release();
        return lateBy;
      }
      if (!held) {
        held = true;
        await annotateTransaction({
          transactionId,
          fields: { held_reason: `send_at passed ${Math.round(lateBy / 1000)} s ago; waiting for send-now, reschedule or cancel` },
        });
      }
      await changedSince(seen);
    }
    await release();
    return 0;
  }

  async function cancelled(): Promise<TransactionResult> {
    // Messages of batches that never started stay unsent; they count as cancelled.
    s.totals.cancelled += s.totalMessages - s.totals.total;
    s.totals.total = s.totalMessages;
    await reconcileTransactionCounts({ transactionId, totals: s.totals, phase: 'sent' });
    return finish('CANCELLED');
  }

  const sending = () => s.nextBatch - 1 - s.sentBatches.length;
  const openBatches = () => Array.from({ length: s.nextBatch - 1 }, (_, i) => i + 1).filter((n) => !s.sentBatches.includes(n));
  const tellOpenBatches = (action: 'pause' | 'resume' | 'cancel') =>
    Promise.all(
      openBatches().map((n) =>
        getExternalWorkflowHandle(batchWorkflowId(transactionId, n))
          .signal(batchControlSignal, action)
          .catch(() => undefined),
      ),
    );
  const parallel = Math.min(options.maxConcurrentBatches, s.batchCount);
  const pace = pacing(input.throttle, options.sendChunkSize, parallel);
  let stopForwarded = false;

  while (s.status === 'READY_TO_SEND' || s.status === 'PAUSED') {
    const seen = changes;
    if ((s.cancelRequested || failure) && !stopForwarded) {
      stopForwarded = true;
      await tellOpenBatches('cancel');
    }
    if (!stopForwarded && s.paused && s.status !== 'PAUSED') {
      await moveTo('PAUSED');
      await tellOpenBatches('pause');
    } else if (!stopForwarded && !s.paused && s.status === 'PAUSED') {
      await moveTo('READY_TO_SEND');
      await tellOpenBatches('resume');
    }
    const more = s.nextBatch <= s.batchCount && !stopForwarded;
    if (!more && sending() === 0) break;
    while (sending() < options.maxConcurrentBatches && s.nextBatch <= s.batchCount && !s.paused && !stopForwarded) {
      const number = s.nextBatch++;
      const child = await startChild(batchWorkflow, {
        workflowId: batchWorkflowId(transactionId, number),
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [
          {
            version: WORKFLOW_INPUT_VERSION,
            transactionId,
            tenantId: input.tenantId,
            templateId: input.templateId,
            batchNumber: number,
            batchId: batchId(number),
            sendChunkSize: pace.chunkSize,
            sendTaskQueue: options.sendTaskQueue,
            chunkIntervalMs: pace.intervalMs,
            // The first batches take staggered slots; later ones inherit the slot they refill.
            startDelayMs: number <= parallel ? (number - 1) * pace.staggerMs : 0,
            finalStateDeadlineMs: options.finalStateDeadlineMs,
            outcomePollMs: options.outcomePollMs,
            sendingGraceMs: options.sendingGraceMs,
          },
        ],
      });
      // A batch that crashes outright (not through its own failure report) must not hang the campaign.
      void child.result().catch((error) => {
        failure ??= `batch ${number}: ${failureReason(error)}`;
        changes += 1;
      });
    }
    if (runIsFull()) return handOver();
    await changedSince(seen);
  }

  if (failure) return finish('FAILED', failure);
  if (s.cancelRequested) return cancelled();
  if (s.status !== 'SENT' && s.status !== 'COMPLETED') {
    await reconcileTransactionCounts({ transactionId, totals: s.totals, phase: 'sent' });
    await moveTo('SENT');
  }
  while (s.completedBatches.length < s.batchCount) {
    const seen = changes;
    if (runIsFull()) return handOver();
    await changedSince(seen);
  }
  s.totals = s.completedTotals;
  await reconcileTransactionCounts({ transactionId, totals: s.totals, phase: 'completed' });
  return finish('COMPLETED');
}
