// All activities, built by one factory from their dependencies (called once per worker).
import type { ActivityDeps } from './deps';
import { createIngestActivities } from './ingest.activities';
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
export type { ActivityDeps } from './deps';
