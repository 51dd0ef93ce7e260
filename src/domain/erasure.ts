// Erasure of one recipient's personal data for one tenant (GDPR art. 17, CCPA deletion) and the
// retention sweep: what the API, the workflows and the activities agree on. Pure (workflows
// import it): the hashing lives in recipient-hash.ts.

/** What an erased address becomes wherever a record must keep an address field (a reserved domain, RFC 2606). */
export const ERASED_ADDRESS = 'erased@erased.invalid';

export const ERASURE_STATUSES = ['PENDING', 'WAITING_FOR_INGEST', 'RUNNING', 'COMPLETED'] as const;
export type ErasureStatus = (typeof ERASURE_STATUSES)[number];

/** One erasure: the tenant, its id and the SHA-256 of the address (the address itself never reaches Temporal). */
export interface ErasureRef {
  tenantId: string;
  erasureId: string;
  recipientHash: string;
}

export interface ErasureWorkflowInput extends ErasureRef {
  version: number;
  requestedAt: string;
  /** Between two looks at what the erasure waits for (an ingest, a file in use, a message in flight). */
  pollMs: number;
  /** Before the second pass over analytics: documents the API still held in memory have reached OpenSearch. */
  settleMs: number;
  /**
   * The longest the erasure waits for campaigns (an ingest, a file it reads, a message being
   * sent); after it, what is left is erased anyway: a campaign that slow is stuck.
   */
  maxWaitMs: number;
}

/** A step's input: past the erasure's longest wait, `force` erases what it would otherwise leave for later. */
export interface ErasureStep extends ErasureRef {
  force?: boolean;
}

/** What was erased where, as the erasure record shows it. */
export interface ErasureStores {
  /** Done by the API before the workflow starts (so the address never enters a workflow history). */
  suppression?: { hash_entry: boolean; address_entry_removed: boolean };
  analytics?: { event_documents_deleted: number; message_documents_anonymised: number } | { skipped: string };
  files?: { checked: number; rewritten: number; deleted: number; rows_removed: number };
  messages?: { erased: number; suppressed_before_send: number };
  rejected_rows?: { erased: number };
}

export type AnalyticsErasure = { event_documents_deleted: number; message_documents_anonymised: number } | { skipped: string };

export interface FilesErasure {
  checked: number;
  rewritten: number;
  deleted: number;
  rows_removed: number;
  /** Files a campaign still ingesting reads: left for a later pass. */
  deferred: number;
}

export interface ItemsErasure {
  messages_erased: number;
  messages_suppressed_before_send: number;
  rejected_rows_erased: number;
  /** Messages an attempt is handing to SES right now: left for a later pass. */
  in_flight: number;
}

export interface RetentionWorkflowInput {
  version: number;
}

export interface RetentionSweepResult {
  /** Tenants whose analytics were swept. */
  tenants: number;
  files_deleted: number;
  files_kept_in_use: number;
  event_documents_deleted: number;
  message_documents_deleted: number;
}

/** Repeated requests for the same person attach to the running erasure; one after it ended starts the next run. */
export const erasureWorkflowId = (tenantId: string, erasureId: string, run: number) => `erasure-${tenantId}-${erasureId}-${run}`;
/** One schedule per task queue (the workers of one queue share it). */
export const retentionScheduleId = (taskQueue: string) => `retention-sweep-${taskQueue}`;
export const retentionWorkflowId = (taskQueue: string) => `retention-sweep-${taskQueue}`;
