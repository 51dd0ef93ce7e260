// Scoped API keys over HTTP, on the API in this process and the stack's DynamoDB Local: the
// seeded key is admin, keys get the scopes they are created with (403 elsewhere), the admin API
// lists, revokes and rotates them (never showing a secret twice, 404 for another tenant's ids,
// the last admin key kept), a revoked key stops working at once on the process that revoked it
// and within the cache time on another, and keys stored before scopes existed stay admin.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_CACHE_SECONDS } from '../../api/auth';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { keys } from '../../src/adapters/dynamo/keys';
import { sha256 } from '../../src/adapters/dynamo/store';
import { uid } from '../integration/fixtures';
import { apiClient, testConfig, TENANTS, waitFor, type ApiClient, type ApiResponse } from '../support/harness';
import { seedOwnTenant, serveApp, type ServedApp } from './in-process';

const config = testConfig();
let app: ServedApp;
let other: ServedApp; // a second API process on the same table
let tenant: Awaited<ReturnType<typeof seedOwnTenant>>;
let admin: ApiClient;

beforeAll(async () => {
  tenant = await seedOwnTenant(config, 'access');
  app = await serveApp(config);
  other = await serveApp(config);
  admin = apiClient(app.url, tenant.apiKey);
});
afterAll(async () => {
  await app?.close();
  await other?.close();
});

const expectError = (res: ApiResponse<any>, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
};

async function createKey(client: ApiClient, scopes: string[], extra: Record<string, unknown> = {}) {
  const res = await client.post('/api/v1/api-keys', { name: `key ${uid()}`, scopes, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { key_id: string; secret: string; scopes: string[]; prefix: string; expires_at: string | null };
}

/** A read any campaign scope allows: 404 for a campaign that does not exist, once authenticated. */
const probe = (client: ApiClient) => client.get('/api/v1/campaigns/01NOSUCHCAMPAIGN0000000000/status');

describe('API keys', () => {
  it('lists the seeded key as admin, with its prefix, never its secret or hash', async () => {
    const res = await admin.get('/api/v1/api-keys');
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      expect.objectContaining({
        name: 'seeded admin key',
        scopes: ['admin'],
        status: 'active',
        prefix: tenant.apiKey.slice(0, res.body.items[0].prefix.length),
        revoked_at: null,
        expires_at: null,
      }),
    ]);
    expect(res.body.items[0].prefix.length).toBeGreaterThan(0);
    expect(res.body.items[0].prefix.length).toBeLessThanOrEqual(tenant.apiKey.length / 4);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(tenant.apiKey);
    expect(text).not.toContain(sha256(tenant.apiKey));
    expect(res.body.next_cursor).toBeNull();
  });

  it('creates a key whose secret is shown once; it may do what its scopes allow and gets 403 FORBIDDEN elsewhere', async () => {
    const created = await createKey(admin, ['campaigns:read', 'files:write']);
    expect(created.secret).toMatch(/^ek_[A-Za-z0-9_-]{43}$/);
    expect(created.prefix).toBe(created.secret.slice(0, 10));
    const shown = await admin.get(`/api/v1/api-keys/${created.key_id}`);
    expect(shown.body).toMatchObject({ key_id: created.key_id, scopes: ['campaigns:read', 'files:write'], status: 'active' });
    expect(shown.body).not.toHaveProperty('secret');

    const scoped = apiClient(app.url, created.secret);
    expectError(await probe(scoped), 404, 'NOT_FOUND');
    expect((await scoped.post('/api/v1/files/presigned-url', { file_name: 'r.csv', content_type: 'text/csv' })).status).toBe(201);
    const denied = await scoped.post('/api/v1/templates/presigned-url', { name: 'n', subject: 's', from: 'sender@example.com' });
    expectError(denied, 403, 'FORBIDDEN');
    expect(denied.body.error.details).toEqual({ scope: 'templates:write' });
    expect((await scoped.put(`/api/v1/suppressions/x-${uid()}@example.com`)).body.error.details).toEqual({ scope: 'suppressions:write' });
    for (const res of [
      await scoped.get('/api/v1/api-keys'),
      await scoped.get('/api/v1/audit'),
      await scoped.put('/api/v1/tenant/settings', { require_token: false }),
    ]) {
      expectError(res, 403, 'FORBIDDEN');
      expect(res.body.error.details).toEqual({ scope: 'admin' });
    }
    // Used: last_used_at is written (in the background, at most once a minute).
    await waitFor(
      'last_used_at',
      async () => (await admin.get(`/api/v1/api-keys/${created.key_id}`)).body.last_used_at ?? undefined,
      10_000,
    );
  });

  it('refuses unknown, repeated or no scopes and unknown fields, naming the field', async () => {
    const bad = [
      [{ name: 'x', scopes: ['campaigns:delete'] }, 'scopes.0'],
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: 'x', scopes: ['files:read', 'files:read'] }, 'scopes'],
      [{ name: '', scopes: ['admin'] }, 'name'],
      [{ name: 'x', scopes: ['admin'], expires_in_seconds: 1 }, 'expires_in_seconds'],
      [{ name: 'x', scopes: ['admin'], tenant_id: 'another' }, ''],
    ] as const;
    for (const [body, path] of bad) {
      const res = await admin.post('/api/v1/api-keys', body);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(
        res.body.error.details.map((d: { path: string }) => d.path),
        JSON.stringify(body),
      ).toContain(path);
    }
  });

  it("answers 404 for another tenant's key ids and for ids that name nothing", async () => {
    const mine = await createKey(admin, ['campaigns:read']);
    const theirs = apiClient(app.url, TENANTS.b.apiKey);
    expectError(await theirs.get(`/api/v1/api-keys/${mine.key_id}`), 404, 'NOT_FOUND');
    expectError(await theirs.delete(`/api/v1/api-keys/${mine.key_id}`), 404, 'NOT_FOUND');
    expectError(await theirs.post(`/api/v1/api-keys/${mine.key_id}/rotate`, {}), 404, 'NOT_FOUND');
    expect((await theirs.get('/api/v1/api-keys')).body.items.map((k: { key_id: string }) => k.key_id)).not.toContain(mine.key_id);
    expectError(await admin.delete(`/api/v1/api-keys/${'x'.repeat(300)}`), 404, 'NOT_FOUND');
    // Still working: nothing the other tenant did touched it.
    expectError(await probe(apiClient(app.url, mine.secret)), 404, 'NOT_FOUND');
  });

  it('rotates: a new secret with the same scopes; the old one works until the overlap ends, then 401 API_KEY_EXPIRED', async () => {
    const old = await createKey(admin, ['campaigns:read', 'analytics:read']);
    const before = Date.now();
    const rotated = await admin.post(`/api/v1/api-keys/${old.key_id}/rotate`, { overlap_seconds: 2 });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    expect(rotated.body).toMatchObject({
      scopes: old.scopes,
      rotated_from: old.key_id,
      status: 'active',
      replaces: { key_id: old.key_id },
    });
    expect(rotated.body.secret).not.toBe(old.secret);
    const ends = Date.parse(rotated.body.replaces.expires_at);
    expect(ends).toBeGreaterThanOrEqual(before + 2000);
    expect(ends).toBeLessThan(Date.now() + 2000);

    expectError(await probe(apiClient(app.url, old.secret)), 404, 'NOT_FOUND');
    expectError(await probe(apiClient(app.url, rotated.body.secret)), 404, 'NOT_FOUND');
    await new Promise((r) => setTimeout(r, ends - Date.now() + 200));
    expectError(await probe(apiClient(app.url, old.secret)), 401, 'API_KEY_EXPIRED');
    expectError(await probe(apiClient(app.url, rotated.body.secret)), 404, 'NOT_FOUND');
    expect((await admin.get(`/api/v1/api-keys/${old.key_id}`)).body.status).toBe('expired');

    expectError(
      await admin.post(`/api/v1/api-keys/${rotated.body.key_id}/rotate`, { overlap_seconds: 8 * 24 * 3600 }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(await admin.post(`/api/v1/api-keys/${old.key_id}/rotate`), 409, 'API_KEY_EXPIRED');
    expect((await admin.delete(`/api/v1/api-keys/${rotated.body.key_id}`)).status).toBe(204);
    expectError(await admin.post(`/api/v1/api-keys/${rotated.body.key_id}/rotate`), 409, 'API_KEY_REVOKED');
  });

  it(`revokes a key: refused at once by the process that revoked it, and within ${KEY_CACHE_SECONDS} s by another`, async () => {
    const key = await createKey(admin, ['campaigns:read']);
    const here = apiClient(app.url, key.secret);
    const there = apiClient(other.url, key.secret);
    expectError(await probe(there), 404, 'NOT_FOUND'); // now in the other process's cache
    const cachedAt = Date.now();
    expect((await admin.delete(`/api/v1/api-keys/${key.key_id}`)).status).toBe(204);
    expectError(await probe(here), 401, 'API_KEY_REVOKED');
    // The other process answers from memory for the rest of the cache time: the bound is real.
    expectError(await probe(there), 404, 'NOT_FOUND');
    await waitFor(
      'the other process to refuse the revoked key',
      async () => ((await probe(there)).status === 401 ? true : undefined),
      45_000,
    );
    expect(Date.now() - cachedAt).toBeLessThanOrEqual(KEY_CACHE_SECONDS * 1000 + 3000);
    expectError(await probe(there), 401, 'API_KEY_REVOKED');
    expect((await admin.get(`/api/v1/api-keys/${key.key_id}`)).body).toMatchObject({ status: 'revoked', revoked_at: expect.any(String) });
    expect((await admin.delete(`/api/v1/api-keys/${key.key_id}`)).status).toBe(204); // again: nothing changes
  }, 90_000);

  it("keeps the tenant's last admin key that does not expire, also against two revocations at once", async () => {
    const own = await seedOwnTenant(config, 'last-admin');
    const first = apiClient(app.url, own.apiKey);
    const seededId = (await first.get('/api/v1/api-keys')).body.items[0].key_id as string;
    expectError(await first.delete(`/api/v1/api-keys/${seededId}`), 409, 'LAST_ADMIN_KEY');
    await createKey(first, ['admin'], { expires_in_seconds: 3600 }); // expires: does not count
    expectError(await first.delete(`/api/v1/api-keys/${seededId}`), 409, 'LAST_ADMIN_KEY');
    await createKey(first, ['campaigns:write']); // not admin: does not count
    expectError(await first.delete(`/api/v1/api-keys/${seededId}`), 409, 'LAST_ADMIN_KEY');

    const second = await createKey(first, ['admin']);
    expect((await first.delete(`/api/v1/api-keys/${seededId}`)).status).toBe(204);
    const next = apiClient(app.url, second.secret);
    expectError(await next.delete(`/api/v1/api-keys/${second.key_id}`), 409, 'LAST_ADMIN_KEY');

    const third = await createKey(next, ['admin']);
    const results = await Promise.all([next.delete(`/api/v1/api-keys/${second.key_id}`), next.delete(`/api/v1/api-keys/${third.key_id}`)]);
    expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
    const left = (await apiClient(app.url, results[0]!.status === 204 ? third.secret : second.secret).get('/api/v1/api-keys')).body.items;
    expect(
      left.filter(
        (k: { scopes: string[]; status: string; expires_at: string | null }) =>
          k.scopes.includes('admin') && k.status === 'active' && !k.expires_at,
      ),
    ).toHaveLength(1);

    // Rotating the last one is the way to replace it.
    const survivor = results[0]!.status === 204 ? third : second;
    const rotated = await apiClient(app.url, survivor.secret).post(`/api/v1/api-keys/${survivor.key_id}/rotate`, { overlap_seconds: 0 });
    expect(rotated.status).toBe(201);
    expect((await probe(apiClient(app.url, rotated.body.secret))).status).toBe(404);
  });

  it('takes a key stored before keys carried scopes as admin, and gives it an id and a place in the listing when first used', async () => {
    const own = await seedOwnTenant(config, 'legacy');
    const legacyKey = `legacy-key-${uid()}`;
    const aws = createAwsClients(config);
    try {
      await aws.doc.send(
        new PutCommand({
          TableName: config.DYNAMODB_TABLE,
          Item: { ...keys.apiKey(sha256(legacyKey)), tenant_id: own.tenantId, created_at: new Date().toISOString() },
        }),
      );
    } finally {
      destroyAwsClients(aws);
    }
    const legacy = apiClient(app.url, legacyKey);
    const res = await legacy.get('/api/v1/api-keys');
    expect(res.status).toBe(200);
    const listed = res.body.items.find((k: { name: string }) => k.name === 'key stored before key ids');
    expect(listed).toMatchObject({ scopes: ['admin'], status: 'active', prefix: legacyKey.slice(0, listed.prefix.length) });
    // Adopted once: the other process sees the same id.
    const again = await apiClient(other.url, legacyKey).get(`/api/v1/api-keys/${listed.key_id}`);
    expect(again.body).toMatchObject({ key_id: listed.key_id, scopes: ['admin'] });
    // It counts as an admin key: the seeded one can now be revoked.
    const seeded = res.body.items.find((k: { name: string }) => k.name === 'seeded admin key');
    expect((await legacy.delete(`/api/v1/api-keys/${seeded.key_id}`)).status).toBe(204);
  });

  it('refuses bearer tokens, and require_token, while no token issuer is configured', async () => {
    const res = await fetch(`${app.url}/api/v1/api-keys`, { headers: { 'x-api-key': tenant.apiKey, authorization: 'Bearer a.b.c' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await res.json()).toMatchObject({ error: { code: 'INVALID_TOKEN', details: { reason: 'no_issuer' } } });
    expectError(await admin.put('/api/v1/tenant/settings', { require_token: true }), 422, 'OAUTH_NOT_CONFIGURED');
    expect((await admin.get('/api/v1/tenant/settings')).body).toEqual({ require_token: false, updated_at: null });
    expectError(await admin.put('/api/v1/tenant/settings', { require_token: 'yes' }), 400, 'VALIDATION_FAILED');
  });
});

describe('rotation keeps the expiry', () => {
  it('gives the successor the old key’s expiry, and the old key the end of the overlap or its own expiry', async () => {
    const old = await createKey(admin, ['campaigns:read'], { expires_in_seconds: 3600 });
    expect(old.expires_at).not.toBeNull();
    const rotated = await admin.post(`/api/v1/api-keys/${old.key_id}/rotate`, { overlap_seconds: 60 });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    // Rotation never makes a key live longer than the one it replaces.
    expect(rotated.body.expires_at).toBe(old.expires_at);
    expect((await admin.get(`/api/v1/api-keys/${rotated.body.key_id}`)).body.expires_at).toBe(old.expires_at);
    expect(Date.parse(rotated.body.replaces.expires_at)).toBeLessThanOrEqual(Date.now() + 60_000);
    // An overlap longer than the old key has left ends at its own expiry.
    const again = await admin.post(`/api/v1/api-keys/${rotated.body.key_id}/rotate`, { overlap_seconds: 7 * 24 * 3600 });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ expires_at: old.expires_at, replaces: { key_id: rotated.body.key_id, expires_at: old.expires_at } });
    // A key without an expiry hands on none.
    const forever = await createKey(admin, ['campaigns:read']);
    const successor = await admin.post(`/api/v1/api-keys/${forever.key_id}/rotate`, { overlap_seconds: 0 });
    expect(successor.body.expires_at).toBeNull();
  });
});

describe('live keys per tenant', () => {
  let capped: ServedApp;
  beforeAll(async () => {
    capped = await serveApp({ ...config, MAX_API_KEYS_PER_TENANT: 3 });
  });
  afterAll(async () => {
    await capped?.close();
  });

  it('refuses a key past MAX_API_KEYS_PER_TENANT with 409 API_KEY_LIMIT_REACHED; revoked and expired keys do not count', async () => {
    const own = await seedOwnTenant(config, 'key-cap');
    const first = apiClient(capped.url, own.apiKey);
    const a = await createKey(first, ['campaigns:read']);
    const second = await createKey(first, ['campaigns:read']);
    const refused = await first.post('/api/v1/api-keys', { name: 'one too many', scopes: ['campaigns:read'] });
    expectError(refused, 409, 'API_KEY_LIMIT_REACHED');
    expect(refused.body.error.details).toEqual({ limit: 3 });
    // A revoked key frees its place.
    expect((await first.delete(`/api/v1/api-keys/${a.key_id}`)).status).toBe(204);
    const b = await createKey(first, ['campaigns:read']);
    expectError(await first.post('/api/v1/api-keys', { name: 'n', scopes: ['campaigns:read'] }), 409, 'API_KEY_LIMIT_REACHED');
    // Rotation at the limit is allowed (the old key is on its way out), one over the limit for the overlap at most.
    const rotated = await first.post(`/api/v1/api-keys/${b.key_id}/rotate`, { overlap_seconds: 600 });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    expectError(await first.post(`/api/v1/api-keys/${rotated.body.key_id}/rotate`), 409, 'API_KEY_LIMIT_REACHED');
    // An expired key does not count: rotated with no overlap, the old key expires at once.
    for (const id of [second.key_id, b.key_id]) expect((await first.delete(`/api/v1/api-keys/${id}`)).status).toBe(204);
    const expired = await first.post(`/api/v1/api-keys/${rotated.body.key_id}/rotate`, { overlap_seconds: 0 });
    expect(expired.status, JSON.stringify(expired.body)).toBe(201);
    await createKey(first, ['campaigns:read']);
    expectError(await first.post('/api/v1/api-keys', { name: 'n', scopes: ['campaigns:read'] }), 409, 'API_KEY_LIMIT_REACHED');
    const listed = (await first.get('/api/v1/api-keys')).body.items as { status: string }[];
    expect(listed.filter((k) => k.status === 'active')).toHaveLength(3);
    expect(listed.filter((k) => k.status === 'expired')).toHaveLength(1);
  });

  it('lets only one of four creations at once take the last place', async () => {
    const own = await seedOwnTenant(config, 'key-cap-race');
    const first = apiClient(capped.url, own.apiKey);
    await createKey(first, ['campaigns:read']);
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => first.post('/api/v1/api-keys', { name: `racer ${i}`, scopes: ['campaigns:read'] })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
    const listed = (await first.get('/api/v1/api-keys')).body.items as { status: string }[];
    expect(listed.filter((k) => k.status === 'active')).toHaveLength(3);
    // Another tenant's keys are counted apart.
    expect((await admin.post('/api/v1/api-keys', { name: 'elsewhere', scopes: ['campaigns:read'] })).status).toBe(201);
  });
});

describe('client addresses behind a proxy (TRUST_PROXY)', () => {
  /** Unknown keys from one client until it gets 429 (120 lookups a minute per address). */
  const guessFrom = (url: string, forwardedFor: string) =>
    fetch(`${url}/api/v1/api-keys`, { headers: { 'x-api-key': `guess-${uid()}`, 'x-forwarded-for': forwardedFor } });

  async function exhaust(url: string, forwardedFor: string) {
    for (let i = 0; i < 120; i++) expect((await guessFrom(url, forwardedFor)).status).toBe(401);
    expect((await guessFrom(url, forwardedFor)).status).toBe(429);
  }

  it('with TRUST_PROXY=1 limits two clients of one proxy apart, by X-Forwarded-For', async () => {
    const proxied = await serveApp({ ...config, TRUST_PROXY: 1 });
    try {
      await exhaust(proxied.url, '198.51.100.1');
      expect((await guessFrom(proxied.url, '198.51.100.2')).status).toBe(401);
      // Only the hop the proxy added counts: what the client itself put in front is not trusted.
      expect((await guessFrom(proxied.url, '198.51.100.2, 198.51.100.1')).status).toBe(429);
      expect((await guessFrom(proxied.url, '198.51.100.1, 198.51.100.2')).status).toBe(401);
    } finally {
      await proxied.close();
    }
  }, 60_000);

  it('with TRUST_PROXY=0 (the default) ignores X-Forwarded-For: the connection is the client', async () => {
    const direct = await serveApp(config);
    try {
      expect(direct.deps.config.TRUST_PROXY).toBe(0);
      await exhaust(direct.url, '198.51.100.1');
      expect((await guessFrom(direct.url, '198.51.100.2')).status).toBe(429);
    } finally {
      await direct.close();
    }
  }, 60_000);
});
