// OAuth 2.0 bearer tokens (JWT access tokens, RFC 9068) from the one configured issuer, checked
// with `jose`: the signature against the issuer's JWKS, the algorithm against an allow-list of
// asymmetric ones (never `none`, never HMAC), the issuer, the audience, the expiry (with a small
// clock tolerance), and a subject and tenant present. The tenant and scopes come from the
// configured claims. A token that fails any check is a 401; an issuer that cannot be reached a 503.
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../src/config';
import { isScope, type Scope } from './scopes';

export interface VerifiedToken {
  subject: string;
  tenantId: string;
  scopes: Set<Scope>;
}

export type TokenVerifier = (token: string) => Promise<VerifiedToken>;

export class TokenError extends Error {
  constructor(
    readonly status: 401 | 503,
    readonly code: string,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

type OAuthConfig = Pick<
  Config,
  | 'APP_ENV'
  | 'OAUTH_ISSUER'
  | 'OAUTH_JWKS_URL'
  | 'OAUTH_AUDIENCE'
  | 'OAUTH_TENANT_CLAIM'
  | 'OAUTH_SCOPE_CLAIM'
  | 'OAUTH_ALGORITHMS'
  | 'OAUTH_CLOCK_TOLERANCE_SECONDS'
>;

const FETCH_TIMEOUT_MS = 5000;

/** The verifier for the configured issuer; undefined when OAUTH_ISSUER is not set (tokens are then refused). */
export function tokenVerifier(config: OAuthConfig): TokenVerifier | undefined {
  const issuer = config.OAUTH_ISSUER;
  if (!issuer) return undefined;
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const keySet = () =>
    (keys ??= jwksUrl(config, issuer).then(
      (url) => createRemoteJWKSet(url, { timeoutDuration: FETCH_TIMEOUT_MS, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }),
      (error: unknown) => {
        keys = undefined; // discovery is tried again on the next token
        throw error;
      },
    ));
  return async (token) => {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await keySet(), {
        issuer,
        audience: config.OAUTH_AUDIENCE,
        algorithms: [...config.OAUTH_ALGORITHMS],
        clockTolerance: config.OAUTH_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw refusal(error);
    }
    const tenantId = payload[config.OAUTH_TENANT_CLAIM];
    if (typeof tenantId !== 'string' || tenantId === '') {
      throw new TokenError(401, 'INVALID_TOKEN', `The token carries no ${config.OAUTH_TENANT_CLAIM} claim.`, 'tenant');
    }
    return { subject: payload.sub!, tenantId, scopes: scopesOfClaim(payload[config.OAUTH_SCOPE_CLAIM]) };
  };
}

/** A scope claim (a space-separated string, or an array) as the scopes this engine knows; others grant nothing. */
export function scopesOfClaim(claim: unknown): Set<Scope> {
  const values = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
  return new Set(values.filter((v): v is Scope => typeof v === 'string' && isScope(v)));
}

/**
 * OAUTH_JWKS_URL, else the jwks_uri of the issuer's OpenID discovery document (whose `issuer`
 * must be ours), else `<issuer>/jwks` when the issuer publishes no discovery document.
 */
async function jwksUrl(config: OAuthConfig, issuer: string): Promise<URL> {
  if (config.OAUTH_JWKS_URL) return new URL(config.OAUTH_JWKS_URL);
  const base = issuer.replace(/\/+$/, '');
  const res = await fetch(`${base}/.well-known/openid-configuration`, {
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    redirect: 'error',
  });
  if (res.status === 404) return new URL(`${base}/jwks`);
  if (!res.ok) throw new Error(`OpenID discovery answered ${res.status}`);
  const document = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (document.issuer !== issuer) throw new Error('OpenID discovery names another issuer');
  if (typeof document.jwks_uri !== 'string') throw new Error('OpenID discovery has no jwks_uri');
  const url = new URL(document.jwks_uri);
  if (config.APP_ENV === 'production' && url.protocol !== 'https:') throw new Error('the discovered jwks_uri is not https');
  return url;
}

/** Why jose refused a token, as the 401 (or, when the issuer's keys cannot be had, the 503) it becomes. */
function refusal(error: unknown): TokenError {
  const invalid = (reason: string, message: string) => new TokenError(401, 'INVALID_TOKEN', message, reason);
  if (error instanceof errors.JWTExpired) return invalid('expired', 'The token has expired.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = { iss: 'issuer', aud: 'audience', nbf: 'not_yet_valid' };
    return invalid(reasons[error.claim] ?? 'claims', `The token's ${error.claim} claim is not accepted.`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return invalid('algorithm', "The token's signing algorithm is not accepted.");
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed) {
    return invalid('signature', 'The token is not signed by a key of the issuer.');
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return invalid('malformed', 'The token is not a valid JWT.');
  return new TokenError(503, 'TOKEN_ISSUER_UNAVAILABLE', "The token issuer's keys cannot be fetched right now; try again shortly.");
}
