// The retention sweep's Temporal Schedule, one per task queue: created by whichever worker of
// the queue starts first, its interval brought in line with RETENTION_SWEEP_INTERVAL_SECONDS by
// any later one. Runs never overlap (a sweep still going makes the next one skip).
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { WORKFLOW_INPUT_VERSION } from '../src/contracts';
import type { Config } from '../src/config';
import { retentionScheduleId, retentionWorkflowId } from '../src/domain/erasure';

export async function ensureRetentionSchedule(
  client: Client,
  config: Pick<Config, 'RETENTION_SWEEP_INTERVAL_SECONDS' | 'TEMPORAL_TASK_QUEUE'>,
): Promise<void> {
  const everyMs = config.RETENTION_SWEEP_INTERVAL_SECONDS * 1000;
  if (everyMs === 0) return;
  const scheduleId = retentionScheduleId(config.TEMPORAL_TASK_QUEUE);
  const spec = { intervals: [{ every: everyMs }] };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: 'retentionWorkflow',
        workflowId: retentionWorkflowId(config.TEMPORAL_TASK_QUEUE),
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [{ version: WORKFLOW_INPUT_VERSION }],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(scheduleId);
    const { spec: current } = await handle.describe();
    if (current.intervals?.length === 1 && current.intervals[0]!.every === everyMs) return;
    await handle.update((previous) => ({ ...previous, spec }));
  }
}
