// The tenant's own settings (scope `admin`, checked where the router is mounted). `require_token`:
// every /api/v1 request must then carry a valid bearer token besides its API key. It can only be
// turned on by a request that carries one, so a tenant cannot lock itself out with a setting it
// has no means to satisfy; and only when the engine has a token issuer configured.
import { Router } from 'express';
import { z } from 'zod';
import type { TenantSettings } from '../../src/adapters/dynamo/types';
import { DomainError } from '../../src/domain/errors';
import { tenantOf, type Authenticator } from '../auth';
import type { ApiDeps } from '../deps';

export const putTenantSettingsBody = z.object({ require_token: z.boolean() }).strict();

const view = (settings: TenantSettings) => ({ require_token: settings.require_token, updated_at: settings.updated_at ?? null });

export function tenantSettingsRoutes(deps: ApiDeps, auth: Pick<Authenticator, 'forgetTenant'>): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    res.json(view(await deps.apiKeys.getTenantSettings(tenantOf(req))));
  });
  router.put('/', async (req, res) => {
    const body = putTenantSettingsBody.parse(req.body);
    if (body.require_token) {
      if (!deps.verifyToken) {
        throw new DomainError(
          'unprocessable',
          'OAUTH_NOT_CONFIGURED',
          'No token issuer is configured (OAUTH_ISSUER): tokens cannot be required.',
        );
      }
      if (req.auth?.principal.type !== 'jwt') {
        throw new DomainError('unprocessable', 'TOKEN_NEEDED', 'Send this request with a valid bearer token to require tokens.');
      }
    }
    const settings: TenantSettings = { tenant_id: tenantOf(req), require_token: body.require_token, updated_at: new Date().toISOString() };
    await deps.apiKeys.putTenantSettings(settings);
    auth.forgetTenant(settings.tenant_id);
    res.json(view(settings));
  });
  return router;
}
