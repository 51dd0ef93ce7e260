// Transaction bookkeeping: status changes, exact recounts after sending, signed webhooks.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { SpanKind } from '@opentelemetry/api';
import type { MessageStatus } from '../src/domain/message-status';
import type { TransactionStatus } from '../src/domain/transaction-status';
import { InvalidWebhookSecretError, webhookHeaders } from '../src/domain/webhook-signature';
import { callbackUrlProblem } from '../src/domain/network-guard';
import {
  ForbiddenDestinationError,
  postToVetted,
  STRICT_CALLBACK_POLICY,
  vetDestination,
  type VettedDestination,
} from '../src/adapters/safe-http';
import type { Cursor } from '../src/ports';
import type { CountName, Counts, MessageRecord, TransactionRecord } from '../src/adapters/dynamo/types';
import { emptyTally, type BatchTally } from '../src/contracts';
import { reconcile } from '../src/domain/reconciliation';
import { endOnSoftBounce, type SoftBounceFinal } from '../src/domain/soft-bounce';
import { countEndedSoftBounce } from './soft-bounce-end';
import { labelsView } from '../src/domain/campaign-labels';
import type { ActivityDeps } from './deps';
import { withSpan, withTraceHeaders } from '../src/tracing';

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

const SENT_OR_LATER: MessageStatus[] = ['SENT', 'SOFT_BOUNCED', 'DELIVERED', 'OPENED', 'CLICKED', 'BOUNCED', 'COMPLAINED'];
const NOT_SENT: MessageStatus[] = ['CREATED', 'SCHEDULED', 'READY_TO_SEND', 'SENDING'];
type DetailField =
  | 'batches'
  | 'unsent'
  | 'rejected'
  | 'outcome_complained'
  | 'outcome_bounced'
  | 'outcome_soft_bounced'
  | 'outcome_delivered'
  | 'outcome_unknown';

export function createTransactionActivities(deps: ActivityDeps) {
  const { store, messages, batches } = deps;

  /**
   * Writes a status change. True when written; false when the status was already this one (a
   * retried activity whose first attempt wrote it). Any other refusal fails the activity for
   * good (StatusTransitionRefused): the stored status must never silently lag the workflow's.
   */
  async function recordTransactionStatus(change: StatusChange): Promise<boolean> {
    const changed = await store.setTransactionStatus(change.transactionId, change.status, {
      reason: change.reason,
      metadata: change.metadata,
    });
    deps.log.info('transaction status', { transaction_id: change.transactionId, status: change.status, changed });
    if (changed) {
      await countStatusChange(change.transactionId, change.status);
      return true;
    }
    const stored = (await store.getTransaction(undefined, change.transactionId))?.status;
    if (stored === change.status) return false;
    deps.log.error('transaction status refused', { transaction_id: change.transactionId, status: change.status, stored: stored ?? null });
    throw ApplicationFailure.create({
      type: 'StatusTransitionRefused',
      message: `the stored status ${stored ?? '(no transaction)'} does not allow ${change.status}`,
      nonRetryable: true,
    });
  }

  /**
   * A status change written (once: a retried attempt finds it written and counts nothing):
   * a final status is a finished campaign; SENT ends its processing time, from when it was
   * accepted or, scheduled, from its send_at.
   */
  async function countStatusChange(transactionId: string, status: TransactionStatus): Promise<void> {
    const metrics = deps.metrics;
    if (!metrics) return;
    if (status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED') metrics.campaignsFinished.inc({ status });
    if (status !== 'SENT') return;
    const txn = await store.getTransaction(undefined, transactionId);
    if (!txn) return;
    const from = Math.max(Date.parse(txn.created_at), txn.schedule?.send_at ? Date.parse(txn.schedule.send_at) : 0);
    if (Number.isFinite(from)) metrics.campaignProcessing.observe(Math.max(0, (Date.now() - from) / 1000));
  }

  /**
   * Ends a soft-bounced message whose retry will not come (the batch stopped retrying) on its soft
   * bounce; the message as it is after (another writer may have moved it first: read again).
   */
  async function endSoftBounce(m: MessageRecord, final: SoftBounceFinal): Promise<MessageRecord & Record<string, unknown>> {
    const end = endOnSoftBounce(final, new Date().toISOString());
    const ended = await messages.transitionMessage(m, 'BOUNCED', { from: ['SOFT_BOUNCED'], expect: { retry_at: m.retry_at }, ...end });
    if (ended) {
      deps.metrics?.transitions.inc({ from: 'SOFT_BOUNCED', to: 'BOUNCED', tenant: m.tenant_id });
      await countEndedSoftBounce(deps, m);
    }
    return ((await messages.getMessage(m.transaction_id, m.batch_id, m.message_id)) ?? m) as MessageRecord & Record<string, unknown>;
  }

  /**
   * Counts a batch's messages from what is stored (exact whatever happened on the way), and says
   * when its next soft-bounce retry is due (if one is).
   */
  async function countBatch(
    transactionId: string,
    batchId: string,
    cancelled: boolean,
    endSoftBounces?: SoftBounceFinal,
  ): Promise<{ tally: BatchTally; nextRetryAt?: string }> {
    let nextRetryAt: string | undefined;
    const tally: BatchTally & Required<Pick<BatchTally, DetailField | 'soft_bounced'>> = {
      ...emptyTally(),
      soft_bounced: 0,
      batches: 1,
      unsent: 0,
      rejected: 0,
      outcome_complained: 0,
      outcome_bounced: 0,
      outcome_soft_bounced: 0,
      outcome_delivered: 0,
      outcome_unknown: 0,
    };
    let cursor: Cursor | undefined;
    do {
      const page = await messages.pageMessages(transactionId, batchId, 1000, cursor);
      for (const read of page.items as (MessageRecord & Record<string, unknown>)[]) {
        const m = endSoftBounces && read.status === 'SOFT_BOUNCED' ? await endSoftBounce(read, endSoftBounces) : read;
        tally.total += 1;
        if (m.status === 'FAILED') {
          tally.failed += 1;
          // SES took it, then an event failed it (the send path's failures never reached SES).
          if (m.rejected_time !== undefined || m.rendering_failed_time !== undefined) tally.rejected += 1;
        } else if (m.status === 'SUPPRESSED') tally.suppressed += 1;
        else if (m.status === 'CANCELLED' || (cancelled && NOT_SENT.includes(m.status))) tally.cancelled += 1;
        else if (m.ses_message_id !== undefined || SENT_OR_LATER.includes(m.status)) {
          tally.sent += 1;
          if (m.outcome_time === undefined) tally.pending += 1;
          if (m.complained_time !== undefined) tally.outcome_complained += 1;
          else if (m.bounced_time !== undefined) tally.outcome_bounced += 1;
          else if (m.soft_bounced_time !== undefined) {
            tally.outcome_bounced += 1;
            tally.outcome_soft_bounced += 1;
          } else if (m.delivered_time !== undefined) tally.outcome_delivered += 1;
          else tally.outcome_unknown += 1;
        } else {
          tally.pending += 1;
          tally.unsent += 1;
        }
        if (m.delivered_time !== undefined) tally.delivered += 1;
        if (m.bounced_time !== undefined) tally.bounced += 1;
        if (m.soft_bounced_time !== undefined) tally.soft_bounced += 1;
        // Due: a soft-bounced message at its retry time, and a retry an attempt left SENDING at once
        // (the retry pass defers it until its grace has passed, then takes it over).
        const due =
          m.status === 'SOFT_BOUNCED' ? m.retry_at : m.status === 'SENDING' && (m.soft_bounce_retries ?? 0) > 0 ? m.updated_at : undefined;
        if (typeof due === 'string' && (nextRetryAt === undefined || due < nextRetryAt)) nextRetryAt = due;
        if (m.complained_time !== undefined) tally.complained += 1;
        if (m.opened_time !== undefined) tally.opened += 1;
        if (m.clicked_time !== undefined) tally.clicked += 1;
      }
      cursor = page.cursor;
    } while (cursor);
    return { tally, ...(nextRetryAt ? { nextRetryAt } : {}) };
  }

  /**
   * Counts a batch and keeps the figures on the batch, with how many sent messages await an
   * outcome: the event endpoint signals the batch once its outcome counter reaches that figure.
   * Unsent messages of a cancelled batch count as cancelled. The batch is COMPLETED once no
   * outcome is pending (or the deadline passed: phase 'completed').
   *
   * With `report`, the count also goes to the transaction workflow: 'sent' after the first
   * count, 'completed' once the batch is (unless cancelled). Signalling from here rather than
   * from the batch workflow saves the batch two history events and a workflow task per report.
   */
  async function tallyBatch(input: {
    transactionId: string;
    batchId: string;
    cancelled?: boolean;
    phase: 'sent' | 'outcomes' | 'completed';
    report?: { batchNumber: number; failure?: string };
    /** Also say when the next soft-bounce retry is due (asked by batches since SOFT_BOUNCE_RETRIES). */
    withRetries?: boolean;
    /** The batch stopped retrying soft bounces (its retry pass failed for good): end those left on their bounce. */
    retriesStopped?: boolean;
  }): Promise<BatchTally & { nextRetryAt?: string }> {
    const cancelled = input.cancelled ?? false;
    // A soft bounce left waiting for a retry that will not come ends on its bounce: the campaign was
    // cancelled (or its batch failed), its retries stopped, or the final-state deadline passed.
    const endSoftBounces: SoftBounceFinal | undefined = cancelled
      ? 'cancelled'
      : input.retriesStopped
        ? 'retries_stopped'
        : input.phase === 'completed'
          ? 'past_deadline'
          : undefined;
    let counted = await countBatch(input.transactionId, input.batchId, cancelled, endSoftBounces);
    let tally = counted.tally;
    for (let pass = 0; ; pass += 1) {
      const stored = await batches.setBatchFields(input.transactionId, input.batchId, {
        status: input.phase === 'completed' || tally.pending === 0 ? 'COMPLETED' : 'SENT',
        tally,
        awaiting_outcomes: tally.sent,
      });
      // The last outcome landed while we counted, before the endpoint could see what we await:
      // it did not signal, so count again now rather than wait for the poll.
      if (pass > 0 || tally.pending === 0 || Number(stored.outcomes ?? 0) < tally.sent) break;
      counted = await countBatch(input.transactionId, input.batchId, cancelled, endSoftBounces);
      tally = counted.tally;
    }
    if (input.report) {
      if (!deps.reporter)
        throw ApplicationFailure.create({ type: 'NoReporter', message: 'tallyBatch cannot report without a reporter', nonRetryable: true });
      const report = { batchNumber: input.report.batchNumber, tally, ...(input.report.failure ? { failure: input.report.failure } : {}) };
      if (input.phase === 'sent') await deps.reporter.report(input.transactionId, 'sent', report);
      if ((input.phase === 'completed' || tally.pending === 0) && !cancelled) {
        await deps.reporter.report(input.transactionId, 'completed', { batchNumber: report.batchNumber, tally });
      }
    }
    // When a soft-bounced message's retry is due (issue 17, item 2): the batch sets its timer by it.
    return input.withRetries && counted.nextRetryAt && !cancelled ? { ...tally, nextRetryAt: counted.nextRetryAt } : tally;
  }

  /**
   * Makes the transaction's counters exact from the sum of the batch tallies, without losing an
   * event counted between those tallies and this write (Store.reconcileCounts): the counters only
   * the send path moves are set (nothing sends any more); sent and failed are written against the
   * live count of failures SES events brought; outcome counters only move up. At COMPLETED it
   * also writes the campaign's reconciliation, and logs an error when it does not balance.
   */
  async function reconcileTransactionCounts(input: { transactionId: string; totals: BatchTally; phase: 'sent' | 'completed' }) {
    const t = input.totals;
    const completed = input.phase === 'completed';
    const outcomes = completed
      ? {
          delivered: t.delivered,
          bounced: t.bounced,
          complained: t.complained,
          opened: t.opened,
          clicked: t.clicked,
          ...(t.soft_bounced !== undefined ? { soft_bounced: t.soft_bounced } : {}),
        }
      : undefined;
    let stored: TransactionRecord | undefined;
    if (t.rejected === undefined) {
      // Tallies from an engine that did not tell event failures apart: overwrite, as it did.
      await store.updateCounts(
        input.transactionId,
        { sent: t.sent, failed: t.failed, suppressed: t.suppressed, cancelled: t.cancelled },
        'set',
      );
      if (outcomes) await store.updateCounts(input.transactionId, outcomes, 'raise');
    } else {
      stored = await store.reconcileCounts(input.transactionId, {
        sentOrRejected: t.sent + t.rejected,
        failedBySend: t.failed - t.rejected,
        suppressed: t.suppressed,
        cancelled: t.cancelled,
        eventFailed: t.rejected,
        raise: outcomes,
      });
    }
    stored ??= await store.getTransaction(undefined, input.transactionId);
    const names: CountName[] = [
      'sent',
      'failed',
      'suppressed',
      'cancelled',
      ...(completed ? (['delivered', 'bounced', 'complained'] as const) : []),
    ];
    const counts: Partial<Counts> = Object.fromEntries(names.map((n) => [n, stored?.counts[n] ?? 0]));
    if (completed) {
      const reconciliation = reconcile({
        totals: t,
        validRecipients: stored?.total_messages,
        batchCount: stored?.batch_count,
        counts: stored?.counts,
        at: new Date().toISOString(),
      });
      await store.setTransactionFields(input.transactionId, { reconciliation });
      const log = { transaction_id: input.transactionId, ...reconciliation };
      if (reconciliation.balanced) deps.log.info('campaign reconciled', log);
      else deps.log.error('campaign does not reconcile', log);
    }
    return counts;
  }

  /** Records something about the transaction that is not a status change (e.g. a held late send). */
  async function annotateTransaction(input: { transactionId: string; fields: Record<string, unknown> }): Promise<void> {
    await store.setTransactionFields(input.transactionId, input.fields);
  }

  /** Each attempt's outcome counted (email_engine_webhook_deliveries_total): a retried failure counts each time. */
  async function deliverWebhook(request: WebhookRequest): Promise<'delivered' | 'no_callback' | 'callback_gone'> {
    try {
      const outcome = await postWebhook(request);
      deps.metrics?.webhookDeliveries.inc({ outcome: outcome === 'callback_gone' ? 'gone' : outcome });
      return outcome;
    } catch (error) {
      const gone = (error as ApplicationFailure).details?.some((d) => (d as { http_status?: number } | null)?.http_status === 410);
      deps.metrics?.webhookDeliveries.inc({ outcome: gone ? 'gone' : 'failed' });
      throw error;
    }
  }

  async function postWebhook(request: WebhookRequest): Promise<'delivered' | 'no_callback' | 'callback_gone'> {
    const txn = await store.getTransaction(undefined, request.transactionId);
    if (!txn?.callback_url) return 'no_callback';
    if (txn.callback_gone_at) return 'callback_gone';
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
      // The campaign's labels (issue 15, item 1), so a receiver can route the event without a lookup.
      ...labelsView(txn),
    });
    // Stable per status change, so a receiver can drop the duplicates retries may cause.
    const id = `msg_${txn.transaction_id}_${request.status.toLowerCase()}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'email-engine-webhooks/1',
      ...signedHeaders(tenant.webhook_secret, id, timestamp, body, txn.tenant_id),
    };
    // One deadline for the lookup, the connection and the answer.
    const signal = AbortSignal.timeout(deps.settings.webhookTimeoutMs);
    const destination = await vetCallback(txn.callback_url, request, signal);
    let status: number;
    try {
      // A client span of its own, its traceparent on the request (src/tracing; a no-op when off).
      status = await withSpan(
        'webhook POST',
        { 'http.request.method': 'POST', 'server.address': destination.hostname, 'email_engine.webhook_status': request.status },
        async (span) => {
          const answered = await postToVetted(destination, { headers: withTraceHeaders(headers), body, signal });
          span.setAttribute('http.response.status_code', answered);
          return answered;
        },
        SpanKind.CLIENT,
      );
    } catch (error) {
      throw ApplicationFailure.create({ type: 'WebhookUnreachable', message: `webhook ${request.status}: ${String(error)}` });
    }
    if (status >= 200 && status < 300) return 'delivered';
    if (status === 410) {
      // Gone: the receiver asks us to stop; no later status of this campaign is posted there.
      await store.setTransactionFields(request.transactionId, { callback_gone_at: new Date().toISOString() });
    }
    const retryable = status >= 500 || status === 408 || status === 429;
    throw ApplicationFailure.create({
      type: retryable ? 'WebhookRetryable' : 'WebhookRejected',
      message: `webhook ${request.status} answered HTTP ${status}`,
      nonRetryable: !retryable,
      details: [{ http_status: status, attempt_id: randomUUID() }],
    });
  }

  /**
   * The callback's destination, checked again now: the URL was checked when the campaign was
   * created, but a name may resolve elsewhere since (DNS rebinding). A forbidden destination
   * fails this webhook for good without connecting; a lookup that fails is retried as a
   * receiver that cannot be reached is.
   */
  async function vetCallback(callbackUrl: string, request: WebhookRequest, signal: AbortSignal): Promise<VettedDestination> {
    const refuse = (reason: string) => {
      deps.log.warn('webhook destination refused', { transaction_id: request.transactionId, status: request.status, reason });
      return ApplicationFailure.create({
        type: 'WebhookForbiddenDestination',
        message: `webhook ${request.status} refused: ${reason}`,
        nonRetryable: true,
      });
    };
    let url: URL;
    try {
      url = new URL(callbackUrl);
    } catch {
      throw refuse('callback_url is not a valid URL.');
    }
    const problem = callbackUrlProblem(url);
    if (problem) throw refuse(problem);
    try {
      return await vetDestination(url, deps.settings.callbacks ?? STRICT_CALLBACK_POLICY, signal);
    } catch (error) {
      if (error instanceof ForbiddenDestinationError) throw refuse(error.message);
      throw ApplicationFailure.create({ type: 'WebhookUnreachable', message: `webhook ${request.status}: ${String(error)}` });
    }
  }

  return { recordTransactionStatus, tallyBatch, reconcileTransactionCounts, annotateTransaction, deliverWebhook };
}

/** A tenant record with a secret no Standard Webhooks receiver can use fails its webhooks for good. */
function signedHeaders(secret: string, id: string, timestamp: number, body: string, tenantId: string) {
  try {
    return webhookHeaders(secret, id, timestamp, body);
  } catch (error) {
    if (!(error instanceof InvalidWebhookSecretError)) throw error;
    throw ApplicationFailure.create({ type: 'WebhookSecretInvalid', message: `tenant ${tenantId}: ${error.message}`, nonRetryable: true });
  }
}
