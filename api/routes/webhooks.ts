// Per-message event webhook endpoints (issue 17, item 1): a tenant subscribes a URL to message
// event types, for all its campaigns or one. The URL passes the same SSRF rules as campaign
// callbacks (api/callback-url.ts), and delivery vets it again. Creating answers the endpoint's
// `whsec_` secret, once; rotating answers the new one (the old one keeps signing beside it for
// the overlap). Each endpoint has a delivery workflow of its own (workflows/event-webhook.workflow.ts);
// GET shows where it is. Another tenant's endpoint is not found.
import { Router, type Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { ulid } from 'ulid';
import { z } from 'zod';
import { cursorAt, type EventWebhookEndpoint, type EventWebhookTable } from '../../src/adapters/dynamo/event-webhooks';
import { EVENT_TYPES, replayRangeProblem } from '../../src/domain/event-webhooks';
import { DomainError, notFound } from '../../src/domain/errors';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import {
  endpointChangedSignal,
  eventReplayWorkflowId,
  eventWebhookTaskQueue,
  eventWebhookWorkflowId,
  type EventReplayInput,
  type EventWebhookInput,
} from '../../src/contracts/event-webhooks';
import { tenantOf } from '../auth';
import { callbackPolicy, checkCallbackUrl } from '../callback-url';
import type { ApiDeps } from '../deps';
import { pathId } from '../ids';

export const MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 3600;

export const createWebhookBody = z
  .object({
    url: z.string().min(1).max(2048),
    event_types: z
      .array(z.enum(EVENT_TYPES))
      .min(1)
      .max(EVENT_TYPES.length)
      .refine((list) => new Set(list).size === list.length, 'event_types must not repeat'),
    campaign_id: z.string().min(1).max(64).optional().describe('Only this campaign’s events (its transaction_id)'),
    description: z.string().trim().max(500).optional(),
  })
  .strict();

export const rotateWebhookSecretBody = z
  .object({
    overlap_seconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_SECRET_OVERLAP_SECONDS)
      .default(24 * 3600),
  })
  .strict();

const replayQuery = z.object({ from: z.string().max(64).optional(), to: z.string().max(64).optional() });

/** An endpoint as the API shows it: never its secrets. */
export function webhookView(record: EventWebhookEndpoint, now = Date.now()) {
  const cursorTime = record.cursor.split('#')[0]!;
  return {
    endpoint_id: record.endpoint_id,
    url: record.url,
    event_types: record.event_types,
    campaign_id: record.campaign_id ?? null,
    description: record.description ?? null,
    status: record.status,
    created_at: record.created_at,
    updated_at: record.updated_at,
    delivery: {
      cursor_at: cursorTime,
      lag_seconds: Math.max(0, Math.round((now - Date.parse(cursorTime)) / 1000)),
      delivered_count: record.delivered_count ?? 0,
      given_up_count: record.given_up_count ?? 0,
      last_success_at: record.last_success_at ?? null,
      last_error: record.last_error ?? null,
      last_error_at: record.last_error_at ?? null,
    },
    previous_secret_expires_at:
      record.previous_secret_until && Date.parse(record.previous_secret_until) > now ? record.previous_secret_until : null,
  };
}

/** The callback URL rules, with this resource's field name and codes. */
async function checkUrl(deps: ApiDeps, url: string): Promise<void> {
  try {
    await checkCallbackUrl(url, callbackPolicy(deps.config));
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const code = error.code.replace('CALLBACK_URL', 'WEBHOOK_URL');
    throw new DomainError(error.kind, code, error.message.replace('callback_url', 'url'), { field: 'url' });
  }
}

export function webhookRoutes(deps: ApiDeps, table: EventWebhookTable): Router {
  const router = Router();
  const config = deps.config;
  const endpointId = (req: Request<{ id: string }>) => pathId('webhook endpoint', req.params.id);
  const load = async (req: Request<{ id: string }>) => {
    const id = endpointId(req);
    const record = await table.getEndpoint(tenantOf(req), id);
    if (!record) throw notFound('webhook endpoint', id);
    return record;
  };
  const changed = (tenantId: string) => deps.eventLog?.forget(tenantId);
  /** Starts the endpoint's workflow if it is not running, and wakes it if it is. */
  const wake = (tenantId: string, id: string) =>
    deps.temporal.workflow.signalWithStart('eventWebhookWorkflow', {
      workflowId: eventWebhookWorkflowId(tenantId, id),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args: [{ tenantId, endpointId: id, taskQueue: eventWebhookTaskQueue(config) } satisfies EventWebhookInput],
      signal: endpointChangedSignal,
      signalArgs: [],
    });

  router.get('/', async (req, res) => {
    const items = await table.listEndpoints(tenantOf(req));
    items.sort((a, b) => a.created_at.localeCompare(b.created_at));
    res.json({ items: items.map((r) => webhookView(r)) });
  });

  router.post('/', async (req, res) => {
    const body = createWebhookBody.parse(req.body);
    const tenantId = tenantOf(req);
    await checkUrl(deps, body.url);
    if (body.campaign_id !== undefined && !(await deps.store.getTransaction(tenantId, body.campaign_id))) {
      throw new DomainError('not_found', 'NOT_FOUND', `campaign ${body.campaign_id} not found`, { field: 'campaign_id' });
    }
    const max = config.EVENT_WEBHOOKS_MAX_PER_TENANT;
    if ((await table.listEndpoints(tenantId)).length >= max) {
      throw new DomainError('conflict', 'WEBHOOK_LIMIT_REACHED', `This tenant already has ${max} webhook endpoints, its limit.`, { max });
    }
    const now = new Date().toISOString();
    const record: EventWebhookEndpoint = {
      tenant_id: tenantId,
      endpoint_id: ulid(),
      url: body.url,
      event_types: body.event_types,
      ...(body.campaign_id !== undefined ? { campaign_id: body.campaign_id } : {}),
      ...(body.description ? { description: body.description } : {}),
      status: 'enabled',
      secret: generateWebhookSecret(),
      created_at: now,
      updated_at: now,
      cursor: cursorAt(now),
    };
    await table.createEndpoint(record);
    changed(tenantId);
    try {
      await wake(tenantId, record.endpoint_id);
    } catch (error) {
      await table.deleteEndpoint(tenantId, record.endpoint_id);
      throw error;
    }
    res.status(201).json({ ...webhookView(record), secret: record.secret });
  });

  router.get('/:id', async (req, res) => {
    res.json(webhookView(await load(req)));
  });

  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'enabled'],
  ] as const) {
    router.post(`/:id/${action}`, async (req, res) => {
      const record = await load(req);
      if (record.status === status) return res.json(webhookView(record));
      // Enabled again, it delivers from now: nothing it missed while disabled (replay covers that).
      const fields = status === 'enabled' ? { status, cursor: cursorAt(new Date().toISOString()) } : { status };
      const updated = await table.updateEndpoint(record.tenant_id, record.endpoint_id, fields);
      if (!updated) throw notFound('webhook endpoint', record.endpoint_id);
      changed(record.tenant_id);
      if (status === 'enabled') await wake(record.tenant_id, record.endpoint_id);
      res.json(webhookView(updated));
    });
  }

  router.post('/:id/rotate-secret', async (req, res) => {
    const body = rotateWebhookSecretBody.parse(req.body ?? {});
    const record = await load(req);
    const secret = generateWebhookSecret();
    const overlap =
      body.overlap_seconds > 0
        ? { previous_secret: record.secret, previous_secret_until: new Date(Date.now() + body.overlap_seconds * 1000).toISOString() }
        : { previous_secret_until: new Date(0).toISOString() };
    const updated = await table.updateEndpoint(record.tenant_id, record.endpoint_id, { secret, ...overlap });
    if (!updated) throw notFound('webhook endpoint', record.endpoint_id);
    res.json({ ...webhookView(updated), secret });
  });

  router.delete('/:id', async (req, res) => {
    const record = await load(req);
    await table.deleteEndpoint(record.tenant_id, record.endpoint_id);
    changed(record.tenant_id);
    // A workflow waiting while disabled ends now; a running one sees the record gone within seconds.
    await deps.temporal.workflow
      .getHandle(eventWebhookWorkflowId(record.tenant_id, record.endpoint_id))
      .signal(endpointChangedSignal)
      .catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      });
    res.status(204).end();
  });

  router.post('/:id/replay', async (req, res) => {
    const query = replayQuery.parse(req.query);
    const now = Date.now();
    const problem = replayRangeProblem(query.from, query.to, {
      nowMs: now,
      maxMs: config.EVENT_WEBHOOK_REPLAY_MAX_HOURS * 3_600_000,
      retentionMs: config.EVENT_LOG_RETENTION_DAYS * 86_400_000,
    });
    if (problem) {
      throw new DomainError('invalid', 'VALIDATION_FAILED', 'The request is invalid.', [{ path: problem.field, message: problem.message }]);
    }
    const record = await load(req);
    if (record.status !== 'enabled') {
      throw new DomainError('conflict', 'WEBHOOK_DISABLED', 'The endpoint is disabled: enable it before a replay.');
    }
    const from = new Date(Date.parse(query.from!)).toISOString();
    const to = new Date(query.to === undefined ? now : Date.parse(query.to)).toISOString();
    const replayId = ulid();
    try {
      await deps.temporal.workflow.start('eventReplayWorkflow', {
        workflowId: eventReplayWorkflowId(record.tenant_id, record.endpoint_id),
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [
          {
            tenantId: record.tenant_id,
            endpointId: record.endpoint_id,
            taskQueue: eventWebhookTaskQueue(config),
            replayId,
            from,
            to,
            requestedAt: new Date(now).toISOString(),
          } satisfies EventReplayInput,
        ],
      });
    } catch (error) {
      // One replay at a time per endpoint: each holds a delivery slot until it is done.
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        throw new DomainError('conflict', 'REPLAY_RUNNING', 'A replay of this endpoint is running: wait for it to finish.');
      }
      throw error;
    }
    res.status(202).json({ replay_id: replayId, endpoint_id: record.endpoint_id, from, to });
  });

  return router;
}
