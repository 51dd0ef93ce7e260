// The transaction workflow's state as pure code: which control requests each status allows
// (derived from the status machine), batch reports counted once, the sliding window, and
// the moves the machine refuses.
import { describe, expect, it } from 'vitest';
import { CampaignState, type ControlRequest } from '../../workflows/campaign-state';
import {
  canTransition,
  isBeforeSending,
  reachableFrom,
  TRANSACTION_STATUSES,
  type TransactionStatus,
} from '../../src/domain/transaction-status';
import { emptyTally } from '../../src/contracts';

/** A campaign driven through legal moves to `status` (ingested with `batches` batches of 10). */
function campaignAt(status: TransactionStatus, batches = 3): CampaignState {
  const path: Record<TransactionStatus, TransactionStatus[]> = {
    ACCEPT: [],
    PROCESSING: ['PROCESSING'],
    SCHEDULED: ['PROCESSING', 'SCHEDULED'],
    READY_TO_SEND: ['PROCESSING', 'READY_TO_SEND'],
    PAUSED: ['PROCESSING', 'READY_TO_SEND', 'PAUSED'],
    SENT: ['PROCESSING', 'READY_TO_SEND', 'SENT'],
    COMPLETED: ['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED'],
    CANCELLED: ['PROCESSING', 'CANCELLED'],
    FAILED: ['PROCESSING', 'FAILED'],
  };
  const campaign = new CampaignState(undefined, undefined);
  campaign.ingested(batches, batches * 10);
  for (const step of path[status]) campaign.moveTo(step);
  return campaign;
}

const tally = (sent: number) => ({ ...emptyTally(), total: sent, sent, pending: sent });
const allowed = (request: ControlRequest) =>
  TRANSACTION_STATUSES.filter((status) => campaignAt(status).refusal(request, new Date().toISOString()) === undefined);

describe('the status machine', () => {
  it('knows which statuses come before sending', () => {
    expect(TRANSACTION_STATUSES.filter(isBeforeSending)).toEqual(['ACCEPT', 'PROCESSING', 'SCHEDULED']);
    expect([...reachableFrom('SENT')].sort()).toEqual(['COMPLETED', 'FAILED']);
    expect(reachableFrom('COMPLETED').size).toBe(0);
  });

  it('lets a campaign paused during its last chunk become SENT', () => {
    expect(canTransition('PAUSED', 'SENT')).toBe(true);
    expect(canTransition('PAUSED', 'COMPLETED')).toBe(false);
  });
});

describe('control requests allowed by status', () => {
  it('pause: while sending (and again while paused)', () => {
    expect(allowed('pause')).toEqual(['READY_TO_SEND', 'PAUSED']);
  });

  it('cancel: wherever the machine allows CANCELLED', () => {
    expect(allowed('cancel')).toEqual(TRANSACTION_STATUSES.filter((s) => canTransition(s, 'CANCELLED')));
    expect(allowed('cancel')).toEqual(['ACCEPT', 'PROCESSING', 'SCHEDULED', 'READY_TO_SEND', 'PAUSED']);
  });

  it('send-now and reschedule: only before sending', () => {
    expect(allowed('sendNow')).toEqual(['ACCEPT', 'PROCESSING', 'SCHEDULED']);
    expect(allowed('reschedule')).toEqual(['ACCEPT', 'PROCESSING', 'SCHEDULED']);
    expect(campaignAt('SCHEDULED').refusal('reschedule', 'not a date')).toBe('send_at is not a date');
    expect(campaignAt('SCHEDULED').refusal('reschedule', undefined)).toBe('send_at is not a date');
    expect(campaignAt('SENT').refusal('reschedule', 'not a date')).toBe('a SENT campaign can no longer be rescheduled');
  });

  it('resume: only a paused campaign that can still send', () => {
    expect(allowed('resume')).toEqual([]);
    // With the paused flag set, still only where the campaign can send.
    const pausedAt = (status: TransactionStatus) => {
      const c = campaignAt(status);
      c.apply('pause');
      return c.refusal('resume');
    };
    expect(TRANSACTION_STATUSES.filter((s) => pausedAt(s) === undefined)).toEqual(['READY_TO_SEND', 'PAUSED']);
    const paused = campaignAt('READY_TO_SEND');
    paused.apply('pause');
    // Accepted before the sending loop moved the status: resume undoes it.
    expect(paused.refusal('resume')).toBeUndefined();
    paused.moveTo('PAUSED');
    expect(paused.refusal('resume')).toBeUndefined();
    // Paused during the last chunk: everything went to SES, nothing is left to resume.
    paused.moveTo('SENT');
    expect(paused.refusal('resume')).toBe('a SENT campaign cannot be resumed');
    expect(paused.refusal('pause')).toBe('a SENT campaign cannot be paused');
  });

  it('an accepted request moves the version, so a waiting loop wakes', () => {
    const campaign = campaignAt('SCHEDULED');
    const before = campaign.version;
    const at = new Date(Date.now() + 60_000).toISOString();
    expect(campaign.apply('reschedule', at)).toEqual({ status: 'SCHEDULED', sendAt: at });
    expect(campaign.version).toBe(before + 1);
    expect(campaign.waitsForSendAt).toBe(true);
    campaign.apply('sendNow');
    expect(campaign.waitsForSendAt).toBe(false);
    // A later reschedule replaces an earlier send-now.
    campaign.apply('reschedule', at);
    expect(campaign.waitsForSendAt).toBe(true);
    campaign.apply('cancel');
    expect(campaign.waitsForSendAt).toBe(false);
  });
});

describe('moves', () => {
  it('refuses every move the machine refuses, from every status', () => {
    for (const from of TRANSACTION_STATUSES) {
      for (const to of TRANSACTION_STATUSES) {
        const campaign = campaignAt(from);
        if (canTransition(from, to)) {
          campaign.moveTo(to);
          expect(campaign.status).toBe(to);
        } else {
          expect(() => campaign.moveTo(to)).toThrow(`illegal campaign move ${from} → ${to}`);
          expect(campaign.status).toBe(from);
        }
      }
    }
  });
});

describe('batches', () => {
  it('starts batches in a sliding window and not while paused', () => {
    const campaign = campaignAt('READY_TO_SEND', 3);
    expect(campaign.mayStartBatch(2)).toBe(true);
    expect([campaign.startBatch(), campaign.startBatch()]).toEqual([1, 2]);
    expect(campaign.mayStartBatch(2)).toBe(false);
    expect(campaign.openBatches()).toEqual([1, 2]);
    campaign.batchSent({ batchNumber: 2, tally: tally(10) });
    expect(campaign.openBatches()).toEqual([1]);
    expect(campaign.mayStartBatch(2)).toBe(true);
    campaign.apply('pause');
    expect(campaign.mayStartBatch(2)).toBe(false);
    expect(campaign.pendingControl()).toBe('pause');
    campaign.moveTo('PAUSED');
    expect(campaign.pendingControl()).toBeUndefined();
    campaign.apply('resume');
    expect(campaign.pendingControl()).toBe('resume');
    expect(campaign.startBatch()).toBe(3);
    expect(campaign.hasBatchesToStart()).toBe(false);
  });

  it('counts each batch report once, however often it comes', () => {
    const campaign = campaignAt('READY_TO_SEND', 2);
    campaign.startBatch();
    campaign.startBatch();
    campaign.batchSent({ batchNumber: 1, tally: tally(10) });
    campaign.batchSent({ batchNumber: 1, tally: tally(10) });
    campaign.batchSent({ batchNumber: 2, tally: tally(7), failure: 'SesAccountError: paused' });
    campaign.batchSent({ batchNumber: 2, tally: tally(7), failure: 'another' });
    expect(campaign.totals).toMatchObject({ total: 17, sent: 17 });
    expect(campaign.failure).toBe('batch 2: SesAccountError: paused');
    expect(campaign.mustStop).toBe(true);
    expect(campaign.signalsThisRun).toBe(4);

    expect(campaign.allCompleted).toBe(false);
    campaign.batchCompleted({ batchNumber: 1, tally: { ...tally(10), pending: 0, delivered: 10 } });
    campaign.batchCompleted({ batchNumber: 1, tally: { ...tally(10), pending: 0, delivered: 10 } });
    campaign.batchCompleted({ batchNumber: 2, tally: { ...tally(7), pending: 0, delivered: 6 } });
    expect(campaign.allCompleted).toBe(true);
    campaign.takeCompletedTotals();
    expect(campaign.totals).toMatchObject({ total: 17, sent: 17, delivered: 16, pending: 0 });
  });

  it('a crashed batch fails the campaign with the first reason, and no loop waits for it', () => {
    const campaign = campaignAt('READY_TO_SEND', 2);
    campaign.startBatch();
    campaign.startBatch();
    campaign.batchCrashed(1, 'terminated');
    campaign.batchSent({ batchNumber: 2, tally: tally(10) });
    campaign.batchCrashed(2, 'timed out');
    expect(campaign.failure).toBe('batch 1: terminated');
    expect(campaign.sending()).toBe(0);
    expect(campaign.allCompleted).toBe(true);
    expect(campaign.mustStop).toBe(true);
  });

  it('refuses pause and cancel once every batch was sent, so a late cancel can never ask for SENT → CANCELLED', () => {
    const campaign = campaignAt('READY_TO_SEND', 1);
    campaign.startBatch();
    campaign.batchSent({ batchNumber: 1, tally: tally(10) });
    campaign.sendingEnded();
    expect(campaign.refusal('cancel')).toBe('every message was already handed to SES: nothing is left to cancel');
    expect(campaign.refusal('pause')).toBe('every message was already handed to SES: nothing is left to pause');
    campaign.moveTo('SENT');
    expect(campaign.cancelsNow).toBe(false);
  });

  it('a cancel accepted while sending still takes effect when the loop ends', () => {
    const campaign = campaignAt('READY_TO_SEND', 1);
    campaign.startBatch();
    campaign.apply('cancel');
    campaign.batchSent({ batchNumber: 1, tally: tally(4) });
    campaign.sendingEnded();
    expect(campaign.cancelsNow).toBe(true);
  });

  it('counts the messages of batches that never started as cancelled', () => {
    const campaign = campaignAt('READY_TO_SEND', 3);
    campaign.startBatch();
    campaign.batchSent({ batchNumber: 1, tally: { ...tally(4), total: 10, cancelled: 6 } });
    campaign.countUnstartedAsCancelled();
    expect(campaign.totals).toMatchObject({ total: 30, sent: 4, cancelled: 26 });
  });

  it('carries its state across continue-as-new', () => {
    const campaign = campaignAt('READY_TO_SEND', 3);
    campaign.startBatch();
    campaign.batchSent({ batchNumber: 1, tally: tally(10), failure: 'SesAccountError: paused' });
    campaign.apply('cancel');
    const next = new CampaignState(structuredClone(campaign.carried()), '2030-01-01T00:00:00.000Z');
    expect(next.progress()).toEqual({ ...campaign.progress(), sendAt: '2030-01-01T00:00:00.000Z' });
    expect(next.startBatch()).toBe(2);
    expect(next.signalsThisRun).toBe(0);
    // The failure and the cancel request go with it: the next run stops the other batches too.
    expect(next.failure).toBe('batch 1: SesAccountError: paused');
    expect(next.cancelRequested).toBe(true);
  });
});

describe('pipelined start: the file read in segments', () => {
  it('while part of the file is unread the sending loop waits for it; the next segment carries over continue-as-new', () => {
    const campaign = campaignAt('READY_TO_SEND', 1);
    campaign.ingested(1, 10, undefined, { row: 10, suppressed: 0 });
    expect(campaign.awaitsIngest).toBe(true);
    campaign.startBatch();
    campaign.batchSent({ batchNumber: 1, tally: tally(10) });
    expect(campaign.hasBatchesToStart()).toBe(false);
    expect(campaign.sending()).toBe(0);
    const carried = new CampaignState(campaign.carried(), undefined);
    expect(carried.ingestFrom).toEqual({ row: 10, suppressed: 0 });
    const seen = carried.version;
    carried.ingested(3, 30);
    expect(carried.version).not.toBe(seen);
    expect(carried.ingestFrom).toBeUndefined();
    expect(carried.awaitsIngest).toBe(false);
    expect(carried.mayStartBatch(2)).toBe(true);
  });

  it('a cancel or a failed segment stops the reading; the failure fails the campaign', () => {
    const cancelled = campaignAt('READY_TO_SEND', 1);
    cancelled.ingested(1, 10, undefined, { row: 10, suppressed: 0 });
    cancelled.apply('cancel');
    expect(cancelled.awaitsIngest).toBe(false);
    const failed = campaignAt('READY_TO_SEND', 1);
    failed.ingested(1, 10, undefined, { row: 10, suppressed: 0 });
    failed.ingestFailed('InvalidRecipientFile: row 42 could not be read');
    expect(failed.ingestFrom).toBeUndefined();
    expect(failed.mustStop).toBe(true);
    expect(failed.failure).toBe('reading the recipient file: InvalidRecipientFile: row 42 could not be read');
  });
});
