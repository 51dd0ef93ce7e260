// The suppression list in DynamoDB: one partition per tenant, one item per address.
import { BatchGetCommand, type BatchGetCommandOutput, DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Cursor, Page, Suppressions } from '../../ports';
import { keys, ranges } from './keys';
import { conditionHeld, retryDelay, Table } from './table';
import type { SuppressionRecord } from './types';

export class SuppressionTable extends Table implements Suppressions {
  /** BatchGetItem in groups of 100, all in flight at once, each retrying its UnprocessedKeys. */
  async suppressedAmong(tenantId: string, emails: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const unique = [...new Set(emails)];
    const groups: string[][] = [];
    for (let i = 0; i < unique.length; i += 100) groups.push(unique.slice(i, i + 100));
    await Promise.all(
      groups.map(async (group) => {
        let request: Record<string, unknown>[] | undefined = group.map((e) => keys.suppression(tenantId, e));
        for (let attempt = 0; request && request.length > 0; attempt++) {
          if (attempt > 0) await retryDelay(attempt);
          const result: BatchGetCommandOutput = await this.doc.send(
            new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request, ProjectionExpression: 'email' } } }),
          );
          for (const item of result.Responses?.[this.table] ?? []) found.add(item.email as string);
          request = result.UnprocessedKeys?.[this.table]?.Keys;
        }
      }),
    );
    return found;
  }

  async putSuppression(record: SuppressionRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: this.item(record) }));
  }

  addSuppression(record: SuppressionRecord): Promise<boolean> {
    return conditionHeld(
      this.doc.send(new PutCommand({ TableName: this.table, Item: this.item(record), ConditionExpression: 'attribute_not_exists(PK)' })),
    );
  }

  getSuppression(tenantId: string, email: string): Promise<SuppressionRecord | undefined> {
    return this.queryItem<SuppressionRecord>(keys.suppression(tenantId, email));
  }

  async deleteSuppression(tenantId: string, email: string): Promise<boolean> {
    const { Attributes } = await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: keys.suppression(tenantId, email), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
  }

  listSuppressions(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<SuppressionRecord>> {
    // The whole partition: every item in it is a suppression.
    return this.queryPage<SuppressionRecord>({ PK: ranges.suppressions(tenantId).PK }, limit, cursor);
  }

  private item(record: SuppressionRecord) {
    return { ...keys.suppression(record.tenant_id, record.email), ...record };
  }
}
