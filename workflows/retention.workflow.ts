// The retention sweep, started by a Temporal Schedule (created by the worker at start): one
// activity that goes through every tenant, resuming after the last one it finished when retried.
import { proxyActivities } from '@temporalio/workflow';
import type { GovernanceActivities } from '../activities';
import type { RetentionSweepResult, RetentionWorkflowInput } from '../src/domain/erasure';
import { checkInputVersion } from './input-version';

const { sweepRetention } = proxyActivities<GovernanceActivities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 20 },
});

export async function retentionWorkflow(input: RetentionWorkflowInput): Promise<RetentionSweepResult> {
  checkInputVersion(input.version);
  return sweepRetention();
}
