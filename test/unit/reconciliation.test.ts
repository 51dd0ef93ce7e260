// The campaign's books at COMPLETED (src/domain/reconciliation.ts): both identities, every batch
// counted, counters that agree with the recount, and a mismatch named when something is off.
import { describe, expect, it } from 'vitest';
import { reconcile, type RecountTotals } from '../../src/domain/reconciliation';

const at = '2026-12-01T10:00:00.000Z';
// 10 recipients: 6 sent (2 delivered only, 1 delivered then complained, 1 bounced, 2 no outcome), 1 failed, 2 suppressed, 1 cancelled.
const totals: RecountTotals = {
  total: 10,
  sent: 6,
  failed: 1,
  suppressed: 2,
  cancelled: 1,
  delivered: 3,
  bounced: 1,
  complained: 1,
  batches: 2,
  unsent: 0,
  outcome_delivered: 2,
  outcome_bounced: 1,
  outcome_complained: 1,
  outcome_unknown: 2,
};
const counts = { sent: 6, failed: 1, suppressed: 2, cancelled: 1, delivered: 3, bounced: 1, complained: 1 };

describe('reconcile', () => {
  it('balances a campaign whose every recipient and every sent message is accounted for', () => {
    expect(reconcile({ totals, validRecipients: 10, batchCount: 2, counts, at })).toEqual({
      balanced: true,
      valid_recipients: 10,
      sent: 6,
      failed: 1,
      suppressed: 2,
      cancelled: 1,
      pending: 0,
      pending_reason: null,
      delivered: 2,
      bounced: 1,
      soft_bounced: 0,
      complained: 1,
      unknown: 2,
      unknown_reason: '2 sent message(s) had no delivery outcome from SES by the final-state deadline',
      mismatches: [],
      computed_at: at,
    });
  });

  it('tells soft bounces from hard ones: bounced is the hard ones only, both classify a sent message', () => {
    // One of the 2 without an outcome ended on a soft bounce instead.
    const r = reconcile({
      totals: { ...totals, outcome_bounced: 2, outcome_soft_bounced: 1, outcome_unknown: 1 },
      validRecipients: 10,
      batchCount: 2,
      counts,
      at,
    });
    expect(r).toMatchObject({ balanced: true, bounced: 1, soft_bounced: 1, unknown: 1 });
  });

  it('explains pending messages and still balances with them', () => {
    const r = reconcile({ totals: { ...totals, total: 11, unsent: 1 }, validRecipients: 11, batchCount: 2, counts, at });
    expect(r).toMatchObject({ balanced: true, pending: 1 });
    expect(r.pending_reason).toContain('1 message(s) were neither sent nor in a final state');
  });

  it('accepts a late Reject that moved a message from sent to failed after the recount', () => {
    expect(reconcile({ totals, validRecipients: 10, batchCount: 2, counts: { ...counts, sent: 5, failed: 2 }, at }).balanced).toBe(true);
  });

  it('names each thing that does not add up', () => {
    const r = reconcile({
      totals: { ...totals, outcome_unknown: 1 },
      validRecipients: 11,
      batchCount: 3,
      counts: { ...counts, sent: 7, delivered: 2, suppressed: 3 },
      at,
    });
    expect(r.balanced).toBe(false);
    expect(r.mismatches).toEqual([
      '2 of 3 batches were counted',
      'valid recipients 11 ≠ sent 6 + failed 1 + suppressed 2 + cancelled 1 + pending 0 = 10',
      'sent 6 ≠ delivered 2 + bounced 1 + soft-bounced 0 + complained 1 + unknown 1 = 5',
      'counters sent + failed = 8, the recount 7',
      'counter suppressed = 3, the recount 2',
      'counter delivered = 2, below the recount 3',
    ]);
  });

  it('says so when the batches were counted by an engine without its figures', () => {
    const {
      batches: _b,
      unsent: _u,
      outcome_delivered: _d,
      outcome_bounced: _o,
      outcome_complained: _c,
      outcome_unknown: _n,
      ...old
    } = totals;
    const r = reconcile({ totals: old, validRecipients: 10, batchCount: 2, counts, at });
    expect(r.balanced).toBe(false);
    expect(r.mismatches[0]).toContain('without the reconciliation');
  });
});
