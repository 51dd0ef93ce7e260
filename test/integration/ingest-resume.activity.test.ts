// ingestRecipients across attempts: a retry resumes from the heartbeated row (earlier rows are
// re-read for duplicates and counts but not rewritten), and a full re-run changes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { allMessages, allRowErrors, campaign, runActivity, runAttempt, setupDeps, suppress, transaction, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

const comparable = (m: MessageRecord) => ({
  message_id: m.message_id,
  batch_id: m.batch_id,
  row: m.row,
  recipient_email: m.recipient_email,
  status: m.status,
  placeholder_data: m.placeholder_data,
  history: m.status_history.map((h) => h.status),
});

describe('ingestRecipients resume and idempotency', () => {
  it('with a heartbeated checkpoint writes only the rows after it, but counts and batches cover the whole file', async () => {
    const id = uid();
    const email = (n: number) => `r${n}-${id}@example.com`;
    const blocked = `blocked-${id}@example.com`;
    await suppress(deps, blocked);
    const rows = [1, 2, 'nope', 4, 5, 6, 7, 8, 'still-nope', 10, 11, 12].map((r) => (typeof r === 'number' ? email(r) : r));
    rows.push(blocked); // row 13
    const { txn, input } = await campaign(deps, `email\n${rows.join('\n')}\n`);

    const { result, heartbeats } = await runActivity(activities.ingestRecipients, [input], {
      attempt: 2,
      heartbeatDetails: { row: 7, suppressed: 0 },
    });

    // The whole file is counted: 11 accepted rows (one suppressed), 2 rejected, 3 batches of ≤ 5.
    expect(result).toEqual({ totalMessages: 11, batchCount: 3, valid: 10, invalid: 2, suppressed: 1 });
    const batches = await deps.batches.listBatches(txn.transaction_id);
    expect(batches.map((b) => [b.batch_id, b.message_count, b.first_row, b.last_row])).toEqual([
      ['b00001', 5, 1, 6],
      ['b00002', 5, 7, 12],
      ['b00003', 1, 13, 13],
    ]);
    // Only rows after the checkpoint are written (row 7 was written by the earlier attempt).
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages.map((m) => [m.row, m.batch_id, m.recipient_email, m.status])).toEqual([
      [8, 'b00002', email(8), 'CREATED'],
      [10, 'b00002', email(10), 'CREATED'],
      [11, 'b00002', email(11), 'CREATED'],
      [12, 'b00002', email(12), 'CREATED'],
      [13, 'b00003', blocked, 'SUPPRESSED'],
    ]);
    expect((await allRowErrors(deps, txn.transaction_id)).map((e) => [e.row, e.code])).toEqual([[9, 'INVALID_EMAIL']]);
    expect(heartbeats.at(-1)).toEqual({ row: 13, suppressed: 1 });

    const after = await transaction(deps, txn.transaction_id);
    expect(after.total_messages).toBe(11);
    expect(after.batch_count).toBe(3);
    expect(after.counts).toMatchObject({ invalid: 2, suppressed: 1 });
  });

  it('resumes an attempt that died mid-file from its last heartbeat: every row written once, counts exact', async () => {
    const id = uid();
    const blocked = `blocked-${id}@example.com`;
    await suppress(deps, blocked);
    const rows = Array.from({ length: 1200 }, (_, i) => (i === 49 ? blocked : i === 649 ? 'broken@' : `r${i + 1}-${id}@example.com`));
    const { txn, input } = await campaign(deps, `email\n${rows.join('\n')}\n`);

    // Attempt 1: the second DynamoDB flush (rows 501-1000) fails, as if the worker died there.
    const flaky = Object.create(deps.writer) as typeof deps.writer;
    flaky.batchWriter = (concurrency) => {
      const real = deps.writer.batchWriter(concurrency);
      return {
        ...real,
        write: async (items) => {
          if (items.some((item) => item.row === 501)) throw new Error('connection reset');
          return real.write(items);
        },
      };
    };
    const attempt1 = await runAttempt(createActivities({ ...deps, writer: flaky }).ingestRecipients, [{ ...input, batchSize: 500 }]);
    expect((attempt1.error as Error).message).toBe('connection reset');
    expect(attempt1.heartbeats).toEqual([{ row: 500, suppressed: 1 }]);
    expect((await deps.messages.pageMessages(txn.transaction_id, 'b00001', 1000)).items).toHaveLength(500);
    // Flushes overlap: rows after the failed one (1001 on) may already be stored; none of 501-1000 is.
    const batch2 = (await deps.messages.pageMessages(txn.transaction_id, 'b00002', 1000)).items;
    expect(batch2.filter((m) => m.row <= 1000)).toHaveLength(0);

    // Attempt 2 gets the last heartbeat of attempt 1, as the server would hand it over.
    const { result } = await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 500 }], {
      attempt: 2,
      heartbeatDetails: attempt1.heartbeats.at(-1),
    });
    expect(result).toEqual({ totalMessages: 1199, batchCount: 3, valid: 1198, invalid: 1, suppressed: 1 });
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages).toHaveLength(1199);
    expect(new Set(messages.map((m) => m.message_id)).size).toBe(1199);
    expect(messages.filter((m) => m.status === 'SUPPRESSED').map((m) => [m.row, m.recipient_email])).toEqual([[50, blocked]]);
    expect((await allRowErrors(deps, txn.transaction_id)).map((e) => [e.row, e.code])).toEqual([[650, 'INVALID_EMAIL']]);
    expect((await transaction(deps, txn.transaction_id)).counts).toMatchObject({ invalid: 1, suppressed: 1 });
  });

  it('run twice on the same transaction gives the same messages, batches, row errors and counts', async () => {
    const id = uid();
    const blocked = `blocked-${id}@example.com`;
    await suppress(deps, blocked);
    const csv = ['email,first_name', `a-${id}@example.com,A`, 'bad,B', `A-${id}@EXAMPLE.com,Dup`, blocked + ',S']
      .concat(Array.from({ length: 8 }, (_, i) => `n${i}-${id}@example.com,N${i}`))
      .join('\n');
    const { txn, input } = await campaign(deps, csv, { subject: 'Hi {{ first_name }}', html: '<p>Hi</p>' });

    const first = await runActivity(activities.ingestRecipients, [input]);
    const snapshot = async () => ({
      messages: (await allMessages(deps, txn.transaction_id)).map(comparable),
      batches: await deps.batches.listBatches(txn.transaction_id),
      errors: await allRowErrors(deps, txn.transaction_id),
      txn: await transaction(deps, txn.transaction_id).then((t) => ({ counts: t.counts, total: t.total_messages, batches: t.batch_count })),
    });
    const before = await snapshot();
    const second = await runActivity(activities.ingestRecipients, [input], { attempt: 2 });
    const after = await snapshot();

    expect(second.result).toEqual(first.result);
    expect(first.result).toEqual({ totalMessages: 10, batchCount: 2, valid: 9, invalid: 2, suppressed: 1 });
    expect(after).toEqual(before);
    expect(before.messages).toHaveLength(10);
    expect(before.txn).toEqual({ counts: expect.objectContaining({ invalid: 2, suppressed: 1 }), total: 10, batches: 2 });
  });
});
