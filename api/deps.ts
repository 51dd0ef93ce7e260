// What the HTTP API needs; built by the process that serves it (api/main.ts, the local
// launcher or a test) and passed to createApp.
import type { Client } from '@temporalio/client';
import type { Registry } from 'prom-client';
import type { Config } from '../src/config';
import type {
  ApiKeys,
  AuditLog,
  CampaignIndex,
  Catalog,
  ErasedRecipients,
  Identities,
  Messages,
  RowErrors,
  Suppressions,
  TemplateVersions,
  Topics,
  Transactions,
} from '../src/ports';
import type { AuditTrail } from './audit';
import type { TokenVerifier } from './oauth';
import type { IdentityVerifier } from '../src/adapters/identity-verifier';
import type { ObjectStore } from '../src/adapters/s3';
import type { Messenger } from '../src/adapters/ses';
import type { RecipientTable } from '../src/adapters/dynamo/recipients';
import type { SuppressionJobTable } from '../src/adapters/dynamo/suppression-jobs';
import type { ExportTable } from '../src/adapters/dynamo/exports';
import type { Logger } from '../src/logging';
import type { SnsVerifier } from '../src/adapters/sns-verifier';
import type { Analytics } from '../src/adapters/opensearch';
import type { AnalyticsIndexer } from '../src/events/analytics-indexer';
import type { SesEvent } from '../src/domain/ses-event';
import type { EventDelivery, EventOutcome } from '../src/events/process-ses-event';
import type { ReputationGuard } from '../src/reputation/guard';
import type { EventWebhookTable } from '../src/adapters/dynamo/event-webhooks';
import type { EventLog } from '../src/events/event-log';

export type ComponentState = { status: 'up' | 'down'; latency_ms: number; error?: string };

export interface ApiDeps {
  config: Config;
  /** Event webhook endpoints and their log (issue 17, item 1); the routes are mounted when present. */
  eventWebhooks?: EventWebhookTable;
  /** Logs the events the API applies (SES events, one-click unsubscribe) for event webhooks. */
  eventLog?: EventLog;
  store: Pick<Catalog, 'putTemplate' | 'getTemplate' | 'markTemplateReady' | 'putFile' | 'getFile'> &
    Pick<Transactions, 'claimIdempotencyKey' | 'createTransaction' | 'getTransaction' | 'setTransactionFields'>;
  /** A tenant's campaigns, newest first (issue 15, item 1). */
  campaigns: CampaignIndex;
  messages: Pick<Messages, 'pageMessages' | 'getMessage' | 'applyEffect'>;
  rowErrors: Pick<RowErrors, 'listRowErrors'>;
  suppressions: Pick<Suppressions, 'listSuppressions' | 'getSuppression' | 'putSuppression' | 'deleteSuppression' | 'addSuppression'>;
  /** Subject access, erasure and retention (issue 14, item 11): the recipient index, erasure records, retention settings. */
  recipients: Pick<RecipientTable, 'pageItems' | 'getItems' | 'getRetention' | 'putRetention' | 'requestErasure' | 'getErasure'>;
  erasedRecipients: Pick<ErasedRecipients, 'suppressErasedRecipient' | 'getErasedRecipient' | 'suppressedOrErasedAmong'>;
  /** Suppression imports and exports (issue 15, item 6). */
  suppressionJobs: Pick<SuppressionJobTable, 'createImport' | 'getImport' | 'updateImport' | 'createExport' | 'getExport'>;
  /** Template versions, the tenant's list of templates and the test-send counter (issue 15, items 2 and 3). */
  templates: TemplateVersions;
  /** SES, for test sends (issue 15, item 3): campaigns send from the worker. */
  messenger: Messenger;
  /** A campaign's result exports (issue 15, item 5). */
  exports: Pick<ExportTable, 'createExport' | 'getExport' | 'finishExport'>;
  /** The tenant's topics and topic suppressions (issue 15, item 7). */
  topics: Topics;
  identities: Identities;
  /** API keys and the tenant settings authentication reads (issue 14, item 8). */
  apiKeys: ApiKeys;
  /** The tenants' audit logs (item 10): entries appended by `auditTrail`, read by GET /audit. */
  audit: Pick<AuditLog, 'listAuditEntries'>;
  auditTrail: AuditTrail;
  /** Present when OAUTH_ISSUER is configured (item 9). */
  verifyToken?: TokenVerifier;
  /** SES's side of sender identities (the local verifier on the local stack). */
  identityVerifier: IdentityVerifier;
  objects: ObjectStore;
  temporal: Client;
  health: () => Promise<Record<string, ComponentState>>;
  registry: Registry;
  log: Logger;
  /** Present when OpenSearch is configured. */
  analytics?: { analytics: Analytics; indexer: AnalyticsIndexer };
  /** The reputation guard (issue 16, item 4): counts applied events, holds tenants, gates their campaigns. */
  reputation?: ReputationGuard;
  events: {
    verifier: SnsVerifier;
    process: (event: SesEvent, delivery?: EventDelivery) => Promise<EventOutcome>;
  };
}
