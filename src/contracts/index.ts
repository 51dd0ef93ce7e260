// What workflows, workers and the API agree on: ids, task queues, signals, queries and the
// shapes that cross the Temporal boundary. Pure definitions, safe to import from workflows.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { TransactionStatus } from '../domain/transaction-status';
import type { SendWindow } from '../domain/send-window';

export const WORKFLOW_INPUT_VERSION = 1;

/**
 * A send chunk heartbeats after every message; Temporal starts a retry this long after the
 * last one. Every AWS call ends well within it (AWS_TIMEOUTS), and the grace before resending
 * an ambiguous message is well beyond it (SENDING_GRACE_SECONDS).
 */
export const SEND_HEARTBEAT_TIMEOUT_MS = 30_000;

export const transactionWorkflowId = (transactionId: string) => `txn-${transactionId}`;
export const batchWorkflowId = (transactionId: string, batchNumber: number) => `txn-${transactionId}/batch-${batchNumber}`;
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
  /** A batch stops waiting for delivery outcomes after this long; messages still SENT count as unknown. */
  finalStateDeadlineMs: number;
  /** Safety net when no outcome signal arrives (a lost nudge must not stall a batch). */
  outcomePollMs: number;
  /** A message left SENDING by a dead attempt is resent only after this long without a Send event. */
  sendingGraceMs: number;
  /** If the engine reaches send_at later than this, `lateSendPolicy` decides. */
  lateSendToleranceMs: number;
  lateSendPolicy: 'send' | 'hold';
  /**
   * Issue 17, item 3: send chunks each batch of this campaign keeps in flight at once, when it has
   * no throttle (a high-priority campaign's: HIGH_PRIORITY_SEND_LANES); absent, one at a time.
   */
  sendLanes?: number;
}

/** Carried across continue-as-new so the new run resumes where the old one stopped. */
export interface CarriedState {
  status: TransactionStatus;
  paused: boolean;
  cancelRequested: boolean;
  nextBatch: number;
  batchCount: number;
  totalMessages: number;
  sentBatches: number[];
  completedBatches: number[];
  /** Sum of the batches' tallies when they finished sending. */
  totals: BatchTally;
  /** Sum of the batches' final tallies, once their outcomes are in. */
  completedTotals: BatchTally;
  /** The first reason the campaign must fail, once known (carried since the campaign-phases patch). */
  failure?: string;
  /**
   * Issue 17, item 4, recipients' local time: each group of batches (from firstBatch on) is due
   * offsetMs after send_at (so a reschedule moves them all); dropped by send-now.
   */
  localOffsets?: { offsetMs: number; firstBatch: number }[];
  /**
   * Issue 18, item 1, pipelined start: the recipient file is still being read; the next segment
   * goes on from here (batches 1…batchCount are stored). Absent once the file is read.
   */
  ingestFrom?: { row: number; suppressed: number; rejected?: number[] };
}

export interface TransactionWorkflowInput {
  version: number;
  transactionId: string;
  tenantId: string;
  templateId: string;
  fileId: string;
  sendAt?: string;
  /** Issue 17, item 4: nothing is sent outside this daily window (absent on campaigns without one). */
  sendWindow?: SendWindow;
  /**
   * The campaign has no callback_url (it cannot gain one): no status webhook activity runs
   * (true since NO_CALLBACK_NO_WEBHOOK; absent on campaigns started before, which ask each time).
   */
  noCallback?: true;
  /** Issue 17, item 4: each recipient mailed at send_at's wall-clock time in `timeZone`, in the zone of their `column`. */
  localTime?: { timeZone: string; column: string };
  throttle?: Throttle;
  options: TransactionOptions;
  state?: CarriedState;
  /** The campaign's labels (issue 15), for what the Temporal UI shows (absent on campaigns started before them). */
  name?: string;
  tags?: string[];
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
  /** Time between the starts of two send chunks of this batch, from the campaign's throttle. */
  chunkIntervalMs: number;
  /** Wait before the first chunk, so parallel batches interleave their chunks. */
  startDelayMs: number;
  finalStateDeadlineMs: number;
  outcomePollMs: number;
  sendingGraceMs: number;
  /** The batch's messages, for the summaries of its send chunks (absent on batches started before them). */
  messageCount?: number;
  /** Issue 17, item 4: its campaign's send window; a chunk is sent only while it is open. */
  sendWindow?: SendWindow;
  /** Issue 17, item 4: with recipients' local time, its recipients' send time: nothing goes out before. */
  notBefore?: string;
  /** Issue 17, item 3: chunks in flight at once over disjoint ranges of the batch (absent: one at a time). */
  sendLanes?: number;
}

/** A batch's messages by where they ended up (from the stored messages, so exact). */
export interface BatchTally {
  total: number;
  sent: number;
  failed: number;
  suppressed: number;
  cancelled: number;
  delivered: number;
  bounced: number;
  complained: number;
  opened: number;
  clicked: number;
  /** Sent, outcome not known yet (or never known, once the deadline passed). */
  pending: number;
  // Optional (tallies recorded before they existed lack them; a sum counts them only where
  // present): what the reconciliation at COMPLETED and the exact counter reconciles need.
  /** 1 per batch tally: in a sum, how many batches it covers. */
  batches?: number;
  /** Neither sent nor final (part of `pending`). */
  unsent?: number;
  /** Final soft bounces (issue 17, item 2): apart from `bounced`, the hard ones; part of outcome_bounced. */
  soft_bounced?: number;
  /** FAILED by an SES event (Reject, Rendering Failure) after SES took them (part of `failed`). */
  rejected?: number;
  /** Each sent message once, by its strongest outcome: complained, else bounced, else delivered, else unknown. */
  outcome_complained?: number;
  outcome_bounced?: number;
  /** The soft ones of outcome_bounced (absent in tallies from before soft bounces were told apart). */
  outcome_soft_bounced?: number;
  outcome_delivered?: number;
  outcome_unknown?: number;
}

export const emptyTally = (): BatchTally => ({
  total: 0,
  sent: 0,
  failed: 0,
  suppressed: 0,
  cancelled: 0,
  delivered: 0,
  bounced: 0,
  complained: 0,
  opened: 0,
  clicked: 0,
  pending: 0,
});

/** Adds `add` into `into`, field by field; an optional field is summed where either side has it. */
export function addTally(into: BatchTally, add: BatchTally): void {
  for (const key of new Set([...Object.keys(into), ...Object.keys(add)]) as Set<keyof BatchTally>) {
    into[key] = (into[key] ?? 0) + (add[key] ?? 0);
  }
}

export interface TransactionResult {
  transactionId: string;
  status: TransactionStatus;
  reason?: string;
  totals: BatchTally;
}

export interface TransactionProgress {
  status: TransactionStatus;
  sendAt?: string;
  paused: boolean;
  batchCount: number;
  batchesStarted: number;
  batchesSent: number;
  batchesCompleted: number;
  totals: BatchTally;
}

export interface ControlResult {
  status: TransactionStatus;
  sendAt?: string;
}

export const progressQuery = defineQuery<TransactionProgress>('progress');
// Campaign control, as updates so the caller learns whether the request was accepted.
export const pauseUpdate = defineUpdate<ControlResult>('pause');
export const resumeUpdate = defineUpdate<ControlResult>('resume');
export const cancelUpdate = defineUpdate<ControlResult>('cancel');
export const sendNowUpdate = defineUpdate<ControlResult>('sendNow');
export const rescheduleUpdate = defineUpdate<ControlResult, [{ sendAt: string }]>('reschedule');

/** From a batch to its transaction: sending is over (with the tally), then outcomes are in. */
export const batchSentSignal = defineSignal<[{ batchNumber: number; tally: BatchTally; failure?: string }]>('batchSent');
export const batchCompletedSignal = defineSignal<[{ batchNumber: number; tally: BatchTally }]>('batchCompleted');
/** From a transaction to its sending batches. */
export const batchControlSignal = defineSignal<['pause' | 'resume' | 'cancel']>('batchControl');

export const SEARCH_ATTRIBUTES = {
  transactionId: 'TransactionId',
  tenantId: 'TenantId',
  transactionStatus: 'TransactionStatus',
  /** The campaign's name and tags (set at start when the campaign has them): `CampaignName = "…"`, `Tags = "…"`. */
  campaignName: 'CampaignName',
  tags: 'Tags',
} as const;

export const searchAttributeKeys = {
  transactionId: defineSearchAttributeKey(SEARCH_ATTRIBUTES.transactionId, SearchAttributeType.KEYWORD),
  tenantId: defineSearchAttributeKey(SEARCH_ATTRIBUTES.tenantId, SearchAttributeType.KEYWORD),
  transactionStatus: defineSearchAttributeKey(SEARCH_ATTRIBUTES.transactionStatus, SearchAttributeType.KEYWORD),
  campaignName: defineSearchAttributeKey(SEARCH_ATTRIBUTES.campaignName, SearchAttributeType.KEYWORD),
  tags: defineSearchAttributeKey(SEARCH_ATTRIBUTES.tags, SearchAttributeType.KEYWORD_LIST),
};

/** Emails per minute allowed by the campaign's throttle, or undefined when unthrottled. */
export function perMinute(throttle: Throttle | undefined): number | undefined {
  const rate = Math.min(
    throttle?.emails_per_minute ?? Infinity,
    throttle?.emails_per_hour !== undefined ? throttle.emails_per_hour / 60 : Infinity,
  );
  return Number.isFinite(rate) && rate > 0 ? rate : undefined;
}

/**
 * How a throttled campaign paces its batches: chunks of at most one second's worth of mail,
 * each batch sending one chunk per `intervalMs`, the parallel batches offset from each other
 * by `intervalMs / parallel` so their chunks interleave instead of bursting together.
 */
export function pacing(throttle: Throttle | undefined, chunkSize: number, parallelBatches: number) {
  const rate = perMinute(throttle);
  if (rate === undefined) return { chunkSize, intervalMs: 0, staggerMs: 0 };
  const chunk = Math.max(1, Math.min(chunkSize, Math.floor(rate / 60)));
  const parallel = Math.max(1, parallelBatches);
  const intervalMs = Math.ceil((chunk * parallel * 60_000) / rate);
  return { chunkSize: chunk, intervalMs, staggerMs: Math.floor(intervalMs / parallel) };
}

/** From the SES event endpoint to a batch workflow: every sent message of the batch has an outcome. */
export const outcomesSignal = defineSignal('outcomes');
