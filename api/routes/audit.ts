// The tenant's audit log, newest first (scope `admin`, checked where the router is mounted).
// Read only: no route updates or deletes an entry.
import { Router } from 'express';
import { z } from 'zod';
import { AUDIT_ACTION } from '../../src/adapters/dynamo/audit';
import { ranges } from '../../src/adapters/dynamo/keys';
import { DomainError } from '../../src/domain/errors';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeKeyCursor, encodeCursor } from '../pagination';

const time = z.iso.datetime({ offset: true }).transform((v) => new Date(v).toISOString());

export const auditQuery = z.object({
  /** Inclusive. */
  from: time.optional(),
  /** Exclusive. */
  to: time.optional(),
  action: z.string().max(100).regex(AUDIT_ACTION, 'an action such as campaigns.create').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(4096).optional(),
});

export function auditRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const query = auditQuery.parse(req.query);
    if (query.from && query.to && query.from >= query.to) {
      throw new DomainError('invalid', 'VALIDATION_FAILED', 'The request is invalid.', [{ path: 'to', message: 'must be after from' }]);
    }
    const tenantId = tenantOf(req);
    const cursor = decodeKeyCursor(query.cursor, ranges.audit(tenantId).PK);
    const page = await deps.audit.listAuditEntries(tenantId, { ...query, cursor });
    res.json({ items: page.items, next_cursor: encodeCursor(page.cursor) });
  });
  return router;
}
