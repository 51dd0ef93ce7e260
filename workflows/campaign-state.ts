// A campaign's state inside its transaction workflow, and the moves it allows. Pure: no
// Temporal API, so it is unit-tested as plain code (test/unit/campaign-state.test.ts). Every
// "may this happen now" comes from the transaction status machine in src/domain.
import { canTransition, isBeforeSending, type TransactionStatus } from '../src/domain/transaction-status';
import { addTally, emptyTally, type BatchTally, type CarriedState, type ControlResult, type TransactionProgress } from '../src/contracts';

export type ControlRequest = 'pause' | 'resume' | 'cancel' | 'sendNow' | 'reschedule';

/** What the sending loop has to do about a pause or resume the client asked for. */
export type PendingControl = 'pause' | 'resume' | undefined;

export class CampaignState {
  private readonly s: CarriedState;
  private sendNowRequested = false;
  /** When to start sending; moved by reschedule. */
  sendAt: string | undefined;
  /** Every started batch reported sent and none is left to start: nothing more to pause or cancel. */
  private sendingOver = false;
  /**
   * Moves on every change a waiting loop cares about (a batch report, an accepted control
   * request, a crashed batch). A loop notes it before a pass and waits for it to move after,
   * so nothing that lands during an await inside the pass is missed.
   */
  version = 0;
  /** Batch reports received by this run (a run hands over to a fresh one past a limit). */
  signalsThisRun = 0;

  constructor(carried: CarriedState | undefined, sendAt: string | undefined) {
    this.s = carried ?? {
      status: 'ACCEPT',
      paused: false,
      cancelRequested: false,
      nextBatch: 1,
      batchCount: 0,
      totalMessages: 0,
      sentBatches: [],
      completedBatches: [],
      totals: emptyTally(),
      completedTotals: emptyTally(),
    };
    this.sendAt = sendAt;
  }

  get status(): TransactionStatus {
    return this.s.status;
  }
  get paused(): boolean {
    return this.s.paused;
  }
  get cancelRequested(): boolean {
    return this.s.cancelRequested;
  }
  get batchCount(): number {
    return this.s.batchCount;
  }
  get totalMessages(): number {
    return this.s.totalMessages;
  }
  get totals(): BatchTally {
    return this.s.totals;
  }
  /** The first reason the campaign must fail (a batch's report or a crashed batch); carried across continue-as-new. */
  get failure(): string | undefined {
    return this.s.failure;
  }
  private fail(reason: string): void {
    this.s.failure ??= reason;
  }
  /** What the next run starts from after continue-as-new. */
  carried(): CarriedState {
    return this.s;
  }

  /** A status change; one the status machine refuses is a bug, never silently skipped. */
  moveTo(next: TransactionStatus): void {
    if (!canTransition(this.s.status, next)) throw new Error(`illegal campaign move ${this.s.status} → ${next}`);
    this.s.status = next;
  }

  // ── Control requests (workflow updates): refusal reasons, then their effect ──

  /** Why the request cannot be accepted now, or undefined when it can. */
  refusal(request: ControlRequest, sendAt?: string): string | undefined {
    const status = this.s.status;
    const pausable = (status === 'PAUSED' || canTransition(status, 'PAUSED')) && !this.sendingOver;
    const over = 'every message was already handed to SES';
    switch (request) {
      case 'pause':
        if (this.sendingOver) return `${over}: nothing is left to pause`;
        return pausable ? undefined : `a ${status} campaign cannot be paused`;
      case 'resume':
        if (!pausable) return `a ${status} campaign cannot be resumed`;
        return this.s.paused ? undefined : 'the campaign is not paused';
      case 'cancel':
        if (this.sendingOver) return `${over}: nothing is left to cancel`;
        return canTransition(status, 'CANCELLED') ? undefined : `a ${status} campaign cannot be cancelled`;
      case 'sendNow':
        return isBeforeSending(status) ? undefined : `a ${status} campaign is not waiting to send`;
      case 'reschedule':
        if (!isBeforeSending(status)) return `a ${status} campaign can no longer be rescheduled`;
        return sendAt === undefined || Number.isNaN(Date.parse(sendAt)) ? 'send_at is not a date' : undefined;
    }
  }

  /** Applies an accepted request (the caller checked `refusal` first). */
  apply(request: ControlRequest, sendAt?: string): ControlResult {
    switch (request) {
      case 'pause':
        this.s.paused = true;
        break;
      case 'resume':
        this.s.paused = false;
        break;
      case 'cancel':
        this.s.cancelRequested = true;
        break;
      case 'sendNow':
        this.sendNowRequested = true;
        // Now means now for every recipient, whatever their local time.
        delete this.s.localOffsets;
        break;
      case 'reschedule':
        this.sendAt = sendAt;
        this.sendNowRequested = false;
        break;
    }
    this.version += 1;
    return { status: this.s.status, sendAt: this.sendAt };
  }

  // ── Ingest and schedule ──

  /**
   * What the ingest stored: the whole file, or (pipelined start) the file so far, with where the
   * next segment goes on from (`resume`).
   */
  ingested(
    batchCount: number,
    totalMessages: number,
    localOffsets?: { offsetMs: number; firstBatch: number }[],
    resume?: CarriedState['ingestFrom'],
  ): void {
    this.s.batchCount = batchCount;
    this.s.totalMessages = totalMessages;
    if (localOffsets?.length && !this.sendNowRequested) this.s.localOffsets = localOffsets;
    if (resume) this.s.ingestFrom = resume;
    else delete this.s.ingestFrom;
    this.version += 1;
  }

  /** A segment of the file failed for good: the campaign fails, and the rest of the file is not read. */
  ingestFailed(reason: string): void {
    this.fail(`reading the recipient file: ${reason}`);
    delete this.s.ingestFrom;
    this.version += 1;
  }

  /** Where the next segment of the file goes on from, while part of it is unread (pipelined start). */
  get ingestFrom(): CarriedState['ingestFrom'] {
    return this.s.ingestFrom;
  }

  /** More of the file is to be read: the sending loop waits for it (a cancel or a failure stops the reading). */
  get awaitsIngest(): boolean {
    return this.s.ingestFrom !== undefined && !this.mustStop;
  }

  /**
   * With recipients' local time, how far after send_at the first and the last batches are due
   * (0 and 0 without): the campaign waits for the first; it is late only past the last.
   */
  get localSpan(): { first: number; last: number } {
    const offsets = this.s.localOffsets ?? [];
    return { first: offsets[0]?.offsetMs ?? 0, last: offsets.at(-1)?.offsetMs ?? 0 };
  }

  /** When batch `number`'s recipients are due, with recipients' local time (else undefined). */
  localSendTimeOf(number: number): number | undefined {
    const group = [...(this.s.localOffsets ?? [])].reverse().find((g) => g.firstBatch <= number);
    return group && this.sendAt !== undefined ? Date.parse(this.sendAt) + group.offsetMs : undefined;
  }

  /** The schedule still holds the campaign back (no send-now, no cancel). */
  get waitsForSendAt(): boolean {
    return this.sendAt !== undefined && !this.sendNowRequested && !this.s.cancelRequested;
  }

  // ── Batches ──

  /** A batch finished sending (reports may repeat: each batch counts once). */
  batchSent(report: { batchNumber: number; tally: BatchTally; failure?: string }): void {
    this.signalsThisRun += 1;
    if (!this.s.sentBatches.includes(report.batchNumber)) {
      this.s.sentBatches.push(report.batchNumber);
      addTally(this.s.totals, report.tally);
      if (report.failure) this.fail(`batch ${report.batchNumber}: ${report.failure}`);
    }
    this.version += 1;
  }

  /** A batch has all its outcomes (or its deadline passed). */
  batchCompleted(report: { batchNumber: number; tally: BatchTally }): void {
    this.signalsThisRun += 1;
    if (!this.s.completedBatches.includes(report.batchNumber)) {
      this.s.completedBatches.push(report.batchNumber);
      addTally(this.s.completedTotals, report.tally);
    }
    this.version += 1;
  }

  /**
   * A batch workflow ended without its own reports (it failed, timed out or was terminated):
   * the campaign fails, and the batch counts as sent and completed so no loop waits for it.
   */
  batchCrashed(batchNumber: number, reason: string): void {
    this.fail(`batch ${batchNumber}: ${reason}`);
    if (!this.s.sentBatches.includes(batchNumber)) this.s.sentBatches.push(batchNumber);
    if (!this.s.completedBatches.includes(batchNumber)) this.s.completedBatches.push(batchNumber);
    this.version += 1;
  }

  /** The sending loop ended with every batch sent: from now on pause and cancel are refused. */
  sendingEnded(): void {
    if (!this.mustStop) this.sendingOver = true;
  }

  /** A cancel that can still take effect (one accepted too late for it never moves the status). */
  get cancelsNow(): boolean {
    return this.s.cancelRequested && canTransition(this.s.status, 'CANCELLED');
  }

  /** Cancel or failure: the open batches must be told to stop. */
  get mustStop(): boolean {
    return this.s.cancelRequested || this.s.failure !== undefined;
  }

  /** The pause or resume the status has not caught up with yet. */
  pendingControl(): PendingControl {
    if (this.s.paused && this.s.status !== 'PAUSED') return 'pause';
    if (!this.s.paused && this.s.status === 'PAUSED') return 'resume';
    return undefined;
  }

  /** Batches started and not yet reported sent. */
  sending(): number {
    return this.s.nextBatch - 1 - this.s.sentBatches.length;
  }

  openBatches(): number[] {
    return Array.from({ length: this.s.nextBatch - 1 }, (_, i) => i + 1).filter((n) => !this.s.sentBatches.includes(n));
  }

  hasBatchesToStart(): boolean {
    return this.s.nextBatch <= this.s.batchCount;
  }

  /** Another batch may start: a free slot, batches left, not paused. */
  mayStartBatch(maxConcurrent: number): boolean {
    return this.sending() < maxConcurrent && this.hasBatchesToStart() && !this.s.paused;
  }

  /** Takes the next batch number. */
  startBatch(): number {
    return this.s.nextBatch++;
  }

  get allCompleted(): boolean {
    return this.s.completedBatches.length >= this.s.batchCount;
  }

  /** Messages of batches that never started count as cancelled. */
  countUnstartedAsCancelled(): void {
    this.s.totals.cancelled += this.s.totalMessages - this.s.totals.total;
    this.s.totals.total = this.s.totalMessages;
  }

  /** At completion the batches' final tallies replace the tallies they had when sent. */
  takeCompletedTotals(): void {
    this.s.totals = this.s.completedTotals;
  }

  progress(): TransactionProgress {
    return {
      status: this.s.status,
      sendAt: this.sendAt,
      paused: this.s.paused,
      batchCount: this.s.batchCount,
      batchesStarted: this.s.nextBatch - 1,
      batchesSent: this.s.sentBatches.length,
      batchesCompleted: this.s.completedBatches.length,
      totals: this.s.totals,
    };
  }
}
