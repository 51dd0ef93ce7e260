// The reputation guard's counters and state in the single table (issue 16, item 4).
//
// Counters: per tenant, time bucket and shard, one item with `sends`, `bounces`, `complaints`
// (ADDed to). The shard is in the partition key (REPUTATION#<tenant>#<shard>, sort key
// BUCKET#<bucket start, ISO>), so a tenant sending fast spreads its writes over `shards`
// partitions as well as items: no hot item, no hot partition. A window is read with one Query
// per shard (sort key BETWEEN the window's first and last bucket) and summed. Buckets expire
// (TTL) a day after they leave the window.
//
// State: one item per tenant (REPUTATION#<tenant>, STATE): held since when and why, and the
// rates of its last check. A hold is taken with a condition (none held), so of several API
// processes checking at once exactly one pauses the campaigns, audits and counts the hold.
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { COUNT_KINDS, noTotals, type CountKind, type HoldReason, type Totals } from '../../reputation/rates';
import { TTL_ATTRIBUTE } from './schema';
import { isConditionFailure, Table } from './table';

const counterPartition = (tenantId: string, shard: number) => `REPUTATION#${tenantId}#${String(shard).padStart(2, '0')}`;
const bucketKey = (startMs: number) => `BUCKET#${new Date(startMs).toISOString()}`;

export const reputationKeys = {
  counter: (tenantId: string, shard: number, bucketStartMs: number) => ({
    PK: counterPartition(tenantId, shard),
    SK: bucketKey(bucketStartMs),
  }),
  state: (tenantId: string) => ({ PK: `REPUTATION#${tenantId}`, SK: 'STATE' }),
  quotaHold: (intervalStartMs: number) => ({ PK: 'SES_QUOTA', SK: `HOLD#${new Date(intervalStartMs).toISOString()}` }),
};

export interface ReputationState {
  tenant_id: string;
  /** When the guard held the tenant (absent: not held). */
  held_since?: string;
  held_reason?: HoldReason;
  held_detail?: string;
  /** The rates at the hold. */
  held_rates?: { bounce_rate: number; complaint_rate: number; sends: number };
  /** When the last hold was lifted (the rates fell below the thresholds), and the hold it lifted. */
  released_at?: string;
  updated_at: string;
}

export class ReputationTable extends Table {
  /** Adds `n` (one unless given) to `kind` in the tenant's bucket and shard; the item expires `keepMs` after its bucket starts. */
  async increment(tenantId: string, kind: CountKind, shard: number, bucketStartMs: number, keepMs: number, n = 1): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: reputationKeys.counter(tenantId, shard, bucketStartMs),
        UpdateExpression: 'ADD #k :n SET #ttl = if_not_exists(#ttl, :ttl)',
        ExpressionAttributeNames: { '#k': kind, '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':n': n, ':ttl': Math.ceil((bucketStartMs + keepMs) / 1000) },
      }),
    );
  }

  /** The sums over the buckets from `fromMs` to `toMs` (bucket starts, both included), over every shard. */
  async totals(tenantId: string, shards: number, fromMs: number, toMs: number): Promise<Totals> {
    const perShard = await Promise.all(
      Array.from({ length: shards }, async (_, shard) => {
        const sum = noTotals();
        let start: Record<string, unknown> | undefined;
        do {
          const page = await this.doc.send(
            new QueryCommand({
              TableName: this.table,
              KeyConditionExpression: 'PK = :pk AND SK BETWEEN :from AND :to',
              ExpressionAttributeValues: { ':pk': counterPartition(tenantId, shard), ':from': bucketKey(fromMs), ':to': bucketKey(toMs) },
              ConsistentRead: true,
              ExclusiveStartKey: start,
            }),
          );
          for (const item of page.Items ?? []) for (const k of COUNT_KINDS) sum[k] += Number(item[k] ?? 0);
          start = page.LastEvaluatedKey;
        } while (start);
        return sum;
      }),
    );
    const out = noTotals();
    for (const s of perShard) for (const k of COUNT_KINDS) out[k] += s[k];
    return out;
  }

  async getState(tenantId: string): Promise<ReputationState | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: reputationKeys.state(tenantId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { PK: _pk, SK: _sk, ...state } = Item;
    return state as ReputationState;
  }

  /** Takes the hold; false when the tenant is held already (by this process or another). */
  async hold(
    tenantId: string,
    hold: Required<Pick<ReputationState, 'held_since' | 'held_reason' | 'held_detail' | 'held_rates'>>,
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: reputationKeys.state(tenantId),
          UpdateExpression:
            'SET tenant_id = :t, held_since = :since, held_reason = :reason, held_detail = :detail, held_rates = :rates, updated_at = :since',
          ConditionExpression: 'attribute_not_exists(held_since)',
          ExpressionAttributeValues: {
            ':t': tenantId,
            ':since': hold.held_since,
            ':reason': hold.held_reason,
            ':detail': hold.held_detail,
            ':rates': hold.held_rates,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Lifts the hold taken at `heldSince`; false when there is none (or another one since). */
  async release(tenantId: string, heldSince: string, at: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: reputationKeys.state(tenantId),
          UpdateExpression: 'REMOVE held_since, held_reason, held_detail, held_rates SET released_at = :at, updated_at = :at',
          ConditionExpression: 'held_since = :since',
          ExpressionAttributeValues: { ':since': heldSince, ':at': at },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * The SES quota hold's turn for the poll interval starting at `intervalStartMs`: true for the
   * one worker that claims it first, false for every other (they poll the same account).
   */
  async claimQuotaHold(intervalStartMs: number, by: string): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...reputationKeys.quotaHold(intervalStartMs),
            claimed_by: by,
            [TTL_ATTRIBUTE]: Math.ceil(intervalStartMs / 1000) + 86_400,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** For tests and tools: puts a state as given. */
  async putState(state: ReputationState): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...reputationKeys.state(state.tenant_id), ...state } }));
  }
}
