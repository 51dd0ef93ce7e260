// Send lanes (issue 17, item 3) against DynamoDB Local: the bounds a batch's lanes split it by,
// and chunks sent at once over those ranges, each stopping at its bound, so every message is
// taken by exactly one lane.
import { afterAll, describe, expect, it } from 'vitest';
import { allMessages, campaign, runActivity, setupDeps, TENANTS, uid } from './fixtures';
import type { SendChunkInput } from '../../activities/send.activities';

const { config, deps, activities, close } = setupDeps();
afterAll(close);

async function batchOf(n: number) {
  const rows = Array.from({ length: n }, (_, i) => `lanes-${uid()}-${i}@example.com`);
  const c = await campaign(deps, `email\n${rows.join('\n')}\n`);
  await runActivity(activities.ingestRecipients, [{ ...c.input, batchSize: 100 }]);
  const base: SendChunkInput = {
    transactionId: c.txn.transaction_id,
    tenantId: TENANTS.a.tenantId,
    templateId: c.templateId,
    batchId: 'b00001',
    limit: 5,
    sendingGraceMs: config.SENDING_GRACE_SECONDS * 1000,
  };
  return { txnId: c.txn.transaction_id, base };
}

describe('send lanes', () => {
  it('bounds end every run of the chunk size and the batch; chunks sent at once over them take each message once', async () => {
    const { txnId, base } = await batchOf(23);
    const { result: plan } = await runActivity(activities.chunkBounds, [{ transactionId: txnId, batchId: 'b00001', chunkSize: 5 }]);
    expect(plan.bounds).toHaveLength(5);
    expect([...plan.bounds].sort()).toEqual(plan.bounds);
    const keys = (await allMessages(deps, txnId)).map((m) => deps.messages.messageItem(m).SK as string).sort();
    expect(plan.bounds).toEqual([keys[4], keys[9], keys[14], keys[19], keys[22]]);

    // Every chunk at once, each from the bound before it to its own.
    const results = await Promise.all(
      plan.bounds.map(async (until, j) => {
        const cursor = j === 0 ? undefined : { PK: plan.pk, SK: plan.bounds[j - 1]! };
        return (await runActivity(activities.sendBatchChunk, [{ ...base, cursor, until }])).result;
      }),
    );
    expect(results.map((r) => r.sent)).toEqual([5, 5, 5, 5, 3]);
    expect(results.every((r) => r.nextCursor === undefined)).toBe(true);
    const messages = await allMessages(deps, txnId);
    expect(messages.map((m) => m.status)).toEqual(Array.from({ length: 23 }, () => 'SENT'));
    expect(new Set(messages.map((m) => m.ses_message_id)).size).toBe(23);
  });

  it('a chunk smaller than its range (a lowered rate) continues to its bound and never past it', async () => {
    const { txnId, base } = await batchOf(12);
    const { result: plan } = await runActivity(activities.chunkBounds, [{ transactionId: txnId, batchId: 'b00001', chunkSize: 10 }]);
    expect(plan.bounds).toHaveLength(2);
    let cursor: SendChunkInput['cursor'];
    const sent: number[] = [];
    do {
      const { result } = await runActivity(activities.sendBatchChunk, [{ ...base, limit: 4, cursor, until: plan.bounds[0] }]);
      sent.push(result.sent);
      cursor = result.nextCursor;
    } while (cursor);
    expect(sent).toEqual([4, 4, 2]);
    const statuses = (await allMessages(deps, txnId)).map((m) => m.status);
    expect(statuses.filter((s) => s === 'SENT')).toHaveLength(10);
    expect(statuses.filter((s) => s !== 'SENT')).toHaveLength(2);
  });
});
