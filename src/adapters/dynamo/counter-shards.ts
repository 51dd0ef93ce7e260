// A campaign's event counters, spread over shards (issue 18, item 2). An SES event that moves a
// counter (Delivery, Bounce, Complaint, Open, Click, a failure) adds its one to the shard its
// message id hashes to, in the same TransactWriteItems as the message's flag, instead of to the
// transaction record: with COUNTER_SHARDS shards no item takes more than about 1 / COUNTER_SHARDS
// of a campaign's event writes, at any send rate (256: 3.9 writes per 1,000 messages for each
// counted event a message brings, a Delivery and an Open 7.8; DynamoDB allows about 1,000
// writes per second to one item).
//
// The shards sort right after the record in its partition (SK METADATA#COUNTS#nnn), so the one
// Query that reads the record reads its shards with it: no extra request, and the counts read
// are the record's plus the shards'. (The partition key is the record's: DynamoDB splits a hot
// item collection by sort key, and the table has no local secondary index to stop it.)
//
// The record keeps what the send path and the recount write (sent, failed by the send path,
// suppressed, cancelled, invalid; before this change, events' counts too, and `event_failed`).
// A shard's `failed` counts messages an event moved to FAILED (SES Reject, Rendering Failure):
// each was counted in the record's `sent` (by the send path live, as `sentOrRejected − the
// record's event_failed` by the recount), so the live `sent` is the record's less the shards'
// failures. The sum is exact at any time, the recount's write included: no read of the shards
// is needed to write the record.
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { shardOf } from '../../reputation/rates';
import { keys } from './keys';
import { COUNT_NAMES, type CountName, type Counts } from './types';

export const COUNTER_SHARDS = 256;
/** The record's sort key; the shards' sort keys extend it, so a Query BETWEEN the two reads them together. */
export const RECORD_SK = 'METADATA';
const SHARD_SK_PREFIX = `${RECORD_SK}#COUNTS#`;
/** Sorts after every shard's sort key (and after nothing else of the partition that a read of the record should see). */
export const LAST_SHARD_SK = `${SHARD_SK_PREFIX}~`;

export const counterShardSk = (shard: number) => `${SHARD_SK_PREFIX}${String(shard).padStart(3, '0')}`;
export const isCounterShardSk = (sk: string) => sk.startsWith(SHARD_SK_PREFIX);
/** The shard an event of `messageId` counts on: always the same one for a message (a repeat lands where the first did). */
export const counterShardOf = (messageId: string) => shardOf(messageId, COUNTER_SHARDS);

/** Shard items hold only counters, each a top-level number (ADD creates the item on its first event). */
export type ShardCounts = Partial<Record<CountName, number>>;

/** The shards' counters summed. */
export function sumShards(shards: Record<string, unknown>[]): ShardCounts {
  const sum: ShardCounts = {};
  for (const shard of shards) {
    for (const name of COUNT_NAMES) {
      const value = Number(shard[name] ?? 0);
      if (value !== 0) sum[name] = (sum[name] ?? 0) + value;
    }
  }
  return sum;
}

/**
 * What a reader sees: every counter the record's plus the shards'; `sent` the record's less the
 * messages events moved to FAILED since it counted them (never below 0).
 */
export function liveCounts(record: Partial<Counts>, shards: ShardCounts): Counts {
  const out = {} as Counts;
  for (const name of COUNT_NAMES) out[name] = Number(record[name] ?? 0) + Number(shards[name] ?? 0);
  out.sent = Math.max(0, Number(record.sent ?? 0) - Number(shards.failed ?? 0));
  return out;
}

/**
 * The items of a transaction's partition from `first` to the last shard, read consistently: the
 * record and its shards (from RECORD_SK), or the shards alone (from the first shard's key).
 */
export async function readCounterItems(
  doc: DynamoDBDocumentClient,
  table: string,
  transactionId: string,
  first: string = RECORD_SK,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'PK = :pk AND SK BETWEEN :first AND :last',
        ExpressionAttributeValues: { ':pk': keys.transaction(transactionId).PK, ':first': first, ':last': LAST_SHARD_SK },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The sum of a transaction's counter shards alone (a listing that read the records from the tenant index). */
export async function readShardCounts(doc: DynamoDBDocumentClient, table: string, transactionId: string): Promise<ShardCounts> {
  return sumShards(await readCounterItems(doc, table, transactionId, SHARD_SK_PREFIX));
}
