// What the engine needs from its storage, one interface per concern. Activities, the SES event
// processor and the API name in their deps only the operations they use (a Pick of these);
// the DynamoDB adapters (src/adapters/dynamo) implement them.
import type { MessageStatus } from './domain/message-status';
import type { TransactionStatus } from './domain/transaction-status';
import type { MessageEffect } from './domain/ses-event';
import type {
  BatchRecord,
  CountName,
  FileRecord,
  MessageRecord,
  ReconciledFigures,
  RowErrorRecord,
  SuppressionRecord,
  TemplateRecord,
  TenantRecord,
  TransactionRecord,
} from './adapters/dynamo/types';

/** Where a page of a listing resumes (the table's last evaluated key, passed back unchanged). */
export type Cursor = Record<string, unknown>;
export type Page<T> = { items: T[]; cursor?: Cursor };
/** A record as written to the table, under its keys. */
export type TableItem = { PK: string; SK: string } & Record<string, unknown>;
export type MessageLocation = { transactionId: string; batchId: string; messageId: string };

/** Tenants and their API keys, templates and recipient files. */
export interface Catalog {
  putTenant(tenant: TenantRecord, apiKey: string): Promise<void>;
  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
  tenantForApiKey(apiKey: string): Promise<string | undefined>;
  putTemplate(template: TemplateRecord): Promise<void>;
  /** The tenant's template (another tenant's is not found). */
  getTemplate(tenantId: string, templateId: string): Promise<TemplateRecord | undefined>;
  markTemplateReady(templateId: string, placeholders: string[]): Promise<void>;
  putFile(file: FileRecord): Promise<void>;
  getFile(tenantId: string, fileId: string): Promise<FileRecord | undefined>;
}

/** Transactions, their counters and the Idempotency-Keys that create them. */
export interface Transactions {
  /** Claims an Idempotency-Key; returns the earlier claim when the key was used before. */
  claimIdempotencyKey(
    tenantId: string,
    key: string,
    requestHash: string,
    transactionId: string,
  ): Promise<{ claimed: true } | { claimed: false; requestHash: string; transactionId: string }>;
  createTransaction(
    fields: Omit<TransactionRecord, 'status' | 'counts' | 'status_history' | 'created_at' | 'updated_at'>,
  ): Promise<TransactionRecord>;
  /** The transaction, if `tenantId` (when given) owns it. */
  getTransaction(tenantId: string | undefined, transactionId: string): Promise<TransactionRecord | undefined>;
  /**
   * Records a status change with its history entry in one conditional write. Idempotent:
   * a retried activity that finds the status already set changes nothing and returns false.
   */
  setTransactionStatus(
    transactionId: string,
    status: TransactionStatus,
    extra?: { reason?: string; metadata?: Record<string, unknown>; at?: string },
  ): Promise<boolean>;
  setTransactionFields(transactionId: string, fields: Record<string, unknown>): Promise<void>;
  /**
   * Changes the transaction's counters: `add` adds to them atomically, `set` overwrites them,
   * `raise` moves each up to its figure and never down.
   */
  updateCounts(transactionId: string, counts: Partial<Record<CountName, number>>, mode?: 'add' | 'set' | 'raise'): Promise<void>;
  /**
   * Makes the counters exact from a recount so that no event counted between the recount and
   * this write is lost (see Store.reconcileCounts); returns the transaction as written.
   */
  reconcileCounts(transactionId: string, figures: ReconciledFigures): Promise<TransactionRecord | undefined>;
}

export interface TransitionOptions {
  from: readonly MessageStatus[];
  /** Also take a message SENDING since before this time (its attempt is presumed dead). */
  orStaleSending?: string;
  token?: string;
  /** Attributes set in the same write. */
  set?: Record<string, unknown>;
  /** Recorded in the history entry. */
  metadata?: Record<string, unknown>;
  at?: string;
}

/** The messages of a transaction's batches, one per valid recipient row. */
export interface Messages {
  messageItem(message: MessageRecord): TableItem;
  /** One page of a batch's messages in row order, optionally only those in `statuses`. */
  pageMessages(
    transactionId: string,
    batchId: string,
    limit: number,
    cursor?: Cursor,
    statuses?: readonly MessageStatus[],
  ): Promise<Page<MessageRecord>>;
  getMessage(transactionId: string, batchId: string, messageId: string): Promise<MessageRecord | undefined>;
  /**
   * Conditional status transition with its history entry in the same write. `from` lists
   * the statuses the message may be in; `token` guards the SENDING → SENT step.
   */
  transitionMessage(
    message: Pick<MessageRecord, 'transaction_id' | 'batch_id' | 'message_id'>,
    to: MessageStatus,
    opts: TransitionOptions,
  ): Promise<boolean>;
  /**
   * Applies an SES event to a message once: the event's flag attribute makes repeats no-ops,
   * and the status only moves forward (a Delivery after an Open records its time, not its status).
   * The effect's transaction counter (a failure: only when it moves the message to FAILED) is
   * added in the same transaction as the flag: counted once, whatever crashes or repeats.
   */
  applyEffect(
    ref: MessageLocation & { sesMessageId: string },
    effect: MessageEffect,
  ): Promise<{ found: boolean; applied: boolean; before?: MessageRecord }>;
  findBySesMessageId(sesMessageId: string): Promise<MessageLocation | undefined>;
}

/** A transaction's batches of messages. */
export interface Batches {
  batchItem(batch: BatchRecord): TableItem;
  listBatches(transactionId: string): Promise<BatchRecord[]>;
  /**
   * Counts one more message of the batch whose delivery outcome is known (called once per
   * message, on its first outcome event). Returns the new count and how many sent messages the
   * batch awaits outcomes for (known once sending is over).
   */
  addBatchOutcome(transactionId: string, batchId: string): Promise<{ outcomes: number; awaiting?: number }>;
  /** Sets fields of a batch; returns the batch as stored afterwards. */
  setBatchFields(transactionId: string, batchId: string, fields: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** The CSV rows a transaction rejected, in row order. */
export interface RowErrors {
  rowErrorItem(transactionId: string, error: RowErrorRecord): TableItem;
  listRowErrors(transactionId: string, limit: number, cursor?: Cursor): Promise<Page<RowErrorRecord>>;
}

/** A tenant's suppressed addresses. */
export interface Suppressions {
  /** Which of `emails` the tenant suppressed. */
  suppressedAmong(tenantId: string, emails: string[]): Promise<Set<string>>;
  putSuppression(record: SuppressionRecord): Promise<void>;
  /** Adds an address unless it is already suppressed (the first reason is kept). */
  addSuppression(record: SuppressionRecord): Promise<boolean>;
  getSuppression(tenantId: string, email: string): Promise<SuppressionRecord | undefined>;
  deleteSuppression(tenantId: string, email: string): Promise<boolean>;
  listSuppressions(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<SuppressionRecord>>;
}

/** An item DynamoDB refused as invalid (ValidationException): writing it again can never succeed. */
export interface RejectedItem {
  item: TableItem;
  code: 'ITEM_TOO_LARGE' | 'ITEM_INVALID';
  reason: string;
}

/**
 * A long-lived pool of batch writes, `concurrency` requests in flight across everything handed
 * to it. `write` resolves once those items are stored; the pool keeps working on later ones
 * meanwhile. After the first failure it takes on nothing more (queued writes fail at once) and
 * `idle()` says when the requests still in flight have ended: a failed attempt leaves no stray
 * write behind it. A request DynamoDB refuses as invalid is not a failure: its items are written
 * one by one and those refused come back from `write`, the others stored.
 */
export interface BatchWriter {
  /** Resolves once the items are stored, with those DynamoDB refused as invalid (usually none); the others are written. */
  write(items: TableItem[]): Promise<RejectedItem[]>;
  /** Stops taking on queued writes (as after a failure). */
  abort(reason?: unknown): void;
  /** Resolves once no request is in flight. */
  idle(): Promise<void>;
}

/** Writes many items at once, whatever their kind. */
export interface ItemWriter {
  /** Writes all items, `concurrency` requests in flight; returns those DynamoDB refused as invalid. */
  writeAll(items: TableItem[], concurrency?: number): Promise<RejectedItem[]>;
  batchWriter(concurrency?: number): BatchWriter;
}
