// Suppression export (POST /api/v1/suppressions/exports; issue 15, item 6): one activity
// streams the tenant's suppression list as CSV into S3. A retry writes the object again from
// the start (an upload cannot resume); the export's record shows the outcome.
import { proxyActivities } from '@temporalio/workflow';
import type { SuppressionListActivities } from '../activities/suppression-lists.activities';
import type { SuppressionListWorkflowInput } from '../src/domain/suppression-lists';
import { runSuppressionListJob } from './suppression-import.workflow';

const { exportSuppressionList } = proxyActivities<SuppressionListActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10 },
});

export async function suppressionExportWorkflow(input: SuppressionListWorkflowInput): Promise<{ rows: number }> {
  return runSuppressionListJob('export', input, () => exportSuppressionList(input));
}
