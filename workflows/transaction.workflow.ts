// One campaign ("transaction"): ACCEPT → PROCESSING → (SCHEDULED) → READY_TO_SEND ⇄ PAUSED
// → SENT → COMPLETED, or CANCELLED / FAILED. Every status change is written to DynamoDB, set
// as the TransactionStatus search attribute and posted as a webhook (in order, off the
// critical path). Batches run as abandoned children that report back by signal, so the
// campaign can continue-as-new at any point without waiting for them.
//
// The campaign's state and its legal moves live in CampaignState (pure, unit-tested); this
// file is the workflow around it, read top to bottom: activities, the run's plumbing
// (status changes, webhooks, hand-over), the handlers, then the phases in order: ingest,
// wait for send_at, send batches, await outcomes, finish.
//
// Changing this file: see "Changing a workflow" in the README (patched(), recorded histories).
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions, UpdateDefinition } from '@temporalio/common';
import type { Activities } from '../activities';
import type { TransactionStatus } from '../src/domain/transaction-status';
import {
  batchCompletedSignal,
  batchControlSignal,
  batchId,
  batchSentSignal,
  batchWorkflowId,
  cancelUpdate,
  pacing,
  pauseUpdate,
  progressQuery,
  rescheduleUpdate,
  resumeUpdate,
  searchAttributeKeys,
  sendNowUpdate,
  WORKFLOW_INPUT_VERSION,
  type ControlResult,
  type TransactionResult,
  type TransactionWorkflowInput,
} from '../src/contracts';
import { batchDetails, batchRange, batchSummary, transactionCurrentDetails, type BatchText } from '../src/contracts/ui-text';
import { batchWorkflow, RECIPIENT_LOCAL_TIME, SEND_WINDOW_DST, SEND_WINDOWS, UI_SUMMARIES } from './batch.workflow';
import { describeWindow, windowAt, type SendWindow } from '../src/domain/send-window';
import { CampaignState, type ControlRequest } from './campaign-state';
import { failureReason } from './failure';
import { checkInputVersion } from './input-version';
import { transactionWorkflowV1 } from './legacy/transaction-v1.workflow';

const bookkeeping: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
};
const { recordTransactionStatus, reconcileTransactionCounts, annotateTransaction } = proxyActivities<Activities>(bookkeeping);

const ingestOptions: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '1 minute', nonRetryableErrorTypes: ['InvalidRecipientFile'] },
};
const { ingestRecipients } = proxyActivities<Activities>(ingestOptions);

// Webhooks are retried for days; a 4xx other than 408/429 is final.
const { deliverWebhook } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1 hour', nonRetryableErrorTypes: ['WebhookRejected'] },
});

/**
 * Patch id (issue 18, item 5): a campaign started without a callback_url runs no status webhook
 * activity (before, each status change ran deliverWebhook to answer no_callback). Asked only by
 * campaigns whose input says so, at their first status change.
 */
export const NO_CALLBACK_NO_WEBHOOK = 'no-callback-no-webhook';

/**
 * Patch id (issue 18, item 1, pipelined start): a campaign that sends at once (no send_at, no
 * recipients' local time) reads its file in segments: sending starts once the first batch is
 * stored, and the rest of the file is read while batches send. Each segment reads the file again
 * from its start to rebuild the duplicate set (the first row of an address wins, as before); the
 * campaign's totals are the whole file's once the last segment ends. A campaign scheduled by a
 * reschedule while its first segment is read reads its whole file before it waits.
 */
export const PIPELINED_INGEST = 'pipelined-ingest';

/**
 * Segments grow (1, 2, 4… batches, or the throttled campaign's parallel batches first) up to this
 * many rows: few re-reads of the file's start, and a run can hand over between two segments.
 */
const SEGMENT_MAX_ROWS = 100_000;

/** Batches signal twice each; past this many signals a run hands over to a fresh one. */
const SIGNALS_PER_RUN = 80;

/** One run of a campaign's workflow: its state plus the effects of changing it. */
class CampaignRun {
  // Webhooks go out one after another, in status order, without holding the campaign up.
  private webhooks: Promise<void> = Promise.resolve();

  constructor(
    readonly input: TransactionWorkflowInput,
    readonly campaign: CampaignState,
    /** Summaries on this run's timers, activities and batches (UI_SUMMARIES): false when replaying a run from before them. */
    readonly summaries = false,
  ) {}

  /** The run's current details in the Temporal UI (not a command: no patch needed, replay sees nothing). */
  showDetails(): void {
    setCurrentDetails(transactionCurrentDetails(this.campaign.progress(), this.campaign.totalMessages));
  }

  get transactionId(): string {
    return this.input.transactionId;
  }

  /** Queues the status's webhook behind the earlier ones. */
  notify(status: TransactionStatus): void {
    if (this.input.noCallback && patched(NO_CALLBACK_NO_WEBHOOK)) return;
    const timestamp = new Date().toISOString();
    const transactionId = this.transactionId;
    this.webhooks = this.webhooks.then(() =>
      deliverWebhook({ transactionId, status, timestamp }).then(
        () => undefined,
        (error) => log.warn('webhook given up', { transaction_id: transactionId, status, error: failureReason(error) }),
      ),
    );
  }

  /**
   * A status change: the state machine allows it or the workflow task fails; DynamoDB takes it
   * or the activity fails (StatusTransitionRefused), so the stored status never lags silently.
   */
  async moveTo(next: TransactionStatus, reason?: string, metadata?: Record<string, unknown>): Promise<void> {
    this.campaign.moveTo(next);
    this.showDetails();
    upsertSearchAttributes([{ key: searchAttributeKeys.transactionStatus, value: next }]);
    upsertMemo({ template_id: this.input.templateId, counts: this.campaign.totals });
    const record = this.summaries
      ? proxyActivities<Activities>({ ...bookkeeping, summary: `status → ${next}` }).recordTransactionStatus
      : recordTransactionStatus;
    await record({ transactionId: this.transactionId, status: next, reason, metadata });
    this.notify(next);
  }

  async finish(final: TransactionStatus, reason?: string): Promise<TransactionResult> {
    await this.moveTo(final, reason);
    await this.webhooks;
    return { transactionId: this.transactionId, status: final, reason, totals: this.campaign.totals };
  }

  async handOver(): Promise<never> {
    await this.webhooks;
    return continueAsNew<typeof transactionWorkflow>({ ...this.input, sendAt: this.campaign.sendAt, state: this.campaign.carried() });
  }

  /** The segment of the recipient file being read while batches send (pipelined start). */
  private segment: Promise<void> | undefined;

  /** Pipelined start: reads the file's next segment in the background, unless one is being read or none is left. */
  keepIngesting(): void {
    const { campaign } = this;
    const from = campaign.ingestFrom;
    if (this.segment || !from || campaign.mustStop) return;
    this.segment = ingestActivity(this)(ingestInput(this, nextSegment(campaign.batchCount, from, this.input.options.batchSize))).then(
      (result) => {
        this.segment = undefined;
        campaign.ingested(result.batchCount, result.totalMessages, undefined, result.resume);
        this.showDetails();
      },
      (error) => {
        this.segment = undefined;
        campaign.ingestFailed(failureReason(error));
      },
    );
  }

  /**
   * The segment being read, if any: the run neither ends nor hands over before it is stored (a
   * cancelled campaign waits for it, to count what it stored).
   */
  get segmentInFlight(): Promise<void> | undefined {
    return this.segment;
  }

  get runIsFull(): boolean {
    return workflowInfo().continueAsNewSuggested || this.campaign.signalsThisRun >= SIGNALS_PER_RUN;
  }

  /** Waits for the campaign's version to move past `seen`. */
  changedSince(seen: number): Promise<void> {
    return condition(() => this.campaign.version !== seen);
  }

  /** The same, for at most `timeoutMs` (a timer, shown with `summary` in the UI since UI_SUMMARIES). */
  changedWithin(seen: number, timeoutMs: number, summary?: string): Promise<boolean> {
    const changed = () => this.campaign.version !== seen;
    return this.summaries && summary ? condition(changed, timeoutMs, { summary }) : condition(changed, timeoutMs);
  }
}

function setHandlers(campaign: CampaignState, changed: () => void): void {
  setHandler(batchSentSignal, (report) => {
    campaign.batchSent(report);
    changed();
  });
  setHandler(batchCompletedSignal, (report) => {
    campaign.batchCompleted(report);
    changed();
  });
  setHandler(progressQuery, () => campaign.progress());

  // A refused request throws from its validator: the caller gets the reason, nothing changes.
  const validate = (request: ControlRequest, sendAt?: string) => {
    const refusal = campaign.refusal(request, sendAt);
    if (refusal) throw new Error(refusal);
  };
  const control = (update: UpdateDefinition<ControlResult, []>, request: ControlRequest) =>
    setHandler(
      update,
      () => {
        const result = campaign.apply(request);
        changed();
        return result;
      },
      { validator: () => validate(request) },
    );
  control(pauseUpdate, 'pause');
  control(resumeUpdate, 'resume');
  control(cancelUpdate, 'cancel');
  control(sendNowUpdate, 'sendNow');
  setHandler(
    rescheduleUpdate,
    ({ sendAt }) => {
      const result = campaign.apply('reschedule', sendAt);
      changed();
      return result;
    },
    {
      validator: ({ sendAt }) => validate('reschedule', sendAt),
    },
  );
}

// ── Phases ──

type Ended = TransactionResult;
type IngestInput = Parameters<Activities['ingestRecipients']>[0];
type IngestSegment = NonNullable<IngestInput['segment']>;

/** The ingest activity, with its summary in the UI since UI_SUMMARIES. */
function ingestActivity(run: CampaignRun): Activities['ingestRecipients'] {
  if (!run.summaries) return ingestRecipients;
  const { fileId, options } = run.input;
  return proxyActivities<Activities>({ ...ingestOptions, summary: `ingest recipient file ${fileId} (batches of ${options.batchSize})` })
    .ingestRecipients;
}

function ingestInput(run: CampaignRun, segment?: IngestSegment): IngestInput {
  const { input } = run;
  return {
    transactionId: input.transactionId,
    tenantId: input.tenantId,
    templateId: input.templateId,
    fileId: input.fileId,
    batchSize: input.options.batchSize,
    ...(segment ? { segment } : {}),
  };
}

/** The segment after `stored` batches: as many again, at most SEGMENT_MAX_ROWS rows. */
function nextSegment(stored: number, from: IngestSegment['from'], batchSize: number): IngestSegment {
  const most = Math.max(1, Math.floor(SEGMENT_MAX_ROWS / batchSize));
  return { from, batchesStored: stored, untilBatch: stored + Math.min(Math.max(1, stored), most) };
}

/** PROCESSING: read the file into messages and batches. Returns a result if the campaign ends here. */
async function ingest(run: CampaignRun): Promise<Ended | undefined> {
  const { input, campaign } = run;
  run.notify('ACCEPT');
  await run.moveTo('PROCESSING');
  const read = ingestActivity(run);
  try {
    // Issue 17, item 4: recipients' local time, for campaigns that ask (none recorded before it did).
    const localTime =
      input.localTime && campaign.sendAt !== undefined && patched(RECIPIENT_LOCAL_TIME)
        ? { ...input.localTime, sendAt: campaign.sendAt }
        : undefined;
    // Pipelined start: the first segment is one batch, or a throttled campaign's parallel batches (its pace needs their number).
    const pipelined = !input.localTime && campaign.sendAt === undefined && patched(PIPELINED_INGEST);
    const first = input.throttle ? input.options.maxConcurrentBatches : 1;
    let ingested = await read({
      ...ingestInput(run, pipelined ? { batchesStored: 0, untilBatch: first } : undefined),
      ...(localTime ? { localTime } : {}),
    });
    // Sending starts with a batch that has someone to send to; rescheduled meanwhile, the campaign reads all first.
    while (ingested.resume && !campaign.cancelRequested && (ingested.valid === 0 || campaign.sendAt !== undefined)) {
      ingested = await read(ingestInput(run, nextSegment(ingested.batchCount, ingested.resume, input.options.batchSize)));
    }
    const offsets =
      localTime && ingested.localTimes
        ? ingested.localTimes.map((g) => ({ offsetMs: Date.parse(g.sendAt) - Date.parse(localTime.sendAt), firstBatch: g.firstBatch }))
        : undefined;
    campaign.ingested(ingested.batchCount, ingested.totalMessages, offsets, ingested.resume);
    run.showDetails();
    if (ingested.valid === 0 && !ingested.resume) {
      return run.finish('FAILED', ingested.totalMessages === 0 ? 'the file has no valid recipient' : 'every recipient is suppressed');
    }
  } catch (error) {
    return run.finish('FAILED', failureReason(error));
  }
  return undefined;
}

/**
 * SCHEDULED: a durable timer that reschedule moves and send-now or cancel cut short. A send
 * the engine reaches much later than planned (it was down) is held or sent as configured.
 * Returns how late the send starts, in ms.
 */
async function waitForSendAt(run: CampaignRun): Promise<number> {
  const { campaign, transactionId } = run;
  const { lateSendToleranceMs, lateSendPolicy } = run.input.options;
  let held = false;
  const release = async () => {
    if (held) await annotateTransaction({ transactionId, fields: { held_reason: null } });
  };
  while (campaign.waitsForSendAt) {
    const seen = campaign.version;
    // With recipients' local time: due when the first recipients are, late only past the last's time.
    const span = campaign.localSpan;
    const due = Date.parse(campaign.sendAt!) + span.first;
    if (Date.now() < due) {
      if (campaign.status !== 'SCHEDULED') await run.moveTo('SCHEDULED');
      const at = span.first === 0 ? campaign.sendAt : new Date(due).toISOString();
      await run.changedWithin(seen, Math.max(1, due - Date.now()), `send_at ${at}`);
      continue;
    }
    const lateBy = campaign.status === 'SCHEDULED' ? Date.now() - (due - span.first + span.last) : 0;
    if (lateBy <= lateSendToleranceMs || lateSendPolicy === 'send') {
      await release();
      return lateBy;
    }
    if (!held) {
      held = true;
      await annotateTransaction({
        transactionId,
        fields: { held_reason: `send_at passed ${Math.round(lateBy / 1000)} s ago; waiting for send-now, reschedule or cancel` },
      });
    }
    await run.changedSince(seen);
  }
  await release();
  return 0;
}

/**
 * READY_TO_SEND outside the campaign's send window (issue 17, item 4): a durable timer to the
 * next opening, with the reason on the campaign (`held_reason`) while it waits; a cancel ends it.
 */
async function waitForWindow(run: CampaignRun, window: SendWindow): Promise<void> {
  const { campaign, transactionId } = run;
  let held = false;
  for (;;) {
    if (campaign.cancelsNow) break;
    run.keepIngesting();
    const state = windowAt(window, Date.now(), { dstBefore: !patched(SEND_WINDOW_DST) });
    if (state.open) break;
    const opens = new Date(state.opensAt).toISOString();
    if (!held) {
      held = true;
      await annotateTransaction({
        transactionId,
        fields: { held_reason: `outside the send window (${describeWindow(window)}); it opens at ${opens}` },
      });
    }
    await run.changedWithin(campaign.version, Math.max(1, state.opensAt - Date.now()), `send window: opens ${opens}`);
  }
  if (held) await annotateTransaction({ transactionId, fields: { held_reason: null } });
}

/** Starts the campaign's next batch as an abandoned child, paced as `pace` says. */
async function startBatch(run: CampaignRun, pace: ReturnType<typeof pacing>, parallel: number): Promise<void> {
  const { input, campaign, transactionId } = run;
  const { options } = input;
  const number = campaign.startBatch();
  const notBefore = campaign.localSendTimeOf(number);
  run.showDetails();
  const range = batchRange(number, options.batchSize, campaign.totalMessages);
  const text: BatchText = {
    transactionId,
    tenantId: input.tenantId,
    name: input.name,
    batchNumber: number,
    batchId: batchId(number),
    batchCount: campaign.batchCount,
    ...range,
    totalMessages: campaign.totalMessages,
    chunkSize: pace.chunkSize,
    chunkIntervalMs: pace.intervalMs,
  };
  const child = await startChild(batchWorkflow, {
    workflowId: batchWorkflowId(transactionId, number),
    parentClosePolicy: ParentClosePolicy.ABANDON,
    ...(run.summaries ? { staticSummary: batchSummary(text), staticDetails: batchDetails(text) } : {}),
    args: [
      {
        version: WORKFLOW_INPUT_VERSION,
        transactionId,
        tenantId: input.tenantId,
        templateId: input.templateId,
        batchNumber: number,
        batchId: batchId(number),
        sendChunkSize: pace.chunkSize,
        sendTaskQueue: options.sendTaskQueue,
        chunkIntervalMs: pace.intervalMs,
        // The first batches take staggered slots; later ones inherit the slot they refill.
        startDelayMs: number <= parallel ? (number - 1) * pace.staggerMs : 0,
        finalStateDeadlineMs: options.finalStateDeadlineMs,
        outcomePollMs: options.outcomePollMs,
        sendingGraceMs: options.sendingGraceMs,
        ...(run.summaries ? { messageCount: range.last - range.first + 1 } : {}),
        ...(input.sendWindow ? { sendWindow: input.sendWindow } : {}),
        ...(notBefore !== undefined && notBefore > Date.now() ? { notBefore: new Date(notBefore).toISOString() } : {}),
        // Lanes only without a throttle: a throttled campaign's pace is one chunk per interval.
        ...(options.sendLanes !== undefined && options.sendLanes > 1 && pace.intervalMs === 0 ? { sendLanes: options.sendLanes } : {}),
      },
    ],
  });
  // A batch that crashes outright (not through its own reports) fails the campaign and counts
  // as sent and completed, so no loop waits for it.
  void child.result().catch((error) => campaign.batchCrashed(number, failureReason(error)));
}

/** Signals every batch that started and has not reported sent (one that already ended is skipped). */
function tellOpenBatches(run: CampaignRun, action: 'pause' | 'resume' | 'cancel'): Promise<unknown> {
  return Promise.all(
    run.campaign.openBatches().map((n) =>
      getExternalWorkflowHandle(batchWorkflowId(run.transactionId, n))
        .signal(batchControlSignal, action)
        .catch(() => undefined),
    ),
  );
}

/**
 * READY_TO_SEND ⇄ PAUSED: start batches in a sliding window, forward pause, resume and cancel
 * to the batches sending, until every started batch reported sent and none is left to start
 * (or a stop leaves none to start). 'hand over' when this run is full.
 */
async function sendBatches(run: CampaignRun): Promise<'sent' | 'hand over'> {
  const { input, campaign } = run;
  const { maxConcurrentBatches } = input.options;
  const parallel = Math.min(maxConcurrentBatches, campaign.batchCount);
  const pace = pacing(input.throttle, input.options.sendChunkSize, parallel);
  let stopForwarded = false;
  while (campaign.status === 'READY_TO_SEND' || campaign.status === 'PAUSED') {
    const seen = campaign.version;
    // A full run reads no further segment: it hands over between two (the next run goes on).
    if (!run.runIsFull) run.keepIngesting();
    if (campaign.mustStop && !stopForwarded) {
      stopForwarded = true;
      await tellOpenBatches(run, 'cancel');
    }
    const control = stopForwarded ? undefined : campaign.pendingControl();
    if (control === 'pause') {
      await run.moveTo('PAUSED');
      await tellOpenBatches(run, 'pause');
    } else if (control === 'resume') {
      await run.moveTo('READY_TO_SEND');
      await tellOpenBatches(run, 'resume');
    }
    const more = campaign.hasBatchesToStart() && !stopForwarded;
    // Pipelined start: the file's last segment may still bring batches.
    if (!more && campaign.sending() === 0 && !run.segmentInFlight && !campaign.awaitsIngest) break;
    while (!stopForwarded && campaign.mayStartBatch(maxConcurrentBatches)) await startBatch(run, pace, parallel);
    if (run.runIsFull && !run.segmentInFlight) return 'hand over';
    await run.changedSince(seen);
  }
  return 'sent';
}

/** CANCELLED: messages of batches that never started count as cancelled. */
async function cancelled(run: CampaignRun): Promise<Ended> {
  // Only pipelined campaigns have one: no await (and no change of command order) for the others.
  const segment = run.segmentInFlight;
  if (segment) await segment;
  run.campaign.countUnstartedAsCancelled();
  await reconcileTransactionCounts({ transactionId: run.transactionId, totals: run.campaign.totals, phase: 'sent' });
  return run.finish('CANCELLED');
}

/** SENT: every message was handed to SES (a pause that came too late to hold any back included). */
async function markSent(run: CampaignRun): Promise<void> {
  const { campaign } = run;
  if (campaign.status === 'SENT' || campaign.status === 'COMPLETED') return;
  await reconcileTransactionCounts({ transactionId: run.transactionId, totals: campaign.totals, phase: 'sent' });
  await run.moveTo('SENT');
}

/** Waits until every batch reported its outcomes. 'hand over' when this run is full. */
async function awaitOutcomes(run: CampaignRun): Promise<'completed' | 'hand over'> {
  while (!run.campaign.allCompleted) {
    const seen = run.campaign.version;
    if (run.runIsFull) return 'hand over';
    await run.changedSince(seen);
  }
  return 'completed';
}

/** COMPLETED: the batches' final tallies become the campaign's counts. */
async function complete(run: CampaignRun): Promise<Ended> {
  run.campaign.takeCompletedTotals();
  await reconcileTransactionCounts({ transactionId: run.transactionId, totals: run.campaign.totals, phase: 'completed' });
  return run.finish('COMPLETED');
}

/** Patch id: this file's workflow. Histories recorded before it run the closure it replaced. */
export const CAMPAIGN_PHASES = 'campaign-phases';

export async function transactionWorkflow(input: TransactionWorkflowInput): Promise<TransactionResult> {
  if (!patched(CAMPAIGN_PHASES)) return transactionWorkflowV1(input);
  checkInputVersion(input.version);
  const campaign = new CampaignState(input.state, input.sendAt);
  const run = new CampaignRun(input, campaign, patched(UI_SUMMARIES));
  setHandlers(campaign, () => run.showDetails());
  run.showDetails();

  if (!input.state) {
    const ended = await ingest(run);
    if (ended) return ended;
    const lateBy = await waitForSendAt(run);
    if (campaign.cancelsNow) return cancelled(run);
    await run.moveTo('READY_TO_SEND', undefined, lateBy > 0 ? { late_by_ms: lateBy } : undefined);
    if (input.sendWindow && patched(SEND_WINDOWS)) {
      await waitForWindow(run, input.sendWindow);
      if (campaign.cancelsNow) return cancelled(run);
    }
  }
  if ((await sendBatches(run)) === 'hand over') return run.handOver();
  campaign.sendingEnded();
  if (campaign.failure) return run.finish('FAILED', campaign.failure);
  if (campaign.cancelsNow) return cancelled(run);
  await markSent(run);
  if ((await awaitOutcomes(run)) === 'hand over') return run.handOver();
  // A batch that crashed while its outcomes were awaited fails the campaign (SENT → FAILED).
  if (campaign.failure) return run.finish('FAILED', campaign.failure);
  return complete(run);
}
