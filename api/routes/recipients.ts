// One recipient as a person, for the calling tenant only (GDPR, CCPA): what the engine holds
// about an address (subject access, GET), its erasure (DELETE: a receipt now, the work in
// erasureWorkflow within minutes), the erasure's state, and the tenant's retention. Every key
// read or written here starts with the caller's tenant, so another tenant's data with the same
// address is never seen or touched.
import { Router } from 'express';
import { z } from 'zod';
import { WORKFLOW_INPUT_VERSION } from '../../src/contracts';
import { DomainError, notFound } from '../../src/domain/errors';
import { normalizeEmail } from '../../src/domain/email-address';
import { erasureWorkflowId, type ErasureWorkflowInput } from '../../src/domain/erasure';
import { erasureIdFor, recipientHash } from '../../src/domain/recipient-hash';
import { effectiveRetention } from '../../src/domain/retention';
import { retentionDefaults } from '../../src/config';
import { keys, RECIPIENT_ITEM_PREFIX, type RecipientItemKind } from '../../src/adapters/dynamo/keys';
import type { ErasureRecord } from '../../src/adapters/dynamo/types';
import type { Cursor } from '../../src/ports';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { requireScope } from '../scopes';
import { decodeCursor, encodeCursor } from '../pagination';

const MAX_RETENTION_DAYS = 3650;
const retentionDays = z.number().positive().max(MAX_RETENTION_DAYS).nullable().optional();
/** PUT /recipients/retention: days (fractions allowed); null returns to the engine's default. */
export const putRetentionBody = z.object({ retention_days: retentionDays, upload_retention_days: retentionDays }).strict();
export const subjectAccessQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(4096).optional(),
});

const ERASURE_ID = /^er_[0-9a-f]{32}$/;

function emailParam(raw: string): string {
  const email = normalizeEmail(raw);
  if (!email) throw new DomainError('invalid', 'INVALID_EMAIL', 'The address is not a valid email address.');
  return email;
}

/** Where subject access resumes in each list: a position, null once the list is done, absent at its start. */
type AccessCursor = { m?: Cursor | null; r?: Cursor | null };

/** A position in the recipient index, as DynamoDB gave it, for this recipient and kind only (else 400). */
function checkIndexKey(value: unknown, recipientKey: string, kind: RecipientItemKind): Cursor | null | undefined {
  if (value === undefined || value === null) return value;
  const key = value as Record<string, unknown>;
  const partition = kind === 'message' ? 'BATCH#' : 'TRANSACTION#';
  const valid =
    typeof key === 'object' &&
    !Array.isArray(key) &&
    Object.keys(key).length === 3 &&
    key.recipient_key === recipientKey &&
    typeof key.PK === 'string' &&
    key.PK.startsWith(partition) &&
    key.PK.length <= 256 &&
    typeof key.SK === 'string' &&
    key.SK.startsWith(RECIPIENT_ITEM_PREFIX[kind]) &&
    key.SK.length <= 256;
  if (!valid) throw new DomainError('invalid', 'INVALID_CURSOR', 'The cursor is not valid.');
  return { recipient_key: recipientKey, PK: key.PK, SK: key.SK };
}

const epochIso = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : null);

function messageView(item: Record<string, unknown>) {
  return {
    transaction_id: item.transaction_id,
    message_id: item.message_id,
    batch_id: item.batch_id,
    row: item.row,
    recipient_email: item.recipient_email,
    status: item.status,
    placeholder_data: item.placeholder_data ?? {},
    ses_message_id: item.ses_message_id ?? null,
    sent_time: item.sent_time ?? null,
    created_at: item.created_at,
    updated_at: item.updated_at,
    expires_at: epochIso(item.expires_at),
    status_history: item.status_history ?? [],
  };
}

function rowErrorView(item: Record<string, unknown>) {
  return {
    transaction_id: String(item.PK).replace(/^TRANSACTION#/, ''),
    row: item.row,
    email: item.email,
    code: item.code,
    message: item.message,
    expires_at: epochIso(item.expires_at),
  };
}

const erasureView = (record: ErasureRecord) => ({
  erasure_id: record.erasure_id,
  recipient_hash: record.recipient_hash,
  status: record.status,
  requested_at: record.requested_at,
  updated_at: record.updated_at,
  completed_at: record.completed_at ?? null,
  requests: record.requests,
  stores: record.stores,
  status_url: `/api/v1/recipients/erasures/${record.erasure_id}`,
});

export function recipientRoutes(deps: ApiDeps): Router {
  const router = Router();
  const defaults = retentionDefaults(deps.config);

  const retentionView = async (tenantId: string) => {
    const own = await deps.recipients.getRetention(tenantId);
    const effective = effectiveRetention(own, defaults);
    return {
      retention_days: effective.days,
      upload_retention_days: effective.uploadDays,
      tenant_setting: { retention_days: own?.retention_days ?? null, upload_retention_days: own?.upload_retention_days ?? null },
      defaults: { retention_days: defaults.days, upload_retention_days: defaults.uploadDays, minimum_days: defaults.minDays },
    };
  };

  router.get('/retention', async (req, res) => {
    res.json(await retentionView(tenantOf(req)));
  });

  router.put('/retention', requireScope('admin'), async (req, res) => {
    const body = putRetentionBody.parse(req.body ?? {});
    const tenantId = tenantOf(req);
    const current = await deps.recipients.getRetention(tenantId);
    const next = {
      retention_days: body.retention_days === undefined ? current?.retention_days : (body.retention_days ?? undefined),
      upload_retention_days:
        body.upload_retention_days === undefined ? current?.upload_retention_days : (body.upload_retention_days ?? undefined),
    };
    const short = Object.entries(next).filter(([, days]) => days !== undefined && days < defaults.minDays);
    if (short.length > 0) {
      throw new DomainError('unprocessable', 'RETENTION_TOO_SHORT', `Retention may not be shorter than ${defaults.minDays} days.`, {
        fields: short.map(([name]) => name),
      });
    }
    await deps.recipients.putRetention({ tenant_id: tenantId, ...next, updated_at: new Date().toISOString() });
    res.json(await retentionView(tenantId));
  });

  router.get('/erasures/:id', async (req, res) => {
    const id = req.params.id;
    const record = ERASURE_ID.test(id) ? await deps.recipients.getErasure(tenantOf(req), id) : undefined;
    if (!record) throw notFound('erasure', JSON.stringify(id.slice(0, 64)));
    res.json(erasureView(record));
  });

  // Subject access: bounded (at most `limit` messages and `limit` rejected rows a page), paged by one cursor.
  router.get('/:email', async (req, res) => {
    const query = subjectAccessQuery.parse(req.query);
    const tenantId = tenantOf(req);
    const email = emailParam(req.params.email);
    const hash = recipientHash(email);
    const { recipient_key: recipientKey } = keys.recipientIndex(tenantId, hash);
    const raw = decodeCursor<AccessCursor>(query.cursor) ?? {};
    const position = { m: checkIndexKey(raw.m, recipientKey, 'message'), r: checkIndexKey(raw.r, recipientKey, 'rowError') };
    const page = async (kind: RecipientItemKind, at: Cursor | null | undefined) => {
      if (at === null) return { items: [], next: null };
      const found = await deps.recipients.pageItems(tenantId, hash, kind, query.limit, at);
      return { items: await deps.recipients.getItems(found.items), next: found.cursor ?? null };
    };
    const [messages, rows, suppression, erased, topicSuppressions] = await Promise.all([
      page('message', position.m),
      page('rowError', position.r),
      deps.suppressions.getSuppression(tenantId, email),
      deps.erasedRecipients.getErasedRecipient(tenantId, hash),
      deps.topics.topicSuppressionsOf(tenantId, email),
    ]);
    const refs = messages.items.map((m) => ({ transaction_id: String(m.transaction_id), message_id: String(m.message_id) }));
    const analytics = deps.analytics
      ? await deps.analytics.analytics.countMessageDocuments(tenantId, refs).catch(() => undefined)
      : undefined;
    const more = messages.next !== null || rows.next !== null;
    res.json({
      email,
      recipient_hash: hash,
      suppression: suppression
        ? { reason: suppression.reason, source: suppression.source ?? null, created_at: suppression.created_at }
        : null,
      erasure: erased ? { erasure_id: erased.erasure_id, suppressed_at: erased.created_at } : null,
      // Issue 15, item 7: the topics the address left (at most one item a topic, so never paged).
      topic_suppressions: topicSuppressions.map((s) => ({
        topic: s.topic,
        reason: s.reason,
        source: s.source ?? null,
        created_at: s.created_at,
      })),
      messages: messages.items.map(messageView),
      rejected_rows: rows.items.map(rowErrorView),
      analytics: analytics ? { available: true, ...analytics } : { available: false, message_documents: null, event_documents: null },
      next_cursor: more ? encodeCursor({ m: messages.next, r: rows.next } satisfies AccessCursor) : null,
    });
  });

  /**
   * Erasure. Here, before anything else: the person's suppression becomes one by hash (so they
   * are never mailed again, and the address never has to reach Temporal) and the erasure is
   * recorded; the rest runs in erasureWorkflow. 202 with the receipt, also for an address the
   * engine holds nothing about (it stays suppressed). The audit log records the request.
   */
  router.delete('/:email', async (req, res) => {
    const tenantId = tenantOf(req);
    const email = emailParam(req.params.email);
    const hash = recipientHash(email);
    const erasureId = erasureIdFor(tenantId, hash);
    const at = new Date().toISOString();
    await deps.erasedRecipients.suppressErasedRecipient({
      tenant_id: tenantId,
      recipient_hash: hash,
      reason: 'ERASED',
      erasure_id: erasureId,
      created_at: at,
    });
    const removed = await deps.suppressions.deleteSuppression(tenantId, email);
    // Topic suppressions hold the address too; the hash entry suppresses every topic from now on.
    await deps.topics.deleteTopicSuppressionsOf(tenantId, email);
    const record = await deps.recipients.requestErasure({ tenantId, erasureId, recipientHash: hash }, at, {
      suppression: { hash_entry: true, address_entry_removed: removed },
    });
    const input: ErasureWorkflowInput = {
      version: WORKFLOW_INPUT_VERSION,
      tenantId,
      erasureId,
      recipientHash: hash,
      requestedAt: record.requested_at,
      pollMs: deps.config.ERASURE_POLL_SECONDS * 1000,
      settleMs: deps.config.ERASURE_SETTLE_SECONDS * 1000,
      maxWaitMs: deps.config.ERASURE_MAX_WAIT_SECONDS * 1000,
    };
    await deps.temporal.workflow.start('erasureWorkflow', {
      workflowId: erasureWorkflowId(tenantId, erasureId, record.run),
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      args: [input],
      // A repeated request joins the run it belongs to.
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    res.status(202).json(erasureView(record));
  });

  return router;
}
