// PROCESSING: streams the recipient CSV from S3, validates each row, and writes messages,
// batches and rejected rows to DynamoDB. Heartbeats its row so a retry resumes writing
// where the last attempt stopped (it re-reads earlier rows only to rebuild the duplicate set).
// A row whose message item would not fit DynamoDB's item limit (with room for the message to
// grow) is a rejected row (ITEM_TOO_LARGE); one DynamoDB still refuses when written becomes a
// rejected row too, its neighbours stored: never a retry without end.
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { CsvHeaderError, columnRulesOf, createRowValidator, type RowResult } from '../src/domain/recipient-csv';
import { itemSize, MAX_MESSAGE_ITEM_BYTES } from '../src/domain/item-size';
import { batchId } from '../src/contracts';
import { keys, messageIdFor } from '../src/adapters/dynamo/keys';
import { DEFAULT_RETENTION, effectiveRetention, expiresAtSeconds } from '../src/domain/retention';
import { hashOfAddress } from '../src/domain/recipient-hash';
import type { TableItem } from '../src/ports';
import type { BatchRecord, MessageRecord, RowErrorRecord } from '../src/adapters/dynamo/types';
import { ObjectTooLargeError } from '../src/adapters/s3';
import type { ActivityDeps } from './deps';
import { pinnedTemplate } from './pinned-template';
import { rowCodeLabel } from '../src/metrics/engine-metrics';
import { INVALID_TIME_ZONE, LocalTimePlan, zoneReader, type LocalTimeGroup, type LocalTimeInput } from './local-time-plan';

export interface IngestInput {
  transactionId: string;
  tenantId: string;
  templateId: string;
  fileId: string;
  batchSize: number;
  /** Issue 17, item 4: each recipient mailed at send_at in their own zone (the column's); batches grouped by send time. */
  localTime?: LocalTimeInput;
  /**
   * Issue 18, item 1 (pipelined start): read the file only until batch `untilBatch` is full,
   * going on from where the earlier segment stopped (`from`, with `batchesStored` batches
   * written). Absent: the whole file, as before.
   */
  segment?: IngestSegment;
}

/** Where a segment of the ingest goes on from: the row it stopped at and what it counted by then. */
export interface IngestResume {
  row: number;
  suppressed: number;
  /** Rows DynamoDB refused when written (absent when none). */
  rejected?: number[];
}

export interface IngestSegment {
  /** Absent for the first segment. */
  from?: IngestResume;
  /** Batches the earlier segments wrote (1…batchesStored): read again, not rewritten. */
  batchesStored: number;
  /** The segment ends once this batch is full (or at the end of the file). */
  untilBatch: number;
}

export interface IngestResult {
  totalMessages: number;
  batchCount: number;
  valid: number;
  invalid: number;
  suppressed: number;
  /** With localTime: the batches' send times, in order (each group's batches from its firstBatch on). */
  localTimes?: LocalTimeGroup[];
  /**
   * A segment that stopped before the end of the file: where the next one goes on from. The
   * figures above are the file's so far (every row up to there, earlier segments' included).
   */
  resume?: IngestResume;
}

/** The heartbeat of an attempt (a retry goes on from it). */
type Checkpoint = IngestResume;

// Rows validated between two writes (and heartbeats): enough to keep several BatchWriteItem requests in flight.
const FLUSH_ROWS = 500;
// Flushes written at once, and BatchWriteItem requests in flight for them. With the pipelined
// start the file is read while batches send, and a segment's writes queue in DynamoDB beside the
// send path's and the event intake's; with two flushes and four requests a segment stored about
// 30 rows/s beside the sends (`npm run bench -- --recipients 6000`: a 2-batch segment 65 s), so the
// sends waited for batches. Four flushes and sixteen requests: the same segment 20 s, the send
// phase 29.6 → 60.2 msg/s. The reader waits once more than FLUSHES_IN_FLIGHT are being written: memory stays bounded.
const FLUSHES_IN_FLIGHT = 4;
const WRITES_IN_FLIGHT = 16;
// A single record larger than this aborts the file; individual cells are capped far lower by the validator.
const MAX_RECORD_BYTES = 8 * 1024 * 1024;

async function* decodeUtf8(body: Readable): AsyncGenerator<string> {
  // Non-fatal: bad bytes become U+FFFD and the validator rejects that row, not the file.
  const decoder = new TextDecoder('utf-8', { fatal: false });
  for await (const chunk of body) yield decoder.decode(chunk as Uint8Array, { stream: true });
  const tail = decoder.decode();
  if (tail) yield tail;
}

export const invalidFile = (code: string, message: string) =>
  ApplicationFailure.create({ type: 'InvalidRecipientFile', message, nonRetryable: true, details: [{ code }] });

export function createIngestActivities(deps: ActivityDeps) {
  const { store, messages, rowErrors, suppressions, objects, settings } = deps;

  async function ingestRecipients(input: IngestInput): Promise<IngestResult> {
    const ctx = Context.current();
    const log = deps.log.child({ transaction_id: input.transactionId, activity: 'ingestRecipients' });
    const segment = input.segment;
    // Batches by recipients' send time need the whole file read first (a scheduled campaign anyway).
    if (segment && input.localTime) throw new Error("an ingest by recipients' local time is not read in segments");
    const checkpoint: Checkpoint = (ctx.info.heartbeatDetails as Checkpoint | undefined) ?? segment?.from ?? { row: 0, suppressed: 0 };
    // A segment stops once its last batch is full: that many valid rows (refused ones keep their place).
    const stopAtValid = segment ? segment.untilBatch * input.batchSize : undefined;
    let stopped = false;
    const [file, txn, retention] = await Promise.all([
      store.getFile(input.tenantId, input.fileId),
      store.getTransaction(input.tenantId, input.transactionId),
      deps.recipients?.getRetention(input.tenantId),
    ]);
    // The rows are checked against the version the campaign will send, never the first one.
    const { number, template } = await pinnedTemplate(deps, input.tenantId, input.templateId, txn?.template_version);
    if (!template) throw invalidFile('TEMPLATE_NOT_READY', `template version ${number} is not confirmed`);
    if (!file) throw invalidFile('FILE_NOT_FOUND', 'recipient file not found');
    // The campaign's own copy, pinned and checked when it was created (the upload URL may have
    // received other bytes since); a campaign from before pinning reads the upload itself.
    const csvKey = txn?.file_key ?? file.s3_key;
    const size = await objects.size(csvKey);
    if (size === undefined) throw invalidFile('FILE_NOT_UPLOADED', 'recipient file was not uploaded');
    if (size === 0) throw invalidFile('EMPTY_FILE', 'recipient file is empty');
    if (size > settings.maxCsvBytes) {
      throw invalidFile('FILE_TOO_LARGE', `recipient file is ${size} bytes; the limit is ${settings.maxCsvBytes}`);
    }
    if (checkpoint.row > 0) log.info(segment?.from ? 'ingest segment' : 'resuming ingest', { from_row: checkpoint.row });

    let row = 0;
    /** A read of the file from its start (ingest reads it twice for recipients' local time). */
    const openParser = async () => {
      const parser = parse({
        bom: true,
        relax_column_count: true,
        // A stray quote inside a field is kept as text rather than failing the row or the file.
        relax_quotes: true,
        skip_empty_lines: true,
        max_record_size: MAX_RECORD_BYTES,
      });
      // Never more than the limit is read: an object larger than was checked fails the file instead.
      const body = await objects.getStream(csvKey, { maxBytes: settings.maxCsvBytes });
      const text = Readable.from(decodeUtf8(body));
      text.once('error', (error) =>
        parser.destroy(
          error instanceof ObjectTooLargeError
            ? invalidFile('FILE_TOO_LARGE', `recipient file is larger than ${settings.maxCsvBytes} bytes`)
            : error,
        ),
      );
      text.pipe(parser);
      // A segment stops reading before the end: the S3 response goes with the parser.
      parser.once('close', () => text.destroy());
      return parser;
    };
    const validatorFor = (header: string[]) => {
      try {
        return createRowValidator(header, columnRulesOf(template), { item: itemLimit });
      } catch (error) {
        if (error instanceof CsvHeaderError) throw invalidFile(error.code, error.message);
        throw error;
      }
    };
    const zonesOf = (header: string[]) => {
      if (!input.localTime) return undefined;
      const reader = zoneReader(input.localTime, header);
      if (!reader)
        throw invalidFile('TIME_ZONE_COLUMN_MISSING', `the file has no column "${input.localTime.column}" (recipient_time_zone_column)`);
      return reader;
    };
    /**
     * The first read, with recipients' local time: the valid rows counted by send time, as the
     * second read will find them (the same validator, so the same duplicates). A file that cannot
     * be read to its end is counted as far as it can be; the second read reports why.
     */
    const planLocalTimes = async (): Promise<LocalTimePlan> => {
      const counts = new Map<number, number>();
      let check: ReturnType<typeof createRowValidator> | undefined;
      let zones: ReturnType<typeof zonesOf>;
      try {
        for await (const record of (await openParser()) as AsyncIterable<string[]>) {
          if (!check) {
            check = validatorFor(record);
            zones = zonesOf(record);
            continue;
          }
          if (check.validate(record).kind !== 'valid') continue;
          const at = zones!.sendTimeOf(record);
          if (at !== undefined) counts.set(at, (counts.get(at) ?? 0) + 1);
        }
      } catch (error) {
        if (!(error as { code?: string }).code?.startsWith('CSV_')) throw error;
      }
      return new LocalTimePlan(counts, input.batchSize);
    };

    let validator: ReturnType<typeof createRowValidator> | undefined;
    let valid = 0;
    let invalid = 0;
    let suppressed = checkpoint.suppressed;
    const batches = new Map<number, BatchRecord>();
    let pendingValid: { row: number; batchNumber: number; result: Extract<RowResult, { kind: 'valid' }> }[] = [];
    let pendingErrors: RowErrorRecord[] = [];
    const createdAt = new Date().toISOString();
    // Retention and erasure: every message and rejected row expires by DynamoDB's TTL, and
    // carries its recipient's key in the recipient index (attributes of the items written anyway).
    const expiresAt = expiresAtSeconds(
      Date.parse(createdAt),
      effectiveRetention(retention, settings.retention ?? DEFAULT_RETENTION).days,
      txn?.schedule?.send_at,
    );
    const retained = (item: TableItem, email: string): TableItem => {
      const hash = hashOfAddress(email);
      return { ...item, expires_at: expiresAt, ...(hash ? keys.recipientIndex(input.tenantId, hash) : {}) };
    };
    // Rows validated as valid that DynamoDB then refused (this attempt's and earlier ones'): they
    // keep their place in the batch numbering, as when they were first read, but no message.
    const refusedRows = [...(checkpoint.rejected ?? [])];
    const refusedEarlier = new Set(refusedRows);
    let refused = 0;
    // Rejected rows by code, counted once the ingest finishes (email_engine_ingest_rejected_rows_total).
    const rejectedByCode = new Map<string, number>();
    const noteRejected = (code: string) => rejectedByCode.set(code, (rejectedByCode.get(code) ?? 0) + 1);

    const messageRecord = (r: number, batchNumber: number, result: Extract<RowResult, { kind: 'valid' }>, isSuppressed: boolean) => {
      const bid = batchId(batchNumber);
      const status = isSuppressed ? 'SUPPRESSED' : 'CREATED';
      const record: MessageRecord = {
        message_id: messageIdFor(bid, r),
        batch_id: bid,
        transaction_id: input.transactionId,
        tenant_id: input.tenantId,
        row: r,
        recipient_email: result.email,
        placeholder_data: result.data,
        status,
        status_history: [
          {
            status,
            timestamp: createdAt,
            metadata: isSuppressed ? { source: 'csv_processing', reason: 'on_suppression_list' } : { source: 'csv_processing' },
          },
        ],
        created_at: createdAt,
        updated_at: createdAt,
      };
      return record;
    };
    // The item as it would be written (the larger, suppressed variant), measured as DynamoDB does.
    const itemLimit = {
      bytes: MAX_MESSAGE_ITEM_BYTES,
      size: (email: string, data: Record<string, string>) =>
        itemSize(
          retained(
            messages.messageItem(messageRecord(row, Math.floor(valid / input.batchSize) + 1, { kind: 'valid', email, data }, true)),
            email,
          ),
        ),
    };

    // Flushes overlap: the next rows are parsed and checked against the suppression list while
    // the previous ones are written (one writer pool, WRITES_IN_FLIGHT requests). Checkpoints
    // still advance in row order, each once everything up to its row is stored.
    const writer = deps.writer.batchWriter(WRITES_IN_FLIGHT);
    let stored: Promise<void> = Promise.resolve();
    const flush = (lastRow: number): Promise<void> => {
      const writeValid = pendingValid.filter((p) => p.row > checkpoint.row);
      const writeErrors = pendingErrors.filter((e) => e.row > checkpoint.row);
      pendingValid = [];
      pendingErrors = [];
      if (writeValid.length === 0 && writeErrors.length === 0) return stored;
      const job = (async () => {
        // A campaign with a topic (issue 15, item 7) leaves out that topic's suppressed addresses too.
        const blocked = await suppressions.suppressedOrErasedAmong(
          input.tenantId,
          writeValid.map((p) => p.result.email),
          txn?.topic,
        );
        let jobSuppressed = 0;
        const items = writeValid.map(({ row: r, batchNumber, result }): MessageRecord => {
          const isSuppressed = blocked.has(result.email);
          if (isSuppressed) jobSuppressed += 1;
          return messageRecord(r, batchNumber, result, isSuppressed);
        });
        const refusedItems = await writer.write([
          ...items.map((m) => retained(messages.messageItem(m), m.recipient_email)),
          ...writeErrors.map((e) => retained(rowErrors.rowErrorItem(input.transactionId, e), e.email)),
        ]);
        // DynamoDB refused some messages as invalid: each becomes a rejected row, the rest stand.
        const refusedMessages: { row: number; batchNumber: number; code: string }[] = [];
        const errors: RowErrorRecord[] = [];
        for (const { item, code, reason } of refusedItems) {
          const message = items.find((m) => m.message_id === item.message_id);
          if (!message) throw new Error(`DynamoDB refused a row error item: ${reason}`);
          if (message.status === 'SUPPRESSED') jobSuppressed -= 1;
          refusedMessages.push({ row: message.row, batchNumber: writeValid.find((p) => p.row === message.row)!.batchNumber, code });
          errors.push({ row: message.row, email: message.recipient_email, code, message: `DynamoDB refused the row's message: ${reason}` });
        }
        if (errors.length > 0) {
          log.warn('rows refused by DynamoDB', { rows: errors.map((e) => e.row), code: errors[0]!.code });
          const again = await writer.write(errors.map((e) => retained(rowErrors.rowErrorItem(input.transactionId, e), e.email)));
          if (again.length > 0) throw new Error(`DynamoDB refused a row error item: ${again[0]!.reason}`);
        }
        return { jobSuppressed, refusedMessages };
      })();
      // In row order: a failed flush surfaces only after the ones before it settled (and
      // checkpointed), so an attempt never ends with its earlier writes still in flight.
      job.catch(() => undefined);
      stored = stored
        .then(() => job)
        .then(({ jobSuppressed, refusedMessages }) => {
          suppressed += jobSuppressed;
          for (const r of refusedMessages) refuse(r.row, r.batchNumber, r.code);
          ctx.heartbeat({ row: lastRow, suppressed, ...(refusedRows.length > 0 ? { rejected: refusedRows } : {}) } satisfies Checkpoint);
        });
      // Awaited later (or the attempt fails first): never an unhandled rejection meanwhile.
      stored.catch(() => undefined);
      return stored;
    };
    /** A row validated as valid, refused by DynamoDB: counted rejected, its batch one message short. */
    const refuse = (r: number, batchNumber: number, code: string) => {
      if (!refusedEarlier.has(r)) refusedRows.push(r);
      refused += 1;
      invalid += 1;
      noteRejected(code);
      const batch = batches.get(batchNumber);
      if (batch) batch.message_count -= 1;
    };
    // The flushes being written: the reader waits for the oldest past FLUSHES_IN_FLIGHT (memory bounded whatever the file size).
    const inFlight: Promise<void>[] = [];

    const rows = async function* () {
      const parser = await openParser();
      try {
        for await (const record of parser as AsyncIterable<string[]>) yield record;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (!code?.startsWith('CSV_')) throw error;
        // A quote never closed, or a record past the size limit: what came before stands,
        // the rest of the file cannot be read, and the errors report says so.
        invalid += 1;
        noteRejected('MALFORMED_CSV');
        pendingErrors.push({
          row: row + 1,
          email: '',
          code: 'MALFORMED_CSV',
          message: `${(error as Error).message}; the file could not be read past this row`,
        });
      }
    };
    const plan = input.localTime ? await planLocalTimes() : undefined;
    let zones: ReturnType<typeof zonesOf>;
    try {
      for await (const record of rows()) {
        if (!validator) {
          validator = validatorFor(record);
          zones = zonesOf(record);
          continue;
        }
        row += 1;
        let result = validator.validate(record);
        // With recipients' local time, a row whose zone the database does not know is rejected.
        const sendTime = result.kind === 'valid' && zones ? zones.sendTimeOf(record) : undefined;
        if (result.kind === 'valid' && zones && sendTime === undefined) {
          const zone = (record[zones.index] ?? '').trim();
          result = {
            kind: 'rejected',
            email: result.email,
            code: INVALID_TIME_ZONE,
            message: `unknown time zone "${zone.slice(0, 64)}" in column ${input.localTime!.column} (an IANA name such as Europe/Paris)`,
          };
        }
        if (result.kind === 'valid') {
          const batchNumber = plan && sendTime !== undefined ? plan.batchOf(sendTime) : Math.floor(valid / input.batchSize) + 1;
          valid += 1;
          const batch = batches.get(batchNumber);
          if (batch) {
            batch.message_count += 1;
            batch.last_row = row;
          } else {
            batches.set(batchNumber, {
              transaction_id: input.transactionId,
              batch_id: batchId(batchNumber),
              batch_number: batchNumber,
              status: 'CREATED',
              message_count: 1,
              first_row: row,
              last_row: row,
              source: csvKey,
              ...(plan ? { send_at: plan.sendAtOf(batchNumber) } : {}),
            });
          }
          // Refused by DynamoDB in an earlier attempt (the checkpoint keeps its row, not its code).
          if (refusedEarlier.has(row)) refuse(row, batchNumber, 'ITEM_REFUSED');
          else pendingValid.push({ row, batchNumber, result });
          if (valid === stopAtValid) {
            stopped = true;
            break;
          }
        } else {
          invalid += 1;
          noteRejected(result.code);
          pendingErrors.push({ row, email: result.email, code: result.code, message: result.message });
        }
        if (pendingValid.length + pendingErrors.length >= FLUSH_ROWS) {
          inFlight.push(flush(row));
          if (inFlight.length > FLUSHES_IN_FLIGHT) await inFlight.shift();
        }
      }
      if (!validator) throw invalidFile('EMPTY_FILE', 'recipient file has no header row');
      await flush(row);
    } catch (error) {
      // Whatever is still being written ends before this attempt does: no write of a failed
      // attempt can land after a later one moved on (and reset a message it had sent).
      writer.abort(error);
      await writer.idle();
      throw error;
    }
    // Batches an earlier segment wrote are sending already: rebuilt for the numbering, never rewritten.
    const newBatches = [...batches.values()].filter((b) => b.batch_number > (segment?.batchesStored ?? 0));
    const refusedBatches = await deps.writer.writeAll(newBatches.map((b) => deps.batches.batchItem(b)));
    if (refusedBatches.length > 0) throw new Error(`DynamoDB refused a batch item: ${refusedBatches[0]!.reason}`);
    const result: IngestResult = {
      totalMessages: valid - refused,
      batchCount: batches.size,
      valid: valid - refused - suppressed,
      invalid,
      suppressed,
      ...(plan ? { localTimes: plan.summary() } : {}),
      ...(stopped ? { resume: { row, suppressed, ...(refusedRows.length > 0 ? { rejected: refusedRows } : {}) } } : {}),
    };
    // The file's figures so far after a segment, the whole file's after the last.
    await store.setTransactionFields(input.transactionId, {
      total_messages: result.totalMessages,
      batch_count: result.batchCount,
    });
    await store.updateCounts(input.transactionId, { invalid, suppressed }, 'set');
    if (stopped) {
      log.info('ingest segment finished', { ...result });
      return result;
    }
    // Counted once, by the attempt that finished the file (its figures are the whole file's, earlier attempts' and segments' rows included).
    if (deps.metrics) {
      const rows = deps.metrics.ingestRows;
      rows.inc({ tenant: input.tenantId, verdict: 'valid' }, result.valid);
      rows.inc({ tenant: input.tenantId, verdict: 'rejected' }, result.invalid);
      rows.inc({ tenant: input.tenantId, verdict: 'suppressed' }, result.suppressed);
      for (const [code, n] of rejectedByCode) deps.metrics.ingestRejectedRows.inc({ code: rowCodeLabel(code) }, n);
    }
    log.info('ingest finished', { ...result });
    return result;
  }

  return { ingestRecipients };
}
