// Topics (issue 15, item 7) as pure rules: what a Subscription event's newTopicPreferences ask
// for, and where an unsubscribe request applies.
import { describe, expect, it } from 'vitest';
import { effectOf, sesEventSchema } from '../../src/domain/ses-event';
import { isTopicName, topicPreferenceChange, unsubscribeScope } from '../../src/domain/topics';

const now = '2026-01-01T00:00:00.000Z';
const subscription = (sub: Record<string, unknown>) =>
  effectOf(sesEventSchema.parse({ eventType: 'Subscription', mail: { messageId: 'ses-1' }, subscription: sub }), now)!;
const prefs = (unsubscribeAll: boolean, statuses: [string, string][]) => ({
  contactList: 'list',
  timestamp: '2026-01-01T00:00:05.000Z',
  source: 'UnsubscribeHeader',
  newTopicPreferences: {
    unsubscribeAll,
    topicSubscriptionStatus: statuses.map(([topicName, subscriptionStatus]) => ({ topicName, subscriptionStatus })),
  },
});

describe('SES Subscription events and topics', () => {
  it('unsubscribeAll suppresses everything, and touches no topic', () => {
    const effect = subscription(prefs(true, [['newsletter', 'OptOut']]));
    expect(effect).toMatchObject({ kind: 'subscription', suppress: { reason: 'UNSUBSCRIBED' }, flag: 'unsubscribed_time' });
    expect(effect.topics).toBeUndefined();
    expect(effect.at).toBe('2026-01-01T00:00:05.000Z');
  });

  it('topic opt-outs and opt-ins are topic changes only, no global suppression', () => {
    const effect = subscription(
      prefs(false, [
        ['newsletter', 'OptOut'],
        ['product-updates', 'OptIn'],
        ['offers', 'OptOut'],
      ]),
    );
    expect(effect.suppress).toBeUndefined();
    expect(effect.topics).toEqual({ optOut: ['newsletter', 'offers'], optIn: ['product-updates'] });
    expect(effect.flag).toBe('unsubscribed_time');
    expect(effect.fields).toMatchObject({ unsubscribe_scope: 'topic', topics_opted_out: ['newsletter', 'offers'] });
  });

  it('an opt-in alone does not mark the message unsubscribed', () => {
    const effect = subscription(prefs(false, [['newsletter', 'OptIn']]));
    expect(effect.topics).toEqual({ optOut: [], optIn: ['newsletter'] });
    expect(effect.flag).toBe('subscription_changed_time');
  });

  it('preferences it cannot read count as leaving everything, as before topics', () => {
    for (const sub of [{}, { newTopicPreferences: 'yes' }, { newTopicPreferences: { topicSubscriptionStatus: 'OptOut' } }]) {
      expect(subscription(sub).suppress, JSON.stringify(sub)).toEqual({ reason: 'UNSUBSCRIBED' });
    }
  });

  it('compares names in lower case, keeps an opt-out named both ways, and ignores opt-ins of names that are no topic', () => {
    const change = topicPreferenceChange(
      prefs(false, [
        ['News', 'OptIn'],
        [' news ', 'OptOut'],
        ['Offers', 'OptOut'],
        ['Bad Name', 'OptIn'],
        ['x'.repeat(65), 'OptIn'],
      ]),
    );
    expect(change).toEqual({ unsubscribeAll: false, optOut: ['news', 'offers'], optIn: [] });
  });

  it('an opt-out of a name that is no topic name leaves everything (fail safe)', () => {
    for (const bad of ['Bad Name', 'x'.repeat(65), 'é', '-news', '']) {
      const change = topicPreferenceChange(
        prefs(false, [
          ['news', 'OptIn'],
          [bad, 'OptOut'],
        ]),
      );
      expect(change, bad).toEqual({ unsubscribeAll: true, optOut: [], optIn: [] });
      expect(subscription(prefs(false, [[bad, 'OptOut']])).suppress, bad).toEqual({ reason: 'UNSUBSCRIBED' });
    }
  });
});

describe('unsubscribe scope and topic names', () => {
  it('a campaign with a topic leaves the topic unless everything is asked for; without one, everything', () => {
    expect(unsubscribeScope('newsletter', undefined)).toBe('topic');
    expect(unsubscribeScope('newsletter', 'topic')).toBe('topic');
    expect(unsubscribeScope('newsletter', 'One-Click')).toBe('topic');
    expect(unsubscribeScope('newsletter', 'all')).toBe('all');
    expect(unsubscribeScope(undefined, 'topic')).toBe('all');
    expect(unsubscribeScope(undefined, undefined)).toBe('all');
  });

  it('names are lowercase letters, digits, _ and -, 1 to 64, not starting with _ or -', () => {
    for (const ok of ['a', 'newsletter', 'product-updates', '2024_q1', 'x'.repeat(64)]) expect(isTopicName(ok), ok).toBe(true);
    for (const bad of ['', '-a', '_a', 'News', 'a b', 'a#b', 'x'.repeat(65), 'é']) expect(isTopicName(bad), bad).toBe(false);
  });
});
