// Batches in DynamoDB: one item per batch in its transaction's partition, with the figures
// counted when it is tallied and the count of outcomes its messages' events brought in.
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Batches, TableItem } from '../../ports';
import { SetExpression } from './expressions';
import { keys, ranges } from './keys';
import { Table } from './table';
import type { BatchRecord } from './types';

export class BatchTable extends Table implements Batches {
  batchItem(batch: BatchRecord): TableItem {
    return { ...keys.batch(batch.transaction_id, batch.batch_id), ...batch };
  }

  listBatches(transactionId: string): Promise<BatchRecord[]> {
    return this.queryAll<BatchRecord>(ranges.batches(transactionId));
  }

  async addBatchOutcome(transactionId: string, batchId: string, n = 1): Promise<{ outcomes: number; awaiting?: number }> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.batch(transactionId, batchId),
        UpdateExpression: 'ADD outcomes :n',
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeValues: { ':n': n },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { outcomes: Number(Attributes?.outcomes ?? 0), awaiting: Attributes?.awaiting_outcomes as number | undefined };
  }

  async setBatchFields(transactionId: string, batchId: string, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.batch(transactionId, batchId),
        ...new SetExpression().fields(fields).params,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes ?? {};
  }
}
