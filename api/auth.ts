// Authentication of /api/v1: the X-API-Key is mandatory, an OAuth 2.0 bearer token optional
// beside it (or required, by the tenant's `require_token` setting).
//
// A key is looked up by the SHA-256 of its secret and kept in memory for KEY_CACHE_SECONDS: a
// key revoked (or a setting changed) in another API process takes effect here within that time;
// in the process that revoked it, at once. Known keys sit in a bounded LRU of their own, so
// made-up keys can never push them out: unknown keys go to a small negative cache, and so do
// keys that cannot authenticate (revoked or expired: a tenant may make any number of those),
// and the lookups that end there are limited per client address. The client address is
// req.ip: behind a load balancer, set TRUST_PROXY to its hops, or every client shares the
// balancer's address and limit. The live keys a tenant may hold are capped
// (MAX_API_KEYS_PER_TENANT, in the key table), so one tenant's keys cannot fill the LRU
// either. A fixed one-minute window per tenant (all its keys together) guards against floods.
//
// With a token, the token must be valid (api/oauth.ts) and name the key's tenant; the request
// may do what both the key and the token allow, and its principal (for the audit log) is the
// token's subject.
import type { Request, RequestHandler, Response } from 'express';
import { isUsable, prefixOf, scopesOf } from '../src/adapters/dynamo/api-keys';
import { sha256 } from '../src/adapters/dynamo/store';
import type { ApiKeyRecord, TenantSettings } from '../src/adapters/dynamo/types';
import type { Logger } from '../src/logging';
import type { ApiKeys } from '../src/ports';
import { sendError } from './errors';
import { TokenError, type TokenVerifier } from './oauth';
import { intersectScopes } from './scopes';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by authentication: the tenant, who is calling (for the audit log) and what they may do. */
    auth?: RequestAuth;
  }
}

export interface RequestAuth {
  tenantId: string;
  /** The API key's id, or a token's subject. */
  principal: { type: 'api_key' | 'jwt'; id: string };
  /** The key the request authenticated with. */
  keyId: string;
  scopes: ReadonlySet<string>;
}

/** How long a key (and its tenant's settings) is trusted from memory: the bound on a revocation reaching every API process. */
export const KEY_CACHE_SECONDS = 30;
const MAX_KEY_LENGTH = 256;
const MAX_TOKEN_LENGTH = 8192;
const LAST_USED_EVERY_MS = 60_000;

/** A Map that keeps at most `max` entries, dropping the least recently used. */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  deleteWhere(drop: (value: V) => boolean): void {
    for (const [key, value] of this.map) if (drop(value)) this.map.delete(key);
  }
}

interface KnownKey {
  hash: string;
  record: ApiKeyRecord;
  settings: TenantSettings;
  until: number;
  /** When this process last wrote last_used_at (or read one that recent). */
  touchedAt: number;
}

export interface AuthOptions {
  requestsPerMinute: number;
  /** Unset: no issuer is configured, and a request with a token is refused. */
  verifyToken?: TokenVerifier;
  log: Pick<Logger, 'warn'>;
  cacheMs?: number;
  maxKnownKeys?: number;
  maxUnknownKeys?: number;
  /** Lookups of keys that do not authenticate (none such, revoked, expired), per client address and minute, before that address gets 429. */
  failedLookupsPerMinute?: number;
}

export interface Authenticator {
  middleware: RequestHandler;
  /** Drops a key from this process's cache (after a revocation or rotation here). */
  forgetKey(keyId: string): void;
  /** Drops a tenant's keys from this process's cache (after its settings changed here). */
  forgetTenant(tenantId: string): void;
}

type Store = Pick<ApiKeys, 'findApiKey' | 'adoptApiKey' | 'touchApiKey' | 'getTenantSettings'>;

/** Fixed one-minute windows counting events per name (a tenant, a client address). */
function windows(max: number) {
  const counts = new LruMap<string, { start: number; count: number }>(max);
  const secondsLeft = (w: { start: number }, now: number) => Math.ceil((w.start + 60_000 - now) / 1000);
  return {
    /** Counts one more for `name`: the seconds until its window ends when that passes `limit`, else undefined. */
    add(name: string, limit: number, now: number): number | undefined {
      let w = counts.get(name);
      if (!w || now - w.start >= 60_000) counts.set(name, (w = { start: now, count: 0 }));
      return ++w.count > limit ? secondsLeft(w, now) : undefined;
    },
    /** The seconds until `name`'s window ends when it has reached `limit` already, else undefined. */
    full(name: string, limit: number, now: number): number | undefined {
      const w = counts.get(name);
      return w && now - w.start < 60_000 && w.count >= limit ? secondsLeft(w, now) : undefined;
    },
  };
}

/** Why a key does not authenticate, as remembered for it in the negative cache. */
type Refusal = 'unknown' | 'revoked' | 'expired';
const REFUSALS: Record<Refusal, [code: string, message: string]> = {
  unknown: ['UNKNOWN_API_KEY', 'The API key is not recognised.'],
  revoked: ['API_KEY_REVOKED', 'The API key has been revoked.'],
  expired: ['API_KEY_EXPIRED', 'The API key has expired.'],
};
const refuse = (res: Response, why: Refusal) => sendError(res, 401, ...REFUSALS[why]);
const refusalOf = (record: ApiKeyRecord, now: number): Refusal | undefined =>
  record.revoked_at ? 'revoked' : isUsable(record, new Date(now).toISOString()) ? undefined : 'expired';
const rateLimited = (res: Response, retryAfter: number, message: string) => {
  res.setHeader('Retry-After', String(retryAfter));
  sendError(res, 429, 'RATE_LIMITED', message);
};
/** RFC 6750: a refused bearer token says so in WWW-Authenticate. */
const tokenRefused = (res: Response, status: number, code: string, message: string, reason?: string) => {
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
  sendError(res, status, code, message, reason ? { reason } : undefined);
};

export function createAuthenticator(store: Store, opts: AuthOptions): Authenticator {
  const cacheMs = opts.cacheMs ?? KEY_CACHE_SECONDS * 1000;
  const known = new LruMap<string, KnownKey>(opts.maxKnownKeys ?? 10_000);
  const refused = new LruMap<string, { until: number; why: Refusal }>(opts.maxUnknownKeys ?? 1_000);
  const failedLookups = windows(10_000);
  const tenantWindows = windows(100_000);
  const failedLimit = opts.failedLookupsPerMinute ?? 120;

  /**
   * The key from memory or the table; why not, when it does not authenticate (no such key,
   * revoked, expired); a Retry-After when this address looked up too many such keys.
   */
  async function lookup(secret: string, address: string, now: number): Promise<KnownKey | Refusal | { retryAfter: number }> {
    const hash = sha256(secret);
    const cached = known.get(hash);
    if (cached && cached.until > now) return cached;
    if (!cached) {
      const negative = refused.get(hash);
      if (negative && negative.until > now) return negative.why;
      const retryAfter = failedLookups.full(address, failedLimit, now);
      if (retryAfter !== undefined) return { retryAfter };
    }
    let record = await store.findApiKey(hash);
    if (record && !record.key_id) record = await store.adoptApiKey(hash, prefixOf(secret));
    const why = record ? refusalOf(record, now) : 'unknown';
    if (!record || why) {
      // Remembered apart from the known keys, which it would otherwise push out.
      known.delete(hash);
      refused.set(hash, { until: now + cacheMs, why: why ?? 'unknown' });
      failedLookups.add(address, failedLimit, now);
      return why ?? 'unknown';
    }
    const settings = await store.getTenantSettings(record.tenant_id);
    const lastUsed = record.last_used_at ? Date.parse(record.last_used_at) : 0;
    const entry = { hash, record, settings, until: now + cacheMs, touchedAt: Math.max(cached?.touchedAt ?? 0, lastUsed) };
    known.set(hash, entry);
    return entry;
  }

  /** last_used_at, written at most once a minute per key and process (and skipped when another process wrote it lately). */
  function touch(entry: KnownKey, now: number): void {
    if (now - entry.touchedAt < LAST_USED_EVERY_MS) return;
    entry.touchedAt = now;
    const at = new Date(now).toISOString();
    store.touchApiKey(entry.hash, at, new Date(now - LAST_USED_EVERY_MS).toISOString()).catch((error: unknown) => {
      opts.log.warn('could not record an API key as used', { key_id: entry.record.key_id, error: (error as Error).message });
    });
  }

  async function withToken(req: Request, res: Response, entry: KnownKey): Promise<RequestAuth | undefined> {
    const { record } = entry;
    const key = { tenantId: record.tenant_id, keyId: record.key_id ?? 'unknown', scopes: new Set(scopesOf(record)) };
    const authorization = req.header('authorization');
    if (authorization === undefined) {
      if (entry.settings.require_token) {
        tokenRefused(res, 401, 'TOKEN_REQUIRED', 'This tenant requires a bearer token besides the API key.');
        return undefined;
      }
      return { ...key, principal: { type: 'api_key', id: key.keyId } };
    }
    const match = authorization.length <= MAX_TOKEN_LENGTH ? /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization) : null;
    if (!match) {
      tokenRefused(res, 401, 'INVALID_TOKEN', 'The Authorization header must be "Bearer <token>".', 'malformed');
      return undefined;
    }
    if (!opts.verifyToken) {
      tokenRefused(res, 401, 'INVALID_TOKEN', 'Bearer tokens are not accepted: no token issuer is configured.', 'no_issuer');
      return undefined;
    }
    try {
      const token = await opts.verifyToken(match[1]!);
      if (token.tenantId !== record.tenant_id) {
        tokenRefused(res, 401, 'TOKEN_TENANT_MISMATCH', 'The token names another tenant than the API key.', 'tenant');
        return undefined;
      }
      return { ...key, principal: { type: 'jwt', id: token.subject }, scopes: intersectScopes(key.scopes, token.scopes) };
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      tokenRefused(res, error.status, error.code, error.message, error.reason);
      return undefined;
    }
  }

  const middleware: RequestHandler = async (req, res, next) => {
    const secret = req.header('x-api-key');
    if (!secret) return sendError(res, 401, 'MISSING_API_KEY', 'The X-API-Key header is required.');
    // No key is that long: refused before hashing or any lookup.
    if (secret.length > MAX_KEY_LENGTH) return refuse(res, 'unknown');
    const now = Date.now();
    try {
      const found = await lookup(secret, req.ip ?? req.socket.remoteAddress ?? 'unknown', now);
      if (typeof found === 'string') return refuse(res, found);
      if (!('record' in found)) return rateLimited(res, found.retryAfter, 'Too many unknown API keys from this address.');
      // A key kept in memory may have expired since it was read.
      const expired = refusalOf(found.record, now);
      if (expired) return refuse(res, expired);
      const retryAfter = tenantWindows.add(found.record.tenant_id, opts.requestsPerMinute, now);
      if (retryAfter !== undefined) return rateLimited(res, retryAfter, 'Too many requests for this API key.');
      const auth = await withToken(req, res, found);
      if (!auth) return;
      touch(found, now);
      req.auth = auth;
      next();
    } catch (error) {
      next(error);
    }
  };

  return {
    middleware,
    forgetKey: (keyId) => known.deleteWhere((entry) => entry.record.key_id === keyId),
    forgetTenant: (tenantId) => known.deleteWhere((entry) => entry.record.tenant_id === tenantId),
  };
}

export function tenantOf(req: { auth?: RequestAuth }): string {
  if (!req.auth) throw new Error('route mounted without authentication');
  return req.auth.tenantId;
}
