// Starting a campaign: checks its inputs, pins its recipient file, records the transaction
// (ACCEPT) and starts its workflow. Idempotency-Key replays return the same transaction and make sure it started.
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ulid } from 'ulid';
import { parse as parseCsv } from 'csv-parse/sync';
import { CsvHeaderError, columnRulesOf, createRowValidator, type ColumnRules } from '../src/domain/recipient-csv';
import { DomainError, notFound } from '../src/domain/errors';
import type { CampaignMetadata } from '../src/domain/campaign-labels';
import { sendChunkSize } from '../src/config';
import { chooseVersion } from '../src/templates/versions';
import {
  searchAttributeKeys,
  transactionWorkflowId,
  WORKFLOW_INPUT_VERSION,
  type Throttle,
  type TransactionWorkflowInput,
} from '../src/contracts';
import { transactionDetails, transactionSummary, type CampaignText } from '../src/contracts/ui-text';
import type { CampaignSchedule, FileRecord, TransactionRecord } from '../src/adapters/dynamo/types';
import type { SendWindow, Weekday } from '../src/domain/send-window';
import { campaignPriority, parseFairnessWeights } from '../src/domain/campaign-priority';
import { s3Keys } from '../src/adapters/s3';
import { callbackPolicy, checkCallbackUrl } from './callback-url';
import type { ApiDeps } from './deps';

const HEADER_PEEK_BYTES = 1024 * 1024;

/** The campaign's own copy of its recipient file. */
interface PinnedFile {
  key: string;
  bytes: number;
}

export interface CreateCampaign {
  template_id: string;
  file_id: string;
  callback_url?: string;
  schedule?: CampaignSchedule;
  throttle?: Throttle;
  /** Issue 15, item 1: labels, checked by createCampaignBody (src/domain/campaign-labels.ts). */
  name?: string;
  tags?: string[];
  metadata?: CampaignMetadata;
  /** Issue 15, item 2: the template version to send (default: the latest confirmed), checked in checkInputs. */
  template_version?: number;
  /** Issue 15, item 7: the tenant's topic, checked in checkInputs. */
  topic?: string;
  priority?: 'high' | 'normal' | 'low';
}

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

/** The schedule's window as the workflows take it (issue 17, item 4), if it has one. */
function sendWindowOf(schedule: CampaignSchedule | undefined): SendWindow | undefined {
  if (!schedule?.window || !schedule.time_zone) return undefined;
  const { start, end, days } = schedule.window;
  return { timeZone: schedule.time_zone, start, end, ...(days ? { days: days as Weekday[] } : {}) };
}

export function createCampaignService(deps: ApiDeps) {
  const { config, store, objects, temporal } = deps;

  async function startWorkflow(txn: TransactionRecord): Promise<void> {
    const input: TransactionWorkflowInput = {
      version: WORKFLOW_INPUT_VERSION,
      transactionId: txn.transaction_id,
      tenantId: txn.tenant_id,
      templateId: txn.template_id,
      fileId: txn.file_id,
      sendAt: txn.schedule?.send_at,
      ...(sendWindowOf(txn.schedule) ? { sendWindow: sendWindowOf(txn.schedule) } : {}),
      ...(txn.callback_url ? {} : { noCallback: true as const }),
      ...(txn.schedule?.recipient_time_zone_column
        ? { localTime: { timeZone: txn.schedule.time_zone ?? 'UTC', column: txn.schedule.recipient_time_zone_column } }
        : {}),
      throttle: txn.throttle,
      options: {
        batchSize: config.BATCH_SIZE,
        maxConcurrentBatches: config.MAX_CONCURRENT_BATCHES,
        sendChunkSize: sendChunkSize(config),
        sendTaskQueue: config.TEMPORAL_SEND_TASK_QUEUE,
        finalStateDeadlineMs: config.FINAL_STATE_DEADLINE_SECONDS * 1000,
        outcomePollMs: config.OUTCOME_POLL_SECONDS * 1000,
        sendingGraceMs: config.SENDING_GRACE_SECONDS * 1000,
        lateSendToleranceMs: config.LATE_SEND_TOLERANCE_SECONDS * 1000,
        lateSendPolicy: config.LATE_SEND_POLICY,
        ...(txn.priority === 'high' && config.HIGH_PRIORITY_SEND_LANES > 1 ? { sendLanes: config.HIGH_PRIORITY_SEND_LANES } : {}),
      },
      ...(txn.name !== undefined ? { name: txn.name } : {}),
      ...(txn.tags?.length ? { tags: txn.tags } : {}),
    };
    // Issue 16, item 6: what the Temporal UI shows of the campaign, and its name and tags as filters.
    const text: CampaignText = {
      transactionId: txn.transaction_id,
      tenantId: txn.tenant_id,
      templateId: txn.template_id,
      name: txn.name,
      tags: txn.tags,
      sendAt: txn.schedule?.send_at,
      throttle: txn.throttle,
      templateVersion: txn.template_version,
      fileId: txn.file_id,
      fileBytes: txn.file_bytes,
    };
    try {
      await temporal.workflow.start('transactionWorkflow', {
        workflowId: transactionWorkflowId(txn.transaction_id),
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [input],
        // A transaction runs once: its workflow is never started again after it closed (a replayed
        // request would otherwise ingest and send the whole campaign a second time).
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: searchAttributeKeys.transactionId, value: txn.transaction_id },
          { key: searchAttributeKeys.tenantId, value: txn.tenant_id },
          { key: searchAttributeKeys.transactionStatus, value: 'ACCEPT' },
          ...(txn.name !== undefined ? [{ key: searchAttributeKeys.campaignName, value: txn.name }] : []),
          ...(txn.tags?.length ? [{ key: searchAttributeKeys.tags, value: txn.tags }] : []),
        ],
        memo: { template_id: txn.template_id, file_id: txn.file_id },
        // Issue 17, item 3: its children and activities inherit both (the send queue orders by them).
        priority: campaignPriority(txn, parseFairnessWeights(config.TENANT_FAIRNESS_WEIGHTS)),
        staticSummary: transactionSummary(text),
        staticDetails: transactionDetails(text),
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  /**
   * Checks the inputs and pins the recipient file: the upload is copied to a key of the campaign's
   * own, which no presigned URL names, and the size and header checks run on that copy, the
   * bytes ingest will read (later writes through the upload URL change nothing).
   */
  async function checkInputs(tenantId: string, body: CreateCampaign): Promise<PinnedFile & { templateVersion: number }> {
    const [template, file] = await Promise.all([store.getTemplate(tenantId, body.template_id), store.getFile(tenantId, body.file_id)]);
    if (!template) throw notFound('template', body.template_id);
    // Issue 15, item 2: the version asked for (confirmed), or the latest confirmed one; the campaign sends it whatever comes after.
    const version = await chooseVersion(deps.templates, tenantId, body.template_id, body.template_version, config.TEMPLATE_MAX_VERSIONS);
    if (!file) throw notFound('file', body.file_id);
    await checkTopic(tenantId, body.topic);
    checkPriority(tenantId, body.priority);
    // A first look at the upload refuses what is plainly unusable without copying it.
    checkFileSize(await objects.size(file.s3_key));
    const pinned = await pinFile(tenantId, file);
    try {
      await checkHeader(pinned.key, columnRulesOf(version), body.schedule?.recipient_time_zone_column);
      if (body.callback_url) await checkCallbackUrl(body.callback_url, callbackPolicy(config));
    } catch (error) {
      await discard(pinned.key);
      throw error;
    }
    return { ...pinned, templateVersion: version.version };
  }

  /** A topic the tenant never made (or another tenant's) cannot be named: its unsubscribe links would lead nowhere. */
  async function checkTopic(tenantId: string, topic: string | undefined): Promise<void> {
    if (topic === undefined || (await deps.topics.getTopic(tenantId, topic))) return;
    const message = `The tenant has no topic ${topic}; create it with PUT /topics/{name} first.`;
    throw new DomainError('unprocessable', 'TOPIC_NOT_FOUND', message, { field: 'topic' });
  }

  function checkFileSize(size: number | undefined): asserts size is number {
    if (size === undefined) throw new DomainError('unprocessable', 'FILE_NOT_UPLOADED', 'Nothing was uploaded for this file.');
    if (size === 0) throw new DomainError('unprocessable', 'EMPTY_FILE', 'The recipient file is empty.');
    if (size > config.MAX_CSV_BYTES) {
      throw new DomainError('too_large', 'FILE_TOO_LARGE', `The recipient file is ${size} bytes; the limit is ${config.MAX_CSV_BYTES}.`);
    }
  }

  async function pinFile(tenantId: string, file: FileRecord): Promise<PinnedFile> {
    const key = s3Keys.pinnedFile(tenantId, file.file_id, ulid());
    if (!(await objects.copy(file.s3_key, key))) checkFileSize(undefined);
    const size = await objects.size(key);
    try {
      checkFileSize(size);
    } catch (error) {
      await discard(key);
      throw error;
    }
    return { key, bytes: size };
  }

  /**
   * Priority high is the operator's to grant (TENANT_HIGH_PRIORITY): a priority key outranks
   * fairness on Temporal's queues, so a tenant free to mark everything high would starve the others.
   */
  function checkPriority(tenantId: string, priority: CreateCampaign['priority']): void {
    if (priority !== 'high') return;
    const allowed = config.TENANT_HIGH_PRIORITY;
    if (allowed.includes('*') || allowed.includes(tenantId)) return;
    throw new DomainError(
      'forbidden',
      'PRIORITY_NOT_ALLOWED',
      'This tenant may not send at priority high; the operator grants it (TENANT_HIGH_PRIORITY).',
      {
        path: 'priority',
      },
    );
  }

  /** Drops a pinned copy no transaction uses (best effort: an orphan costs storage, nothing else). */
  async function discard(key: string): Promise<void> {
    await objects
      .delete(key)
      .catch((error: unknown) => deps.log.warn('could not delete an unused pinned file', { key, error: String(error) }));
  }

  /**
   * Reads only the header row, so a file that can never work is refused now rather than FAILED later
   * (a dotted variable without its column among them: MISSING_COLUMNS, before any message exists).
   */
  async function checkHeader(key: string, rules: ColumnRules | string[], zoneColumn?: string): Promise<void> {
    const head = await objects.getRange(key, 0, HEADER_PEEK_BYTES - 1);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
    const end = text.search(/\r?\n/);
    if (end < 0 && head.length >= HEADER_PEEK_BYTES) {
      throw new DomainError('unprocessable', 'HEADER_TOO_LARGE', `The header row is longer than ${HEADER_PEEK_BYTES} bytes.`);
    }
    let header: string[] = [];
    try {
      header = (parseCsv(end < 0 ? text : text.slice(0, end), { bom: true, relax_column_count: true }) as string[][])[0] ?? [];
    } catch (error) {
      throw new DomainError('unprocessable', 'MALFORMED_HEADER', `The header row is not valid CSV: ${(error as Error).message}`);
    }
    try {
      createRowValidator(header, rules);
    } catch (error) {
      if (error instanceof CsvHeaderError) throw new DomainError('unprocessable', error.code, error.message, error.details);
      throw error;
    }
    if (zoneColumn !== undefined && !header.some((h) => h.trim() === zoneColumn)) {
      throw new DomainError(
        'unprocessable',
        'TIME_ZONE_COLUMN_MISSING',
        `The file has no column "${zoneColumn}" (schedule.recipient_time_zone_column).`,
        { column: zoneColumn },
      );
    }
  }

  /** `marks`: extra fields the record is created with (the reputation guard's override marker). */
  async function create(
    tenantId: string,
    body: CreateCampaign,
    idempotencyKey?: string,
    marks?: Record<string, unknown>,
  ): Promise<TransactionRecord> {
    const pinned = await checkInputs(tenantId, body);
    let transactionId = ulid();
    if (idempotencyKey !== undefined) {
      const hash = createHash('sha256').update(canonical(body)).digest('hex');
      const claim = await store.claimIdempotencyKey(tenantId, idempotencyKey, hash, transactionId);
      if (!claim.claimed) {
        if (claim.requestHash !== hash) {
          throw new DomainError('conflict', 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body.');
        }
        transactionId = claim.transactionId;
        const existing = await store.getTransaction(tenantId, transactionId);
        if (existing) {
          await discard(pinned.key);
          await startIfNeverStarted(existing);
          return existing;
        }
        // The first request died between claiming the key and recording the transaction.
      }
    }
    let txn: TransactionRecord;
    try {
      txn = await store.createTransaction({
        transaction_id: transactionId,
        tenant_id: tenantId,
        template_id: body.template_id,
        file_id: body.file_id,
        file_key: pinned.key,
        file_bytes: pinned.bytes,
        callback_url: body.callback_url,
        schedule: body.schedule,
        throttle: body.throttle,
        name: body.name,
        tags: body.tags,
        metadata: body.metadata,
        topic: body.topic,
        ...(body.priority ? { priority: body.priority } : {}),
        template_version: pinned.templateVersion,
        ...marks,
      });
    } catch (error) {
      // Two replays of the same key raced to create it: the other one won (with its own copy).
      const existing = await store.getTransaction(tenantId, transactionId);
      if (existing?.file_key !== pinned.key) await discard(pinned.key);
      if (!existing) throw error;
      txn = existing;
    }
    await startIfNeverStarted(txn);
    return txn;
  }

  /**
   * Past ACCEPT a transaction's workflow has run (and once closed, its history may be gone after
   * the namespace's retention, so the reuse policy alone would not stop a late replay).
   */
  async function startIfNeverStarted(txn: TransactionRecord): Promise<void> {
    if (txn.status === 'ACCEPT') await startWorkflow(txn);
  }

  return { create };
}
