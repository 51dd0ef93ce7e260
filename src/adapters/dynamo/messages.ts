// Messages in DynamoDB: one item per valid recipient row, in its batch's partition, moved
// between statuses by conditional writes (the sender's, and the SES events').
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { statusesBefore, type MessageStatus } from '../../domain/message-status';
import type { MessageEffect } from '../../domain/ses-event';
import type { Cursor, MessageLocation, Messages, Page, TableItem, TransitionOptions } from '../../ports';
import { SetExpression, valueList } from './expressions';
import { keys, ranges } from './keys';
import { GSI_SES_MESSAGE } from './schema';
import { conditionHeld, isConditionFailure, recordOf, Table } from './table';
import type { MessageRecord } from './types';

export class MessageTable extends Table implements Messages {
  messageItem(message: MessageRecord): TableItem {
    return { ...keys.message(message.transaction_id, message.batch_id, message.message_id), ...message };
  }

  async pageMessages(
    transactionId: string,
    batchId: string,
    limit: number,
    cursor?: Cursor,
    statuses?: readonly MessageStatus[],
  ): Promise<Page<MessageRecord>> {
    const filter = statuses && statuses.length > 0;
    const range = ranges.messages(transactionId, batchId);
    const values: Record<string, unknown> = { ':pk': range.PK, ':sk': range.skPrefix };
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        FilterExpression: filter ? `#s IN (${valueList(values, 's', statuses)})` : undefined,
        ExpressionAttributeNames: filter ? { '#s': 'status' } : undefined,
        ExpressionAttributeValues: values,
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
    return { items: items.map((i) => recordOf<MessageRecord>(i)), cursor: next };
  }

  getMessage(transactionId: string, batchId: string, messageId: string): Promise<MessageRecord | undefined> {
    return this.queryItem<MessageRecord>(keys.message(transactionId, batchId, messageId), true);
  }

  async transitionMessage(
    message: Pick<MessageRecord, 'transaction_id' | 'batch_id' | 'message_id'>,
    to: MessageStatus,
    opts: TransitionOptions,
  ): Promise<boolean> {
    const update = new SetExpression().status(to, opts.at ?? new Date().toISOString(), opts.metadata).fields(opts.set ?? {});
    let condition = `#s IN (${valueList(update.values, 'from', opts.from)})`;
    if (opts.orStaleSending) {
      update.values[':sending'] = 'SENDING';
      update.values[':cutoff'] = opts.orStaleSending;
      condition = `(${condition} OR (#s = :sending AND updated_at < :cutoff))`;
    }
    if (opts.token) {
      update.values[':tok'] = opts.token;
      condition += ' AND attempt_token = :tok';
    }
    return conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.message(message.transaction_id, message.batch_id, message.message_id),
          ...update.params,
          ConditionExpression: condition,
        }),
      ),
    );
  }

  async applyEffect(
    ref: MessageLocation & { sesMessageId: string },
    effect: MessageEffect,
  ): Promise<{ found: boolean; applied: boolean; before?: MessageRecord }> {
    const key = keys.message(ref.transactionId, ref.batchId, ref.messageId);
    const now = new Date().toISOString();
    const attempt = async (withStatus: boolean) => {
      const update = new SetExpression({ '#flag': effect.flag }, { ':at': effect.at, ':now': now })
        .set('#flag = :at', 'updated_at = :now')
        .fields(effect.fields);
      if (effect.outcome) update.set('outcome_time = if_not_exists(outcome_time, :at)');
      if (effect.kind === 'send') {
        update.values[':sid'] = ref.sesMessageId;
        update.set('ses_message_id = if_not_exists(ses_message_id, :sid)');
      }
      let condition = 'attribute_exists(PK) AND attribute_not_exists(#flag)';
      const target = effect.kind === 'send' ? 'SENT' : effect.status;
      const entry: Record<string, unknown> = { event: effect.kind.toUpperCase(), timestamp: effect.at, metadata: effect.fields };
      if (withStatus && target) {
        update.names['#s'] = 'status';
        update.values[':to'] = target;
        update.set('#s = :to');
        if (effect.kind === 'send') update.set('sent_time = if_not_exists(sent_time, :at)');
        const from = effect.kind === 'send' ? (['SENDING'] as MessageStatus[]) : statusesBefore(target);
        condition += ` AND #s IN (${valueList(update.values, 'from', from)})`;
        entry.status = target;
      } else if (effect.kind === 'send') {
        // Recording a Send event on a message SES already answered for: leave SENDING to the other attempt.
        update.names['#s'] = 'status';
        update.values[':sending'] = 'SENDING';
        condition += ' AND #s <> :sending';
      }
      update.history(entry);
      return this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          ...update.params,
          ConditionExpression: condition,
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
        return { found: true, applied: true, before: Attributes ? recordOf<MessageRecord>(Attributes) : undefined };
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

  async findBySesMessageId(sesMessageId: string): Promise<MessageLocation | undefined> {
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
}
