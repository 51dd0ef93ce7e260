// The audit log in DynamoDB: one partition per tenant, entries sorted by time (an ISO time and
// a ULID). Append-only by construction: every entry is written with a condition that nothing is
// stored under its key, and this adapter has no update or delete (nor does any other code).
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import type { AuditLog, Cursor, Page } from '../../ports';
import { keys, ranges } from './keys';
import { recordOf, Table } from './table';
import type { AuditEntry } from './types';

/** `area.verb` or `area.sub.verb`: lower-case words, never an id. */
export const AUDIT_ACTION = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

/** Items one listing reads at most (with an action filter most may be left out): the cursor goes on from there. */
const MAX_READ_PER_REQUEST = 1000;

export class AuditTable extends Table implements AuditLog {
  async appendAuditEntry(entry: AuditEntry): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.auditEntry(entry.tenant_id, entry.at, entry.audit_id), ...entry },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
  }

  async listAuditEntries(
    tenantId: string,
    query: { from?: string; to?: string; action?: string; limit: number; cursor?: Cursor },
  ): Promise<Page<AuditEntry>> {
    const { PK } = ranges.audit(tenantId);
    // Sort keys are `<time>#<ulid>`: `>= from` takes entries at `from`, `<= to` none at `to` (to is exclusive).
    const range =
      query.from && query.to ? ' AND SK BETWEEN :from AND :to' : query.from ? ' AND SK >= :from' : query.to ? ' AND SK < :to' : '';
    const values = {
      ':pk': PK,
      ...(query.from ? { ':from': query.from } : {}),
      ...(query.to ? { ':to': query.to } : {}),
      ...(query.action ? { ':action': query.action } : {}),
    };
    const items: AuditEntry[] = [];
    let cursor = query.cursor;
    let read = 0;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: `PK = :pk${range}`,
          ...(query.action ? { FilterExpression: '#a = :action', ExpressionAttributeNames: { '#a': 'action' } } : {}),
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: Math.min(query.limit - items.length, MAX_READ_PER_REQUEST - read),
          ExclusiveStartKey: cursor,
        }),
      );
      for (const item of page.Items ?? []) items.push(recordOf<AuditEntry>(item));
      read += page.ScannedCount ?? 0;
      cursor = page.LastEvaluatedKey;
    } while (cursor && items.length < query.limit && read < MAX_READ_PER_REQUEST);
    return { items, cursor };
  }
}

/** An entry as callers give it: the id and time are filled in, and a request id made for actions outside a request. */
export type AuditInput = Omit<AuditEntry, 'audit_id' | 'at' | 'request_id'> & { at?: string; request_id?: string };

/**
 * Appends one entry; for operator and system actions (an erasure, a guard pausing a campaign)
 * as well as the API's requests. Throws when the write fails: the caller decides what a lost
 * entry means for it.
 */
export async function appendAudit(log: Pick<AuditLog, 'appendAuditEntry'>, input: AuditInput): Promise<AuditEntry> {
  if (!AUDIT_ACTION.test(input.action)) throw new Error(`audit action ${JSON.stringify(input.action)} is not of the form area.verb`);
  const auditId = ulid();
  const entry: AuditEntry = {
    ...input,
    audit_id: auditId,
    at: input.at ?? new Date().toISOString(),
    request_id: input.request_id ?? auditId,
  };
  await log.appendAuditEntry(entry);
  return entry;
}
