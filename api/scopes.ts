// What a credential may do. Each router of /api/v1 is mounted behind `scoped(area)`: reading
// (GET, HEAD) needs `<area>:read`, anything else `<area>:write`; `admin` may do everything.
// A valid credential without the scope gets 403 (FORBIDDEN), naming the scope it lacks.
import type { Request, RequestHandler } from 'express';
import { sendError } from './errors';

export const AREAS = ['campaigns', 'templates', 'files', 'suppressions', 'analytics', 'identities', 'recipients'] as const;
export type Area = (typeof AREAS)[number];
export const SCOPES = [...AREAS.flatMap((area) => [`${area}:read`, `${area}:write`] as const), 'admin'] as const;
export type Scope = `${Area}:${'read' | 'write'}` | 'admin';

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function hasScope(scopes: ReadonlySet<string>, needed: Scope): boolean {
  return scopes.has('admin') || scopes.has(needed);
}

/**
 * What a request carrying both a key and a token may do: what both allow. `admin` survives only
 * when both have it; otherwise each scope one grants (directly or through `admin`) must be
 * granted by the other.
 */
export function intersectScopes(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<Scope> {
  if (a.has('admin') && b.has('admin')) return new Set(['admin']);
  return new Set(SCOPES.filter((s) => s !== 'admin' && hasScope(a, s) && hasScope(b, s)));
}

/**
 * A campaign's analytics need `analytics:read`. Express matches routes case-insensitively and
 * with or without a trailing slash, so the pattern does too (`/x/ANALYTICS/` is the same route).
 */
export const CAMPAIGN_SCOPE_OVERRIDES: [RegExp, Area][] = [[/^\/[^/]+\/analytics\/?$/i, 'analytics']];

/** The scope a request to `area` needs; `overrides` map a sub-path to another area (e.g. a campaign's analytics). */
export function scopeFor(req: Pick<Request, 'method' | 'path'>, area: Area, overrides: [RegExp, Area][] = []): Scope {
  const target = overrides.find(([pattern]) => pattern.test(req.path))?.[1] ?? area;
  const read = req.method === 'GET' || req.method === 'HEAD';
  return `${target}:${read ? 'read' : 'write'}`;
}

export function scoped(area: Area, overrides: [RegExp, Area][] = []): RequestHandler {
  return (req, res, next) => requireScope(scopeFor(req, area, overrides))(req, res, next);
}

/** For a route that needs a scope of its own (e.g. admin only). */
export function requireScope(needed: Scope): RequestHandler {
  return (req, res, next) => {
    if (!req.auth) throw new Error('requireScope() mounted without authentication');
    if (!hasScope(req.auth.scopes, needed)) {
      return sendError(res, 403, 'FORBIDDEN', `This credential lacks the scope ${needed}.`, { scope: needed });
    }
    next();
  };
}
