// The worker's metrics (issue 16): the engine's own on WORKER_METRICS_PORT (a prom-client
// Registry made in the composition root, src/metrics/engine-metrics.ts, and the gauges'
// collector), and the Temporal SDK's runtime metrics on TEMPORAL_METRICS_PORT (Core's own
// Prometheus exporter, a separate endpoint).
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import type { Config } from '../src/config';
import type { Logger } from '../src/logging';
import type { ActivityDeps } from '../activities';
import { createGaugeCollector } from '../src/metrics/collector';
import { serveMetrics } from '../src/metrics/server';

/** The SDK's telemetry options for TEMPORAL_METRICS_PORT (undefined when unset). */
export function temporalTelemetryOptions(config: Config): RuntimeOptions['telemetryOptions'] | undefined {
  if (config.TEMPORAL_METRICS_PORT === undefined) return undefined;
  const host = config.TEMPORAL_METRICS_HOST.includes(':') ? `[${config.TEMPORAL_METRICS_HOST}]` : config.TEMPORAL_METRICS_HOST;
  return { metrics: { prometheus: { bindAddress: `${host}:${config.TEMPORAL_METRICS_PORT}` } } };
}

let sdkMetricsInstalled = false;

/** Runtime.install with `options` and, when TEMPORAL_METRICS_PORT is set, the SDK's Prometheus exporter. */
export function installTemporalRuntime(config: Config, options: RuntimeOptions = {}): Runtime {
  const telemetryOptions = temporalTelemetryOptions(config);
  const runtime = Runtime.install({ ...options, ...(telemetryOptions ? { telemetryOptions } : {}) });
  sdkMetricsInstalled = telemetryOptions !== undefined;
  return runtime;
}

/**
 * Runtime.install runs once a process, before any connection: with TEMPORAL_METRICS_PORT set it
 * is installed here unless the process installed it already (workers/main.ts does, through
 * installTemporalRuntime; a test process that creates several workers installs it once,
 * without). Returns whether the SDK's metrics are exported.
 */
export function ensureTemporalRuntimeMetrics(config: Config, log: Logger): boolean {
  if (config.TEMPORAL_METRICS_PORT === undefined) return false;
  if (sdkMetricsInstalled) return true;
  if (Runtime._instance !== undefined) {
    log.warn('TEMPORAL_METRICS_PORT is set but the Temporal runtime was installed without metrics: they are not exported');
    return false;
  }
  installTemporalRuntime(config);
  return true;
}

export interface WorkerMetricsEndpoint {
  /** http://host:port/metrics, when WORKER_METRICS_PORT is set. */
  url?: string;
  stop(): Promise<void>;
}

/**
 * Serves `registry` on WORKER_METRICS_PORT and starts the gauges' collector
 * (COLLECT_INTERVAL_SECONDS); with the port unset nothing is served nor collected.
 */
export async function serveWorkerMetrics(
  config: Config,
  registry: Registry,
  client: Client,
  deps: Pick<ActivityDeps, 'metrics' | 'log' | 'store'>,
): Promise<WorkerMetricsEndpoint> {
  if (config.WORKER_METRICS_PORT === undefined || !deps.metrics) return { stop: async () => undefined };
  collectDefaultMetrics({ register: registry });
  const collector = createGaugeCollector(
    {
      client,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      sendTaskQueue: config.TEMPORAL_SEND_TASK_QUEUE,
      sendAtOf: async (transactionId) => (await deps.store.getTransaction(undefined, transactionId))?.schedule?.send_at,
      metrics: deps.metrics,
      log: deps.log.child({ component: 'metrics-collector' }),
    },
    config.COLLECT_INTERVAL_SECONDS * 1000,
  );
  const server = await serveMetrics(registry, config.WORKER_METRICS_PORT, config.WORKER_METRICS_HOST);
  deps.log.info('worker metrics served', { url: server.url });
  return {
    url: server.url,
    async stop() {
      await collector.stop();
      await server.close();
    },
  };
}
