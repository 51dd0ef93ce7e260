// Per-message event webhooks (issue 17, item 1), the pure parts: event types and ids, data,
// endpoint filters, batching, backoff, ageing out, payloads and replay ranges.
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import {
  anyEnabledWants,
  batchPayload,
  endpointWants,
  eventData,
  eventTypeOf,
  MAX_EVENTS_PER_POST,
  messageEventId,
  replayRangeProblem,
  retryDelayMs,
  splitByAge,
  type MessageEvent,
} from '../../src/domain/event-webhooks';
import { takeBatch } from '../../activities/event-webhook.activities';
import type { EventWebhookEndpoint, LoggedEvent } from '../../src/adapters/dynamo/event-webhooks';
import { generateWebhookSecret, signWebhook } from '../../src/domain/webhook-signature';

const event = (i: number, type: MessageEvent['type'] = 'delivered', transaction = 't1'): LoggedEvent => ({
  sk: `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z#evt_${String(i).padStart(32, '0')}`,
  logged_at: '2026-01-01T00:00:00.000Z',
  event: {
    id: `evt_${i}`,
    type,
    occurred_at: '2026-01-01T00:00:00.000Z',
    tenant_id: 'a',
    transaction_id: transaction,
    batch_id: 'b00001',
    message_id: `m${i}`,
    email: `r${i}@example.com`,
    data: {},
  },
});
const endpoint = (fields: Partial<EventWebhookEndpoint> = {}): EventWebhookEndpoint => ({
  tenant_id: 'a',
  endpoint_id: 'e1',
  url: 'https://example.com/hook',
  event_types: ['delivered', 'bounced'],
  status: 'enabled',
  secret: generateWebhookSecret(),
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  cursor: '2026-01-01T00:00:00.000Z#',
  ...fields,
});

describe('event types', () => {
  it('maps each applied effect to its event type, and an opt-in to none', () => {
    expect(eventTypeOf({ kind: 'send', flag: 'send_event_time' })).toBe('sent');
    expect(eventTypeOf({ kind: 'delivery', flag: 'delivered_time' })).toBe('delivered');
    expect(eventTypeOf({ kind: 'bounce', flag: 'soft_bounced_time' })).toBe('bounced');
    expect(eventTypeOf({ kind: 'complaint', flag: 'complained_time' })).toBe('complained');
    expect(eventTypeOf({ kind: 'open', flag: 'opened_time' })).toBe('opened');
    expect(eventTypeOf({ kind: 'click', flag: 'clicked_time' })).toBe('clicked');
    expect(eventTypeOf({ kind: 'reject', flag: 'rejected_time' })).toBe('failed');
    expect(eventTypeOf({ kind: 'delivery_delay', flag: 'delivery_delay_time' })).toBe('delivery_delayed');
    expect(eventTypeOf({ kind: 'subscription', flag: 'unsubscribed_time' })).toBe('unsubscribed');
    expect(eventTypeOf({ kind: 'subscription', flag: 'subscription_changed_time' })).toBeUndefined();
  });

  it('gives an event the same id every time, and another event another id', () => {
    const parts = { transactionId: 't', messageId: 'm', type: 'opened' as const, discriminator: 'opened_time', at: '2026-01-01T00:00:00Z' };
    expect(messageEventId(parts)).toBe(messageEventId({ ...parts }));
    expect(messageEventId(parts)).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(messageEventId({ ...parts, at: '2026-01-01T00:00:01Z' })).not.toBe(messageEventId(parts));
    expect(messageEventId({ ...parts, messageId: 'm2' })).not.toBe(messageEventId(parts));
  });

  it('says whether a bounce is hard or soft and final', () => {
    expect(eventData({ kind: 'bounce', fields: { bounce_class: 'soft' }, softBounce: true, outcome: false })).toEqual({
      bounce_class: 'soft',
      final: false,
    });
    expect(eventData({ kind: 'bounce', fields: {}, outcome: true })).toEqual({ bounce_class: 'hard', final: true });
    expect(eventData({ kind: 'open', fields: { open_user_agent: 'x' }, outcome: false })).toEqual({ open_user_agent: 'x' });
  });
});

describe('endpoint filters', () => {
  it('takes the subscribed types, of one campaign when it names one', () => {
    expect(endpointWants(endpoint(), event(1).event)).toBe(true);
    expect(endpointWants(endpoint(), event(1, 'opened').event)).toBe(false);
    expect(endpointWants(endpoint({ campaign_id: 't2' }), event(1).event)).toBe(false);
    expect(endpointWants(endpoint({ campaign_id: 't1' }), event(1).event)).toBe(true);
  });

  it('logs an event only when an enabled endpoint wants it', () => {
    expect(anyEnabledWants([], event(1).event)).toBe(false);
    expect(anyEnabledWants([endpoint({ status: 'disabled' })], event(1).event)).toBe(false);
    expect(anyEnabledWants([endpoint({ event_types: ['opened'] }), endpoint()], event(1).event)).toBe(true);
  });
});

describe('batches', () => {
  it('takes at most 100 wanted events and moves the cursor past what it skipped', () => {
    const entries = Array.from({ length: 250 }, (_, i) => event(i, i % 2 === 0 ? 'delivered' : 'opened'));
    const { batch, last } = takeBatch(endpoint(), entries);
    expect(batch).toHaveLength(MAX_EVENTS_PER_POST);
    expect(batch.every((e) => e.event.type === 'delivered')).toBe(true);
    expect(last).toBe(batch.at(-1)!.sk);
    const none = takeBatch(endpoint(), [event(1, 'opened'), event(2, 'clicked')]);
    expect(none.batch).toEqual([]);
    expect(none.last).toBe(event(2).sk);
  });

  it('gives up events older than the limit, never the ones after them', () => {
    const now = Date.parse('2026-01-05T00:00:00Z');
    const old = { ...event(1), logged_at: '2026-01-01T00:00:00.000Z' };
    const fresh = { ...event(2), logged_at: '2026-01-04T12:00:00.000Z' };
    const { deliver, givenUp } = splitByAge([old, fresh], now, 3 * 86_400_000);
    expect(givenUp).toEqual([old]);
    expect(deliver).toEqual([fresh]);
    // A replay asked for a day ago of events logged five days ago: they are a day old, not five.
    const replayed = splitByAge([old, fresh], now, 3 * 86_400_000, Date.parse('2026-01-04T00:00:00Z'));
    expect(replayed).toEqual({ deliver: [old, fresh], givenUp: [] });
  });

  it('cuts each string of SES data to 2 KiB, so no event makes its log entry unwritable', () => {
    const data = eventData({ kind: 'click', fields: { link: 'x'.repeat(300_000), ip: '1.2.3.4' }, outcome: false });
    expect((data.link as string).length).toBe(2048);
    expect(data.ip).toBe('1.2.3.4');
  });

  it('backs off doubling from a second up to the cap, with jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 10, 40].map((n) => retryDelayMs(n, 300_000, mid))).toEqual([1000, 2000, 4000, 8000, 300_000, 300_000]);
    expect(retryDelayMs(3, 300_000, () => 0)).toBe(3200);
    expect(retryDelayMs(3, 300_000, () => 1)).toBe(4800);
  });

  it('signs a payload that a Standard Webhooks receiver verifies, with a webhook-id that follows the events', () => {
    const secret = generateWebhookSecret();
    const events = [event(1).event, event(2).event];
    const { webhookId, body } = batchPayload('e1', events);
    expect(batchPayload('e1', events).webhookId).toBe(webhookId);
    expect(batchPayload('e1', [events[0]!]).webhookId).not.toBe(webhookId);
    // A replay's POST of the same events has its own id (a receiver deduping by webhook-id keeps it), stable within that replay.
    expect(batchPayload('e1', events, 'r1').webhookId).not.toBe(webhookId);
    expect(batchPayload('e1', events, 'r1').webhookId).toBe(batchPayload('e1', events, 'r1').webhookId);
    expect(batchPayload('e1', events, 'r2').webhookId).not.toBe(batchPayload('e1', events, 'r1').webhookId);
    expect(batchPayload('e1', events, 'r1').body).toBe(body);
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': webhookId,
      'webhook-timestamp': String(ts),
      'webhook-signature': signWebhook(secret, webhookId, ts, body),
    };
    const verified = new Webhook(secret.slice('whsec_'.length)).verify(body, headers) as { type: string; events: MessageEvent[] };
    expect(verified.type).toBe('message.events');
    expect(verified.events.map((e) => e.id)).toEqual(['evt_1', 'evt_2']);
  });
});

describe('replay ranges', () => {
  const opts = { nowMs: Date.parse('2026-01-10T00:00:00Z'), maxMs: 72 * 3_600_000, retentionMs: 7 * 86_400_000 };
  it('takes ISO times, from before to, within the bound and the log', () => {
    expect(replayRangeProblem('2026-01-09T00:00:00Z', '2026-01-09T01:00:00Z', opts)).toBeUndefined();
    expect(replayRangeProblem('2026-01-09T00:00:00+02:00', undefined, opts)).toBeUndefined();
    expect(replayRangeProblem(undefined, undefined, opts)?.field).toBe('from');
    expect(replayRangeProblem('yesterday', undefined, opts)?.field).toBe('from');
    expect(replayRangeProblem('2026-01-09T00:00:00', undefined, opts)?.field).toBe('from');
    expect(replayRangeProblem('2026-01-09T00:00:00Z', 'soon', opts)?.field).toBe('to');
    expect(replayRangeProblem('2026-01-09T01:00:00Z', '2026-01-09T00:00:00Z', opts)?.field).toBe('to');
    expect(replayRangeProblem('2026-01-04T00:00:00Z', '2026-01-08T00:00:00Z', opts)?.field).toBe('to');
    expect(replayRangeProblem('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', opts)?.field).toBe('from');
    // Not a second live stream: to may not be in the future.
    expect(replayRangeProblem('2026-01-09T00:00:00Z', '2026-01-11T00:00:00Z', opts)).toMatchObject({ field: 'to' });
  });
});
