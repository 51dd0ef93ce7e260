// The OAuth settings (issue 14, item 9): off by default, an audience required with an issuer,
// asymmetric algorithms only, https in production.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';

const local = (env: Record<string, string>) => loadConfig({ LOCAL_STACK_DIR: mkdtempSync(join(tmpdir(), 'oauth-config-')), ...env });
const issuer = { OAUTH_ISSUER: 'http://127.0.0.1:9999', OAUTH_AUDIENCE: 'email-engine' };

describe('OAuth config', () => {
  it('is off unless an issuer is set, with the documented defaults', () => {
    const config = local({});
    expect(config.OAUTH_ISSUER).toBeUndefined();
    expect(config.OAUTH_TENANT_CLAIM).toBe('tenant_id');
    expect(config.OAUTH_SCOPE_CLAIM).toBe('scope');
    expect(config.OAUTH_ALGORITHMS).toEqual(['RS256', 'ES256', 'EdDSA']);
    expect(config.OAUTH_CLOCK_TOLERANCE_SECONDS).toBe(30);
  });

  it('requires an audience with an issuer', () => {
    expect(() => local({ OAUTH_ISSUER: issuer.OAUTH_ISSUER })).toThrow(/OAUTH_AUDIENCE: is required with OAUTH_ISSUER/);
    expect(local(issuer).OAUTH_AUDIENCE).toBe('email-engine');
  });

  it('accepts asymmetric algorithms only: never none, never HMAC', () => {
    expect(local({ ...issuer, OAUTH_ALGORITHMS: 'PS256, ES384' }).OAUTH_ALGORITHMS).toEqual(['PS256', 'ES384']);
    for (const bad of ['none', 'HS256', 'RS256,HS512', ' , ']) {
      expect(() => local({ ...issuer, OAUTH_ALGORITHMS: bad }), bad).toThrow(/OAUTH_ALGORITHMS/);
    }
  });

  it('bounds the clock tolerance', () => {
    expect(() => local({ ...issuer, OAUTH_CLOCK_TOLERANCE_SECONDS: '3600' })).toThrow(/OAUTH_CLOCK_TOLERANCE_SECONDS/);
  });

  it('wants https for the issuer and the JWKS in production', () => {
    const production = {
      APP_ENV: 'production',
      UNSUBSCRIBE_SECRET: 'a-production-secret-0123456789',
      OPERATOR_TOKEN: 'an-operator-token-0123456789-0123456789',
      PUBLIC_BASE_URL: 'https://mail.example.com',
      OAUTH_AUDIENCE: 'email-engine',
    };
    expect(() => loadConfig({ ...production, OAUTH_ISSUER: 'http://idp.example.com' })).toThrow(/OAUTH_ISSUER: must be an https URL/);
    expect(() =>
      loadConfig({ ...production, OAUTH_ISSUER: 'https://idp.example.com', OAUTH_JWKS_URL: 'http://idp.example.com/jwks' }),
    ).toThrow(/OAUTH_JWKS_URL: must be an https URL/);
    expect(loadConfig({ ...production, OAUTH_ISSUER: 'https://idp.example.com' }).OAUTH_ISSUER).toBe('https://idp.example.com');
  });
});
