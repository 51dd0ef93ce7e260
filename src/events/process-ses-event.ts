// Applies one SES event to the engine's state: the message (idempotent, out-of-order safe) with
// the transaction's counter in the same DynamoDB transaction, the suppression list, and the
// batch's outcome count (which wakes the batch workflow once all its outcomes are in).
import { batchWorkflowId } from '../contracts';
import { effectOf, messageRefOf, type EffectKind, type MessageEffect, type SesEvent } from '../domain/ses-event';
import { emailDomain } from '../domain/email-address';
import { messageStatusRank } from '../domain/message-status';
import type { MessageRecord } from '../adapters/dynamo/types';
import { messageDocId, type EmailEventDoc, type EmailMessageDoc } from '../adapters/opensearch';
import type { Batches, Messages, Suppressions, Topics, Transactions } from '../ports';
import type { Logger } from '../logging';
import type { SoftBouncePolicy } from '../domain/soft-bounce';
import type { SuppressionTable } from '../adapters/dynamo/suppressions';
import { ERASED_ADDRESS } from '../domain/erasure';
import { bounceTypeLabel, sesEventTypeLabel, type SesEventMetrics } from '../metrics/engine-metrics';
import type { EventLog } from './event-log';
import type { OutcomeNotes } from './batch-outcomes';

export type EventOutcome = 'applied' | 'duplicate' | 'unknown_message' | 'ignored';

export interface EventProcessorDeps {
  /**
   * The campaign's status, read for a soft bounce the policy may retry: a cancelled campaign
   * retries none (the counters move with the message in applyEffect, not through it).
   */
  store?: Pick<Transactions, 'updateCounts' | 'getTransaction'>;
  messages: Pick<Messages, 'findBySesMessageId' | 'applyEffect'>;
  batches: Pick<Batches, 'addBatchOutcome'>;
  suppressions: Pick<Suppressions, 'addSuppression'>;
  /** Topic suppressions, for Subscription events that name topics (issue 15, item 7); every API wires it. */
  topics?: Pick<Topics, 'getTopic' | 'addTopicSuppression' | 'deleteTopicSuppression'>;
  log: Logger;
  /** Called when every sent message of a batch has an outcome, with the batch workflow to wake. */
  onOutcome: (batchWorkflowId: string) => void;
  /**
   * Where a message's first outcome is counted for its batch, in sums (batch-outcomes.ts: the API
   * wires it, so no batch record takes a write per event); without it, one write per outcome and
   * `onOutcome` called from here.
   */
  outcomes?: OutcomeNotes;
  /** Analytics documents for an event and its message, when analytics are on. */
  onIndex?: (event: EmailEventDoc | undefined, message: EmailMessageDoc | undefined) => void;
  /** An event applied (never a duplicate), with its tenant: the reputation guard's counters (issue 16, item 4). */
  onApplied?: (applied: { tenantId: string; kind: EffectKind; messageId: string; bounceType?: string }) => void;
  /** The API's SES event metrics (issue 16, item 1): every outcome by type and tenant, applied bounces and complaints. */
  metrics?: SesEventMetrics;
  /** Retries of soft-bounced messages (issue 17, item 2); without it a soft bounce is final at once. */
  softBounce?: SoftBouncePolicy;
  /** Suppresses an address with `after` soft bounces within `windowMs`, across campaigns (off without it). */
  softBounceSuppression?: { after: number; windowMs: number; store: Pick<SuppressionTable, 'noteSoftBounce'> };
  /** The event log event webhooks deliver from (issue 17, item 1); its write failing fails the event, for SNS to redeliver. */
  eventLog?: Pick<EventLog, 'noteEffect'>;
}

/** What an event turned out to be, for its metrics. */
interface Seen {
  kind?: EffectKind;
  tenant?: string;
  /** The message took the event (its first application), whatever fails after. */
  applied?: boolean;
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
    id: `${ref.sesMessageId || messageDocId(ref.transactionId, ref.messageId)}:${effect.kind}:${effect.at}`,
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
  // A soft bounce: final (its own flag, apart from hard bounces), or retried (no flag: not an outcome).
  const flag = effect.softBounce ? (effect.outcome ? 'soft_bounced' : undefined) : FLAG_OF[effect.kind];
  const status =
    effect.kind === 'send' && before.status === 'SENDING'
      ? 'SENT'
      : effect.status && messageStatusRank(effect.status) > messageStatusRank(before.status)
        ? effect.status
        : before.status;
  const message: EmailMessageDoc = {
    id: messageDocId(ref.transactionId, ref.messageId),
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

/**
 * A Subscription event's topics: a topic suppression for each opted out of (kept if there is
 * one already), and for each opted in, the removal of one made before the event (an opt-in
 * delivered late does not undo a later opt-out). Repeats of the event do the same again.
 */
async function applyTopicChanges(
  deps: EventProcessorDeps,
  effect: MessageEffect,
  topics: { optOut: string[]; optIn: string[] },
  before: MessageRecord,
  target: { transactionId: string; messageId: string; sesMessageId: string },
): Promise<void> {
  if (!deps.topics) throw new Error('a Subscription event names topics, but the event processor has no topic store');
  const store = deps.topics;
  const source = {
    event: effect.kind,
    transaction_id: target.transactionId,
    message_id: target.messageId,
    ses_message_id: target.sesMessageId,
  };
  const email = before.recipient_email;
  await Promise.all([
    ...topics.optOut.map((topic) =>
      store.addTopicSuppression({ tenant_id: before.tenant_id, email, topic, reason: 'UNSUBSCRIBED', source, created_at: effect.at }),
    ),
    ...topics.optIn.map((topic) => store.deleteTopicSuppression(before.tenant_id, topic, email, effect.at)),
  ]);
}

/**
 * The event's topics that the tenant has. An opt-out of one it has not (a contact list of its
 * own naming topics the engine was never told of) is reported, for a global suppression instead.
 */
async function knownTopics(deps: EventProcessorDeps, tenantId: string, topics: { optOut: string[]; optIn: string[] }) {
  if (!deps.topics) throw new Error('a Subscription event names topics, but the event processor has no topic store');
  const store = deps.topics;
  const exists = await Promise.all(topics.optOut.map(async (topic) => (await store.getTopic(tenantId, topic)) !== undefined));
  const optOut = topics.optOut.filter((_, i) => exists[i]);
  return { optOut, optIn: topics.optIn, unknownOptOut: optOut.length < topics.optOut.length };
}

export interface EventDelivery {
  /** When SNS published the event (its Timestamp, the same on every redelivery): the time of an event that has none. */
  publishedAt?: string;
}

export function createSesEventProcessor(deps: EventProcessorDeps) {
  const metrics = deps.metrics;
  return async function processSesEvent(event: SesEvent, delivery: EventDelivery = {}): Promise<EventOutcome> {
    const seen: Seen = {};
    let outcome: EventOutcome | undefined;
    try {
      outcome = await apply(event, delivery, seen);
      return outcome;
    } finally {
      // An event that threw before the message took it is not counted: SNS delivers it again.
      // One that threw after (a suppression write) counts as applied now; its redelivery is a repeat.
      const counted = seen.applied ? 'applied' : outcome;
      if (metrics && counted) {
        const type = seen.kind ?? sesEventTypeLabel(event.eventType ?? event.notificationType);
        const tenant = seen.tenant ?? '';
        metrics.noteTenant(tenant);
        metrics.events.inc({ type, outcome: counted, tenant });
        if (counted === 'applied' && seen.kind === 'bounce') {
          metrics.bounces.inc({ tenant, bounce_type: bounceTypeLabel(event.bounce?.bounceType) });
        }
        if (counted === 'applied' && seen.kind === 'complaint') metrics.complaints.inc({ tenant });
      }
    }
  };

  /**
   * At an event's first application, the message's first outcome: one more for its batch. Before
   * the suppression write, which can fail the delivery (its redelivery is a repeat).
   */
  async function countOutcome(
    effect: NonNullable<ReturnType<typeof effectOf>>,
    before: MessageRecord | undefined,
    target: { transactionId: string; batchId: string },
  ): Promise<void> {
    if (effect.outcome && before && (before as MessageRecord & { outcome_time?: string }).outcome_time === undefined) {
      if (deps.outcomes) {
        deps.outcomes.note(target.transactionId, target.batchId);
        return;
      }
      // The event that completes the batch's count (known once sending is over) wakes the batch workflow, once.
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
  }

  /**
   * A soft bounce noted against its address (a repeat of the event notes the same one again); the
   * suppression it earns once the address has had `after` of them within the window, if any.
   */
  async function repeatedSoftBounce(message: MessageRecord, effect: MessageEffect, sesMessageId: string) {
    const rule = deps.softBounceSuppression;
    if (!rule || rule.after === 0) return undefined;
    const at = Date.parse(effect.at);
    const count = await rule.store.noteSoftBounce(message.tenant_id, message.recipient_email, {
      at: effect.at,
      sesMessageId,
      since: new Date(at - rule.windowMs).toISOString(),
      keepUntil: new Date(at + rule.windowMs).toISOString(),
    });
    return count >= rule.after ? { reason: 'BOUNCE_SOFT_REPEATED' as const } : undefined;
  }

  /**
   * What the event holds back from now on: the suppression it earns (a complaint, a hard bounce,
   * an opt-out, a repeated soft bounce) and its topic changes. An erased person's message still
   * counts its late events, but nothing of them is kept: no suppression of the marker address (a
   * bounce diagnostic can quote the real one), no analytics.
   */
  async function holdBack(
    given: MessageEffect,
    effect: MessageEffect,
    before: MessageRecord,
    target: { transactionId: string; batchId: string; messageId: string; sesMessageId: string },
    applied: boolean,
  ): Promise<void> {
    const erased = before.recipient_email === ERASED_ADDRESS;
    if (erased) return;
    // An opt-out of a topic the tenant does not have would hold back nothing: it leaves everything.
    const topics = effect.topics ? await knownTopics(deps, before.tenant_id, effect.topics) : undefined;
    const suppress =
      effect.suppress ??
      (topics?.unknownOptOut ? { reason: 'UNSUBSCRIBED' as const } : undefined) ??
      (given.softBounce ? await repeatedSoftBounce(before, effect, target.sesMessageId) : undefined);
    if (suppress) {
      // The event's first application suppresses. A repeat (SNS redelivering, SES publishing
      // twice, or another event of the same kind) adds it too, so a complaint still lands if the
      // first write died; but not past a deletion by the tenant after the event's time, or of
      // the suppression this very event made: a replay must not undo the tenant's decision.
      await deps.suppressions.addSuppression(
        {
          tenant_id: before.tenant_id,
          email: before.recipient_email,
          reason: suppress.reason,
          source: {
            event: effect.kind,
            transaction_id: target.transactionId,
            message_id: target.messageId,
            ses_message_id: target.sesMessageId,
            ...effect.fields,
          },
          created_at: effect.at,
        },
        applied ? undefined : { unlessDeletedAfter: effect.at },
      );
    }
    if (topics) await applyTopicChanges(deps, effect, topics, before, target);
  }

  /**
   * The soft-bounce policy for this event: none but for a soft bounce; for one of a cancelled
   * campaign (its batches retry nothing any more), final at once (`soft_bounce_final: cancelled`).
   */
  async function softBouncePolicy(given: MessageEffect, target: { transactionId: string }): Promise<SoftBouncePolicy | undefined> {
    const policy = deps.softBounce;
    if (!policy || !given.softBounce || typeof deps.store?.getTransaction !== 'function' || policy.retryDelaysMs.length === 0)
      return policy;
    const txn = await deps.store.getTransaction(undefined, target.transactionId);
    return txn?.status === 'CANCELLED' ? { ...policy, stopped: 'cancelled' } : policy;
  }

  async function apply(event: SesEvent, delivery: EventDelivery, seen: Seen): Promise<EventOutcome> {
    const given = effectOf(event, delivery.publishedAt ?? new Date().toISOString());
    if (!given) return 'ignored';
    seen.kind = given.kind;
    let ref = messageRefOf(event);
    if (!ref.transactionId || !ref.batchId || !ref.messageId) {
      const found = await deps.messages.findBySesMessageId(ref.sesMessageId);
      if (!found) return 'unknown_message';
      ref = { ...ref, ...found };
    }
    const target = { transactionId: ref.transactionId!, batchId: ref.batchId!, messageId: ref.messageId!, sesMessageId: ref.sesMessageId };
    const round = ref.sendRound !== undefined ? { sendRound: ref.sendRound } : {};
    const result = await deps.messages.applyEffect({ ...target, ...round }, given, { softBounce: await softBouncePolicy(given, target) });
    if (!result.found) return 'unknown_message';
    // An event of an attempt a soft-bounce retry superseded changes nothing of the message; but a
    // complaint, a hard bounce or an opt-out is the person's word whichever send it was about.
    if (result.superseded) {
      if (result.before) await holdBack(given, given, result.before, target, false);
      return 'duplicate';
    }
    // As it applied to this message: a soft bounce the policy retries is no outcome.
    const effect = result.effect ?? given;
    const before = result.before;
    seen.tenant = before?.tenant_id;
    seen.applied = result.applied;
    // Counted at the event's first application, before the writes that can still fail below (a
    // failed suppression write fails the delivery and SNS redelivers it, which is then a repeat).
    if (result.applied && before && deps.onApplied) {
      const bounceType = (effect.fields as Record<string, string | undefined>).bounce_type;
      deps.onApplied({
        tenantId: before.tenant_id,
        kind: effect.kind,
        messageId: `${target.transactionId}/${target.messageId}`,
        bounceType,
      });
    }
    if (result.applied) await countOutcome(effect, before, target);
    const erased = before?.recipient_email === ERASED_ADDRESS;
    if (before) await holdBack(given, effect, before, target, result.applied);
    // After the suppression it earns: a log write that fails (SNS redelivers) never holds one back.
    await deps.eventLog?.noteEffect(result, target);
    if (before && !erased && deps.onIndex && (result.applied || effect.kind === 'open' || effect.kind === 'click')) {
      const docs = analyticsDocs(effect, before, target, result.applied);
      deps.onIndex(docs.event, docs.message);
    }
    if (!result.applied) return 'duplicate';
    deps.log.debug('ses event applied', { transaction_id: target.transactionId, message_id: target.messageId, event: effect.kind });
    return 'applied';
  }
}
