// `npm start`: the whole platform on the embedded local stack (or on whatever real
// endpoints the environment names), with a worker and the API in this process.
import { loadConfig, ConfigError, type Config } from '../config';
import { createAwsClients, destroyAwsClients } from '../adapters/aws';
import { Store } from '../adapters/dynamo/store';
import { startLocalStack } from './stack';
import { startLocalEventsPipeline } from './events-pipeline';
import { devTenantCredentials, seedTenant } from './dev-tenant';
import { createEngineWorkers } from '../../workers/create-worker';
import { serveApi } from '../../api/server';

async function main() {
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
  const stack = await startLocalStack(config, { ports: 'fixed', persistent: true, temporalUi: true });
  const stopAll: (() => Promise<void>)[] = [stack.stop];
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
    const tenant = devTenantCredentials(config.LOCAL_STACK_DIR, config.DEV_TENANT_ID, {
      apiKey: config.DEV_API_KEY,
      webhookSecret: config.DEV_WEBHOOK_SECRET,
    });
    const aws = createAwsClients(config);
    await seedTenant(new Store(aws.doc, config.DYNAMODB_TABLE), tenant);
    destroyAwsClients(aws);

    const workers = await createEngineWorkers(config);
    const running = workers.run();
    stopAll.push(async () => {
      await workers.shutdown();
      await running;
    });
    const api = await serveApi(config);
    stopAll.push(api.close);
    await events?.connect(api.url);

    const lines = [
      '',
      'Email engine is running.',
      `  API:              ${api.url}   (docs ${api.url}/docs, health ${api.url}/healthz)`,
      stack.urls.temporalUi ? `  Temporal UI:      ${stack.urls.temporalUi}` : `  Temporal:         ${config.TEMPORAL_ADDRESS}`,
      stack.urls.sesInbox ? `  SES inbox:        ${stack.urls.sesInbox}` : '',
      `  Dev API key:      ${tenant.apiKey}`,
      `  Webhook secret:   ${tenant.webhookSecret}`,
      `  Started locally:  ${[...stack.started, ...(events ? ['ses-event-source'] : [])].join(', ') || 'nothing (all endpoints configured)'}`,
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
