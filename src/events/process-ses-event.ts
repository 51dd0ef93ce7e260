// Applies one SES event to the engine's state: the message (idempotent, out-of-order safe),
// the transaction's counters, the suppression list, and a coalesced nudge to the batch.
import { batchWorkflowId } from '../contracts';
import { effectOf, messageRefOf, type SesEvent } from '../domain/ses-event';
import type { Store } from '../adapters/dynamo/store';
import type { MessageStore } from '../adapters/dynamo/message-store';
import type { Logger } from '../logging';

export type EventOutcome = 'applied' | 'duplicate' | 'unknown_message' | 'ignored';

export interface EventProcessorDeps {
  store: Store;
  messages: MessageStore;
  log: Logger;
  /** Called for events that settle a message's outcome, with the batch workflow to nudge. */
  onOutcome: (batchWorkflowId: string) => void;
}

export function createSesEventProcessor(deps: EventProcessorDeps) {
  return async function processSesEvent(event: SesEvent): Promise<EventOutcome> {
    const effect = effectOf(event, new Date().toISOString());
    if (!effect) return 'ignored';
    let ref = messageRefOf(event);
    if (!ref.transactionId || !ref.batchId || !ref.messageId) {
      const found = await deps.messages.findBySesMessageId(ref.sesMessageId);
      if (!found) return 'unknown_message';
      ref = { ...ref, ...found };
    }
    const target = { transactionId: ref.transactionId!, batchId: ref.batchId!, messageId: ref.messageId!, sesMessageId: ref.sesMessageId };
    const result = await deps.messages.applyEffect(target, effect);
    if (!result.found) return 'unknown_message';
    const before = result.before;
    if (effect.suppress && before) {
      // Suppression is idempotent on its own, so a redelivered complaint still lands if the first write died.
      await deps.messages.addSuppression({
        tenant_id: before.tenant_id,
        email: before.recipient_email,
        reason: effect.suppress.reason,
        source: { event: effect.kind, transaction_id: target.transactionId, message_id: target.messageId, ses_message_id: target.sesMessageId, ...effect.fields },
        created_at: effect.at,
      });
    }
    if (!result.applied) return 'duplicate';
    if (effect.counter) await deps.store.updateCounts(target.transactionId, { [effect.counter]: 1 });
    if (effect.outcome) deps.onOutcome(batchWorkflowId(target.transactionId, Number(target.batchId.slice(1))));
    deps.log.debug('ses event applied', { transaction_id: target.transactionId, message_id: target.messageId, event: effect.kind });
    return 'applied';
  };
}
