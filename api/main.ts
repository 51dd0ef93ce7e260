// `npm run api`: serves the HTTP API against configured Temporal and AWS endpoints.
import { loadConfig } from '../src/config';
import { serveApi } from './server';

async function main() {
  const config = loadConfig();
  const api = await serveApi(config);
  console.error(JSON.stringify({ level: 'info', msg: 'api listening', url: api.url }));
  const stop = () => void api.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
