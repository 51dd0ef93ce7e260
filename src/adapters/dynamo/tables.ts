// Every store of the single table over one client, for the composition roots to hand out.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchTable } from './batches';
import { MessageTable } from './messages';
import { RowErrorTable } from './row-errors';
import { Store } from './store';
import { SuppressionTable } from './suppressions';
import { TableWriter } from './write-pool';

export function createTables(doc: DynamoDBDocumentClient, table: string) {
  return {
    store: new Store(doc, table),
    messages: new MessageTable(doc, table),
    batches: new BatchTable(doc, table),
    rowErrors: new RowErrorTable(doc, table),
    suppressions: new SuppressionTable(doc, table),
    writer: new TableWriter(doc, table),
  };
}

export type Tables = ReturnType<typeof createTables>;
