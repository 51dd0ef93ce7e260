// Erasure of one recipient for one tenant (DELETE /api/v1/recipients/{email}; workflow id from
// the tenant and the erasure id, so repeated requests attach to the running one). The API has
// already replaced the person's suppression with one by the hash of the address; this workflow
// knows only that hash. It waits for the tenant's ingests to finish (a campaign still ingesting
// may yet write the person's rows), erases their analytics documents, their rows in the tenant's
// recipient files and, after a short settle and a second analytics pass (documents the API held
// in memory meanwhile), their messages and rejected rows; each step's figures go to the erasure
// record as it ends. Steps retry until they succeed (an outage delays an erasure, it never
// abandons one); what a campaign still needs is waited for.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { GovernanceActivities } from '../activities';
import type { AnalyticsErasure, ErasureStatus, ErasureStores, ErasureWorkflowInput } from '../src/domain/erasure';
import { checkInputVersion } from './input-version';

const steps = proxyActivities<GovernanceActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes' },
});

/**
 * Runs `step` until nothing is left for later (`left` says what was), sleeping `pollMs` between
 * passes; once `deadline` has passed, one last pass with `force` leaves nothing. Returns every
 * pass's result.
 */
async function untilDone<T>(
  step: (force: boolean) => Promise<T>,
  left: (result: T) => number,
  pollMs: number,
  deadline: number,
): Promise<T[]> {
  const passes: T[] = [];
  for (;;) {
    const force = Date.now() >= deadline;
    const result = await step(force);
    passes.push(result);
    if (force || left(result) === 0) return passes;
    await pause(pollMs, deadline);
  }
}

/** What all passes did together: their sums, and for the `last` figures what the last pass found. */
function sumOf<T extends { [K in keyof T]: number }>(passes: T[], last: (keyof T)[]): T {
  const total = { ...passes[passes.length - 1]! };
  for (const key of Object.keys(total) as (keyof T)[]) {
    if (!last.includes(key)) total[key] = passes.reduce<number>((n, p) => n + p[key], 0) as T[keyof T];
  }
  return total;
}

/** A poll's wait, never past the deadline (workflow time: replayed as it was). */
const pause = (pollMs: number, deadline: number) => sleep(Math.max(1, Math.min(pollMs, deadline - Date.now())));

/** Both analytics passes together (the second finds what reached OpenSearch after the first). */
function bothPasses(first: AnalyticsErasure, second: AnalyticsErasure): AnalyticsErasure {
  if ('skipped' in first || 'skipped' in second) return first;
  return {
    event_documents_deleted: first.event_documents_deleted + second.event_documents_deleted,
    message_documents_anonymised: first.message_documents_anonymised + second.message_documents_anonymised,
  };
}

export async function erasureWorkflow(input: ErasureWorkflowInput): Promise<ErasureStores> {
  checkInputVersion(input.version);
  const ref = { tenantId: input.tenantId, erasureId: input.erasureId, recipientHash: input.recipientHash };
  const record = (status: ErasureStatus, stores?: ErasureStores) =>
    steps.recordErasure({ tenantId: ref.tenantId, erasureId: ref.erasureId, status, stores });

  // A campaign slower than this is stuck, not ingesting.
  const deadline = Date.now() + input.maxWaitMs;
  let waiting = false;
  while (Date.now() < deadline && (await steps.countIngestingCampaigns({ tenantId: ref.tenantId })) > 0) {
    if (!waiting) await record('WAITING_FOR_INGEST');
    waiting = true;
    await pause(input.pollMs, deadline);
  }
  await record('RUNNING');
  const first = await steps.eraseRecipientAnalytics(ref);
  await record('RUNNING', { analytics: first });
  const filePasses = await untilDone(
    (force) => steps.eraseRecipientFiles({ ...ref, force }),
    (f) => f.deferred,
    input.pollMs,
    deadline,
  );
  const { deferred: _deferred, ...files } = sumOf(filePasses, ['checked', 'deferred']);
  await record('RUNNING', { files });
  await sleep(input.settleMs);
  const analytics = bothPasses(first, await steps.eraseRecipientAnalytics(ref));
  const items = sumOf(
    await untilDone(
      (force) => steps.eraseRecipientItems({ ...ref, force }),
      (i) => i.in_flight,
      input.pollMs,
      deadline,
    ),
    ['in_flight'],
  );
  const stores: ErasureStores = {
    analytics,
    files,
    messages: { erased: items.messages_erased, suppressed_before_send: items.messages_suppressed_before_send },
    rejected_rows: { erased: items.rejected_rows_erased },
  };
  await record('COMPLETED', stores);
  return stores;
}
