// One campaign ("transaction"): ACCEPT → PROCESSING → (SCHEDULED) → READY_TO_SEND → SENT,
// or FAILED / CANCELLED. Every status change is written to DynamoDB, set as the
// TransactionStatus search attribute, and posted as a webhook (in order, off the critical path).
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { TransactionStatus } from '../src/domain/transaction-status';
import {
  batchId,
  batchWorkflowId,
  cancelSignal,
  chunkIntervalMs,
  progressQuery,
  searchAttributeKeys,
  WORKFLOW_INPUT_VERSION,
  type BatchResult,
  type FanOutState,
  type TransactionResult,
  type TransactionWorkflowInput,
} from '../src/contracts';
import { batchWorkflow } from './batch.workflow';

const { recordTransactionStatus, reconcileTransactionCounts } = proxyActivities<Activities>({
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

const zero = (): BatchResult => ({ sent: 0, failed: 0, suppressed: 0, skipped: 0 });
const addInto = (into: BatchResult, r: BatchResult) => {
  into.sent += r.sent;
  into.failed += r.failed;
  into.suppressed += r.suppressed;
  into.skipped += r.skipped;
};

function failureReason(error: unknown): string {
  let cause: unknown = error;
  while (cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    const code = (cause.details?.[0] as { code?: string } | undefined)?.code;
    return `${cause.type ?? 'Error'}${code ? ` ${code}` : ''}: ${cause.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export async function transactionWorkflow(input: TransactionWorkflowInput): Promise<TransactionResult> {
  if (input.version !== WORKFLOW_INPUT_VERSION) {
    throw ApplicationFailure.nonRetryable(`unsupported input version ${input.version}`, 'UnsupportedVersion');
  }
  const { transactionId } = input;
  let status: TransactionStatus = input.fanOut ? 'READY_TO_SEND' : 'ACCEPT';
  let cancelRequested = false;
  let fanOut: FanOutState = input.fanOut ?? { nextBatch: 1, batchCount: 0, totals: zero() };
  let open = 0;
  // Webhooks go out one after another, in status order, without holding the campaign up.
  let webhooks: Promise<void> = Promise.resolve();

  setHandler(cancelSignal, () => {
    cancelRequested = true;
  });
  setHandler(progressQuery, () => ({
    status,
    batchCount: fanOut.batchCount,
    batchesDone: fanOut.nextBatch - 1 - open,
    batchesOpen: open,
    totals: fanOut.totals,
  }));

  const notify = (next: TransactionStatus) => {
    const timestamp = new Date().toISOString();
    webhooks = webhooks.then(() =>
      deliverWebhook({ transactionId, status: next, timestamp }).then(
        () => undefined,
        (error) => log.warn('webhook given up', { transaction_id: transactionId, status: next, error: failureReason(error) }),
      ),
    );
  };

  const moveTo = async (next: TransactionStatus, reason?: string) => {
    status = next;
    upsertSearchAttributes([{ key: searchAttributeKeys.transactionStatus, value: next }]);
    await recordTransactionStatus({ transactionId, status: next, reason });
    notify(next);
  };

  const finish = async (final: TransactionStatus, reason?: string): Promise<TransactionResult> => {
    await moveTo(final, reason);
    await webhooks;
    return { transactionId, status: final, reason, totals: fanOut.totals };
  };

  if (!input.fanOut) {
    notify('ACCEPT');
    await moveTo('PROCESSING');
    let ingest;
    try {
      ingest = await ingestRecipients({
        transactionId,
        tenantId: input.tenantId,
        templateId: input.templateId,
        fileId: input.fileId,
        batchSize: input.options.batchSize,
      });
    } catch (error) {
      return finish('FAILED', failureReason(error));
    }
    if (ingest.valid === 0) {
      return finish('FAILED', ingest.totalMessages === 0 ? 'the file has no valid recipient' : 'every recipient is suppressed');
    }
    fanOut = { nextBatch: 1, batchCount: ingest.batchCount, totals: zero() };

    const sendAt = input.sendAt ? Date.parse(input.sendAt) : NaN;
    if (sendAt > Date.now()) {
      await moveTo('SCHEDULED');
      await condition(() => cancelRequested, sendAt - Date.now());
    }
    if (cancelRequested) return finish('CANCELLED');
    await moveTo('READY_TO_SEND');
  }

  const parallel = Math.min(input.options.maxConcurrentBatches, fanOut.batchCount);
  const interval = chunkIntervalMs(input.throttle, input.options.sendChunkSize, parallel);
  let failure: string | undefined;
  while (fanOut.nextBatch <= fanOut.batchCount || open > 0) {
    const canStartMore = () =>
      !failure && !cancelRequested && !workflowInfo().continueAsNewSuggested && fanOut.nextBatch <= fanOut.batchCount;
    while (open < input.options.maxConcurrentBatches && canStartMore()) {
      const number = fanOut.nextBatch++;
      const child = await startChild(batchWorkflow, {
        workflowId: batchWorkflowId(transactionId, number),
        args: [
          {
            version: WORKFLOW_INPUT_VERSION,
            transactionId,
            tenantId: input.tenantId,
            templateId: input.templateId,
            batchNumber: number,
            batchId: batchId(number),
            sendChunkSize: input.options.sendChunkSize,
            sendTaskQueue: input.options.sendTaskQueue,
            chunkIntervalMs: interval,
          },
        ],
      });
      open += 1;
      void child.result().then(
        (result) => addInto(fanOut.totals, result),
        (error) => {
          failure ??= failureReason(error);
        },
      ).finally(() => {
        open -= 1;
      });
    }
    if (open === 0) break;
    const before = open;
    await condition(() => open < before);
  }
  if (failure) return finish('FAILED', failure);
  if (fanOut.nextBatch <= fanOut.batchCount && !cancelRequested) {
    // History is getting long: hand the rest of the fan-out to a fresh run.
    await webhooks;
    return continueAsNew<typeof transactionWorkflow>({ ...input, fanOut });
  }
  if (cancelRequested) return finish('CANCELLED');
  await reconcileTransactionCounts({ transactionId });
  return finish('SENT');
}
