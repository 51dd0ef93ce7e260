// Records as stored in DynamoDB (snake_case, as the API shows them).
import type { MessageStatus } from '../../domain/message-status';
import type { TransactionStatus } from '../../domain/transaction-status';
import type { Throttle } from '../../contracts';

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
  callback_url?: string;
  /** Set when the callback answered 410 Gone: no more webhooks go there. */
  callback_gone_at?: string;
  schedule?: { send_at: string };
  throttle?: Throttle;
  total_messages?: number;
  batch_count?: number;
  counts: Counts;
  reason?: string;
  /** Set while a late scheduled send waits for an operator (late-send policy `hold`). */
  held_reason?: string | null;
  status_history: HistoryEntry<TransactionStatus>[];
  created_at: string;
  updated_at: string;
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
  status_history: HistoryEntry<MessageStatus>[];
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
