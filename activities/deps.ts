// What activities need from the outside world; built once in the worker (composition root),
// and by tests with their own settings.
import type { EventLog } from '../src/events/event-log';
import type { SendGate } from '../src/reputation/send-gate';
import type { ByteBudget } from './byte-budget';
import type {
  Batches,
  Catalog,
  ErasedRecipients,
  Identities,
  ItemWriter,
  Messages,
  RowErrors,
  TemplateVersions,
  Transactions,
} from '../src/ports';
import type { IdentityVerifier } from '../src/adapters/identity-verifier';
import type { ObjectStore } from '../src/adapters/s3';
import type { RecipientTable } from '../src/adapters/dynamo/recipients';
import type { ExportTable } from '../src/adapters/dynamo/exports';
import type { Analytics } from '../src/adapters/opensearch';
import type { RetentionDefaults } from '../src/domain/retention';
import type { Messenger } from '../src/adapters/ses';
import type { Logger } from '../src/logging';
import type { BatchTally } from '../src/contracts';
import type { CallbackPolicy } from '../src/adapters/safe-http';
import type { EngineMetrics } from '../src/metrics/engine-metrics';

/** Tells a transaction workflow about one of its batches (a signal; repeats are harmless). */
export interface BatchReporter {
  report(
    transactionId: string,
    kind: 'sent' | 'completed',
    report: { batchNumber: number; tally: BatchTally; failure?: string },
  ): Promise<void>;
}

export interface ActivityDeps {
  store: Pick<Catalog, 'getTenant' | 'getTemplate' | 'getFile'> &
    Pick<Transactions, 'getTransaction' | 'setTransactionStatus' | 'setTransactionFields' | 'updateCounts' | 'reconcileCounts'>;
  /**
   * Template versions after the first (issue 15, item 2), which the worker wires; without it only
   * campaigns on version 1 (the template record) can send.
   */
  templates?: Pick<TemplateVersions, 'getTemplateVersion'>;
  messages: Pick<Messages, 'messageItem' | 'pageMessages' | 'chunkBounds' | 'getMessage' | 'transitionMessage'>;
  batches: Pick<Batches, 'batchItem' | 'setBatchFields' | 'addBatchOutcome'>;
  rowErrors: Pick<RowErrors, 'rowErrorItem'>;
  /** Address suppressions and erased recipients, checked in one round (ingest, and before each send chunk). */
  suppressions: Pick<ErasedRecipients, 'suppressedOrErasedAmong'>;
  /** The tenant's sender identities, checked before each send chunk. */
  identities: Pick<Identities, 'senderIdentities'>;
  /** SES's word on whether an identity may send, and its ARN. */
  identityVerifier: Pick<IdentityVerifier, 'sendingState' | 'arn'>;
  /** Writes ingested messages, rejected rows and batches. */
  writer: ItemWriter;
  objects: ObjectStore;
  messenger: Messenger;
  log: Logger;
  /** The event log of event webhooks (issue 17, item 1): a send that fails its message logs `failed` (never throws). */
  eventLog?: Pick<EventLog, 'noteFailed'>;
  settings: {
    maxCsvBytes: number;
    webhookTimeoutMs: number;
    /** Parallel SES calls inside one send chunk. */
    sendConcurrency: number;
    /**
     * Set when the platform's send rate was lowered below the one the chunks were sized for (SES
     * MaxSendRate under SEND_RATE_PER_SECOND): a chunk's messages start at most this many a second.
     */
    paceMessagesPerSecond?: number;
    /** Base of the one-click unsubscribe links. */
    publicBaseUrl: string;
    unsubscribeSecret: string;
    /**
     * The least grace before a message left SENDING is resent, whatever the campaign says: set
     * when the configuration set publishes no Send events, so nothing can settle an ambiguous
     * message sooner (SENDING_GRACE_WITHOUT_SEND_EVENTS_SECONDS).
     */
    minSendingGraceMs?: number;
    /** How long personal data is kept unless the tenant set its own (DEFAULT_RETENTION when unset). */
    retention?: RetentionDefaults;
    /** Where webhooks may go (CALLBACK_*); unset, private networks are refused. */
    callbacks?: CallbackPolicy;
    /** Result exports: bytes per multipart part (EXPORT_PART_BYTES; tests may pass less than S3's 5 MiB to s3rver). */
    exportPartBytes?: number;
  };
  /** Bytes of rendered mail held until SES answers, shared by the worker's sends (tests may pass a small one). */
  renderedBytes?: ByteBudget;
  /** Needed by tallyBatch when asked to report (the worker wires it to its Temporal connection). */
  reporter?: BatchReporter;
  /** Retention and erasure: the recipient index and erasure records (the worker wires them). */
  recipients?: Pick<RecipientTable, 'pageItems' | 'eraseMessage' | 'eraseRowError' | 'recentCampaigns' | 'getRetention' | 'updateErasure'>;
  /** Whether a campaign's workflow still runs (a record left PROCESSING by a workflow that ended is not an ingest). */
  workflows?: { isRunning(workflowId: string): Promise<boolean> };
  /** Result exports (issue 15, item 5): export records and the projected read of messages (the worker wires them). */
  exports?: Pick<ExportTable, 'getExport' | 'pageExportMessages' | 'setExportProgress' | 'finishExport'>;
  /** OpenSearch, when analytics are on: erasure and retention delete documents there too. */
  analytics?: Pick<Analytics, 'eraseMessageDocuments' | 'deleteOlderThan' | 'tenantsWithDocuments'>;
  /**
   * The reputation hold at the point of sending (src/reputation/send-gate.ts; REPUTATION_GUARD=hold):
   * asked before each send chunk. Absent, only the guard's sweeps pause a held tenant's campaigns.
   */
  sendGate?: SendGate;
  /** The worker's Prometheus metrics (issue 16; the worker wires them): absent, nothing is counted. */
  metrics?: EngineMetrics;
}
