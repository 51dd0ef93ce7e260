// A one-line reason for an activity or child failure, for status records and webhooks.
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

export function failureReason(error: unknown): string {
  let cause: unknown = error;
  while (cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    const code = (cause.details?.[0] as { code?: string } | undefined)?.code;
    return `${cause.type ?? 'Error'}${code ? ` ${code}` : ''}: ${cause.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
