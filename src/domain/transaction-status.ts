// The transaction (campaign) status machine. Pure: used by workflows, activities and the API.
export const TRANSACTION_STATUSES = [
  'ACCEPT',
  'PROCESSING',
  'SCHEDULED',
  'READY_TO_SEND',
  'SENT',
  'COMPLETED',
  'PAUSED',
  'CANCELLED',
  'FAILED',
] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

const NEXT: Record<TransactionStatus, readonly TransactionStatus[]> = {
  ACCEPT: ['PROCESSING', 'CANCELLED', 'FAILED'],
  PROCESSING: ['SCHEDULED', 'READY_TO_SEND', 'CANCELLED', 'FAILED'],
  SCHEDULED: ['READY_TO_SEND', 'CANCELLED', 'FAILED'],
  READY_TO_SEND: ['SENT', 'PAUSED', 'CANCELLED', 'FAILED'],
  // PAUSED → SENT: the pause landed while the last chunk was in flight, so every message was
  // handed to SES before it could take effect and nothing is left to pause.
  PAUSED: ['READY_TO_SEND', 'SENT', 'CANCELLED', 'FAILED'],
  SENT: ['COMPLETED', 'FAILED'],
  COMPLETED: [],
  CANCELLED: [],
  FAILED: [],
};

export function canTransition(from: TransactionStatus, to: TransactionStatus): boolean {
  return NEXT[from].includes(to);
}

export function isFinalTransactionStatus(status: TransactionStatus): boolean {
  return NEXT[status].length === 0;
}

/** Every status reachable from `from` by one or more legal moves. */
export function reachableFrom(from: TransactionStatus): ReadonlySet<TransactionStatus> {
  const seen = new Set<TransactionStatus>();
  const next = [...NEXT[from]];
  for (let status = next.pop(); status !== undefined; status = next.pop()) {
    if (seen.has(status)) continue;
    seen.add(status);
    next.push(...NEXT[status]);
  }
  return seen;
}

/**
 * Not sending yet: READY_TO_SEND lies ahead and the campaign has never been there
 * (ACCEPT, PROCESSING, SCHEDULED). The schedule may still be moved or cut short.
 */
export function isBeforeSending(status: TransactionStatus): boolean {
  return reachableFrom(status).has('READY_TO_SEND') && !reachableFrom('READY_TO_SEND').has(status);
}
