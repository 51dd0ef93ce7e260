// What every store of the single table shares: the client and table name, the queries they
// read with, records read back without their keys, and the test for a failed condition.
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { Cursor, Page } from '../../ports';
import type { KeyRange } from './keys';

export type Key = { PK: string; SK: string };

export const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

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
