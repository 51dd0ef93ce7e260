// Conditional updates sent together (issue 18, item 3). The send path makes two conditional
// writes per message (its SENDING mark and its SENT record) from many sends at once; each was
// one request. Here the updates asked for while earlier ones are in flight wait and go together
// in one TransactWriteItems (at most MAX_GROUP items, never one key twice), each with its own
// condition and its own answer, as if it had been sent alone:
// - all commit or none, each condition checked at the commit: a call that resolves was applied
//   at one instant between its call and its answer, like a plain UpdateItem;
// - a cancelled group: a call whose condition failed is rejected with ConditionalCheckFailed
//   (the item its condition saw, when asked for, as a plain write returns it); a call that was
//   fine (`None`) goes in the next group; any other refusal (a transaction conflict, an item too
//   large) sends that call alone, so it meets the error a plain write meets and its caller's
//   handling of that (retryConflicts, compaction) is unchanged;
// - a group refused as a whole (a ValidationException: nothing applied) sends each of its calls
//   alone; a group whose outcome is unknown (no answer, a server error) is asked again with its
//   own ClientRequestToken, which DynamoDB answers as committed if it was, and when the error
//   stands every call fails with it, as a plain write would (never "condition failed" of a write
//   that may have landed);
// - one call with nothing waiting is a plain UpdateItem: an idle or lightly loaded process pays
//   nothing more. (A transaction costs twice the write capacity of plain writes in DynamoDB: the
//   price of fewer requests, and why MessageTable can be built without grouping.)
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { cancellationReasons, isValidationError } from './table';

/** TransactWriteItems' limit of actions per request. */
export const MAX_GROUP = 100;

interface Waiting {
  input: UpdateCommandInput;
  key: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface GroupedUpdatesOptions {
  /** Requests of this sender in flight at once; calls beyond wait and go together. */
  maxInFlight?: number;
  /** The most updates in one request (≤ MAX_GROUP). */
  maxGroup?: number;
  /** Times a group whose outcome is unknown is sent, with its token (sendGroup). */
  askAgain?: number;
}

const keyOf = (input: UpdateCommandInput) => `${input.TableName}\u0000${JSON.stringify(input.Key)}`;

export class GroupedUpdates {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly maxGroup: number;
  private readonly askAgain: number;
  /** Requests sent, by kind (a unit test and the bench read them). */
  readonly sent = { alone: 0, groups: 0, cancelled: 0, requeued: 0 };

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: GroupedUpdatesOptions = {},
  ) {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 2);
    this.maxGroup = Math.min(MAX_GROUP, Math.max(1, options.maxGroup ?? MAX_GROUP));
    this.askAgain = Math.max(1, options.askAgain ?? 3);
  }

  /** The update, applied (resolves) or refused (rejects with what DynamoDB said of it). */
  update(input: UpdateCommandInput): Promise<void> {
    if (!groupable(input)) return this.alone(input);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ input, key: keyOf(input), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const group = this.take();
      this.inFlight++;
      void this.flush(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /** The next group: waiting calls in order, at most maxGroup, a key at most once (a later call of a key waits). */
  private take(): Waiting[] {
    const group: Waiting[] = [];
    const keys = new Set<string>();
    for (let i = 0; i < this.waiting.length && group.length < this.maxGroup;) {
      const call = this.waiting[i]!;
      if (keys.has(call.key)) {
        i++;
        continue;
      }
      keys.add(call.key);
      group.push(call);
      this.waiting.splice(i, 1);
    }
    return group;
  }

  private async alone(input: UpdateCommandInput): Promise<void> {
    this.sent.alone++;
    await this.doc.send(new UpdateCommand(input));
  }

  private async settleAlone(call: Waiting): Promise<void> {
    await this.alone(call.input).then(call.resolve, call.reject);
  }

  /**
   * The group's TransactWriteItems, with a ClientRequestToken of its own. A request whose outcome
   * is unknown (no answer after the SDK's retries, the token's transaction still in progress, a
   * server error) is asked again with the same token a few times: DynamoDB answers a committed one
   * as committed (for ten minutes), so no call is told "not applied" of a write that landed.
   */
  private async sendGroup(group: Waiting[]): Promise<void> {
    const command = new TransactWriteCommand({
      ClientRequestToken: randomUUID(),
      TransactItems: group.map((call) => ({ Update: transactUpdate(call.input) })),
    });
    for (let attempt = 0; ; attempt++) {
      try {
        await this.doc.send(command);
        return;
      } catch (error) {
        if (error instanceof TransactionCanceledException || isValidationError(error) || attempt + 1 >= this.askAgain) throw error;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  private async flush(group: Waiting[]): Promise<void> {
    if (group.length === 1) return this.settleAlone(group[0]!);
    this.sent.groups++;
    try {
      await this.sendGroup(group);
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (!(error instanceof TransactionCanceledException) && !isValidationError(error)) {
        // The group may have committed unanswered (sendGroup asked again with its token until
        // the error stood): as a plain write that failed, each call fails with the error.
        for (const call of group) call.reject(error);
        return;
      }
      if (reasons.length !== group.length || reasons.every((r) => (r.Code ?? 'None') === 'None')) {
        // Refused as a whole (the request itself, e.g. over 4 MB), nothing applied: each call on its own gets DynamoDB's answer for it.
        await Promise.all(group.map((call) => this.settleAlone(call)));
        return;
      }
      this.sent.cancelled++;
      const again: Waiting[] = [];
      const alone: Waiting[] = [];
      group.forEach((call, i) => {
        const reason = reasons[i]!;
        const code = reason.Code ?? 'None';
        if (code === 'None') again.push(call);
        else if (code === 'ConditionalCheckFailed') {
          call.reject(
            new ConditionalCheckFailedException({
              message: reason.Message ?? 'The conditional request failed',
              $metadata: {},
              ...(reason.Item ? { Item: reason.Item } : {}),
            }),
          );
        } else alone.push(call);
      });
      // Those that were fine go first in the next group, in their order.
      this.sent.requeued += again.length;
      this.waiting.unshift(...again);
      await Promise.all(alone.map((call) => this.settleAlone(call)));
      return;
    }
    for (const call of group) call.resolve();
  }
}

/**
 * Whether an update can be a transaction's Update action: an update expression, nothing asked
 * back (ReturnValues), none of the legacy parameters.
 */
const groupable = (input: UpdateCommandInput) =>
  input.UpdateExpression !== undefined &&
  (input.ReturnValues === undefined || input.ReturnValues === 'NONE') &&
  input.Expected === undefined &&
  input.AttributeUpdates === undefined &&
  input.ConditionalOperator === undefined;

/** An UpdateItem's input as a transaction's Update action (the same fields, less what only UpdateItem takes). */
function transactUpdate(input: UpdateCommandInput) {
  const {
    ReturnValues: _values,
    ReturnConsumedCapacity: _capacity,
    ReturnItemCollectionMetrics: _metrics,
    Expected: _expected,
    AttributeUpdates: _updates,
    ConditionalOperator: _operator,
    ...rest
  } = input;
  return { ...rest, UpdateExpression: input.UpdateExpression! };
}
