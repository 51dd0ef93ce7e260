// Bundles the workflow code into one file: at build time (`npm run build` → dist/workflow-bundle.js)
// and, in development, as its own short-lived process started by the worker, so webpack's memory
// never counts against the long-running worker.
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './workflows-path';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../src/tracing/workflow-modules';

export async function bundleWorkflows(out: string): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  writeFileSync(out, code);
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: bundle-workflows <output file>');
  bundleWorkflows(out).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
