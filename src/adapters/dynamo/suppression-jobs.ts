// Suppression imports and exports (issue 15, item 6): one record each, in a partition per
// tenant, read and written only under the caller's tenant (another tenant's id is not found).
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ExportState, ImportProgress, ImportState } from '../../domain/suppression-lists';
import { keys } from './keys';
import { conditionHeld, Table } from './table';

export interface JobError {
  code: string;
  message: string;
}

export interface SuppressionImportRecord {
  import_id: string;
  tenant_id: string;
  state: ImportState;
  /** What the presigned URL names: the tenant may write it until the URL expires. */
  upload_key: string;
  /** The copy the import reads, made at start (never presigned): later uploads change nothing. */
  pinned_key?: string;
  file_bytes?: number;
  progress: ImportProgress;
  /** The rejected-lines report (CSV), once the import has ended with rejected lines. */
  report_key?: string;
  /** How many rejected lines the report lists (at most SUPPRESSION_IMPORT_MAX_REPORTED_LINES). */
  reported_lines?: number;
  error?: JobError;
  created_at: string;
  updated_at: string;
  started_at?: string;
  completed_at?: string;
}

export interface SuppressionExportRecord {
  export_id: string;
  tenant_id: string;
  state: ExportState;
  object_key: string;
  rows: number;
  error?: JobError;
  created_at: string;
  updated_at: string;
  completed_at?: string;
}

type Fields<T> = Partial<Omit<T, 'tenant_id' | 'created_at'>>;

const now = () => new Date().toISOString();

export class SuppressionJobTable extends Table {
  async createImport(record: SuppressionImportRecord): Promise<void> {
    await this.create(keys.suppressionImport(record.tenant_id, record.import_id), record);
  }

  getImport(tenantId: string, importId: string): Promise<SuppressionImportRecord | undefined> {
    return this.queryItem<SuppressionImportRecord>(keys.suppressionImport(tenantId, importId), true);
  }

  /** Sets fields; with `from`, only while the import is in one of those states (false otherwise). */
  updateImport(tenantId: string, importId: string, fields: Fields<SuppressionImportRecord>, from?: readonly ImportState[]) {
    return this.update(keys.suppressionImport(tenantId, importId), fields, from);
  }

  async createExport(record: SuppressionExportRecord): Promise<void> {
    await this.create(keys.suppressionExport(record.tenant_id, record.export_id), record);
  }

  getExport(tenantId: string, exportId: string): Promise<SuppressionExportRecord | undefined> {
    return this.queryItem<SuppressionExportRecord>(keys.suppressionExport(tenantId, exportId), true);
  }

  updateExport(tenantId: string, exportId: string, fields: Fields<SuppressionExportRecord>, from?: readonly ExportState[]) {
    return this.update(keys.suppressionExport(tenantId, exportId), fields, from);
  }

  private async create(key: { PK: string; SK: string }, record: object): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { ...key, ...record }, ConditionExpression: 'attribute_not_exists(PK)' }),
    );
  }

  /** Sets `fields` and updated_at on an existing record; `from` guards the state it may be in. */
  private async update(key: { PK: string; SK: string }, fields: Record<string, unknown>, from?: readonly string[]): Promise<boolean> {
    const entries = Object.entries({ ...fields, updated_at: now() }).filter(([, v]) => v !== undefined);
    const names = Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k]));
    const values: Record<string, unknown> = Object.fromEntries(entries.map(([, v], i) => [`:f${i}`, v]));
    let condition = 'attribute_exists(PK)';
    if (from) {
      names['#state'] = 'state';
      from.forEach((state, i) => (values[`:from${i}`] = state));
      condition += ` AND #state IN (${from.map((_, i) => `:from${i}`).join(', ')})`;
    }
    return conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :f${i}`).join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }
}
