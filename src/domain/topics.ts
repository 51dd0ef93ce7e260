// Topics (issue 15, item 7): lists a tenant defines (`newsletter`, `product-updates`) that a
// campaign may name. A recipient can leave one topic and keep the others: a topic suppression
// holds back only that topic's campaigns, a global suppression holds back everything.
import { z } from 'zod';

/** Lowercase, starts with a letter or digit, then letters, digits, `_` and `-`; at most 64 characters. */
export const TOPIC_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const topicName = z
  .string()
  .regex(TOPIC_NAME_PATTERN, 'a topic name is 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit');

export const isTopicName = (value: unknown): value is string => typeof value === 'string' && TOPIC_NAME_PATTERN.test(value);

/** Where an unsubscribe applies: the campaign's topic, or everything the tenant sends. */
export type UnsubscribeScope = 'topic' | 'all';

/**
 * The scope an unsubscribe request asks for: `all` only when asked for by name. Anything else
 * (the RFC 8058 one-click body, `scope=topic`, no body) leaves the campaign's topic when it has
 * one; a campaign without a topic has only the global list to leave.
 */
export function unsubscribeScope(topic: string | undefined, asked: unknown): UnsubscribeScope {
  return topic !== undefined && asked !== 'all' ? 'topic' : 'all';
}

/** What a Subscription event's topic preferences ask for (SES `newTopicPreferences`). */
export interface TopicPreferenceChange {
  /** Leave everything: a global suppression. */
  unsubscribeAll: boolean;
  /** Topics left: a topic suppression each. */
  optOut: string[];
  /** Topics joined again: their topic suppressions go. */
  optIn: string[];
}

const preferencesSchema = z.object({
  unsubscribeAll: z.boolean().optional(),
  topicSubscriptionStatus: z
    .array(z.object({ topicName: z.string(), subscriptionStatus: z.string() }).passthrough())
    .max(1000)
    .optional(),
});

/**
 * Reads SES's `subscription.newTopicPreferences`. Losing an opt-out is worse than a suppression
 * too many, so what cannot be read as a topic of ours counts as leaving everything, as every
 * Subscription event did before topics: preferences missing or not of the documented shape, and
 * an opt-out of a name that is no topic name even in lower case (SES contact-list topics are
 * named by whoever made the list). Names are compared in lower case; an opt-in of a name that
 * is no topic name changes nothing.
 */
export function topicPreferenceChange(subscription: Record<string, unknown> | undefined): TopicPreferenceChange {
  const everything = { unsubscribeAll: true, optOut: [], optIn: [] };
  const parsed = preferencesSchema.safeParse(subscription?.newTopicPreferences);
  if (!parsed.success || subscription?.newTopicPreferences === undefined) return everything;
  const statuses = (parsed.data.topicSubscriptionStatus ?? []).map((s) => ({ ...s, topicName: s.topicName.trim().toLowerCase() }));
  if (statuses.some((s) => s.subscriptionStatus === 'OptOut' && !isTopicName(s.topicName))) return everything;
  const named = (status: string) => [
    ...new Set(statuses.filter((s) => s.subscriptionStatus === status && isTopicName(s.topicName)).map((s) => s.topicName)),
  ];
  const optOut = named('OptOut');
  // A topic named both ways is left: the opt-out is the one that must not be lost.
  return { unsubscribeAll: parsed.data.unsubscribeAll === true, optOut, optIn: named('OptIn').filter((t) => !optOut.includes(t)) };
}
