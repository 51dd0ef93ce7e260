// finalizeBatch, reconcileTransactionCounts and recordTransactionStatus against DynamoDB Local:
// exact recounts that repair drifted live counters, and idempotent status history.
import { afterAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { addTally, emptyTally } from '../../src/contracts';
import { allMessages, campaign, expectFailure, runActivity, setupDeps, suppress, TENANTS, transaction, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

const info = (activityId: string): Partial<Info> => ({ activityId, workflowExecution: { workflowId: 'wf-txn', runId: `run-${uid()}` } });

describe('tallyBatch and reconcileTransactionCounts', () => {
  it('recount every batch from the stored messages and make wrong transaction counters exact again', async () => {
    const id = uid();
    const blocked = `blocked-${id}@example.com`;
    await suppress(deps, blocked);
    // 8 rows in batches of 5: b00001 = rows 1-5 (one suppressed at ingest, one failing render), b00002 = rows 6-8.
    const rows = [
      `a-${id}@example.com,Ann`,
      `b-${id}@example.com,Broken`,
      `${blocked},Sup`,
      `c-${id}@example.com,Cy`,
      `d-${id}@example.com,Di`,
    ]
      .concat([`e-${id}@example.com,Ed`, `f-${id}@example.com,Flo`, `g-${id}@example.com,Gil`])
      .concat(['not-an-email,Bad']);
    const { txn, input, templateId } = await campaign(deps, `email,first_name\n${rows.join('\n')}\n`, {
      subject: 'Hi {{ first_name }}',
      html: '<p>{% if first_name == "Broken" %}{{ nope }}{% endif %}Hi</p>',
      placeholders: ['first_name'],
    });
    const transactionId = txn.transaction_id;
    await runActivity(activities.ingestRecipients, [input]);
    const base = { transactionId, tenantId: TENANTS.a.tenantId, templateId, limit: 50, sendingGraceMs: 60_000 };
    await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001' }], info('b1'));
    // b00002: send only the first two, and leave the third in SENDING as if its attempt died.
    await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00002', limit: 2 }], info('b2'));
    const stuck = (await allMessages(deps, transactionId)).find((m) => m.row === 8)!;
    expect(await deps.messages.transitionMessage(stuck, 'SENDING', { from: ['CREATED'], set: { attempt_token: 'dead' } })).toBe(true);

    await deps.store.updateCounts(transactionId, { sent: 999, failed: 42, suppressed: 7, cancelled: 3 }, 'set');
    expect((await transaction(deps, transactionId)).counts).toMatchObject({ sent: 999, failed: 42, suppressed: 7 });

    const tally = (batchId: string, cancelled = false) =>
      runActivity(activities.tallyBatch, [{ transactionId, batchId, cancelled, phase: 'sent' as const }]).then((r) => r.result);
    const b1 = await tally('b00001');
    const b2 = await tally('b00002');
    expect(b1).toMatchObject({ total: 5, sent: 3, failed: 1, suppressed: 1, cancelled: 0, delivered: 0 });
    expect(b2).toMatchObject({ total: 3, sent: 2, failed: 0, suppressed: 0, cancelled: 0 });

    const batches = await deps.batches.listBatches(transactionId);
    expect(batches.map((b) => ({ ...b }))).toEqual([
      expect.objectContaining({ batch_id: 'b00001', status: 'SENT', tally: b1 }),
      expect.objectContaining({ batch_id: 'b00002', status: 'SENT', tally: b2 }),
    ]);

    const totals = emptyTally();
    addTally(totals, b1);
    addTally(totals, b2);
    const { result } = await runActivity(activities.reconcileTransactionCounts, [{ transactionId, totals, phase: 'sent' as const }]);
    expect(result).toEqual({ sent: 5, failed: 1, suppressed: 1, cancelled: 0 });
    const after = await transaction(deps, transactionId);
    // Exact again, and the ingest-time count of rejected rows is left alone.
    expect(after.counts).toMatchObject({ sent: 5, failed: 1, suppressed: 1, cancelled: 0, invalid: 1 });

    // Both are safe to repeat (a retried activity).
    expect(await tally('b00001')).toEqual(b1);
    await runActivity(activities.reconcileTransactionCounts, [{ transactionId, totals, phase: 'sent' as const }]);
    expect((await transaction(deps, transactionId)).counts).toEqual(after.counts);

    // A cancelled batch counts what was never sent as cancelled.
    expect(await tally('b00002', true)).toMatchObject({ total: 3, sent: 2, cancelled: 1 });
  });

  it('tallies a batch with no messages as zero and marks it COMPLETED in the completed phase', async () => {
    const { txn } = await campaign(deps, 'email\n');
    const transactionId = txn.transaction_id;
    const { result } = await runActivity(activities.tallyBatch, [{ transactionId, batchId: 'b00001', phase: 'completed' as const }]);
    // Zero everywhere, with the figures the reconciliation needs (one batch counted).
    const zero = {
      ...emptyTally(),
      batches: 1,
      unsent: 0,
      rejected: 0,
      outcome_complained: 0,
      outcome_bounced: 0,
      outcome_soft_bounced: 0,
      outcome_delivered: 0,
      outcome_unknown: 0,
      soft_bounced: 0,
    };
    expect(result).toEqual(zero);
    expect((await deps.batches.listBatches(transactionId)).map((b) => ({ ...b }))).toEqual([
      expect.objectContaining({ status: 'COMPLETED', tally: zero }),
    ]);
  });
});

describe('recordTransactionStatus', () => {
  it('appends a status to the history once; repeating it changes nothing and returns false', async () => {
    const { txn } = await campaign(deps, `email\nx-${uid()}@example.com\n`);
    const transactionId = txn.transaction_id;

    const first = await runActivity(activities.recordTransactionStatus, [
      { transactionId, status: 'PROCESSING', metadata: { by: 'test' } },
    ]);
    expect(first.result).toBe(true);
    const once = await transaction(deps, transactionId);
    expect(once.status).toBe('PROCESSING');
    expect(once.status_history.map((h) => h.status)).toEqual(['ACCEPT', 'PROCESSING']);
    expect(once.status_history[1]!.metadata).toEqual({ by: 'test' });

    const repeat = await runActivity(activities.recordTransactionStatus, [
      { transactionId, status: 'PROCESSING', metadata: { by: 'retry' } },
    ]);
    expect(repeat.result).toBe(false);
    const still = await transaction(deps, transactionId);
    expect(still.status_history).toEqual(once.status_history);
    expect(still.updated_at).toBe(once.updated_at);

    const failed = await runActivity(activities.recordTransactionStatus, [
      { transactionId, status: 'FAILED', reason: 'file has no valid recipient' },
    ]);
    expect(failed.result).toBe(true);
    const final = await transaction(deps, transactionId);
    expect(final.status).toBe('FAILED');
    expect(final.reason).toBe('file has no valid recipient');
    expect(final.status_history.map((h) => h.status)).toEqual(['ACCEPT', 'PROCESSING', 'FAILED']);
  });

  it('refuses, for good, a move the stored status does not allow, and a transaction that does not exist', async () => {
    const { txn } = await campaign(deps, `email\nx-${uid()}@example.com\n`);
    const refused = await expectFailure(activities.recordTransactionStatus, [{ transactionId: txn.transaction_id, status: 'SENT' }]);
    expect(refused).toMatchObject({ type: 'StatusTransitionRefused', nonRetryable: true });
    expect(refused.message).toContain('ACCEPT does not allow SENT');
    expect((await transaction(deps, txn.transaction_id)).status_history.map((h) => h.status)).toEqual(['ACCEPT']);

    const transactionId = `txn-missing-${uid()}`;
    const missing = await expectFailure(activities.recordTransactionStatus, [{ transactionId, status: 'PROCESSING' }]);
    expect(missing.type).toBe('StatusTransitionRefused');
    expect(await deps.store.getTransaction(undefined, transactionId)).toBeUndefined();
  });
});
