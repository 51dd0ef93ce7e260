// Issue 13 item 7 against DynamoDB Local: an SES event's flag on its message and its counter on
// the transaction are one transaction, so a crash at any point (or a repeat, or a race) leaves
// the counters exact; the reconciles at SENT and COMPLETED never wipe a failure an event counted
// after the recount; and COMPLETED writes a reconciliation that balances, or says why not.
import { afterAll, describe, expect, it } from 'vitest';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createActivities } from '../../activities';
import { COUNTER_SHARDS, counterShardOf, counterShardSk } from '../../src/adapters/dynamo/counter-shards';
import { keys } from '../../src/adapters/dynamo/keys';
import { MessageTable } from '../../src/adapters/dynamo/messages';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { addTally, emptyTally, type BatchTally } from '../../src/contracts';
import type { SesEvent } from '../../src/domain/ses-event';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import { createLogger } from '../../src/logging';
import { allMessages, campaign, runActivity, setupDeps, transaction, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

const log = createLogger({}, 'error', () => undefined);
const processorWith = (messages: MessageTable = deps.messages) =>
  createSesEventProcessor({ messages, batches: deps.batches, suppressions: deps.suppressions, log, onOutcome: () => undefined });
const processor = processorWith();

/** A campaign of `n` ingested rows (one batch), every message marked SENT with an SES id, as the send path leaves them. */
async function sentCampaign(n: number) {
  const id = uid();
  const rows = Array.from({ length: n }, (_, i) => `r${i + 1}-${id}@example.com`);
  const { txn, input } = await campaign(deps, `email\n${rows.join('\n')}\n`);
  await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 50 }]);
  const messages = await allMessages(deps, txn.transaction_id);
  for (const m of messages) {
    await deps.messages.transitionMessage(m, 'SENDING', { from: ['CREATED'], set: { attempt_token: 't' } });
    await deps.messages.transitionMessage(m, 'SENT', {
      from: ['SENDING'],
      token: 't',
      set: { ses_message_id: `ses-${m.message_id}-${id}` },
    });
  }
  return { transactionId: txn.transaction_id, messages: await allMessages(deps, txn.transaction_id) };
}

const event = (m: MessageRecord, eventType: string, extra: Record<string, unknown> = {}): SesEvent => ({
  eventType,
  mail: {
    messageId: m.ses_message_id!,
    tags: { transaction_id: [m.transaction_id], batch_id: [m.batch_id], message_id: [m.message_id] },
  },
  ...extra,
});
const delivery = (m: MessageRecord) => event(m, 'Delivery', { delivery: { timestamp: new Date().toISOString() } });
const reject = (m: MessageRecord) => event(m, 'Reject', { reject: { reason: 'Bad content' } });
const counts = async (transactionId: string) => (await transaction(deps, transactionId)).counts;
const shardKey = (transactionId: string, m: MessageRecord) => ({
  PK: keys.transaction(transactionId).PK,
  SK: counterShardSk(counterShardOf(m.message_id)),
});
/** Takes one from `name` on the counter shard `m` counts on, as a lost ADD would leave it. */
const loseShardCounter = (transactionId: string, m: MessageRecord, name: string) =>
  deps.messages.doc.send(
    new UpdateCommand({
      TableName: deps.messages.table,
      Key: shardKey(transactionId, m),
      UpdateExpression: 'ADD #n :minus',
      ExpressionAttributeNames: { '#n': name },
      ExpressionAttributeValues: { ':minus': -1 },
    }),
  );

/** A MessageTable whose TransactWriteItems goes through `intercept` (to fail it, or lose its answer). */
function interceptedMessages(
  intercept: (command: { input: { TransactItems?: unknown[] } }, send: () => Promise<unknown>) => Promise<unknown>,
) {
  const real = deps.messages.doc;
  const doc = {
    send: (command: { constructor: { name: string }; input: { TransactItems?: unknown[] } }) =>
      command.constructor.name === 'TransactWriteCommand'
        ? intercept(command, () => real.send(command as never))
        : real.send(command as never),
  } as unknown as DynamoDBDocumentClient;
  return new MessageTable(doc, deps.messages.table);
}

describe('an event and its counter are one write', () => {
  it('when the counter part fails, nothing of the event is written; its redelivery counts it once', async () => {
    const { transactionId, messages } = await sentCampaign(2);
    const m = messages[0]!;
    // The transaction's second write (the counter) is refused: the flag must not land without it.
    const failing = interceptedMessages((command, send) => {
      const items = command.input.TransactItems as { Update: Record<string, unknown> }[];
      items[1]!.Update.ConditionExpression = 'attribute_exists(PK) AND attribute_not_exists(PK)'; // never holds
      return send();
    });
    await expect(processorWith(failing)(delivery(m))).rejects.toMatchObject({ name: 'TransactionCanceledException' });
    const untouched = (await deps.messages.getMessage(m.transaction_id, m.batch_id, m.message_id)) as MessageRecord &
      Record<string, unknown>;
    expect(untouched.status).toBe('SENT');
    expect(untouched.delivered_time).toBeUndefined();
    expect((await counts(transactionId)).delivered).toBe(0);

    expect(await processor(delivery(m))).toBe('applied');
    expect(await processor(delivery(m))).toBe('duplicate');
    expect((await counts(transactionId)).delivered).toBe(1);
  });

  it('when the answer is lost after the write (the process dies), the redelivery is a duplicate and the count stays exact', async () => {
    const { transactionId, messages } = await sentCampaign(1);
    const m = messages[0]!;
    const dying = interceptedMessages(async (_command, send) => {
      await send();
      throw new Error('socket hang up');
    });
    await expect(processorWith(dying)(delivery(m))).rejects.toThrow('socket hang up');
    expect((await counts(transactionId)).delivered).toBe(1);
    expect(await processor(delivery(m))).toBe('duplicate');
    expect((await counts(transactionId)).delivered).toBe(1);
  });

  it('counts each event once when copies and other events race on the same message', async () => {
    const { transactionId, messages } = await sentCampaign(3);
    const open = (m: MessageRecord) => event(m, 'Open', { open: { timestamp: new Date().toISOString() } });
    const posts = messages.flatMap((m) => [...Array.from({ length: 6 }, () => delivery(m)), ...Array.from({ length: 6 }, () => open(m))]);
    const outcomes = await Promise.all(posts.map((p) => processor(p)));
    expect(outcomes.filter((o) => o === 'applied')).toHaveLength(6);
    expect(await counts(transactionId)).toMatchObject({ delivered: 3, opened: 3 });
    for (const m of await allMessages(deps, transactionId)) expect(m.status).toBe('OPENED');
  });
});

describe('counters spread over shards (issue 18, item 2)', () => {
  it("events never write the campaign's record: each adds to its message's shard, and reads sum them", async () => {
    const { transactionId, messages: all } = await sentCampaign(65);
    const messages = all.slice(0, 64);
    const before = await deps.messages.doc.send(new GetCommand({ TableName: deps.messages.table, Key: keys.transaction(transactionId) }));
    for (const m of messages) expect(await processor(delivery(m))).toBe('applied');
    expect(await processor(reject(all[64]!))).toBe('applied');
    const after = await deps.messages.doc.send(new GetCommand({ TableName: deps.messages.table, Key: keys.transaction(transactionId) }));
    // The record is as the send path left it: 65 events wrote none of it.
    expect(after.Item).toEqual(before.Item);
    const perShard = new Map<string, number>();
    for (const m of messages) {
      const sk = shardKey(transactionId, m).SK;
      perShard.set(sk, (perShard.get(sk) ?? 0) + 1);
    }
    for (const [sk, n] of perShard) {
      const shard = await deps.messages.doc.send(
        new GetCommand({ TableName: deps.messages.table, Key: { PK: keys.transaction(transactionId).PK, SK: sk } }),
      );
      expect(shard.Item?.delivered).toBe(n);
    }
    // 64 messages over 256 shards: spread, no shard with more than a few.
    expect(perShard.size).toBeGreaterThan(50);
    expect(Math.max(...perShard.values())).toBeLessThanOrEqual(4);
    expect(COUNTER_SHARDS).toBe(256);
    // What the status API reads: the record's counts plus the shards'; the Reject moved one from sent to failed.
    expect(await counts(transactionId)).toMatchObject({ delivered: 64, failed: 1 });
  });
});

describe('reconciles never wipe an event counted after the recount', () => {
  it('a Reject between the recount and the reconcile, at SENT and at COMPLETED, stays counted; the books balance', async () => {
    const { transactionId, messages } = await sentCampaign(4);
    const [m1, m2, m3, m4] = messages as [MessageRecord, MessageRecord, MessageRecord, MessageRecord];
    // The send path's live count, as sendBatchChunk leaves it.
    await deps.store.updateCounts(transactionId, { sent: 4 });
    const sentTally = (await runActivity(activities.tallyBatch, [{ transactionId, batchId: 'b00001', phase: 'sent' as const }])).result;
    expect(sentTally).toMatchObject({ total: 4, sent: 4, failed: 0, rejected: 0 });

    // Between the batch's recount and the SENT reconcile, SES rejects m2.
    expect(await processor(reject(m2))).toBe('applied');
    // Live, the Reject moved m2 from sent to failed (its shard's failure comes off the record's sent).
    expect(await counts(transactionId)).toMatchObject({ sent: 3, failed: 1 });
    const atSent = await runActivity(activities.reconcileTransactionCounts, [{ transactionId, totals: sentTally, phase: 'sent' as const }]);
    // The recount saw m2 sent; the reconcile keeps the Reject that came after it (before the fix: sent 4, failed 0).
    expect(atSent.result).toEqual({ sent: 3, failed: 1, suppressed: 0, cancelled: 0 });

    // Outcomes come in; the batch completes and recounts.
    for (const m of [m1, m4]) expect(await processor(delivery(m))).toBe('applied');
    const finalTally = (await runActivity(activities.tallyBatch, [{ transactionId, batchId: 'b00001', phase: 'completed' as const }]))
      .result;
    expect(finalTally).toMatchObject({ sent: 3, failed: 1, rejected: 1, delivered: 2, outcome_delivered: 2, outcome_unknown: 1 });

    // m3's Reject arrives late, between the final recount and the COMPLETED reconcile.
    expect(await processor(reject(m3))).toBe('applied');
    const totals = emptyTally();
    addTally(totals, finalTally);
    const atCompleted = await runActivity(activities.reconcileTransactionCounts, [{ transactionId, totals, phase: 'completed' as const }]);
    expect(atCompleted.result).toEqual({ sent: 2, failed: 2, suppressed: 0, cancelled: 0, delivered: 2, bounced: 0, complained: 0 });

    const txn = await transaction(deps, transactionId);
    // The failures are counted on the counter shards, not in the record's event_failed.
    expect(txn.event_failed ?? 0).toBe(0);
    expect(txn.reconciliation).toMatchObject({
      balanced: true,
      valid_recipients: 4,
      sent: 3,
      failed: 1,
      pending: 0,
      delivered: 2,
      unknown: 1,
      mismatches: [],
    });
    // Repeating the reconcile (a retried activity) changes nothing.
    await runActivity(activities.reconcileTransactionCounts, [{ transactionId, totals, phase: 'completed' as const }]);
    expect((await transaction(deps, transactionId)).counts).toEqual(txn.counts);
  });

  it('repairs counters that drifted and logs an error with the campaign id when the books do not balance', async () => {
    const { transactionId, messages } = await sentCampaign(3);
    for (const m of messages) await processor(delivery(m));
    // Counters gone wrong (as a lost write of an older engine would leave them): the record's,
    // and a Delivery's ADD lost from its shard.
    await deps.store.updateCounts(transactionId, { sent: 99, failed: 7 }, 'set');
    await loseShardCounter(transactionId, messages[0]!, 'delivered');
    expect(await counts(transactionId)).toMatchObject({ delivered: 2 });
    const tally = (await runActivity(activities.tallyBatch, [{ transactionId, batchId: 'b00001', phase: 'completed' as const }])).result;
    const lines: Record<string, unknown>[] = [];
    const capture = createLogger({}, 'info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const reconcileWith = createActivities({ ...deps, log: capture }).reconcileTransactionCounts;

    await runActivity(reconcileWith, [{ transactionId, totals: tally, phase: 'completed' as const }]);
    expect(await counts(transactionId)).toMatchObject({ sent: 3, failed: 0, delivered: 3 });
    expect(lines.find((l) => l.msg === 'campaign reconciled')).toMatchObject({ transaction_id: transactionId, balanced: true });

    // A batch missing from the sum: not balanced, said why, logged as an error.
    const missing: BatchTally = { ...tally, total: 2, sent: 2, delivered: 2, outcome_delivered: 2, batches: 1 };
    await deps.store.setTransactionFields(transactionId, { batch_count: 2 });
    await runActivity(reconcileWith, [{ transactionId, totals: missing, phase: 'completed' as const }]);
    const reconciliation = (await transaction(deps, transactionId)).reconciliation!;
    expect(reconciliation.balanced).toBe(false);
    expect(reconciliation.mismatches).toEqual([
      '1 of 2 batches were counted',
      'valid recipients 3 ≠ sent 2 + failed 0 + suppressed 0 + cancelled 0 + pending 0 = 2',
    ]);
    expect(lines.find((l) => l.level === 'error')).toMatchObject({
      msg: 'campaign does not reconcile',
      transaction_id: transactionId,
      balanced: false,
    });
  });
});

describe('a Send event is written without a read first (issue 18, item 3)', () => {
  /** A MessageTable over the real client that counts the requests it sends, by command. */
  function countingMessages() {
    const real = deps.messages.doc;
    const sent: string[] = [];
    const doc = {
      send: (command: { constructor: { name: string } }) => {
        sent.push(command.constructor.name);
        return real.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    return { messages: new MessageTable(doc, deps.messages.table), sent };
  }
  const send = (m: MessageRecord, sesMessageId = m.ses_message_id!) => event({ ...m, ses_message_id: sesMessageId }, 'Send');
  const stored = async (m: MessageRecord) =>
    (await deps.messages.getMessage(m.transaction_id, m.batch_id, m.message_id)) as MessageRecord & Record<string, unknown>;

  it('takes one request for a message its sender recorded SENT, and one for its repeat, which changes nothing', async () => {
    const { messages } = await sentCampaign(1);
    const m = messages[0]!;
    const { messages: table, sent } = countingMessages();
    expect(await processorWith(table)(send(m))).toBe('applied');
    expect(sent).toEqual(['UpdateCommand']);
    const after = await stored(m);
    expect(after.status).toBe('SENT');
    expect(after.send_event_time).toBeDefined();
    expect(after.ses_message_id).toBe(m.ses_message_id);
    expect(after.status_history.at(-1)).toMatchObject({ event: 'SEND' });

    sent.length = 0;
    expect(await processorWith(table)(send(m))).toBe('duplicate');
    expect(sent).toEqual(['UpdateCommand']);
    expect((await stored(m)).status_history).toHaveLength(after.status_history.length);
  });

  it('settles a message still SENDING (the event beat the SENT write) with its SES id, deciding from the item its condition saw', async () => {
    const id = uid();
    const { txn, input } = await campaign(deps, `email\nr1-${id}@example.com\n`);
    await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 50 }]);
    const [m] = await allMessages(deps, txn.transaction_id);
    await deps.messages.transitionMessage(m!, 'SENDING', { from: ['CREATED'], set: { attempt_token: 't' } });
    const { messages: table, sent } = countingMessages();
    expect(await processorWith(table)(send(m!, `ses-${id}`))).toBe('applied');
    // The guess (SENT) failed on its condition; the write from the item it saw, no read.
    expect(sent).toEqual(['UpdateCommand', 'UpdateCommand']);
    const after = await stored(m!);
    expect(after.status).toBe('SENT');
    expect(after.ses_message_id).toBe(`ses-${id}`);
    expect(after.sent_time).toBeDefined();
  });

  it('changes nothing of a message a soft-bounce retry took past the event’s round, and finds no message that is not there', async () => {
    const { messages } = await sentCampaign(1);
    const m = messages[0]!;
    await deps.messages.doc.send(
      new UpdateCommand({
        TableName: deps.messages.table,
        Key: keys.message(m.transaction_id, m.batch_id, m.message_id),
        UpdateExpression: 'SET soft_bounce_retries = :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const { messages: table } = countingMessages();
    expect(await processorWith(table)(send(m))).toBe('duplicate');
    expect((await stored(m)).send_event_time).toBeUndefined();
    expect(await processorWith(table)(send({ ...m, message_id: `${m.message_id}-missing` }))).toBe('unknown_message');
  });
});
