// What a campaign costs in Temporal: history events, signals and billable actions of every
// run of its transaction workflow and of each batch workflow.
import type { Client } from '@temporalio/client';
import { batchWorkflowId, transactionWorkflowId } from '../../src/contracts';

// Temporal Cloud bills these as actions (workflow and child starts, activities, timers,
// signals, search-attribute/memo upserts); the rest of a history is free.
const ACTION_EVENTS = [
  'workflowExecutionStartedEventAttributes',
  'activityTaskScheduledEventAttributes',
  'timerStartedEventAttributes',
  'workflowExecutionSignaledEventAttributes',
  'signalExternalWorkflowExecutionInitiatedEventAttributes',
  'upsertWorkflowSearchAttributesEventAttributes',
  'workflowPropertiesModifiedEventAttributes',
] as const;

export interface TemporalCost {
  workflows: number;
  runs: number;
  historyEvents: number;
  signals: number;
  actions: number;
  largestHistory: { workflowId: string; events: number };
  largestSignals: { workflowId: string; signals: number };
  /** History event types summed over the transaction's runs and over all batch runs. */
  eventTypes: { transaction: Record<string, number>; batches: Record<string, number> };
}

const eventType = (e: object) =>
  (Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ?? 'unknown').replace(
    /EventAttributes$/,
    '',
  );

export async function temporalCost(client: Client, transactionId: string, batchCount: number): Promise<TemporalCost> {
  const cost: TemporalCost = {
    workflows: 0,
    runs: 0,
    historyEvents: 0,
    signals: 0,
    actions: 0,
    largestHistory: { workflowId: '', events: 0 },
    largestSignals: { workflowId: '', signals: 0 },
    eventTypes: { transaction: {}, batches: {} },
  };
  const ids = [
    transactionWorkflowId(transactionId),
    ...Array.from({ length: batchCount }, (_, i) => batchWorkflowId(transactionId, i + 1)),
  ];
  for (const workflowId of ids) {
    cost.workflows += 1;
    const runs: string[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(run.runId);
    for (const runId of runs) {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const events = history.events ?? [];
      const signals = events.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
      const types = workflowId === ids[0] ? cost.eventTypes.transaction : cost.eventTypes.batches;
      for (const e of events) types[eventType(e)] = (types[eventType(e)] ?? 0) + 1;
      cost.runs += 1;
      cost.historyEvents += events.length;
      cost.signals += signals;
      cost.actions += events.filter((e) => ACTION_EVENTS.some((k) => e[k])).length;
      if (events.length > cost.largestHistory.events)
        cost.largestHistory = { workflowId: `${workflowId} (${runId.slice(0, 8)})`, events: events.length };
      if (signals > cost.largestSignals.signals) cost.largestSignals = { workflowId: `${workflowId} (${runId.slice(0, 8)})`, signals };
    }
  }
  return cost;
}
