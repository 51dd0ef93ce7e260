// Tenants, API keys, templates, recipient files, idempotency keys and transactions in DynamoDB.
import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { canTransition, TRANSACTION_STATUSES, type TransactionStatus } from '../../domain/transaction-status';
import type { Catalog, Transactions } from '../../ports';
import { SetExpression, valueList } from './expressions';
import { keys } from './keys';
import { conditionHeld, isConditionFailure, recordOf, Table } from './table';
import { emptyCounts, type CountName, type FileRecord, type TemplateRecord, type TenantRecord, type TransactionRecord } from './types';

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const now = () => new Date().toISOString();

export class Store extends Table implements Catalog, Transactions {
  async get<T extends object>(key: { PK: string; SK: string }): Promise<T | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
    return Item ? recordOf<T>(Item) : undefined;
  }

  // ---- tenants and API keys ----
  async putTenant(tenant: TenantRecord, apiKey: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.tenant(tenant.tenant_id), ...tenant } }));
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.apiKey(sha256(apiKey)), tenant_id: tenant.tenant_id, created_at: now() },
      }),
    );
  }

  getTenant(tenantId: string) {
    return this.get<TenantRecord>(keys.tenant(tenantId));
  }

  async tenantForApiKey(apiKey: string): Promise<string | undefined> {
    const item = await this.get<{ tenant_id: string }>(keys.apiKey(sha256(apiKey)));
    return item?.tenant_id;
  }

  // ---- templates and files ----
  async putTemplate(template: TemplateRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.template(template.template_id), ...template } }));
  }

  async getTemplate(tenantId: string, templateId: string): Promise<TemplateRecord | undefined> {
    const template = await this.get<TemplateRecord>(keys.template(templateId));
    return template?.tenant_id === tenantId ? template : undefined;
  }

  async markTemplateReady(templateId: string, placeholders: string[]): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.template(templateId),
        UpdateExpression: 'SET #s = :ready, placeholders = :p, updated_at = :now',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':ready': 'READY', ':p': placeholders, ':now': now() },
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
        },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
    return record;
  }

  async getTransaction(tenantId: string | undefined, transactionId: string): Promise<TransactionRecord | undefined> {
    const record = await this.get<TransactionRecord>(keys.transaction(transactionId));
    if (!record || (tenantId !== undefined && record.tenant_id !== tenantId)) return undefined;
    return record;
  }

  async setTransactionStatus(
    transactionId: string,
    status: TransactionStatus,
    extra: { reason?: string; metadata?: Record<string, unknown>; at?: string } = {},
  ): Promise<boolean> {
    const update = new SetExpression()
      .status(status, extra.at ?? now(), extra.metadata)
      .fields(extra.reason ? { reason: extra.reason } : {});
    const from = TRANSACTION_STATUSES.filter((f) => canTransition(f, status));
    return conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.transaction(transactionId),
          ...update.params,
          // Only a move the status machine allows: a late write from a dead attempt cannot undo progress.
          ConditionExpression: `attribute_exists(PK) AND #s IN (${valueList(update.values, 'from', from)})`,
        }),
      ),
    );
  }

  async setTransactionFields(transactionId: string, fields: Record<string, unknown>): Promise<void> {
    const update = new SetExpression({}, { ':at': now() }).set('updated_at = :at').fields(fields);
    await this.doc.send(new UpdateCommand({ TableName: this.table, Key: keys.transaction(transactionId), ...update.params }));
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
      for (const [name, value] of Object.entries(counts)) {
        await conditionHeld(
          this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: keys.transaction(transactionId),
              UpdateExpression: 'SET #c.#n = :v',
              ConditionExpression: 'attribute_not_exists(#c.#n) OR #c.#n < :v',
              ExpressionAttributeNames: { '#c': 'counts', '#n': name },
              ExpressionAttributeValues: { ':v': value },
            }),
          ),
        );
      }
      return;
    }
    const entries = Object.entries(counts).filter(([, v]) => mode === 'set' || v !== 0);
    if (entries.length === 0) return;
    const update = new SetExpression({ '#c': 'counts' }, mode === 'add' ? { ':zero': 0 } : {}).fields(
      Object.fromEntries(entries),
      (name, value) => (mode === 'add' ? `#c.${name} = if_not_exists(#c.${name}, :zero) + ${value}` : `#c.${name} = ${value}`),
    );
    await this.doc.send(new UpdateCommand({ TableName: this.table, Key: keys.transaction(transactionId), ...update.params }));
  }
}
