// The active span's trace id, for log lines (src/logging.ts). Only the OpenTelemetry API: with
// tracing off it answers undefined at the cost of one lookup.
import { trace } from '@opentelemetry/api';

const INVALID_TRACE_ID = '00000000000000000000000000000000';

export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId } = span.spanContext();
  return traceId && traceId !== INVALID_TRACE_ID ? traceId : undefined;
}
