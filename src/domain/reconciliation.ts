// A campaign's books at COMPLETED. Pure: from the sum of its batches' final recounts (each an
// exact count of the batch's stored messages), the number of valid recipients ingest wrote, and
// the transaction's counters as the reconcile left them. Two identities must hold:
//   valid recipients = sent + failed + suppressed + cancelled + pending (neither sent nor final)
//   sent = delivered + bounced + complained + unknown (each sent message once, by its strongest outcome)
// and every batch must have been counted, and the counters must agree with the recount.
import type { BatchTally } from '../contracts';

/** The recount figures the reconciliation reads (a sum of BatchTally). */
export type RecountTotals = Pick<
  BatchTally,
  | 'total'
  | 'sent'
  | 'failed'
  | 'suppressed'
  | 'cancelled'
  | 'delivered'
  | 'bounced'
  | 'complained'
  | 'batches'
  | 'unsent'
  | 'outcome_complained'
  | 'outcome_bounced'
  | 'outcome_soft_bounced'
  | 'outcome_delivered'
  | 'outcome_unknown'
>;

export interface Reconciliation {
  /** Both identities hold, every batch was counted, and the counters agree with the recount. */
  balanced: boolean;
  /** Valid rows ingested as messages (suppressed ones included). */
  valid_recipients: number;
  sent: number;
  failed: number;
  suppressed: number;
  cancelled: number;
  /** Neither sent nor final when their batch completed. */
  pending: number;
  pending_reason: string | null;
  /** Each sent message once, by its strongest outcome: complained, else bounced, else delivered, else unknown. */
  delivered: number;
  /** Hard bounces (soft ones apart, below). */
  bounced: number;
  /** Final soft bounces (issue 17, item 2). */
  soft_bounced: number;
  complained: number;
  /** Sent, with no delivery outcome from SES by the final-state deadline. */
  unknown: number;
  unknown_reason: string | null;
  /** What does not add up; empty when balanced. */
  mismatches: string[];
  computed_at: string;
}

export function reconcile(input: {
  totals: RecountTotals;
  /** What ingest wrote (total_messages); the recount's own total when unknown. */
  validRecipients?: number;
  /** How many batches ingest wrote (batch_count). */
  batchCount?: number;
  /** The transaction's counters after the reconcile wrote them. */
  counts?: Partial<Record<'sent' | 'failed' | 'suppressed' | 'cancelled' | 'delivered' | 'bounced' | 'complained', number>>;
  at: string;
}): Reconciliation {
  const t = input.totals;
  const mismatches: string[] = [];
  const valid = input.validRecipients ?? t.total;
  const pending = t.unsent ?? 0;
  const outcomes = {
    delivered: t.outcome_delivered ?? 0,
    // A tally's outcome_bounced holds the soft ones too (as recorded before they were told apart).
    bounced: (t.outcome_bounced ?? 0) - (t.outcome_soft_bounced ?? 0),
    soft_bounced: t.outcome_soft_bounced ?? 0,
    complained: t.outcome_complained ?? 0,
    unknown: t.outcome_unknown ?? 0,
  };
  const counted = t.batches ?? 0;
  if (input.batchCount !== undefined && counted !== input.batchCount) {
    mismatches.push(
      t.batches === undefined
        ? `the batches were counted by an engine without the reconciliation's figures (${input.batchCount} batches)`
        : `${counted} of ${input.batchCount} batches were counted`,
    );
  }
  const accounted = t.sent + t.failed + t.suppressed + t.cancelled + pending;
  if (accounted !== valid) {
    mismatches.push(
      `valid recipients ${valid} ≠ sent ${t.sent} + failed ${t.failed} + suppressed ${t.suppressed} + cancelled ${t.cancelled} + pending ${pending} = ${accounted}`,
    );
  }
  const classified = outcomes.delivered + outcomes.bounced + outcomes.soft_bounced + outcomes.complained + outcomes.unknown;
  if (classified !== t.sent) {
    mismatches.push(
      `sent ${t.sent} ≠ delivered ${outcomes.delivered} + bounced ${outcomes.bounced} + soft-bounced ${outcomes.soft_bounced} + complained ${outcomes.complained} + unknown ${outcomes.unknown} = ${classified}`,
    );
  }
  const c = input.counts;
  if (c) {
    // sent and failed may trade a message after the recount (a late Reject): their sum may not.
    const stored = (c.sent ?? 0) + (c.failed ?? 0);
    if (stored !== t.sent + t.failed) mismatches.push(`counters sent + failed = ${stored}, the recount ${t.sent + t.failed}`);
    for (const name of ['suppressed', 'cancelled'] as const) {
      if ((c[name] ?? 0) !== t[name]) mismatches.push(`counter ${name} = ${c[name] ?? 0}, the recount ${t[name]}`);
    }
    // Outcome counters only grow (an event after the recount adds to them): below the recount is a loss.
    for (const name of ['delivered', 'bounced', 'complained'] as const) {
      if ((c[name] ?? 0) < t[name]) mismatches.push(`counter ${name} = ${c[name] ?? 0}, below the recount ${t[name]}`);
    }
  }
  return {
    balanced: mismatches.length === 0,
    valid_recipients: valid,
    sent: t.sent,
    failed: t.failed,
    suppressed: t.suppressed,
    cancelled: t.cancelled,
    pending,
    pending_reason:
      pending > 0 ? `${pending} message(s) were neither sent nor in a final state when their batch completed; they were not mailed` : null,
    ...outcomes,
    unknown_reason:
      outcomes.unknown > 0 ? `${outcomes.unknown} sent message(s) had no delivery outcome from SES by the final-state deadline` : null,
    mismatches,
    computed_at: input.at,
  };
}
