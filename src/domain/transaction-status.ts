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
  PAUSED: ['READY_TO_SEND', 'CANCELLED', 'FAILED'],
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
