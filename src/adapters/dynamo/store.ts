// Tenants, API keys, templates, recipient files, idempotency keys and transactions in DynamoDB.
import { createHash } from 'node:crypto';
import {
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { canTransition, TRANSACTION_STATUSES, type TransactionStatus } from '../../domain/transaction-status';
import { keys } from './keys';
import {
  emptyCounts,
  type CountName,
  type FileRecord,
  type TemplateRecord,
  type TenantRecord,
  type TransactionRecord,
} from './types';

export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const now = () => new Date().toISOString();
const strip = <T extends object>(item: Record<string, unknown> | undefined): T | undefined => {
  if (!item) return undefined;
  const { PK: _pk, SK: _sk, GSI2PK: _g, GSI2SK: _s, ...rest } = item;
  return rest as T;
};
export const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export class Store {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  async get<T extends object>(key: { PK: string; SK: string }): Promise<T | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
    return strip<T>(Item);
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
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { ...keys.template(template.template_id), ...template } }),
    );
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
  /** Claims an Idempotency-Key; returns the earlier claim when the key was used before. */
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
          GSI2PK: `TENANT#${record.tenant_id}#TXN`,
          GSI2SK: `${at}#${record.transaction_id}`,
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

  /**
   * Records a status change with its history entry in one conditional write. Idempotent:
   * a retried activity that finds the status already set changes nothing and returns false.
   */
  async setTransactionStatus(
    transactionId: string,
    status: TransactionStatus,
    extra: { reason?: string; metadata?: Record<string, unknown>; at?: string } = {},
  ): Promise<boolean> {
    const at = extra.at ?? now();
    const entry = { status, timestamp: at, ...(extra.metadata ? { metadata: extra.metadata } : {}) };
    const from = TRANSACTION_STATUSES.filter((f) => canTransition(f, status));
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.transaction(transactionId),
          UpdateExpression:
            'SET #s = :s, updated_at = :at, status_history = list_append(status_history, :h)' +
            (extra.reason ? ', reason = :r' : ''),
          // Only a move the status machine allows: a late write from a dead attempt cannot undo progress.
          ConditionExpression: `attribute_exists(PK) AND #s IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ...Object.fromEntries(from.map((f, i) => [`:from${i}`, f])),
            ':s': status,
            ':at': at,
            ':h': [entry],
            ...(extra.reason ? { ':r': extra.reason } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async setTransactionFields(transactionId: string, fields: Record<string, unknown>): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':at': now() };
    const sets = ['updated_at = :at'];
    Object.entries(fields).forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:v${i}`] = value;
      sets.push(`#f${i} = :v${i}`);
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.transaction(transactionId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** Adds to (or, with `mode: 'set'`, overwrites) the transaction's counters atomically. */
  async updateCounts(
    transactionId: string,
    counts: Partial<Record<CountName, number>>,
    mode: 'add' | 'set' | 'raise' = 'add',
  ): Promise<void> {
    if (mode === 'raise') {
      // Each counter separately, and only upwards: an event's ADD that landed after the figure
      // was counted is never overwritten by it.
      for (const [name, value] of Object.entries(counts)) {
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: keys.transaction(transactionId),
              UpdateExpression: 'SET #c.#n = :v',
              ConditionExpression: 'attribute_not_exists(#c.#n) OR #c.#n < :v',
              ExpressionAttributeNames: { '#c': 'counts', '#n': name },
              ExpressionAttributeValues: { ':v': value },
            }),
          );
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
      return;
    }
    const entries = Object.entries(counts).filter(([, v]) => mode === 'set' || v !== 0);
    if (entries.length === 0) return;
    const names: Record<string, string> = { '#c': 'counts' };
    const values: Record<string, unknown> = mode === 'add' ? { ':zero': 0 } : {};
    const sets = entries.map(([name, value], i) => {
      names[`#n${i}`] = name;
      values[`:v${i}`] = value;
      return mode === 'add' ? `#c.#n${i} = if_not_exists(#c.#n${i}, :zero) + :v${i}` : `#c.#n${i} = :v${i}`;
    });
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.transaction(transactionId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }
}
