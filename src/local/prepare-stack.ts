// `npm run stack:prepare`: builds or finds the Temporal CLI, fetches OpenSearch and installs
// Prometheus (Debian's package) once, so the first `npm start` or `npm test` on a new machine
// does not wait for them.
import { findTemporalCli } from './temporal-cli';
import { ensureOpenSearchDistribution } from './opensearch';
import { ensurePrometheus } from './prometheus';

async function main() {
  const log = (line: string) => console.error(line);
  const cli = await findTemporalCli(log);
  console.error(`Temporal CLI: ${cli.path ?? '(SDK download at first start)'} (${cli.source})`);
  const os = await ensureOpenSearchDistribution(log);
  console.error(`OpenSearch ${os.version}: ${os.home}`);
  const prometheus = await ensurePrometheus(log);
  console.error(`Prometheus ${prometheus.version}: ${prometheus.prometheus}, ${prometheus.promtool} (${prometheus.source})`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
