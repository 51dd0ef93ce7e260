// What every store of the single table shares: the client and table name, the queries they
// read with, records read back without their keys, and how DynamoDB's refusals are told apart.
import { BatchGetCommand, QueryCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException, TransactionCanceledException, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Cursor, Page } from '../../ports';
import type { KeyRange } from './keys';

export type Key = { PK: string; SK: string };

export const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/**
 * DynamoDB refused the request as invalid (ValidationException): retrying the same request can
 * never succeed, so callers turn it into a rejected row or a failed message, never a retry.
 */
export const isValidationError = (error: unknown) => (error as { name?: string } | undefined)?.name === 'ValidationException';

/** The item would pass DynamoDB's 400 KB item limit (a ValidationException, or a transaction's ValidationError). */
export function isItemTooLarge(error: unknown): boolean {
  const message = (error as { message?: string } | undefined)?.message ?? '';
  const tooLarge = /item size (to update )?has exceeded the maximum allowed size/i;
  if (isValidationError(error)) return tooLarge.test(message);
  return cancellationReasons(error).some((r) => r.Code === 'ValidationError' && tooLarge.test(r.Message ?? ''));
}

/** Why each item of a cancelled TransactWriteItems was refused (`None` for the ones that were fine), in request order. */
export function cancellationReasons(error: unknown): { Code?: string; Message?: string; Item?: Record<string, AttributeValue> }[] {
  return error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
}

/**
 * Another transaction held an item (TransactionConflict in a cancelled transaction, or
 * TransactionConflictException for a plain write): the request changed nothing and may be repeated.
 */
export function isTransactionConflict(error: unknown): boolean {
  if ((error as { name?: string } | undefined)?.name === 'TransactionConflictException') return true;
  return cancellationReasons(error).some((r) => r.Code === 'TransactionConflict');
}

/**
 * The stored item a failed condition saw (asked for with ReturnValuesOnConditionCheckFailure:
 * 'ALL_OLD'), from a plain write or from item `index` of a cancelled transaction; undefined when
 * there was no item.
 */
export function itemOfConditionFailure(error: unknown, index = 0): Record<string, unknown> | undefined {
  const raw = isConditionFailure(error)
    ? (error as { Item?: Record<string, AttributeValue> }).Item
    : cancellationReasons(error)[index]?.Code === 'ConditionalCheckFailed'
      ? cancellationReasons(error)[index]!.Item
      : undefined;
  return raw ? unmarshall(raw) : undefined;
}

/** Whether a request failed on a condition: a plain write's, or item `index`'s in a cancelled transaction. */
export function failedCondition(error: unknown, index = 0): boolean {
  return isConditionFailure(error) || cancellationReasons(error)[index]?.Code === 'ConditionalCheckFailed';
}

/** A failed condition saw an item whose status_history is at `cap` (so the entry must overwrite the last slot). */
export function historyAtCap(error: unknown, cap: number, index = 0): boolean {
  const old = itemOfConditionFailure(error, index);
  return Array.isArray(old?.status_history) && old.status_history.length >= cap;
}

/**
 * Runs a write that adds a status_history entry, keeping the history at most `cap` entries:
 * first as an append (its condition requires room), then, if the condition failed only because
 * the history is full, overwriting the last slot. The write must ask for ALL_OLD on a failed
 * condition. Any other failure (a condition that failed for another reason) is rethrown.
 */
export async function withCappedHistory<T>(cap: number, write: (mode: 'append' | 'last') => Promise<T>): Promise<T> {
  try {
    return await write('append');
  } catch (error) {
    if (!failedCondition(error) || !historyAtCap(error, cap)) throw error;
    return write('last');
  }
}

/** Repeats `write` while it meets a transaction conflict (a few times, with backoff), then gives up with that error. */
export async function retryConflicts<T>(write: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isTransactionConflict(error) || attempt + 1 >= attempts) throw error;
      await new Promise((r) => setTimeout(r, Math.min(500, 10 * 2 ** attempt) * (0.5 + Math.random())));
    }
  }
}

/** Whether a conditional write went through: false when its condition failed. */
export async function conditionHeld(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** An item as its record: without the table's and the tenant index's keys. */
export const recordOf = <T>(item: Record<string, unknown>): T => {
  const { PK: _pk, SK: _sk, GSI2PK: _g, GSI2SK: _s, ...rest } = item;
  return rest as T;
};

/** Waits before retry `attempt` of the unprocessed part of a batch request (exponential, at most 2 s). */
export const retryDelay = (attempt: number) => new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));

const MAX_BATCH_GET_KEYS = 100;

export abstract class Table {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** The item under `key` (read with a Query on both keys), as its record. */
  protected async queryItem<T>(key: Key, consistent?: boolean): Promise<T | undefined> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND SK = :sk',
        ExpressionAttributeValues: { ':pk': key.PK, ':sk': key.SK },
        ConsistentRead: consistent,
      }),
    );
    return Items?.[0] ? recordOf<T>(Items[0]) : undefined;
  }

  /** One page of a partition, or of the items in `range` when `range.skPrefix` is given. */
  protected async queryPage<T>(range: { PK: string; skPrefix?: string }, limit: number, cursor?: Cursor): Promise<Page<T>> {
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: range.skPrefix === undefined ? 'PK = :pk' : 'PK = :pk AND begins_with(SK, :sk)',
        ExpressionAttributeValues: { ':pk': range.PK, ...(range.skPrefix === undefined ? {} : { ':sk': range.skPrefix }) },
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    return { items: (Items ?? []).map((i) => recordOf<T>(i)), cursor: LastEvaluatedKey };
  }

  /**
   * The items under `itemKeys` that exist, in requests of at most 100 keys (BatchGetItem's limit)
   * sent together, each retried until DynamoDB has processed all its keys.
   */
  protected async batchGet(
    itemKeys: Record<string, unknown>[],
    read: { consistent?: boolean; projection?: string } = {},
  ): Promise<Record<string, unknown>[]> {
    const groups: Record<string, unknown>[][] = [];
    for (let i = 0; i < itemKeys.length; i += MAX_BATCH_GET_KEYS) groups.push(itemKeys.slice(i, i + MAX_BATCH_GET_KEYS));
    const found = await Promise.all(
      groups.map(async (group) => {
        const items: Record<string, unknown>[] = [];
        let request: Record<string, unknown>[] | undefined = group;
        for (let attempt = 0; request && request.length > 0; attempt++) {
          if (attempt > 0) await retryDelay(attempt);
          const result: BatchGetCommandOutput = await this.doc.send(
            new BatchGetCommand({
              RequestItems: { [this.table]: { Keys: request, ConsistentRead: read.consistent, ProjectionExpression: read.projection } },
            }),
          );
          items.push(...(result.Responses?.[this.table] ?? []));
          request = result.UnprocessedKeys?.[this.table]?.Keys;
        }
        return items;
      }),
    );
    return found.flat();
  }

  /** Every item in `range`, read consistently. */
  protected async queryAll<T>(range: KeyRange): Promise<T[]> {
    const out: T[] = [];
    let cursor: Cursor | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
          ExpressionAttributeValues: { ':pk': range.PK, ':sk': range.skPrefix },
          ExclusiveStartKey: cursor,
          ConsistentRead: true,
        }),
      );
      for (const item of Items ?? []) out.push(recordOf<T>(item));
      cursor = LastEvaluatedKey;
    } while (cursor);
    return out;
  }
}
