// Transaction bookkeeping: status changes, exact recounts after sending, signed webhooks.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { MessageStatus } from '../src/domain/message-status';
import type { TransactionStatus } from '../src/domain/transaction-status';
import { webhookHeaders } from '../src/domain/webhook-signature';
import type { Cursor } from '../src/adapters/dynamo/message-store';
import type { Counts } from '../src/adapters/dynamo/types';
import type { BatchResult } from '../src/contracts';
import type { ActivityDeps } from './deps';

export interface StatusChange {
  transactionId: string;
  status: TransactionStatus;
  reason?: string;
  metadata?: Record<string, unknown>;
}

export interface WebhookRequest {
  transactionId: string;
  status: TransactionStatus;
  /** When the status changed (the workflow's clock), not when the webhook is delivered. */
  timestamp: string;
}

const SENT_OR_LATER: MessageStatus[] = ['SENT', 'DELIVERED', 'OPENED', 'CLICKED', 'BOUNCED', 'COMPLAINED'];

export function createTransactionActivities(deps: ActivityDeps) {
  const { store, messages } = deps;
  const doFetch = deps.fetch ?? fetch;

  async function recordTransactionStatus(change: StatusChange): Promise<boolean> {
    const changed = await store.setTransactionStatus(change.transactionId, change.status, {
      reason: change.reason,
      metadata: change.metadata,
    });
    deps.log.info('transaction status', { transaction_id: change.transactionId, status: change.status, changed });
    return changed;
  }

  /** Counts a batch's messages by status and stores the exact figures on the batch. */
  async function finalizeBatch(input: { transactionId: string; batchId: string }): Promise<BatchResult> {
    const tally: BatchResult = { sent: 0, failed: 0, suppressed: 0, skipped: 0 };
    let cursor: Cursor | undefined;
    do {
      const page = await messages.pageMessages(input.transactionId, input.batchId, 1000, cursor);
      for (const m of page.items) {
        if (SENT_OR_LATER.includes(m.status)) tally.sent += 1;
        else if (m.status === 'FAILED') tally.failed += 1;
        else if (m.status === 'SUPPRESSED') tally.suppressed += 1;
        else tally.skipped += 1;
      }
      cursor = page.cursor;
    } while (cursor);
    await messages.setBatchFields(input.transactionId, input.batchId, {
      status: 'SENT',
      count_sent: tally.sent,
      count_failed: tally.failed,
      count_suppressed: tally.suppressed,
      count_unsent: tally.skipped,
    });
    return tally;
  }

  /** Replaces the live send counters with the sum of the batches' exact counts. */
  async function reconcileTransactionCounts(input: { transactionId: string }): Promise<Pick<Counts, 'sent' | 'failed' | 'suppressed'>> {
    const batches = (await messages.listBatches(input.transactionId)) as unknown as Record<string, number>[];
    const sum = (field: string) => batches.reduce((n, b) => n + (b[field] ?? 0), 0);
    const counts = { sent: sum('count_sent'), failed: sum('count_failed'), suppressed: sum('count_suppressed') };
    await store.updateCounts(input.transactionId, counts, 'set');
    return counts;
  }

  async function deliverWebhook(request: WebhookRequest): Promise<'delivered' | 'no_callback'> {
    const txn = await store.getTransaction(undefined, request.transactionId);
    if (!txn?.callback_url) return 'no_callback';
    const tenant = await store.getTenant(txn.tenant_id);
    if (!tenant) throw ApplicationFailure.create({ type: 'TenantMissing', message: `tenant ${txn.tenant_id} missing`, nonRetryable: true });
    const body = JSON.stringify({
      transaction_id: txn.transaction_id,
      status: request.status,
      timestamp: request.timestamp,
      summary: {
        total_messages: txn.total_messages ?? 0,
        ...txn.counts,
      },
    });
    // Stable per status change, so a receiver can drop the duplicates retries may cause.
    const id = `msg_${txn.transaction_id}_${request.status.toLowerCase()}`;
    const timestamp = Math.floor(Date.now() / 1000);
    let response: Response;
    try {
      response = await doFetch(txn.callback_url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'email-engine-webhooks/1',
          ...webhookHeaders(tenant.webhook_secret, id, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.settings.webhookTimeoutMs),
      });
    } catch (error) {
      throw ApplicationFailure.create({ type: 'WebhookUnreachable', message: `webhook ${request.status}: ${String(error)}` });
    }
    await response.body?.cancel();
    const status = response.status;
    if (status >= 200 && status < 300) return 'delivered';
    const retryable = status >= 500 || status === 408 || status === 429;
    throw ApplicationFailure.create({
      type: retryable ? 'WebhookRetryable' : 'WebhookRejected',
      message: `webhook ${request.status} answered HTTP ${status}`,
      nonRetryable: !retryable,
      details: [{ http_status: status, attempt_id: randomUUID() }],
    });
  }

  return { recordTransactionStatus, finalizeBatch, reconcileTransactionCounts, deliverWebhook };
}
