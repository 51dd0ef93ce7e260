// Scopes and the pure parts of authentication and the audit trail: what a key and a token allow
// together, which scope a request needs, how a token's scope claim reads, and how a request
// becomes an audit action and target (never an id in the action, never an address in the target).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { actionOf, auditTarget, paramsOf } from '../../api/audit';
import { scopesOfClaim } from '../../api/oauth';
import { CAMPAIGN_SCOPE_OVERRIDES, hasScope, intersectScopes, scopeFor, SCOPES } from '../../api/scopes';
import { AUDIT_ACTION } from '../../src/adapters/dynamo/audit';
import { holdsAdmin, isUsable, prefixOf, scopesOf } from '../../src/adapters/dynamo/api-keys';

describe('scopes', () => {
  it('needs <area>:read for GET and HEAD, <area>:write for the rest, with overrides by sub-path', () => {
    expect(scopeFor({ method: 'GET', path: '/x/status' }, 'campaigns')).toBe('campaigns:read');
    expect(scopeFor({ method: 'HEAD', path: '/' }, 'templates')).toBe('templates:read');
    expect(scopeFor({ method: 'POST', path: '/x/pause' }, 'campaigns')).toBe('campaigns:write');
    expect(scopeFor({ method: 'DELETE', path: '/a@b.c' }, 'suppressions')).toBe('suppressions:write');
    expect(scopeFor({ method: 'GET', path: '/x/analytics' }, 'campaigns', [[/^\/[^/]+\/analytics$/, 'analytics']])).toBe('analytics:read');
  });

  it("needs analytics:read for a campaign's analytics however Express would still route the path", () => {
    // Express routes case-insensitively and with or without a trailing slash: each is the analytics route.
    for (const path of ['/x/analytics', '/x/analytics/', '/x/ANALYTICS', '/x/Analytics/'])
      expect(scopeFor({ method: 'GET', path }, 'campaigns', CAMPAIGN_SCOPE_OVERRIDES), path).toBe('analytics:read');
    for (const path of ['/x/status', '/x/analytics-x', '/analytics', '/x/y/analytics'])
      expect(scopeFor({ method: 'GET', path }, 'campaigns', CAMPAIGN_SCOPE_OVERRIDES), path).toBe('campaigns:read');
  });

  it('lets admin do everything and a scoped key only its scopes', () => {
    expect(SCOPES.every((s) => hasScope(new Set(['admin']), s))).toBe(true);
    const reader = new Set(['campaigns:read']);
    expect(hasScope(reader, 'campaigns:read')).toBe(true);
    expect(hasScope(reader, 'campaigns:write')).toBe(false);
    expect(hasScope(reader, 'admin')).toBe(false);
  });

  it('intersects a key and a token: admin only when both have it, else what both grant', () => {
    const admin = new Set(['admin']);
    expect([...intersectScopes(admin, admin)]).toEqual(['admin']);
    expect([...intersectScopes(admin, new Set(['campaigns:read']))]).toEqual(['campaigns:read']);
    expect([...intersectScopes(new Set(['campaigns:read', 'files:write']), admin)].sort()).toEqual(['campaigns:read', 'files:write']);
    expect([...intersectScopes(new Set(['campaigns:read', 'files:write']), new Set(['campaigns:read', 'templates:write']))]).toEqual([
      'campaigns:read',
    ]);
    expect(intersectScopes(new Set(['campaigns:read']), new Set()).size).toBe(0);
  });

  it("reads a token's scope claim as a space-separated string or an array, keeping only known scopes", () => {
    expect([...scopesOfClaim('campaigns:read  files:write openid')]).toEqual(['campaigns:read', 'files:write']);
    expect([...scopesOfClaim(['admin', 'profile', 3])]).toEqual(['admin']);
    expect(scopesOfClaim(undefined).size).toBe(0);
    expect(scopesOfClaim({ admin: true }).size).toBe(0);
  });
});

describe('API key records', () => {
  const now = '2030-01-01T00:00:00.000Z';
  it('gives keys stored before scopes existed admin', () => {
    expect(scopesOf({})).toEqual(['admin']);
    expect(scopesOf({ scopes: ['files:write'] })).toEqual(['files:write']);
  });

  it('counts as an admin key only an admin key that is neither revoked nor set to expire', () => {
    const base = { tenant_id: 't', created_at: now };
    expect(holdsAdmin({ ...base })).toBe(true);
    expect(holdsAdmin({ ...base, scopes: ['admin'] })).toBe(true);
    expect(holdsAdmin({ ...base, scopes: ['campaigns:write'] })).toBe(false);
    expect(holdsAdmin({ ...base, revoked_at: now })).toBe(false);
    expect(holdsAdmin({ ...base, expires_at: '2031-01-01T00:00:00.000Z' })).toBe(false);
  });

  it('is usable until revoked or past its expiry', () => {
    const base = { tenant_id: 't', created_at: now };
    expect(isUsable(base, now)).toBe(true);
    expect(isUsable({ ...base, expires_at: '2030-01-01T00:00:01.000Z' }, now)).toBe(true);
    expect(isUsable({ ...base, expires_at: now }, now)).toBe(false);
    expect(isUsable({ ...base, revoked_at: now }, now)).toBe(false);
  });

  it('shows at most a quarter of a secret, and 10 characters of a long one', () => {
    expect(prefixOf('ek_' + 'a'.repeat(43))).toBe('ek_aaaaaaa');
    expect(prefixOf('0123456789abcdef')).toBe('0123');
  });
});

describe('audit actions and targets', () => {
  it('names the action from the route pattern and method, never from ids', () => {
    const cases: [string, string, string][] = [
      ['POST', '/api/v1/campaigns/', 'campaigns.create'],
      ['POST', '/api/v1/transactions/', 'campaigns.create'],
      ['POST', '/api/v1/campaigns/:id/pause', 'campaigns.pause'],
      ['POST', '/api/v1/campaigns/:id/send-now', 'campaigns.send-now'],
      ['PATCH', '/api/v1/campaigns/:id/schedule', 'campaigns.schedule'],
      ['POST', '/api/v1/templates/presigned-url', 'templates.create'],
      ['POST', '/api/v1/templates/:templateId/confirm', 'templates.confirm'],
      ['POST', '/api/v1/files/presigned-url', 'files.create'],
      ['PUT', '/api/v1/suppressions/:email', 'suppressions.put'],
      ['DELETE', '/api/v1/suppressions/:email', 'suppressions.delete'],
      ['POST', '/api/v1/api-keys/', 'api-keys.create'],
      ['DELETE', '/api/v1/api-keys/:id', 'api-keys.revoke'],
      ['POST', '/api/v1/api-keys/:id/rotate', 'api-keys.rotate'],
      ['PUT', '/api/v1/tenant/settings/', 'tenant-settings.update'],
      ['PUT', '/api/v1/identities/:identity', 'identities.put'],
    ];
    for (const [method, pattern, action] of cases) {
      expect(actionOf(method, pattern), `${method} ${pattern}`).toBe(action);
      expect(action).toMatch(AUDIT_ACTION);
    }
  });

  it("reads the pattern's parameters from the path, decoded", () => {
    expect(paramsOf('/api/v1/campaigns/:id/pause', '/api/v1/campaigns/01ABC/pause?x=1')).toEqual(['01ABC']);
    expect(paramsOf('/api/v1/suppressions/:email', '/api/v1/suppressions/a%2Bb%40example.com')).toEqual(['a+b@example.com']);
    expect(paramsOf('/api/v1/campaigns/', '/api/v1/campaigns')).toEqual([]);
    expect(paramsOf('/api/v1/campaigns/:id/pause', '/api/v1/campaigns/pause')).toBeUndefined();
    expect(paramsOf('/api/v1/x/:id', '/api/v1/x/%E0%A4%A')).toEqual(['%E0%A4%A']);
  });

  it('keeps an address only as the SHA-256 of its normal form, and bounds other targets', () => {
    const hash = createHash('sha256').update('someone@example.com').digest('hex');
    expect(auditTarget('Someone@Example.com')).toBe(`sha256:${hash}`);
    expect(auditTarget(' someone@example.com ')).toBe(`sha256:${hash}`);
    expect(auditTarget('01HXYZ')).toBe('01HXYZ');
    expect(auditTarget('x'.repeat(5000))).toHaveLength(256);
  });
});
