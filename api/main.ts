// `npm run api`: serves the HTTP API against configured Temporal and AWS endpoints.
import { loadConfig } from '../src/config';
import { serveApi } from './server';
import { startTracingFromConfig } from '../src/tracing';

async function main() {
  const config = loadConfig();
  // Off unless OTEL_TRACES_EXPORTER or an OTLP endpoint is set (src/tracing).
  const tracing = startTracingFromConfig(config, 'email-engine-api');
  const api = await serveApi(config);
  console.error(
    JSON.stringify({ level: 'info', msg: 'api listening', url: api.url, ...(api.metricsUrl ? { metrics: api.metricsUrl } : {}) }),
  );
  const stop = () =>
    void api
      .close()
      .then(() => tracing?.shutdown())
      .then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
