// One recipient's items in the single table, found through the sparse recipient index
// (GSI_RECIPIENT: recipient_key = <tenant>#<sha256 of the address>, written at ingest on messages
// and rejected rows), and what retention and erasure keep beside them: each tenant's retention
// settings, the erasure records, and the campaigns whose ingest still reads their files.
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ERASED_ADDRESS, type ErasureRef, type ErasureStores } from '../../domain/erasure';
import { SENDABLE_STATUSES, type MessageStatus } from '../../domain/message-status';
import { hashOfAddress } from '../../domain/recipient-hash';
import type { Cursor, Page } from '../../ports';
import { MESSAGE_HISTORY_CAP } from './expressions';
import { keys, RECIPIENT_ITEM_PREFIX, type RecipientItemKind } from './keys';
import { GSI_RECIPIENT, GSI_TENANT } from './schema';
import { conditionHeld, isConditionFailure, isItemTooLarge, recordOf, retryDelay, Table, type Key } from './table';
import type { ErasureRecord, HistoryEntry, TenantRetentionRecord, TransactionRecord } from './types';

/** An item of the recipient index: its table key and what the index projects. */
export interface RecipientItemRef extends Key {
  transaction_id: string;
  message_id?: string;
  status?: MessageStatus;
}

/** A campaign's status and the recipient file it reads while it ingests. */
export type CampaignFile = Pick<TransactionRecord, 'transaction_id' | 'file_id' | 'file_key' | 'status'>;

/**
 * What an erased message keeps: its keys and ids, status and the times of its events (so the
 * campaign's figures, recounts and reconciliation stay right), and the bounce and complaint
 * kinds (categories, nothing about the person). Everything else goes: the row data, the SES
 * message id, SMTP responses and diagnostics (which can quote the address), user agents, IP
 * addresses, clicked URLs, failure texts, and the recipient key itself (the item leaves the index).
 */
const KEPT_ON_MESSAGE = new Set([
  'PK',
  'SK',
  'message_id',
  'batch_id',
  'transaction_id',
  'tenant_id',
  'row',
  'status',
  'status_history',
  'status_history_dropped',
  'attempt_token',
  'failure_code',
  'created_at',
  'updated_at',
  'expires_at',
  'bounce_type',
  'bounce_subtype',
  'complaint_type',
  'delay_type',
]);
const keptOnMessage = (name: string) => KEPT_ON_MESSAGE.has(name) || name.endsWith('_time');
const KEPT_ON_ROW_ERROR = new Set(['PK', 'SK', 'row', 'code', 'message', 'expires_at']);
/** Written by the erasure itself. */
const ERASURE_FIELDS = new Set(['recipient_email', 'email', 'erased_at']);

/** Not yet handed to SES: an erased recipient's message is suppressed instead, never sent. */
const UNSENT: readonly MessageStatus[] = SENDABLE_STATUSES.filter((s) => s !== 'SENDING');
/** Campaigns created longer ago than this have finished ingesting (an ingest takes minutes). */
const INGEST_WINDOW_MS = 7 * 86_400_000;

/** The history without what events and sends recorded beside each status (diagnostics, reasons, addresses). */
function bareHistory(history: unknown): HistoryEntry[] {
  if (!Array.isArray(history)) return [];
  return (history as HistoryEntry[]).map((h) => ({ status: h.status, ...(h.event ? { event: h.event } : {}), timestamp: h.timestamp }));
}

export type ErasureOutcome = 'erased' | 'suppressed' | 'in_flight' | 'gone';

export class RecipientTable extends Table {
  /** One page of a recipient's messages or rejected rows for one tenant (the index is eventually consistent). */
  async pageItems(
    tenantId: string,
    emailHash: string,
    kind: RecipientItemKind,
    limit: number,
    cursor?: Cursor,
  ): Promise<Page<RecipientItemRef>> {
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: GSI_RECIPIENT,
        KeyConditionExpression: 'recipient_key = :k AND begins_with(SK, :p)',
        ExpressionAttributeValues: { ':k': keys.recipientIndex(tenantId, emailHash).recipient_key, ':p': RECIPIENT_ITEM_PREFIX[kind] },
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    const items = (Items ?? []).map((item) => ({
      PK: item.PK as string,
      SK: item.SK as string,
      // Rejected rows carry no transaction_id: it is their partition's.
      transaction_id: (item.transaction_id as string | undefined) ?? String(item.PK).replace(/^TRANSACTION#/, ''),
      ...(item.message_id ? { message_id: item.message_id as string } : {}),
      ...(item.status ? { status: item.status as MessageStatus } : {}),
    }));
    return { items, cursor: LastEvaluatedKey };
  }

  /** The whole items under `itemKeys` (at most 100), in that order; missing ones left out. */
  async getItems(itemKeys: Key[]): Promise<Record<string, unknown>[]> {
    if (itemKeys.length === 0) return [];
    const found = new Map<string, Record<string, unknown>>();
    let request: Record<string, unknown>[] | undefined = itemKeys.map(({ PK, SK }) => ({ PK, SK }));
    for (let attempt = 0; request && request.length > 0; attempt++) {
      if (attempt > 0) await retryDelay(attempt);
      const result: BatchGetCommandOutput = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request } } }));
      for (const item of result.Responses?.[this.table] ?? []) found.set(`${item.PK}\n${item.SK}`, item);
      request = result.UnprocessedKeys?.[this.table]?.Keys;
    }
    return itemKeys.flatMap((k) => {
      const item = found.get(`${k.PK}\n${k.SK}`);
      return item ? [item] : [];
    });
  }

  /**
   * Erases a message: the address becomes ERASED_ADDRESS and everything else about the person
   * goes (KEPT_ON_MESSAGE says what stays). A message not yet sent is SUPPRESSED in the same
   * write; one an attempt holds SENDING is left for later (`in_flight`): its attempt still
   * needs it to record SES's answer; with `force` (an attempt that never finished) it is erased
   * as it is. The write is conditional on the message being as read.
   */
  async eraseMessage(key: Key, at: string, opts: { force?: boolean } = {}): Promise<ErasureOutcome> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const { Item } = await this.doc.send(
        new GetCommand({ TableName: this.table, Key: { PK: key.PK, SK: key.SK }, ConsistentRead: true }),
      );
      if (!Item) return 'gone';
      const status = Item.status as MessageStatus;
      if (status === 'SENDING' && !opts.force) return 'in_flight';
      const suppress = UNSENT.includes(status);
      const history = bareHistory(Item.status_history);
      if (suppress)
        history.splice(MESSAGE_HISTORY_CAP - 1, Infinity, { status: 'SUPPRESSED', timestamp: at, metadata: { reason: 'erased' } });
      const set: Record<string, unknown> = { recipient_email: ERASED_ADDRESS, erased_at: at, status_history: history };
      if (suppress) Object.assign(set, { status: 'SUPPRESSED', updated_at: at });
      const remove = Object.keys(Item).filter((name) => !keptOnMessage(name) && !ERASURE_FIELDS.has(name));
      try {
        await this.rewrite(key, set, remove, { status, updated_at: Item.updated_at });
        return suppress ? 'suppressed' : 'erased';
      } catch (error) {
        // An event or a send changed it since the read: erase it as it is now.
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new Error(`message ${key.SK} kept changing while it was being erased`);
  }

  /** Erases a rejected row: the address becomes ERASED_ADDRESS; its row number, code and message stay. */
  async eraseRowError(key: Key, at: string): Promise<ErasureOutcome> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: { PK: key.PK, SK: key.SK }, ConsistentRead: true }));
    if (!Item) return 'gone';
    const remove = Object.keys(Item).filter((name) => !KEPT_ON_ROW_ERROR.has(name) && !ERASURE_FIELDS.has(name));
    try {
      await this.rewrite(key, { email: ERASED_ADDRESS, erased_at: at }, remove, {});
      return 'erased';
    } catch (error) {
      if (isConditionFailure(error)) return 'gone';
      throw error;
    }
  }

  /** SET `set`, REMOVE `remove`, on condition that the item exists with the `unchanged` values. */
  private async rewrite(key: Key, set: Record<string, unknown>, remove: string[], unchanged: Record<string, unknown>): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const name = (n: string) => {
      const alias = `#a${Object.keys(names).length}`;
      names[alias] = n;
      return alias;
    };
    const sets = Object.entries(set).map(([n, v], i) => {
      values[`:s${i}`] = v;
      return `${name(n)} = :s${i}`;
    });
    const removes = remove.map(name);
    const conditions = ['attribute_exists(PK)'];
    Object.entries(unchanged).forEach(([n, v], i) => {
      values[`:u${i}`] = v;
      conditions.push(`${name(n)} = :u${i}`);
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { PK: key.PK, SK: key.SK },
        UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** The tenant's campaigns created within the ingest window (an ingest takes minutes): their status and recipient file. */
  async recentCampaigns(tenantId: string, nowMs = Date.now()): Promise<CampaignFile[]> {
    const { GSI2PK } = keys.tenantTransaction(tenantId, '', '');
    const out: CampaignFile[] = [];
    let cursor: Cursor | undefined;
    do {
      const { Items, LastEvaluatedKey } = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI_TENANT,
          KeyConditionExpression: 'GSI2PK = :pk AND GSI2SK >= :since',
          ProjectionExpression: 'transaction_id, file_id, file_key, #s',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':pk': GSI2PK, ':since': new Date(nowMs - INGEST_WINDOW_MS).toISOString() },
          ExclusiveStartKey: cursor,
        }),
      );
      out.push(...((Items ?? []) as CampaignFile[]));
      cursor = LastEvaluatedKey;
    } while (cursor);
    return out;
  }

  /**
   * One page of the migration for items written before the recipient index and TTL
   * (scripts/backfill-recipient-index.ts): scans the table, once, resumable from the returned
   * cursor, for messages and rejected rows without a recipient key, and writes it with
   * `expires_at` (`expiresAt` says when, from the tenant and the item's creation time).
   */
  async backfillPage(
    expiresAt: (tenantId: string, createdAt: string) => Promise<number>,
    cursor?: Cursor,
  ): Promise<{ updated: number; tooLarge: Cursor[]; cursor?: Cursor }> {
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new ScanCommand({
        TableName: this.table,
        // Erased items left the index on purpose.
        FilterExpression:
          '(begins_with(SK, :m) OR begins_with(SK, :e)) AND attribute_not_exists(recipient_key) AND attribute_not_exists(erased_at)',
        ProjectionExpression: 'PK, SK, tenant_id, recipient_email, email, created_at',
        ExpressionAttributeValues: { ':m': RECIPIENT_ITEM_PREFIX.message, ':e': RECIPIENT_ITEM_PREFIX.rowError },
        ExclusiveStartKey: cursor,
      }),
    );
    const owners = new Map<string, Promise<TransactionRecord | undefined>>();
    // Rejected rows carry neither tenant nor time: their transaction's.
    const ownerOf = (transactionId: string) => {
      if (!owners.has(transactionId)) owners.set(transactionId, this.queryItem<TransactionRecord>(keys.transaction(transactionId)));
      return owners.get(transactionId)!;
    };
    let updated = 0;
    const tooLarge: Cursor[] = [];
    for (const item of Items ?? []) {
      const isMessage = String(item.SK).startsWith(RECIPIENT_ITEM_PREFIX.message);
      const owner = isMessage ? undefined : await ownerOf(String(item.PK).replace(/^TRANSACTION#/, ''));
      const tenantId = (item.tenant_id as string | undefined) ?? owner?.tenant_id;
      const createdAt = (item.created_at as string | undefined) ?? owner?.created_at;
      const hash = hashOfAddress(String(isMessage ? item.recipient_email : item.email));
      if (!tenantId || !createdAt || !hash) continue;
      const update = this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { PK: item.PK, SK: item.SK },
          UpdateExpression: 'SET recipient_key = :k, expires_at = if_not_exists(expires_at, :x)',
          ConditionExpression: 'attribute_exists(PK) AND attribute_not_exists(recipient_key)',
          ExpressionAttributeValues: {
            ':k': keys.recipientIndex(tenantId, hash).recipient_key,
            ':x': await expiresAt(tenantId, createdAt),
          },
        }),
      );
      try {
        if (await conditionHeld(update)) updated += 1;
      } catch (error) {
        // An item already at DynamoDB's 400 KB cannot take the key: reported, never fatal, so one
        // such item does not stop the migration of the rest.
        if (!isItemTooLarge(error)) throw error;
        tooLarge.push({ PK: item.PK, SK: item.SK });
      }
    }
    return { updated, tooLarge, cursor: LastEvaluatedKey };
  }

  // ---- retention settings ----
  getRetention(tenantId: string): Promise<TenantRetentionRecord | undefined> {
    return this.queryItem<TenantRetentionRecord>(keys.tenantRetention(tenantId));
  }

  async putRetention(record: TenantRetentionRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.tenantRetention(record.tenant_id), ...record } }));
  }

  // ---- erasure records ----
  /**
   * Records a request: a new run of the erasure (PENDING, `run` one more) unless one for this
   * person is still going, in which case the request joins it. Returns the record as it stands.
   */
  async requestErasure(ref: ErasureRef, at: string, stores: ErasureStores): Promise<ErasureRecord> {
    const key = keys.erasure(ref.tenantId, ref.erasureId);
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression:
            'SET erasure_id = :id, tenant_id = :t, recipient_hash = :h, #s = :pending, requested_at = :at, updated_at = :at, ' +
            'stores = :stores, requests = if_not_exists(requests, :zero) + :one, run = if_not_exists(run, :zero) + :one REMOVE completed_at',
          ConditionExpression: 'attribute_not_exists(PK) OR #s = :completed',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':id': ref.erasureId,
            ':t': ref.tenantId,
            ':h': ref.recipientHash,
            ':pending': 'PENDING',
            ':completed': 'COMPLETED',
            ':at': at,
            ':stores': stores,
            ':zero': 0,
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return recordOf<ErasureRecord>(Attributes!);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key,
        UpdateExpression: 'SET requests = requests + :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return recordOf<ErasureRecord>(Attributes!);
  }

  /** Sets the status and the stores named in `stores`, leaving the others as they are. */
  async updateErasure(
    tenantId: string,
    erasureId: string,
    update: { status: ErasureRecord['status']; stores?: ErasureStores; at: string },
  ): Promise<void> {
    const names: Record<string, string> = { '#s': 'status' };
    const values: Record<string, unknown> = { ':s': update.status, ':at': update.at };
    const sets = ['#s = :s', 'updated_at = :at'];
    if (update.status === 'COMPLETED') sets.push('completed_at = :at');
    Object.entries(update.stores ?? {}).forEach(([store, figures], i) => {
      names[`#k${i}`] = store;
      values[`:v${i}`] = figures;
      sets.push(`stores.#k${i} = :v${i}`);
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.erasure(tenantId, erasureId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  getErasure(tenantId: string, erasureId: string): Promise<ErasureRecord | undefined> {
    return this.queryItem<ErasureRecord>(keys.erasure(tenantId, erasureId), true);
  }
}
