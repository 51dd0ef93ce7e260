// Issue 18, item 2 against DynamoDB Local: the API writes each batch's outcome count in sums, so
// a batch record takes one write per flush, not one per event, and the one sum that reaches what
// the batch awaits wakes it, once.
import { afterAll, describe, expect, it } from 'vitest';
import { BatchOutcomeSums } from '../../src/events/batch-outcomes';
import { createLogger } from '../../src/logging';
import { campaign, runActivity, setupDeps, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

async function batchAwaiting(awaiting: number) {
  const id = uid();
  const rows = Array.from({ length: awaiting }, (_, i) => `r${i + 1}-${id}@example.com`);
  const { txn, input } = await campaign(deps, `email\n${rows.join('\n')}\n`);
  await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 1000 }]);
  await deps.batches.setBatchFields(txn.transaction_id, 'b00001', { awaiting_outcomes: awaiting });
  return txn.transaction_id;
}

function sums(flushMs: number) {
  const lines: Record<string, unknown>[] = [];
  const woken: string[] = [];
  const counter = new BatchOutcomeSums(
    deps.batches,
    (t, b) => woken.push(`${t}/${b}`),
    createLogger({}, 'warn', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    flushMs,
  );
  return { counter, woken, lines };
}

const outcomesOf = async (transactionId: string) =>
  Number(
    ((await deps.batches.listBatches(transactionId)).find((b) => b.batch_id === 'b00001') as { outcomes?: number } | undefined)?.outcomes ??
      0,
  );

async function until(done: () => boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('batch outcome sums', () => {
  it('a burst of outcomes is one write; the sum that reaches what the batch awaits wakes it once', async () => {
    const transactionId = await batchAwaiting(40);
    const { counter, woken } = sums(200);
    for (let i = 0; i < 25; i++) counter.note(transactionId, 'b00001');
    await new Promise((r) => setTimeout(r, 400));
    expect(counter.writes).toBe(1);
    expect(await outcomesOf(transactionId)).toBe(25);
    expect(woken).toEqual([]);
    for (let i = 0; i < 15; i++) counter.note(transactionId, 'b00001');
    await counter.close();
    expect(counter.writes).toBe(2);
    expect(await outcomesOf(transactionId)).toBe(40);
    expect(woken).toEqual([`${transactionId}/b00001`]);
  });

  it('once the batch awaits, the note that may complete the count writes at once instead of at its interval', async () => {
    const transactionId = await batchAwaiting(10);
    const { counter, woken } = sums(2000);
    for (let i = 0; i < 4; i++) counter.note(transactionId, 'b00001');
    // The first sum goes at its interval; its answer says the batch awaits 10.
    await until(() => counter.writes === 1, 5000);
    const last = Date.now();
    for (let i = 0; i < 6; i++) counter.note(transactionId, 'b00001');
    await until(() => woken.length === 1, 5000);
    // Woken by the sum the sixth note wrote at once, not by one 2 s later (the interval).
    expect(Date.now() - last).toBeLessThan(1500);
    expect(counter.writes).toBe(2);
    expect(await outcomesOf(transactionId)).toBe(10);
    await counter.close();
  });

  it('sums from two processes add up, and only the one that completes the count wakes the batch', async () => {
    const transactionId = await batchAwaiting(30);
    const [a, b] = [sums(50), sums(50)];
    for (let i = 0; i < 30; i++) (i % 2 ? a : b).counter.note(transactionId, 'b00001');
    await Promise.all([a.counter.close(), b.counter.close()]);
    expect(await outcomesOf(transactionId)).toBe(30);
    expect([...a.woken, ...b.woken]).toEqual([`${transactionId}/b00001`]);
  });

  it('a sum that cannot be written is logged, never thrown, and the others still go', async () => {
    const transactionId = await batchAwaiting(2);
    const { counter, lines, woken } = sums(10);
    counter.note(transactionId, 'b09999'); // no such batch: the ADD's condition refuses it
    counter.note(transactionId, 'b00001');
    counter.note(transactionId, 'b00001');
    await counter.close();
    expect(lines.find((l) => l.msg === 'batch outcome count not updated')).toMatchObject({ batch_id: 'b09999', outcomes: 1 });
    expect(woken).toEqual([`${transactionId}/b00001`]);
  });
});
