// Event webhook delivery (issue 17, item 1): one long-lived workflow per endpoint that runs the
// delivery activity again and again, each run a few minutes of reading the log from the cursor
// and POSTing batches (the cursor in its heartbeat, so a worker crash resumes where it was).
// The workflow only keeps the cursor between runs and continues as new every few runs, so its
// history stays small. A disabled endpoint waits for the API's signal; a deleted one ends. A
// replay is a workflow of its own over a closed range, so the live cursor never moves for it.
import { condition, continueAsNew, proxyActivities, setHandler } from '@temporalio/workflow';
import type { createEventWebhookActivities } from '../activities/event-webhook.activities';
import { endpointChangedSignal, type EventReplayInput, type EventWebhookInput } from '../src/contracts/event-webhooks';

/** On the event webhook task queue (the API names it in the input), apart from sends and status webhooks. */
const activitiesOn = (taskQueue: string) =>
  proxyActivities<ReturnType<typeof createEventWebhookActivities>>({
    taskQueue,
    // A run lasts a few minutes, heartbeating every few seconds; a dead worker's run is retried
    // from its last heartbeat's cursor.
    startToCloseTimeout: '20 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });

/** Runs before continuing as new: about an hour of delivery per workflow run, a few dozen events of history. */
const RUNS_PER_EXECUTION = 10;

export async function eventWebhookWorkflow(input: EventWebhookInput): Promise<void> {
  const { deliverEvents } = activitiesOn(input.taskQueue);
  let changed = false;
  setHandler(endpointChangedSignal, () => {
    changed = true;
  });
  let cursor = input.cursor;
  for (let run = 0; run < RUNS_PER_EXECUTION; run++) {
    const result = await deliverEvents({ tenantId: input.tenantId, endpointId: input.endpointId, cursor });
    if (result.stop === 'deleted') return;
    cursor = result.cursor ?? cursor;
    if (result.stop === 'disabled') {
      // Enabling moves the endpoint's cursor to that moment: the next run starts from the record.
      changed = false;
      await condition(() => changed, '1 hour');
      cursor = undefined;
    }
  }
  await continueAsNew<typeof eventWebhookWorkflow>({ ...input, cursor });
}

export async function eventReplayWorkflow(input: EventReplayInput): Promise<void> {
  const { deliverEvents } = activitiesOn(input.taskQueue);
  let cursor = input.cursor;
  for (let run = 0; run < RUNS_PER_EXECUTION; run++) {
    const result = await deliverEvents({
      tenantId: input.tenantId,
      endpointId: input.endpointId,
      cursor: cursor ?? `${input.from}#`,
      replay: { replayId: input.replayId, to: input.to, ...(input.requestedAt ? { requestedAt: input.requestedAt } : {}) },
    });
    if (result.stop !== 'time') return;
    cursor = result.cursor ?? cursor;
  }
  await continueAsNew<typeof eventReplayWorkflow>({ ...input, cursor });
}
