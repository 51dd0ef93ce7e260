// The one-click unsubscribe token (issue 15, item 7): the topic rides inside the MAC, tokens
// mailed before topics (four fields) still verify, and no change to any byte of a token passes.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createUnsubscribeToken, verifyUnsubscribeToken, type UnsubscribeClaims } from '../../src/domain/unsubscribe-token';

const SECRET = 'unit-test-unsubscribe-secret';

/** A token exactly as the engine made them before topics: four fields, the same MAC. */
function preTopicToken(secret: string, c: UnsubscribeClaims): string {
  const payload = Buffer.from(JSON.stringify([c.tenantId, c.email, c.transactionId, c.messageId])).toString('base64url');
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

const claims = fc.record(
  {
    tenantId: fc.string({ minLength: 1, maxLength: 20 }),
    email: fc.emailAddress(),
    transactionId: fc.string({ minLength: 1, maxLength: 30 }),
    messageId: fc.string({ minLength: 1, maxLength: 30 }),
    topic: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,63}$/),
  },
  { requiredKeys: ['tenantId', 'email', 'transactionId', 'messageId'] },
);

describe('unsubscribe token', () => {
  it('gives back what it was made from, topic or none', () => {
    fc.assert(
      fc.property(claims, (c) => {
        expect(verifyUnsubscribeToken(SECRET, createUnsubscribeToken(SECRET, c))).toEqual(c);
      }),
    );
  });

  it('still accepts a token made before topics, as one without a topic (a global unsubscribe)', () => {
    const old: UnsubscribeClaims = { tenantId: 't-1', email: 'reader@example.com', transactionId: '01TXN', messageId: 'b00001-r000000001' };
    const verified = verifyUnsubscribeToken(SECRET, preTopicToken(SECRET, old));
    expect(verified).toEqual(old);
    expect(verified).not.toHaveProperty('topic');
    // And a campaign without a topic makes exactly the old token.
    expect(createUnsubscribeToken(SECRET, old)).toBe(preTopicToken(SECRET, old));
  });

  it('rejects a token with any one byte changed', () => {
    fc.assert(
      fc.property(claims, fc.nat(), fc.integer({ min: 1, max: 127 }), (c, at, delta) => {
        const token = createUnsubscribeToken(SECRET, c);
        const i = at % token.length;
        const changed = token.slice(0, i) + String.fromCharCode((token.charCodeAt(i) + delta) % 128) + token.slice(i + 1);
        fc.pre(changed !== token);
        expect(verifyUnsubscribeToken(SECRET, changed)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('cannot be moved to another topic or made global by editing the payload', () => {
    const c = { tenantId: 't-1', email: 'reader@example.com', transactionId: '01TXN', messageId: 'b00001-r000000001', topic: 'newsletter' };
    const [, mac] = createUnsubscribeToken(SECRET, c).split('.');
    for (const fields of [
      [c.tenantId, c.email, c.transactionId, c.messageId, 'product-updates'],
      [c.tenantId, c.email, c.transactionId, c.messageId],
    ]) {
      const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
      expect(verifyUnsubscribeToken(SECRET, `${payload}.${mac}`)).toBeUndefined();
    }
  });

  it('rejects other secrets and payloads that are not four or five strings, even when signed', () => {
    const c = { tenantId: 't', email: 'a@example.com', transactionId: 'x', messageId: 'm', topic: 'news' };
    expect(verifyUnsubscribeToken('another-secret', createUnsubscribeToken(SECRET, c))).toBeUndefined();
    const sign = (value: unknown) => {
      const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${payload}.${createHmac('sha256', SECRET).update(payload).digest('base64url')}`;
    };
    for (const value of [
      ['t', 'a@example.com', 'x'],
      ['t', 'a@example.com', 'x', 'm', 'news', 'extra'],
      ['t', 'a@example.com', 'x', 'm', 5],
      { t: 1 },
    ]) {
      expect(verifyUnsubscribeToken(SECRET, sign(value)), JSON.stringify(value)).toBeUndefined();
    }
  });
});
