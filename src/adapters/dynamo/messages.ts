// Messages in DynamoDB: one item per valid recipient row, in its batch's partition, moved
// between statuses by conditional writes (the sender's, and the SES events'). Every write keeps
// the item within DynamoDB's item limit: status_history is capped (MESSAGE_HISTORY_CAP), event
// and send fields are cut, and an item DynamoDB still refuses as too large is compacted, never
// retried as it was.
import {
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { boundStrings } from '../../domain/item-size';
import { ERASED_ADDRESS } from '../../domain/erasure';
import { statusesBefore, type MessageStatus } from '../../domain/message-status';
import type { MessageEffect } from '../../domain/ses-event';
import { decideSoftBounce, type SoftBouncePolicy } from '../../domain/soft-bounce';
import type { Cursor, MessageLocation, Messages, Page, TableItem, TransitionOptions } from '../../ports';
import { MESSAGE_HISTORY_CAP, SetExpression, valueList, type HistoryMode } from './expressions';
import { counterShardOf, counterShardSk } from './counter-shards';
import { GroupedUpdates } from './grouped-updates';
import { keys, ranges } from './keys';
import { GSI_SES_MESSAGE } from './schema';
import {
  failedCondition,
  isConditionFailure,
  isItemTooLarge,
  itemOfConditionFailure,
  recordOf,
  retryConflicts,
  Table,
  withCappedHistory,
} from './table';
import type { MessageRecord } from './types';

/**
 * Strings an event writes onto its message (SMTP responses, bounce diagnostics, user agents,
 * clicked URLs) are cut to this; the send path's fields (failure reasons) to SET_STRING_MAX_BYTES.
 * With the history cap this bounds how much a message can grow after ingest (MESSAGE_GROWTH_RESERVE).
 */
export const EVENT_FIELD_MAX_BYTES = 1024;
export const SET_STRING_MAX_BYTES = 2048;
/** Statuses on the way to SES: a message too large to take them fails (ITEM_TOO_LARGE) rather than be sent unrecorded. */
const TOWARDS_SES: readonly MessageStatus[] = ['SCHEDULED', 'READY_TO_SEND', 'SENDING'];
const ITEM_TOO_LARGE_REASON = "ITEM_TOO_LARGE: the message reached DynamoDB's 400 KB item limit; it was not sent";

/** A conditional write's result, or `otherwise` when its condition failed. */
async function conditionOr<T>(otherwise: T, write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (isConditionFailure(error)) return otherwise;
    throw error;
  }
}

/**
 * Whether the event is of an attempt a soft-bounce retry superseded: its send round (tagged on
 * every retry; none is round 0, the first send) is behind the message's. By round, not by SES
 * id: an attempt whose id the store never recorded (its bounce beat the SENT write) or a second
 * acceptance of one round (an allowed resend) is told apart all the same.
 */
export function isSuperseded(ref: { sendRound?: number }, message: MessageRecord): boolean {
  return (ref.sendRound ?? 0) < (message.soft_bounce_retries ?? 0);
}

/** The flag of a soft bounce that the policy turned into a retry (one per attempt: the retry removes it). */
const SOFT_BOUNCE_RETRY_FLAG = 'soft_bounce_time';

/**
 * The effect as it applies to this message: an erased recipient's late event counts (flag, status,
 * counter) but writes none of its details (user agent, IP address, URL, SMTP diagnostics); a soft
 * bounce the policy retries (issue 17, item 2) becomes SOFT_BOUNCED with its retry time, no outcome
 * and no counter; one it does not is final, as given, with the reason.
 */
export function effectFor(effect: MessageEffect, message: MessageRecord, policy: SoftBouncePolicy | undefined): MessageEffect {
  const erased = message.recipient_email === ERASED_ADDRESS;
  if (erased) effect = { ...effect, fields: {} };
  if (!effect.softBounce || !policy) return effect;
  // This attempt soft-bounced already and was given its retry: this is that bounce again (or
  // another of the same attempt), a repeat, whatever the policy would say of a new one now.
  const retriesDone = message.soft_bounce_retries ?? 0;
  if ((message as MessageRecord & Record<string, unknown>)[SOFT_BOUNCE_RETRY_FLAG] !== undefined) {
    return { ...effect, status: 'SOFT_BOUNCED', flag: SOFT_BOUNCE_RETRY_FLAG, counter: undefined, outcome: false };
  }
  // The first send's time; if not recorded yet (the bounce beat the SENT write), SES's own.
  const firstSentAt = message.first_sent_time ?? message.sent_time ?? effect.mailAt;
  const decision = decideSoftBounce(policy, { retriesDone, firstSentAt }, effect.at);
  if (!decision.retry) {
    return { ...effect, fields: { ...effect.fields, soft_bounce_retries: retriesDone, soft_bounce_final: decision.reason } };
  }
  return {
    ...effect,
    status: 'SOFT_BOUNCED',
    flag: SOFT_BOUNCE_RETRY_FLAG,
    counter: undefined,
    outcome: false,
    fields: {
      ...effect.fields,
      retry_at: decision.retryAt,
      soft_bounce_retries: decision.retriesDone,
      // Kept now: the retry's SENT writes its own sent_time, and the deadline runs from the first send.
      ...(message.first_sent_time === undefined && firstSentAt ? { first_sent_time: firstSentAt } : {}),
    },
  };
}

export class MessageTable extends Table implements Messages {
  /**
   * The status transitions' conditional writes, sent together while others are in flight
   * (GroupedUpdates), unless built with `groupTransitions: false` (each its own UpdateItem).
   */
  readonly transitions?: GroupedUpdates;

  constructor(doc: DynamoDBDocumentClient, table: string, options: { groupTransitions?: boolean } = {}) {
    super(doc, table);
    if (options.groupTransitions !== false) this.transitions = new GroupedUpdates(doc);
  }

  messageItem(message: MessageRecord): TableItem {
    return { ...keys.message(message.transaction_id, message.batch_id, message.message_id), ...message };
  }

  async pageMessages(
    transactionId: string,
    batchId: string,
    limit: number,
    cursor?: Cursor,
    statuses?: readonly MessageStatus[],
    opts: { scan?: number; until?: string } = {},
  ): Promise<Page<MessageRecord>> {
    const filter = statuses && statuses.length > 0;
    const range = ranges.messages(transactionId, batchId);
    const values: Record<string, unknown> = { ':pk': range.PK, ':sk': range.skPrefix };
    if (opts.until !== undefined) values[':until'] = opts.until;
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        // The bound starts with the prefix (it is a message's key), so BETWEEN stays within the batch's messages.
        KeyConditionExpression: opts.until !== undefined ? 'PK = :pk AND SK BETWEEN :sk AND :until' : 'PK = :pk AND begins_with(SK, :sk)',
        FilterExpression: filter ? `#s IN (${valueList(values, 's', statuses)})` : undefined,
        ExpressionAttributeNames: filter ? { '#s': 'status' } : undefined,
        ExpressionAttributeValues: values,
        // Unfiltered, one item more than asked says whether another page exists, so a page
        // that ends the batch carries no cursor (no empty follow-up query, no empty send chunk).
        // Filtered, Limit counts the items read before the filter: read `scan` of them (when
        // larger), keep the first `limit` that match and resume after the last one kept.
        Limit: filter ? Math.max(limit, opts.scan ?? limit) : limit + 1,
        ExclusiveStartKey: cursor,
        ConsistentRead: true,
      }),
    );
    let items = Items ?? [];
    let next = LastEvaluatedKey;
    if (items.length > limit) {
      items = items.slice(0, limit);
      const last = items[limit - 1]!;
      next = { PK: last.PK, SK: last.SK };
    }
    return { items: items.map((i) => recordOf<MessageRecord>(i)), cursor: next };
  }

  async chunkBounds(transactionId: string, batchId: string, size: number): Promise<{ pk: string; bounds: string[] }> {
    const range = ranges.messages(transactionId, batchId);
    const bounds: string[] = [];
    let start: Record<string, unknown> | undefined;
    let seen = 0;
    let last: string | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
          ExpressionAttributeValues: { ':pk': range.PK, ':sk': range.skPrefix },
          ProjectionExpression: 'SK',
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      for (const item of Items ?? []) {
        last = item.SK as string;
        if (++seen % size === 0) bounds.push(last);
      }
      start = LastEvaluatedKey;
    } while (start);
    if (last !== undefined && bounds.at(-1) !== last) bounds.push(last);
    return { pk: range.PK, bounds };
  }

  getMessage(transactionId: string, batchId: string, messageId: string): Promise<MessageRecord | undefined> {
    return this.queryItem<MessageRecord>(keys.message(transactionId, batchId, messageId), true);
  }

  async transitionMessage(
    message: Pick<MessageRecord, 'transaction_id' | 'batch_id' | 'message_id'>,
    to: MessageStatus,
    opts: TransitionOptions,
  ): Promise<boolean> {
    const key = keys.message(message.transaction_id, message.batch_id, message.message_id);
    const at = opts.at ?? new Date().toISOString();
    /**
     * The write, with its history entry appended, in the last kept slot, or (`compact`) as the
     * whole history, placeholder_data removed too when `dropData`. A compacted message that was
     * still on its way to SES fails instead (ITEM_TOO_LARGE): it could not record its sending.
     */
    const write = (mode: HistoryMode, dropData = false) => retryConflicts(() => send(mode, dropData));
    const send = (mode: HistoryMode, dropData: boolean) => {
      const compact = mode === 'replace';
      const target = compact && TOWARDS_SES.includes(to) ? 'FAILED' : to;
      const fields =
        target === to
          ? boundStrings(opts.set ?? {}, SET_STRING_MAX_BYTES)
          : { failure_reason: ITEM_TOO_LARGE_REASON, failure_code: 'ITEM_TOO_LARGE' };
      const metadata = compact
        ? { ...(opts.metadata ?? {}), code: 'ITEM_TOO_LARGE', history_compacted: true, ...(target === to ? {} : { instead_of: to }) }
        : opts.metadata;
      const update = new SetExpression().status(target, at, metadata).fields(fields);
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
      Object.entries(opts.expect ?? {}).forEach(([name, value], i) => {
        update.names[`#x${i}`] = name;
        update.values[`:x${i}`] = value;
        condition += ` AND #x${i} = :x${i}`;
      });
      const removed = (opts.remove ?? []).map((name, i) => {
        update.names[`#r${i}`] = name;
        return `#r${i}`;
      });
      if (dropData) removed.push('placeholder_data');
      const cap = update.capHistory(MESSAGE_HISTORY_CAP, mode);
      // No bare OR at the top of the condition (the stale-SENDING one is parenthesised): AND binds as meant.
      if (cap) condition += ` AND ${cap}`;
      const params = update.params;
      const input: UpdateCommandInput = {
        TableName: this.table,
        Key: key,
        ...params,
        UpdateExpression: params.UpdateExpression + (removed.length > 0 ? ` REMOVE ${removed.join(', ')}` : ''),
        ConditionExpression: condition,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      };
      const sent = this.transitions ? this.transitions.update(input) : this.doc.send(new UpdateCommand(input));
      return sent.then(() => target === to);
    };
    try {
      return await conditionOr(
        false,
        withCappedHistory(MESSAGE_HISTORY_CAP, (mode) => write(mode)),
      );
    } catch (error) {
      if (!isItemTooLarge(error)) throw error;
    }
    // DynamoDB refused the item as too large (only an item written before ingest measured items
    // can get here): never retried as it is, the write goes again with the history compacted.
    try {
      return await conditionOr(false, write('replace'));
    } catch (error) {
      if (!isItemTooLarge(error)) throw error;
      return conditionOr(false, write('replace', true));
    }
  }

  async applyEffect(
    ref: MessageLocation & { sesMessageId: string; sendRound?: number },
    given: MessageEffect,
    opts: { softBounce?: SoftBouncePolicy } = {},
  ): Promise<{ found: boolean; applied: boolean; before?: MessageRecord; effect?: MessageEffect; superseded?: boolean }> {
    const key = keys.message(ref.transactionId, ref.batchId, ref.messageId);
    // Read first, then write on condition that nothing the write depends on has changed (status,
    // whether an outcome is known, room in the history): the counter moves in the same
    // transaction as the flag, so it is counted exactly once whatever crashes or repeats.
    // A Send event first tries its write as if it were read as it usually is (sendWithoutRead).
    const guessed = given.kind === 'send' ? await this.sendWithoutRead(key, ref, given) : undefined;
    if (guessed?.applied) return { found: true, applied: true, before: guessed.before, effect: given };
    let before = guessed ? guessed.seen : await this.readForEffect(key, [given.flag, SOFT_BOUNCE_RETRY_FLAG]);
    let compact: 'no' | 'history' | 'data' = 'no';
    for (let attempt = 0; attempt < 12; attempt++) {
      if (!before) return { found: false, applied: false };
      const record = recordOf<MessageRecord>(before);
      // An event of an attempt a soft-bounce retry superseded (its late Open, a repeat of its
      // bounce) is not this attempt's: it changes nothing.
      if (isSuperseded(ref, record)) return { found: true, applied: false, before: record, superseded: true };
      const effect = effectFor(given, record, opts.softBounce);
      if (before[effect.flag] !== undefined) return { found: true, applied: false, before: record, effect };
      const seen = before;
      try {
        await retryConflicts(() => this.writeEffect(key, ref, effect, seen, compact));
        return { found: true, applied: true, before: record, effect };
      } catch (error) {
        if (isItemTooLarge(error) && compact !== 'data') {
          compact = compact === 'no' ? 'history' : 'data';
          continue;
        }
        if (!failedCondition(error)) throw error;
        // Something changed since the read: decide again from the item as the condition saw it.
        before = itemOfConditionFailure(error);
      }
    }
    throw new Error(`SES ${given.kind} event not applied to ${ref.messageId}: the message kept changing`);
  }

  /**
   * A Send event's write without the read before it (issue 18, item 3): on condition that the
   * message is as a Send event usually finds it, SENT by its sender with no Send event yet, room
   * in its history, and not a later round than the event's (else it is superseded); the item
   * before the write comes back with it (ALL_OLD), as the read would have given it. A Send event
   * has no counter and no outcome, so the write is one UpdateItem, and its fields are none, so an
   * erased recipient's write is the same. When the condition fails, the item it saw is what
   * applyEffect decides from (`seen`, undefined when there is no such message), as after a read;
   * when the write meets anything else that it would not as read (the item too large), `seen` is
   * read.
   */
  private async sendWithoutRead(
    key: { PK: string; SK: string },
    ref: MessageLocation & { sesMessageId: string; sendRound?: number },
    given: MessageEffect,
  ): Promise<{ applied: true; before: MessageRecord } | { applied: false; seen: Record<string, unknown> | undefined }> {
    const usual = { status: 'SENT', status_history: [] };
    try {
      const old = (await retryConflicts(() => this.writeEffect(key, ref, given, usual, 'no', ref.sendRound ?? 0))) as {
        Attributes?: Record<string, unknown>;
      };
      return { applied: true, before: recordOf<MessageRecord>(old.Attributes!) };
    } catch (error) {
      if (failedCondition(error)) return { applied: false, seen: itemOfConditionFailure(error) };
      if (!isItemTooLarge(error)) throw error;
      return { applied: false, seen: await this.readForEffect(key, [given.flag, SOFT_BOUNCE_RETRY_FLAG]) };
    }
  }

  /** What applyEffect decides from: the message without its row data (consistent). */
  private async readForEffect(key: { PK: string; SK: string }, flags: string[]): Promise<Record<string, unknown> | undefined> {
    const names = ['PK', 'SK', 'message_id', 'batch_id', 'transaction_id', 'tenant_id', 'recipient_email', 'row', 'status'];
    names.push('ses_message_id', 'sent_time', 'outcome_time', 'status_history', 'created_at', 'updated_at', ...new Set(flags));
    names.push('soft_bounce_retries', 'first_sent_time', 'previous_ses_message_ids');
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: key,
        ConsistentRead: true,
        ProjectionExpression: names.map((_, i) => `#p${i}`).join(', '),
        ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#p${i}`, n])),
      }),
    );
    return Item;
  }

  /**
   * One application of `effect` to the message as `before` shows it: the flag, the event's fields,
   * the status when the event moves it forward, and the history entry, on condition that the
   * message is still as read; with the effect's counter on the message's counter shard of the
   * transaction in the same TransactWriteItems.
   */
  private writeEffect(
    key: { PK: string; SK: string },
    ref: MessageLocation & { sesMessageId: string },
    effect: MessageEffect,
    before: Record<string, unknown>,
    compact: 'no' | 'history' | 'data',
    /** Written without a read (sendWithoutRead): also on condition the message is not past this round, and the item before it returned. */
    unreadAtRound?: number,
  ): Promise<unknown> {
    const status = before.status as MessageStatus;
    const target = effect.kind === 'send' ? 'SENT' : effect.status;
    // A Send event takes SENDING to SENT; on a message the sender already answered for it records its flag.
    const withStatus = effect.kind === 'send' ? status === 'SENDING' : target !== undefined && statusesBefore(target).includes(status);
    // A failure counts when it moves the message to FAILED (as the recount counts FAILED messages);
    // every other counter counts its flag (as the recount counts flags).
    const counter = effect.counter && (effect.counter !== 'failed' || withStatus) ? effect.counter : undefined;
    const fields = boundStrings(effect.fields, EVENT_FIELD_MAX_BYTES);
    const history = before.status_history;
    const mode: HistoryMode =
      compact !== 'no' || !Array.isArray(history) ? 'replace' : history.length >= MESSAGE_HISTORY_CAP ? 'last' : 'append';

    const update = new SetExpression(
      { '#flag': effect.flag, '#s': 'status' },
      { ':at': effect.at, ':now': new Date().toISOString(), ':was': status },
    )
      .set('#flag = :at', 'updated_at = :now')
      .fields(fields);
    const conditions = ['attribute_exists(PK)', 'attribute_not_exists(#flag)', '#s = :was'];
    if (effect.outcome) {
      update.set('outcome_time = if_not_exists(outcome_time, :at)');
      conditions.push(before.outcome_time === undefined ? 'attribute_not_exists(outcome_time)' : 'attribute_exists(outcome_time)');
    }
    if (effect.kind === 'send') {
      update.values[':sid'] = ref.sesMessageId;
      // The Send event that settles a SENDING attempt names its SES id (a soft-bounce retry's
      // attempt still carries the one before it until then); otherwise the first id stays.
      update.set(withStatus ? 'ses_message_id = :sid' : 'ses_message_id = if_not_exists(ses_message_id, :sid)');
    }
    const entry: Record<string, unknown> = { event: effect.kind.toUpperCase(), timestamp: effect.at, metadata: fields };
    if (withStatus && target) {
      update.values[':to'] = target;
      update.set('#s = :to');
      if (effect.kind === 'send') update.set('sent_time = if_not_exists(sent_time, :at)');
      entry.status = target;
    }
    if (compact !== 'no') entry.metadata = { ...fields, code: 'ITEM_TOO_LARGE', history_compacted: true };
    update.history(entry);
    const cap = update.capHistory(MESSAGE_HISTORY_CAP, mode);
    if (cap) conditions.push(cap);
    if (unreadAtRound !== undefined) {
      update.names['#round'] = 'soft_bounce_retries';
      update.values[':round'] = unreadAtRound;
      conditions.push('(attribute_not_exists(#round) OR #round <= :round)');
    }
    const params = update.params;
    const message = {
      TableName: this.table,
      Key: key,
      ...params,
      UpdateExpression: params.UpdateExpression + (compact === 'data' ? ' REMOVE placeholder_data' : ''),
      ConditionExpression: conditions.join(' AND '),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    if (!counter)
      return this.doc.send(new UpdateCommand({ ...message, ...(unreadAtRound !== undefined ? { ReturnValues: 'ALL_OLD' } : {}) }));
    if (unreadAtRound !== undefined) throw new Error('an effect with a counter is not written without a read');
    // On the message's counter shard, not the transaction record (no hot item: counter-shards.ts).
    // A failure there is one an event moved to FAILED: the live sum takes it out of `sent`.
    const counts = {
      TableName: this.table,
      Key: { PK: keys.transaction(ref.transactionId).PK, SK: counterShardSk(counterShardOf(ref.messageId)) },
      UpdateExpression: 'ADD #n :one',
      ExpressionAttributeNames: { '#n': counter },
      ExpressionAttributeValues: { ':one': 1 },
    };
    return this.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: message }, { Update: counts }] }));
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
