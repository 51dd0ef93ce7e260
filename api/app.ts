// The HTTP API, built from its dependencies; no listen here (tests call it in-process).
import express, { type Express } from 'express';
import { Counter, Histogram } from 'prom-client';
import { createAuthenticator } from './auth';
import { auditRequests, requestIds } from './audit';
import { CAMPAIGN_SCOPE_OVERRIDES, requireScope, scoped } from './scopes';
import { isOperator } from './operator';
import type { ApiDeps } from './deps';
import { errorHandler, sendError } from './errors';
import { openApiDocument, docsPage } from './openapi';
import { analyticsRoutes } from './routes/analytics';
import { campaignRoutes } from './routes/campaigns';
import { exportRoutes } from './routes/exports';
import { fileRoutes } from './routes/files';
import { suppressionRoutes } from './routes/suppressions';
import { suppressionListRoutes } from './routes/suppression-lists';
import { topicRoutes } from './routes/topics';
import { recipientRoutes } from './routes/recipients';
import { identityRoutes } from './routes/identities';
import { templateRoutes } from './routes/templates';
import { unsubscribeRoutes } from './routes/unsubscribe';
import { sesEventRoutes } from './routes/ses-events';
import { apiKeyRoutes } from './routes/api-keys';
import { auditRoutes } from './routes/audit';
import { tenantSettingsRoutes } from './routes/tenant-settings';
import { reputationGates, reputationRoutes } from './routes/reputation';
import { webhookRoutes } from './routes/webhooks';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // req.ip is the connection's address unless TRUST_PROXY proxy hops are declared (src/config).
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.use(requestIds());

  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [deps.registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [deps.registry],
  });
  const noteBase: express.RequestHandler = (req, res, next) => {
    res.locals.routeBase = req.baseUrl;
    next();
  };
  app.use((req, res, next) => {
    const end = latency.startTimer();
    let recorded = false;
    // A progress stream (routes/campaign-stream.ts) lasts as long as its client: counted, not
    // timed, and counted also when the client leaves first (no 'finish' then).
    const eventStream = () => String(res.getHeader('content-type') ?? '').startsWith('text/event-stream');
    const record = () => {
      if (recorded) return;
      recorded = true;
      // The route pattern, never the path (ids stay out of labels). A router resets baseUrl
      // when an error leaves it, so the base noted on the way in (noteBase) comes first.
      const path = (req.route as { path?: string } | undefined)?.path;
      const route = path === undefined ? 'unmatched' : `${(res.locals.routeBase as string | undefined) ?? req.baseUrl ?? ''}${path}`;
      const labels = { method: req.method, route };
      if (!eventStream()) end(labels);
      requests.inc({ ...labels, status: String(res.statusCode) });
    };
    res.on('finish', record);
    res.on('close', () => {
      if (eventStream()) record();
    });
    next();
  });

  const operator = isOperator(deps.config);
  // Up or down for anyone (load balancers); the components' details, which carry backend
  // errors, only for the operator.
  app.get('/healthz', async (req, res) => {
    const components = await deps.health();
    const up = Object.values(components).every((c) => c.status === 'up');
    res.status(up ? 200 : 503).json({ status: up ? 'up' : 'degraded', ...(operator(req) ? { components } : {}) });
  });
  // With METRICS_PORT set, metrics are served there only (api/server.ts).
  if (deps.config.METRICS_PORT === undefined) {
    app.get('/metrics', async (req, res) => {
      if (!operator(req)) return sendError(res, 401, 'OPERATOR_TOKEN_REQUIRED', 'Metrics need the X-Operator-Token header.');
      res.type(deps.registry.contentType).send(await deps.registry.metrics());
    });
  }
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(docsPage);
  });

  app.use('/u', noteBase, unsubscribeRoutes(deps));

  // SNS signs its messages instead of sending an API key.
  app.use('/api/v1/events', noteBase, sesEventRoutes(deps));

  const v1 = express.Router();
  // Whatever the Content-Type says, a body is JSON (or a 400); only methods that take a body read one.
  const json = express.json({ limit: '64kb', strict: true, type: () => true });
  v1.use((req, res, next) => (BODY_METHODS.has(req.method) ? json(req, res, next) : next()));
  const auth = createAuthenticator(deps.apiKeys, {
    requestsPerMinute: deps.config.API_RATE_LIMIT_PER_MINUTE,
    verifyToken: deps.verifyToken,
    log: deps.log,
  });
  v1.use(auth.middleware);
  v1.use(auditRequests(deps.auditTrail));
  const campaignScopes = scoped('campaigns', CAMPAIGN_SCOPE_OVERRIDES);
  v1.use('/templates', noteBase, scoped('templates'), templateRoutes(deps));
  v1.use('/files', noteBase, scoped('files'), fileRoutes(deps));
  // Before the campaign routes: starting an export reads the campaign (campaigns:read), see routes/exports.ts.
  // The base noted is the mount's pattern, not its path (which has the campaign's id).
  for (const base of ['/campaigns', '/transactions']) {
    const notePattern: express.RequestHandler = (_req, res, next) => {
      res.locals.routeBase = `/api/v1${base}/:id/exports`;
      next();
    };
    v1.use(`${base}/:id/exports`, notePattern, requireScope('campaigns:read'), exportRoutes(deps));
  }
  // The reputation guard's gates on creating and resuming campaigns of a held tenant (routes/reputation.ts).
  if (deps.reputation) {
    const gates = reputationGates(deps, deps.reputation);
    for (const base of ['/campaigns', '/transactions']) v1.use(base, noteBase, campaignScopes, gates);
    v1.use('/tenant/reputation', noteBase, scoped('campaigns'), reputationRoutes(deps.reputation));
  }
  v1.use('/campaigns', noteBase, campaignScopes, campaignRoutes(deps));
  v1.use('/transactions', noteBase, campaignScopes, campaignRoutes(deps));
  v1.use('/suppressions', noteBase, scoped('suppressions'), suppressionListRoutes(deps));
  v1.use('/suppressions', noteBase, scoped('suppressions'), suppressionRoutes(deps));
  v1.use('/topics', noteBase, scoped('suppressions'), topicRoutes(deps));
  v1.use('/recipients', noteBase, scoped('recipients'), recipientRoutes(deps));
  v1.use('/analytics', noteBase, scoped('analytics'), analyticsRoutes(deps));
  v1.use('/identities', noteBase, scoped('identities'), identityRoutes(deps));
  // Per-message event webhooks (issue 17, item 1): about campaigns' messages, so the campaigns scope.
  if (deps.eventWebhooks) v1.use('/webhooks', noteBase, scoped('campaigns'), webhookRoutes(deps, deps.eventWebhooks));
  v1.use('/api-keys', noteBase, requireScope('admin'), apiKeyRoutes(deps, auth));
  v1.use('/audit', noteBase, requireScope('admin'), auditRoutes(deps));
  v1.use('/tenant/settings', noteBase, requireScope('admin'), tenantSettingsRoutes(deps, auth));
  app.use('/api/v1', v1);

  app.use((_req, res) => sendError(res, 404, 'NOT_FOUND', 'No such route.'));
  app.use(errorHandler(deps.log));
  return app;
}
