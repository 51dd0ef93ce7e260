// A soft bounce the send path or a recount ended (a retry that did not go out) counts as the
// message's outcome, as one an SES event ends does: the transaction's soft_bounced counter and the
// batch's outcome count (which the event endpoint compares with what the batch awaits, to wake it).
import type { MessageRecord } from '../src/adapters/dynamo/types';
import type { ActivityDeps } from './deps';

/** Called once, after the conditional write that ended it succeeded (a crash before leaves the counter to the reconcile at COMPLETED). */
export async function countEndedSoftBounce(deps: Pick<ActivityDeps, 'store' | 'batches'>, m: MessageRecord): Promise<void> {
  await deps.store.updateCounts(m.transaction_id, { soft_bounced: 1 });
  await deps.batches.addBatchOutcome(m.transaction_id, m.batch_id);
}
