// Templates: presigned upload of the HTML body, confirm (size, parse, placeholders, pin the bytes), get.
import { Router } from 'express';
import { ulid } from 'ulid';
import { z } from 'zod';
import { DomainError, notFound } from '../../src/domain/errors';
import { parseTemplate } from '../../src/domain/template';
import { s3Keys } from '../../src/adapters/s3';
import type { TemplateRecord } from '../../src/adapters/dynamo/types';
import { tenantOf } from '../auth';
import { pathId } from '../ids';
import type { ApiDeps } from '../deps';

const headerSafe = z.string().refine((s) => !/[\r\n]/.test(s), 'must not contain line breaks');
export const createTemplateBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    subject: headerSafe.pipe(z.string().min(1).max(998)),
    from: z.string().min(3).max(320).pipe(headerSafe),
    reply_to: z.string().email().max(320).optional(),
    text: z
      .string()
      .max(512 * 1024)
      .optional(),
  })
  .strict();

export const templateView = (t: TemplateRecord) => ({
  template_id: t.template_id,
  name: t.name,
  subject: t.subject,
  from: t.from,
  reply_to: t.reply_to ?? null,
  text: t.text ?? null,
  status: t.status,
  placeholders: t.placeholders ?? [],
  created_at: t.created_at,
  updated_at: t.updated_at,
});

export function templateRoutes(deps: ApiDeps): Router {
  const router = Router();
  const ttl = deps.config.PRESIGNED_URL_TTL_SECONDS;

  router.post('/presigned-url', async (req, res) => {
    const body = createTemplateBody.parse(req.body);
    const tenantId = tenantOf(req);
    const templateId = ulid();
    const at = new Date().toISOString();
    const record: TemplateRecord = {
      template_id: templateId,
      tenant_id: tenantId,
      ...body,
      status: 'PENDING_UPLOAD',
      s3_key: s3Keys.template(tenantId, templateId),
      created_at: at,
      updated_at: at,
    };
    await deps.store.putTemplate(record);
    const upload = await deps.objects.presignPut(record.s3_key, 'text/html', ttl);
    res.status(201).json({ template_id: templateId, ...upload });
  });

  // Confirm fixes the template: the bytes checked here are copied to a key no presigned URL names,
  // and every send reads that copy, whatever the upload URL receives until it expires.
  router.post('/:templateId/confirm', async (req, res) => {
    const tenantId = tenantOf(req);
    const template = await deps.store.getTemplate(tenantId, pathId('template', req.params.templateId));
    if (!template) throw notFound('template', req.params.templateId);
    // Confirmed once, confirmed for good: a second confirm answers the same and reads nothing.
    if (template.status === 'READY') {
      res.json({ template_id: template.template_id, status: 'READY', placeholders: template.placeholders ?? [] });
      return;
    }
    const limit = deps.config.MAX_TEMPLATE_BYTES;
    // One ranged read of at most limit + 1 bytes: the size is checked on the very bytes parsed and pinned.
    const upload = await deps.objects.readUpTo(template.s3_key, limit);
    if (!upload) throw new DomainError('not_found', 'TEMPLATE_NOT_UPLOADED', 'Nothing was uploaded for this template.');
    if (upload.size > limit || upload.body.length > limit) {
      throw new DomainError('too_large', 'TEMPLATE_TOO_LARGE', `The template is ${upload.size} bytes; the limit is ${limit}.`);
    }
    const parsed = parseTemplate({ html: upload.body.toString('utf8'), subject: template.subject, text: template.text });
    if (!parsed.ok) {
      const details = { part: parsed.part, line: parsed.line, column: parsed.column };
      if (parsed.code === 'RENDER_TOO_LARGE') {
        throw new DomainError('unprocessable', 'RENDER_TOO_LARGE', `The ${parsed.part} ${parsed.message}.`, details);
      }
      throw new DomainError('unprocessable', 'TEMPLATE_SYNTAX_ERROR', `Liquid syntax error in ${parsed.part}: ${parsed.message}`, details);
    }
    const pinnedKey = s3Keys.pinnedTemplate(tenantId, template.template_id, ulid());
    await deps.objects.putBytes(pinnedKey, upload.body, 'text/html');
    await deps.store.putTemplate({
      ...template,
      status: 'READY',
      placeholders: parsed.placeholders,
      pinned_key: pinnedKey,
      pinned_bytes: upload.body.length,
      updated_at: new Date().toISOString(),
    });
    res.json({ template_id: template.template_id, status: 'READY', placeholders: parsed.placeholders });
  });

  router.get('/:templateId', async (req, res) => {
    const template = await deps.store.getTemplate(tenantOf(req), pathId('template', req.params.templateId));
    if (!template) throw notFound('template', req.params.templateId);
    res.json(templateView(template));
  });

  return router;
}
