// OAuth 2.0 bearer tokens beside the API key, against a real OAuth 2.0 / OpenID Connect server
// (oauth2-mock-server) started here on a random port: tokens come from its token endpoint with
// the client-credentials grant, over HTTP; its beforeTokenSigning hook sets the claims each test
// asks for in the token request. The API finds the JWKS through the server's discovery document.
// A valid token passes with the scopes both it and the key allow and names the principal;
// expired, foreign, wrong-audience, unsigned and HMAC tokens get 401; so does a token of another
// tenant; require_token makes a key alone insufficient.
import { SignJWT } from 'jose';
import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/ports';
import { testConfig, TENANTS } from '../support/harness';
import { seedOwnTenant, serveApp, type ServedApp } from './in-process';

const AUDIENCE = 'email-engine-api';

/** Claims a token request asks for (form fields besides the grant's), applied by the hook. */
type Asked = { client_id: string; tenant?: string; exp_in?: string; iss?: string };

async function startIssuer(): Promise<OAuth2Server> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  server.service.on('beforeTokenSigning', (token, req) => {
    const asked = (req as unknown as { body: Asked }).body;
    token.payload.sub = asked.client_id;
    if (asked.tenant) token.payload.tenant_id = asked.tenant;
    if (asked.exp_in) token.payload.exp = Math.floor(Date.now() / 1000) + Number(asked.exp_in);
    if (asked.iss) token.payload.iss = asked.iss;
  });
  await server.start(0, '127.0.0.1');
  return server;
}

let idp: OAuth2Server;
let foreign: OAuth2Server;
let app: ServedApp;
let tenant: Awaited<ReturnType<typeof seedOwnTenant>>;

beforeAll(async () => {
  idp = await startIssuer();
  foreign = await startIssuer();
  const config = testConfig({ OAUTH_ISSUER: idp.issuer.url!, OAUTH_AUDIENCE: AUDIENCE });
  tenant = await seedOwnTenant(config, 'oauth');
  app = await serveApp(config);
});
afterAll(async () => {
  await app?.close();
  await idp?.stop();
  await foreign?.stop();
});

/** An access token from `server`'s token endpoint, client-credentials grant. */
async function tokenFrom(
  server: OAuth2Server,
  opts: { scope: string; tenant?: string; aud?: string; expIn?: number; iss?: string; client?: string },
): Promise<string> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: opts.client ?? 'billing-service',
    scope: opts.scope,
    aud: opts.aud ?? AUDIENCE,
    ...(opts.tenant === undefined ? {} : { tenant: opts.tenant }),
    ...(opts.expIn === undefined ? {} : { exp_in: String(opts.expIn) }),
    ...(opts.iss === undefined ? {} : { iss: opts.iss }),
  });
  const res = await fetch(`${server.issuer.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { access_token: string; token_type: string };
  expect(body.token_type).toBe('Bearer');
  return body.access_token;
}

const token = (opts: Parameters<typeof tokenFrom>[1]) => tokenFrom(idp, { tenant: tenant.tenantId, ...opts });

async function call(method: string, path: string, opts: { key?: string; bearer?: string; authorization?: string; body?: unknown } = {}) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      'x-api-key': opts.key ?? tenant.apiKey,
      ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
      ...(opts.authorization ? { authorization: opts.authorization } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as any };
}

const expectRefused = (res: Awaited<ReturnType<typeof call>>, code: string, reason?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(401);
  expect(res.body.error.code).toBe(code);
  if (reason) expect(res.body.error.details).toEqual({ reason });
  expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
};

const file = { file_name: 'r.csv', content_type: 'text/csv' };

describe('bearer tokens beside the API key', () => {
  it("passes a valid token for the key's tenant: the request may do what both allow, and its principal is the token's subject", async () => {
    const bearer = await token({ scope: 'files:write suppressions:read openid', client: 'reporting-job' });
    const created = await call('POST', '/api/v1/files/presigned-url', { bearer, body: file });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await call('GET', '/api/v1/suppressions', { bearer })).status).toBe(200);
    // The key is admin; the token allows neither of these.
    const denied = await call('PUT', '/api/v1/suppressions/someone@example.com', { bearer });
    expect(denied.status).toBe(403);
    expect(denied.body.error.details).toEqual({ scope: 'suppressions:write' });
    expect((await call('GET', '/api/v1/api-keys', { bearer })).body.error.details).toEqual({ scope: 'admin' });

    const entries = (await call('GET', '/api/v1/audit?action=files.create')).body.items;
    const keyId = (await call('GET', '/api/v1/api-keys')).body.items[0].key_id;
    expect(entries.find((e: { target: string }) => e.target === created.body.file_id)).toMatchObject({
      principal: { type: 'jwt', id: 'reporting-job' },
      key_id: keyId,
      outcome: 201,
    });
  });

  it('accepts a token that expired within the clock tolerance, and refuses one past it', async () => {
    expect((await call('GET', '/api/v1/suppressions', { bearer: await token({ scope: 'suppressions:read', expIn: -5 }) })).status).toBe(
      200,
    );
    expectRefused(
      await call('GET', '/api/v1/suppressions', { bearer: await token({ scope: 'suppressions:read', expIn: -120 }) }),
      'INVALID_TOKEN',
      'expired',
    );
  });

  it('refuses foreign-issuer, wrong-issuer, wrong-audience and tenantless tokens with 401', async () => {
    const fromForeign = await tokenFrom(foreign, { scope: 'admin', tenant: tenant.tenantId });
    expectRefused(await call('GET', '/api/v1/suppressions', { bearer: fromForeign }), 'INVALID_TOKEN', 'signature');
    const wrongIss = await token({ scope: 'admin', iss: foreign.issuer.url! });
    expectRefused(await call('GET', '/api/v1/suppressions', { bearer: wrongIss }), 'INVALID_TOKEN', 'issuer');
    const wrongAud = await token({ scope: 'admin', aud: 'another-api' });
    expectRefused(await call('GET', '/api/v1/suppressions', { bearer: wrongAud }), 'INVALID_TOKEN', 'audience');
    const tenantless = await tokenFrom(idp, { scope: 'admin' });
    expectRefused(await call('GET', '/api/v1/suppressions', { bearer: tenantless }), 'INVALID_TOKEN', 'tenant');
  });

  it('refuses an unsigned token (alg none), an HMAC one and one that is not a JWT, whatever their claims', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: idp.issuer.url,
      aud: AUDIENCE,
      sub: 'mallory',
      tenant_id: tenant.tenantId,
      scope: 'admin',
      iat: now,
      exp: now + 600,
    };
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expectRefused(await call('GET', '/api/v1/api-keys', { bearer: unsigned }), 'INVALID_TOKEN', 'algorithm');
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('a-shared-secret-of-32-bytes-long!'));
    expectRefused(await call('GET', '/api/v1/api-keys', { bearer: hmac }), 'INVALID_TOKEN', 'algorithm');
    expectRefused(await call('GET', '/api/v1/api-keys', { bearer: 'not-a-jwt' }), 'INVALID_TOKEN', 'malformed');
    expectRefused(await call('GET', '/api/v1/api-keys', { authorization: 'Basic dXNlcjpwYXNz' }), 'INVALID_TOKEN', 'malformed');
  });

  it("refuses a token of another tenant presented with this tenant's key", async () => {
    const theirs = await tokenFrom(idp, { scope: 'admin', tenant: TENANTS.b.tenantId });
    expectRefused(await call('GET', '/api/v1/suppressions', { bearer: theirs }), 'TOKEN_TENANT_MISMATCH', 'tenant');
    // The key stays mandatory: a token alone is not enough.
    const alone = await fetch(`${app.url}/api/v1/suppressions`, {
      headers: { authorization: `Bearer ${await token({ scope: 'admin' })}` },
    });
    expect(alone.status).toBe(401);
    expect(((await alone.json()) as any).error.code).toBe('MISSING_API_KEY');
  });

  it('require_token: turned on only by a request with a token; then the key alone gets 401 TOKEN_REQUIRED', async () => {
    const admin = await token({ scope: 'admin' });
    const refused = await call('PUT', '/api/v1/tenant/settings', { body: { require_token: true } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('TOKEN_NEEDED');
    const on = await call('PUT', '/api/v1/tenant/settings', { bearer: admin, body: { require_token: true } });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body).toEqual({ require_token: true, updated_at: expect.any(String) });
    try {
      expectRefused(await call('GET', '/api/v1/suppressions'), 'TOKEN_REQUIRED');
      expect((await call('GET', '/api/v1/suppressions', { bearer: await token({ scope: 'suppressions:read' }) })).status).toBe(200);
      expectRefused(
        await call('GET', '/api/v1/suppressions', { bearer: await token({ scope: 'admin', expIn: -120 }) }),
        'INVALID_TOKEN',
        'expired',
      );
    } finally {
      expect((await call('PUT', '/api/v1/tenant/settings', { bearer: admin, body: { require_token: false } })).status).toBe(200);
    }
    expect((await call('GET', '/api/v1/suppressions')).status).toBe(200);
    // Other tenants never needed one.
    expect((await call('GET', '/api/v1/suppressions', { key: TENANTS.b.apiKey })).status).toBe(200);
  });

  it("answers 503 when the issuer's keys cannot be fetched, and never lets the token through", async () => {
    const config = testConfig({
      OAUTH_ISSUER: idp.issuer.url!,
      OAUTH_AUDIENCE: AUDIENCE,
      OAUTH_JWKS_URL: `http://127.0.0.1:${await freePort()}/jwks`,
    });
    const unreachable = await serveApp(config);
    try {
      const res = await fetch(`${unreachable.url}/api/v1/suppressions`, {
        headers: { 'x-api-key': tenant.apiKey, authorization: `Bearer ${await token({ scope: 'admin' })}` },
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).error.code).toBe('TOKEN_ISSUER_UNAVAILABLE');
    } finally {
      await unreachable.close();
    }
  });
});
