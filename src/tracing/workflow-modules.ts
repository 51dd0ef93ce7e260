// The workflow interceptor modules every workflow bundle carries (workers/bundle-workflows.ts and
// the test suite's bundle): OpenTelemetry's, behind a patch (src/tracing/workflow-interceptors.ts),
// which open a span per workflow run, activity and child scheduled, signal and continue-as-new,
// and hand them to the worker through the `exporter` sink (src/tracing/index.ts).
import { join } from 'node:path';

export const WORKFLOW_INTERCEPTOR_MODULES: string[] = [
  join(__dirname, `workflow-interceptors${__filename.endsWith('.js') ? '.js' : '.ts'}`),
];
