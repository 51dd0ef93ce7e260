// A campaign's result export (POST /api/v1/campaigns/{id}/exports; workflow id from the campaign
// and the export): one activity writes the CSV object, resuming from its heartbeat when retried,
// then the export's record ends COMPLETED with its figures, or FAILED once the retries are spent,
// and either way frees the campaign's export slot.
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { ExportActivities } from '../activities';
import type { ExportResult, ExportWorkflowInput } from '../src/domain/campaign-export';
import { checkInputVersion } from './input-version';

const { exportCampaignMessages } = proxyActivities<ExportActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 8 },
});
const { finishCampaignExport } = proxyActivities<ExportActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function campaignExportWorkflow(input: ExportWorkflowInput): Promise<ExportResult> {
  checkInputVersion(input.version);
  const ref = { tenantId: input.tenantId, transactionId: input.transactionId, exportId: input.exportId };
  let result: ExportResult;
  try {
    result = await exportCampaignMessages(ref);
  } catch (error) {
    // What the client sees is the code; the cause stays in the workflow's history and the worker's log.
    await finishCampaignExport({ ...ref, state: 'FAILED', error: { code: 'EXPORT_FAILED', message: 'The export could not be written.' } });
    throw ApplicationFailure.nonRetryable(`export ${ref.exportId} failed: ${(error as Error).message}`, 'ExportFailed');
  }
  await finishCampaignExport({ ...ref, state: 'COMPLETED', result });
  return result;
}
