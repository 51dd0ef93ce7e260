// Builds the API's dependencies from config (clients, stores, health checks) and serves it.
import { STATUS_CODES, type Server } from 'node:http';
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
import { createLogger } from '../src/logging';
import { temporalConnectionOptions } from '../src/temporal-connection';
import { createApp } from './app';
import { SnsVerifier } from '../src/adapters/sns-verifier';
import { OutcomeSignaller } from '../src/events/outcome-signaller';
import { createSesEventProcessor } from '../src/events/process-ses-event';
import { Analytics } from '../src/adapters/opensearch';
import { AnalyticsIndexer } from '../src/events/analytics-indexer';
import type { ApiDeps, ComponentState } from './deps';

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
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const analytics = config.OPENSEARCH_URL
    ? new Analytics({
        node: config.OPENSEARCH_URL,
        prefix: config.OPENSEARCH_INDEX_PREFIX,
        aws: config.OPENSEARCH_AWS_REGION ? { region: config.OPENSEARCH_AWS_REGION, service: config.OPENSEARCH_AWS_SERVICE } : undefined,
      })
    : undefined;
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
  const tables = createTables(aws.doc, config.DYNAMODB_TABLE);
  const signaller = new OutcomeSignaller(temporal, log);
  const deps: ApiDeps = {
    config,
    ...tables,
    objects: new ObjectStore(aws.s3, config.S3_BUCKET),
    temporal,
    health,
    registry,
    log,
    events: {
      verifier: new SnsVerifier({ topicArns: config.SNS_TOPIC_ARNS, trustedCertUrlPrefixes: config.SNS_TRUSTED_CERT_URLS }),
      process: createSesEventProcessor({
        ...tables,
        log,
        onOutcome: (id) => signaller.note(id),
        onIndex: indexer ? (event, message) => indexer.add(event, message) : undefined,
      }),
    },
    analytics: analytics && indexer ? { analytics, indexer } : undefined,
  };
  return {
    deps,
    close: async () => {
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

export async function serveApi(config: Config, port = config.PORT): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const { deps, close } = await buildApiDeps(config);
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, '0.0.0.0', () => resolve(s));
    s.once('error', reject);
  });
  server.on('clientError', answerClientError);
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    url: `http://127.0.0.1:${actualPort}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await close();
    },
  };
}
