// The API key cache of api/auth.ts over a stand-in key store (the table itself is exercised by
// test/api/access.test.ts): made-up keys never push a known key out, the same unknown key is
// looked up once, an address that tries too many unknown keys is slowed down without touching
// the store, last_used_at is written at most once a minute, and a key revoked in the store stops
// working once its cache entry is older than the cache time.
import type { Server } from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthenticator, LruMap, type AuthOptions } from '../../api/auth';
import { sha256 } from '../../src/adapters/dynamo/store';
import type { ApiKeyRecord } from '../../src/adapters/dynamo/types';
import type { ApiKeys } from '../../src/ports';

/** The four operations authentication uses, over a Map, counting its calls. */
function standInStore() {
  const records = new Map<string, ApiKeyRecord>();
  const calls = { find: 0, touch: 0 };
  const store: Pick<ApiKeys, 'findApiKey' | 'adoptApiKey' | 'touchApiKey' | 'getTenantSettings'> = {
    findApiKey: async (hash) => {
      calls.find++;
      const record = records.get(hash);
      return record && { ...record }; // a copy, as a read from the table would be
    },
    adoptApiKey: async (hash) => records.get(hash),
    touchApiKey: async () => {
      calls.touch++;
    },
    getTenantSettings: async (tenantId) => ({ tenant_id: tenantId, require_token: false }),
  };
  const add = (secret: string, fields: Partial<ApiKeyRecord> = {}) =>
    records.set(sha256(secret), {
      tenant_id: 't1',
      key_id: `id-${secret}`,
      scopes: ['campaigns:read'],
      created_at: new Date().toISOString(),
      ...fields,
    });
  return { store, records, calls, add };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

async function serve(store: ReturnType<typeof standInStore>['store'], opts: Partial<AuthOptions> = {}) {
  const app = express();
  const auth = createAuthenticator(store, { requestsPerMinute: 1_000_000, log: { warn() {} }, ...opts });
  app.use(auth.middleware);
  app.get('/', (req, res) => res.json({ key: req.auth!.keyId, scopes: [...req.auth!.scopes] }));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  const { port } = server.address() as { port: number };
  return async (key: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-api-key': key } });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
  };
}

describe('LruMap', () => {
  it('drops the least recently used entry past its size', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1); // a is now the most recent
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    expect(map.get('c')).toBe(3);
    expect(map.size).toBe(2);
  });
});

describe('API key cache', () => {
  it('keeps a known key through a flood of made-up keys, far more than the negative cache holds', async () => {
    const { store, calls, add } = standInStore();
    add('good-key');
    const call = await serve(store, { maxUnknownKeys: 20, failedLookupsPerMinute: 10_000 });
    expect((await call('good-key')).body).toEqual({ key: 'id-good-key', scopes: ['campaigns:read'] });
    const lookupsBefore = calls.find;
    for (let i = 0; i < 300; i++) expect((await call(`junk-${i}`)).status).toBe(401);
    expect(calls.find).toBe(lookupsBefore + 300);
    // Still in memory: no lookup for it.
    expect((await call('good-key')).status).toBe(200);
    expect(calls.find).toBe(lookupsBefore + 300);
  });

  it('keeps known keys through a flood of revoked and expired ones (any tenant can make those without limit)', async () => {
    const { store, calls, add } = standInStore();
    add('good-key');
    const past = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 30; i++) add(`dead-${i}`, { tenant_id: 't2', ...(i % 2 ? { revoked_at: past } : { expires_at: past }) });
    const call = await serve(store, { maxKnownKeys: 5, failedLookupsPerMinute: 10_000 });
    expect((await call('good-key')).status).toBe(200);
    const lookups = calls.find;
    for (let i = 0; i < 30; i++) {
      expect((await call(`dead-${i}`)).body.error.code).toBe(i % 2 ? 'API_KEY_REVOKED' : 'API_KEY_EXPIRED');
    }
    expect(calls.find).toBe(lookups + 30);
    expect((await call('good-key')).status).toBe(200);
    expect(calls.find).toBe(lookups + 30);
    // Each is remembered as dead for the cache time: asking again costs no lookup and gets the same answer.
    expect((await call('dead-29')).body.error.code).toBe('API_KEY_REVOKED');
    expect(calls.find).toBe(lookups + 30);
  });

  it('counts lookups of keys that cannot authenticate (revoked, expired) towards the address limit', async () => {
    const { store, add } = standInStore();
    const past = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 4; i++) add(`dead-${i}`, { revoked_at: past });
    const call = await serve(store, { failedLookupsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await call(`dead-${i}`)).status).toBe(401);
    expect((await call('dead-3')).status).toBe(429);
  });

  it('looks an unknown key up once while its negative entry lasts', async () => {
    const { store, calls } = standInStore();
    const call = await serve(store);
    for (let i = 0; i < 5; i++) expect((await call('never-issued')).body.error.code).toBe('UNKNOWN_API_KEY');
    expect(calls.find).toBe(1);
  });

  it('answers 429 to an address past its unknown-key lookups, without a lookup, and still serves its known keys', async () => {
    const { store, calls, add } = standInStore();
    add('good-key');
    const call = await serve(store, { failedLookupsPerMinute: 3 });
    expect((await call('good-key')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await call(`guess-${i}`)).status).toBe(401);
    const lookups = calls.find;
    const throttled = await call('guess-3');
    expect(throttled.status).toBe(429);
    expect(throttled.body.error.code).toBe('RATE_LIMITED');
    expect(Number(throttled.retryAfter)).toBeGreaterThan(0);
    expect(calls.find).toBe(lookups);
    expect((await call('good-key')).status).toBe(200);
  });

  it('writes last_used_at once for many requests within a minute', async () => {
    const { store, calls, add } = standInStore();
    add('busy-key');
    const call = await serve(store, { cacheMs: 50 });
    for (let i = 0; i < 10; i++) {
      expect((await call('busy-key')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 10)); // past the cache time: re-read, still one write
    }
    expect(calls.find).toBeGreaterThan(1);
    expect(calls.touch).toBe(1);
  });

  it('keeps answering from memory for a revoked key until its entry is older than the cache time, then refuses it', async () => {
    const { store, records, add } = standInStore();
    add('soon-revoked');
    const call = await serve(store, { cacheMs: 300 });
    expect((await call('soon-revoked')).status).toBe(200);
    records.get(sha256('soon-revoked'))!.revoked_at = new Date().toISOString();
    expect((await call('soon-revoked')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 350));
    const refused = await call('soon-revoked');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('API_KEY_REVOKED');
  });

  it('refuses a key past its expiry at once, whatever the cache holds', async () => {
    const { store, add } = standInStore();
    add('expiring', { expires_at: new Date(Date.now() + 300).toISOString() });
    const call = await serve(store, { cacheMs: 60_000 });
    expect((await call('expiring')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 350));
    expect((await call('expiring')).body.error.code).toBe('API_KEY_EXPIRED');
  });
});
