// Suppression import and export (issue 15, item 6), the activities of suppressionImportWorkflow
// and suppressionExportWorkflow.
//
// The import streams the pinned copy of the tenant's CSV (never the whole file in memory),
// judges each line, and writes the new suppressions a group of lines at a time (BatchWriteItem,
// 25 a request, a few requests in flight). After each group it heartbeats the line it reached,
// with its counts and the rejected lines so far, so a retry resumes after that line; a group
// written again by a retry counts exactly (see SuppressionTable.importSuppressions).
//
// The export pages the tenant's suppression list and streams it as CSV into a multipart S3
// upload. Erased recipients are never exported: they are held by the hash of their address
// alone, and the export's rows are addresses.
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Upload } from '@aws-sdk/lib-storage';
import { csvLine } from '../src/domain/csv-export';
import { ERASED_ADDRESS } from '../src/domain/erasure';
import {
  emptyProgress,
  importColumns,
  importReportKey,
  judgeImportLine,
  type ImportProgress,
  type SuppressionListWorkflowInput,
} from '../src/domain/suppression-lists';
import { ObjectTooLargeError, type ObjectStore } from '../src/adapters/s3';
import type { SuppressionTable } from '../src/adapters/dynamo/suppressions';
import type { JobError, SuppressionJobTable } from '../src/adapters/dynamo/suppression-jobs';
import type { ImportedSuppression } from '../src/adapters/dynamo/types';
import type { ItemWriter } from '../src/ports';
import type { Logger } from '../src/logging';
import type { Config } from '../src/config';

export interface SuppressionListSettings {
  maxBytes: number;
  maxLines: number;
  maxReportedLines: number;
  writeConcurrency: number;
}

/** The import's limits as the config sets them (SUPPRESSION_IMPORT_*). */
export function suppressionListSettings(
  config: Pick<
    Config,
    | 'SUPPRESSION_IMPORT_MAX_BYTES'
    | 'SUPPRESSION_IMPORT_MAX_LINES'
    | 'SUPPRESSION_IMPORT_MAX_REPORTED_LINES'
    | 'SUPPRESSION_IMPORT_WRITE_CONCURRENCY'
  >,
): SuppressionListSettings {
  return {
    maxBytes: config.SUPPRESSION_IMPORT_MAX_BYTES,
    maxLines: config.SUPPRESSION_IMPORT_MAX_LINES,
    maxReportedLines: config.SUPPRESSION_IMPORT_MAX_REPORTED_LINES,
    writeConcurrency: config.SUPPRESSION_IMPORT_WRITE_CONCURRENCY,
  };
}

export interface SuppressionListDeps {
  suppressions: Pick<SuppressionTable, 'importSuppressions' | 'listSuppressions'>;
  suppressionJobs: Pick<SuppressionJobTable, 'getImport' | 'updateImport' | 'getExport' | 'updateExport'>;
  writer: ItemWriter;
  objects: ObjectStore;
  log: Logger;
}

/** A line the import did not take, as its report lists it. */
export interface RejectedLine {
  line: number;
  email: string;
  code: string;
  message: string;
}

interface ImportCheckpoint {
  /** Every line up to this one is done (written, or counted as a duplicate or rejected). */
  line: number;
  progress: ImportProgress;
  /** The first rejected lines (up to the report's cap). */
  rejected: RejectedLine[];
}

/** Lines judged between two writes and heartbeats: 80 BatchWriteItem requests at most. */
const GROUP_LINES = 2000;
/** One line larger than this stops the file (an address and a reason are far smaller). */
const MAX_RECORD_BYTES = 64 * 1024;
/** How often the import record shows the progress (the heartbeat keeps it for retries after every group). */
const PROGRESS_EVERY_MS = 2000;
const EXPORT_PAGE = 1000;
/** A rejected line's address in the report: what the line held, cut to an address's longest. */
const REPORTED_EMAIL_CHARS = 254;

/** A failure no retry can mend: the import or export is recorded FAILED with its code. */
const jobFailure = (code: string, message: string) =>
  ApplicationFailure.create({ type: 'SuppressionListFailure', message, nonRetryable: true, details: [{ code }] });

/** The code and message of a jobFailure; undefined for any other error. */
function jobErrorOf(error: unknown): JobError | undefined {
  if (!(error instanceof ApplicationFailure) || error.type !== 'SuppressionListFailure') return undefined;
  return { code: (error.details?.[0] as { code: string }).code, message: error.message };
}

/** Data lines in the file (physical lines after the header), counted without parsing. */
async function countDataLines(body: Readable): Promise<number> {
  let newlines = 0;
  let last = 0x0a;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) newlines += 1;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  const lines = newlines + (last === 0x0a ? 0 : 1);
  return Math.max(0, lines - 1);
}

type ParsedLine = { record: string[]; info: { lines: number } };

/**
 * One attempt at an import from its checkpoint: judges each line after it, gathers the new
 * suppressions of a group, writes them, and heartbeats the line reached with the counts.
 */
class ImportAttempt {
  private group = new Map<string, ImportedSuppression>();
  private lastLine: number;
  private shownAt = Date.now();
  private readonly createdAt = new Date().toISOString();

  constructor(
    private readonly input: SuppressionListWorkflowInput,
    readonly checkpoint: ImportCheckpoint,
    private readonly io: {
      write: (records: ImportedSuppression[]) => Promise<{ imported: number; duplicates: number }>;
      heartbeat: (checkpoint: ImportCheckpoint) => void;
      showProgress: (progress: ImportProgress) => Promise<unknown>;
      maxReportedLines: number;
    },
  ) {
    this.lastLine = checkpoint.line;
  }

  get progress() {
    return this.checkpoint.progress;
  }

  /** One data line; lines the checkpoint says are done are passed over. */
  async take({ record, info }: ParsedLine, columns: { email: number; reason?: number }): Promise<void> {
    const line = info.lines;
    if (line <= this.checkpoint.line) return;
    this.lastLine = line;
    this.progress.lines_read += 1;
    const raw = record[columns.email] ?? '';
    const judged = judgeImportLine(raw, columns.reason === undefined ? undefined : record[columns.reason]);
    if (judged.kind === 'rejected') this.reject(line, raw, judged.code, judged.message);
    else if (this.group.has(judged.email)) this.progress.duplicates += 1;
    else {
      const source = { type: 'import' as const, import_id: this.input.jobId, line, ...(judged.note ? { note: judged.note } : {}) };
      this.group.set(judged.email, {
        tenant_id: this.input.tenantId,
        email: judged.email,
        reason: judged.reason,
        source,
        created_at: this.createdAt,
      });
    }
    if (this.progress.lines_read % GROUP_LINES === 0) await this.flush();
  }

  reject(line: number, email: string, code: string, message: string): void {
    this.progress.rejected += 1;
    const { rejected } = this.checkpoint;
    if (rejected.length < this.io.maxReportedLines) rejected.push({ line, email: email.slice(0, REPORTED_EMAIL_CHARS), code, message });
  }

  /** Writes the group, then heartbeats: a retry resumes after the last line of a written group. */
  async flush(): Promise<void> {
    const written = await this.io.write([...this.group.values()]);
    this.progress.imported += written.imported;
    this.progress.duplicates += written.duplicates;
    this.group = new Map();
    // A copy: the details may be sent later, after the next lines have changed the counts.
    this.io.heartbeat(structuredClone({ ...this.checkpoint, line: this.lastLine }));
    if (Date.now() - this.shownAt >= PROGRESS_EVERY_MS) {
      this.shownAt = Date.now();
      await this.io.showProgress(this.progress);
    }
  }

  /**
   * Where the file stopped being readable (a CSV error), as the import's error and a rejected
   * line: the line after the last one read (csv-parse counts an unclosed quote to the file's end).
   */
  stoppedBy(error: Error): JobError {
    const stopped = { code: 'MALFORMED_CSV', message: `the file could not be read after line ${this.lastLine}: ${error.message}` };
    this.reject(this.lastLine + 1, '', stopped.code, stopped.message);
    return stopped;
  }
}

export function createSuppressionListActivities(deps: SuppressionListDeps, settings: SuppressionListSettings) {
  const { suppressions, suppressionJobs: jobs, objects } = deps;

  /**
   * The import's pinned copy, parsed line by line; fails (FILE_TOO_LARGE) past the size it was
   * started with. A CSV error (a quote never closed, a line past the size limit) ends the lines:
   * an error thrown through the stream would drop lines parsed before it but not yet read, so
   * the parser skips instead and `error()` says what stopped it.
   */
  async function parsedLines(key: string) {
    let error: (Error & { lines?: number }) | undefined;
    const parser = parse({
      bom: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      info: true,
      max_record_size: MAX_RECORD_BYTES,
      skip_records_with_error: true,
      on_skip: (skipped) => void (error ??= skipped),
    });
    const body = await objects.getStream(key, { maxBytes: settings.maxBytes });
    // Node's decoder keeps a character split across chunks whole; bad bytes become U+FFFD (an invalid address).
    body.setEncoding('utf8');
    body.once('error', (failure) =>
      parser.destroy(
        failure instanceof ObjectTooLargeError ? jobFailure('FILE_TOO_LARGE', 'the file grew past its size at start') : failure,
      ),
    );
    body.pipe(parser);
    async function* lines(): AsyncGenerator<ParsedLine> {
      for await (const parsed of parser as AsyncIterable<ParsedLine>) {
        // Nothing after the first error is read: the file is not what it claims to be from there on.
        if (error?.lines !== undefined && parsed.info.lines >= error.lines) return;
        yield parsed;
      }
    }
    return { lines: lines(), error: () => error, close: () => body.destroy() };
  }

  async function checkLineCount(key: string): Promise<void> {
    const lines = await countDataLines(await objects.getStream(key, { maxBytes: settings.maxBytes }));
    if (lines === 0) throw jobFailure('EMPTY_FILE', 'the file has no data lines');
    if (lines > settings.maxLines) throw jobFailure('TOO_MANY_LINES', `the file has ${lines} lines; the limit is ${settings.maxLines}`);
  }

  /** Reads the file from the attempt's checkpoint to its end (or to a line that cannot be read: the error returned). */
  async function readFile(key: string, attempt: ImportAttempt): Promise<JobError | undefined> {
    const file = await parsedLines(key);
    let columns: ReturnType<typeof importColumns>;
    try {
      for await (const parsed of file.lines) {
        if (columns) await attempt.take(parsed, columns);
        else if (!(columns = importColumns(parsed.record))) throw jobFailure('MISSING_EMAIL_COLUMN', 'the header has no "email" column');
      }
    } finally {
      file.close();
    }
    const error = file.error();
    // The lines before a CSV error stand.
    const stopped = error ? attempt.stoppedBy(error) : undefined;
    if (!columns && !stopped) throw jobFailure('EMPTY_FILE', 'the file has no header line');
    await attempt.flush();
    return stopped;
  }

  async function importSuppressionFile(input: SuppressionListWorkflowInput): Promise<ImportProgress> {
    const ctx = Context.current();
    const job = await jobs.getImport(input.tenantId, input.jobId);
    if (!job?.pinned_key) throw jobFailure('IMPORT_NOT_FOUND', 'the import or its file is missing');
    if (job.state === 'COMPLETED' || job.state === 'FAILED') return job.progress;
    const resumed = ctx.info.heartbeatDetails as ImportCheckpoint | undefined;
    if (resumed) deps.log.info('resuming suppression import', { import_id: input.jobId, after_line: resumed.line });
    const update = (fields: Parameters<typeof jobs.updateImport>[2]) => jobs.updateImport(input.tenantId, input.jobId, fields);
    const writer = deps.writer.batchWriter(settings.writeConcurrency);
    const attempt = new ImportAttempt(input, resumed ?? { line: 1, progress: emptyProgress(), rejected: [] }, {
      write: (records) => suppressions.importSuppressions(records, writer),
      heartbeat: (checkpoint) => ctx.heartbeat(checkpoint),
      showProgress: (progress) => update({ progress }),
      maxReportedLines: settings.maxReportedLines,
    });
    let stopped: JobError | undefined;
    try {
      // Before any write: a file past the line limit imports nothing.
      if (!resumed) await checkLineCount(job.pinned_key);
      await update({ state: 'RUNNING', started_at: job.started_at ?? new Date().toISOString() });
      stopped = await readFile(job.pinned_key, attempt);
    } catch (error) {
      stopped = jobErrorOf(error);
      if (!stopped) throw error;
    }
    const report = await writeReport(input.tenantId, input.jobId, attempt.checkpoint.rejected);
    const state = stopped ? 'FAILED' : 'COMPLETED';
    await update({
      state,
      progress: attempt.progress,
      ...report,
      ...(stopped ? { error: stopped } : {}),
      completed_at: new Date().toISOString(),
    });
    // The addresses are in the suppression list now: the file need not be kept.
    await Promise.all([objects.delete(job.pinned_key), objects.delete(job.upload_key)]);
    return attempt.progress;
  }

  async function writeReport(tenantId: string, importId: string, rejected: RejectedLine[]) {
    if (rejected.length === 0) return {};
    const key = importReportKey(tenantId, importId);
    const lines = rejected.map((r) => csvLine([r.line, r.email, r.code, r.message]));
    await objects.putText(key, csvLine(['line', 'email', 'code', 'message']) + lines.join(''), 'text/csv; charset=utf-8');
    return { report_key: key, reported_lines: rejected.length };
  }

  /** The tenant's suppression list as CSV (email, reason, created_at), streamed into S3 page by page. */
  async function exportSuppressionList(input: SuppressionListWorkflowInput): Promise<{ rows: number }> {
    const ctx = Context.current();
    const job = await jobs.getExport(input.tenantId, input.jobId);
    if (!job) throw jobFailure('EXPORT_NOT_FOUND', 'the export is missing');
    if (job.state === 'COMPLETED') return { rows: job.rows };
    await jobs.updateExport(input.tenantId, input.jobId, { state: 'RUNNING' });
    const body = new PassThrough();
    const upload = new Upload({
      client: objects.s3,
      params: { Bucket: objects.bucket, Key: job.object_key, Body: body, ContentType: 'text/csv; charset=utf-8' },
    });
    const uploaded = upload.done();
    uploaded.catch(() => undefined);
    const put = async (line: string) => {
      if (!body.write(line)) await once(body, 'drain');
    };
    let rows = 0;
    try {
      await put(csvLine(['email', 'reason', 'created_at']));
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await suppressions.listSuppressions(input.tenantId, EXPORT_PAGE, cursor);
        for (const item of page.items) {
          if (item.email === ERASED_ADDRESS) continue;
          await put(csvLine([item.email, item.reason, item.created_at]));
          rows += 1;
        }
        ctx.heartbeat({ rows });
        cursor = page.cursor;
      } while (cursor);
      body.end();
      await uploaded;
    } catch (error) {
      body.destroy();
      await upload.abort().catch(() => undefined);
      throw error;
    }
    await jobs.updateExport(input.tenantId, input.jobId, { state: 'COMPLETED', rows, completed_at: new Date().toISOString() });
    return { rows };
  }

  /** What a failed import or export shows (the workflow calls it once the activity has given up). */
  async function recordSuppressionListFailure(input: SuppressionListWorkflowInput & { kind: 'import' | 'export'; error: JobError }) {
    const fields = { state: 'FAILED' as const, error: input.error, completed_at: new Date().toISOString() };
    if (input.kind === 'import') await jobs.updateImport(input.tenantId, input.jobId, fields, ['QUEUED', 'RUNNING']);
    else await jobs.updateExport(input.tenantId, input.jobId, fields, ['QUEUED', 'RUNNING']);
  }

  return { importSuppressionFile, exportSuppressionList, recordSuppressionListFailure };
}

export type SuppressionListActivities = ReturnType<typeof createSuppressionListActivities>;
