// Unit tests for Standard Webhooks signing and verification.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, verifyWebhook, webhookHeaders } from '../../src/domain/webhook-signature';

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const timestamp = 1614265330;
const body = '{"test": 2432232314}';

describe('signWebhook', () => {
  it('matches an HMAC computed independently with node:crypto', () => {
    const key = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64');
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
    expect(signWebhook(secret, id, timestamp, body)).toBe(`v1,${expected}`);
    // The published Standard Webhooks reference vector for these inputs.
    expect(signWebhook(secret, id, timestamp, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('uses the UTF-8 bytes of a secret without the whsec_ prefix', () => {
    const expected = createHmac('sha256', Buffer.from('plain-sécret', 'utf8')).update(`${id}.${timestamp}.héllo`, 'utf8').digest('base64');
    expect(signWebhook('plain-sécret', id, timestamp, 'héllo')).toBe(`v1,${expected}`);
  });
});

describe('webhookHeaders', () => {
  it('builds the three Standard Webhooks headers', () => {
    expect(webhookHeaders(secret, id, timestamp, body)).toEqual({
      'webhook-id': id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': signWebhook(secret, id, timestamp, body),
    });
  });
});

describe('verifyWebhook', () => {
  const now = { nowSeconds: timestamp };
  const headers = () => webhookHeaders(secret, id, timestamp, body);

  it('accepts what it signed', () => {
    expect(verifyWebhook(secret, headers(), body, now)).toBe(true);
  });

  it('round-trips with a generated secret and the real clock', () => {
    const fresh = generateWebhookSecret();
    const ts = Math.floor(Date.now() / 1000);
    expect(verifyWebhook(fresh, webhookHeaders(fresh, 'msg_1', ts, body), body)).toBe(true);
  });

  it('rejects a tampered body, id or timestamp', () => {
    expect(verifyWebhook(secret, headers(), `${body} `, now)).toBe(false);
    expect(verifyWebhook(secret, { ...headers(), 'webhook-id': `${id}x` }, body, now)).toBe(false);
    expect(verifyWebhook(secret, { ...headers(), 'webhook-timestamp': String(timestamp + 1) }, body, now)).toBe(false);
  });

  it('rejects the wrong secret', () => {
    expect(verifyWebhook(generateWebhookSecret(), headers(), body, now)).toBe(false);
  });

  it('looks headers up case-insensitively', () => {
    const h = headers();
    const mixed = {
      'Webhook-Id': h['webhook-id'],
      'WEBHOOK-TIMESTAMP': h['webhook-timestamp'],
      'Webhook-Signature': h['webhook-signature'],
    };
    expect(verifyWebhook(secret, mixed, body, now)).toBe(true);
  });

  it('accepts any matching entry among several signatures', () => {
    const good = signWebhook(secret, id, timestamp, body);
    const other = signWebhook(generateWebhookSecret(), id, timestamp, body);
    const h = headers();
    expect(verifyWebhook(secret, { ...h, 'webhook-signature': `${other} ${good}` }, body, now)).toBe(true);
    expect(verifyWebhook(secret, { ...h, 'webhook-signature': [other, good] }, body, now)).toBe(true);
    expect(verifyWebhook(secret, { ...h, 'webhook-signature': `${other} v1,bm90LWl0` }, body, now)).toBe(false);
  });

  it('ignores signatures of other versions', () => {
    const digest = signWebhook(secret, id, timestamp, body).slice('v1,'.length);
    expect(verifyWebhook(secret, { ...headers(), 'webhook-signature': `v2,${digest}` }, body, now)).toBe(false);
  });

  it('rejects missing headers', () => {
    const { 'webhook-signature': _sig, ...noSignature } = headers();
    expect(verifyWebhook(secret, noSignature, body, now)).toBe(false);
    expect(verifyWebhook(secret, { ...headers(), 'webhook-id': undefined }, body, now)).toBe(false);
    expect(verifyWebhook(secret, {}, body, now)).toBe(false);
  });

  it('enforces the timestamp tolerance in both directions (default 300 s)', () => {
    expect(verifyWebhook(secret, headers(), body, { nowSeconds: timestamp + 300 })).toBe(true);
    expect(verifyWebhook(secret, headers(), body, { nowSeconds: timestamp + 301 })).toBe(false);
    expect(verifyWebhook(secret, headers(), body, { nowSeconds: timestamp - 300 })).toBe(true);
    expect(verifyWebhook(secret, headers(), body, { nowSeconds: timestamp - 301 })).toBe(false);
    expect(verifyWebhook(secret, headers(), body, { nowSeconds: timestamp + 600, toleranceSeconds: 600 })).toBe(true);
    expect(verifyWebhook(secret, headers(), body, { nowSeconds: timestamp + 11, toleranceSeconds: 10 })).toBe(false);
  });

  it('rejects non-canonical timestamps', () => {
    for (const bad of ['0x6036b9f2', '1.614265330e9', ` ${timestamp}x`, `0${timestamp}`, '']) {
      expect(verifyWebhook(secret, { ...headers(), 'webhook-timestamp': bad }, body, now)).toBe(false);
    }
  });
});

describe('generateWebhookSecret', () => {
  it('returns whsec_ and 24 random bytes in base64', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64')).toHaveLength(24);
    expect(a).not.toBe(b);
  });
});
