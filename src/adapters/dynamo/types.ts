// Records as stored in DynamoDB (snake_case, as the API shows them).
import type { MessageStatus } from '../../domain/message-status';
import type { TransactionStatus } from '../../domain/transaction-status';
import type { Throttle } from '../../contracts';
import type { Reconciliation } from '../../domain/reconciliation';
import type { ErasureStatus, ErasureStores } from '../../domain/erasure';

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
  /** The SES configuration set this tenant's mail is sent with, instead of SES_CONFIGURATION_SET (an operator setting). */
  ses_configuration_set?: string;
  created_at: string;
}

/** An API key, stored under the SHA-256 of its secret (the secret itself is never stored). */
export interface ApiKeyRecord {
  tenant_id: string;
  /** Absent on keys stored before keys had ids; given one the first time such a key is used. */
  key_id?: string;
  name?: string;
  /** Absent on keys stored before keys carried scopes: those keep `admin`. */
  scopes?: string[];
  /** The secret's first characters, to tell keys apart in a listing. */
  prefix?: string;
  created_at: string;
  /** Written at most once a minute per key. */
  last_used_at?: string;
  revoked_at?: string;
  /** Set when the key was created to expire, or rotated (the end of the overlap). */
  expires_at?: string;
  /** The key this one replaced (POST /api-keys/{id}/rotate). */
  rotated_from?: string;
}

/** A tenant's settings, an item of their own beside the tenant record (seeding rewrites that one). */
export interface TenantSettings {
  tenant_id: string;
  /** Every /api/v1 request must carry a valid bearer token besides the key. */
  require_token: boolean;
  updated_at?: string;
}

/** One entry of a tenant's audit log: written once, never updated or deleted. */
export interface AuditEntry {
  audit_id: string;
  tenant_id: string;
  at: string;
  /** Who: an API key's id, a token's subject, or for actions outside a request the operator or the engine. */
  principal: { type: 'api_key' | 'jwt' | 'operator' | 'system'; id: string };
  /** The key a request authenticated with (also when a token's subject is the principal). */
  key_id?: string;
  /** What, from the route pattern and the method (`campaigns.pause`); never an id. */
  action: string;
  /** The id the action was on (from the path) or created (from the response); addresses as their SHA-256. */
  target?: string;
  request_id: string;
  /** The HTTP status answered (for an action outside a request: the status it would have had). */
  outcome: number;
  method?: string;
  /** The route pattern, e.g. /api/v1/campaigns/:id/pause (null when no route matched). */
  route?: string | null;
  source_ip?: string;
  /** The client went away before the response was complete. */
  aborted?: boolean;
  details?: Record<string, unknown>;
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
  /**
   * Set at confirm (issue 15): column paths every row must fill, and ones the template can do
   * without. A template confirmed before has neither, and all its placeholders stay required.
   */
  required_placeholders?: string[];
  optional_placeholders?: string[];
  s3_key: string;
  /** Set at confirm: the engine's own copy of the bytes it checked; sends read this, never `s3_key`. */
  pinned_key?: string;
  /** The pinned copy's length in bytes. */
  pinned_bytes?: number;
  created_at: string;
  updated_at: string;
}

/**
 * Version n ≥ 2 of a template (issue 15, item 2), an item of its own beside the template record,
 * which is version 1. Written once with its number (a conditional put), confirmed once, then never
 * changed. No name: that stays the template's.
 */
export interface TemplateVersionRecord extends Omit<TemplateRecord, 'name'> {
  version: number;
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
  // Issue 17, item 2: messages whose final outcome was a soft bounce (`bounced` is hard bounces).
  'soft_bounced',
] as const;
export type CountName = (typeof COUNT_NAMES)[number];
export type Counts = Record<CountName, number>;

export interface CampaignSchedule {
  send_at?: string;
  time_zone?: string;
  window?: { start: string; end: string; days?: string[] };
  /** Issue 17, item 4: each recipient mailed at send_at's wall-clock time (in time_zone, else UTC) in the zone this column gives. */
  recipient_time_zone_column?: string;
}

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
  /** send_at, and (issue 17, item 4) a daily window in a time zone, as the API took them. */
  schedule?: CampaignSchedule;
  throttle?: Throttle;
  /** Issue 15, item 1: the tenant's labels, given at creation and never changed (src/domain/campaign-labels.ts). */
  name?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
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
  /** Issue 15, item 2: the template version the campaign sends, pinned at creation (absent: version 1, the template record). */
  template_version?: number;
  /** Issue 15, item 7: the tenant's topic the campaign belongs to (its recipients' topic suppressions apply). */
  topic?: string;
  /** Issue 17, item 3: its queue priority (absent: normal). */
  priority?: 'high' | 'normal' | 'low';
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
  /** Issue 17, item 4: with recipients' local time, when this batch's recipients are mailed. */
  send_at?: string;
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
  /** Retention: when DynamoDB's TTL may delete the item (epoch seconds), written at ingest. */
  expires_at?: number;
  /** Set when the recipient was erased: the address is ERASED_ADDRESS and the row data gone. */
  erased_at?: string;
  /** Soft-bounce retries (issue 17, item 2): how many were made, when the next is due (SOFT_BOUNCED only). */
  soft_bounce_retries?: number;
  retry_at?: string;
  /** From its bounce event: Permanent is hard, Transient and Undetermined soft. */
  bounce_class?: 'hard' | 'soft';
  /** The first attempt's send time: the retries' final-state deadline runs from it. */
  first_sent_time?: string;
  /** SES ids of attempts a retry superseded: their late events change nothing. */
  previous_ses_message_ids?: string[];
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

/** A suppression written by an import (issue 15, item 6): its source names the import and the file's line. */
export interface ImportedSuppression extends SuppressionRecord {
  source: { type: 'import'; import_id: string; line: number; note?: string };
}

/** A tenant's topic (issue 15, item 7): a list its campaigns may name. */
export interface TopicRecord {
  tenant_id: string;
  name: string;
  display_name: string;
  description?: string;
  created_at: string;
  updated_at: string;
}

/** An address suppressed for one topic only: only campaigns with that topic leave it out. */
export interface TopicSuppressionRecord extends SuppressionRecord {
  topic: string;
}

/**
 * A sender identity (a domain or an address) of a tenant, as the identity API and the send path
 * read it. Its domain's claim item says which one tenant holds it (IdentityTable).
 */
export interface IdentityRecord {
  tenant_id: string;
  /** The domain or address, lowercased. */
  identity: string;
  type: 'DOMAIN' | 'EMAIL_ADDRESS';
  /** Whether SES lets mail be sent from it, as last read from SES (the send path asks SES again). */
  verified_for_sending: boolean;
  /** SES's VerificationStatus (PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE, NOT_STARTED), or NOT_FOUND. */
  verification_status: string;
  dkim_status?: string;
  /** SES's Easy DKIM tokens: the CNAMEs to publish. */
  dkim_tokens: string[];
  /** Where the DKIM CNAMEs point (SES's SigningHostedZone, e.g. dkim.amazonses.com). */
  dkim_signing_zone?: string;
  /** The custom MAIL FROM domain SES has for it, when one is set. */
  mail_from_domain?: string;
  /** Mail from this identity goes out with this configuration set (before the tenant's and SES_CONFIGURATION_SET). */
  configuration_set?: string;
  created_at: string;
  updated_at: string;
}

// ---- retention and erasure (issue 14, item 11) ----

/** A tenant's own retention (days; fractions allowed), beside its tenant record. */
export interface TenantRetentionRecord {
  tenant_id: string;
  retention_days?: number;
  upload_retention_days?: number;
  updated_at: string;
}

/** The suppression an erasure leaves: the SHA-256 of the address, nothing else about the person. */
export interface ErasedRecipientRecord {
  tenant_id: string;
  recipient_hash: string;
  reason: 'ERASED';
  erasure_id: string;
  created_at: string;
}

/** An erasure request and what it erased where (GET /recipients/erasures/{id}). */
export interface ErasureRecord {
  erasure_id: string;
  tenant_id: string;
  recipient_hash: string;
  status: ErasureStatus;
  requested_at: string;
  updated_at: string;
  completed_at?: string;
  /** Requests for this person since the first (repeats of a running erasure attach to it). */
  requests: number;
  /** Runs of the erasure: a request after one ended starts another (the person may have been added again). */
  run: number;
  stores: ErasureStores;
}

// ---- result exports (issue 15, item 5) ----

export type ExportState = 'RUNNING' | 'COMPLETED' | 'FAILED';

/** One export of a campaign's messages to a CSV object (POST /campaigns/{id}/exports). */
export interface ExportRecord {
  export_id: string;
  tenant_id: string;
  transaction_id: string;
  state: ExportState;
  /** Which of the campaign's export slots it holds while RUNNING (the cap on exports at once). */
  slot: number;
  /** Rows written so far (while RUNNING, as of the last part uploaded), then in all. */
  rows_written: number;
  bytes_written?: number;
  s3_key: string;
  created_at: string;
  updated_at: string;
  completed_at?: string;
  /** Why a FAILED export failed. */
  error?: { code: string; message: string };
}

export const emptyCounts = (): Counts => Object.fromEntries(COUNT_NAMES.map((n) => [n, 0])) as Counts;
