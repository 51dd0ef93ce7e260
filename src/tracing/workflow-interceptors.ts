// Runs inside the workflow bundle (src/tracing/workflow-modules.ts): OpenTelemetry's workflow
// interceptors, behind the patch TRACING_PATCH. They add no command of their own, but their spans
// wrap each scheduled activity, child, signal and handler in extra awaits, which can reorder the
// commands of one activation (an update's completion against the activity the main loop
// schedules in the same activation). A run recorded without them (every committed history)
// therefore replays without them: the decision is taken once per run, at its first traced call
// (the workflow's start), and kept for the whole run.
import { patched, type WorkflowInterceptors } from '@temporalio/workflow';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';

export const TRACING_PATCH = 'otel-tracing';

export const interceptors = (): WorkflowInterceptors => {
  let on: boolean | undefined;
  // Only where a workflow may record a marker; queries and update validators read what is decided.
  const traced = () => (on ??= patched(TRACING_PATCH));
  const decided = () => on === true;
  const inbound = new OpenTelemetryInboundInterceptor();
  const outbound = new OpenTelemetryOutboundInterceptor();
  return {
    inbound: [
      {
        execute: (input, next) => (traced() ? inbound.execute(input, next) : next(input)),
        handleSignal: (input, next) => (traced() ? inbound.handleSignal(input, next) : next(input)),
        handleUpdate: (input, next) => (traced() ? inbound.handleUpdate(input, next) : next(input)),
        validateUpdate: (input, next) => (decided() ? inbound.validateUpdate(input, next) : next(input)),
        handleQuery: (input, next) => (decided() ? inbound.handleQuery(input, next) : next(input)),
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => (traced() ? outbound.scheduleActivity(input, next) : next(input)),
        scheduleLocalActivity: (input, next) => (traced() ? outbound.scheduleLocalActivity(input, next) : next(input)),
        startChildWorkflowExecution: (input, next) => (traced() ? outbound.startChildWorkflowExecution(input, next) : next(input)),
        continueAsNew: (input, next) => (traced() ? outbound.continueAsNew(input, next) : next(input)),
        signalWorkflow: (input, next) => (traced() ? outbound.signalWorkflow(input, next) : next(input)),
        startNexusOperation: (input, next) => (traced() ? outbound.startNexusOperation(input, next) : next(input)),
        // Log lines carry the trace id of the active workflow span (none when untraced).
        getLogAttributes: (input, next) => (decided() ? outbound.getLogAttributes(input, next) : next(input)),
      },
    ],
    internals: [new OpenTelemetryInternalsInterceptor()],
  };
};
