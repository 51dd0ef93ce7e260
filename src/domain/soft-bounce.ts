// The soft-bounce policy (issue 17, item 2). A Transient or Undetermined bounce says the address
// may take mail later: the message is tried again after a delay, as a durable timer of its batch,
// while the campaign's final-state deadline allows it; after the last try (or with retries off)
// the soft bounce is the message's outcome, BOUNCED with `bounce_class: soft`, and counted as
// `soft_bounced`, apart from hard bounces. Pure: the message store applies the decision.

export interface SoftBouncePolicy {
  /** The delay before each retry, in order; empty: no retries (a soft bounce is final at once). */
  retryDelaysMs: readonly number[];
  /** The batch's final-state deadline, from the message's first send: no retry is due past it. */
  finalStateDeadlineMs: number;
  /** The campaign was cancelled: no retry will go out, a soft bounce is final at once. */
  stopped?: 'cancelled';
}

export type SoftBounceDecision =
  { retry: true; retryAt: string; retriesDone: number } | { retry: false; reason: 'no_retries_left' | 'past_deadline' | 'cancelled' };

/**
 * What a soft bounce at `at` does to a message that has been retried `retriesDone` times and was
 * first sent at `firstSentAt` (unknown: no retry, as its deadline cannot be known).
 */
export function decideSoftBounce(
  policy: SoftBouncePolicy,
  message: { retriesDone: number; firstSentAt?: string },
  at: string,
): SoftBounceDecision {
  if (policy.stopped) return { retry: false, reason: policy.stopped };
  const delay = policy.retryDelaysMs[message.retriesDone];
  if (delay === undefined) return { retry: false, reason: 'no_retries_left' };
  const first = message.firstSentAt ? Date.parse(message.firstSentAt) : NaN;
  const due = Date.parse(at) + delay;
  if (Number.isNaN(first) || Number.isNaN(due) || due > first + policy.finalStateDeadlineMs)
    return { retry: false, reason: 'past_deadline' };
  return { retry: true, retryAt: new Date(due).toISOString(), retriesDone: message.retriesDone + 1 };
}

/** `SOFT_BOUNCE_RETRY_DELAYS_SECONDS`: comma-separated positive seconds ("3600,14400,43200"); empty: none. */
export function parseRetryDelays(value: string): number[] {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return parts.map((p) => {
    if (!/^\d+$/.test(p) || Number(p) < 1) throw new Error(`"${p}" is not a positive number of seconds`);
    return Number(p) * 1000;
  });
}

/** The attributes of one send attempt, removed when its retry starts (the next attempt sets its own). */
export const PER_ATTEMPT_FLAGS = ['send_event_time', 'soft_bounce_time', 'delivery_delay_time', 'retry_at'] as const;

/**
 * Why a soft bounce became the message's outcome: the policy's reasons (no retry left, past the
 * deadline), or a retry that did not go out: the recipient was suppressed since, the retry failed
 * outright (a render, sender or SES recipient error), the campaign was cancelled, or the batch's
 * retries stopped (an account-level SES failure).
 */
export type SoftBounceFinal = 'no_retries_left' | 'past_deadline' | 'suppressed' | 'retry_failed' | 'cancelled' | 'retries_stopped';

/**
 * The write that ends a message on its soft bounce when no retry will go out: BOUNCED, counted as
 * soft-bounced (SES took the first send), with why, and no retry time left.
 */
export function endOnSoftBounce(final: SoftBounceFinal, at: string, set: Record<string, unknown> = {}) {
  return {
    set: { ...set, soft_bounced_time: at, outcome_time: at, soft_bounce_final: final },
    remove: ['retry_at'] as const,
    metadata: { bounce_class: 'soft', soft_bounce_final: final },
    at,
  };
}
