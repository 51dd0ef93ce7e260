// One batch (≤ 1,000 messages): sends it chunk by chunk on the rate-limited send task queue,
// paced by the campaign's throttle, then recounts it exactly.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BatchResult, BatchWorkflowInput } from '../src/contracts';

const { finalizeBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchResult> {
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
  let cursor: Record<string, unknown> | undefined;
  do {
    const started = Date.now();
    const chunk = await sendBatchChunk({
      transactionId: input.transactionId,
      tenantId: input.tenantId,
      templateId: input.templateId,
      batchId: input.batchId,
      limit: input.sendChunkSize,
      cursor,
    });
    cursor = chunk.nextCursor;
    const wait = input.chunkIntervalMs - (Date.now() - started);
    if (cursor && wait > 0) await sleep(wait);
  } while (cursor);
  return finalizeBatch({ transactionId: input.transactionId, batchId: input.batchId });
}
