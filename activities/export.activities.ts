// Result exports (issue 15, item 5; campaignExportWorkflow): every message of a campaign, batch
// by batch in key order, as CSV rows written to S3 as a multipart upload. Memory holds one part
// (EXPORT_PART_BYTES) and the next page being read, whatever the campaign's size. After each
// part the activity heartbeats where it is (the upload, its parts, the batch and the key after
// the part's last row), so a retry goes on from the last part S3 has; if that upload is gone,
// it starts again from the first row (an export is idempotent: the object is written whole or
// not at all).
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { CompletedPart } from '@aws-sdk/client-s3';
import { batchId } from '../src/contracts';
import { csvLine } from '../src/domain/csv-export';
import { EXPORT_COLUMNS, exportCells, type ExportRef, type ExportResult, type ExportedMessage } from '../src/domain/campaign-export';
import type { ExportRecord, TransactionRecord } from '../src/adapters/dynamo/types';
import type { Cursor } from '../src/ports';
import type { ActivityDeps } from './deps';

const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/** Where the rows after the last uploaded part start: batch number and, within it, after this key. */
interface Position {
  batch: number;
  key?: Cursor;
}

/** What a retry resumes from (heartbeat details). */
interface Checkpoint extends Position {
  uploadId: string;
  parts: CompletedPart[];
  rows: number;
  bytes: number;
}

const isNoSuchUpload = (error: unknown) => ['NoSuchUpload', 'NotFound'].includes((error as { name?: string }).name ?? '');

function exportsOf(deps: ActivityDeps): NonNullable<ActivityDeps['exports']> {
  if (!deps.exports) throw new Error('export activities need deps.exports');
  return deps.exports;
}

export function createExportActivities(deps: ActivityDeps) {
  const partBytes = () => deps.settings.exportPartBytes ?? DEFAULT_PART_BYTES;

  /**
   * The campaign's messages from `from` on, a page at a time, each with the position after it;
   * the next page is read while the caller handles this one.
   */
  async function* pagesFrom(txn: TransactionRecord, from: Position): AsyncGenerator<{ items: ExportedMessage[]; after: Position }> {
    const batchCount = txn.batch_count ?? 0;
    const read = (p: Position) => {
      const page = exportsOf(deps).pageExportMessages(txn.transaction_id, batchId(p.batch), p.key);
      // Awaited below; this only keeps a read the caller stopped waiting for from being unhandled.
      page.catch(() => undefined);
      return page;
    };
    let position = from;
    let next = position.batch <= batchCount ? read(position) : undefined;
    while (next) {
      const page = await next;
      position = page.cursor ? { batch: position.batch, key: page.cursor } : { batch: position.batch + 1 };
      next = position.batch <= batchCount ? read(position) : undefined;
      yield { items: page.items, after: position };
    }
  }

  /** Writes the export from `resume` (or from the start), completing the upload; returns its figures. */
  async function writeExport(txn: TransactionRecord, record: ExportRecord, resume?: Checkpoint): Promise<ExportResult> {
    const ctx = Context.current();
    const key = record.s3_key;
    // A copy: the checkpoint heartbeated is a snapshot, never the state as it changes.
    const snapshot = (c: Checkpoint): Checkpoint => ({ ...c, parts: [...c.parts] });
    const state: Checkpoint = resume
      ? snapshot(resume)
      : {
          uploadId: await deps.objects.startMultipart(key, 'text/csv; charset=utf-8'),
          parts: [],
          batch: 1,
          rows: 0,
          bytes: 0,
        };
    // The part being filled, a buffer per page (the rows' strings do not outlive their page).
    let chunks: Buffer[] = resume ? [] : [Buffer.from(csvLine(EXPORT_COLUMNS), 'utf8')];
    let pendingBytes = chunks.reduce((n, c) => n + c.length, 0);
    let pendingRows = 0;
    const upload = async (after: Position) => {
      const body = Buffer.concat(chunks, pendingBytes);
      chunks = [];
      state.parts.push(await deps.objects.uploadPart(key, state.uploadId, state.parts.length + 1, body));
      Object.assign(state, { batch: after.batch, key: after.key, rows: state.rows + pendingRows, bytes: state.bytes + body.length });
      pendingBytes = 0;
      pendingRows = 0;
      ctx.heartbeat(snapshot(state));
      await exportsOf(deps).setExportProgress(txn.transaction_id, record.export_id, state.rows, state.bytes);
    };
    let last: Position = { batch: state.batch, key: state.key };
    for await (const page of pagesFrom(txn, last)) {
      const rows = Buffer.from(page.items.map((m) => csvLine(exportCells(m, txn.status))).join(''), 'utf8');
      chunks.push(rows);
      pendingBytes += rows.length;
      pendingRows += page.items.length;
      last = page.after;
      if (pendingBytes >= partBytes()) await upload(last);
      else ctx.heartbeat(snapshot(state));
    }
    // The last part may be small (S3 allows it); a resumed export whose last part is already up has nothing left.
    if (pendingRows > 0 || state.parts.length === 0) await upload(last);
    await deps.objects.completeMultipart(key, state.uploadId, state.parts);
    return { rows: state.rows, bytes: state.bytes };
  }

  return {
    /** Writes the export's CSV object. A repeat of an export that has ended changes nothing. */
    async exportCampaignMessages(ref: ExportRef): Promise<ExportResult> {
      const txn = await deps.store.getTransaction(ref.tenantId, ref.transactionId);
      const record = await exportsOf(deps).getExport(ref.tenantId, ref.transactionId, ref.exportId);
      if (!txn || !record) {
        throw ApplicationFailure.create({ type: 'ExportNotFound', message: `export ${ref.exportId} not found`, nonRetryable: true });
      }
      if (record.state !== 'RUNNING') return { rows: record.rows_written, bytes: record.bytes_written ?? 0 };
      const resume = Context.current().info.heartbeatDetails as Checkpoint | undefined;
      try {
        return await writeExport(txn, record, resume);
      } catch (error) {
        // The upload the checkpoint names is gone (aborted, or expired by a lifecycle rule): start over.
        if (!resume || !isNoSuchUpload(error)) throw error;
        deps.log.warn('export upload gone; starting the export again', { export_id: ref.exportId });
        return writeExport(txn, record);
      }
    },

    /** Ends the export's record (COMPLETED with its figures, or FAILED with why) and frees its slot. */
    async finishCampaignExport(
      end: ExportRef & ({ state: 'COMPLETED'; result: ExportResult } | { state: 'FAILED'; error: { code: string; message: string } }),
    ): Promise<void> {
      const figures = end.state === 'COMPLETED' ? { rows: end.result.rows, bytes: end.result.bytes } : { error: end.error };
      await exportsOf(deps).finishExport(end.transactionId, end.exportId, { state: end.state, ...figures });
    },
  };
}

export type ExportActivities = ReturnType<typeof createExportActivities>;
