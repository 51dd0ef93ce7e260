// Result exports in DynamoDB (issue 15, item 5): a campaign's export records and its export
// slots, in a partition of their own per campaign, and the projected read of the campaign's
// messages an export streams. An export holds one of the campaign's slots while it runs: taking
// a slot and writing the record are one transaction, so concurrent requests can never run more
// exports at once than there are slots. A slot is also free once its lease has passed (an
// export whose run was terminated never gives it back).
import { DeleteCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { EXPORTED_FIELDS, type ExportedMessage } from '../../domain/campaign-export';
import type { Cursor, Page } from '../../ports';
import { SetExpression } from './expressions';
import { keys, ranges } from './keys';
import { cancellationReasons, isConditionFailure, recordOf, Table } from './table';
import type { ExportRecord, ExportState } from './types';

/** Messages one query reads: a batch holds at most 1,000 (BATCH_SIZE), so usually one query per batch. */
const MESSAGES_PER_QUERY = 1000;

export type NewExport = Omit<ExportRecord, 'slot' | 'state' | 'rows_written' | 'updated_at'>;

export class ExportTable extends Table {
  /**
   * Records the export in the first free slot of `slots`, leased until `leaseUntil`. `exists`
   * when an export of that id is already recorded (an Idempotency-Key's repeat), `busy` when
   * every slot is held.
   */
  async createExport(
    record: NewExport,
    slots: number,
    leaseUntil: string,
  ): Promise<{ outcome: 'created' | 'exists'; record: ExportRecord } | { outcome: 'busy' }> {
    const earlier = await this.getExport(record.tenant_id, record.transaction_id, record.export_id);
    if (earlier) return { outcome: 'exists', record: earlier };
    for (let slot = 0; slot < slots; slot++) {
      const full: ExportRecord = { ...record, slot, state: 'RUNNING', rows_written: 0, updated_at: record.created_at };
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: { ...keys.exportSlot(record.transaction_id, slot), export_id: record.export_id, lease_until: leaseUntil },
                  ConditionExpression: 'attribute_not_exists(PK) OR lease_until < :now',
                  ExpressionAttributeValues: { ':now': record.created_at },
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: { ...keys.campaignExport(record.transaction_id, record.export_id), ...full },
                  ConditionExpression: 'attribute_not_exists(PK)',
                },
              },
            ],
          }),
        );
        return { outcome: 'created', record: full };
      } catch (error) {
        const [slotReason, recordReason] = cancellationReasons(error);
        if (recordReason?.Code === 'ConditionalCheckFailed') {
          const now = await this.getExport(record.tenant_id, record.transaction_id, record.export_id);
          if (now) return { outcome: 'exists', record: now };
        }
        if (slotReason?.Code !== 'ConditionalCheckFailed') throw error;
      }
    }
    return { outcome: 'busy' };
  }

  /** The export, if it is of this campaign and this tenant's (another tenant's is not found). */
  async getExport(tenantId: string, transactionId: string, exportId: string): Promise<ExportRecord | undefined> {
    const record = await this.queryItem<ExportRecord>(keys.campaignExport(transactionId, exportId), true);
    return record?.tenant_id === tenantId ? record : undefined;
  }

  /** Rows written so far, while the export runs. */
  async setExportProgress(transactionId: string, exportId: string, rows: number, bytes: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.campaignExport(transactionId, exportId),
          UpdateExpression: 'SET rows_written = :r, bytes_written = :b, updated_at = :now',
          ConditionExpression: '#s = :running',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: { ':r': rows, ':b': bytes, ':now': new Date().toISOString(), ':running': 'RUNNING' },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * Ends a RUNNING export (a repeat changes nothing) and gives its slot back, unless another
   * export has taken the slot since its lease passed. Returns the record as it now is.
   */
  async finishExport(
    transactionId: string,
    exportId: string,
    end: { state: Exclude<ExportState, 'RUNNING'>; rows?: number; bytes?: number; error?: ExportRecord['error'] },
  ): Promise<ExportRecord | undefined> {
    const at = new Date().toISOString();
    const ended = { rows_written: end.rows, bytes_written: end.bytes, error: end.error };
    const update = new SetExpression({ '#s': 'state' }, { ':s': end.state, ':at': at, ':running': 'RUNNING' })
      .set('#s = :s', 'updated_at = :at', 'completed_at = :at')
      .fields(Object.fromEntries(Object.entries(ended).filter(([, v]) => v !== undefined)));
    let record: ExportRecord | undefined;
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.campaignExport(transactionId, exportId),
          ...update.params,
          ConditionExpression: '#s = :running',
          ReturnValues: 'ALL_NEW',
        }),
      );
      record = Attributes ? recordOf<ExportRecord>(Attributes) : undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      record = await this.queryItem<ExportRecord>(keys.campaignExport(transactionId, exportId), true);
    }
    if (record) await this.releaseSlot(transactionId, record.slot, exportId);
    return record;
  }

  private async releaseSlot(transactionId: string, slot: number, exportId: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.exportSlot(transactionId, slot),
          ConditionExpression: 'export_id = :id',
          ExpressionAttributeValues: { ':id': exportId },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * One page of a batch's messages with only what an export shows (no row data), in key order;
   * the cursor is absent once the batch is read.
   */
  async pageExportMessages(transactionId: string, batchId: string, cursor?: Cursor): Promise<Page<ExportedMessage>> {
    const range = ranges.messages(transactionId, batchId);
    const names = Object.fromEntries(EXPORTED_FIELDS.map((n, i) => [`#f${i}`, n]));
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        ExpressionAttributeValues: { ':pk': range.PK, ':sk': range.skPrefix },
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
        Limit: MESSAGES_PER_QUERY,
        ExclusiveStartKey: cursor,
        ConsistentRead: true,
      }),
    );
    return { items: (Items ?? []) as ExportedMessage[], cursor: LastEvaluatedKey };
  }
}
