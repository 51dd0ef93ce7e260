// Rejected CSV rows in DynamoDB: one item per row in its transaction's partition, in row order.
import type { Cursor, Page, RowErrors, TableItem } from '../../ports';
import { keys, ranges } from './keys';
import { Table } from './table';
import type { RowErrorRecord } from './types';

export class RowErrorTable extends Table implements RowErrors {
  rowErrorItem(transactionId: string, error: RowErrorRecord): TableItem {
    return { ...keys.rowError(transactionId, error.row), ...error };
  }

  async listRowErrors(transactionId: string, limit: number, cursor?: Cursor): Promise<Page<RowErrorRecord>> {
    const page = await this.queryPage<RowErrorRecord>(ranges.rowErrors(transactionId), limit, cursor);
    // The retention and recipient-index attributes ingest adds are the engine's, not the row's.
    return { ...page, items: page.items.map(({ row, email, code, message }) => ({ row, email, code, message })) };
  }
}
