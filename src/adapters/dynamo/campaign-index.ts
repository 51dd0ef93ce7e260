// A tenant's campaigns, newest first, from the tenant index (GSI_TENANT: GSI2PK is the tenant's,
// GSI2SK `<created_at>#<transaction id>`). The creation window is part of the key condition;
// status, tag and name are filters, which DynamoDB applies after reading: a listing reads at most
// `budget.items` items in `budget.queries` queries, so a filter that matches little ends the page
// short (or empty) with a cursor instead of reading the tenant's whole history in one request.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CampaignIndex, CampaignListing, IndexKey, Page } from '../../ports';
import { searchForm } from '../../domain/campaign-labels';
import { liveCounts, readShardCounts } from './counter-shards';
import { keys } from './keys';
import { GSI_TENANT } from './schema';
import { recordOf, Table } from './table';
import type { TransactionRecord } from './types';

/** The tenant index's partition of a tenant's campaigns. */
export const tenantCampaignPartition = (tenantId: string) => keys.tenantTransaction(tenantId, '', '').GSI2PK;

/** Items a filtered query reads at most (DynamoDB's Limit counts items read, not items matched). */
const SCAN_PER_QUERY = 500;

/** The attribute `q` searches: the name in its search form, written with the campaign. */
export const NAME_SEARCH_ATTRIBUTE = 'name_search';

/** What the table item of a new campaign carries besides its record: the name's search form. */
export const searchAttributes = (record: Pick<TransactionRecord, 'name'>) =>
  record.name === undefined ? {} : { [NAME_SEARCH_ATTRIBUTE]: searchForm(record.name) };

function queryParts(tenantId: string, query: CampaignListing) {
  const values: Record<string, unknown> = { ':pk': tenantCampaignPartition(tenantId) };
  const names: Record<string, string> = {};
  // Sort keys are `<created_at>#<id>`: `>= from` takes campaigns created at `from`; `<= to` none at `to` (to is exclusive).
  let key = 'GSI2PK = :pk';
  if (query.from !== undefined) values[':from'] = query.from;
  if (query.to !== undefined) values[':to'] = query.to;
  if (query.from !== undefined && query.to !== undefined) key += ' AND GSI2SK BETWEEN :from AND :to';
  else if (query.from !== undefined) key += ' AND GSI2SK >= :from';
  else if (query.to !== undefined) key += ' AND GSI2SK < :to';
  const filters: string[] = [];
  if (query.status !== undefined) {
    names['#s'] = 'status';
    values[':status'] = query.status;
    filters.push('#s = :status');
  }
  if (query.tag !== undefined) {
    values[':tag'] = query.tag;
    filters.push('contains(tags, :tag)');
  }
  if (query.q !== undefined) {
    names['#q'] = NAME_SEARCH_ATTRIBUTE;
    values[':q'] = searchForm(query.q);
    filters.push('contains(#q, :q)');
  }
  return {
    KeyConditionExpression: key,
    FilterExpression: filters.length > 0 ? filters.join(' AND ') : undefined,
    ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
    ExpressionAttributeValues: values,
  };
}

const indexKeyOf = (item: Record<string, unknown>): IndexKey => ({
  PK: item.PK as string,
  SK: item.SK as string,
  GSI2PK: item.GSI2PK as string,
  GSI2SK: item.GSI2SK as string,
});

export class CampaignIndexTable extends Table implements CampaignIndex {
  async listCampaigns(tenantId: string, query: CampaignListing): Promise<Page<TransactionRecord> & { cursor?: IndexKey }> {
    const parts = queryParts(tenantId, query);
    const filtered = parts.FilterExpression !== undefined;
    const items: TransactionRecord[] = [];
    let start: IndexKey | undefined = query.cursor;
    let read = 0;
    for (let queries = 0; queries < query.budget.queries && read < query.budget.items; queries++) {
      const wanted = query.limit - items.length;
      const {
        Items = [],
        LastEvaluatedKey,
        ScannedCount = 0,
      } = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI_TENANT,
          ...parts,
          ScanIndexForward: false,
          // Unfiltered, one item more than asked says whether another page exists (no cursor to an
          // empty page). Filtered, Limit counts items read: read a scan's worth within the budget.
          Limit: filtered ? Math.min(Math.max(wanted, SCAN_PER_QUERY), query.budget.items - read) : wanted + 1,
          ExclusiveStartKey: start,
        }),
      );
      read += ScannedCount;
      start = LastEvaluatedKey as IndexKey | undefined;
      if (Items.length > wanted) {
        // More matches than the page takes: it ends at the last one kept.
        Items.length = wanted;
        start = indexKeyOf(Items[wanted - 1]!);
      }
      for (const item of Items) items.push(recordOf<TransactionRecord>(item));
      if (!start || items.length >= query.limit) break;
    }
    // The index holds the records; their event counts are on the counter shards (counter-shards.ts).
    const live = await Promise.all(
      items.map(async (txn) => ({
        ...txn,
        counts: liveCounts(txn.counts ?? {}, await readShardCounts(this.doc, this.table, txn.transaction_id)),
      })),
    );
    return { items: live, cursor: start };
  }
}
