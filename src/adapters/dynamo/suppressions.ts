// The suppression list in DynamoDB: one partition per tenant, one item per address.
import { PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Cursor, ErasedRecipients, Page, Suppressions } from '../../ports';
import { recipientHash } from '../../domain/recipient-hash';
import { ERASED_ADDRESS } from '../../domain/erasure';
import { keys, ranges } from './keys';
import { conditionHeld, failedCondition, retryConflicts, Table } from './table';
import type { ErasedRecipientRecord, SuppressionRecord } from './types';
import type { BatchWriter, TableItem } from '../../ports';
import type { ImportedSuppression } from './types';

// A tombstone only has to outlive redeliveries of events older than the deletion: SNS gives up
// within an hour and the SNS endpoint refuses older messages (SNS_MAX_MESSAGE_AGE_SECONDS), so
// a week is ample. Epoch seconds, as DynamoDB's TTL reads them.
const TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;
const TOMBSTONE_SOURCE_FIELDS = ['event', 'type', 'transaction_id', 'message_id', 'ses_message_id'] as const;

/**
 * The tombstone condition an event's add must pass: no tombstone, or one from a deletion before
 * the event's time and not of the suppression this same event made (same message, event kind
 * and event time: what a redelivery repeats, whatever the two clocks say). Deletion times are
 * compared as ISO strings, so the event's is normalised; one that cannot be read counts as
 * older than any deletion.
 */
function tombstoneCheck(record: SuppressionRecord, eventAt: string) {
  const ms = Date.parse(eventAt);
  const values: Record<string, string> = { ':at': Number.isNaN(ms) ? '' : new Date(ms).toISOString() };
  let sameEvent = '';
  const { message_id: messageId, event } = record.source ?? {};
  if (typeof messageId === 'string' && typeof event === 'string') {
    Object.assign(values, { ':mid': messageId, ':event': event, ':created': record.created_at });
    sameEvent = ' AND NOT (deleted_message_id = :mid AND deleted_event = :event AND deleted_created_at = :created)';
  }
  return { ConditionExpression: `attribute_not_exists(PK) OR (deleted_at < :at${sameEvent})`, ExpressionAttributeValues: values };
}

export class SuppressionTable extends Table implements Suppressions, ErasedRecipients {
  async suppressedAmong(tenantId: string, emails: string[]): Promise<Set<string>> {
    const items = await this.batchGet(
      [...new Set(emails)].map((e) => keys.suppression(tenantId, e)),
      { projection: 'email' },
    );
    return new Set(items.map((item) => item.email as string));
  }

  /**
   * The address suppressions and the erased recipients' hashes in the same requests (two keys
   * an address): the send path and ingest pay no extra round trip for erasures.
   */
  async suppressedOrErasedAmong(tenantId: string, emails: string[], topic?: string): Promise<Set<string>> {
    const byHash = new Map<string, string>();
    for (const email of new Set(emails)) byHash.set(recipientHash(email), email);
    // A campaign's topic: its topic suppressions (items with an `email`, like the global ones) in the same requests.
    const topicKeys = topic === undefined ? [] : [...byHash.values()].map((email) => keys.topicSuppression(tenantId, topic, email));
    const items = await this.batchGet(
      [...byHash].flatMap(([hash, email]) => [keys.suppression(tenantId, email), keys.erasedRecipient(tenantId, hash)]).concat(topicKeys),
      { projection: 'email, recipient_hash' },
    );
    const found = new Set(items.map((item) => (item.email as string | undefined) ?? byHash.get(item.recipient_hash as string)!));
    // An erased message is never sent, whatever state its erasure left it in.
    if (byHash.has(recipientHash(ERASED_ADDRESS))) found.add(ERASED_ADDRESS);
    return found;
  }

  /** Idempotent: the first erasure's time and id are kept. */
  async suppressErasedRecipient(record: ErasedRecipientRecord): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.erasedRecipient(record.tenant_id, record.recipient_hash),
        UpdateExpression:
          'SET tenant_id = :t, recipient_hash = :h, reason = :r, created_at = if_not_exists(created_at, :at), erasure_id = if_not_exists(erasure_id, :id)',
        ExpressionAttributeValues: {
          ':t': record.tenant_id,
          ':h': record.recipient_hash,
          ':r': record.reason,
          ':at': record.created_at,
          ':id': record.erasure_id,
        },
      }),
    );
  }

  getErasedRecipient(tenantId: string, emailHash: string): Promise<ErasedRecipientRecord | undefined> {
    return this.queryItem<ErasedRecipientRecord>(keys.erasedRecipient(tenantId, emailHash));
  }

  async putSuppression(record: SuppressionRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: this.item(record) }));
  }

  async addSuppression(record: SuppressionRecord, guard?: { unlessDeletedAfter: string }): Promise<boolean> {
    const put = { TableName: this.table, Item: this.item(record), ConditionExpression: 'attribute_not_exists(PK)' };
    if (!guard) return conditionHeld(this.doc.send(new PutCommand(put)));
    // The tombstone is checked in the same transaction as the put, so a deletion cannot slip
    // between the check and the write.
    const check = tombstoneCheck(record, guard.unlessDeletedAfter);
    try {
      await retryConflicts(() =>
        this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { ConditionCheck: { TableName: this.table, Key: this.tombstoneKey(record.tenant_id, record.email), ...check } },
              { Put: put },
            ],
          }),
        ),
      );
      return true;
    } catch (error) {
      if (failedCondition(error, 0) || failedCondition(error, 1)) return false;
      throw error;
    }
  }

  /**
   * Records a soft bounce of `email` (one item per SES message and time: a repeat writes the same
   * item again) and returns how many the address had since `since`, this one included.
   */
  async noteSoftBounce(
    tenantId: string,
    email: string,
    bounce: { at: string; sesMessageId: string; since: string; keepUntil: string },
  ): Promise<number> {
    const hash = recipientHash(email);
    const key = keys.softBounce(tenantId, hash, bounce.at, bounce.sesMessageId);
    const expires = Math.ceil(Date.parse(bounce.keepUntil) / 1000);
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...key, at: bounce.at, expires_at: expires } }));
    const { Count } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND SK >= :since',
        ExpressionAttributeValues: { ':pk': key.PK, ':since': bounce.since },
        Select: 'COUNT',
        ConsistentRead: true,
      }),
    );
    return Count ?? 0;
  }

  getSuppression(tenantId: string, email: string): Promise<SuppressionRecord | undefined> {
    return this.queryItem<SuppressionRecord>(keys.suppression(tenantId, email));
  }

  /**
   * Deletes the suppression and, in the same transaction, writes its tombstone: when it was
   * deleted and which event had made it. The delete is conditional on the suppression read, so
   * the tombstone describes the one deleted; if it changed in between, read and try again.
   */
  async deleteSuppression(tenantId: string, email: string): Promise<boolean> {
    const key = keys.suppression(tenantId, email);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.queryItem<SuppressionRecord>(key, true);
      if (!current) return false;
      try {
        await retryConflicts(() =>
          this.doc.send(
            new TransactWriteCommand({
              TransactItems: [
                {
                  Delete: {
                    TableName: this.table,
                    Key: key,
                    ConditionExpression: 'created_at = :created',
                    ExpressionAttributeValues: { ':created': current.created_at },
                  },
                },
                { Put: { TableName: this.table, Item: this.tombstone(current) } },
              ],
            }),
          ),
        );
        return true;
      } catch (error) {
        if (!failedCondition(error, 0)) throw error;
      }
    }
    throw new Error(`suppression of ${tenantId} kept changing while it was being deleted`);
  }

  listSuppressions(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<SuppressionRecord>> {
    // The whole partition: every item in it is a suppression.
    return this.queryPage<SuppressionRecord>({ PK: ranges.suppressions(tenantId).PK }, limit, cursor);
  }

  /**
   * Suppression import (issue 15, item 6): one read of the addresses and their erasure hashes
   * (BatchGetItem), then the new ones through `writer` (BatchWriteItem, 25 a request). An address
   * already suppressed keeps its reason and first date; an erased one stays suppressed by its hash
   * alone (its address is not stored again). One this same import line wrote on an earlier attempt
   * counts as imported, so a resumed import counts exactly. BatchWriteItem has no condition: a
   * suppression an SES event adds between the read and the write is overwritten by the import's
   * (the address stays suppressed either way).
   */
  async importSuppressions(records: ImportedSuppression[], writer: BatchWriter): Promise<{ imported: number; duplicates: number }> {
    const found = await this.batchGet(
      records.flatMap((r) => [keys.suppression(r.tenant_id, r.email), keys.erasedRecipient(r.tenant_id, recipientHash(r.email))]),
    );
    const existing = new Map<string, Record<string, unknown>>();
    for (const item of found) existing.set((item.email as string | undefined) ?? `#${item.recipient_hash as string}`, item);
    let imported = 0;
    const fresh: SuppressionRecord[] = [];
    for (const record of records) {
      const current = existing.get(record.email);
      const source = current?.source as ImportedSuppression['source'] | undefined;
      if (existing.has(`#${recipientHash(record.email)}`)) continue;
      if (!current) fresh.push(record);
      else if (source?.import_id === record.source.import_id && source.line === record.source.line) imported += 1;
    }
    const refused = await writer.write(fresh.map((r) => this.item(r) as TableItem));
    if (refused.length > 0) throw new Error(`DynamoDB refused ${refused.length} suppressions: ${refused[0]!.reason}`);
    imported += fresh.length;
    return { imported, duplicates: records.length - imported };
  }

  private item(record: SuppressionRecord) {
    return { ...keys.suppression(record.tenant_id, record.email), ...record };
  }

  private tombstoneKey(tenantId: string, email: string) {
    return keys.suppressionTombstone(tenantId, recipientHash(email));
  }

  /**
   * No address in it (only its hash, in the key), nor the event's details (a bounce's diagnostic
   * can quote the address): the ids that name the event, and a TTL well past any redelivery.
   */
  private tombstone(deleted: SuppressionRecord) {
    const source = deleted.source ?? {};
    const now = Date.now();
    const ids = Object.fromEntries(
      TOMBSTONE_SOURCE_FIELDS.flatMap((field) => (typeof source[field] === 'string' ? [[`deleted_${field}`, source[field]]] : [])),
    );
    return {
      ...this.tombstoneKey(deleted.tenant_id, deleted.email),
      tenant_id: deleted.tenant_id,
      deleted_at: new Date(now).toISOString(),
      deleted_reason: deleted.reason,
      deleted_created_at: deleted.created_at,
      ...ids,
      expires_at: Math.floor(now / 1000) + TOMBSTONE_TTL_SECONDS,
    };
  }
}
