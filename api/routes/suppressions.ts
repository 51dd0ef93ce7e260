// The tenant's suppression list: addresses the engine will not send to.
import { Router } from 'express';
import { z } from 'zod';
import { DomainError, notFound } from '../../src/domain/errors';
import { normalizeEmail } from '../../src/domain/email-address';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { ranges } from '../../src/adapters/dynamo/keys';
import { decodeKeyCursor, encodeCursor } from '../pagination';

export const putSuppressionBody = z.object({ reason: z.string().trim().min(1).max(200).default('MANUAL') }).strict();

function emailParam(raw: string): string {
  const email = normalizeEmail(raw);
  if (!email) throw new DomainError('invalid', 'INVALID_EMAIL', 'The address is not a valid email address.');
  return email;
}

export function suppressionRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const query = z
      .object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.string().max(4096).optional() })
      .parse(req.query);
    const tenantId = tenantOf(req);
    const { PK, skPrefix } = ranges.suppressions(tenantId);
    const start = decodeKeyCursor(query.cursor, PK, skPrefix);
    const page = await deps.suppressions.listSuppressions(tenantId, query.limit, start);
    res.json({ items: page.items, next_cursor: encodeCursor(page.cursor) });
  });
  router.get('/:email', async (req, res) => {
    const email = emailParam(req.params.email);
    const record = await deps.suppressions.getSuppression(tenantOf(req), email);
    if (!record) throw notFound('suppression', email);
    res.json(record);
  });
  router.put('/:email', async (req, res) => {
    const email = emailParam(req.params.email);
    const body = putSuppressionBody.parse(req.body ?? {});
    const record = { tenant_id: tenantOf(req), email, reason: body.reason, source: { type: 'api' }, created_at: new Date().toISOString() };
    await deps.suppressions.putSuppression(record);
    res.json(record);
  });
  router.delete('/:email', async (req, res) => {
    const email = emailParam(req.params.email);
    if (!(await deps.suppressions.deleteSuppression(tenantOf(req), email))) throw notFound('suppression', email);
    res.status(204).end();
  });
  return router;
}
