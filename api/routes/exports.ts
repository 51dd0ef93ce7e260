// Result exports of a campaign (issue 15, item 5): POST starts campaignExportWorkflow, which
// writes every message of the campaign as a CSV object; GET says how far it is and, once it is
// COMPLETED, gives a presigned download link (a fresh one each time). Mounted at
// /campaigns/:id/exports (and the /transactions alias) with `campaigns:read`: an export shows
// no more than the messages listing does, and its cost is bounded by the per-campaign cap.
import { createHash } from 'node:crypto';
import { Router, type Request } from 'express';
import { ulid } from 'ulid';
import { z } from 'zod';
import { DomainError, notFound } from '../../src/domain/errors';
import {
  EXPORT_TIMEOUT_MS,
  exportWorkflowId,
  NOT_YET_INGESTED,
  type ExportRef,
  type ExportWorkflowInput,
} from '../../src/domain/campaign-export';
import { WORKFLOW_INPUT_VERSION } from '../../src/contracts';
import { s3Keys } from '../../src/adapters/s3';
import type { ExportRecord, TransactionRecord } from '../../src/adapters/dynamo/types';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { pathId } from '../ids';

/** No options yet; an empty body (or none) starts an export. */
export const createExportBody = z.object({}).strict();

/** With an Idempotency-Key, one export per campaign and key: a repeat answers with the same export. */
const exportIdFor = (tenantId: string, transactionId: string, key: string | undefined) =>
  key === undefined
    ? `exp_${ulid()}`
    : `exp_${createHash('sha256').update(`${tenantId}\n${transactionId}\n${key}`).digest('hex').slice(0, 26)}`;

function idempotencyKey(req: Request): string | undefined {
  const key = req.header('idempotency-key');
  if (key !== undefined && (key.length === 0 || key.length > 255)) {
    throw new DomainError('invalid', 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 characters.');
  }
  return key;
}

export function exportRoutes(deps: ApiDeps): Router {
  const router = Router({ mergeParams: true });

  const campaignOf = async (req: Request<{ id: string }>): Promise<TransactionRecord> => {
    const id = pathId('campaign', req.params.id);
    const txn = await deps.store.getTransaction(tenantOf(req), id);
    if (!txn) throw notFound('campaign', id);
    return txn;
  };

  /**
   * A link to a COMPLETED export's file, valid EXPORT_URL_TTL_SECONDS; none once the file is gone
   * (the retention sweep deleted it, or an erasure did: a file too large to rewrite that named the person).
   */
  const download = async (record: ExportRecord, txn: TransactionRecord) => {
    if (record.state !== 'COMPLETED') return { link: undefined, gone: false };
    if ((await deps.objects.size(record.s3_key)) === undefined) return { link: undefined, gone: true };
    const name = `${txn.transaction_id}-${record.export_id}.csv`;
    return { link: await deps.objects.presignGet(record.s3_key, deps.config.EXPORT_URL_TTL_SECONDS, name), gone: false };
  };

  /** The export as the client sees it. */
  const view = async (record: ExportRecord, txn: TransactionRecord, base: string) => {
    const { link, gone } = await download(record, txn);
    const deleted = { code: 'EXPORT_DELETED', message: 'The file was deleted (retention or an erasure); start another export.' };
    return {
      export_id: record.export_id,
      transaction_id: record.transaction_id,
      state: record.state,
      rows_written: record.rows_written,
      bytes_written: record.bytes_written ?? 0,
      created_at: record.created_at,
      updated_at: record.updated_at,
      completed_at: record.completed_at ?? null,
      error: record.error ?? (gone ? deleted : null),
      download_url: link?.url ?? null,
      download_expires_at: link?.expires_at ?? null,
      campaign: { status: txn.status, name: txn.name ?? null, tags: txn.tags ?? [], metadata: txn.metadata ?? {} },
      status_url: `${base}/${record.export_id}`,
    };
  };

  /** Starts the export's workflow; a repeat joins the run already started. */
  const startWorkflow = (ref: ExportRef) => {
    const input: ExportWorkflowInput = { version: WORKFLOW_INPUT_VERSION, ...ref };
    return deps.temporal.workflow.start('campaignExportWorkflow', {
      workflowId: exportWorkflowId(ref.transactionId, ref.exportId),
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      args: [input],
      workflowExecutionTimeout: EXPORT_TIMEOUT_MS,
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  };

  router.post('/', async (request, res) => {
    const req = request as unknown as Request<{ id: string }>;
    const txn = await campaignOf(req);
    createExportBody.parse(req.body ?? {});
    const key = idempotencyKey(req);
    if (NOT_YET_INGESTED.includes(txn.status)) {
      throw new DomainError(
        'conflict',
        'CAMPAIGN_NOT_INGESTED',
        `The campaign is ${txn.status}: its messages are not all written yet. Export it once it has left PROCESSING.`,
        { status: txn.status },
      );
    }
    const tenantId = tenantOf(req);
    const exportId = exportIdFor(tenantId, txn.transaction_id, key);
    const now = new Date();
    const created = await deps.exports.createExport(
      {
        export_id: exportId,
        tenant_id: tenantId,
        transaction_id: txn.transaction_id,
        s3_key: s3Keys.campaignExport(tenantId, txn.transaction_id, exportId),
        created_at: now.toISOString(),
      },
      deps.config.EXPORT_MAX_RUNNING_PER_CAMPAIGN,
      new Date(now.getTime() + EXPORT_TIMEOUT_MS).toISOString(),
    );
    if (created.outcome === 'busy') {
      const limit = deps.config.EXPORT_MAX_RUNNING_PER_CAMPAIGN;
      throw new DomainError('conflict', 'EXPORTS_RUNNING', `The campaign already has ${limit} exports running; wait for one to end.`, {
        limit,
      });
    }
    const ref = { tenantId, transactionId: txn.transaction_id, exportId };
    // A repeat of a running export starts its workflow too, in case the first request ended between record and start.
    if (created.record.state === 'RUNNING') {
      try {
        await startWorkflow(ref);
      } catch (error) {
        if (created.outcome === 'created') {
          await deps.exports.finishExport(txn.transaction_id, exportId, {
            state: 'FAILED',
            error: { code: 'EXPORT_NOT_STARTED', message: 'The export could not be started.' },
          });
        }
        throw error;
      }
    }
    res.status(created.outcome === 'created' ? 202 : 200).json(await view(created.record, txn, req.baseUrl));
  });

  router.get('/:exportId', async (request, res) => {
    const req = request as unknown as Request<{ id: string; exportId: string }>;
    const txn = await campaignOf(req);
    const exportId = pathId('export', req.params.exportId);
    const record = await deps.exports.getExport(tenantOf(req), txn.transaction_id, exportId);
    if (!record) throw notFound('export', exportId);
    res.json(await view(record, txn, req.baseUrl));
  });

  return router;
}
