// What the HTTP API needs; built by the process that serves it (api/main.ts, the local
// launcher or a test) and passed to createApp.
import type { Client } from '@temporalio/client';
import type { Registry } from 'prom-client';
import type { Config } from '../src/config';
import type { Store } from '../src/adapters/dynamo/store';
import type { MessageStore } from '../src/adapters/dynamo/message-store';
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
  store: Store;
  messages: MessageStore;
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
