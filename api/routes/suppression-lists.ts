// Suppression import and export (issue 15, item 6). An import is two calls: POST /imports gives
// a presigned upload URL for the CSV, POST /imports/{id}/start pins what was uploaded and starts
// suppressionImportWorkflow; GET /imports/{id} follows it. The import is the upload: starting it
// again (or at the same time) starts nothing more and answers with the import as it stands. An
// export is one call, POST /exports (suppressionExportWorkflow), followed with GET /exports/{id},
// which gives a presigned download URL once it is done. Every record is read under the caller's
// tenant: another tenant's id is not found.
import { Router } from 'express';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ulid } from 'ulid';
import { z } from 'zod';
import { WORKFLOW_INPUT_VERSION } from '../../src/contracts';
import { DomainError, notFound } from '../../src/domain/errors';
import {
  emptyProgress,
  exportObjectKey,
  importPinnedKey,
  importUploadKey,
  suppressionExportWorkflowId,
  suppressionImportWorkflowId,
  type SuppressionListWorkflowInput,
} from '../../src/domain/suppression-lists';
import type { SuppressionExportRecord, SuppressionImportRecord } from '../../src/adapters/dynamo/suppression-jobs';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';

export const createSuppressionImportBody = z.object({ file_name: z.string().trim().min(1).max(255).optional() }).strict();
export const createSuppressionExportBody = z.object({}).strict();

const IMPORT_ID = /^si_[0-9A-HJKMNP-TV-Z]{26}$/;
const EXPORT_ID = /^se_[0-9A-HJKMNP-TV-Z]{26}$/;

export function suppressionListRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { suppressionJobs: jobs, objects, config } = deps;
  const ttl = config.PRESIGNED_URL_TTL_SECONDS;

  const importView = async (job: SuppressionImportRecord) => ({
    import_id: job.import_id,
    state: job.state,
    progress: job.progress,
    file_bytes: job.file_bytes ?? null,
    error: job.error ?? null,
    rejected_report: job.report_key
      ? { lines: job.reported_lines ?? 0, ...(await objects.presignGet(job.report_key, ttl, `${job.import_id}-rejected.csv`)) }
      : null,
    created_at: job.created_at,
    updated_at: job.updated_at,
    started_at: job.started_at ?? null,
    completed_at: job.completed_at ?? null,
    status_url: `/api/v1/suppressions/imports/${job.import_id}`,
  });

  const exportView = async (job: SuppressionExportRecord) => ({
    export_id: job.export_id,
    state: job.state,
    rows: job.rows,
    error: job.error ?? null,
    download: job.state === 'COMPLETED' ? await objects.presignGet(job.object_key, ttl, `suppressions-${job.export_id}.csv`) : null,
    created_at: job.created_at,
    updated_at: job.updated_at,
    completed_at: job.completed_at ?? null,
    status_url: `/api/v1/suppressions/exports/${job.export_id}`,
  });

  const findImport = async (tenantId: string, id: string) => {
    const job = IMPORT_ID.test(id) ? await jobs.getImport(tenantId, id) : undefined;
    if (!job) throw notFound('suppression import', JSON.stringify(id.slice(0, 64)));
    return job;
  };

  /** Starts the job's workflow once: a run that already started (or ended) is left as it is. */
  const startWorkflow = async (type: string, workflowId: string, input: SuppressionListWorkflowInput) => {
    try {
      await deps.temporal.workflow.start(type, {
        workflowId,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  };

  router.post('/imports', async (req, res) => {
    createSuppressionImportBody.parse(req.body ?? {});
    const tenantId = tenantOf(req);
    const importId = `si_${ulid()}`;
    const at = new Date().toISOString();
    const job: SuppressionImportRecord = {
      import_id: importId,
      tenant_id: tenantId,
      state: 'AWAITING_UPLOAD',
      upload_key: importUploadKey(tenantId, importId),
      progress: emptyProgress(),
      created_at: at,
      updated_at: at,
    };
    await jobs.createImport(job);
    const upload = await objects.presignPut(job.upload_key, 'text/csv', ttl);
    res.status(201).json({
      ...(await importView(job)),
      upload: { ...upload, max_bytes: config.SUPPRESSION_IMPORT_MAX_BYTES, max_lines: config.SUPPRESSION_IMPORT_MAX_LINES },
      start_url: `/api/v1/suppressions/imports/${importId}/start`,
    });
  });

  router.get('/imports/:id', async (req, res) => {
    res.json(await importView(await findImport(tenantOf(req), req.params.id)));
  });

  /** 413 past the size limit, 422 for an empty file. */
  const checkSize = (bytes: number) => {
    const max = config.SUPPRESSION_IMPORT_MAX_BYTES;
    if (bytes > max)
      throw new DomainError('too_large', 'FILE_TOO_LARGE', `The file is ${bytes} bytes; the limit is ${max}.`, { max_bytes: max });
    if (bytes === 0) throw new DomainError('unprocessable', 'EMPTY_FILE', 'The uploaded file is empty.');
  };

  /**
   * Pins the upload and moves the import to QUEUED, once. A first look at the upload refuses what
   * is plainly unusable without copying it; the copy, the bytes the import will read, is checked
   * again (the upload URL may have received other bytes in between).
   */
  const pinUpload = async (job: SuppressionImportRecord) => {
    const size = await objects.size(job.upload_key);
    if (size === undefined) {
      throw new DomainError('conflict', 'FILE_NOT_UPLOADED', 'Nothing was uploaded to the upload URL of this import yet.');
    }
    checkSize(size);
    // A copy of its own per start: two starts at once never write the same key, and only the winner's is kept.
    const pinned = importPinnedKey(job.tenant_id, job.import_id, ulid());
    await objects.copy(job.upload_key, pinned);
    const bytes = (await objects.size(pinned)) ?? 0;
    try {
      checkSize(bytes);
    } catch (error) {
      await objects.delete(pinned);
      throw error;
    }
    const won = await jobs.updateImport(job.tenant_id, job.import_id, { state: 'QUEUED', pinned_key: pinned, file_bytes: bytes }, [
      'AWAITING_UPLOAD',
    ]);
    // Another start got there first: its copy is the import's.
    if (!won) await objects.delete(pinned);
  };

  router.post('/imports/:id/start', async (req, res) => {
    const tenantId = tenantOf(req);
    const job = await findImport(tenantId, req.params.id);
    if (job.state !== 'AWAITING_UPLOAD' && job.state !== 'QUEUED') {
      res.status(200).json(await importView(job));
      return;
    }
    if (job.state === 'AWAITING_UPLOAD') await pinUpload(job);
    const input = { version: WORKFLOW_INPUT_VERSION, tenantId, jobId: job.import_id };
    await startWorkflow('suppressionImportWorkflow', suppressionImportWorkflowId(tenantId, job.import_id), input);
    res.status(202).json(await importView(await findImport(tenantId, job.import_id)));
  });

  router.post('/exports', async (req, res) => {
    createSuppressionExportBody.parse(req.body ?? {});
    const tenantId = tenantOf(req);
    const exportId = `se_${ulid()}`;
    const at = new Date().toISOString();
    const job: SuppressionExportRecord = {
      export_id: exportId,
      tenant_id: tenantId,
      state: 'QUEUED',
      object_key: exportObjectKey(tenantId, exportId),
      rows: 0,
      created_at: at,
      updated_at: at,
    };
    await jobs.createExport(job);
    await startWorkflow('suppressionExportWorkflow', suppressionExportWorkflowId(tenantId, exportId), {
      version: WORKFLOW_INPUT_VERSION,
      tenantId,
      jobId: exportId,
    });
    res.status(202).json(await exportView(job));
  });

  router.get('/exports/:id', async (req, res) => {
    const id = req.params.id;
    const job = EXPORT_ID.test(id) ? await jobs.getExport(tenantOf(req), id) : undefined;
    if (!job) throw notFound('suppression export', JSON.stringify(id.slice(0, 64)));
    res.json(await exportView(job));
  });

  return router;
}
