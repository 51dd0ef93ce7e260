// Bundles the workflow code into one file. Run as its own short-lived process by the worker,
// so webpack's memory never counts against the long-running worker.
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './workflows-path';

async function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: bundle-workflows <output file>');
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } });
  writeFileSync(out, code);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
