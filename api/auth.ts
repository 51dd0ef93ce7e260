// X-API-Key authentication: the key's SHA-256 is looked up once a minute at most, and the
// request carries the tenant it is bound to. A fixed one-minute window per tenant (all its keys together) guards against floods.
import type { RequestHandler } from 'express';
import type { Catalog } from '../src/ports';
import { sendError } from './errors';

declare module 'express-serve-static-core' {
  interface Request {
    tenantId?: string;
  }
}

const CACHE_MS = 60_000;
const MAX_KEY_LENGTH = 256;

export function apiKeyAuth(store: Pick<Catalog, 'tenantForApiKey'>, opts: { requestsPerMinute: number }): RequestHandler {
  const cache = new Map<string, { tenantId: string | undefined; until: number }>();
  const windows = new Map<string, { start: number; count: number }>();
  return async (req, res, next) => {
    const key = req.header('x-api-key');
    if (!key) return sendError(res, 401, 'MISSING_API_KEY', 'The X-API-Key header is required.');
    // No key is that long: refused before the cache, so huge made-up keys cannot fill it.
    if (key.length > MAX_KEY_LENGTH) return sendError(res, 401, 'UNKNOWN_API_KEY', 'The API key is not recognised.');
    const now = Date.now();
    let entry = cache.get(key);
    if (!entry || entry.until < now) {
      try {
        entry = { tenantId: await store.tenantForApiKey(key), until: now + CACHE_MS };
      } catch (error) {
        return next(error);
      }
      if (cache.size > 10_000) cache.clear();
      cache.set(key, entry);
    }
    if (!entry.tenantId) return sendError(res, 401, 'UNKNOWN_API_KEY', 'The API key is not recognised.');
    const window = windows.get(entry.tenantId);
    if (!window || now - window.start >= 60_000) windows.set(entry.tenantId, { start: now, count: 1 });
    else if (++window.count > opts.requestsPerMinute) {
      res.setHeader('Retry-After', String(Math.ceil((window.start + 60_000 - now) / 1000)));
      return sendError(res, 429, 'RATE_LIMITED', 'Too many requests for this API key.');
    }
    req.tenantId = entry.tenantId;
    next();
  };
}

export function tenantOf(req: { tenantId?: string }): string {
  if (!req.tenantId) throw new Error('route mounted without apiKeyAuth');
  return req.tenantId;
}
