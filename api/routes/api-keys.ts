// The tenant's API keys, managed by its administrators (scope `admin`, checked where the router
// is mounted). A key's secret is shown once, in the answer that creates it; only its SHA-256 is
// stored, and listings show the secret's first characters. A key is never deleted: revoked, it
// stays listed. Revocation is refused for the tenant's last admin key that neither is revoked
// nor expires (409 LAST_ADMIN_KEY): a tenant cannot lock its administrators out; to replace that
// key, rotate it. A tenant holds at most MAX_API_KEYS_PER_TENANT live keys (neither revoked nor
// expired; 409 API_KEY_LIMIT_REACHED past it), so its keys cannot crowd other tenants' out of
// the API's key cache; a rotation may stand one over it while the old key's overlap runs. A
// rotation never makes a key live longer: the successor keeps the old key's expiry.
import { randomBytes } from 'node:crypto';
import { Router, type Request } from 'express';
import { ulid } from 'ulid';
import { z } from 'zod';
import { isUsable, prefixOf, scopesOf } from '../../src/adapters/dynamo/api-keys';
import { ranges } from '../../src/adapters/dynamo/keys';
import { sha256 } from '../../src/adapters/dynamo/store';
import type { ApiKeyRecord } from '../../src/adapters/dynamo/types';
import { DomainError, notFound } from '../../src/domain/errors';
import type { NewApiKey } from '../../src/ports';
import { tenantOf, type Authenticator } from '../auth';
import type { ApiDeps } from '../deps';
import { pathId } from '../ids';
import { decodeKeyCursor, encodeCursor } from '../pagination';
import { SCOPES } from '../scopes';

export const MAX_OVERLAP_SECONDS = 7 * 24 * 3600;
export const DEFAULT_OVERLAP_SECONDS = 24 * 3600;
const MAX_LIFETIME_SECONDS = 2 * 366 * 24 * 3600;

const scopes = z
  .array(z.enum(SCOPES))
  .min(1)
  .max(SCOPES.length)
  .refine((list) => new Set(list).size === list.length, 'scopes must not repeat');

export const createApiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(100),
    scopes,
    /** The key stops working this long after it is created (at least a minute, at most two years). */
    expires_in_seconds: z.number().int().min(60).max(MAX_LIFETIME_SECONDS).optional(),
  })
  .strict();

export const rotateApiKeyBody = z
  .object({ overlap_seconds: z.number().int().min(0).max(MAX_OVERLAP_SECONDS).default(DEFAULT_OVERLAP_SECONDS) })
  .strict();

const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(100), cursor: z.string().max(4096).optional() });

/** A key as listings show it: never its secret nor its hash. */
export function apiKeyView(record: ApiKeyRecord, now = new Date().toISOString()) {
  return {
    key_id: record.key_id!,
    name: record.name ?? null,
    prefix: record.prefix ?? null,
    scopes: scopesOf(record),
    status: record.revoked_at ? 'revoked' : isUsable(record, now) ? 'active' : 'expired',
    created_at: record.created_at,
    last_used_at: record.last_used_at ?? null,
    expires_at: record.expires_at ?? null,
    revoked_at: record.revoked_at ?? null,
    rotated_from: record.rotated_from ?? null,
  };
}

/** A new secret (256 random bits) and its record; the secret goes to the client once and is not kept. */
function newKey(tenantId: string, fields: Pick<ApiKeyRecord, 'name' | 'expires_at' | 'rotated_from'> & { scopes: string[] }) {
  const secret = `ek_${randomBytes(32).toString('base64url')}`;
  const record = { tenant_id: tenantId, key_id: ulid(), prefix: prefixOf(secret), created_at: new Date().toISOString(), ...fields };
  const key: NewApiKey = { hash: sha256(secret), record };
  return { secret, key };
}

export function apiKeyRoutes(deps: ApiDeps, auth: Pick<Authenticator, 'forgetKey'>): Router {
  const router = Router();
  const keyId = (req: Request<{ id: string }>) => pathId('API key', req.params.id);
  const limit = deps.config.MAX_API_KEYS_PER_TENANT;
  const limitReached = () =>
    new DomainError(
      'conflict',
      'API_KEY_LIMIT_REACHED',
      `The tenant already holds ${limit} API keys that are neither revoked nor expired; revoke one it no longer needs first.`,
      { limit },
    );

  router.get('/', async (req, res) => {
    const query = listQuery.parse(req.query);
    const tenantId = tenantOf(req);
    const { PK, skPrefix } = ranges.apiKeys(tenantId);
    const page = await deps.apiKeys.listApiKeys(tenantId, query.limit, decodeKeyCursor(query.cursor, PK, skPrefix));
    res.json({ items: page.items.map((r) => apiKeyView(r)), next_cursor: encodeCursor(page.cursor) });
  });

  router.post('/', async (req, res) => {
    const body = createApiKeyBody.parse(req.body);
    const expiresAt = body.expires_in_seconds ? new Date(Date.now() + body.expires_in_seconds * 1000).toISOString() : undefined;
    const { secret, key } = newKey(tenantOf(req), {
      name: body.name,
      scopes: body.scopes,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
    });
    if ((await deps.apiKeys.createApiKey(key, limit)) === 'limit_reached') throw limitReached();
    res.status(201).json({ ...apiKeyView(key.record), secret });
  });

  router.get('/:id', async (req, res) => {
    const record = await deps.apiKeys.getApiKey(tenantOf(req), keyId(req));
    if (!record) throw notFound('API key', req.params.id);
    res.json(apiKeyView(record));
  });

  router.delete('/:id', async (req, res) => {
    const id = keyId(req);
    const result = await deps.apiKeys.revokeApiKey(tenantOf(req), id, new Date().toISOString());
    if (result === 'not_found') throw notFound('API key', id);
    if (result === 'last_admin') {
      throw new DomainError(
        'conflict',
        'LAST_ADMIN_KEY',
        "This is the tenant's last admin key that does not expire; rotate it, or create another admin key first.",
      );
    }
    auth.forgetKey(id);
    res.status(204).end();
  });

  router.post('/:id/rotate', async (req, res) => {
    const id = keyId(req);
    const body = rotateApiKeyBody.parse(req.body ?? {});
    const tenantId = tenantOf(req);
    const old = await deps.apiKeys.getApiKey(tenantId, id);
    if (!old) throw notFound('API key', id);
    if (!old.revoked_at && !isUsable(old, new Date().toISOString())) {
      throw new DomainError('conflict', 'API_KEY_EXPIRED', 'An expired key cannot be rotated; create a new key instead.');
    }
    const { secret, key } = newKey(tenantId, { name: old.name, scopes: scopesOf(old), rotated_from: id });
    const overlapEnds = new Date(Date.now() + body.overlap_seconds * 1000).toISOString();
    const result = await deps.apiKeys.rotateApiKey(tenantId, id, key, overlapEnds, limit);
    if (result === 'not_found') throw notFound('API key', id);
    if (result === 'revoked') throw new DomainError('conflict', 'API_KEY_REVOKED', 'A revoked key cannot be rotated.');
    if (result === 'limit_reached') throw limitReached();
    auth.forgetKey(id);
    // Both as stored: the successor's expiry is the old key's, as the rotation read it.
    const [replaced, created] = await Promise.all([
      deps.apiKeys.getApiKey(tenantId, id),
      deps.apiKeys.getApiKey(tenantId, key.record.key_id),
    ]);
    res.status(201).json({
      ...apiKeyView(created ?? key.record),
      secret,
      replaces: { key_id: id, expires_at: replaced?.expires_at ?? overlapEnds },
    });
  });

  return router;
}
