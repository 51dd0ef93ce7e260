// The DynamoDB request log for the benchmark (issue 18): opt-in counting of requests and item
// writes per process, added to the clients src/adapters/aws.ts builds.
import { appendFileSync } from 'node:fs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * The DynamoDB request log (issue 18), for the benchmark: with DYNAMODB_REQUEST_LOG set to a file,
 * every DynamoDB client of this process counts its requests by operation and its writes by item
 * key, and appends a summary of the totals so far to that file as one JSON line every
 * REQUEST_LOG_FLUSH_MS (when something changed) and at exit. Unset, no middleware is added.
 * The middleware sits on the raw client's serialize step, where the document client's commands
 * have been marshalled already, so both kinds of command are seen with the same input shape.
 * A request is counted once however often the SDK retries it (retries come later, in finalize).
 */
export const REQUEST_LOG_FLUSH_MS = 2_000;
const REQUEST_LOG_TOP_KEYS = 20;

/** An attribute value as DynamoDB sends it ({ S: 'x' }), or plain, should a caller pass one. */
type KeyValue = { S?: string; N?: string } | string | number | undefined;
type KeyedItem = Record<string, KeyValue> | undefined;
/** The parts of a request's input that name the items it writes. */
export interface WriteRequestInput {
  Item?: KeyedItem;
  Key?: KeyedItem;
  TransactItems?: { Put?: { Item?: KeyedItem }; Update?: { Key?: KeyedItem }; Delete?: { Key?: KeyedItem } }[];
  RequestItems?: Record<string, { PutRequest?: { Item?: KeyedItem }; DeleteRequest?: { Key?: KeyedItem } }[]>;
}

/** [PK, SK] of an item or key. */
const itemKey = (item: KeyedItem): [string, string] | undefined => {
  if (!item) return undefined;
  const part = (v: KeyValue) => (v && typeof v === 'object' ? (v.S ?? v.N) : v?.toString());
  const pk = part(item.PK);
  return pk === undefined ? undefined : [pk, part(item.SK) ?? ''];
};

/** The keys of the items one write request writes (all of them for TransactWriteItems and BatchWriteItem). */
export function writtenKeys(operation: string, input: WriteRequestInput): [string, string][] {
  const found: ([string, string] | undefined)[] = [];
  switch (operation) {
    case 'PutItem':
      found.push(itemKey(input.Item));
      break;
    case 'UpdateItem':
    case 'DeleteItem':
      found.push(itemKey(input.Key));
      break;
    case 'TransactWriteItems':
      // A ConditionCheck writes nothing.
      for (const t of input.TransactItems ?? []) found.push(itemKey(t.Put?.Item ?? t.Update?.Key ?? t.Delete?.Key));
      break;
    case 'BatchWriteItem':
      for (const requests of Object.values(input.RequestItems ?? {}))
        for (const r of requests) found.push(itemKey(r.PutRequest?.Item ?? r.DeleteRequest?.Key));
      break;
  }
  return found.filter((k): k is [string, string] => k !== undefined);
}

/** What the log file's lines hold: totals since the process started. */
export interface RequestLogSummary {
  pid: number;
  /** Epoch ms when the line was written. */
  at: number;
  requests: Record<string, number>;
  /** Requests that failed (a condition that did not hold, a timeout), by operation; also in `requests`. */
  errors: Record<string, number>;
  items_written: number;
  /** Item writes by PK prefix and SK prefix (each up to its first '#', `*` if an id), e.g. `BATCH/MESSAGE`. */
  writes_by_kind: Record<string, number>;
  distinct_keys_written: number;
  /** The most written keys, most first: [`PK|SK`, writes]. */
  top_keys: [string, number][];
}

/** A key part's kind: up to its first '#', and `*` for an id or a time there (an audit entry's SK). */
const prefix = (s: string) => {
  const head = s.split('#', 1)[0]!;
  return /\d/.test(head) ? '*' : head;
};

class DynamoRequestLog {
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  // Every key written stays here (about 100 bytes each): the top keys need them all. It is the
  // counter's one cost that grows with the campaign.
  private readonly writes = new Map<string, number>();
  private readonly kinds = new Map<string, number>();
  private itemsWritten = 0;
  private changes = 0;
  private flushed = 0;

  constructor(private readonly path: string) {
    setInterval(() => this.flush(), REQUEST_LOG_FLUSH_MS).unref();
    process.once('exit', () => this.flush());
  }

  record(operation: string, input: WriteRequestInput) {
    this.changes += 1;
    this.requests.set(operation, (this.requests.get(operation) ?? 0) + 1);
    for (const [pk, sk] of writtenKeys(operation, input)) {
      const key = `${pk}|${sk}`;
      this.itemsWritten += 1;
      this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
      const kind = `${prefix(pk)}/${prefix(sk)}`;
      this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    }
  }

  failed(operation: string) {
    this.changes += 1;
    this.errors.set(operation, (this.errors.get(operation) ?? 0) + 1);
  }

  summary(): RequestLogSummary {
    // The top keys in one pass, keeping a short sorted list (the map can hold every message's key).
    const top: [string, number][] = [];
    for (const entry of this.writes) {
      if (top.length === REQUEST_LOG_TOP_KEYS && entry[1] <= top.at(-1)![1]) continue;
      const at = top.findIndex((t) => t[1] < entry[1]);
      top.splice(at === -1 ? top.length : at, 0, entry);
      if (top.length > REQUEST_LOG_TOP_KEYS) top.pop();
    }
    return {
      pid: process.pid,
      at: Date.now(),
      requests: Object.fromEntries(this.requests),
      errors: Object.fromEntries(this.errors),
      items_written: this.itemsWritten,
      writes_by_kind: Object.fromEntries(this.kinds),
      distinct_keys_written: this.writes.size,
      top_keys: top,
    };
  }

  flush() {
    if (this.changes === this.flushed) return;
    this.flushed = this.changes;
    try {
      appendFileSync(this.path, JSON.stringify(this.summary()) + '\n');
    } catch {
      // A measurement aid only: a file that cannot be written never disturbs the engine.
    }
  }
}

/** One log per process, whichever of its clients made the request. */
let requestLog: DynamoRequestLog | undefined;

export function countDynamoRequests(client: DynamoDBClient) {
  const path = process.env.DYNAMODB_REQUEST_LOG;
  if (!path) return;
  const log = (requestLog ??= new DynamoRequestLog(path));
  (client.middlewareStack as { add: (mw: unknown, opts: { step: 'serialize'; name: string }) => void }).add(
    (next: (args: { input: WriteRequestInput }) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: WriteRequestInput }) => {
        const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        log.record(operation, args.input);
        try {
          return await next(args);
        } catch (error) {
          log.failed(operation);
          throw error;
        }
      },
    { step: 'serialize', name: 'countDynamoRequests' },
  );
}
