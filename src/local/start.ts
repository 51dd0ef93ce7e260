// `npm start`: the whole platform on the embedded local stack (or on whatever real endpoints
// the environment names): the components, then a worker process and an API process, then the
// local SES event source pointed at the API. Ctrl-C stops all of it.
import { loadConfig, ConfigError, type Config } from '../config';
import { createAwsClients, destroyAwsClients } from '../adapters/aws';
import { Store } from '../adapters/dynamo/store';
import { startLocalStack } from './stack';
import { startLocalEventsPipeline } from './events-pipeline';
import { devTenantCredentials, seedTenant } from './dev-tenant';
import { waitUntil } from './ports';
import { startProcess, stopProcess } from './processes';
import { startJaeger, type RunningJaeger } from './jaeger';

async function main() {
  // The local stack's webhook receivers listen on this machine; a production launch (or an
  // explicit setting) decides for itself.
  if (process.env.APP_ENV !== 'production') process.env.CALLBACK_ALLOW_PRIVATE_NETWORKS ??= 'true';
  // The worker's metrics endpoints on well-known local ports, so the local Prometheus scrapes them.
  process.env.WORKER_METRICS_PORT ??= '9464';
  process.env.TEMPORAL_METRICS_PORT ??= '9465';
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const stopAll: (() => Promise<void>)[] = [];
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.error('\nStopping…');
    for (const stop of stopAll.reverse()) await stop().catch((e) => console.error(String(e)));
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  try {
    const stack = await startLocalStack(config, { ports: 'fixed', persistent: true, temporalUi: true, opensearch: true, prometheus: true });
    stopAll.push(stack.stop);
    Object.assign(process.env, stack.env);
    config = loadConfig();
    // SES events: the local event source when SES is the emulator; real SNS otherwise.
    const events = stack.started.includes('aws-ses-v2-local')
      ? await startLocalEventsPipeline({ topicArn: config.SNS_TOPIC_ARNS[0]!, sesEndpoint: config.SES_ENDPOINT! })
      : undefined;
    if (events) {
      stopAll.push(events.stop);
      Object.assign(process.env, events.env);
      config = loadConfig();
    }
    // TRACING=jaeger: a local Jaeger, and the worker's and the API's spans sent to it (src/tracing).
    let jaeger: RunningJaeger | undefined;
    if (config.TRACING === 'jaeger') {
      jaeger = await startJaeger();
      stopAll.push(jaeger.stop);
      process.env.OTEL_TRACES_EXPORTER ??= 'otlp';
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT ??= jaeger.otlpEndpoint;
      config = loadConfig();
    }
    const tenant = devTenantCredentials(config.LOCAL_STACK_DIR, config.DEV_TENANT_ID, {
      apiKey: config.DEV_API_KEY,
      webhookSecret: config.DEV_WEBHOOK_SECRET,
    });
    const aws = createAwsClients(config);
    await seedTenant(new Store(aws.doc, config.DYNAMODB_TABLE), tenant);
    destroyAwsClients(aws);

    const worker = await startProcess('worker', 'workers/main.ts', process.env, /worker running/);
    stopAll.push(() => stopProcess(worker));
    const api = await startProcess('api', 'api/main.ts', process.env, /api listening/);
    stopAll.push(() => stopProcess(api));
    const apiUrl = `http://127.0.0.1:${config.PORT}`;
    await waitUntil('API', async () => (await fetch(`${apiUrl}/healthz`)).status < 500, 30_000);
    await events?.connect(apiUrl);
    for (const child of [worker, api]) child.once('exit', (code) => !stopping && void shutdown(code ?? 1));

    const lines = [
      '',
      'Email engine is running.',
      `  API:              ${apiUrl}   (docs ${apiUrl}/docs, health ${apiUrl}/healthz)`,
      stack.urls.temporalUi ? `  Temporal UI:      ${stack.urls.temporalUi}` : `  Temporal:         ${config.TEMPORAL_ADDRESS}`,
      stack.urls.sesInbox ? `  SES inbox:        ${stack.urls.sesInbox}` : '',
      stack.urls.opensearch ? `  OpenSearch:       ${stack.urls.opensearch}   (analytics: GET /api/v1/campaigns/{id}/analytics)` : '',
      stack.urls.prometheus
        ? `  Prometheus:       ${stack.urls.prometheus}   (alerts: ${stack.urls.prometheus}/alerts, rules: ops/prometheus/alerts.yml)`
        : '',
      jaeger ? `  Jaeger UI:        ${jaeger.uiUrl}   (traces of email-engine-api and email-engine-worker)` : '',
      `  Dev API key:      ${tenant.apiKey}`,
      `  Webhook secret:   ${tenant.webhookSecret}`,
      `  Started locally:  ${[...stack.started, ...(events ? ['ses-event-source'] : []), ...(jaeger ? ['jaeger'] : [])].join(', ') || 'nothing (all endpoints configured)'}`,
      'Try: npm run campaign -- --template t.html --subject "Hi {{ first_name }}" --csv list.csv',
      'Press Ctrl-C to stop everything.',
      '',
    ];
    console.log(lines.filter((l) => l !== '').join('\n'));
  } catch (error) {
    console.error(error instanceof Error ? error.stack : error);
    await shutdown(1);
  }
}

void main();
