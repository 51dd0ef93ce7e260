// The tenant's suppression list: addresses the engine will not send to.
import { Router, type Response } from 'express';
import { z } from 'zod';
import { DomainError, notFound } from '../../src/domain/errors';
import { normalizeEmail } from '../../src/domain/email-address';
import { topicName } from '../../src/domain/topics';
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

/** `?topic=` on one address: its suppression for that topic only (issue 15, item 7), never the global one. */
const topicQuery = z.object({ topic: topicName.optional() });

/** One topic's suppressions; a page may be short (the listing filters the tenant's topic suppressions), so follow next_cursor. */
async function listTopicSuppressions(
  deps: ApiDeps,
  res: Response,
  tenantId: string,
  query: { limit: number; cursor?: string; topic: string },
): Promise<void> {
  const { PK, skPrefix } = ranges.topicSuppressions(tenantId);
  const page = await deps.topics.listTopicSuppressions(tenantId, query.limit, decodeKeyCursor(query.cursor, PK, skPrefix), query.topic);
  res.json({ items: page.items, next_cursor: encodeCursor(page.cursor) });
}

export function suppressionRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const query = z
      .object({
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        cursor: z.string().max(4096).optional(),
        topic: topicName.optional(),
      })
      .parse(req.query);
    const tenantId = tenantOf(req);
    if (query.topic !== undefined) return listTopicSuppressions(deps, res, tenantId, { ...query, topic: query.topic });
    const { PK, skPrefix } = ranges.suppressions(tenantId);
    const start = decodeKeyCursor(query.cursor, PK, skPrefix);
    const page = await deps.suppressions.listSuppressions(tenantId, query.limit, start);
    res.json({ items: page.items, next_cursor: encodeCursor(page.cursor) });
  });
  router.get('/:email', async (req, res) => {
    const email = emailParam(req.params.email);
    const { topic } = topicQuery.parse(req.query);
    if (topic !== undefined) {
      const found = await deps.topics.getTopicSuppression(tenantOf(req), topic, email);
      if (!found) throw notFound('topic suppression', email);
      return res.json(found);
    }
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
    const { topic } = topicQuery.parse(req.query);
    if (topic !== undefined) {
      if (!(await deps.topics.deleteTopicSuppression(tenantOf(req), topic, email))) throw notFound('topic suppression', email);
      return res.status(204).end();
    }
    if (!(await deps.suppressions.deleteSuppression(tenantOf(req), email))) throw notFound('suppression', email);
    res.status(204).end();
  });
  return router;
}
