// What workflows, workers and the API agree on: ids, task queues, signals, queries and the
// shapes that cross the Temporal boundary. Pure definitions, safe to import from workflows.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { TransactionStatus } from '../domain/transaction-status';

export const WORKFLOW_INPUT_VERSION = 1;

export const transactionWorkflowId = (transactionId: string) => `txn-${transactionId}`;
export const batchWorkflowId = (transactionId: string, batchNumber: number) =>
  `txn-${transactionId}/batch-${batchNumber}`;
export const batchId = (batchNumber: number) => `b${String(batchNumber).padStart(5, '0')}`;

export interface Throttle {
  emails_per_minute?: number;
  emails_per_hour?: number;
}

export interface TransactionOptions {
  batchSize: number;
  maxConcurrentBatches: number;
  sendChunkSize: number;
  sendTaskQueue: string;
}

/** Carried across continue-as-new so the new run resumes the fan-out where the old one stopped. */
export interface FanOutState {
  nextBatch: number;
  batchCount: number;
  totals: BatchResult;
}

export interface TransactionWorkflowInput {
  version: number;
  transactionId: string;
  tenantId: string;
  templateId: string;
  fileId: string;
  sendAt?: string;
  throttle?: Throttle;
  options: TransactionOptions;
  fanOut?: FanOutState;
}

export interface BatchWorkflowInput {
  version: number;
  transactionId: string;
  tenantId: string;
  templateId: string;
  batchNumber: number;
  batchId: string;
  sendChunkSize: number;
  sendTaskQueue: string;
  /** Minimum time between two send chunks of this batch, from the campaign's throttle. */
  chunkIntervalMs: number;
}

export interface BatchResult {
  sent: number;
  failed: number;
  suppressed: number;
  skipped: number;
}

export interface TransactionResult {
  transactionId: string;
  status: TransactionStatus;
  reason?: string;
  totals?: BatchResult;
}

export interface TransactionProgress {
  status: TransactionStatus;
  batchCount: number;
  batchesDone: number;
  batchesOpen: number;
  totals: BatchResult;
}

export const cancelSignal = defineSignal<[{ reason?: string }?]>('cancel');
export const progressQuery = defineQuery<TransactionProgress>('progress');

export const SEARCH_ATTRIBUTES = {
  transactionId: 'TransactionId',
  tenantId: 'TenantId',
  transactionStatus: 'TransactionStatus',
} as const;

export const searchAttributeKeys = {
  transactionId: defineSearchAttributeKey(SEARCH_ATTRIBUTES.transactionId, SearchAttributeType.KEYWORD),
  tenantId: defineSearchAttributeKey(SEARCH_ATTRIBUTES.tenantId, SearchAttributeType.KEYWORD),
  transactionStatus: defineSearchAttributeKey(SEARCH_ATTRIBUTES.transactionStatus, SearchAttributeType.KEYWORD),
};

/** Time between two send chunks of one batch so that the campaign as a whole keeps its throttle. */
export function chunkIntervalMs(throttle: Throttle | undefined, chunkSize: number, parallelBatches: number): number {
  const perMinute = Math.min(
    throttle?.emails_per_minute ?? Infinity,
    throttle?.emails_per_hour !== undefined ? throttle.emails_per_hour / 60 : Infinity,
  );
  if (!Number.isFinite(perMinute) || perMinute <= 0) return 0;
  const perBatchPerMs = perMinute / 60_000 / Math.max(1, parallelBatches);
  return Math.ceil(chunkSize / perBatchPerMs);
}
