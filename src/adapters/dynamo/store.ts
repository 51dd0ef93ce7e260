// Tenants, API keys, templates, recipient files, idempotency keys and transactions in DynamoDB.
import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isCounterShardSk, liveCounts, readCounterItems, RECORD_SK, sumShards, type ShardCounts } from './counter-shards';
import { ulid } from 'ulid';
import { canTransition, TRANSACTION_STATUSES, type TransactionStatus } from '../../domain/transaction-status';
import type { Catalog, Transactions } from '../../ports';
import { SetExpression, TRANSACTION_HISTORY_CAP, valueList } from './expressions';
import { ApiKeyTable, prefixOf } from './api-keys';
import { keys } from './keys';
import { searchAttributes } from './campaign-index';
import { conditionHeld, failedCondition, isConditionFailure, recordOf, retryConflicts, Table, withCappedHistory } from './table';
import {
  emptyCounts,
  type CountName,
  type FileRecord,
  type ReconciledFigures,
  type TemplateRecord,
  type TenantRecord,
  type TransactionRecord,
} from './types';

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
/** A key made by seeding (the dev tenant, the test tenants). */
export type SeededKey = { name: string; scopes: string[] };
const now = () => new Date().toISOString();

export class Store extends Table implements Catalog, Transactions {
  async get<T extends object>(key: { PK: string; SK: string }): Promise<T | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
    return Item ? recordOf<T>(Item) : undefined;
  }

  private readonly apiKeys = new ApiKeyTable(this.doc, this.table);

  // ---- tenants and API keys ----
  /** Seeds a tenant and one key for it; a key seeded before is left as it is (revoked stays revoked). */
  async putTenant(tenant: TenantRecord, apiKey: string, key: SeededKey = { name: 'seeded key', scopes: ['admin'] }): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.tenant(tenant.tenant_id), ...tenant } }));
    const hash = sha256(apiKey);
    const record = { tenant_id: tenant.tenant_id, key_id: ulid(), ...key, prefix: prefixOf(apiKey), created_at: now() };
    try {
      await this.apiKeys.createApiKey({ hash, record });
    } catch (error) {
      if (!failedCondition(error, 0)) throw error;
      const existing = await this.apiKeys.findApiKey(hash);
      if (existing?.tenant_id !== tenant.tenant_id) throw new Error('this API key already belongs to another tenant');
    }
  }

  getTenant(tenantId: string) {
    return this.get<TenantRecord>(keys.tenant(tenantId));
  }

  // ---- templates and files ----
  /** Also the template's entry in the tenant's list (GSI_TENANT), newest first by its creation. */
  async putTemplate(template: TemplateRecord): Promise<void> {
    const listed = keys.tenantTemplate(template.tenant_id, template.created_at, template.template_id);
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { ...keys.template(template.template_id), ...listed, ...template } }),
    );
  }

  async getTemplate(tenantId: string, templateId: string): Promise<TemplateRecord | undefined> {
    const template = await this.get<TemplateRecord>(keys.template(templateId));
    return template?.tenant_id === tenantId ? template : undefined;
  }

  async markTemplateReady(templateId: string, placeholders: string[], lists?: { required: string[]; optional: string[] }): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.template(templateId),
        UpdateExpression: `SET #s = :ready, placeholders = :p, updated_at = :now${lists ? ', required_placeholders = :req, optional_placeholders = :opt' : ''}`,
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':ready': 'READY',
          ':p': placeholders,
          ':now': now(),
          ...(lists ? { ':req': lists.required, ':opt': lists.optional } : {}),
        },
      }),
    );
  }

  async putFile(file: FileRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.file(file.file_id), ...file } }));
  }

  async getFile(tenantId: string, fileId: string): Promise<FileRecord | undefined> {
    const file = await this.get<FileRecord>(keys.file(fileId));
    return file?.tenant_id === tenantId ? file : undefined;
  }

  // ---- idempotency ----
  async claimIdempotencyKey(
    tenantId: string,
    key: string,
    requestHash: string,
    transactionId: string,
  ): Promise<{ claimed: true } | { claimed: false; requestHash: string; transactionId: string }> {
    const k = keys.idempotency(tenantId, sha256(key));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...k, request_hash: requestHash, transaction_id: transactionId, created_at: now() },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.get<{ request_hash: string; transaction_id: string }>(k);
      if (!existing) throw error;
      return { claimed: false, requestHash: existing.request_hash, transactionId: existing.transaction_id };
    }
  }

  // ---- transactions ----
  async createTransaction(
    fields: Omit<TransactionRecord, 'status' | 'counts' | 'status_history' | 'created_at' | 'updated_at'>,
  ): Promise<TransactionRecord> {
    const at = now();
    const record: TransactionRecord = {
      ...fields,
      status: 'ACCEPT',
      counts: emptyCounts(),
      status_history: [{ status: 'ACCEPT', timestamp: at }],
      created_at: at,
      updated_at: at,
    };
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...keys.transaction(record.transaction_id),
          ...keys.tenantTransaction(record.tenant_id, at, record.transaction_id),
          ...record,
          ...searchAttributes(record),
        },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
    return record;
  }

  /** The transaction with its live counts: the record's plus its counter shards' (one Query reads them all). */
  async getTransaction(tenantId: string | undefined, transactionId: string): Promise<TransactionRecord | undefined> {
    const read = await this.readWithShards(transactionId);
    if (!read || (tenantId !== undefined && read.record.tenant_id !== tenantId)) return undefined;
    return { ...read.record, counts: liveCounts(read.record.counts ?? {}, read.shards) };
  }

  /** The record as stored (its own counts) and the sum of its counter shards, read consistently in one Query. */
  private async readWithShards(transactionId: string): Promise<{ record: TransactionRecord; shards: ShardCounts } | undefined> {
    let record: TransactionRecord | undefined;
    const shardItems: Record<string, unknown>[] = [];
    for (const item of await readCounterItems(this.doc, this.table, transactionId)) {
      if (item.SK === RECORD_SK) record = recordOf<TransactionRecord>(item);
      else if (isCounterShardSk(item.SK as string)) shardItems.push(item);
    }
    return record ? { record, shards: sumShards(shardItems) } : undefined;
  }

  async setTransactionStatus(
    transactionId: string,
    status: TransactionStatus,
    extra: { reason?: string; metadata?: Record<string, unknown>; at?: string } = {},
  ): Promise<boolean> {
    const at = extra.at ?? now();
    const from = TRANSACTION_STATUSES.filter((f) => canTransition(f, status));
    const write = (mode: 'append' | 'last') => {
      const update = new SetExpression().status(status, at, extra.metadata).fields(extra.reason ? { reason: extra.reason } : {});
      // Only a move the status machine allows: a late write from a dead attempt cannot undo progress.
      const condition = `attribute_exists(PK) AND #s IN (${valueList(update.values, 'from', from)}) AND ${update.capHistory(TRANSACTION_HISTORY_CAP, mode)}`;
      return retryConflicts(() =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: keys.transaction(transactionId),
            ...update.params,
            ConditionExpression: condition,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
    };
    return conditionHeld(withCappedHistory(TRANSACTION_HISTORY_CAP, write));
  }

  async setTransactionFields(transactionId: string, fields: Record<string, unknown>): Promise<void> {
    const update = new SetExpression({}, { ':at': now() }).set('updated_at = :at').fields(fields);
    await retryConflicts(() =>
      this.doc.send(new UpdateCommand({ TableName: this.table, Key: keys.transaction(transactionId), ...update.params })),
    );
  }

  /**
   * `add` adds to the counters and `set` overwrites them, all in one write; `raise` writes each
   * counter on its own, only where its figure is higher than the stored one.
   */
  async updateCounts(
    transactionId: string,
    counts: Partial<Record<CountName, number>>,
    mode: 'add' | 'set' | 'raise' = 'add',
  ): Promise<void> {
    if (mode === 'raise') {
      // Each counter separately, and only upwards: an event's ADD that landed after the figure
      // was counted is never overwritten by it.
      await this.raiseLive(transactionId, counts, (await this.readWithShards(transactionId))?.shards ?? {});
      return;
    }
    const entries = Object.entries(counts).filter(([, v]) => mode === 'set' || v !== 0);
    if (entries.length === 0) return;
    const update = new SetExpression({ '#c': 'counts' }, mode === 'add' ? { ':zero': 0 } : {}).fields(
      Object.fromEntries(entries),
      (name, value) => (mode === 'add' ? `#c.${name} = if_not_exists(#c.${name}, :zero) + ${value}` : `#c.${name} = ${value}`),
    );
    await retryConflicts(() =>
      this.doc.send(new UpdateCommand({ TableName: this.table, Key: keys.transaction(transactionId), ...update.params })),
    );
  }

  /**
   * Raises each counter so that the record's and its shards' sum is at least the figure, never
   * lowering one. `shards` are read after the recount the figures come from: every event counted
   * on a shard by then is in them (its ADD went with its flag), so for a campaign counted on
   * shards this writes nothing; it repairs the record of one counted before the shards.
   */
  private async raiseLive(transactionId: string, figures: Partial<Record<CountName, number>>, shards: ShardCounts): Promise<void> {
    for (const [name, value] of Object.entries(figures) as [CountName, number][]) {
      const want = value - Number(shards[name] ?? 0);
      if (want > 0) await this.raise(transactionId, ['counts', name], want);
    }
  }

  /** Moves the number at `path` up to `value`, never down (no write when it is already there or higher). */
  private async raise(transactionId: string, path: string[], value: number): Promise<void> {
    const names = Object.fromEntries(path.map((p, i) => [`#p${i}`, p]));
    const at = path.map((_, i) => `#p${i}`).join('.');
    await conditionHeld(
      retryConflicts(() =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: keys.transaction(transactionId),
            UpdateExpression: `SET ${at} = :v`,
            ConditionExpression: `attribute_exists(PK) AND (attribute_not_exists(${at}) OR ${at} < :v)`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':v': value },
          }),
        ),
      ),
    );
  }

  /**
   * Makes the counters exact from a recount without losing an event counted meanwhile. Counters
   * only the send path moves (suppressed, cancelled) are set. Sent and failed share messages
   * with SES's Reject and Rendering Failure events, which move a message SENT → FAILED and add
   * one to `failed` and to `event_failed` in the same transaction as their flag: they are
   * written as `sent = sentOrRejected − event_failed` and `failed = failedBySend + event_failed`
   * in one update that reads `event_failed` as it is at that instant, so a failure counted before
   * or after the recount is counted exactly once (and sent + failed is what the recount found).
   * Outcome counters (`raise`) only move up: each event adds its one in the same transaction as
   * its flag, so they are exact already; raising repairs one that is behind, never loses an ADD.
   * Events of a campaign counted on shards (counter-shards.ts) leave the record's `event_failed`
   * alone: the live sum takes the shards' failures out of `sent` and into `failed` at every read.
   * Returns the transaction as a reader sees it after the write.
   */
  async reconcileCounts(transactionId: string, figures: ReconciledFigures): Promise<TransactionRecord | undefined> {
    // Failures counted on shards are the live sum's already (counter-shards.ts): the record's
    // event_failed is raised only by what they do not cover (a campaign counted before the shards).
    const shards = (await this.readWithShards(transactionId))?.shards ?? {};
    const recordFailed = figures.eventFailed - Number(shards.failed ?? 0);
    if (recordFailed > 0) await this.raise(transactionId, ['event_failed'], recordFailed);
    await this.raiseLive(transactionId, figures.raise ?? {}, shards);
    const write = (withEvents: boolean) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.transaction(transactionId),
          UpdateExpression: withEvents
            ? 'SET #c.sent = :sent - if_not_exists(event_failed, :zero), #c.failed = :failed + if_not_exists(event_failed, :zero), #c.suppressed = :sup, #c.cancelled = :can, updated_at = :at'
            : 'SET #c.sent = :sent, #c.failed = :failed, #c.suppressed = :sup, #c.cancelled = :can, updated_at = :at',
          // event_failed above the figure would make sent negative: only a recount that missed a
          // failed message can cause that, and then the recount's own figures are written.
          ConditionExpression: withEvents
            ? 'attribute_exists(PK) AND (attribute_not_exists(event_failed) OR event_failed <= :sent)'
            : 'attribute_exists(PK)',
          ExpressionAttributeNames: { '#c': 'counts' },
          ExpressionAttributeValues: {
            ':sent': withEvents ? figures.sentOrRejected : figures.sentOrRejected - figures.eventFailed,
            ':failed': withEvents ? figures.failedBySend : figures.failedBySend + figures.eventFailed,
            ':sup': figures.suppressed,
            ':can': figures.cancelled,
            ':at': now(),
            ...(withEvents ? { ':zero': 0 } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
    let result;
    try {
      result = await retryConflicts(() => write(true));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      try {
        result = await retryConflicts(() => write(false));
      } catch (again) {
        if (!isConditionFailure(again)) throw again;
        return undefined; // no such transaction
      }
    }
    // As readers see it: with the shards' counts (read after the write).
    return result.Attributes ? this.getTransaction(undefined, transactionId) : undefined;
  }
}
