// What activities need from the outside world; built once in the worker (composition root),
// and by tests with their own settings.
import type { Store } from '../src/adapters/dynamo/store';
import type { MessageStore } from '../src/adapters/dynamo/message-store';
import type { ObjectStore } from '../src/adapters/s3';
import type { Messenger } from '../src/adapters/ses';
import type { Logger } from '../src/logging';
import type { BatchTally } from '../src/contracts';

/** Tells a transaction workflow about one of its batches (a signal; repeats are harmless). */
export interface BatchReporter {
  report(transactionId: string, kind: 'sent' | 'completed', report: { batchNumber: number; tally: BatchTally; failure?: string }): Promise<void>;
}

export interface ActivityDeps {
  store: Store;
  messages: MessageStore;
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
  };
  /** Needed by tallyBatch when asked to report (the worker wires it to its Temporal connection). */
  reporter?: BatchReporter;
  fetch?: typeof fetch;
}
