// What activities need from the outside world; built once in the worker (composition root),
// and by tests with their own settings.
import type { ByteBudget } from './byte-budget';
import type { Batches, Catalog, ItemWriter, Messages, RowErrors, Suppressions, Transactions } from '../src/ports';
import type { ObjectStore } from '../src/adapters/s3';
import type { Messenger } from '../src/adapters/ses';
import type { Logger } from '../src/logging';
import type { BatchTally } from '../src/contracts';

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
  messages: Pick<Messages, 'messageItem' | 'pageMessages' | 'getMessage' | 'transitionMessage'>;
  batches: Pick<Batches, 'batchItem' | 'setBatchFields'>;
  rowErrors: Pick<RowErrors, 'rowErrorItem'>;
  suppressions: Pick<Suppressions, 'suppressedAmong'>;
  /** Writes ingested messages, rejected rows and batches. */
  writer: ItemWriter;
  objects: ObjectStore;
  messenger: Messenger;
  log: Logger;
  settings: {
    maxCsvBytes: number;
    webhookTimeoutMs: number;
    /** Parallel SES calls inside one send chunk. */
    sendConcurrency: number;
    /** Base of the one-click unsubscribe links. */
    publicBaseUrl: string;
    unsubscribeSecret: string;
    /**
     * The least grace before a message left SENDING is resent, whatever the campaign says: set
     * when the configuration set publishes no Send events, so nothing can settle an ambiguous
     * message sooner (SENDING_GRACE_WITHOUT_SEND_EVENTS_SECONDS).
     */
    minSendingGraceMs?: number;
  };
  /** Bytes of rendered mail held until SES answers, shared by the worker's sends (tests may pass a small one). */
  renderedBytes?: ByteBudget;
  /** Needed by tallyBatch when asked to report (the worker wires it to its Temporal connection). */
  reporter?: BatchReporter;
  fetch?: typeof fetch;
}
