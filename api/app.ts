// The HTTP API, built from its dependencies; no listen here (tests call it in-process).
import express, { type Express } from 'express';
import { Counter, Histogram } from 'prom-client';
import { apiKeyAuth } from './auth';
import type { ApiDeps } from './deps';
import { errorHandler, sendError } from './errors';
import { openApiDocument, docsPage } from './openapi';
import { campaignRoutes } from './routes/campaigns';
import { fileRoutes } from './routes/files';
import { suppressionRoutes } from './routes/suppressions';
import { templateRoutes } from './routes/templates';
import { unsubscribeRoutes } from './routes/unsubscribe';
import { sesEventRoutes } from './routes/ses-events';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

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
    res.on('finish', () => {
      // The route pattern, never the path (ids stay out of labels). A router resets baseUrl
      // when an error leaves it, so the base noted on the way in (noteBase) comes first.
      const path = (req.route as { path?: string } | undefined)?.path;
      const route = path === undefined ? 'unmatched' : `${(res.locals.routeBase as string | undefined) ?? req.baseUrl ?? ''}${path}`;
      const labels = { method: req.method, route };
      end(labels);
      requests.inc({ ...labels, status: String(res.statusCode) });
    });
    next();
  });

  app.get('/healthz', async (_req, res) => {
    const components = await deps.health();
    const up = Object.values(components).every((c) => c.status === 'up');
    res.status(up ? 200 : 503).json({ status: up ? 'up' : 'degraded', components });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
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
  v1.use(apiKeyAuth(deps.store, { requestsPerMinute: deps.config.API_RATE_LIMIT_PER_MINUTE }));
  v1.use('/templates', noteBase, templateRoutes(deps));
  v1.use('/files', noteBase, fileRoutes(deps));
  v1.use('/campaigns', noteBase, campaignRoutes(deps));
  v1.use('/transactions', noteBase, campaignRoutes(deps));
  v1.use('/suppressions', noteBase, suppressionRoutes(deps));
  app.use('/api/v1', v1);

  app.use((_req, res) => sendError(res, 404, 'NOT_FOUND', 'No such route.'));
  app.use(errorHandler(deps.log));
  return app;
}
