// sendBatchChunk when SES says no: throttling fails the attempt (retryable) and the retry sends
// the rest once; a rejected recipient fails that message only; an account error is final.
// The real SES emulator is wrapped so chosen calls fail the way SES would.
import { afterAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { createActivities } from '../../activities';
import { SendError, type Messenger, type OutgoingEmail } from '../../src/adapters/ses';
import { header, sesInbox } from '../support/harness';
import { allMessages, campaign, expectFailure, runActivity, runAttempt, setupDeps, TENANTS, transaction, uid } from './fixtures';

const { config, deps, activities, close } = setupDeps();
afterAll(() => close());

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const infoFor = (attempt: number): Partial<Info> => ({
  activityId: 'b00001-0',
  attempt,
  workflowExecution: { workflowId: 'wf-send-failures', runId: `run-${uid()}` },
});

/** Activities whose SES calls go through `hook` first (throw there to fail a call). */
function withMessenger(
  hook: (email: OutgoingEmail, call: number) => Promise<void> | void,
  sendConcurrency = deps.settings.sendConcurrency,
) {
  const calls: { to: string; at: number }[] = [];
  const messenger: Messenger = {
    async send(email) {
      calls.push({ to: email.to, at: Date.now() });
      await hook(email, calls.length);
      return deps.messenger.send(email);
    },
  };
  return { calls, activities: createActivities({ ...deps, messenger, settings: { ...deps.settings, sendConcurrency } }) };
}

async function ingested(count: number) {
  const id = uid();
  const emails = Array.from({ length: count }, (_, i) => `m${i + 1}-${id}@example.com`);
  const c = await campaign(deps, `email\n${emails.join('\n')}\n`);
  await runActivity(activities.ingestRecipients, [{ ...c.input, batchSize: 100 }]);
  const input = {
    transactionId: c.txn.transaction_id,
    tenantId: TENANTS.a.tenantId,
    templateId: c.templateId,
    batchId: 'b00001',
    limit: 100,
    sendingGraceMs: 60_000,
  };
  return { emails, input, txnId: c.txn.transaction_id };
}

const mailsTo = async (transactionId: string) =>
  (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId).map((e) => e.destination.to[0]!);
const throttled = () => new SendError('throttled', 'TooManyRequestsException', 'Maximum sending rate exceeded.');

describe('sendBatchChunk when SES fails', () => {
  it('fails a throttled attempt retryably; the retry sends the rest once and the recount is exact', async () => {
    const { emails, input, txnId } = await ingested(3);
    const flaky = withMessenger((email) => {
      if (email.to === emails[1]) throw throttled();
    }, 1);

    const first = await runAttempt(flaky.activities.sendBatchChunk, [input], infoFor(1));
    expect(first.error).toMatchObject({ type: 'SesThrottled', nonRetryable: false });
    const mid = await allMessages(deps, txnId);
    // The throttled message is handed back as unsent; the one never reached stays CREATED.
    expect(mid.map((m) => m.status)).toEqual(['SENT', 'READY_TO_SEND', 'CREATED']);

    // The retry sends both; nothing is sent twice.
    const { result } = await runActivity(activities.sendBatchChunk, [{ ...input, sendingGraceMs: 0 }], infoFor(2));
    expect(result).toMatchObject({ sent: 2, failed: 0, suppressed: 0, skipped: 1, deferred: 0 });
    expect((await mailsTo(txnId)).sort()).toEqual([...emails].sort());
    expect((await allMessages(deps, txnId)).every((m) => m.status === 'SENT')).toBe(true);

    // The failed attempt never counted its one send; the batch tally and reconcile put it back.
    expect((await transaction(deps, txnId)).counts.sent).toBe(2);
    const { result: tally } = await runActivity(activities.tallyBatch, [
      { transactionId: txnId, batchId: 'b00001', phase: 'sent' as const },
    ]);
    expect(tally).toMatchObject({ total: 3, sent: 3, failed: 0, suppressed: 0, cancelled: 0 });
    await runActivity(activities.reconcileTransactionCounts, [{ transactionId: txnId, totals: tally, phase: 'sent' as const }]);
    expect((await transaction(deps, txnId)).counts.sent).toBe(3);
  });

  it('fails only a recipient SES rejects, with the SES reason', async () => {
    const { emails, input, txnId } = await ingested(3);
    const rejecting = withMessenger((email) => {
      if (email.to === emails[2]) throw new SendError('recipient', 'MessageRejected', 'Email address is not verified.');
    });

    const { result } = await runActivity(rejecting.activities.sendBatchChunk, [input], infoFor(1));

    expect(result).toMatchObject({ sent: 2, failed: 1 });
    const rejected = (await allMessages(deps, txnId)).find((m) => m.recipient_email === emails[2])!;
    expect(rejected.status).toBe('FAILED');
    expect(rejected.failure_reason).toBe('Email address is not verified.');
    expect(rejected.status_history.at(-1)!.metadata).toMatchObject({ code: 'MessageRejected' });
    expect((await mailsTo(txnId)).sort()).toEqual([emails[0], emails[1]].sort());
    expect((await transaction(deps, txnId)).counts).toMatchObject({ sent: 2, failed: 1 });
  });

  it('turns an account-level SES error into a non-retryable SesAccountError', async () => {
    const { input } = await ingested(1);
    const suspended = withMessenger(() => {
      throw new SendError('account', 'AccountSuspendedException', 'Account is suspended.');
    });
    const failure = await expectFailure(suspended.activities.sendBatchChunk, [input], infoFor(1));
    expect(failure.type).toBe('SesAccountError');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('AccountSuspendedException');
  });

  it('stops sending once an attempt has failed, so its retry cannot overlap it and mail twice', async () => {
    const { emails, input, txnId } = await ingested(12);
    // Attempt 1: the first SES call is throttled, every other call takes 150 ms.
    const slow = withMessenger(async (_email, call) => {
      if (call === 1) throw throttled();
      await sleep(150);
    }, 2);
    const first = await runAttempt(slow.activities.sendBatchChunk, [input], infoFor(1));
    const failedAt = Date.now();
    expect(first.error).toMatchObject({ type: 'SesThrottled' });

    // The retry starts soon after (a short backoff is all it takes against slow SES calls),
    // with the real grace period: what attempt 1 left SENDING is deferred, not resent.
    const retry = withMessenger(() => sleep(150));
    await runActivity(retry.activities.sendBatchChunk, [input], infoFor(2));
    await sleep(2500); // let anything attempt 1 left running finish

    const lateCalls = slow.calls.filter((c) => c.at > failedAt);
    expect
      .soft(
        lateCalls.map((c) => c.to),
        'SES calls made by attempt 1 after it had failed',
      )
      .toEqual([]);
    const mailed = await mailsTo(txnId);
    const twice = emails.filter((e) => mailed.filter((m) => m === e).length > 1);
    expect.soft(twice, 'recipients mailed more than once').toEqual([]);
  });
});
