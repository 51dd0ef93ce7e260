// GroupedUpdates' routing (issue 18, item 3), with a stand-in for the DynamoDB client that
// answers as told: what goes together, what goes alone, and what each call is answered. What
// DynamoDB itself does with the groups is the integration property's
// (test/integration/grouped-updates.property.test.ts, on DynamoDB Local).
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { GroupedUpdates } from '../../src/adapters/dynamo/grouped-updates';
import { isConditionFailure, itemOfConditionFailure } from '../../src/adapters/dynamo/table';

type Sent = { kind: 'alone'; sk: string } | { kind: 'group'; sks: string[]; token?: string };

/** A client whose answer to each request `answer` decides (after a tick, so calls made meanwhile wait). */
function stubClient(answer: (request: Sent) => unknown) {
  const sent: Sent[] = [];
  const doc = {
    send: async (command: unknown) => {
      let request: Sent;
      if (command instanceof UpdateCommand) request = { kind: 'alone', sk: String(command.input.Key!.SK) };
      else if (command instanceof TransactWriteCommand)
        request = {
          kind: 'group',
          sks: command.input.TransactItems!.map((t) => String(t.Update!.Key!.SK)),
          token: command.input.ClientRequestToken,
        };
      else throw new Error('unexpected command');
      sent.push(request);
      await new Promise((r) => setTimeout(r, 1));
      const error = answer(request);
      if (error) throw error;
      return {};
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, sent };
}

/** A request as the keys it wrote: one key alone, the keys of a group. */
const shape = (r: Sent) => (r.kind === 'group' ? r.sks : r.sk);

const update = (sk: string, extra: Partial<UpdateCommandInput> = {}): UpdateCommandInput => ({
  TableName: 't',
  Key: { PK: 'p', SK: sk },
  UpdateExpression: 'SET a = :a',
  ExpressionAttributeValues: { ':a': 1 },
  ...extra,
});

const cancelled = (codes: string[]) =>
  new TransactionCanceledException({
    message: 'cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code, ...(Code === 'ConditionalCheckFailed' ? { Item: { status: { S: 'SENT' } } } : {}) })),
  });

const settle = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    (e: unknown) => e,
  );

describe('GroupedUpdates', () => {
  it('sends a call alone when nothing waits, and the calls made meanwhile together, a key at most once per group', async () => {
    const { doc, sent } = stubClient(() => undefined);
    const grouped = new GroupedUpdates(doc, { maxInFlight: 1 });
    const results = await Promise.all(['a', 'b', 'c', 'b', 'd'].map((sk) => settle(grouped.update(update(sk)))));
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(sent.map(shape)).toEqual(['a', ['b', 'c', 'd'], 'b']);
  });

  it('answers a failed condition with the item it saw, sends the fine ones again together and any other refusal alone', async () => {
    const { doc, sent } = stubClient((request) => {
      if (request.kind === 'group' && request.sks.length === 4)
        return cancelled(['None', 'ConditionalCheckFailed', 'TransactionConflict', 'None']);
      if (request.kind === 'alone' && request.sk === 'c')
        return Object.assign(new Error('conflict'), { name: 'TransactionConflictException' });
      return undefined;
    });
    const grouped = new GroupedUpdates(doc, { maxInFlight: 1 });
    const first = grouped.update(update('first'));
    const results = await Promise.all([first, ...['a', 'b', 'c', 'd'].map((sk) => grouped.update(update(sk)))].map(settle));
    expect(results[0]).toBe('ok');
    expect(results[1]).toBe('ok');
    expect(isConditionFailure(results[2])).toBe(true);
    expect(results[2]).toBeInstanceOf(ConditionalCheckFailedException);
    expect(itemOfConditionFailure(results[2])).toEqual({ status: 'SENT' });
    expect((results[3] as Error).name).toBe('TransactionConflictException');
    expect(results[4]).toBe('ok');
    expect(sent.map(shape)).toEqual(['first', ['a', 'b', 'c', 'd'], 'c', ['a', 'd']]);
  });

  it('sends each call of a group refused as a whole alone, and an update that asks for values back never in a group', async () => {
    const refused = Object.assign(new Error('Transaction request cannot be larger than 4 MB'), { name: 'ValidationException' });
    const { doc, sent } = stubClient((request) => (request.kind === 'group' ? refused : undefined));
    const grouped = new GroupedUpdates(doc, { maxInFlight: 1 });
    const results = await Promise.all(
      [update('first'), update('a'), update('b'), update('c', { ReturnValues: 'ALL_NEW' })].map((u) => settle(grouped.update(u))),
    );
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(sent.map(shape)).toEqual(['first', 'c', ['a', 'b'], 'a', 'b']);
  });

  it('asks again with the same token when a group went unanswered, and fails every call with the error when it stands', async () => {
    let unanswered = 1;
    const lost = Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
    const { doc, sent } = stubClient((request) => (request.kind === 'group' && unanswered-- > 0 ? lost : undefined));
    const grouped = new GroupedUpdates(doc, { maxInFlight: 1 });
    expect(await Promise.all(['first', 'a', 'b'].map((sk) => settle(grouped.update(update(sk)))))).toEqual(['ok', 'ok', 'ok']);
    const groups = sent.filter((r) => r.kind === 'group');
    expect(groups).toHaveLength(2);
    expect(groups[0]!.token).toBeDefined();
    expect(groups[1]!.token).toBe(groups[0]!.token);

    // Never answered: as a plain write that failed, each call fails with the error; none is sent alone.
    unanswered = Number.POSITIVE_INFINITY;
    const before = sent.length;
    const results = await Promise.all(['first', 'a', 'b'].map((sk) => settle(grouped.update(update(sk)))));
    expect(results[0]).toBe('ok');
    expect(results.slice(1)).toEqual([lost, lost]);
    expect(sent.slice(before).map((r) => r.kind)).toEqual(['alone', 'group', 'group', 'group']);
  });
});
