// Pipelined start (issue 18, item 1): a file read in segments, each going on from where the one
// before stopped, stores what one whole read stores. fast-check searches files (duplicate
// addresses across segments, rejected and suppressed rows anywhere), batch sizes and segment
// plans for a counter-example, on DynamoDB Local and the S3 server: the same messages (row,
// batch, address, status), the same rejected rows, the same batches and figures; each segment
// writes only its own batches and never rewrites one an earlier segment stored (which may be
// sending by then).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { IngestResult, IngestSegment } from '../../activities/ingest.activities';
import { allMessages, allRowErrors, campaign, runActivity, setupDeps, suppress, transaction, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

type Row = { kind: 'address'; n: number } | { kind: 'invalid'; n: number } | { kind: 'blocked'; n: number };

const rowArb: fc.Arbitrary<Row> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 11 }).map((n) => ({ kind: 'address' as const, n })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((n) => ({ kind: 'invalid' as const, n })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 1 }).map((n) => ({ kind: 'blocked' as const, n })) },
);

/** What a campaign stored, in a form two campaigns can be compared by. */
async function stored(transactionId: string) {
  const [messages, errors, batches, txn] = await Promise.all([
    allMessages(deps, transactionId),
    allRowErrors(deps, transactionId),
    deps.batches.listBatches(transactionId),
    transaction(deps, transactionId),
  ]);
  return {
    messages: messages.map((m) => [m.row, m.batch_id, m.recipient_email, m.status, m.placeholder_data]),
    errors: errors.map((e) => [e.row, e.code, e.email]),
    batches: batches.map((b) => [b.batch_id, b.message_count, b.first_row, b.last_row]),
    totals: [txn.total_messages, txn.batch_count, txn.counts.invalid ?? 0, txn.counts.suppressed ?? 0],
  };
}

describe('ingest in segments', () => {
  it('stores what one read of the whole file stores, whatever the file, batch size and segments', async () => {
    const id = uid();
    const blocked = [0, 1].map((n) => `blocked${n}-${id}@example.com`);
    for (const address of blocked) await suppress(deps, address);
    const text = (row: Row) =>
      row.kind === 'address' ? `r${row.n}-${id}@example.com,v${row.n}` : row.kind === 'invalid' ? `nope${row.n},x` : `${blocked[row.n]},b`;

    await fc.assert(
      fc.asyncProperty(
        fc.array(rowArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 20, maxLength: 20 }),
        async (rows, batchSize, firstSegment, growth) => {
          const csv = `email,name\n${rows.map(text).join('\n')}\n`;
          const whole = await campaign(deps, csv);
          const wholeInput = { ...whole.input, batchSize };
          const { result: wholeResult } = await runActivity(activities.ingestRecipients, [wholeInput]);

          const parts = await campaign(deps, csv);
          const input = { ...parts.input, batchSize };
          let segment: IngestSegment = { batchesStored: 0, untilBatch: firstSegment };
          let result: IngestResult;
          for (let k = 0; ; k++) {
            ({ result } = await runActivity(activities.ingestRecipients, [{ ...input, segment }]));
            const sofar = await stored(parts.txn.transaction_id);
            // A segment ends at its last batch, full, or at the file's end; its figures are the file's so far.
            expect(result.batchCount).toBeLessThanOrEqual(segment.untilBatch);
            if (result.resume) expect(result.batchCount).toBe(segment.untilBatch);
            expect(sofar.batches).toHaveLength(result.batchCount);
            expect(sofar.messages).toHaveLength(result.totalMessages);
            // A batch stored by an earlier segment (sending by now) keeps what sending wrote on it.
            for (const b of await deps.batches.listBatches(parts.txn.transaction_id)) {
              if (b.batch_number <= segment.batchesStored) expect(b.status).toBe('SENDING');
              else await deps.batches.setBatchFields(parts.txn.transaction_id, b.batch_id, { status: 'SENDING' });
            }
            if (!result.resume) break;
            segment = { from: result.resume, batchesStored: result.batchCount, untilBatch: result.batchCount + growth[k % growth.length]! };
          }
          expect(result).toEqual(wholeResult);
          const a = await stored(whole.txn.transaction_id);
          const b = await stored(parts.txn.transaction_id);
          expect(b).toEqual(a);
        },
      ),
      { numRuns: 25 },
    );
  }, 240_000);
});
