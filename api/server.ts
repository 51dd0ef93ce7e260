// Builds the API's dependencies from config (clients, stores, health checks) and serves it.
import { parseRetryDelays } from '../src/domain/soft-bounce';
import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { Duplex } from 'node:stream';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetAccountCommand } from '@aws-sdk/client-sesv2';
import { Client, Connection } from '@temporalio/client';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Config } from '../src/config';
import { createAwsClients, destroyAwsClients } from '../src/adapters/aws';
import { createTables } from '../src/adapters/dynamo/tables';
import { ObjectStore } from '../src/adapters/s3';
import { SesMessenger } from '../src/adapters/ses';
import { createLogger } from '../src/logging';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { traceAwsClients, tracingClientInterceptors, withHttpSpans } from '../src/tracing';
import { createApp } from './app';
import { AuditTrail } from './audit';
import { tokenVerifier } from './oauth';
import { createIdentityVerifier } from '../src/adapters/identity-verifier';
import { snsVerifierFor } from '../src/adapters/sns-verifier';
import { OutcomeSignaller } from '../src/events/outcome-signaller';
import { BatchOutcomeSums } from '../src/events/batch-outcomes';
import { batchWorkflowId } from '../src/contracts';
import { createSesEventProcessor } from '../src/events/process-ses-event';
import { createSesEventMetrics } from '../src/metrics/engine-metrics';
import { ReputationTable } from '../src/adapters/dynamo/reputation';
import { ReputationGuard } from '../src/reputation/guard';
import { guardSettings } from '../src/reputation/rates';
import { CampaignTagCache, withCampaignTags } from '../src/events/campaign-tags';
import { analyticsFromConfig } from '../src/adapters/opensearch';
import { AnalyticsIndexer } from '../src/events/analytics-indexer';
import type { ApiDeps, ComponentState } from './deps';
import { EventLog, eventLogSettings } from '../src/events/event-log';

async function probe(check: () => Promise<unknown>, timeoutMs = 3000): Promise<ComponentState> {
  const started = Date.now();
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return { status: 'up', latency_ms: Date.now() - started };
  } catch (error) {
    return { status: 'down', latency_ms: Date.now() - started, error: (error as Error).message };
  }
}

export async function buildApiDeps(config: Config): Promise<{ deps: ApiDeps; close: () => Promise<void> }> {
  const aws = createAwsClients(config);
  traceAwsClients(aws.dynamo, aws.s3, aws.ses);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: tracingClientInterceptors() });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const analytics = analyticsFromConfig(config);
  const indexer = analytics ? new AnalyticsIndexer(analytics, createLogger({ component: 'analytics' }, config.LOG_LEVEL)) : undefined;
  const health = async () => {
    const [temporalState, dynamodb, s3, ses] = await Promise.all([
      probe(() => connection.workflowService.getSystemInfo({})),
      probe(() => aws.dynamo.send(new DescribeTableCommand({ TableName: config.DYNAMODB_TABLE }))),
      probe(async () => {
        try {
          await aws.s3.send(new HeadObjectCommand({ Bucket: config.S3_BUCKET, Key: 'healthz' }));
        } catch (error) {
          // A 404 for a key that does not exist proves the bucket answers.
          if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw error;
        }
      }),
      probe(() => aws.ses.send(new GetAccountCommand({}))),
    ]);
    // Analytics lagging never makes the engine unhealthy: reported, not counted as down.
    const opensearch = analytics ? await probe(() => analytics.client.cluster.health({})) : undefined;
    return {
      temporal: temporalState,
      dynamodb,
      s3,
      ses,
      ...(opensearch ? { opensearch: { ...opensearch, optional: true, queued: indexer!.queued } } : {}),
    };
  };
  const log = createLogger({ component: 'api' }, config.LOG_LEVEL);
  const tables = createTables(aws.doc, config.DYNAMODB_TABLE, { groupTransitions: config.DYNAMODB_GROUP_TRANSITIONS === 'on' });
  const signaller = new OutcomeSignaller(temporal, log);
  // Each batch's outcome count in sums, one write per COUNT_FLUSH_MS (issue 18, item 2).
  const outcomeSums =
    config.COUNT_FLUSH_MS > 0
      ? new BatchOutcomeSums(
          tables.batches,
          (transactionId, batchId) => signaller.note(batchWorkflowId(transactionId, Number(batchId.slice(1)))),
          log,
          config.COUNT_FLUSH_MS,
        )
      : undefined;
  const auditTrail = new AuditTrail(tables.audit, log, registry);
  // The reputation guard (issue 16, item 4): its counters and state beside the other stores.
  const reputation = new ReputationGuard(
    {
      counters: new ReputationTable(aws.doc, config.DYNAMODB_TABLE),
      campaigns: tables.campaigns,
      store: tables.store,
      temporal,
      audit: auditTrail,
      registry,
      log: createLogger({ component: 'reputation-guard' }, config.LOG_LEVEL),
    },
    guardSettings(config),
  );
  // Event webhooks (issue 17, item 1): the events this API applies go to the log, for tenants with endpoints.
  const eventLog = new EventLog(tables.eventWebhooks, log, eventLogSettings(config));
  const deps: ApiDeps = {
    config,
    ...tables,
    eventLog,
    // Erased recipients are suppressed by hash in the suppression table (retention and erasure).
    erasedRecipients: tables.suppressions,
    objects: new ObjectStore(aws.s3, config.S3_BUCKET),
    messenger: new SesMessenger(aws.ses, config.SES_CONFIGURATION_SET),
    identityVerifier: createIdentityVerifier(config, aws.ses),
    auditTrail,
    reputation,
    verifyToken: tokenVerifier(config),
    temporal,
    health,
    registry,
    log,
    events: {
      verifier: snsVerifierFor(config),
      process: createSesEventProcessor({
        ...tables,
        log,
        onOutcome: (id) => signaller.note(id),
        ...(outcomeSums ? { outcomes: outcomeSums } : {}),
        // email_engine_ses_events_total, _bounces_total, _complaints_total (issue 16).
        ...(config.ENGINE_METRICS === 'on' ? { metrics: createSesEventMetrics(registry) } : {}),
        onApplied: (applied) => void reputation.noteApplied(applied),
        eventLog,
        // Soft-bounced messages are tried again, within each batch's final-state deadline (issue 17, item 2).
        softBounce: {
          retryDelaysMs: parseRetryDelays(config.SOFT_BOUNCE_RETRY_DELAYS_SECONDS),
          finalStateDeadlineMs: config.FINAL_STATE_DEADLINE_SECONDS * 1000,
        },
        ...(config.SOFT_BOUNCE_SUPPRESS_AFTER > 0
          ? {
              softBounceSuppression: {
                after: config.SOFT_BOUNCE_SUPPRESS_AFTER,
                windowMs: config.SOFT_BOUNCE_SUPPRESS_WINDOW_DAYS * 86_400_000,
                store: tables.suppressions,
              },
            }
          : {}),
        // Each document with its campaign's tags (issue 15, item 1).
        onIndex: indexer
          ? withCampaignTags(new CampaignTagCache(tables.store, log), (event, message) => indexer.add(event, message))
          : undefined,
      }),
    },
    analytics: analytics && indexer ? { analytics, indexer } : undefined,
  };
  return {
    deps,
    close: async () => {
      await reputation.close();
      await deps.auditTrail.drain();
      await outcomeSums?.close();
      await signaller.close();
      await indexer?.close();
      await analytics?.close();
      await connection.close();
      destroyAwsClients(aws);
    },
  };
}

/**
 * Requests Node's HTTP parser refuses before Express sees them (a request line and headers over
 * 16 KiB, or bytes that are not HTTP) get the contract's JSON error body instead of Node's
 * empty one, then the connection is closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'The request line and headers are larger than 16 KiB.']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'HPE_HEADERS_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request was not received in time.']
        : [400, 'MALFORMED_REQUEST', 'The request is not valid HTTP.'];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export async function serveApi(
  config: Config,
  port = config.PORT,
): Promise<{ server: Server; url: string; metricsUrl?: string; close: () => Promise<void> }> {
  const { deps, close } = await buildApiDeps(config);
  const app = createApp(deps);
  const server = await listen(withHttpSpans(app), port, config.HOST);
  server.on('clientError', answerClientError);
  const metrics =
    config.METRICS_PORT === undefined ? undefined : await listen(metricsApp(deps.registry), config.METRICS_PORT, config.METRICS_HOST);
  const stop = async (s: Server) => {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  };
  return {
    server,
    url: urlOf(server, config.HOST),
    ...(metrics ? { metricsUrl: `${urlOf(metrics, config.METRICS_HOST)}/metrics` } : {}),
    close: async () => {
      await stop(server);
      if (metrics) await stop(metrics);
      await close();
    },
  };
}

function listen(handler: RequestListener, port: number, host: string): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    // What app.listen does, for a handler that may wrap the app (withHttpSpans).
    const s = createServer(handler).listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
}

/** Where a client on this machine reaches `server` (a wildcard bind is reached on loopback). */
function urlOf(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${reachable}:${port}`;
}

/** /metrics alone, for METRICS_PORT: a port the load balancer does not route to. */
function metricsApp(registry: Registry): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return app;
}
