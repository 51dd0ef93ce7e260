// Recipient files: a presigned upload URL for a CSV.
import { Router } from 'express';
import { ulid } from 'ulid';
import { z } from 'zod';
import { s3Keys } from '../../src/adapters/s3';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';

export const createFileBody = z
  .object({
    file_name: z.string().trim().min(1).max(255),
    content_type: z.literal('text/csv'),
  })
  .strict();

export function fileRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/presigned-url', async (req, res) => {
    const body = createFileBody.parse(req.body);
    const tenantId = tenantOf(req);
    const fileId = ulid();
    const s3Key = s3Keys.file(tenantId, fileId);
    await deps.store.putFile({
      file_id: fileId,
      tenant_id: tenantId,
      file_name: body.file_name,
      content_type: body.content_type,
      s3_key: s3Key,
      created_at: new Date().toISOString(),
    });
    const upload = await deps.objects.presignPut(s3Key, body.content_type, deps.config.PRESIGNED_URL_TTL_SECONDS);
    res.status(201).json({ file_id: fileId, ...upload, max_bytes: deps.config.MAX_CSV_BYTES });
  });
  return router;
}
