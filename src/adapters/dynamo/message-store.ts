// Batches, messages, rejected CSV rows and the suppression list in DynamoDB.
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { statusesBefore, type MessageStatus } from '../../domain/message-status';
import type { MessageEffect } from '../../domain/ses-event';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { GSI_SES_MESSAGE } from './schema';
import { keys } from './keys';
import { isConditionFailure } from './store';
import type { BatchRecord, MessageRecord, RowErrorRecord, SuppressionRecord } from './types';

type Key = { PK: string; SK: string };
type Item = Key & Record<string, unknown>;
export type Cursor = Record<string, unknown>;

const stripKeys = <T>(item: Record<string, unknown>): T => {
  const { PK: _p, SK: _s, ...rest } = item;
  return rest as T;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MessageStore {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Writes all items: BatchWriteItem in groups of 25, `concurrency` requests in flight. */
  async writeAll(items: Item[], concurrency = 4): Promise<void> {
    const writer = this.batchWriter(concurrency);
    await writer.write(items);
  }

  /**
   * A long-lived BatchWriteItem pool: groups of 25, `concurrency` requests in flight across
   * everything handed to it, each retrying its UnprocessedItems with backoff until written.
   * `write` resolves once those items are stored; the pool keeps working on later ones meanwhile,
   * so a caller can prepare its next items while the previous are written. After the first
   * failure it takes on nothing more (queued writes fail at once) and `idle()` says when the
   * requests still in flight have ended: a failed attempt leaves no stray write behind it.
   */
  batchWriter(concurrency = 4) {
    type Owner = { done: () => void; fail: (error: unknown) => void; left: number };
    const groups: { items: Item[]; owner: Owner }[] = [];
    let active = 0;
    let failure: { error: unknown } | undefined;
    const idleWaiters: (() => void)[] = [];
    const writeGroup = async (items: Item[]) => {
      let pending = items.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(2000, 50 * 2 ** attempt));
        if (failure) throw failure.error;
        const { UnprocessedItems } = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
        pending = (UnprocessedItems?.[this.table] ?? []) as typeof pending;
        if (attempt > 20 && pending.length > 0) throw new Error('BatchWriteItem kept returning UnprocessedItems');
      }
    };
    const pump = () => {
      if (failure) for (const group of groups.splice(0)) group.owner.fail(failure.error);
      while (active < concurrency && groups.length > 0) {
        const group = groups.shift()!;
        active += 1;
        writeGroup(group.items).then(
          () => {
            active -= 1;
            group.owner.left -= 1;
            if (group.owner.left === 0) group.owner.done();
            pump();
          },
          (error: unknown) => {
            active -= 1;
            failure ??= { error };
            group.owner.fail(error);
            pump();
          },
        );
      }
      if (active === 0) for (const wake of idleWaiters.splice(0)) wake();
    };
    return {
      write(items: Item[]): Promise<void> {
        if (items.length === 0) return Promise.resolve();
        return new Promise<void>((done, fail) => {
          const owner: Owner = { done, fail, left: Math.ceil(items.length / 25) };
          for (let i = 0; i < items.length; i += 25) groups.push({ items: items.slice(i, i + 25), owner });
          pump();
        });
      },
      /** Stops taking on queued writes (as after a failure). */
      abort(reason: unknown = new Error('writer aborted')): void {
        failure ??= { error: reason };
        pump();
      },
      /** Resolves once no request is in flight. */
      idle(): Promise<void> {
        return active === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
      },
    };
  }

  messageItem(message: MessageRecord): Item {
    return { ...keys.message(message.transaction_id, message.batch_id, message.message_id), ...message };
  }

  batchItem(batch: BatchRecord): Item {
    return { ...keys.batch(batch.transaction_id, batch.batch_id), ...batch };
  }

  rowErrorItem(transactionId: string, error: RowErrorRecord): Item {
    return { ...keys.rowError(transactionId, error.row), ...error };
  }

  async listBatches(transactionId: string): Promise<BatchRecord[]> {
    return this.queryAll<BatchRecord>(`TRANSACTION#${transactionId}`, 'BATCH#');
  }

  async listRowErrors(
    transactionId: string,
    limit: number,
    cursor?: Cursor,
  ): Promise<{ items: RowErrorRecord[]; cursor?: Cursor }> {
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        ExpressionAttributeValues: { ':pk': `TRANSACTION#${transactionId}`, ':sk': 'ERROR#' },
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    return { items: (Items ?? []).map((i) => stripKeys<RowErrorRecord>(i)), cursor: LastEvaluatedKey };
  }

  /** One page of a batch's messages in row order, optionally only those in `statuses`. */
  async pageMessages(
    transactionId: string,
    batchId: string,
    limit: number,
    cursor?: Cursor,
    statuses?: readonly MessageStatus[],
  ): Promise<{ items: MessageRecord[]; cursor?: Cursor }> {
    const filter = statuses && statuses.length > 0;
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        FilterExpression: filter ? `#s IN (${statuses.map((_, i) => `:s${i}`).join(', ')})` : undefined,
        ExpressionAttributeNames: filter ? { '#s': 'status' } : undefined,
        ExpressionAttributeValues: {
          ':pk': keys.batchPartition(transactionId, batchId),
          ':sk': 'MESSAGE#',
          ...(filter ? Object.fromEntries(statuses.map((s, i) => [`:s${i}`, s])) : {}),
        },
        // Unfiltered, one item more than asked says whether another page exists, so a page
        // that ends the batch carries no cursor (no empty follow-up query, no empty send chunk).
        Limit: filter ? limit : limit + 1,
        ExclusiveStartKey: cursor,
        ConsistentRead: true,
      }),
    );
    let items = Items ?? [];
    let next = LastEvaluatedKey;
    if (!filter && items.length > limit) {
      items = items.slice(0, limit);
      const last = items[limit - 1]!;
      next = { PK: last.PK, SK: last.SK };
    }
    return { items: items.map((i) => stripKeys<MessageRecord>(i)), cursor: next };
  }

  async getMessage(transactionId: string, batchId: string, messageId: string): Promise<MessageRecord | undefined> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND SK = :sk',
        ExpressionAttributeValues: keysToValues(keys.message(transactionId, batchId, messageId)),
        ConsistentRead: true,
      }),
    );
    return Items?.[0] ? stripKeys<MessageRecord>(Items[0]) : undefined;
  }

  /**
   * Conditional status transition with its history entry in the same write. `from` lists
   * the statuses the message may be in; `token` guards the SENDING → SENT step.
   */
  async transitionMessage(
    message: Pick<MessageRecord, 'transaction_id' | 'batch_id' | 'message_id'>,
    to: MessageStatus,
    opts: {
      from: readonly MessageStatus[];
      /** Also take a message SENDING since before this time (its attempt is presumed dead). */
      orStaleSending?: string;
      token?: string;
      set?: Record<string, unknown>;
      remove?: string[];
      metadata?: Record<string, unknown>;
      at?: string;
    },
  ): Promise<boolean> {
    const at = opts.at ?? new Date().toISOString();
    const names: Record<string, string> = { '#s': 'status' };
    const values: Record<string, unknown> = {
      ':to': to,
      ':at': at,
      ':h': [{ status: to, timestamp: at, ...(opts.metadata ? { metadata: opts.metadata } : {}) }],
    };
    const sets = ['#s = :to', 'updated_at = :at', 'status_history = list_append(status_history, :h)'];
    Object.entries(opts.set ?? {}).forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
    });
    const from = opts.from.map((s, i) => {
      values[`:from${i}`] = s;
      return `:from${i}`;
    });
    let condition = `#s IN (${from.join(', ')})`;
    if (opts.orStaleSending) {
      values[':sending'] = 'SENDING';
      values[':cutoff'] = opts.orStaleSending;
      condition = `(${condition} OR (#s = :sending AND updated_at < :cutoff))`;
    }
    if (opts.token) {
      values[':tok'] = opts.token;
      condition += ' AND attempt_token = :tok';
    }
    const remove = opts.remove?.length ? ` REMOVE ${opts.remove.join(', ')}` : '';
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.message(message.transaction_id, message.batch_id, message.message_id),
          UpdateExpression: `SET ${sets.join(', ')}${remove}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Applies an SES event to a message once: the event's flag attribute makes repeats no-ops,
   * and the status only moves forward (a Delivery after an Open records its time, not its status).
   */
  async applyEffect(
    ref: { transactionId: string; batchId: string; messageId: string; sesMessageId: string },
    effect: MessageEffect,
  ): Promise<{ found: boolean; applied: boolean; before?: MessageRecord }> {
    const key = keys.message(ref.transactionId, ref.batchId, ref.messageId);
    const names: Record<string, string> = { '#flag': effect.flag };
    const values: Record<string, unknown> = { ':at': effect.at, ':now': new Date().toISOString() };
    const sets = ['#flag = :at', 'updated_at = :now'];
    Object.entries(effect.fields).forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
    });
    if (effect.outcome) sets.push('outcome_time = if_not_exists(outcome_time, :at)');
    if (effect.kind === 'send') {
      values[':sid'] = ref.sesMessageId;
      sets.push('ses_message_id = if_not_exists(ses_message_id, :sid)');
    }
    const attempt = async (withStatus: boolean) => {
      const n = { ...names };
      const v: Record<string, unknown> = { ...values };
      const s = [...sets];
      let condition = 'attribute_exists(PK) AND attribute_not_exists(#flag)';
      const target = effect.kind === 'send' ? 'SENT' : effect.status;
      const entry: Record<string, unknown> = { event: effect.kind.toUpperCase(), timestamp: effect.at, metadata: effect.fields };
      if (withStatus && target) {
        n['#s'] = 'status';
        v[':to'] = target;
        s.push('#s = :to');
        if (effect.kind === 'send') s.push('sent_time = if_not_exists(sent_time, :at)');
        const from = effect.kind === 'send' ? (['SENDING'] as MessageStatus[]) : statusesBefore(target);
        condition += ` AND #s IN (${from.map((st, i) => ((v[`:from${i}`] = st), `:from${i}`)).join(', ')})`;
        entry.status = target;
      } else if (effect.kind === 'send') {
        // Recording a Send event on a message SES already answered for: leave SENDING to the other attempt.
        n['#s'] = 'status';
        v[':sending'] = 'SENDING';
        condition += ' AND #s <> :sending';
      }
      v[':h'] = [entry];
      s.push('status_history = list_append(status_history, :h)');
      return this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: `SET ${s.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: n,
          ExpressionAttributeValues: v,
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    };
    // A Send event usually finds its message SENT already (the sender recorded SES's answer):
    // try the flag alone first, then SENDING → SENT, then the flag again if the sender won the race.
    const attempts = effect.kind === 'send' ? [false, true, false] : effect.status ? [true, false] : [false];
    for (const withStatus of attempts) {
      try {
        const { Attributes } = await attempt(withStatus);
        return { found: true, applied: true, before: Attributes ? stripKeys<MessageRecord>(Attributes) : undefined };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const old = (error as { Item?: Record<string, unknown> }).Item;
        if (!old) return { found: false, applied: false };
        const before = unmarshall(old as never) as MessageRecord & Record<string, unknown>;
        if (before[effect.flag] !== undefined) return { found: true, applied: false, before };
      }
    }
    return { found: true, applied: false };
  }

  async findBySesMessageId(sesMessageId: string): Promise<{ transactionId: string; batchId: string; messageId: string } | undefined> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: GSI_SES_MESSAGE,
        KeyConditionExpression: 'ses_message_id = :sid',
        ExpressionAttributeValues: { ':sid': sesMessageId },
        Limit: 1,
      }),
    );
    const item = Items?.[0];
    return item
      ? { transactionId: item.transaction_id as string, batchId: item.batch_id as string, messageId: item.message_id as string }
      : undefined;
  }

  /**
   * Counts one more message of the batch whose delivery outcome is known (called once per
   * message, on its first outcome event). Returns the new count and how many sent messages the
   * batch awaits outcomes for (known once sending is over).
   */
  async addBatchOutcome(transactionId: string, batchId: string): Promise<{ outcomes: number; awaiting?: number }> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.batch(transactionId, batchId),
        UpdateExpression: 'ADD outcomes :one',
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { outcomes: Number(Attributes?.outcomes ?? 0), awaiting: Attributes?.awaiting_outcomes as number | undefined };
  }

  /** Sets fields of a batch; returns the batch as stored afterwards. */
  async setBatchFields(transactionId: string, batchId: string, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = Object.entries(fields).map(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:v${i}`] = value;
      return `#f${i} = :v${i}`;
    });
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.batch(transactionId, batchId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes ?? {};
  }

  // ---- suppression ----
  async suppressedAmong(tenantId: string, emails: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const unique = [...new Set(emails)];
    const groups: string[][] = [];
    for (let i = 0; i < unique.length; i += 100) groups.push(unique.slice(i, i + 100));
    await Promise.all(
      groups.map(async (group) => {
        let request: Record<string, unknown>[] | undefined = group.map((e) => keys.suppression(tenantId, e));
        for (let attempt = 0; request && request.length > 0; attempt++) {
          if (attempt > 0) await sleep(Math.min(2000, 50 * 2 ** attempt));
          const result: BatchGetCommandOutput = await this.doc.send(
            new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request, ProjectionExpression: 'email' } } }),
          );
          for (const item of result.Responses?.[this.table] ?? []) found.add(item.email as string);
          request = result.UnprocessedKeys?.[this.table]?.Keys;
        }
      }),
    );
    return found;
  }

  async putSuppression(record: SuppressionRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { ...keys.suppression(record.tenant_id, record.email), ...record } }),
    );
  }

  /** Adds an address unless it is already suppressed (the first reason is kept). */
  async addSuppression(record: SuppressionRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.suppression(record.tenant_id, record.email), ...record },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async getSuppression(tenantId: string, email: string): Promise<SuppressionRecord | undefined> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND SK = :sk',
        ExpressionAttributeValues: keysToValues(keys.suppression(tenantId, email)),
      }),
    );
    return Items?.[0] ? stripKeys<SuppressionRecord>(Items[0]) : undefined;
  }

  async deleteSuppression(tenantId: string, email: string): Promise<boolean> {
    const { Attributes } = await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: keys.suppression(tenantId, email), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
  }

  async listSuppressions(
    tenantId: string,
    limit: number,
    cursor?: Cursor,
  ): Promise<{ items: SuppressionRecord[]; cursor?: Cursor }> {
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': `SUPPRESSION#${tenantId}` },
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    return { items: (Items ?? []).map((i) => stripKeys<SuppressionRecord>(i)), cursor: LastEvaluatedKey };
  }

  private async queryAll<T>(pk: string, skPrefix: string): Promise<T[]> {
    const out: T[] = [];
    let cursor: Cursor | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
          ExpressionAttributeValues: { ':pk': pk, ':sk': skPrefix },
          ExclusiveStartKey: cursor,
          ConsistentRead: true,
        }),
      );
      for (const item of Items ?? []) out.push(stripKeys<T>(item));
      cursor = LastEvaluatedKey;
    } while (cursor);
    return out;
  }
}

function keysToValues(key: Key) {
  return { ':pk': key.PK, ':sk': key.SK };
}
