// Grouped conditional updates (issue 18, item 3) on DynamoDB Local: calls made at random moments
// through GroupedUpdates (random group sizes and requests in flight, so groups form, are
// cancelled by one call's failed condition and go again) must each behave as a plain conditional
// UpdateItem would. Each call moves a small item from a set of statuses to another and appends
// its id to the item's log, so the log is the order DynamoDB applied the successful calls in.
// fast-check searches for a counter-example to:
// - every call that resolved is in its item's log exactly once, and no call that rejected is;
// - replaying each item's log from its first status, every call's condition held at its turn,
//   and the item ends in the status and count the replay gives;
// - a call rejected on its condition got the item its condition saw (ALL_OLD): a state of the
//   replay (its log a prefix of the final log) in which its condition does not hold;
// - a call too large for an item is refused as a plain write is (DynamoDB's item-size
//   ValidationException), whatever group it went in, and the others of its group still apply.
import fc from 'fast-check';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { GroupedUpdates } from '../../src/adapters/dynamo/grouped-updates';
import { isConditionFailure, isItemTooLarge, itemOfConditionFailure } from '../../src/adapters/dynamo/table';
import { setupDeps, uid } from './fixtures';

const { config, doc, close } = setupDeps();
afterAll(() => close());
const TableName = config.DYNAMODB_TABLE;

const STATUSES = ['A', 'B', 'C'] as const;
type Status = (typeof STATUSES)[number];
interface Call {
  item: number;
  from: Status[];
  to: Status;
  delayMs: number;
  tooLarge: boolean;
}

const callArb = (items: number): fc.Arbitrary<Call> =>
  fc.record({
    item: fc.integer({ min: 0, max: items - 1 }),
    from: fc.subarray([...STATUSES], { minLength: 1 }),
    to: fc.constantFrom(...STATUSES),
    delayMs: fc.integer({ min: 0, max: 4 }),
    tooLarge: fc.oneof({ weight: 14, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });

// Past DynamoDB's 400 KB item limit.
const PAD = 'x'.repeat(410 * 1024);
const explored = { groups: 0, cancelled: 0, requeued: 0, alone: 0, conditionFailures: 0, tooLarge: 0 };

describe('grouped conditional updates on DynamoDB Local', () => {
  it('apply each call as a plain conditional UpdateItem would, in some order, whatever groups they went in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }).chain((items) =>
          fc.record({
            first: fc.array(fc.constantFrom(...STATUSES), { minLength: items, maxLength: items }),
            calls: fc.array(callArb(items), { minLength: 2, maxLength: 40 }),
            maxInFlight: fc.integer({ min: 1, max: 3 }),
            maxGroup: fc.integer({ min: 2, max: 8 }),
          }),
        ),
        async ({ first, calls, maxInFlight, maxGroup }) => {
          const run = uid();
          const key = (item: number) => ({ PK: `GROUPED#${run}`, SK: `ITEM#${item}` });
          await Promise.all(
            first.map((status, item) => doc.send(new PutCommand({ TableName, Item: { ...key(item), status, n: 0, log: [] } }))),
          );
          const grouped = new GroupedUpdates(doc, { maxInFlight, maxGroup });
          const outcomes = await Promise.all(
            calls.map(
              (call, i) =>
                new Promise<{ ok: true } | { ok: false; error: unknown }>((resolve) => {
                  setTimeout(() => {
                    grouped
                      .update({
                        TableName,
                        Key: key(call.item),
                        UpdateExpression: `SET #s = :to, n = n + :one, #log = list_append(#log, :me)${call.tooLarge ? ', #pad = :pad' : ''}`,
                        ConditionExpression: `#s IN (${call.from.map((_, j) => `:f${j}`).join(', ')})`,
                        ExpressionAttributeNames: { '#s': 'status', '#log': 'log', ...(call.tooLarge ? { '#pad': 'pad' } : {}) },
                        ExpressionAttributeValues: {
                          ':to': call.to,
                          ':one': 1,
                          ':me': [i],
                          ...Object.fromEntries(call.from.map((s, j) => [`:f${j}`, s])),
                          ...(call.tooLarge ? { ':pad': PAD } : {}),
                        },
                        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                      })
                      .then(
                        () => resolve({ ok: true }),
                        (error: unknown) => resolve({ ok: false, error }),
                      );
                  }, call.delayMs);
                }),
            ),
          );

          for (let item = 0; item < first.length; item++) {
            const { Item } = await doc.send(new GetCommand({ TableName, Key: key(item), ConsistentRead: true }));
            const log = Item!.log as number[];
            // Replay the log: each call's condition held at its turn.
            const states: { status: Status; log: number[] }[] = [{ status: first[item]!, log: [] }];
            for (const i of log) {
              const before = states.at(-1)!;
              expect(calls[i]!.item).toBe(item);
              expect(calls[i]!.from).toContain(before.status);
              expect(outcomes[i]!.ok).toBe(true);
              states.push({ status: calls[i]!.to, log: [...before.log, i] });
            }
            expect(new Set(log).size).toBe(log.length);
            expect(Item!.status).toBe(states.at(-1)!.status);
            expect(Item!.n).toBe(log.length);
            calls.forEach((call, i) => {
              if (call.item !== item) return;
              const outcome = outcomes[i]!;
              if (outcome.ok) {
                expect(log).toContain(i);
                return;
              }
              expect(log).not.toContain(i);
              if (call.tooLarge && isItemTooLarge(outcome.error)) {
                explored.tooLarge++;
                return;
              }
              // Refused on its condition, with the item as its condition saw it: a state of the replay.
              expect(isConditionFailure(outcome.error), String(outcome.error)).toBe(true);
              explored.conditionFailures++;
              const seen = itemOfConditionFailure(outcome.error)!;
              expect(call.from).not.toContain(seen.status);
              const at = (seen.log as number[]).length;
              expect(seen.log).toEqual(log.slice(0, at));
              expect(seen.status).toBe(states[at]!.status);
            });
          }
          for (const k of ['groups', 'cancelled', 'requeued', 'alone'] as const) explored[k] += grouped.sent[k];
        },
      ),
      { numRuns: 60 },
    );
    console.log('[grouped-updates] explored', explored);
    // The search reached every path: groups, groups cancelled by one call, calls sent again, calls alone.
    expect(explored.groups).toBeGreaterThan(0);
    expect(explored.cancelled).toBeGreaterThan(0);
    expect(explored.requeued).toBeGreaterThan(0);
    expect(explored.conditionFailures).toBeGreaterThan(0);
    expect(explored.tooLarge).toBeGreaterThan(0);
  }, 240_000);
});
