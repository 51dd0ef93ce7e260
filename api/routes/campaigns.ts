// Campaigns (transactions): list, start, status, messages, rejected rows, cancel.
import { Router, type Request } from 'express';
import { z } from 'zod';
import { isTimeZone, windowProblems } from '../../src/domain/send-window';
import { DomainError, notFound } from '../../src/domain/errors';
import { campaignMetadata, campaignName, campaignTags, labelsView } from '../../src/domain/campaign-labels';
import { MESSAGE_STATUSES, type MessageStatus } from '../../src/domain/message-status';
import { topicName } from '../../src/domain/topics';
import { displayStatus } from '../../src/domain/display-status';
import { isFinalTransactionStatus } from '../../src/domain/transaction-status';
import {
  cancelUpdate,
  pauseUpdate,
  rescheduleUpdate,
  resumeUpdate,
  sendNowUpdate,
  transactionWorkflowId,
  type ControlResult,
} from '../../src/contracts';
import { WorkflowUpdateFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { batchIdOfMessage, ranges } from '../../src/adapters/dynamo/keys';
import { COUNT_NAMES, type MessageRecord, type TransactionRecord } from '../../src/adapters/dynamo/types';
import { tenantOf } from '../auth';
import { createCampaignService } from '../campaign-service';
import type { ApiDeps } from '../deps';
import { pathId } from '../ids';
import { campaignListing, listCampaignsQuery } from '../campaign-listing';
import { analyticsQuery, readAnalytics } from './analytics';
import { mountCampaignStream } from './campaign-stream';
import { CREATE_OVERRIDE_LOCAL } from './reputation';
import { checkTableKey, decodeCursor, decodeKeyCursor, encodeCursor, type TableKey } from '../pagination';

const isoDate = z.string().datetime({ offset: true });

/**
 * A schedule: `send_at`, and (issue 17, item 4) an optional daily window in an IANA time zone
 * outside which nothing is sent; with a window, `send_at` may be left out (the next opening).
 * A zone the database does not know, or a window that never opens, is a 400 naming the field.
 */
const scheduleBody = z
  .object({
    send_at: isoDate.optional(),
    time_zone: z.string().max(64).optional(),
    window: z
      .object({ start: z.string().max(8), end: z.string().max(8), days: z.array(z.string().max(10)).max(7).optional() })
      .strict()
      .optional(),
    /** Issue 17, item 4: each recipient is mailed at send_at's wall-clock time (in time_zone, else UTC) in the zone this column gives. */
    recipient_time_zone_column: z.string().min(1).max(128).optional(),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    if (schedule.send_at === undefined && schedule.window === undefined) {
      ctx.addIssue({ code: 'custom', path: ['send_at'], message: 'send_at is required without a window' });
    }
    if (schedule.recipient_time_zone_column !== undefined && schedule.send_at === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['recipient_time_zone_column'],
        message: "recipients' local time needs send_at: its wall-clock time is each recipient's",
      });
    }
    if (schedule.time_zone !== undefined && !isTimeZone(schedule.time_zone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['time_zone'],
        message: `unknown time zone "${schedule.time_zone}" (an IANA name such as Europe/Paris)`,
      });
    }
    if (schedule.window === undefined) return;
    if (schedule.time_zone === undefined) {
      ctx.addIssue({ code: 'custom', path: ['time_zone'], message: 'a window needs its time zone' });
      return;
    }
    for (const problem of windowProblems({ timeZone: schedule.time_zone, ...schedule.window })) {
      if (problem.field === 'time_zone') continue;
      ctx.addIssue({ code: 'custom', path: problem.field.split('.'), message: problem.message });
    }
  });
export const createCampaignBody = z
  .object({
    template_id: z.string().min(1).max(64),
    file_id: z.string().min(1).max(64),
    callback_url: z.string().max(2048).optional(),
    schedule: scheduleBody.optional(),
    throttle: z
      .object({
        emails_per_minute: z.number().int().positive().max(1_000_000).optional(),
        emails_per_hour: z.number().int().positive().max(60_000_000).optional(),
      })
      .strict()
      .optional(),
    name: campaignName.optional(),
    tags: campaignTags.optional(),
    metadata: campaignMetadata.optional(),
    /** Issue 15, item 2: the template version to send (default: the latest confirmed one). */
    template_version: z.number().int().min(1).max(999_999).optional(),
    /** Issue 15, item 7: one of the tenant's topics (PUT /topics/{name}); unknown: 422 TOPIC_NOT_FOUND. */
    topic: topicName.optional(),
    /** Issue 17, item 3: the design documents' queue priority (Temporal priority keys 1, 3, 5). */
    priority: z.enum(['high', 'normal', 'low']).optional(),
  })
  .strict();

type ControlUpdate = typeof pauseUpdate | typeof resumeUpdate | typeof sendNowUpdate | typeof cancelUpdate;
export const rescheduleBody = z.object({ send_at: isoDate }).strict();

/** The contract speaks snake_case: the workflow's answer, as the client sees it. */
const controlView = (transactionId: string, result: ControlResult) => ({
  transaction_id: transactionId,
  status: result.status,
  send_at: result.sendAt ?? null,
});

/** A control request the campaign's workflow refused (or cannot take: it has ended) is a 409. */
function refused(error: unknown, status: string): unknown {
  if (error instanceof WorkflowUpdateFailedError) {
    const cause = (error.cause as Error | undefined)?.message ?? error.message;
    return new DomainError('conflict', 'CAMPAIGN_STATE_CONFLICT', cause);
  }
  if (error instanceof WorkflowNotFoundError || (error as { name?: string }).name === 'WorkflowNotFoundError') {
    return new DomainError('conflict', 'CAMPAIGN_STATE_CONFLICT', `The campaign is ${status}; it takes no more control requests.`);
  }
  return error;
}

/**
 * The most DynamoDB queries one request for a campaign's messages makes. A filter that matches
 * little would otherwise read the whole campaign in one request; past the budget the page ends,
 * perhaps short or empty, with a cursor that continues where it stopped.
 */
export const MAX_QUERIES_PER_LISTING = 16;
/** Items a filtered query reads at most (DynamoDB's Limit counts items read, not items matched). */
const SCAN_PER_QUERY = 500;

const listQuery = z.object({
  status: z.enum(MESSAGE_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(4096).optional(),
});

/** Messages not yet picked up show the state their campaign puts them in (shared with exports). */
export { displayStatus };

const messageView = (m: MessageRecord, txn: TransactionRecord, withHistory = false) => ({
  message_id: m.message_id,
  batch_id: m.batch_id,
  row: m.row,
  recipient_email: m.recipient_email,
  status: displayStatus(m.status, txn.status),
  ses_message_id: m.ses_message_id ?? null,
  sent_time: m.sent_time ?? null,
  failure_reason: m.failure_reason ?? null,
  // Soft bounces (issue 17, item 2): the retries made, and when the next is due while SOFT_BOUNCED.
  ...(m.soft_bounce_retries !== undefined ? { soft_bounce_retries: m.soft_bounce_retries } : {}),
  ...(m.retry_at !== undefined && m.status === 'SOFT_BOUNCED' ? { retry_at: m.retry_at } : {}),
  ...(m.bounce_class !== undefined ? { bounce_class: m.bounce_class } : {}),
  created_at: m.created_at,
  updated_at: m.updated_at,
  ...(withHistory ? { placeholder_data: m.placeholder_data, status_history: m.status_history } : {}),
});

export function statusView(txn: TransactionRecord) {
  const total = txn.total_messages ?? 0;
  const c = txn.counts;
  const processed = c.sent + c.failed + c.suppressed;
  const started = txn.status_history.find((h) => h.status === 'READY_TO_SEND');
  let estimated: string | null = null;
  if (txn.status === 'READY_TO_SEND' && started && c.sent > 0 && processed < total) {
    const elapsed = Date.now() - Date.parse(started.timestamp);
    estimated = new Date(Date.now() + (elapsed / processed) * (total - processed)).toISOString();
  }
  return {
    transaction_id: txn.transaction_id,
    status: txn.status,
    reason: txn.reason ?? null,
    held_reason: txn.held_reason ?? null,
    template_id: txn.template_id,
    file_id: txn.file_id,
    ...labelsView(txn),
    topic: txn.topic ?? null,
    priority: txn.priority ?? 'normal',
    // Campaigns made before template versions sent the template record: version 1.
    template_version: txn.template_version ?? 1,
    progress: {
      total_messages: total,
      processed_messages: processed,
      percentage: total === 0 ? (isFinalTransactionStatus(txn.status) ? 100 : 0) : Math.round((processed / total) * 10000) / 100,
    },
    counts: Object.fromEntries(COUNT_NAMES.map((n) => [n, c[n] ?? 0])),
    schedule: txn.schedule ?? null,
    throttle: txn.throttle ?? null,
    estimated_completion: estimated,
    status_history: txn.status_history,
    reconciliation: txn.reconciliation ?? null,
    created_at: txn.created_at,
    updated_at: txn.updated_at,
  };
}

/** A campaign in a listing: its status view without the history and the reconciliation (GET …/status has them). */
export function summaryView(txn: TransactionRecord) {
  const { status_history: _history, reconciliation: _reconciliation, ...summary } = statusView(txn);
  return summary;
}

const batchIdOf = (n: number) => `b${String(n).padStart(5, '0')}`;

/** Where a messages page starts: batch number `b` and, within it, after table key `k`. */
function messagesPosition(raw: string | undefined, transactionId: string, batchCount: number): { b: number; k?: TableKey } {
  const value = decodeCursor<{ b?: unknown; k?: unknown }>(raw);
  if (value === undefined) return { b: 1 };
  const b = value.b;
  if (
    typeof b !== 'number' ||
    !Number.isInteger(b) ||
    b < 1 ||
    b > batchCount + 1 ||
    Object.keys(value).some((k) => k !== 'b' && k !== 'k')
  ) {
    throw new DomainError('invalid', 'INVALID_CURSOR', 'The cursor is not valid.');
  }
  if (value.k === undefined) return { b };
  const { PK, skPrefix } = ranges.messages(transactionId, batchIdOf(b));
  return { b, k: checkTableKey(value.k, PK, skPrefix) };
}

export function campaignRoutes(deps: ApiDeps): Router {
  const router = Router();
  const service = createCampaignService(deps);

  const load = async (req: Request<{ id: string }>) => {
    const id = pathId('campaign', req.params.id);
    const txn = await deps.store.getTransaction(tenantOf(req), id);
    if (!txn) throw notFound('campaign', id);
    return txn;
  };

  router.post('/', async (req, res) => {
    const body = createCampaignBody.parse(req.body);
    const key = req.header('idempotency-key');
    if (key !== undefined && (key.length === 0 || key.length > 255)) {
      throw new DomainError('invalid', 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 characters.');
    }
    // The reputation guard's override marker, when the operator let this one through a hold (routes/reputation.ts).
    const marks = res.locals[CREATE_OVERRIDE_LOCAL] as Record<string, unknown> | undefined;
    const txn = await service.create(tenantOf(req), body, key, marks);
    res.status(202).json({ transaction_id: txn.transaction_id, status: txn.status });
  });

  router.get('/', async (req, res) => {
    const tenantId = tenantOf(req);
    const query = listCampaignsQuery.parse(req.query);
    const listing = campaignListing(query, tenantId, { queries: MAX_QUERIES_PER_LISTING, items: deps.config.CAMPAIGN_LIST_READ_BUDGET });
    const page = await deps.campaigns.listCampaigns(tenantId, listing);
    res.json({ items: page.items.map(summaryView), next_cursor: encodeCursor(page.cursor) });
  });

  router.get('/:id/status', async (req, res) => {
    res.json(statusView(await load(req)));
  });

  // The same view as Server-Sent Events, until the campaign ends (routes/campaign-stream.ts).
  mountCampaignStream(router, deps, load, statusView);

  router.get('/:id/messages', async (req, res) => {
    const txn = await load(req);
    const query = listQuery.parse(req.query);
    const position = messagesPosition(query.cursor, txn.transaction_id, txn.batch_count ?? 0);
    // Stored status to filter on: messages never picked up are stored CREATED.
    const stored: MessageStatus[] | undefined = query.status
      ? ['SCHEDULED', 'READY_TO_SEND', 'CREATED'].includes(query.status)
        ? ['CREATED', query.status]
        : query.status === 'CANCELLED'
          ? ['CANCELLED', 'CREATED']
          : [query.status]
      : undefined;
    const items: ReturnType<typeof messageView>[] = [];
    let batch = position.b;
    let key = position.k;
    const batchCount = txn.batch_count ?? 0;
    for (let queries = 0; batch <= batchCount && items.length < query.limit && queries < MAX_QUERIES_PER_LISTING; queries++) {
      const page = await deps.messages.pageMessages(txn.transaction_id, batchIdOf(batch), query.limit - items.length, key, stored, {
        scan: SCAN_PER_QUERY,
      });
      for (const m of page.items) {
        const view = messageView(m, txn);
        if (!query.status || view.status === query.status) items.push(view);
      }
      key = page.cursor as TableKey | undefined;
      if (!key) batch += 1;
    }
    const more = batch <= batchCount;
    res.json({ items, next_cursor: more ? encodeCursor({ b: batch, k: key }) : null });
  });

  router.get('/:id/messages/:messageId', async (req, res) => {
    const txn = await load(req);
    const bid = batchIdOfMessage(req.params.messageId);
    const message = bid ? await deps.messages.getMessage(txn.transaction_id, bid, req.params.messageId) : undefined;
    if (!message) throw notFound('message', req.params.messageId);
    res.json(messageView(message, txn, true));
  });

  router.get('/:id/analytics', async (req, res) => {
    const txn = await load(req);
    const query = analyticsQuery.parse(req.query);
    const result = await readAnalytics(deps, query, (a, opts) => a.campaignAnalytics(txn.tenant_id, txn.transaction_id, opts), {
      transaction_id: txn.transaction_id,
    });
    res.json({ transaction_id: txn.transaction_id, status: txn.status, ...result });
  });

  router.get('/:id/errors', async (req, res) => {
    const txn = await load(req);
    const query = listQuery.omit({ status: true }).parse(req.query);
    const { PK, skPrefix } = ranges.rowErrors(txn.transaction_id);
    const start = decodeKeyCursor(query.cursor, PK, skPrefix);
    const page = await deps.rowErrors.listRowErrors(txn.transaction_id, query.limit, start);
    res.json({
      transaction_id: txn.transaction_id,
      total_invalid: txn.counts.invalid,
      items: page.items,
      next_cursor: encodeCursor(page.cursor),
    });
  });

  // Control: updates on the transaction workflow, which accepts or refuses them by its own state.
  const control = (path: string, update: ControlUpdate) => {
    router.post(path, async (request, res) => {
      const req = request as unknown as Request<{ id: string }>;
      const txn = await load(req);
      const handle = deps.temporal.workflow.getHandle(transactionWorkflowId(txn.transaction_id));
      try {
        const result = await handle.executeUpdate(update as never);
        res.status(202).json(controlView(txn.transaction_id, result as ControlResult));
      } catch (error) {
        throw refused(error, txn.status);
      }
    });
  };
  control('/:id/cancel', cancelUpdate);
  control('/:id/pause', pauseUpdate);
  control('/:id/resume', resumeUpdate);
  control('/:id/send-now', sendNowUpdate);
  router.patch('/:id/schedule', async (req, res) => {
    const txn = await load(req);
    const body = rescheduleBody.parse(req.body);
    const handle = deps.temporal.workflow.getHandle(transactionWorkflowId(txn.transaction_id));
    try {
      const result = await handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: body.send_at }] });
      await deps.store.setTransactionFields(txn.transaction_id, { schedule: { ...txn.schedule, send_at: body.send_at } });
      res.json(controlView(txn.transaction_id, result));
    } catch (error) {
      throw refused(error, txn.status);
    }
  });

  return router;
}
