// The reputation guard's API (issue 16, item 4; src/reputation/guard.ts).
//
// GET /api/v1/tenant/reputation: the tenant's sends, hard bounces and complaints over the
// window, the rates, the thresholds and whether (since when, why) the tenant is held.
//
// GET /tenant/reputation only reads (the stored state and the current rates): it takes no hold and
// pauses nothing.
//
// The gates, mounted in front of the campaign routes, in `hold` mode only, while the tenant is held
// (its state item in DynamoDB, read at most a few seconds ago: guard.isHeld), answer 409
// TENANT_REPUTATION_HOLD to:
// - POST /campaigns (a new campaign),
// - POST /campaigns/{id}/resume, POST /campaigns/{id}/send-now and PATCH /campaigns/{id}/schedule.
// A held tenant whose rates are judged under the thresholds now is released then and there, and
// the request goes through. The operator may let one through regardless, as an explicit
// decision: `?reputation_override=true` with a valid X-Operator-Token (without OPERATOR_TOKEN, on
// a local or test stack, every caller is the operator); the request's audit entry records
// `reputation_override: true` with the rates, and the campaign (created, resumed, sent now or
// rescheduled) is marked (reputation_override on its record; a new one is created with it) so
// the guard does not pause it again during this hold. A resume that goes through clears the
// guard's held_reason on the campaign.
import { Router, type Request, type RequestHandler } from 'express';
import { GUARD_REASON_PREFIX } from '../../src/reputation/rates';
import { OVERRIDE_FIELD } from '../../src/reputation/guard';
import type { ReputationGuard, ReputationView } from '../../src/reputation/guard';
import { notFound } from '../../src/domain/errors';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { sendError } from '../errors';
import { isOperator } from '../operator';
import { pathId } from '../ids';

/** res.locals key under which the create gate hands the override marker to POST /campaigns (routes/campaigns.ts). */
export const CREATE_OVERRIDE_LOCAL = 'reputationOverrideFields';

export function reputationRoutes(guard: ReputationGuard): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    res.json(await guard.reputation(tenantOf(req)));
  });
  return router;
}

const refuse = (res: Parameters<RequestHandler>[1], view: ReputationView, what: string) =>
  sendError(
    res,
    409,
    'TENANT_REPUTATION_HOLD',
    `The tenant is held by the reputation guard (${view.held_reason ?? view.over_threshold}): ${what} until its rates are under the thresholds, or the operator overrides.`,
    {
      held_since: view.held_since,
      bounce_rate: view.bounce_rate,
      complaint_rate: view.complaint_rate,
      thresholds: view.thresholds,
    },
  );

/** The gates on creating and resuming campaigns of a held tenant (mount before the campaign routes). */
export function reputationGates(deps: ApiDeps, guard: ReputationGuard): Router {
  const router = Router();
  const operator = isOperator(deps.config);
  const overridden = (req: Request, res: Parameters<RequestHandler>[1], view: ReputationView) => {
    if (req.query.reputation_override !== 'true' || !operator(req)) return false;
    res.locals.auditDetails = {
      reputation_override: true,
      held_since: view.held_since,
      bounce_rate: view.bounce_rate,
      complaint_rate: view.complaint_rate,
    };
    return true;
  };

  const marker = (held: ReputationView) => ({ at: new Date().toISOString(), held_since: held.held_since });

  router.post('/', async (req, res, next) => {
    const held = await guard.isHeld(tenantOf(req));
    if (held && !overridden(req, res, held)) return refuse(res, held, 'no new campaign starts');
    // Overridden: the campaign is created with the marker, so the guard leaves it alone during this hold.
    if (held) res.locals[CREATE_OVERRIDE_LOCAL] = { [OVERRIDE_FIELD]: marker(held) };
    next();
  });

  /** A control request on a campaign of a held tenant: refused, or overridden (the campaign marked). */
  const gate = async (request: Request, res: Parameters<RequestHandler>[1], what: string) => {
    const req = request as unknown as Request<{ id: string }>;
    const tenantId = tenantOf(req);
    const id = pathId('campaign', req.params.id);
    const txn = await deps.store.getTransaction(tenantId, id);
    if (!txn) throw notFound('campaign', id);
    const held = await guard.isHeld(tenantId);
    if (held && !overridden(req, res, held)) {
      refuse(res, held, what);
      return undefined;
    }
    // Overridden: this campaign is left alone by the guard for the rest of this hold.
    if (held) await deps.store.setTransactionFields(txn.transaction_id, { [OVERRIDE_FIELD]: marker(held) });
    return txn;
  };

  router.post('/:id/send-now', async (req, res, next) => {
    if (await gate(req, res, 'its campaigns do not start sending')) next();
  });
  router.patch('/:id/schedule', async (req, res, next) => {
    if (await gate(req, res, 'its campaigns are not rescheduled')) next();
  });

  router.post('/:id/resume', async (req, res, next) => {
    const txn = await gate(req, res, 'its campaigns stay paused');
    if (!txn) return;
    if (txn.held_reason?.startsWith(GUARD_REASON_PREFIX)) {
      res.once('finish', () => {
        if (res.statusCode !== 202) return;
        void deps.store
          .setTransactionFields(txn.transaction_id, { held_reason: null })
          .catch((error: unknown) =>
            deps.log.warn('held_reason not cleared after resume', { transaction_id: txn.transaction_id, error: (error as Error).message }),
          );
      });
    }
    next();
  });
  return router;
}
