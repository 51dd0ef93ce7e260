// Template versions, the tenant's list of templates, and the test-send counter (issue 15, items
// 2 and 3). Version 1 is the template record (TEMPLATE#<id> / METADATA) as it has always been
// stored, so templates made before versions need no migration; version n ≥ 2 is an item of its
// own in the same partition (keys.templateVersion), written once under its number with a
// condition, so two concurrent "new version" calls can never both get the same number.
import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Cursor, Page, TemplateVersions } from '../../ports';
import { keys, ranges } from './keys';
import { GSI_TENANT } from './schema';
import { conditionHeld, recordOf, Table } from './table';
import type { TemplateRecord, TemplateVersionRecord } from './types';

/** The template record read as its version 1 (the template's name is not part of a version). */
export function asVersionOne(template: TemplateRecord): TemplateVersionRecord {
  const { name: _name, ...version } = template;
  return { ...version, version: 1 };
}

/** What a confirm fixes on a version: the placeholders found and the pinned copy of the bytes. */
export type ConfirmedFields = Pick<
  TemplateVersionRecord,
  'placeholders' | 'required_placeholders' | 'optional_placeholders' | 'pinned_key' | 'pinned_bytes'
>;

// A version's listing leaves out its text part, which may be large: a template's versions stay one small read.
const SUMMARY_ATTRIBUTES = [
  'template_id',
  'tenant_id',
  'version',
  'subject',
  'from',
  'reply_to',
  'status',
  'placeholders',
  'required_placeholders',
  'optional_placeholders',
  's3_key',
  'pinned_key',
  'pinned_bytes',
  'created_at',
  'updated_at',
];
const summaryProjection = {
  ProjectionExpression: SUMMARY_ATTRIBUTES.map((_, i) => `#a${i}`).join(', '),
  names: Object.fromEntries(SUMMARY_ATTRIBUTES.map((name, i) => [`#a${i}`, name])),
};

export class TemplateTable extends Table implements TemplateVersions {
  private async getItem<T>(key: { PK: string; SK: string }): Promise<T | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
    return Item ? recordOf<T>(Item) : undefined;
  }

  async getTemplateVersion(tenantId: string, templateId: string, version: number): Promise<TemplateVersionRecord | undefined> {
    if (version === 1) {
      const template = await this.getItem<TemplateRecord>(keys.template(templateId));
      return template?.tenant_id === tenantId ? asVersionOne(template) : undefined;
    }
    const record = await this.getItem<TemplateVersionRecord>(keys.templateVersion(templateId, version));
    return record?.tenant_id === tenantId ? record : undefined;
  }

  async listTemplateVersions(tenantId: string, templateId: string, limit: number): Promise<TemplateVersionRecord[] | undefined> {
    const first = await this.getTemplateVersion(tenantId, templateId, 1);
    if (!first) return undefined;
    const { PK, skPrefix } = ranges.templateVersions(templateId);
    const later: TemplateVersionRecord[] = [];
    let cursor: Cursor | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
          ExpressionAttributeValues: { ':pk': PK, ':sk': skPrefix },
          ExpressionAttributeNames: summaryProjection.names,
          ProjectionExpression: summaryProjection.ProjectionExpression,
          ConsistentRead: true,
          Limit: limit,
          ExclusiveStartKey: cursor,
        }),
      );
      later.push(...(page.Items ?? []).map((item) => item as TemplateVersionRecord));
      cursor = page.LastEvaluatedKey;
    } while (cursor && later.length < limit);
    const { text: _text, ...summary } = first;
    return [summary, ...later.filter((v) => v.tenant_id === tenantId).slice(0, Math.max(0, limit - 1))];
  }

  async createTemplateVersion(record: TemplateVersionRecord): Promise<boolean> {
    return conditionHeld(
      this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.templateVersion(record.template_id, record.version), ...record },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      ),
    );
  }

  async confirmTemplateVersion(tenantId: string, templateId: string, version: number, fields: ConfirmedFields): Promise<boolean> {
    const key = version === 1 ? keys.template(templateId) : keys.templateVersion(templateId, version);
    const set = Object.entries(fields).filter(([, value]) => value !== undefined);
    return conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: `SET #s = :ready, updated_at = :at, ${set.map((_, i) => `#f${i} = :f${i}`).join(', ')}`,
          // Only a version still waiting for its upload: a confirmed one is never changed again.
          ConditionExpression: 'attribute_exists(PK) AND tenant_id = :tenant AND #s = :pending',
          ExpressionAttributeNames: { '#s': 'status', ...Object.fromEntries(set.map(([name], i) => [`#f${i}`, name])) },
          ExpressionAttributeValues: {
            ':ready': 'READY',
            ':pending': 'PENDING_UPLOAD',
            ':tenant': tenantId,
            ':at': new Date().toISOString(),
            ...Object.fromEntries(set.map(([, value], i) => [`:f${i}`, value])),
          },
        }),
      ),
    );
  }

  async listTemplates(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<TemplateRecord>> {
    const { GSI2PK } = keys.tenantTemplate(tenantId, '', '');
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: GSI_TENANT,
        KeyConditionExpression: 'GSI2PK = :pk',
        ExpressionAttributeValues: { ':pk': GSI2PK },
        // Newest first.
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    return { items: (Items ?? []).map((item) => recordOf<TemplateRecord>(item)), cursor: LastEvaluatedKey };
  }

  /**
   * One page of the migration that lists the templates stored before the listing existed
   * (scripts/backfill-template-index.ts): a scan page, and the tenant index keys on each template
   * record without them. Returns how many it gave keys and where the next page starts.
   */
  async backfillListingPage(cursor?: Cursor): Promise<{ updated: number; cursor?: Cursor }> {
    const page = await this.doc.send(
      new ScanCommand({
        TableName: this.table,
        FilterExpression: 'begins_with(PK, :template) AND SK = :metadata AND attribute_not_exists(GSI2PK)',
        ExpressionAttributeValues: { ':template': 'TEMPLATE#', ':metadata': 'METADATA' },
        ExclusiveStartKey: cursor,
      }),
    );
    let updated = 0;
    for (const item of page.Items ?? []) {
      const template = recordOf<TemplateRecord>(item);
      const listed = keys.tenantTemplate(template.tenant_id, template.created_at, template.template_id);
      const written = await conditionHeld(
        this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: keys.template(template.template_id),
            UpdateExpression: 'SET GSI2PK = :pk, GSI2SK = :sk',
            ConditionExpression: 'attribute_exists(PK) AND attribute_not_exists(GSI2PK)',
            ExpressionAttributeValues: { ':pk': listed.GSI2PK, ':sk': listed.GSI2SK },
          }),
        ),
      );
      if (written) updated += 1;
    }
    return { updated, cursor: page.LastEvaluatedKey };
  }

  async reserveTestSends(tenantId: string, count: number, limit: number, at: Date = new Date()): Promise<boolean> {
    const hour = at.toISOString().slice(0, 13);
    return conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.testSendWindow(tenantId, hour),
          UpdateExpression: 'ADD sent :n SET expires_at = :expires',
          // Counted before anything is sent, so requests at once cannot together pass the limit.
          // The hour's first request is held to the limit too.
          ConditionExpression: '(attribute_not_exists(sent) AND :n <= :limit) OR sent <= :room',
          ExpressionAttributeValues: {
            ':n': count,
            ':limit': limit,
            ':room': limit - count,
            // Kept a day past its hour, then left to DynamoDB's TTL.
            ':expires': Math.floor(at.getTime() / 1000) + 25 * 3600,
          },
        }),
      ),
    );
  }
}
