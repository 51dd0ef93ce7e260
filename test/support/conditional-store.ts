// An in-memory stand-in for the part of the single DynamoDB table the send path touches, with
// DynamoDB's conditional-write semantics, for the property tests of the send path
// (test/unit/send-interleavings.property.test.ts). Each operation is what the adapter in
// src/adapters/dynamo sends, evaluated the way DynamoDB evaluates it:
//
// - Every write is atomic: its condition and its update see and change one item at once; a
//   failed condition changes nothing (the adapters turn ConditionalCheckFailed into `false`).
// - Conditions read attributes as stored: a missing attribute makes `=` / `<` / `IN` false,
//   `attribute_not_exists` true; `<` on strings compares code units (ISO timestamps: time order).
// - Reads are strongly consistent (the adapters ask for ConsistentRead on messages), records
//   go in and out as copies (as over the wire), and a query's `Limit` counts the items it
//   evaluated before its filter, so a filtered page can be short and still carry a cursor.
// - `transitionMessage` is MessageTable.transitionMessage: `#s IN (from) [OR (#s = SENDING AND
//   updated_at < cutoff)] [AND attempt_token = token] [AND #x = :x for each expected attribute]`,
//   then status, updated_at, the `set` fields, the `remove`d attributes and one status_history
//   entry in the same write.
// - status_history is capped as the adapters cap it (MESSAGE_HISTORY_CAP): the first 31 entries
//   stay, the 32nd slot always holds the latest one, `status_history_dropped` counts the overwritten.
// - `applyEffect` is MessageTable.applyEffect: an event whose SES id is one of the message's
//   `previous_ses_message_ids` (an attempt a soft-bounce retry superseded) changes nothing
//   (`superseded`); a soft bounce becomes, while the soft-bounce policy allows a retry (the same
//   `decideSoftBounce`), SOFT_BOUNCED with `retry_at` and `soft_bounce_retries`, flag
//   `soft_bounce_time`, no outcome and no counter, else it is final with its reason; another
//   soft bounce of an attempt already given its retry (`soft_bounce_time` set) is a repeat (the
//   `effect` is returned as the store took it). The effect's flag makes repeats no-ops, the
//   status only moves forward, a Send event takes SENDING to SENT (naming its SES id) or records
//   its flag on a message that is not SENDING; the effect's counter moves in the same write as
//   the flag, on the transaction's counter shards (a failure only when it moves the message to
//   FAILED; a reader's `sent` is the record's less the shards' failures); an
//   erased recipient's event writes none of its fields.
// - `updateCounts` is Store.updateCounts (add, set, raise), `reconcileCounts` Store.reconcileCounts
//   (sent = sentOrRejected − event_failed, failed = failedBySend + event_failed, with the raises
//   less what the shards count), `setBatchFields` and
//   `addBatchOutcome` are BatchTable's, `suppressedAmong` / `addSuppression` SuppressionTable's
//   (`suppressedOrErasedAmong` is `suppressedAmong`: no recipient is erased here).
//
// test/integration/send-interleavings.property.test.ts runs the same model against DynamoDB
// Local itself, so this stand-in cannot drift from the real thing unnoticed.
import { liveCounts, type ShardCounts } from '../../src/adapters/dynamo/counter-shards';
import { keys } from '../../src/adapters/dynamo/keys';
import {
  emptyCounts,
  type Counts,
  type CountName,
  type MessageRecord,
  type ReconciledFigures,
  type SuppressionRecord,
  type TemplateRecord,
  type TransactionRecord,
} from '../../src/adapters/dynamo/types';
import { MESSAGE_HISTORY_CAP } from '../../src/adapters/dynamo/expressions';
import { statusesBefore, type MessageStatus } from '../../src/domain/message-status';
import type { MessageEffect } from '../../src/domain/ses-event';
import type { SoftBouncePolicy } from '../../src/domain/soft-bounce';
import { effectFor, isSuperseded } from '../../src/adapters/dynamo/messages';
import type { Cursor, MessageLocation, Messages, Page, TableItem, TransitionOptions } from '../../src/ports';

type Item = Record<string, unknown>;
const copy = <T>(value: T): T => structuredClone(value);
const nowIso = () => new Date().toISOString();

/** An attribute compared the way a DynamoDB condition does: a missing one satisfies no comparison. */
const equals = (item: Item, name: string, value: unknown) => item[name] !== undefined && item[name] === value;
const inList = (item: Item, name: string, values: readonly unknown[]) => item[name] !== undefined && values.includes(item[name]);
const lessThan = (item: Item, name: string, value: string) => typeof item[name] === 'string' && (item[name] as string) < value;

/** Appends a status_history entry as the adapters do: at the cap, the entry overwrites the last kept slot. */
function pushHistory(item: MessageRecord & Item, entry: Item): void {
  const history = [...item.status_history];
  if (history.length >= MESSAGE_HISTORY_CAP) {
    history[MESSAGE_HISTORY_CAP - 1] = entry as unknown as MessageRecord['status_history'][number];
    item.status_history_dropped = (item.status_history_dropped ?? 0) + 1;
  } else history.push(entry as unknown as MessageRecord['status_history'][number]);
  item.status_history = history;
}

export class ConditionalStore {
  /** Message records by partition key, then sort key. */
  private readonly partitions = new Map<string, Map<string, MessageRecord & Item>>();
  private readonly transactions = new Map<string, TransactionRecord>();
  private readonly batchItems = new Map<string, Item>();
  private readonly suppressionItems = new Map<string, SuppressionRecord>();
  private readonly templates = new Map<string, TemplateRecord>();
  private readonly texts = new Map<string, string>();

  // ---- set-up and inspection (what ingest and the catalog would have written) ----

  putMessages(records: MessageRecord[]): void {
    for (const record of records) {
      const key = keys.message(record.transaction_id, record.batch_id, record.message_id);
      let partition = this.partitions.get(key.PK);
      if (!partition) this.partitions.set(key.PK, (partition = new Map()));
      partition.set(key.SK, copy(record) as MessageRecord & Item);
    }
  }

  putTransaction(record: TransactionRecord): void {
    this.transactions.set(record.transaction_id, copy(record));
  }

  putTemplate(record: TemplateRecord, html: string): void {
    this.templates.set(record.template_id, copy(record));
    this.texts.set(record.s3_key, html);
  }

  /** The counts a reader sees: the record's and its counter shards' (Store.getTransaction). */
  counts(transactionId: string): Counts {
    return liveCounts(this.transactions.get(transactionId)?.counts ?? emptyCounts(), this.shardSums.get(transactionId) ?? {});
  }

  /** Each transaction's counter shards, summed (only sums are ever read). */
  private readonly shardSums = new Map<string, ShardCounts>();

  private message(ref: MessageLocation): (MessageRecord & Item) | undefined {
    const key = keys.message(ref.transactionId, ref.batchId, ref.messageId);
    return this.partitions.get(key.PK)?.get(key.SK);
  }

  // ---- the Messages port ----

  readonly messages: Messages = {
    messageItem: (message: MessageRecord): TableItem => ({
      ...keys.message(message.transaction_id, message.batch_id, message.message_id),
      ...copy(message),
    }),

    pageMessages: async (
      transactionId: string,
      batchId: string,
      limit: number,
      cursor?: Cursor,
      statuses?: readonly MessageStatus[],
      opts: { scan?: number; until?: string } = {},
    ): Promise<Page<MessageRecord>> => {
      const pk = keys.batchPartition(transactionId, batchId);
      const partition = this.partitions.get(pk) ?? new Map<string, MessageRecord & Item>();
      const after = cursor?.SK as string | undefined;
      const sorted = [...partition.entries()]
        .filter(([sk]) => (after === undefined || sk > after) && (opts.until === undefined || sk <= opts.until))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const filter = statuses && statuses.length > 0;
      if (!filter) {
        // As the adapter: one item more than asked says whether another page exists.
        const evaluated = sorted.slice(0, limit + 1);
        const items = evaluated.slice(0, limit);
        const next = evaluated.length > limit ? { PK: pk, SK: items[items.length - 1]![0] } : undefined;
        return { items: items.map(([, r]) => copy(r)), cursor: next };
      }
      // Limit counts evaluated items; the filter applies afterwards; a full page carries a cursor.
      const evaluated = sorted.slice(0, limit);
      const items = evaluated.filter(([, r]) => statuses.includes(r.status));
      const next = evaluated.length === limit && limit > 0 ? { PK: pk, SK: evaluated[evaluated.length - 1]![0] } : undefined;
      return { items: items.map(([, r]) => copy(r)), cursor: next };
    },

    chunkBounds: async (transactionId: string, batchId: string, size: number) => {
      const pk = keys.batchPartition(transactionId, batchId);
      const sks = [...(this.partitions.get(pk)?.keys() ?? [])].sort();
      const bounds = sks.filter((_, i) => (i + 1) % size === 0);
      if (sks.length > 0 && bounds.at(-1) !== sks.at(-1)) bounds.push(sks.at(-1)!);
      return { pk, bounds };
    },

    getMessage: async (transactionId: string, batchId: string, messageId: string) => {
      const found = this.message({ transactionId, batchId, messageId });
      return found ? copy(found) : undefined;
    },

    transitionMessage: async (
      message: Pick<MessageRecord, 'transaction_id' | 'batch_id' | 'message_id'>,
      to: MessageStatus,
      opts: TransitionOptions,
    ): Promise<boolean> => {
      const item = this.message({ transactionId: message.transaction_id, batchId: message.batch_id, messageId: message.message_id });
      if (!item) return false;
      let held = inList(item, 'status', opts.from);
      if (opts.orStaleSending) held = held || (equals(item, 'status', 'SENDING') && lessThan(item, 'updated_at', opts.orStaleSending));
      if (opts.token) held = held && equals(item, 'attempt_token', opts.token);
      for (const [name, value] of Object.entries(opts.expect ?? {})) held = held && equals(item, name, value);
      if (!held) return false;
      const at = opts.at ?? nowIso();
      item.status = to;
      item.updated_at = at;
      for (const [name, value] of Object.entries(opts.set ?? {})) item[name] = copy(value);
      for (const name of opts.remove ?? []) delete item[name];
      pushHistory(item, { status: to, timestamp: at, ...(opts.metadata ? { metadata: copy(opts.metadata) } : {}) });
      return true;
    },

    applyEffect: async (
      ref: MessageLocation & { sesMessageId: string; sendRound?: number },
      given: MessageEffect,
      opts: { softBounce?: SoftBouncePolicy } = {},
    ) => {
      // One atomic step: what MessageTable reads, decides and writes on condition that nothing changed.
      const item = this.message(ref);
      if (!item) return { found: false, applied: false };
      const before = copy(item) as MessageRecord;
      if (isSuperseded(ref, before)) return { found: true, applied: false, before, superseded: true };
      const effect = effectFor(given, before, opts.softBounce);
      if (item[effect.flag] !== undefined) return { found: true, applied: false, before, effect };
      const status = item.status;
      const target: MessageStatus | undefined = effect.kind === 'send' ? 'SENT' : effect.status;
      const moves = effect.kind === 'send' ? status === 'SENDING' : target !== undefined && statusesBefore(target).includes(status);
      // The effect's counter moves in the same transaction as the flag (a failure only when it moves the message to FAILED).
      const counter = effect.counter && (effect.counter !== 'failed' || moves) ? effect.counter : undefined;
      if (counter) {
        // ADD on the message's counter shard (created by its first ADD): the model keeps their sum.
        const shards = this.shardSums.get(ref.transactionId) ?? {};
        shards[counter] = (shards[counter] ?? 0) + 1;
        this.shardSums.set(ref.transactionId, shards);
      }
      item[effect.flag] = effect.at;
      item.updated_at = nowIso();
      for (const [name, value] of Object.entries(effect.fields)) item[name] = copy(value);
      if (effect.outcome && item.outcome_time === undefined) item.outcome_time = effect.at;
      // The Send event that settles a SENDING attempt names its SES id; otherwise the first id stays.
      if (effect.kind === 'send' && (moves || item.ses_message_id === undefined)) item.ses_message_id = ref.sesMessageId;
      const entry: Item = { event: effect.kind.toUpperCase(), timestamp: effect.at, metadata: copy(effect.fields) };
      if (moves && target) {
        item.status = target;
        if (effect.kind === 'send' && item.sent_time === undefined) item.sent_time = effect.at;
        entry.status = target;
      }
      pushHistory(item, entry);
      return { found: true, applied: true, before, effect };
    },

    findBySesMessageId: async (sesMessageId: string) => {
      for (const partition of this.partitions.values()) {
        for (const m of partition.values()) {
          if (m.ses_message_id === sesMessageId) return { transactionId: m.transaction_id, batchId: m.batch_id, messageId: m.message_id };
        }
      }
      return undefined;
    },
  };

  // ---- transactions, catalog, batches, suppressions, objects: what the send path and the event path call ----

  readonly store = {
    getTemplate: async (tenantId: string, templateId: string) => {
      const t = this.templates.get(templateId);
      return t && t.tenant_id === tenantId ? copy(t) : undefined;
    },
    getTransaction: async (tenantId: string | undefined, transactionId: string) => {
      const t = this.transactions.get(transactionId);
      return t && (tenantId === undefined || t.tenant_id === tenantId) ? { ...copy(t), counts: this.counts(transactionId) } : undefined;
    },
    updateCounts: async (transactionId: string, counts: Partial<Record<CountName, number>>, mode: 'add' | 'set' | 'raise' = 'add') => {
      const t = this.transactions.get(transactionId);
      // UpdateItem on a missing item creates it; `counts.x` inside a missing map is an invalid document path.
      if (!t)
        throw new Error(
          `ValidationException: The document path provided in the update expression is invalid for update (${transactionId})`,
        );
      const shards = this.shardSums.get(transactionId) ?? {};
      for (const [name, value] of Object.entries(counts) as [CountName, number][]) {
        if (mode === 'raise') {
          // Raised so the record's and the shards' sum reaches the figure (Store.raiseLive).
          const want = value - (shards[name] ?? 0);
          if (want > 0 && (t.counts[name] === undefined || t.counts[name] < want)) t.counts[name] = want;
        } else if (mode === 'set') t.counts[name] = value;
        else if (value !== 0) t.counts[name] = (t.counts[name] ?? 0) + value;
      }
    },
    reconcileCounts: async (transactionId: string, figures: ReconciledFigures) => {
      const t = this.transactions.get(transactionId) as (TransactionRecord & Item) | undefined;
      if (!t) return undefined;
      const raise = (value: number, read: () => number | undefined, write: (v: number) => void) => {
        const was = read();
        if (was === undefined || was < value) write(value);
      };
      // What the shards count is the live sum's already: the record is raised only by the rest.
      const shards = this.shardSums.get(transactionId) ?? {};
      const recordFailed = figures.eventFailed - (shards.failed ?? 0);
      if (recordFailed > 0)
        raise(
          recordFailed,
          () => t.event_failed as number | undefined,
          (v) => (t.event_failed = v),
        );
      for (const [name, value] of Object.entries(figures.raise ?? {}) as [CountName, number][]) {
        const want = value - (shards[name] ?? 0);
        if (want > 0)
          raise(
            want,
            () => t.counts[name],
            (v) => (t.counts[name] = v),
          );
      }
      const eventFailed = Number(t.event_failed ?? 0);
      const withEvents = eventFailed <= figures.sentOrRejected;
      t.counts.sent = withEvents ? figures.sentOrRejected - eventFailed : figures.sentOrRejected - figures.eventFailed;
      t.counts.failed = withEvents ? figures.failedBySend + eventFailed : figures.failedBySend + figures.eventFailed;
      t.counts.suppressed = figures.suppressed;
      t.counts.cancelled = figures.cancelled;
      t.updated_at = nowIso();
      return { ...copy(t as TransactionRecord), counts: this.counts(transactionId) };
    },
    setTransactionFields: async (transactionId: string, fields: Record<string, unknown>) => {
      const t = this.transactions.get(transactionId);
      if (!t) throw new Error(`no transaction ${transactionId}`);
      Object.assign(t, copy(fields));
    },
    getTenant: async () => {
      throw new Error('not used by the send path');
    },
    getFile: async () => {
      throw new Error('not used by the send path');
    },
    setTransactionStatus: async () => {
      throw new Error('not used by the send path');
    },
  };

  readonly batches = {
    batchItem: (): TableItem => {
      throw new Error('not used by the send path');
    },
    setBatchFields: async (transactionId: string, batchId: string, fields: Record<string, unknown>) => {
      const key = JSON.stringify(keys.batch(transactionId, batchId));
      const item = this.batchItems.get(key) ?? {};
      Object.assign(item, copy(fields));
      this.batchItems.set(key, item);
      return copy(item);
    },
    addBatchOutcome: async (transactionId: string, batchId: string) => {
      const item = this.batchItems.get(JSON.stringify(keys.batch(transactionId, batchId)));
      if (!item) throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
      item.outcomes = Number(item.outcomes ?? 0) + 1;
      return { outcomes: item.outcomes as number, awaiting: item.awaiting_outcomes as number | undefined };
    },
  };

  readonly suppressions = {
    suppressedAmong: async (tenantId: string, emails: string[]) =>
      new Set(emails.filter((e) => this.suppressionItems.has(JSON.stringify(keys.suppression(tenantId, e))))),
    suppressedOrErasedAmong: async (tenantId: string, emails: string[]) => this.suppressions.suppressedAmong(tenantId, emails),
    addSuppression: async (record: SuppressionRecord) => {
      const key = JSON.stringify(keys.suppression(record.tenant_id, record.email));
      if (this.suppressionItems.has(key)) return false;
      this.suppressionItems.set(key, copy(record));
      return true;
    },
    putSuppression: async (record: SuppressionRecord) => {
      this.suppressionItems.set(JSON.stringify(keys.suppression(record.tenant_id, record.email)), copy(record));
    },
  };

  /** The read side of ObjectStore (S3): templates' bodies by key. */
  readonly objects = {
    getText: async (key: string) => {
      const text = this.texts.get(key);
      if (text === undefined) throw Object.assign(new Error(`NoSuchKey: ${key}`), { name: 'NoSuchKey' });
      return text;
    },
    size: async (key: string) => (this.texts.has(key) ? Buffer.byteLength(this.texts.get(key)!) : undefined),
    readUpTo: async (key: string, maxBytes: number) => {
      const text = this.texts.get(key);
      if (text === undefined) return undefined;
      const body = Buffer.from(text);
      return { body: body.subarray(0, maxBytes + 1), size: body.length };
    },
    getRange: async (key: string, start: number, end: number) => Buffer.from(await this.objects.getText(key)).subarray(start, end + 1),
    putText: async (key: string, body: string) => {
      this.texts.set(key, body);
    },
  };
}
