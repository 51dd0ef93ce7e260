import { describe, expect, it } from 'vitest';
import { effectOf, messageRefOf, sesEventSchema } from '../../src/domain/ses-event';
import { publishesSendEvents } from '../../src/adapters/ses';

const mail = {
  messageId: 'ses-1',
  timestamp: '2026-01-01T00:00:00.000Z',
  tags: { transaction_id: ['t1'], batch_id: ['b00001'] },
  headers: [{ name: 'X-Message-Id', value: 'b00001-r000000001' }],
};
const parse = (event: object) => sesEventSchema.parse({ mail, ...event });
const now = '2026-01-02T00:00:00.000Z';

describe('SES events', () => {
  it('finds the message from tags, falling back to headers', () => {
    expect(messageRefOf(parse({ eventType: 'Send' }))).toEqual({
      sesMessageId: 'ses-1',
      transactionId: 't1',
      batchId: 'b00001',
      messageId: 'b00001-r000000001',
    });
  });

  it('maps every event type to its effect', () => {
    const cases: [object, Record<string, unknown>][] = [
      [{ eventType: 'Send' }, { kind: 'send', outcome: false }],
      [
        { eventType: 'Delivery', delivery: { timestamp: now, processingTimeMillis: 12 } },
        { kind: 'delivery', status: 'DELIVERED', counter: 'delivered', outcome: true, at: now },
      ],
      [
        {
          eventType: 'Bounce',
          bounce: {
            bounceType: 'Permanent',
            bounceSubType: 'General',
            bouncedRecipients: [{ emailAddress: 'a@b.co', diagnosticCode: 'smtp; 550' }],
          },
        },
        {
          kind: 'bounce',
          status: 'BOUNCED',
          suppress: { reason: 'BOUNCE_PERMANENT' },
          fields: { bounce_type: 'Permanent', bounce_subtype: 'General', bounce_diagnostic: 'smtp; 550' },
        },
      ],
      [
        { eventType: 'Bounce', bounce: { bounceType: 'Transient', bounceSubType: 'MailboxFull' } },
        { kind: 'bounce', outcome: true },
      ],
      [{ eventType: 'Bounce', bounce: { bounceType: 'Undetermined' } }, { kind: 'bounce' }],
      [
        { eventType: 'Complaint', complaint: { complaintFeedbackType: 'abuse' } },
        { kind: 'complaint', status: 'COMPLAINED', suppress: { reason: 'COMPLAINT' } },
      ],
      [
        { eventType: 'Reject', reject: { reason: 'Bad content' } },
        { kind: 'reject', status: 'FAILED', counter: 'failed', outcome: true },
      ],
      [
        { eventType: 'Rendering Failure', failure: { errorMessage: 'missing var' } },
        { kind: 'rendering_failure', status: 'FAILED' },
      ],
      [
        { eventType: 'Open', open: { userAgent: 'UA', ipAddress: '192.0.2.1' } },
        { kind: 'open', status: 'OPENED', outcome: false, fields: { open_user_agent: 'UA', open_ip: '192.0.2.1' } },
      ],
      [
        { eventType: 'Click', click: { link: 'https://x.example/' } },
        { kind: 'click', status: 'CLICKED', outcome: false, fields: { clicked_url: 'https://x.example/' } },
      ],
      [
        { eventType: 'DeliveryDelay', deliveryDelay: { delayType: 'MailboxFull' } },
        { kind: 'delivery_delay', outcome: false },
      ],
      [
        { eventType: 'Subscription', subscription: {} },
        { kind: 'subscription', suppress: { reason: 'UNSUBSCRIBED' } },
      ],
      [{ notificationType: 'Delivery', delivery: {} }, { kind: 'delivery' }],
    ];
    for (const [event, expected] of cases) expect(effectOf(parse(event), now), JSON.stringify(event)).toMatchObject(expected);
  });

  it('suppresses on permanent bounces only, and a delay changes no status', () => {
    expect(effectOf(parse({ eventType: 'Bounce', bounce: { bounceType: 'Transient' } }), now)!.suppress).toBeUndefined();
    expect(effectOf(parse({ eventType: 'Bounce', bounce: { bounceType: 'Undetermined' } }), now)!.suppress).toBeUndefined();
    expect(effectOf(parse({ eventType: 'DeliveryDelay', deliveryDelay: {} }), now)!.status).toBeUndefined();
  });

  // Issue 17, item 5: an event's time comes from the event, so every delivery of it has the same
  // time (and analytics id); Reject and Rendering Failure carry none of their own but the mail's.
  it('dates each event from the event, never from when it was received', () => {
    const other = '2026-01-03T00:00:00.000Z';
    for (const event of [
      { eventType: 'Reject', reject: { reason: 'Bad content' } },
      { eventType: 'Rendering Failure', failure: { errorMessage: 'missing var' } },
      { eventType: 'Subscription', subscription: {} },
      { eventType: 'Send' },
    ]) {
      expect(effectOf(parse(event), now)!.at, JSON.stringify(event)).toBe(mail.timestamp);
      expect(effectOf(parse(event), other)!.at).toBe(effectOf(parse(event), now)!.at);
    }
    // Without any time in the event, the time SNS published it (the same on every redelivery).
    expect(effectOf(sesEventSchema.parse({ eventType: 'Reject', mail: { messageId: 'ses-2' } }), now)!.at).toBe(now);
  });

  it('normalises event times with offsets to UTC, and ignores a time that is not one', () => {
    const at = (event: object) => effectOf(parse(event), now)!.at;
    expect(at({ eventType: 'Delivery', delivery: { timestamp: '2026-01-01T02:30:00+02:00' } })).toBe('2026-01-01T00:30:00.000Z');
    expect(at({ eventType: 'Bounce', bounce: { bounceType: 'Permanent', timestamp: '2026-01-01T00:30:00Z' } })).toBe(
      '2026-01-01T00:30:00.000Z',
    );
    expect(at({ eventType: 'Open', open: { timestamp: '2025-12-31T19:30:00.5-05:00' } })).toBe('2026-01-01T00:30:00.500Z');
    expect(at({ eventType: 'Subscription', subscription: { timestamp: '2026-01-01T01:00:00+01:00' } })).toBe('2026-01-01T00:00:00.000Z');
    // Not a time: the mail's.
    expect(at({ eventType: 'Click', click: { timestamp: 'yesterday' } })).toBe(mail.timestamp);
    expect(at({ eventType: 'DeliveryDelay', deliveryDelay: { timestamp: '' } })).toBe(mail.timestamp);
  });

  it('ignores what it does not know', () => {
    expect(effectOf(parse({ eventType: 'Mystery' }), now)).toBeUndefined();
  });
});

describe('configuration set check', () => {
  it('counts only an enabled destination that receives SEND', () => {
    expect(publishesSendEvents([])).toBe(false);
    expect(publishesSendEvents([{ Name: 'sns', Enabled: true, MatchingEventTypes: ['DELIVERY', 'BOUNCE'] }])).toBe(false);
    expect(publishesSendEvents([{ Name: 'sns', Enabled: false, MatchingEventTypes: ['SEND'] }])).toBe(false);
    expect(publishesSendEvents([{ Name: 'sns', Enabled: true, MatchingEventTypes: ['SEND', 'DELIVERY'] }])).toBe(true);
    expect(publishesSendEvents([{ Name: 'a', MatchingEventTypes: ['SEND'] }])).toBe(true);
  });
});
