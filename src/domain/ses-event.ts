// SES event-publishing records (what SES sends to SNS for a configuration set) and what each
// one does to a message. Pure: the event processor applies the effect with conditional writes.
import { z } from 'zod';
import type { MessageStatus } from './message-status';
import { topicPreferenceChange } from './topics';

const tagValues = z.record(z.string(), z.array(z.string())).optional();
const header = z.object({ name: z.string(), value: z.string() });

export const sesEventSchema = z
  .object({
    eventType: z.string().optional(),
    notificationType: z.string().optional(),
    mail: z
      .object({
        messageId: z.string(),
        timestamp: z.string().optional(),
        destination: z.array(z.string()).optional(),
        tags: tagValues,
        headers: z.array(header).optional(),
      })
      .passthrough(),
    delivery: z.record(z.string(), z.unknown()).optional(),
    bounce: z
      .object({
        bounceType: z.string(),
        bounceSubType: z.string().optional(),
        bouncedRecipients: z
          .array(z.object({ emailAddress: z.string(), diagnosticCode: z.string().optional(), status: z.string().optional() }).passthrough())
          .optional(),
        timestamp: z.string().optional(),
      })
      .passthrough()
      .optional(),
    complaint: z
      .object({
        complaintFeedbackType: z.string().optional(),
        complaintSubType: z.string().nullable().optional(),
        timestamp: z.string().optional(),
        userAgent: z.string().optional(),
      })
      .passthrough()
      .optional(),
    open: z
      .object({ timestamp: z.string().optional(), userAgent: z.string().optional(), ipAddress: z.string().optional() })
      .passthrough()
      .optional(),
    click: z
      .object({
        timestamp: z.string().optional(),
        userAgent: z.string().optional(),
        ipAddress: z.string().optional(),
        link: z.string().optional(),
      })
      .passthrough()
      .optional(),
    reject: z.object({ reason: z.string().optional() }).passthrough().optional(),
    failure: z.object({ errorMessage: z.string().optional(), templateName: z.string().optional() }).passthrough().optional(),
    deliveryDelay: z
      .object({ delayType: z.string().optional(), timestamp: z.string().optional(), expirationTime: z.string().optional() })
      .passthrough()
      .optional(),
    subscription: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export type SesEvent = z.infer<typeof sesEventSchema>;

export type EffectKind =
  'send' | 'delivery' | 'bounce' | 'complaint' | 'reject' | 'rendering_failure' | 'open' | 'click' | 'delivery_delay' | 'subscription';

export type CounterName = 'delivered' | 'bounced' | 'soft_bounced' | 'complained' | 'opened' | 'clicked' | 'failed';

export interface MessageEffect {
  kind: EffectKind;
  at: string;
  /** Where the message should be at least; never moves it back. */
  status?: MessageStatus;
  /** Attribute set on the first occurrence; its presence makes a repeat a no-op. */
  flag: string;
  /** Transaction counter bumped once per message, on the first occurrence. */
  counter?: CounterName;
  /** The message's delivery outcome is known (the batch can stop waiting for it). */
  outcome: boolean;
  suppress?: { reason: 'BOUNCE_PERMANENT' | 'COMPLAINT' | 'UNSUBSCRIBED' | 'BOUNCE_SOFT_REPEATED' };
  /**
   * A soft bounce (Transient or Undetermined): as given, the message's final outcome; the message
   * store turns it into a retry (SOFT_BOUNCED, no outcome) while the soft-bounce policy allows one.
   */
  softBounce?: boolean;
  /** When SES took the mail (its `mail.timestamp`): the first send time of a message whose own is not recorded yet. */
  mailAt?: string;
  /** A Subscription event's topics (issue 15, item 7): suppressed for those opted out, no longer for those opted in. */
  topics?: { optOut: string[]; optIn: string[] };
  fields: Record<string, unknown>;
}

export interface MessageRef {
  sesMessageId: string;
  transactionId?: string;
  batchId?: string;
  messageId?: string;
  /**
   * The send round of the attempt (issue 17, item 2): 0 the first send, r the r-th soft-bounce
   * retry, from the tag or header the send path puts on a retry; absent on a first send.
   */
  sendRound?: number;
}

function firstTag(event: SesEvent, tag: string, headerName: string): string | undefined {
  const fromTag = event.mail.tags?.[tag]?.[0];
  if (fromTag) return fromTag;
  return event.mail.headers?.find((h) => h.name.toLowerCase() === headerName.toLowerCase())?.value;
}

/** The engine's own ids from tags (or headers, which survive where tags do not); else only SES's. */
export function messageRefOf(event: SesEvent): MessageRef {
  return {
    sesMessageId: event.mail.messageId,
    transactionId: firstTag(event, 'transaction_id', 'X-Transaction-Id'),
    batchId: firstTag(event, 'batch_id', 'X-Batch-Id'),
    messageId: firstTag(event, 'message_id', 'X-Message-Id'),
    ...roundOf(firstTag(event, 'send_round', 'X-Send-Round')),
  };
}

function roundOf(value: string | undefined): { sendRound?: number } {
  return value !== undefined && /^\d{1,3}$/.test(value) ? { sendRound: Number(value) } : {};
}

/**
 * SES's list management: `unsubscribeAll` (or preferences that cannot be read, as every
 * Subscription event was before topics) suppresses everything; otherwise each topic opted out
 * of gets a topic suppression and each opted in loses its own. Only an opt-out marks the message
 * unsubscribed.
 */
function subscriptionEffect(event: SesEvent, at: string): MessageEffect {
  const change = topicPreferenceChange(event.subscription);
  const leaves = change.unsubscribeAll || change.optOut.length > 0;
  return {
    kind: 'subscription',
    at,
    flag: leaves ? 'unsubscribed_time' : 'subscription_changed_time',
    outcome: false,
    ...(change.unsubscribeAll
      ? { suppress: { reason: 'UNSUBSCRIBED' as const } }
      : { topics: { optOut: change.optOut, optIn: change.optIn } }),
    // A few names on the message, not all of them: its item stays small whatever the event lists.
    fields: clean({
      contact_list: typeof event.subscription?.contactList === 'string' ? event.subscription.contactList.slice(0, 200) : undefined,
      unsubscribe_scope: change.unsubscribeAll ? 'all' : 'topic',
      topics_opted_out: change.unsubscribeAll || change.optOut.length === 0 ? undefined : change.optOut.slice(0, 20),
      topics_opted_in: change.unsubscribeAll || change.optIn.length === 0 ? undefined : change.optIn.slice(0, 20),
    }),
  };
}

const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

// An ISO 8601 time with its zone (SES writes Z; an offset is read as one). A time without a zone
// would be read in the process's own, so it is not taken.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** `value` as a UTC time with milliseconds (the form every stored time has), if it is a time. */
export function utcTime(value: unknown): string | undefined {
  if (typeof value !== 'string' || !ISO_TIME.test(value)) return undefined;
  // Past milliseconds, Date cannot read the digits: keep three.
  const ms = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * What an SES event does to its message, dated from the event itself: its own time, else its
 * mail's (a Reject or Rendering Failure happens when the mail is sent and carries no other),
 * else `fallback` (the time SNS published it, the same on every redelivery). So every delivery
 * of one event has one time, and one analytics id.
 */
export function effectOf(event: SesEvent, fallback: string): MessageEffect | undefined {
  const type = (event.eventType ?? event.notificationType ?? '').toLowerCase().replace(/\s+/g, '');
  const mailTime = utcTime(event.mail.timestamp) ?? fallback;
  const timeOf = (value: unknown) => utcTime(value) ?? mailTime;
  switch (type) {
    case 'send':
      return { kind: 'send', at: mailTime, flag: 'send_event_time', outcome: false, fields: {} };
    case 'delivery': {
      const d = event.delivery ?? {};
      return {
        kind: 'delivery',
        at: timeOf(d.timestamp),
        status: 'DELIVERED',
        flag: 'delivered_time',
        counter: 'delivered',
        outcome: true,
        fields: clean({ processing_time_ms: d.processingTimeMillis, smtp_response: d.smtpResponse }),
      };
    }
    case 'bounce': {
      const b = event.bounce!;
      const permanent = b.bounceType === 'Permanent';
      // Only a permanent bounce is hard: Transient and Undetermined are counted apart (issue 17, item 2).
      return {
        kind: 'bounce',
        at: timeOf(b.timestamp),
        status: 'BOUNCED',
        flag: permanent ? 'bounced_time' : 'soft_bounced_time',
        counter: permanent ? 'bounced' : 'soft_bounced',
        outcome: true,
        suppress: permanent ? { reason: 'BOUNCE_PERMANENT' } : undefined,
        ...(permanent ? {} : { softBounce: true, ...(utcTime(event.mail.timestamp) ? { mailAt: utcTime(event.mail.timestamp) } : {}) }),
        fields: clean({
          bounce_class: permanent ? 'hard' : 'soft',
          bounce_type: b.bounceType,
          bounce_subtype: b.bounceSubType,
          bounce_diagnostic: b.bouncedRecipients?.[0]?.diagnosticCode,
          bounce_status: b.bouncedRecipients?.[0]?.status,
        }),
      };
    }
    case 'complaint': {
      const c = event.complaint ?? {};
      return {
        kind: 'complaint',
        at: timeOf(c.timestamp),
        status: 'COMPLAINED',
        flag: 'complained_time',
        counter: 'complained',
        outcome: true,
        suppress: { reason: 'COMPLAINT' },
        fields: clean({
          complaint_type: c.complaintFeedbackType,
          complaint_subtype: c.complaintSubType,
          complaint_user_agent: c.userAgent,
        }),
      };
    }
    case 'reject':
      return {
        kind: 'reject',
        at: mailTime,
        status: 'FAILED',
        flag: 'rejected_time',
        counter: 'failed',
        outcome: true,
        fields: clean({ failure_reason: `rejected by SES: ${event.reject?.reason ?? 'unknown'}` }),
      };
    case 'renderingfailure':
      return {
        kind: 'rendering_failure',
        at: mailTime,
        status: 'FAILED',
        flag: 'rendering_failed_time',
        counter: 'failed',
        outcome: true,
        fields: clean({ failure_reason: `rendering failure: ${event.failure?.errorMessage ?? 'unknown'}` }),
      };
    case 'open':
      return {
        kind: 'open',
        at: timeOf(event.open?.timestamp),
        status: 'OPENED',
        flag: 'opened_time',
        counter: 'opened',
        outcome: false,
        fields: clean({ open_user_agent: event.open?.userAgent, open_ip: event.open?.ipAddress }),
      };
    case 'click':
      return {
        kind: 'click',
        at: timeOf(event.click?.timestamp),
        status: 'CLICKED',
        flag: 'clicked_time',
        counter: 'clicked',
        outcome: false,
        fields: clean({ clicked_url: event.click?.link, click_user_agent: event.click?.userAgent, click_ip: event.click?.ipAddress }),
      };
    case 'deliverydelay':
      return {
        kind: 'delivery_delay',
        at: timeOf(event.deliveryDelay?.timestamp),
        flag: 'delivery_delay_time',
        outcome: false,
        fields: clean({ delay_type: event.deliveryDelay?.delayType, delay_expires: event.deliveryDelay?.expirationTime }),
      };
    case 'subscription':
      return subscriptionEffect(event, timeOf(event.subscription?.timestamp));
    default:
      return undefined;
  }
}
