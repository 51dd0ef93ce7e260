// `npm run worker`: a worker process against configured Temporal and AWS endpoints.
import { loadConfig } from '../src/config';
import { createEngineWorkers } from './create-worker';

async function main() {
  const config = loadConfig();
  const workers = await createEngineWorkers(config);
  const stop = () => void workers.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.error(
    JSON.stringify({ level: 'info', msg: 'worker running', task_queues: [config.TEMPORAL_TASK_QUEUE, config.TEMPORAL_SEND_TASK_QUEUE] }),
  );
  await workers.run();
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
