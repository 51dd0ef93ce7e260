// Issue 13 item 6 against DynamoDB Local: an item is measured as DynamoDB measures it; a row
// too large for its message is a rejected row with a code, the rows beside it ingested; an item
// DynamoDB refuses (ValidationException) is never retried, on ingest or on a message write; and
// status_history stops growing at its cap.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { keys } from '../../src/adapters/dynamo/keys';
import { MESSAGE_HISTORY_CAP, TRANSACTION_HISTORY_CAP } from '../../src/adapters/dynamo/expressions';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { DYNAMODB_ITEM_LIMIT, itemSize, MAX_MESSAGE_ITEM_BYTES } from '../../src/domain/item-size';
import { MAX_ROW_BYTES } from '../../src/domain/recipient-csv';
import {
  allMessages,
  allRowErrors,
  campaign,
  expectFailure,
  runActivity,
  runAttempt,
  setupDeps,
  TENANTS,
  transaction,
  uid,
} from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

const at = () => new Date().toISOString();
const messageRecord = (transactionId: string, row: number, data: Record<string, string> = {}): MessageRecord => ({
  message_id: `b00001-r${String(row).padStart(9, '0')}`,
  batch_id: 'b00001',
  transaction_id: transactionId,
  tenant_id: TENANTS.a.tenantId,
  row,
  recipient_email: `m${row}-${uid()}@example.com`,
  placeholder_data: data,
  status: 'CREATED',
  status_history: [{ status: 'CREATED', timestamp: at() }],
  created_at: at(),
  updated_at: at(),
});
/** Writes the item as it is, past every check of the engine (an item from before items were measured). */
const putRaw = (item: Record<string, unknown>) => deps.messages.doc.send(new PutCommand({ TableName: deps.messages.table, Item: item }));
const reload = async (m: MessageRecord) => (await deps.messages.getMessage(m.transaction_id, m.batch_id, m.message_id))!;

describe('item size', () => {
  it('is what DynamoDB Local counts: a message item of exactly 400 KB is stored, one byte more is refused', async () => {
    const message = messageRecord(`txn-${uid()}`, 1, { note: '' });
    const base = itemSize(deps.messages.messageItem(message));
    const exact = deps.messages.messageItem({ ...message, placeholder_data: { note: 'x'.repeat(DYNAMODB_ITEM_LIMIT - base) } });
    expect(itemSize(exact)).toBe(DYNAMODB_ITEM_LIMIT);
    await putRaw(exact);
    const over = { ...exact, placeholder_data: { note: 'x'.repeat(DYNAMODB_ITEM_LIMIT - base + 1) } };
    await expect(putRaw(over)).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringMatching(/Item size/) });
  });
});

describe('ingest and oversized rows', () => {
  it('rejects the row whose column names and cells exceed the limit, with a code, and ingests the others', async () => {
    const id = uid();
    // 200 KiB of column names (stored in every message), then one row with 70 KiB of cells: 270 KiB stored.
    const names = Array.from({ length: 5 }, (_, i) => `col${i}_${'n'.repeat(40 * 1024)}`);
    const cell = 'v'.repeat(14 * 1024);
    const csv = [
      ['email', ...names].join(','),
      [`a-${id}@example.com`, 'A', '', '', '', ''].join(','),
      [`big-${id}@example.com`, cell, cell, cell, cell, cell].join(','),
      [`c-${id}@example.com`, 'C', 'c', '', '', ''].join(','),
    ].join('\n');
    const { txn, input } = await campaign(deps, csv);
    const { result, heartbeats } = await runActivity(activities.ingestRecipients, [input]);

    expect(result).toEqual({ totalMessages: 2, batchCount: 1, valid: 2, invalid: 1, suppressed: 0 });
    expect(heartbeats.at(-1)).toEqual({ row: 3, suppressed: 0 });
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages.map((m) => m.row)).toEqual([1, 3]);
    for (const m of messages) expect(itemSize(deps.messages.messageItem(m))).toBeLessThanOrEqual(MAX_MESSAGE_ITEM_BYTES);
    expect((await allRowErrors(deps, txn.transaction_id)).map((e) => [e.row, e.code, e.email])).toEqual([
      [2, 'ROW_TOO_LARGE', `big-${id}@example.com`],
    ]);
    expect((await transaction(deps, txn.transaction_id)).counts).toMatchObject({ invalid: 1 });
    expect(MAX_ROW_BYTES).toBeLessThan(MAX_MESSAGE_ITEM_BYTES);
  });

  it("fails the issue's file for good (HEADER_TOO_LARGE): 381 KB of column names fill every message on their own", async () => {
    const names = Array.from({ length: 381 }, (_, i) => `c${String(i).padStart(3, '0')}${'n'.repeat(996)}`);
    const csv = [
      ['email', ...names].join(','),
      [`a-${uid()}@example.com`, ...names.map((_, i) => (i < 30 ? 'x'.repeat(1000) : ''))].join(','),
    ].join('\n');
    const { input } = await campaign(deps, csv);
    const failure = await expectFailure(activities.ingestRecipients, [input]);
    expect(failure).toMatchObject({ type: 'InvalidRecipientFile', nonRetryable: true, details: [{ code: 'HEADER_TOO_LARGE' }] });
  });

  it('turns a message DynamoDB refuses (ValidationException) into a rejected row in one attempt; the rows around it are stored', async () => {
    const id = uid();
    const rows = Array.from({ length: 30 }, (_, i) => `r${i + 1}-${id}@example.com,N${i + 1}`);
    const { txn, input } = await campaign(deps, `email,name\n${rows.join('\n')}\n`);
    // Row 7's message grows past 400 KB between the engine's check and the write (as if the check were wrong).
    const inflating = Object.create(deps.writer) as typeof deps.writer;
    inflating.batchWriter = (concurrency) => {
      const real = deps.writer.batchWriter(concurrency);
      return {
        ...real,
        write: (items) =>
          real.write(items.map((item) => (item.row === 7 && item.message_id ? { ...item, pad: 'x'.repeat(DYNAMODB_ITEM_LIMIT) } : item))),
      };
    };
    const run = await runAttempt(createActivities({ ...deps, writer: inflating }).ingestRecipients, [{ ...input, batchSize: 10 }]);
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual({ totalMessages: 29, batchCount: 3, valid: 29, invalid: 1, suppressed: 0 });
    expect(run.heartbeats.at(-1)).toEqual({ row: 30, suppressed: 0, rejected: [7] });
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages.map((m) => m.row)).toEqual(rows.map((_, i) => i + 1).filter((r) => r !== 7));
    expect(await allRowErrors(deps, txn.transaction_id)).toEqual([
      expect.objectContaining({ row: 7, code: 'ITEM_TOO_LARGE', message: expect.stringContaining('Item size has exceeded') }),
    ]);
    // The batch row 7 was numbered into is one message short; the numbering of the rest is unchanged.
    expect((await deps.batches.listBatches(txn.transaction_id)).map((b) => [b.batch_id, b.message_count])).toEqual([
      ['b00001', 9],
      ['b00002', 10],
      ['b00003', 10],
    ]);
    expect((await transaction(deps, txn.transaction_id)).total_messages).toBe(29);

    // A retry resuming from that heartbeat keeps row 7 rejected and counts the same.
    const again = await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 10 }], {
      attempt: 2,
      heartbeatDetails: run.heartbeats.at(-1),
    });
    expect(again.result).toEqual(run.result);
    expect((await deps.batches.listBatches(txn.transaction_id)).map((b) => b.message_count)).toEqual([9, 10, 10]);
  });

  it('hands back an item DynamoDB refuses without retrying it, and stores the rest of its BatchWriteItem group', async () => {
    const transactionId = `txn-${uid()}`;
    const items = Array.from({ length: 25 }, (_, i) => deps.messages.messageItem(messageRecord(transactionId, i + 1)));
    items[12] = { ...items[12]!, pad: 'x'.repeat(DYNAMODB_ITEM_LIMIT) };
    const started = Date.now();
    const rejected = await deps.writer.writeAll(items);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(rejected.map((r) => [r.item.row, r.code])).toEqual([[13, 'ITEM_TOO_LARGE']]);
    const stored = (await deps.messages.pageMessages(transactionId, 'b00001', 100)).items;
    expect(stored.map((m) => m.row)).toEqual(items.map((_, i) => i + 1).filter((r) => r !== 13));
  });
});

describe('message writes at the item limit', () => {
  /** A message item of ~399 KB, as ingest could write before items were measured. */
  async function nearLimit(
    status: MessageRecord['status'] = 'CREATED',
    extra: Partial<MessageRecord> = {},
    transactionId = `txn-${uid()}`,
  ) {
    const message = { ...messageRecord(transactionId, 1, { note: '' }), status, ...extra };
    const base = itemSize(deps.messages.messageItem(message));
    const big = { ...message, placeholder_data: { note: 'x'.repeat(DYNAMODB_ITEM_LIMIT - base - 100) } };
    await putRaw(deps.messages.messageItem(big));
    return big;
  }

  it('fails a message that cannot take its SENDING mark (ITEM_TOO_LARGE) instead of retrying or sending it', async () => {
    const m = await nearLimit();
    const marked = await deps.messages.transitionMessage(m, 'SENDING', {
      from: ['CREATED'],
      set: { attempt_token: 'attempt-1' },
      metadata: { attempt: 'attempt-1', note: 'y'.repeat(500) },
    });
    expect(marked).toBe(false);
    const after = await reload(m);
    expect(after).toMatchObject({
      status: 'FAILED',
      failure_code: 'ITEM_TOO_LARGE',
      failure_reason: expect.stringContaining('ITEM_TOO_LARGE'),
    });
    // It had to shed its row data to take even the FAILED mark.
    expect(after.placeholder_data).toBeUndefined();
    expect(after.status_history).toEqual([
      expect.objectContaining({ status: 'FAILED', metadata: expect.objectContaining({ code: 'ITEM_TOO_LARGE', instead_of: 'SENDING' }) }),
    ]);
    // Settled: the send path skips it from now on.
    expect(await deps.messages.transitionMessage(m, 'SENDING', { from: ['CREATED'] })).toBe(false);
  });

  it('records SENT on a message SES took, compacting its history (and its row data if it must)', async () => {
    const m = await nearLimit('SENDING', { attempt_token: 'tok' });
    const sent = await deps.messages.transitionMessage(m, 'SENT', {
      from: ['SENDING'],
      token: 'tok',
      set: { ses_message_id: `ses-${uid()}`, sent_time: at(), attempt_detail: 'z'.repeat(5000) },
      metadata: { ses_message_id: 'x' },
    });
    expect(sent).toBe(true);
    const after = await reload(m);
    expect(after.status).toBe('SENT');
    expect(after.status_history).toHaveLength(1);
    expect(after.placeholder_data).toBeUndefined();
    expect((after as MessageRecord & { attempt_detail: string }).attempt_detail).toHaveLength(2048);
  });

  it('applies an SES event to a message at the limit, counter included', async () => {
    const { txn } = await campaign(deps, 'email\n');
    const m = await nearLimit('SENT', { ses_message_id: `ses-${uid()}` }, txn.transaction_id);
    const result = await deps.messages.applyEffect(
      { transactionId: m.transaction_id, batchId: m.batch_id, messageId: m.message_id, sesMessageId: m.ses_message_id! },
      {
        kind: 'delivery',
        at: at(),
        status: 'DELIVERED',
        flag: 'delivered_time',
        counter: 'delivered',
        outcome: true,
        fields: { smtp_response: '250 '.repeat(2000) },
      },
    );
    expect(result).toMatchObject({ found: true, applied: true });
    const after = (await reload(m)) as MessageRecord & { smtp_response: string };
    expect(after.status).toBe('DELIVERED');
    expect(after.smtp_response.length).toBe(1024);
    expect((await transaction(deps, txn.transaction_id)).counts.delivered).toBe(1);
  });
});

describe('status_history cap', () => {
  it(`keeps a message's first ${MESSAGE_HISTORY_CAP - 1} entries and its latest one, counting the entries dropped`, async () => {
    const m = messageRecord(`txn-${uid()}`, 1);
    await deps.writer.writeAll([deps.messages.messageItem(m)]);
    // 50 throttling cycles: SENDING, then back to READY_TO_SEND, 100 transitions.
    for (let i = 0; i < 50; i++) {
      expect(await deps.messages.transitionMessage(m, 'SENDING', { from: ['CREATED', 'READY_TO_SEND'], metadata: { cycle: i } })).toBe(
        true,
      );
      expect(await deps.messages.transitionMessage(m, 'READY_TO_SEND', { from: ['SENDING'], metadata: { cycle: i } })).toBe(true);
    }
    // A refused move still refuses at the cap.
    expect(await deps.messages.transitionMessage(m, 'SENT', { from: ['SENDING'] })).toBe(false);
    const after = await reload(m);
    expect(after.status).toBe('READY_TO_SEND');
    expect(after.status_history).toHaveLength(MESSAGE_HISTORY_CAP);
    expect(after.status_history[0]!.status).toBe('CREATED');
    expect(after.status_history[1]).toMatchObject({ status: 'SENDING', metadata: { cycle: 0 } });
    expect(after.status_history.at(-1)).toMatchObject({ status: 'READY_TO_SEND', metadata: { cycle: 49 } });
    expect(after.status_history_dropped).toBe(1 + 100 - MESSAGE_HISTORY_CAP);
    // An event at the cap lands in the last slot too.
    const applied = await deps.messages.applyEffect(
      { transactionId: m.transaction_id, batchId: m.batch_id, messageId: m.message_id, sesMessageId: '' },
      { kind: 'subscription', at: at(), flag: 'unsubscribed_time', outcome: false, fields: {} },
    );
    expect(applied.applied).toBe(true);
    const latest = await reload(m);
    expect(latest.status_history).toHaveLength(MESSAGE_HISTORY_CAP);
    expect(latest.status_history.at(-1)).toMatchObject({ event: 'SUBSCRIPTION' });
  });

  it(`keeps a transaction's history at ${TRANSACTION_HISTORY_CAP} entries through endless pause and resume`, async () => {
    const { txn } = await campaign(deps, 'email\n');
    const id = txn.transaction_id;
    for (const status of ['PROCESSING', 'READY_TO_SEND'] as const) expect(await deps.store.setTransactionStatus(id, status)).toBe(true);
    for (let i = 0; i < 60; i++) {
      expect(await deps.store.setTransactionStatus(id, 'PAUSED', { metadata: { i } })).toBe(true);
      expect(await deps.store.setTransactionStatus(id, 'READY_TO_SEND', { metadata: { i } })).toBe(true);
    }
    expect(await deps.store.setTransactionStatus(id, 'READY_TO_SEND')).toBe(false);
    const after = await transaction(deps, id);
    expect(after.status_history).toHaveLength(TRANSACTION_HISTORY_CAP);
    expect(after.status_history.at(-1)).toMatchObject({ status: 'READY_TO_SEND', metadata: { i: 59 } });
    expect(after.status_history_dropped).toBe(3 + 120 - TRANSACTION_HISTORY_CAP);
    expect(keys.transaction(id).PK).toContain(id);
  });
});
