import { describe, expect, it } from 'vitest';
import { canTransition, isFinalTransactionStatus, TRANSACTION_STATUSES } from '../../src/domain/transaction-status';
import { isSendable, messageStatusRank, statusesBefore } from '../../src/domain/message-status';
import { displayStatus } from '../../api/routes/campaigns';

describe('transaction status machine', () => {
  it('follows the design: ACCEPT → PROCESSING → (SCHEDULED) → READY_TO_SEND → SENT → COMPLETED', () => {
    expect(canTransition('ACCEPT', 'PROCESSING')).toBe(true);
    expect(canTransition('PROCESSING', 'SCHEDULED')).toBe(true);
    expect(canTransition('PROCESSING', 'READY_TO_SEND')).toBe(true);
    expect(canTransition('SCHEDULED', 'READY_TO_SEND')).toBe(true);
    expect(canTransition('READY_TO_SEND', 'SENT')).toBe(true);
    expect(canTransition('SENT', 'COMPLETED')).toBe(true);
  });

  it('never goes back and ends in COMPLETED, CANCELLED or FAILED', () => {
    expect(canTransition('SENT', 'READY_TO_SEND')).toBe(false);
    expect(canTransition('READY_TO_SEND', 'PROCESSING')).toBe(false);
    expect(canTransition('SENT', 'CANCELLED')).toBe(false);
    expect(TRANSACTION_STATUSES.filter(isFinalTransactionStatus)).toEqual(['COMPLETED', 'CANCELLED', 'FAILED']);
    for (const final of ['COMPLETED', 'CANCELLED', 'FAILED'] as const) {
      for (const to of TRANSACTION_STATUSES) expect(canTransition(final, to)).toBe(false);
    }
  });
});

describe('message status machine', () => {
  it('only moves forward, so a late Delivery cannot undo an Open', () => {
    expect(messageStatusRank('OPENED')).toBeGreaterThan(messageStatusRank('DELIVERED'));
    expect(statusesBefore('DELIVERED')).not.toContain('OPENED');
    expect(statusesBefore('DELIVERED')).toContain('SENT');
    expect(statusesBefore('SENT')).toEqual(['CREATED', 'SCHEDULED', 'READY_TO_SEND', 'SENDING']);
  });

  it('sends only what was never sent', () => {
    expect(isSendable('CREATED')).toBe(true);
    expect(isSendable('SENDING')).toBe(true);
    expect(isSendable('SENT')).toBe(false);
    expect(isSendable('SUPPRESSED')).toBe(false);
  });

  it('shows unsent messages in the state their campaign puts them in', () => {
    expect(displayStatus('CREATED', 'SCHEDULED')).toBe('SCHEDULED');
    expect(displayStatus('CREATED', 'READY_TO_SEND')).toBe('READY_TO_SEND');
    expect(displayStatus('CREATED', 'CANCELLED')).toBe('CANCELLED');
    expect(displayStatus('SENT', 'CANCELLED')).toBe('SENT');
  });
});
