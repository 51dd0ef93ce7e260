// `npm run worker`: a worker process against configured Temporal and AWS endpoints.
import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { redactAddresses } from '../src/logging';
import { createEngineWorkers } from './create-worker';
import { installTemporalRuntime } from './worker-metrics';
import { startTracingFromConfig } from '../src/tracing';

async function main() {
  const config = loadConfig();
  // Off unless OTEL_TRACES_EXPORTER or an OTLP endpoint is set (src/tracing).
  const tracing = startTracingFromConfig(config, 'email-engine-worker');
  // The SDK's own log lines (activity failures with their messages) pass the same address
  // redaction as the engine's.
  const level = config.LOG_LEVEL.toUpperCase() as LogLevel;
  // With TEMPORAL_METRICS_PORT, the SDK's runtime metrics are exported there too (issue 16).
  installTemporalRuntime(config, {
    logger: new DefaultLogger(level, (entry) => {
      const line = JSON.stringify({
        time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
        level: entry.level,
        msg: entry.message,
        ...entry.meta,
      });
      process.stderr.write(redactAddresses(line) + '\n');
    }),
  });
  const workers = await createEngineWorkers(config);
  const stop = () => void workers.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.error(
    JSON.stringify({
      level: 'info',
      msg: 'worker running',
      task_queues: [config.TEMPORAL_TASK_QUEUE, config.TEMPORAL_SEND_TASK_QUEUE],
      ...(workers.metricsUrl ? { metrics_url: workers.metricsUrl } : {}),
    }),
  );
  await workers.run();
  await tracing?.shutdown();
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
