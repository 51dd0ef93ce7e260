// Every store of the single table over one client, for the composition roots to hand out.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ApiKeyTable } from './api-keys';
import { AuditTable } from './audit';
import { BatchTable } from './batches';
import { ExportTable } from './exports';
import { EventWebhookTable } from './event-webhooks';
import { CampaignIndexTable } from './campaign-index';
import { IdentityTable } from './identities';
import { MessageTable } from './messages';
import { RecipientTable } from './recipients';
import { RowErrorTable } from './row-errors';
import { Store } from './store';
import { SuppressionTable } from './suppressions';
import { TemplateTable } from './templates';
import { SuppressionJobTable } from './suppression-jobs';
import { TopicTable } from './topics';
import { TableWriter } from './write-pool';

/** `groupTransitions: false`: each message transition its own UpdateItem (MessageTable). */
export function createTables(doc: DynamoDBDocumentClient, table: string, options: { groupTransitions?: boolean } = {}) {
  return {
    store: new Store(doc, table),
    campaigns: new CampaignIndexTable(doc, table),
    messages: new MessageTable(doc, table, options),
    batches: new BatchTable(doc, table),
    rowErrors: new RowErrorTable(doc, table),
    recipients: new RecipientTable(doc, table),
    suppressions: new SuppressionTable(doc, table),
    suppressionJobs: new SuppressionJobTable(doc, table),
    topics: new TopicTable(doc, table),
    identities: new IdentityTable(doc, table),
    writer: new TableWriter(doc, table),
    apiKeys: new ApiKeyTable(doc, table),
    audit: new AuditTable(doc, table),
    templates: new TemplateTable(doc, table),
    exports: new ExportTable(doc, table),
    /** Event webhook endpoints and the message event log (issue 17, item 1). */
    eventWebhooks: new EventWebhookTable(doc, table),
  };
}

export type Tables = ReturnType<typeof createTables>;
