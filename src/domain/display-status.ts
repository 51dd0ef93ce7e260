// The status a client sees for a message: messages not yet picked up show the state their
// campaign puts them in (never rewritten per message). Shared by the messages listing and exports.
import type { MessageStatus } from './message-status';
import type { TransactionStatus } from './transaction-status';

export function displayStatus(stored: MessageStatus, txn: TransactionStatus): MessageStatus {
  if (stored !== 'CREATED') return stored;
  if (txn === 'SCHEDULED') return 'SCHEDULED';
  if (txn === 'READY_TO_SEND' || txn === 'PAUSED') return 'READY_TO_SEND';
  if (txn === 'CANCELLED') return 'CANCELLED';
  return 'CREATED';
}
