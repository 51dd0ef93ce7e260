// Unit tests for Standard Webhooks signing and verification.
import { createHmac } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { devTenantCredentials, seedTenant } from '../../src/local/dev-tenant';
import {
  generateWebhookSecret,
  InvalidWebhookSecretError,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  webhookSecretProblem,
} from '../../src/domain/webhook-signature';

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

  it('refuses to sign with a secret that is not whsec_ + base64 (receivers could never verify it)', () => {
    expect(() => signWebhook('plain-sécret-of-some-length', id, timestamp, body)).toThrow(InvalidWebhookSecretError);
    expect(() => webhookHeaders('whsec_not base64!', id, timestamp, body)).toThrow(/standard base64/);
    expect(() => verifyWebhook('plain-sécret-of-some-length', webhookHeaders(secret, id, timestamp, body), body)).toThrow(
      InvalidWebhookSecretError,
    );
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

describe('webhookSecretProblem', () => {
  const key = (bytes: number) => 'whsec_' + Buffer.alloc(bytes, 7).toString('base64');

  it('accepts whsec_ and padded standard base64 of a 24 to 64 byte key', () => {
    for (const ok of [secret, key(24), key(25), key(32), key(64), generateWebhookSecret()])
      expect(webhookSecretProblem(ok), ok).toBeUndefined();
  });

  it('names what is wrong with anything else', () => {
    expect(webhookSecretProblem('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toMatch(/must start with "whsec_"/);
    expect(webhookSecretProblem('a-plain-passphrase-used-as-utf8')).toMatch(/must start with "whsec_"/);
    expect(webhookSecretProblem(key(23))).toMatch(/24 to 64 bytes, got 23/);
    expect(webhookSecretProblem(key(65))).toMatch(/24 to 64 bytes, got 65/);
    expect(webhookSecretProblem('whsec_')).toMatch(/got 0/);
    // Base64 that Buffer would half-read but the official libraries refuse.
    for (const bad of [
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS',
      'whsec_MfKQ9r8G KYqrTwjUPD8ILPZIo2LaLaSw',
      'whsec_MfKQ9r8G_YqrTwjUPD8ILPZIo2LaLaSw',
    ]) {
      expect(webhookSecretProblem(bad), bad).toMatch(/standard base64/);
    }
    expect(webhookSecretProblem(key(25).replace(/=+$/, ''))).toMatch(/standard base64/);
  });
});

describe('where webhook secrets enter', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'webhook-secret-test-'));

  it('DEV_WEBHOOK_SECRET must be a Standard Webhooks secret', () => {
    expect(loadConfig({ LOCAL_STACK_DIR: dir(), DEV_WEBHOOK_SECRET: secret }).DEV_WEBHOOK_SECRET).toBe(secret);
    expect(() => loadConfig({ LOCAL_STACK_DIR: dir(), DEV_WEBHOOK_SECRET: 'a-plain-passphrase-used-as-utf8' })).toThrow(
      /DEV_WEBHOOK_SECRET: must start with "whsec_"/,
    );
  });

  it('the dev tenant gets a generated one, and a saved or given one is checked', () => {
    const fresh = dir();
    const tenant = devTenantCredentials(fresh, 'dev', {});
    expect(webhookSecretProblem(tenant.webhookSecret)).toBeUndefined();
    expect(devTenantCredentials(fresh, 'dev', {}).webhookSecret).toBe(tenant.webhookSecret);

    const old = dir();
    writeFileSync(
      join(old, 'dev-tenant.json'),
      JSON.stringify({ apiKey: 'dev_key_0123456789abcdef', webhookSecret: 'an-old-plain-secret-0123' }),
    );
    expect(() => devTenantCredentials(old, 'dev', {})).toThrow(
      /tenant dev: the webhook secret \(from .*dev-tenant\.json\) must start with "whsec_"/,
    );
    expect(() => devTenantCredentials(dir(), 'dev', { webhookSecret: 'whsec_c2hvcnQ=' })).toThrow(/DEV_WEBHOOK_SECRET.*24 to 64 bytes/);
  });

  it('no tenant is seeded with a secret its receivers could not verify', async () => {
    const store = { putTenant: vi.fn(async () => undefined) };
    await expect(
      seedTenant(store, { tenantId: 't1', apiKey: 'key-0123456789abcdef', webhookSecret: 'plain-secret-0123456789' }),
    ).rejects.toThrow(/tenant t1: the webhook secret must start with "whsec_"/);
    expect(store.putTenant).not.toHaveBeenCalled();
    await seedTenant(store, { tenantId: 't2', apiKey: 'key-0123456789abcdef', webhookSecret: secret });
    expect(store.putTenant).toHaveBeenCalledTimes(1);
  });
});
