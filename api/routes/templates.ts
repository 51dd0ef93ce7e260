// Templates: presigned upload of the HTML body, confirm (parse, list placeholders), get.
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

  router.post('/:templateId/confirm', async (req, res) => {
    const tenantId = tenantOf(req);
    const template = await deps.store.getTemplate(tenantId, pathId('template', req.params.templateId));
    if (!template) throw notFound('template', req.params.templateId);
    const size = await deps.objects.size(template.s3_key);
    if (size === undefined) throw new DomainError('not_found', 'TEMPLATE_NOT_UPLOADED', 'Nothing was uploaded for this template.');
    if (size > deps.config.MAX_TEMPLATE_BYTES) {
      throw new DomainError(
        'too_large',
        'TEMPLATE_TOO_LARGE',
        `The template is ${size} bytes; the limit is ${deps.config.MAX_TEMPLATE_BYTES}.`,
      );
    }
    const html = await deps.objects.getText(template.s3_key);
    const parsed = parseTemplate({ html, subject: template.subject, text: template.text });
    if (!parsed.ok) {
      throw new DomainError('unprocessable', 'TEMPLATE_SYNTAX_ERROR', `Liquid syntax error in ${parsed.part}: ${parsed.message}`, {
        part: parsed.part,
        line: parsed.line,
        column: parsed.column,
      });
    }
    await deps.store.markTemplateReady(template.template_id, parsed.placeholders);
    res.json({ template_id: template.template_id, status: 'READY', placeholders: parsed.placeholders });
  });

  router.get('/:templateId', async (req, res) => {
    const template = await deps.store.getTemplate(tenantOf(req), pathId('template', req.params.templateId));
    if (!template) throw notFound('template', req.params.templateId);
    res.json(templateView(template));
  });

  return router;
}
