// The message status machine. Events can arrive twice and out of order, so a transition is
// allowed only forward: a later SES event never moves a message back (Delivery after Open).
export const MESSAGE_STATUSES = [
  'CREATED',
  'SCHEDULED',
  'READY_TO_SEND',
  'SENDING',
  'SENT',
  // Soft-bounced, its retry due at `retry_at` (issue 17, item 2): not an outcome yet.
  'SOFT_BOUNCED',
  'DELIVERED',
  'OPENED',
  'CLICKED',
  'BOUNCED',
  'COMPLAINED',
  'SUPPRESSED',
  'FAILED',
  'CANCELLED',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses a message may be in when the send activity picks it up. */
export const SENDABLE_STATUSES: readonly MessageStatus[] = ['CREATED', 'SCHEDULED', 'READY_TO_SEND', 'SENDING'];

// Progress rank: a transition must not lower it. Bounce/complaint outrank engagement
// because they end the relationship with the address.
const RANK: Record<MessageStatus, number> = {
  CREATED: 0,
  SCHEDULED: 1,
  READY_TO_SEND: 2,
  SENDING: 3,
  SENT: 4,
  // Past SENT (its Send event, late, does not undo it); any outcome of the attempt passes it. Only
  // the send activity's retry takes it back, to SENDING, with a conditional write of its own.
  SOFT_BOUNCED: 4.5,
  DELIVERED: 5,
  OPENED: 6,
  CLICKED: 7,
  BOUNCED: 8,
  COMPLAINED: 9,
  SUPPRESSED: 10,
  FAILED: 10,
  CANCELLED: 10,
};

export function messageStatusRank(status: MessageStatus): number {
  return RANK[status];
}

/** Statuses from which `to` is a forward move; used to build conditional writes. */
export function statusesBefore(to: MessageStatus): MessageStatus[] {
  return MESSAGE_STATUSES.filter((s) => RANK[s] < RANK[to]);
}

export function isSendable(status: MessageStatus): boolean {
  return SENDABLE_STATUSES.includes(status);
}
