// Records as stored in DynamoDB (snake_case, as the API shows them).
import type { MessageStatus } from '../../domain/message-status';
import type { TransactionStatus } from '../../domain/transaction-status';
import type { Throttle } from '../../contracts';
import type { Reconciliation } from '../../domain/reconciliation';

export type { Reconciliation };

export interface HistoryEntry<S extends string = string> {
  status: S;
  /** The SES event that caused the entry, when there was one. */
  event?: string;
  timestamp: string;
  metadata?: Record<string, unknown>;
}

export interface TenantRecord {
  tenant_id: string;
  name: string;
  webhook_secret: string;
  created_at: string;
}

export interface TemplateRecord {
  template_id: string;
  tenant_id: string;
  name: string;
  subject: string;
  from: string;
  reply_to?: string;
  text?: string;
  status: 'PENDING_UPLOAD' | 'READY';
  placeholders?: string[];
  s3_key: string;
  /** Set at confirm: the engine's own copy of the bytes it checked; sends read this, never `s3_key`. */
  pinned_key?: string;
  /** The pinned copy's length in bytes. */
  pinned_bytes?: number;
  created_at: string;
  updated_at: string;
}

export interface FileRecord {
  file_id: string;
  tenant_id: string;
  file_name: string;
  content_type: string;
  s3_key: string;
  created_at: string;
}

export const COUNT_NAMES = [
  'invalid',
  'suppressed',
  'sent',
  'delivered',
  'bounced',
  'complained',
  'opened',
  'clicked',
  'failed',
  'cancelled',
] as const;
export type CountName = (typeof COUNT_NAMES)[number];
export type Counts = Record<CountName, number>;

export interface TransactionRecord {
  transaction_id: string;
  tenant_id: string;
  status: TransactionStatus;
  template_id: string;
  file_id: string;
  /** Set at creation: the campaign's own copy of the recipient file, as checked; ingest reads this. */
  file_key?: string;
  /** The pinned copy's length in bytes. */
  file_bytes?: number;
  callback_url?: string;
  /** Set when the callback answered 410 Gone: no more webhooks go there. */
  callback_gone_at?: string;
  schedule?: { send_at: string };
  throttle?: Throttle;
  total_messages?: number;
  batch_count?: number;
  counts: Counts;
  /**
   * Messages SES events (Reject, Rendering Failure) moved to FAILED, counted in the same
   * transaction as their flag; part of `counts.failed` (see Store.reconcileCounts).
   */
  event_failed?: number;
  /** Set at COMPLETED: the recount of every message against the ingested recipients. */
  reconciliation?: Reconciliation;
  reason?: string;
  /** Set while a late scheduled send waits for an operator (late-send policy `hold`). */
  held_reason?: string | null;
  status_history: HistoryEntry<TransactionStatus>[];
  /** History entries not kept past the cap (the first ones and the latest are kept). */
  status_history_dropped?: number;
  created_at: string;
  updated_at: string;
}

/** What Store.reconcileCounts writes, from a recount. */
export interface ReconciledFigures {
  /** Messages sent, plus those an SES event then moved to FAILED. */
  sentOrRejected: number;
  /** Messages the send path failed (SES never had them). */
  failedBySend: number;
  suppressed: number;
  cancelled: number;
  /** Messages an SES event moved to FAILED, as the recount found them. */
  eventFailed: number;
  /** Counters moved only by events: raised to these figures, never lowered. */
  raise?: Partial<Record<CountName, number>>;
}

export interface BatchRecord {
  transaction_id: string;
  batch_id: string;
  batch_number: number;
  status: 'CREATED' | 'SENDING' | 'SENT' | 'COMPLETED';
  message_count: number;
  first_row: number;
  last_row: number;
  source: string;
}

export interface MessageRecord {
  message_id: string;
  batch_id: string;
  transaction_id: string;
  tenant_id: string;
  row: number;
  recipient_email: string;
  placeholder_data: Record<string, string>;
  status: MessageStatus;
  attempt_token?: string;
  ses_message_id?: string;
  sent_time?: string;
  failure_reason?: string;
  /** Why it failed, when the engine knows a code (e.g. ITEM_TOO_LARGE). */
  failure_code?: string;
  status_history: HistoryEntry<MessageStatus>[];
  /** History entries not kept past the cap (the first ones and the latest are kept). */
  status_history_dropped?: number;
  created_at: string;
  updated_at: string;
}

export interface RowErrorRecord {
  row: number;
  email: string;
  code: string;
  message: string;
}

export interface SuppressionRecord {
  tenant_id: string;
  email: string;
  reason: string;
  source?: Record<string, unknown>;
  created_at: string;
}

export const emptyCounts = (): Counts => Object.fromEntries(COUNT_NAMES.map((n) => [n, 0])) as Counts;
