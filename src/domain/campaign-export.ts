// A campaign's result export (issue 15, item 5): what each row says about one message, and what
// the API, the workflow and the activity agree on. Pure (the workflow imports it).
import { displayStatus } from './display-status';
import { ERASED_ADDRESS } from './erasure';
import type { MessageStatus } from './message-status';
import type { TransactionStatus } from './transaction-status';

/** The export's columns, in order: its header row. Times are ISO 8601 in UTC, empty when the event never came. */
export const EXPORT_COLUMNS = [
  'message_id',
  'row',
  'email',
  'status',
  'sent_time',
  'delivered_time',
  'bounced_time',
  'complained_time',
  'opened_time',
  'clicked_time',
  'bounce_type',
  'bounce_subtype',
  'failure_code',
  // Issue 17, item 2 (appended: a reader by position keeps its columns): a final soft bounce's
  // time, the soft-bounce retries made, and the first send's time when a retry sent it again.
  'soft_bounced_time',
  'soft_bounce_retries',
  'first_sent_time',
] as const;

/**
 * What an export reads of a message item (its projection): the send path's and the SES events'
 * fields as they are stored (effectOf's flags and fields, transitionMessage's failure code).
 */
export const EXPORTED_FIELDS = [
  'message_id',
  'row',
  'recipient_email',
  'status',
  'erased_at',
  'sent_time',
  'delivered_time',
  'bounced_time',
  'complained_time',
  'opened_time',
  'clicked_time',
  'rejected_time',
  'rendering_failed_time',
  'bounce_type',
  'bounce_subtype',
  'failure_code',
  'soft_bounced_time',
  'soft_bounce_retries',
  'first_sent_time',
  'status_history',
] as const;

export type ExportedMessage = { message_id: string; row: number; recipient_email: string; status: MessageStatus } & Partial<
  Record<
    Exclude<
      (typeof EXPORTED_FIELDS)[number],
      'message_id' | 'row' | 'recipient_email' | 'status' | 'status_history' | 'soft_bounce_retries'
    >,
    string
  >
> & { status_history?: { status: string; metadata?: Record<string, unknown> }[]; soft_bounce_retries?: number };

/**
 * Why a message failed, as a code: the one stored on it (ITEM_TOO_LARGE), else the one the send
 * path recorded in its FAILED history entry (SENDER_NOT_AUTHORISED, RENDER_TOO_LARGE, …), else
 * the SES event that failed it.
 */
export function failureCode(m: ExportedMessage): string | undefined {
  if (m.failure_code) return m.failure_code;
  const code = [...(m.status_history ?? [])].reverse().find((h) => h.status === 'FAILED')?.metadata?.code;
  if (typeof code === 'string') return code;
  if (m.rejected_time) return 'SES_REJECTED';
  if (m.rendering_failed_time) return 'SES_RENDERING_FAILURE';
  return undefined;
}

/** One message as its export row (EXPORT_COLUMNS); an erased recipient shows the erased marker, never an address. */
export function exportCells(m: ExportedMessage, campaignStatus: TransactionStatus): (string | number | undefined)[] {
  const erased = m.erased_at !== undefined || m.recipient_email === ERASED_ADDRESS;
  return [
    m.message_id,
    m.row,
    erased ? ERASED_ADDRESS : m.recipient_email,
    displayStatus(m.status, campaignStatus),
    m.sent_time,
    m.delivered_time,
    m.bounced_time,
    m.complained_time,
    m.opened_time,
    m.clicked_time,
    m.bounce_type,
    m.bounce_subtype,
    m.status === 'FAILED' ? failureCode(m) : m.failure_code,
    m.soft_bounced_time,
    m.soft_bounce_retries,
    m.first_sent_time,
  ];
}

/**
 * Campaigns whose messages are not all written yet: an export now would miss some, so it is
 * refused (409) until ingest ends.
 */
export const NOT_YET_INGESTED: readonly TransactionStatus[] = ['ACCEPT', 'PROCESSING'];

/** The longest an export may run; its slot is free again after it even if the run never said it ended. */
export const EXPORT_TIMEOUT_MS = 6 * 3600_000;

export const exportWorkflowId = (transactionId: string, exportId: string) => `export-${transactionId}-${exportId}`;

export interface ExportRef {
  tenantId: string;
  transactionId: string;
  exportId: string;
}

export interface ExportWorkflowInput extends ExportRef {
  version: number;
}

/** What the export activity hands back: rows (without the header) and bytes of the object. */
export interface ExportResult {
  rows: number;
  bytes: number;
}
