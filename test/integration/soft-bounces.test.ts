// Issue 17, item 2 against DynamoDB Local: the message store's side of soft bounces. A soft bounce
// the policy retries leaves the message SOFT_BOUNCED (no outcome, no counter); a repeat of it is
// a duplicate; the retry supersedes the attempt (its late events change nothing); the last one is
// final BOUNCED, counted `soft_bounced` and never `bounced`. And, when configured, an address with
// N soft bounces within M days across campaigns is suppressed (BOUNCE_SOFT_REPEATED), each
// bounce counted once however often it is delivered.
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import type { SesEvent } from '../../src/domain/ses-event';
import { createActivities } from '../../activities';
import { SendError } from '../../src/adapters/ses';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import { createLogger } from '../../src/logging';
import { allMessages, campaign, expectFailure, runActivity, setupDeps, transaction, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

const log = createLogger({}, 'error', () => undefined);
const HOUR = 3_600_000;
const softBounce = { retryDelaysMs: [HOUR], finalStateDeadlineMs: 24 * HOUR };
const processorWith = (extra: Partial<Parameters<typeof createSesEventProcessor>[0]> = {}) =>
  createSesEventProcessor({
    messages: deps.messages,
    batches: deps.batches,
    suppressions: deps.suppressions,
    log,
    onOutcome: () => undefined,
    ...extra,
  });

/** A campaign to `emails` (one batch), every message SENT with an SES id, as the send path leaves them. */
async function sentTo(emails: string[]) {
  const { txn, input } = await campaign(deps, `email\n${emails.join('\n')}\n`);
  sendInputs.set(txn.transaction_id, {
    transactionId: input.transactionId,
    tenantId: input.tenantId,
    templateId: input.templateId,
    batchId: 'b00001',
    limit: 50,
    sendingGraceMs: 60_000,
  });
  await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 50 }]);
  for (const m of await allMessages(deps, txn.transaction_id)) {
    await deps.messages.transitionMessage(m, 'SENDING', { from: ['CREATED'], set: { attempt_token: 't' } });
    await deps.messages.transitionMessage(m, 'SENT', {
      from: ['SENDING'],
      token: 't',
      set: { ses_message_id: `ses-${m.message_id}-${uid()}`, sent_time: new Date().toISOString() },
    });
  }
  return { transactionId: txn.transaction_id, messages: await allMessages(deps, txn.transaction_id) };
}

/** A bounce of the message's attempt of `round` (a retry's email carries its round, as the send path tags it). */
const bounceOf = (m: MessageRecord, bounceType = 'Transient', round = 0): SesEvent => ({
  eventType: 'Bounce',
  mail: {
    messageId: m.ses_message_id!,
    timestamp: new Date().toISOString(),
    tags: {
      transaction_id: [m.transaction_id],
      batch_id: [m.batch_id],
      message_id: [m.message_id],
      ...(round > 0 ? { send_round: [String(round)] } : {}),
    },
  },
  bounce: { bounceType, bounceSubType: 'MailboxFull', timestamp: new Date().toISOString() },
});
const sendInputs = new Map<
  string,
  { transactionId: string; tenantId: string; templateId: string; batchId: string; limit: number; sendingGraceMs: number }
>();
/** Soft-bounces every message of the campaign, each retry due at once. */
async function softBounced(emails: string[]) {
  const sent = await sentTo(emails);
  const processor = processorWith({ softBounce: { ...softBounce, retryDelaysMs: [1, 1] } });
  for (const m of sent.messages) expect(await processor(bounceOf(m))).toBe('applied');
  await new Promise((r) => setTimeout(r, 5));
  return sent;
}
const tally = (transactionId: string, opts: { phase?: 'outcomes' | 'completed'; cancelled?: boolean; retriesStopped?: boolean } = {}) =>
  runActivity(activities.tallyBatch, [{ transactionId, batchId: 'b00001', phase: 'outcomes' as const, withRetries: true, ...opts }]).then(
    (r) => r.result,
  );
const reread = async (m: MessageRecord) =>
  (await deps.messages.getMessage(m.transaction_id, m.batch_id, m.message_id)) as MessageRecord & Record<string, unknown>;

describe('soft bounces in the message store', () => {
  it('retried: SOFT_BOUNCED without outcome or counter; then superseded; the last one final and counted apart', async () => {
    const { transactionId, messages } = await sentTo([`soft-${uid()}@example.com`]);
    const m = messages[0]!;
    const processor = processorWith({ softBounce });
    const first = bounceOf(m);
    expect(await processor(first)).toBe('applied');
    // Delivered again (SNS retrying): the policy now has no retry left, but this is the same bounce.
    expect(await processor(first)).toBe('duplicate');
    expect(await processor(structuredClone(first))).toBe('duplicate');
    const held = await reread(m);
    expect(held).toMatchObject({ status: 'SOFT_BOUNCED', soft_bounce_retries: 1, bounce_class: 'soft' });
    expect(Date.parse(held.retry_at!) - Date.now()).toBeGreaterThan(HOUR - 60_000);
    expect(held.outcome_time).toBeUndefined();
    expect((await transaction(deps, transactionId)).counts).toMatchObject({ bounced: 0, soft_bounced: 0 });

    // The retry, as the send activity marks it: a new attempt, the old one superseded.
    const retry = await reread(m);
    expect(
      await deps.messages.transitionMessage(retry, 'SENDING', {
        from: ['SOFT_BOUNCED'],
        expect: { retry_at: retry.retry_at, soft_bounce_retries: 1 },
        set: { attempt_token: 'r1', previous_ses_message_ids: [m.ses_message_id], first_sent_time: m.sent_time },
        remove: ['send_event_time', 'soft_bounce_time', 'delivery_delay_time', 'retry_at'],
      }),
    ).toBe(true);
    // The same round cannot be taken twice.
    expect(await deps.messages.transitionMessage(retry, 'SENDING', { from: ['SOFT_BOUNCED'], expect: { retry_at: retry.retry_at } })).toBe(
      false,
    );
    await deps.messages.transitionMessage(retry, 'SENT', { from: ['SENDING'], token: 'r1', set: { ses_message_id: `ses-retry-${uid()}` } });
    const second = await reread(m);
    expect(second.retry_at).toBeUndefined();

    // The first attempt's bounce, delivered late: superseded, nothing changes.
    expect(await processor(first)).toBe('duplicate');
    expect((await reread(m)).status).toBe('SENT');
    // A complaint about the first send, late: the message is the retry's, but the person's word
    // holds whichever send it was about: the address is suppressed.
    const complaint: SesEvent = {
      eventType: 'Complaint',
      mail: first.mail,
      complaint: { timestamp: new Date().toISOString(), complaintFeedbackType: 'abuse' },
    };
    expect(await processor(complaint)).toBe('duplicate');
    expect((await reread(m)).status).toBe('SENT');
    expect(await deps.suppressions.getSuppression(m.tenant_id, m.recipient_email)).toMatchObject({ reason: 'COMPLAINT' });

    // The retry soft-bounces too: no retry left, final.
    const last = bounceOf(second, 'Transient', 1);
    expect(await processor(last)).toBe('applied');
    const final = await reread(m);
    expect(final).toMatchObject({ status: 'BOUNCED', bounce_class: 'soft', soft_bounce_final: 'no_retries_left' });
    expect(final.soft_bounced_time).toBeDefined();
    expect(final.bounced_time).toBeUndefined();
    expect((await transaction(deps, transactionId)).counts).toMatchObject({ bounced: 0, soft_bounced: 1 });
    expect(await processor(last)).toBe('duplicate');
    expect((await transaction(deps, transactionId)).counts).toMatchObject({ soft_bounced: 1 });
  });

  it('a retry that fails outright ends on the soft bounce before it (BOUNCED, soft), not FAILED: SES took the first send', async () => {
    const { transactionId, messages } = await softBounced([`refused-${uid()}@example.com`]);
    // SES refuses the address on the retry (as MessageRejected would).
    const refusing = createActivities({
      ...deps,
      messenger: {
        send: () => Promise.reject(new SendError('recipient', 'MessageRejected', 'Email address is not verified.')),
      },
    });
    const input = { ...sendInputs.get(transactionId)!, softBounceRetry: true };
    await runActivity(refusing.sendBatchChunk, [input], { activityId: `retry-${uid()}` });
    const m = await reread(messages[0]!);
    expect(m).toMatchObject({ status: 'BOUNCED', soft_bounce_final: 'retry_failed', failure_reason: 'Email address is not verified.' });
    expect(m.soft_bounced_time).toBeDefined();
    expect(m.retry_at).toBeUndefined();
    expect(await tally(transactionId)).toMatchObject({ sent: 1, failed: 0, soft_bounced: 1, pending: 0 });
  });

  it('a cancelled campaign retries nothing: a due retry ends on its bounce, a soft bounce after the cancel is final at once', async () => {
    const { transactionId, messages } = await softBounced([`cancel-${uid()}@example.com`]);
    await deps.store.setTransactionFields(transactionId, { status: 'CANCELLED' });
    let calls = 0;
    const counting = createActivities({ ...deps, messenger: { send: (e, s) => (calls++, deps.messenger.send(e, s)) } });
    await runActivity(counting.sendBatchChunk, [{ ...sendInputs.get(transactionId)!, softBounceRetry: true }], {
      activityId: `c-${uid()}`,
    });
    expect(calls).toBe(0);
    expect(await reread(messages[0]!)).toMatchObject({ status: 'BOUNCED', soft_bounce_final: 'cancelled' });
    // A soft bounce that arrives after the cancel: no retry is scheduled (nothing would send it).
    const late = await sentTo([`late-${uid()}@example.com`]);
    await deps.store.setTransactionFields(late.transactionId, { status: 'CANCELLED' });
    expect(await processorWith({ softBounce, store: deps.store })(bounceOf(late.messages[0]!))).toBe('applied');
    expect(await reread(late.messages[0]!)).toMatchObject({ status: 'BOUNCED', soft_bounce_final: 'cancelled' });
  });

  it('a retry SES refuses at the account level goes back to SOFT_BOUNCED (not left SENDING), for the recount to end', async () => {
    const { transactionId, messages } = await softBounced([`account-${uid()}@example.com`]);
    const refusing = createActivities({
      ...deps,
      messenger: { send: () => Promise.reject(new SendError('account', 'AccountSendingPausedException', 'Sending paused.')) },
    });
    const failure = await expectFailure(refusing.sendBatchChunk, [{ ...sendInputs.get(transactionId)!, softBounceRetry: true }], {
      activityId: `a-${uid()}`,
    });
    expect(failure.type).toBe('SesAccountError');
    expect((await reread(messages[0]!)).status).toBe('SOFT_BOUNCED');
    expect(await tally(transactionId, { retriesStopped: true })).toMatchObject({ pending: 0, soft_bounced: 1 });
    expect(await reread(messages[0]!)).toMatchObject({ status: 'BOUNCED', soft_bounce_final: 'retries_stopped' });
  });

  it('a soft bounce whose retry will not come ends on its bounce: at a cancel, when retries stop, past the deadline', async () => {
    for (const [opts, final] of [
      [{ cancelled: true }, 'cancelled'],
      [{ retriesStopped: true }, 'retries_stopped'],
      [{ phase: 'completed' as const }, 'past_deadline'],
    ] as const) {
      const { transactionId, messages } = await softBounced([`left-${uid()}@example.com`, `left-${uid()}@example.com`]);
      // While retries go on, a recount leaves them waiting (pending, with the retry time).
      expect(await tally(transactionId)).toMatchObject({ pending: 2, soft_bounced: 0, nextRetryAt: expect.any(String) });
      const counted = await tally(transactionId, opts);
      expect(counted, final).toMatchObject({ sent: 2, pending: 0, soft_bounced: 2 });
      expect(counted.nextRetryAt).toBeUndefined();
      for (const m of messages) expect(await reread(m), final).toMatchObject({ status: 'BOUNCED', soft_bounce_final: final });
    }
  });

  it('without retries a soft bounce is final at once; a hard one counts as bounced and suppresses', async () => {
    const { transactionId, messages } = await sentTo([`a-${uid()}@example.com`, `b-${uid()}@example.com`]);
    const processor = processorWith({ softBounce: { ...softBounce, retryDelaysMs: [] } });
    expect(await processor(bounceOf(messages[0]!))).toBe('applied');
    expect(await processor(bounceOf(messages[1]!, 'Permanent'))).toBe('applied');
    expect((await reread(messages[0]!)).status).toBe('BOUNCED');
    expect((await transaction(deps, transactionId)).counts).toMatchObject({ bounced: 1, soft_bounced: 1 });
    expect(await deps.suppressions.getSuppression(messages[0]!.tenant_id, messages[0]!.recipient_email)).toBeUndefined();
    expect(await deps.suppressions.getSuppression(messages[1]!.tenant_id, messages[1]!.recipient_email)).toMatchObject({
      reason: 'BOUNCE_PERMANENT',
    });
  });

  it('suppresses an address with N soft bounces in M days across campaigns, counting each bounce once', async () => {
    const email = `repeat-${uid()}@example.com`;
    const rule = { after: 3, windowMs: 30 * 24 * HOUR, store: deps.suppressions };
    const processor = processorWith({ softBounceSuppression: rule });
    const bounces: SesEvent[] = [];
    let tenantId = '';
    for (let i = 0; i < 2; i += 1) {
      const { messages } = await sentTo([email]);
      tenantId = messages[0]!.tenant_id;
      bounces.push(bounceOf(messages[0]!));
      expect(await processor(bounces[i]!)).toBe('applied');
    }
    // The second bounce delivered three more times: still two bounces.
    for (let i = 0; i < 3; i += 1) expect(await processor(structuredClone(bounces[1]!))).toBe('duplicate');
    expect(await deps.suppressions.getSuppression(tenantId, email)).toBeUndefined();
    const { messages } = await sentTo([email]);
    expect(await processor(bounceOf(messages[0]!))).toBe('applied');
    expect(await deps.suppressions.getSuppression(messages[0]!.tenant_id, email)).toMatchObject({
      reason: 'BOUNCE_SOFT_REPEATED',
      source: { event: 'bounce', message_id: messages[0]!.message_id },
    });
    // Off (the default): never.
    const other = `other-${uid()}@example.com`;
    for (let i = 0; i < 4; i += 1) {
      const sent = await sentTo([other]);
      expect(await processorWith()(bounceOf(sent.messages[0]!))).toBe('applied');
    }
    expect(await deps.suppressions.getSuppression(messages[0]!.tenant_id, other)).toBeUndefined();
  });
});
