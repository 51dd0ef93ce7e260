// What the engine needs from its storage, one interface per concern. Activities, the SES event
// processor and the API name in their deps only the operations they use (a Pick of these);
// the DynamoDB adapters (src/adapters/dynamo) implement them.
import type { MessageStatus } from './domain/message-status';
import type { TransactionStatus } from './domain/transaction-status';
import type { MessageEffect } from './domain/ses-event';
import type { SoftBouncePolicy } from './domain/soft-bounce';
import type {
  ApiKeyRecord,
  AuditEntry,
  BatchRecord,
  CountName,
  ErasedRecipientRecord,
  FileRecord,
  IdentityRecord,
  MessageRecord,
  ReconciledFigures,
  RowErrorRecord,
  SuppressionRecord,
  TemplateRecord,
  TemplateVersionRecord,
  TenantRecord,
  TenantSettings,
  TopicRecord,
  TopicSuppressionRecord,
  TransactionRecord,
} from './adapters/dynamo/types';

/** Where a page of a listing resumes (the table's last evaluated key, passed back unchanged). */
export type Cursor = Record<string, unknown>;
export type Page<T> = { items: T[]; cursor?: Cursor };
/** A record as written to the table, under its keys. */
export type TableItem = { PK: string; SK: string } & Record<string, unknown>;
export type MessageLocation = { transactionId: string; batchId: string; messageId: string };

/** Tenants (seeded with a first API key), templates and recipient files; API keys are in ApiKeys. */
export interface Catalog {
  /** Seeds a tenant with one key (scopes `admin` unless `key` says otherwise). */
  putTenant(tenant: TenantRecord, apiKey: string, key?: { name: string; scopes: string[] }): Promise<void>;
  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
  putTemplate(template: TemplateRecord): Promise<void>;
  /** The tenant's template (another tenant's is not found). */
  getTemplate(tenantId: string, templateId: string): Promise<TemplateRecord | undefined>;
  /** `lists` are the required and optional column paths (absent: every placeholder required, as before they existed). */
  markTemplateReady(templateId: string, placeholders: string[], lists?: { required: string[]; optional: string[] }): Promise<void>;
  putFile(file: FileRecord): Promise<void>;
  getFile(tenantId: string, fileId: string): Promise<FileRecord | undefined>;
}

/**
 * A template's versions (issue 15, item 2): version 1 is the template record, later ones items
 * of their own; the tenant's list of templates; and the counter that limits test sends.
 */
export interface TemplateVersions {
  /** The tenant's version (another tenant's is not found); version 1 is the template record. */
  getTemplateVersion(tenantId: string, templateId: string, version: number): Promise<TemplateVersionRecord | undefined>;
  /** Up to `limit` versions in number order, without their text part; undefined when the tenant has no such template. */
  listTemplateVersions(tenantId: string, templateId: string, limit: number): Promise<TemplateVersionRecord[] | undefined>;
  /** Stores version n ≥ 2 unless that number is taken (false: read the latest again and take the next). */
  createTemplateVersion(record: TemplateVersionRecord): Promise<boolean>;
  /** Marks a PENDING_UPLOAD version READY with what confirm fixed; false when it is not pending (or not the tenant's). */
  confirmTemplateVersion(
    tenantId: string,
    templateId: string,
    version: number,
    fields: Pick<TemplateVersionRecord, 'placeholders' | 'required_placeholders' | 'optional_placeholders' | 'pinned_key' | 'pinned_bytes'>,
  ): Promise<boolean>;
  /** The tenant's templates, newest first (those stored since templates are listed). */
  listTemplates(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<TemplateRecord>>;
  /** Counts `count` test messages in the tenant's current hour, unless that would pass `limit` (false: nothing counted). */
  reserveTestSends(tenantId: string, count: number, limit: number, at?: Date): Promise<boolean>;
}

/** A key about to be stored: the SHA-256 of its secret and its record. */
export type NewApiKey = { hash: string; record: ApiKeyRecord & { key_id: string; scopes: string[] } };

/**
 * A tenant's API keys, found by the SHA-256 of their secret, and the tenant settings that
 * authentication reads. Keys are never deleted: revoked ones stay listed.
 */
export interface ApiKeys {
  /** The key whose secret hashes to `hash`, whatever its state (revoked and expired ones too). */
  findApiKey(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Gives a key stored before keys had ids an id and a place in its tenant's list; returns it as stored. */
  adoptApiKey(hash: string, prefix: string): Promise<ApiKeyRecord | undefined>;
  /**
   * Stores a new key; with a `limit`, only while the tenant holds fewer live keys (neither
   * revoked nor expired) than that, checked race-safely (`limit_reached` otherwise).
   */
  createApiKey(key: NewApiKey, limit?: number): Promise<'created' | 'limit_reached'>;
  /** The tenant's key (another tenant's is not found). */
  getApiKey(tenantId: string, keyId: string): Promise<ApiKeyRecord | undefined>;
  /** The tenant's keys, oldest first; `limit` at most 100. */
  listApiKeys(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<ApiKeyRecord>>;
  /**
   * Revokes the key, unless it is the tenant's last admin key that is neither revoked nor set
   * to expire (`last_admin`): checked and written in one transaction, so two revocations at
   * once cannot both pass.
   */
  revokeApiKey(tenantId: string, keyId: string, at: string): Promise<'revoked' | 'not_found' | 'already_revoked' | 'last_admin'>;
  /**
   * Stores `successor` and makes the key expire at `expiresAt` (or earlier, if it already would), in one transaction.
   * The successor keeps the key's own expiry, if it has one. With a `limit`, only while the tenant's other live keys are fewer.
   */
  rotateApiKey(
    tenantId: string,
    keyId: string,
    successor: NewApiKey,
    expiresAt: string,
    limit?: number,
  ): Promise<'rotated' | 'not_found' | 'revoked' | 'limit_reached'>;
  /** Sets last_used_at unless it is already later than `unlessAfter`. */
  touchApiKey(hash: string, at: string, unlessAfter: string): Promise<void>;
  getTenantSettings(tenantId: string): Promise<TenantSettings>;
  putTenantSettings(settings: TenantSettings): Promise<void>;
}

/** A tenant's audit log: entries are appended, never updated or deleted (no such operation exists). */
export interface AuditLog {
  /** Writes the entry under a key no other entry has (a condition that it does not exist). */
  appendAuditEntry(entry: AuditEntry): Promise<void>;
  /** Newest first; `from` inclusive, `to` exclusive. */
  listAuditEntries(
    tenantId: string,
    query: { from?: string; to?: string; action?: string; limit: number; cursor?: Cursor },
  ): Promise<Page<AuditEntry>>;
}

/** Where a listing of the tenant index resumes: the table's and the index's keys of the last item (issue 15, item 1). */
export type IndexKey = { PK: string; SK: string; GSI2PK: string; GSI2SK: string };

/** One request for a tenant's campaigns: the creation window (ISO times, `to` exclusive), filters, and what it may read. */
export interface CampaignListing {
  from?: string;
  to?: string;
  status?: TransactionStatus;
  tag?: string;
  /** Part of the name, matched case-insensitively. */
  q?: string;
  limit: number;
  cursor?: IndexKey;
  /** At most this many queries and items read: past it the page ends, perhaps short, with a cursor. */
  budget: { queries: number; items: number };
}

/** A tenant's campaigns, newest first. */
export interface CampaignIndex {
  listCampaigns(tenantId: string, query: CampaignListing): Promise<Page<TransactionRecord> & { cursor?: IndexKey }>;
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
  /** Attributes the message must still hold (as read): a soft-bounce retry takes only the round it read. */
  expect?: Record<string, unknown>;
  /** Attributes removed in the same write (a retry's: the attempt before it's flags). */
  remove?: readonly string[];
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
  /**
   * One page of a batch's messages in row order, optionally only those in `statuses`; a filtered
   * page reads up to `scan` items (or `limit`) to find its matches. With `until` (a sort key), none
   * past it: the page that reaches it has no cursor.
   */
  pageMessages(
    transactionId: string,
    batchId: string,
    limit: number,
    cursor?: Cursor,
    statuses?: readonly MessageStatus[],
    opts?: { scan?: number; until?: string },
  ): Promise<Page<MessageRecord>>;
  /**
   * The sort keys that end each run of `size` messages of the batch, in row order (the last may
   * end a shorter run): chunks of it that parallel send lanes can take apart.
   */
  chunkBounds(transactionId: string, batchId: string, size: number): Promise<{ pk: string; bounds: string[] }>;
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
    ref: MessageLocation & { sesMessageId: string; sendRound?: number },
    effect: MessageEffect,
    opts?: { softBounce?: SoftBouncePolicy },
  ): Promise<{
    found: boolean;
    applied: boolean;
    before?: MessageRecord;
    /** The effect as applied (a soft bounce the policy retries: SOFT_BOUNCED, no outcome). */
    effect?: MessageEffect;
    /** The event is of an attempt a soft-bounce retry superseded: nothing changed. */
    superseded?: boolean;
  }>;
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
  /** Adds `n` (1 unless given) to the batch's outcome count; answers the count and what the batch awaits. */
  addBatchOutcome(transactionId: string, batchId: string, n?: number): Promise<{ outcomes: number; awaiting?: number }>;
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
  /**
   * Adds an address unless it is already suppressed (the first reason is kept). With `guard`
   * (an SES event applied again), also not when the tenant deleted the address's suppression
   * after the event's time, or deleted the very suppression this event (record.source's
   * message_id and event) had made: a redelivered event must not undo the tenant's deletion.
   */
  addSuppression(record: SuppressionRecord, guard?: { unlessDeletedAfter: string }): Promise<boolean>;
  getSuppression(tenantId: string, email: string): Promise<SuppressionRecord | undefined>;
  /** Deletes the suppression and leaves a tombstone (when, and what made it) for addSuppression's guard. */
  deleteSuppression(tenantId: string, email: string): Promise<boolean>;
  listSuppressions(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<SuppressionRecord>>;
}

/**
 * How a claim on a sender identity ended: the tenant's now (or already); another tenant holds
 * its registrable domain; or the tenant is at its cap of unverified identities or of identities.
 */
export type IdentityClaim =
  | { outcome: 'created' | 'existing'; record: IdentityRecord }
  | { outcome: 'taken' }
  | { outcome: 'limit'; limit: 'pending' | 'total'; max: number };

/** How many identities a tenant may hold: unverified ones, and in all. */
export interface IdentityLimits {
  maxPending: number;
  maxTotal: number;
}

/** A registrable domain's claim as read: its tenant, that tenant's identities under it, and its version. */
export interface HeldClaim {
  root: string;
  tenantId: string;
  /** Moved by every claim and release under the domain: a release of the claim as read requires it unchanged. */
  version?: number;
  identities: IdentityRecord[];
}

/**
 * Tenants' sender identities. Each registrable domain is held by at most one tenant, with all
 * its identities under it (the domain, its subdomains, addresses at them): a claim is a
 * conditional write on the domain's claim item, in the same transaction as the tenant's identity
 * item and its counts (the caps), so two tenants claiming at once cannot both win, nor two claims
 * of one tenant pass its cap.
 */
export interface Identities {
  /** Claims within `limits` (none: seeding). A new identity counts as pending until it is updated as verified. */
  claimIdentity(record: IdentityRecord, limits?: IdentityLimits): Promise<IdentityClaim>;
  /** The tenant's identity (another tenant's is not found). */
  getIdentity(tenantId: string, identity: string): Promise<IdentityRecord | undefined>;
  /**
   * Sets fields of the tenant's identity (`null` removes one); undefined when the tenant has no
   * such identity. A change of `verified_for_sending` moves the tenant's count of pending ones.
   */
  updateIdentity(
    tenantId: string,
    identity: string,
    fields: { [K in Exclude<keyof IdentityRecord, 'tenant_id' | 'identity' | 'type' | 'created_at'>]?: IdentityRecord[K] | null },
  ): Promise<IdentityRecord | undefined>;
  /** Removes the tenant's identity and its part of the domain's claim; false when the tenant has no such identity. */
  releaseIdentity(tenantId: string, identity: string): Promise<boolean>;
  listIdentities(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<IdentityRecord>>;
  /** Which of `identities` the tenant holds, and the tenant's SES configuration set: one read, whatever the count. */
  senderIdentities(tenantId: string, identities: string[]): Promise<{ identities: IdentityRecord[]; configurationSet?: string }>;
  /** The claim on a registrable domain, when a tenant holds one. */
  heldClaim(root: string): Promise<HeldClaim | undefined>;
  /**
   * Removes the claim with its identities and their counts, if it is as read and none of them has
   * been recorded verified since; false otherwise (nothing removed).
   */
  releaseHeldClaim(claim: HeldClaim): Promise<boolean>;
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

/**
 * Recipients erased for a tenant (retention and erasure): suppressed by the SHA-256 of their
 * address alone, checked with the address suppressions in the same BatchGetItem requests.
 */
export interface ErasedRecipients {
  /** Idempotent: a repeated erasure keeps the first entry's time. */
  suppressErasedRecipient(record: ErasedRecipientRecord): Promise<void>;
  getErasedRecipient(tenantId: string, emailHash: string): Promise<ErasedRecipientRecord | undefined>;
  /**
   * Which of `emails` (normalised) the tenant suppressed, by address or as an erased recipient;
   * with `topic` (a campaign's), also those suppressed for that topic (issue 15, item 7).
   */
  suppressedOrErasedAmong(tenantId: string, emails: string[], topic?: string): Promise<Set<string>>;
}

/** What putTopic did: made the topic, changed it, or refused it at the tenant's cap. */
export type TopicWrite = { outcome: 'created' | 'updated'; record: TopicRecord } | { outcome: 'limit'; max: number };

/**
 * A tenant's topics and its addresses' topic suppressions (issue 15, item 7). A topic
 * suppression holds back only campaigns of that topic; the global list is Suppressions.
 */
export interface Topics {
  /** Creates the topic (within `max` per tenant) or updates its display name and description. */
  putTopic(tenantId: string, name: string, fields: { display_name: string; description?: string }, max: number): Promise<TopicWrite>;
  getTopic(tenantId: string, name: string): Promise<TopicRecord | undefined>;
  listTopics(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<TopicRecord>>;
  /** Adds the topic suppression unless there is one (the first is kept); false when there was. */
  addTopicSuppression(record: TopicSuppressionRecord): Promise<boolean>;
  getTopicSuppression(tenantId: string, topic: string, email: string): Promise<TopicSuppressionRecord | undefined>;
  /**
   * Removes it; with `madeBefore` (an opt-in's time), only one made before then, so an opt-in
   * delivered late does not undo a later opt-out. False when nothing was removed.
   */
  deleteTopicSuppression(tenantId: string, topic: string, email: string, madeBefore?: string): Promise<boolean>;
  /** The tenant's topic suppressions by address, optionally of one topic only (a page may come back short: follow the cursor). */
  listTopicSuppressions(tenantId: string, limit: number, cursor?: Cursor, topic?: string): Promise<Page<TopicSuppressionRecord>>;
  /** Every topic suppression of one address (subject access): one per topic it left. */
  topicSuppressionsOf(tenantId: string, email: string): Promise<TopicSuppressionRecord[]>;
  /** Every topic suppression of one address goes (an erasure); how many there were. */
  deleteTopicSuppressionsOf(tenantId: string, email: string): Promise<number>;
}
