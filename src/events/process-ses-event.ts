// Applies one SES event to the engine's state: the message (idempotent, out-of-order safe) with
// the transaction's counter in the same DynamoDB transaction, the suppression list, and the
// batch's outcome count (which wakes the batch workflow once all its outcomes are in).
import { batchWorkflowId } from '../contracts';
import { effectOf, messageRefOf, type EffectKind, type MessageEffect, type SesEvent } from '../domain/ses-event';
import { emailDomain } from '../domain/email-address';
import { messageStatusRank } from '../domain/message-status';
import type { MessageRecord } from '../adapters/dynamo/types';
import type { EmailEventDoc, EmailMessageDoc } from '../adapters/opensearch';
import type { Batches, Messages, Suppressions, Transactions } from '../ports';
import type { Logger } from '../logging';

export type EventOutcome = 'applied' | 'duplicate' | 'unknown_message' | 'ignored';

export interface EventProcessorDeps {
  /** Unused: the counters move with the message in applyEffect. Kept so existing wiring type-checks. */
  store?: Pick<Transactions, 'updateCounts'>;
  messages: Pick<Messages, 'findBySesMessageId' | 'applyEffect'>;
  batches: Pick<Batches, 'addBatchOutcome'>;
  suppressions: Pick<Suppressions, 'addSuppression'>;
  log: Logger;
  /** Called when every sent message of a batch has an outcome, with the batch workflow to wake. */
  onOutcome: (batchWorkflowId: string) => void;
  /** Analytics documents for an event and its message, when analytics are on. */
  onIndex?: (event: EmailEventDoc | undefined, message: EmailMessageDoc | undefined) => void;
}

const FLAG_OF: Partial<Record<EffectKind, keyof EmailMessageDoc>> = {
  send: 'sent',
  delivery: 'delivered',
  bounce: 'bounced',
  complaint: 'complained',
  open: 'opened',
  click: 'clicked',
  reject: 'failed',
  rendering_failure: 'failed',
};

/** The analytics documents for an applied (or repeated engagement) event. */
function analyticsDocs(
  effect: MessageEffect,
  before: MessageRecord,
  ref: { transactionId: string; batchId: string; messageId: string; sesMessageId: string },
  applied: boolean,
) {
  const f = effect.fields as Record<string, string | undefined>;
  // Same SES event twice → same id (indexing is idempotent); a second open is a new document.
  const event: EmailEventDoc = {
    id: `${ref.sesMessageId || ref.messageId}:${effect.kind}:${effect.at}`,
    transaction_id: ref.transactionId,
    batch_id: ref.batchId,
    message_id: ref.messageId,
    tenant_id: before.tenant_id,
    recipient_domain: emailDomain(before.recipient_email),
    event_type: effect.kind,
    timestamp: effect.at,
    bounce_type: f.bounce_type,
    bounce_subtype: f.bounce_subtype,
    complaint_type: f.complaint_type,
    user_agent: f.open_user_agent ?? f.click_user_agent,
    url: f.clicked_url,
    ses_message_id: ref.sesMessageId || undefined,
  };
  if (!applied) return { event, message: undefined };
  const flag = FLAG_OF[effect.kind];
  const status =
    effect.kind === 'send' && before.status === 'SENDING'
      ? 'SENT'
      : effect.status && messageStatusRank(effect.status) > messageStatusRank(before.status)
        ? effect.status
        : before.status;
  const message: EmailMessageDoc = {
    id: ref.messageId,
    transaction_id: ref.transactionId,
    batch_id: ref.batchId,
    tenant_id: before.tenant_id,
    recipient_domain: emailDomain(before.recipient_email),
    ses_message_id: ref.sesMessageId || undefined,
    status,
    updated_at: effect.at,
    ...(flag ? { [flag]: true, [`${flag}_at`]: effect.at } : {}),
    ...(effect.kind === 'bounce' ? { bounce_type: f.bounce_type, bounce_subtype: f.bounce_subtype } : {}),
    ...(effect.kind === 'complaint' ? { complaint_type: f.complaint_type } : {}),
  };
  return { event, message };
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
      await deps.suppressions.addSuppression({
        tenant_id: before.tenant_id,
        email: before.recipient_email,
        reason: effect.suppress.reason,
        source: {
          event: effect.kind,
          transaction_id: target.transactionId,
          message_id: target.messageId,
          ses_message_id: target.sesMessageId,
          ...effect.fields,
        },
        created_at: effect.at,
      });
    }
    if (before && deps.onIndex && (result.applied || effect.kind === 'open' || effect.kind === 'click')) {
      const docs = analyticsDocs(effect, before, target, result.applied);
      deps.onIndex(docs.event, docs.message);
    }
    if (!result.applied) return 'duplicate';
    if (effect.outcome && before && (before as MessageRecord & { outcome_time?: string }).outcome_time === undefined) {
      // The message's first outcome: one more for its batch. The event that completes the
      // batch's count (known once sending is over) wakes the batch workflow, once.
      const batch = await deps.batches.addBatchOutcome(target.transactionId, target.batchId).catch((error: unknown) => {
        deps.log.warn('batch outcome count not updated', {
          transaction_id: target.transactionId,
          batch_id: target.batchId,
          error: (error as Error).message,
        });
        return undefined;
      });
      if (batch && batch.awaiting !== undefined && batch.outcomes === batch.awaiting) {
        deps.onOutcome(batchWorkflowId(target.transactionId, Number(target.batchId.slice(1))));
      }
    }
    deps.log.debug('ses event applied', { transaction_id: target.transactionId, message_id: target.messageId, event: effect.kind });
    return 'applied';
  };
}
