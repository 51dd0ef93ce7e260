// Issue 17, item 2: the soft-bounce policy's decision, its setting, and the effect of a soft bounce.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideSoftBounce, parseRetryDelays } from '../../src/domain/soft-bounce';
import { effectOf, sesEventSchema, type MessageEffect } from '../../src/domain/ses-event';
import { effectFor } from '../../src/adapters/dynamo/messages';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { loadConfig } from '../../src/config';

const HOUR = 3_600_000;
const policy = { retryDelaysMs: [HOUR, 4 * HOUR, 12 * HOUR], finalStateDeadlineMs: 24 * HOUR };
const sent = '2026-01-01T00:00:00.000Z';
const plus = (ms: number) => new Date(Date.parse(sent) + ms).toISOString();

describe('soft-bounce policy', () => {
  it('retries after 1 h, 4 h and 12 h, then is final', () => {
    expect(decideSoftBounce(policy, { retriesDone: 0, firstSentAt: sent }, plus(60_000))).toEqual({
      retry: true,
      retryAt: plus(60_000 + HOUR),
      retriesDone: 1,
    });
    expect(decideSoftBounce(policy, { retriesDone: 1, firstSentAt: sent }, plus(HOUR))).toMatchObject({ retryAt: plus(5 * HOUR) });
    expect(decideSoftBounce(policy, { retriesDone: 2, firstSentAt: sent }, plus(5 * HOUR))).toMatchObject({ retryAt: plus(17 * HOUR) });
    expect(decideSoftBounce(policy, { retriesDone: 3, firstSentAt: sent }, plus(17 * HOUR))).toEqual({
      retry: false,
      reason: 'no_retries_left',
    });
  });

  it('never schedules a retry past the final-state deadline from the first send, nor without knowing it', () => {
    expect(decideSoftBounce(policy, { retriesDone: 2, firstSentAt: sent }, plus(13 * HOUR))).toEqual({
      retry: false,
      reason: 'past_deadline',
    });
    expect(decideSoftBounce(policy, { retriesDone: 0 }, plus(0))).toEqual({ retry: false, reason: 'past_deadline' });
    expect(decideSoftBounce({ ...policy, retryDelaysMs: [] }, { retriesDone: 0, firstSentAt: sent }, sent)).toEqual({
      retry: false,
      reason: 'no_retries_left',
    });
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 48 * HOUR }), { maxLength: 5 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 30 * HOUR }),
        (delays, done, after) => {
          const d = decideSoftBounce(
            { retryDelaysMs: delays, finalStateDeadlineMs: 24 * HOUR },
            { retriesDone: done, firstSentAt: sent },
            plus(after),
          );
          if (!d.retry) return;
          expect(done).toBeLessThan(delays.length);
          expect(Date.parse(d.retryAt)).toBeLessThanOrEqual(Date.parse(sent) + 24 * HOUR);
          expect(Date.parse(d.retryAt) - Date.parse(plus(after))).toBe(delays[done]);
          expect(d.retriesDone).toBe(done + 1);
        },
      ),
    );
  });

  it('reads SOFT_BOUNCE_RETRY_DELAYS_SECONDS, and refuses a bad one naming it', () => {
    expect(parseRetryDelays('3600, 14400,43200')).toEqual([HOUR, 4 * HOUR, 12 * HOUR]);
    expect(parseRetryDelays('')).toEqual([]);
    expect(() => parseRetryDelays('1h')).toThrow(/positive number of seconds/);
    expect(() => parseRetryDelays('0')).toThrow();
    expect(loadConfig({}).SOFT_BOUNCE_RETRY_DELAYS_SECONDS).toBe('3600,14400,43200');
    expect(() => loadConfig({ SOFT_BOUNCE_RETRY_DELAYS_SECONDS: '-5' })).toThrow(/SOFT_BOUNCE_RETRY_DELAYS_SECONDS/);
  });
});

describe('a soft bounce event', () => {
  const mail = { messageId: 'ses-1', timestamp: sent };
  const effect = (bounceType: string) => effectOf(sesEventSchema.parse({ eventType: 'Bounce', mail, bounce: { bounceType } }), sent)!;

  it('is counted apart from hard bounces and suppresses nothing', () => {
    for (const type of ['Transient', 'Undetermined']) {
      expect(effect(type)).toMatchObject({
        kind: 'bounce',
        status: 'BOUNCED',
        flag: 'soft_bounced_time',
        counter: 'soft_bounced',
        softBounce: true,
        fields: { bounce_class: 'soft', bounce_type: type },
      });
      expect(effect(type).suppress).toBeUndefined();
    }
    expect(effect('Permanent')).toMatchObject({ flag: 'bounced_time', counter: 'bounced', fields: { bounce_class: 'hard' } });
    expect(effect('Permanent').softBounce).toBeUndefined();
  });
});

describe('the soft bounce as it applies to a message (effectFor)', () => {
  const base = {
    transaction_id: 't',
    batch_id: 'b00001',
    message_id: 'm',
    tenant_id: 'tenant',
    recipient_email: 'a@example.com',
    status: 'SENDING',
    status_history: [],
    created_at: sent,
    updated_at: sent,
  } as unknown as MessageRecord;
  const bounce = (at: string): MessageEffect => ({
    kind: 'bounce',
    at,
    status: 'BOUNCED',
    flag: 'soft_bounced_time',
    counter: 'soft_bounced',
    outcome: true,
    softBounce: true,
    mailAt: sent,
    fields: {},
  });

  it('keeps the first send time (SES’s, when the bounce beat the SENT write), so a retry’s SENT cannot move the deadline', () => {
    const retried = effectFor(bounce(plus(60_000)), base, policy);
    expect(retried).toMatchObject({ status: 'SOFT_BOUNCED', fields: { first_sent_time: sent, soft_bounce_retries: 1 } });
    // Recorded already: left as it is.
    const known = effectFor(bounce(plus(HOUR)), { ...base, first_sent_time: plus(1) } as MessageRecord, policy);
    expect(known.fields).not.toHaveProperty('first_sent_time');
  });
});
