// Suppression import (POST /api/v1/suppressions/imports/{id}/start; issue 15, item 6): one
// activity streams the tenant's file into the suppression list, heartbeating the line it
// reached so a retry resumes there, and records the outcome (COMPLETED, or FAILED for a file
// it cannot import). The workflow id is the import's, so a second start of the same import is
// refused by Temporal and imports nothing twice. If the activity itself gives up (its retries
// spent), the import is recorded FAILED here.
import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { SuppressionListActivities } from '../activities/suppression-lists.activities';
import type { ImportProgress, SuppressionListWorkflowInput } from '../src/domain/suppression-lists';
import { checkInputVersion } from './input-version';

const { importSuppressionFile } = proxyActivities<SuppressionListActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10 },
});

const { recordSuppressionListFailure } = proxyActivities<SuppressionListActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Runs the job's activity (import or export); if it fails for good, records why on the job and fails the run with the same failure. */
export async function runSuppressionListJob<T>(kind: 'import' | 'export', input: SuppressionListWorkflowInput, run: () => Promise<T>) {
  checkInputVersion(input.version);
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof ActivityFailure)) throw error;
    const cause = error.cause instanceof ApplicationFailure ? error.cause : undefined;
    const code = (cause?.details?.[0] as { code?: string } | undefined)?.code ?? 'INTERNAL_ERROR';
    const message = code === 'INTERNAL_ERROR' ? `the ${kind} failed; it may be started again as a new ${kind}` : (cause?.message ?? '');
    await recordSuppressionListFailure({ ...input, kind, error: { code, message } });
    throw error;
  }
}

export async function suppressionImportWorkflow(input: SuppressionListWorkflowInput): Promise<ImportProgress> {
  return runSuppressionListJob('import', input, () => importSuppressionFile(input));
}
