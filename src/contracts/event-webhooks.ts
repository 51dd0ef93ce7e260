// What the event webhook workflows, their activity and the API agree on (issue 17, item 1).
import { defineSignal } from '@temporalio/workflow';

/** The task queue of the delivery activity (EVENT_WEBHOOK_TASK_QUEUE, else the main queue's name + "-event-webhooks"). */
export const eventWebhookTaskQueue = (config: { EVENT_WEBHOOK_TASK_QUEUE?: string; TEMPORAL_TASK_QUEUE: string }) =>
  config.EVENT_WEBHOOK_TASK_QUEUE ?? `${config.TEMPORAL_TASK_QUEUE}-event-webhooks`;

/** One workflow per endpoint, for its whole life: it delivers the tenant's log from the endpoint's cursor. */
export const eventWebhookWorkflowId = (tenantId: string, endpointId: string) => `event-webhook-${tenantId}-${endpointId}`;
/** One replay at a time per endpoint (a second while one runs is a 409): its workflow id is the endpoint's. */
export const eventReplayWorkflowId = (tenantId: string, endpointId: string) => `event-webhook-${tenantId}-${endpointId}/replay`;

/** The endpoint was enabled, disabled or deleted: a workflow waiting while disabled looks again. */
export const endpointChangedSignal = defineSignal('endpointChanged');

export interface EventWebhookInput {
  tenantId: string;
  /** Where the delivery activity runs (EVENT_WEBHOOK_TASK_QUEUE). */
  taskQueue: string;
  endpointId: string;
  /** Where to resume (carried across continue-as-new); undefined: the endpoint record's cursor. */
  cursor?: string;
}

export interface EventReplayInput {
  tenantId: string;
  taskQueue: string;
  endpointId: string;
  replayId: string;
  /** ISO times: the entries logged in [from, to] are sent again. */
  from: string;
  to: string;
  cursor?: string;
  /** When it was asked for: an entry's age for giving up counts from then at the earliest (a replay of old events is not old). */
  requestedAt?: string;
}

export interface DeliverEventsInput {
  tenantId: string;
  endpointId: string;
  cursor?: string;
  /** A replay: read up to `to` only, never move the endpoint's own cursor, end once `to` is reached. */
  replay?: { replayId: string; to: string; requestedAt?: string };
}

export interface DeliverEventsResult {
  cursor?: string;
  /** Why the activity ended: its time was up (run it again), or the endpoint is disabled or gone, or the replay is done. */
  stop: 'time' | 'disabled' | 'deleted' | 'done';
}
