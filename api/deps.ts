// What the HTTP API needs; built by the process that serves it (api/main.ts, the local
// launcher or a test) and passed to createApp.
import type { Client } from '@temporalio/client';
import type { Registry } from 'prom-client';
import type { Config } from '../src/config';
import type { Catalog, Messages, RowErrors, Suppressions, Transactions } from '../src/ports';
import type { ObjectStore } from '../src/adapters/s3';
import type { Logger } from '../src/logging';
import type { SnsVerifier } from '../src/adapters/sns-verifier';
import type { Analytics } from '../src/adapters/opensearch';
import type { AnalyticsIndexer } from '../src/events/analytics-indexer';
import type { SesEvent } from '../src/domain/ses-event';
import type { EventOutcome } from '../src/events/process-ses-event';

export type ComponentState = { status: 'up' | 'down'; latency_ms: number; error?: string };

export interface ApiDeps {
  config: Config;
  store: Pick<Catalog, 'tenantForApiKey' | 'putTemplate' | 'getTemplate' | 'markTemplateReady' | 'putFile' | 'getFile'> &
    Pick<Transactions, 'claimIdempotencyKey' | 'createTransaction' | 'getTransaction' | 'setTransactionFields'>;
  messages: Pick<Messages, 'pageMessages' | 'getMessage' | 'applyEffect'>;
  rowErrors: Pick<RowErrors, 'listRowErrors'>;
  suppressions: Pick<Suppressions, 'listSuppressions' | 'getSuppression' | 'putSuppression' | 'deleteSuppression' | 'addSuppression'>;
  objects: ObjectStore;
  temporal: Client;
  health: () => Promise<Record<string, ComponentState>>;
  registry: Registry;
  log: Logger;
  /** Present when OpenSearch is configured. */
  analytics?: { analytics: Analytics; indexer: AnalyticsIndexer };
  events: {
    verifier: SnsVerifier;
    process: (event: SesEvent) => Promise<EventOutcome>;
  };
}
