// All activities, built by one factory from their dependencies (called once per worker).
import type { ActivityDeps } from './deps';
import { createErasureActivities } from './erasure.activities';
import { createIngestActivities } from './ingest.activities';
import { createRetentionActivities } from './retention.activities';
import { createSendActivities } from './send.activities';
import { createTransactionActivities } from './transaction.activities';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createIngestActivities(deps),
    ...createSendActivities(deps),
    ...createTransactionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * Retention and erasure (erasureWorkflow, retentionWorkflow), apart from the campaign's
 * activities: the campaign workflows and their stand-ins know nothing of them.
 */
export function createGovernanceActivities(deps: ActivityDeps) {
  return { ...createErasureActivities(deps), ...createRetentionActivities(deps) };
}

export type GovernanceActivities = ReturnType<typeof createGovernanceActivities>;
export { createExportActivities, type ExportActivities } from './export.activities';
export {
  createSuppressionListActivities,
  type SuppressionListActivities,
  type SuppressionListSettings,
  suppressionListSettings,
} from './suppression-lists.activities';
export type { ActivityDeps } from './deps';
