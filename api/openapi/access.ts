// The Access area of the OpenAPI document: API keys (api/routes/api-keys.ts), the audit log
// (api/routes/audit.ts) and the tenant's settings (api/routes/tenant-settings.ts); all need `admin`.
import { KEY_CACHE_SECONDS } from '../auth';
import { createApiKeyBody, rotateApiKeyBody } from '../routes/api-keys';
import { putTenantSettingsBody } from '../routes/tenant-settings';
import { SCOPES } from '../scopes';
import { body, cursorParam, dateTime, err, idParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const KEYS = 'API keys';
const AUDIT = 'Audit';
const SETTINGS = 'Tenant settings';
const adminOnly = 'Needs the scope admin.';

const apiKey = {
  type: 'object',
  required: ['key_id', 'name', 'prefix', 'scopes', 'status', 'created_at', 'last_used_at', 'expires_at', 'revoked_at', 'rotated_from'],
  properties: {
    key_id: { type: 'string' },
    name: nullable('string'),
    prefix: { ...nullable('string'), description: "The secret's first characters" },
    scopes: { type: 'array', items: { enum: [...SCOPES] } },
    status: { enum: ['active', 'expired', 'revoked'] },
    created_at: dateTime,
    last_used_at: { ...nullable('string'), description: 'Updated at most once a minute' },
    expires_at: { ...nullable('string'), description: 'Set when created to expire, or when rotated (the end of the overlap)' },
    revoked_at: nullable('string'),
    rotated_from: { ...nullable('string'), description: 'The key this one replaced' },
  },
};
const withSecret = {
  ...apiKey,
  required: [...apiKey.required, 'secret'],
  properties: {
    ...apiKey.properties,
    secret: { type: 'string', description: 'The key itself, for X-API-Key: shown this once, never stored' },
  },
};
const keyIdParam = idParam('key_id');
const timeParam = (name: string, description: string) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: { type: 'string', format: 'date-time' },
});

export const accessArea: ApiArea = {
  tags: [
    {
      name: KEYS,
      description:
        "The tenant's API keys and their scopes. `<area>:read` allows GET on an area, `<area>:write` everything else, `admin` all. " +
        'A key stored before keys carried scopes has admin.',
    },
    {
      name: AUDIT,
      description:
        'Every state-changing /api/v1 request that passed authentication, refusals included, with who made it (the key, or the bearer ' +
        "token's subject), the action, its target, the request id (the client's X-Request-Id when plain, else one the API made; every " +
        'response carries it in X-Request-Id) and the HTTP status. Append-only: no operation updates or deletes an entry.',
    },
    { name: SETTINGS, description: 'Settings of the tenant that governs how its requests are authenticated' },
  ],
  schemas: {
    ApiKey: apiKey,
    ApiKeyCreated: withSecret,
    ApiKeyRotated: {
      ...withSecret,
      required: [...withSecret.required, 'replaces'],
      properties: {
        ...withSecret.properties,
        replaces: {
          type: 'object',
          required: ['key_id', 'expires_at'],
          properties: { key_id: { type: 'string' }, expires_at: { ...dateTime, description: 'When the old key stops working' } },
        },
      },
    },
    ApiKeyPage: {
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: ref('ApiKey') }, next_cursor: nullable('string') },
    },
    AuditEntry: {
      type: 'object',
      required: ['audit_id', 'tenant_id', 'at', 'principal', 'action', 'request_id', 'outcome'],
      properties: {
        audit_id: { type: 'string' },
        tenant_id: { type: 'string' },
        at: dateTime,
        principal: {
          type: 'object',
          required: ['type', 'id'],
          properties: { type: { enum: ['api_key', 'jwt', 'operator', 'system'] }, id: { type: 'string' } },
        },
        key_id: { type: 'string', description: 'The key the request authenticated with' },
        action: {
          type: 'string',
          description: 'e.g. campaigns.create, campaigns.pause, api-keys.revoke; access.denied for a missing scope',
        },
        target: { type: 'string', description: 'The id acted on or created; an email address as sha256:<hex of the address>' },
        request_id: { type: 'string' },
        outcome: { type: 'integer', description: 'The HTTP status answered (499: the client went away first)' },
        method: { type: 'string' },
        route: { ...nullable('string'), description: 'The route pattern; null when none matched' },
        source_ip: { type: 'string' },
        aborted: { type: 'boolean' },
        details: { type: 'object' },
      },
    },
    AuditPage: {
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: ref('AuditEntry') }, next_cursor: nullable('string') },
    },
    TenantSettings: {
      type: 'object',
      required: ['require_token', 'updated_at'],
      properties: {
        require_token: { type: 'boolean', description: 'Every /api/v1 request needs a valid bearer token besides its API key' },
        updated_at: nullable('string'),
      },
    },
  },
  paths: {
    '/api/v1/api-keys': {
      get: {
        ...meta('listApiKeys', "List the tenant's API keys, oldest first (never their secrets)", KEYS),
        description: adminOnly,
        parameters: [
          { ...cursorParam },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 100 } },
        ],
        responses: v1({
          '200': ok('A page of keys', ref('ApiKeyPage')),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
      post: {
        ...meta('createApiKey', 'Create an API key with the given scopes', KEYS),
        description:
          `${adminOnly} The answer carries the secret, once. A tenant holds at most a configured number of keys that are neither ` +
          'revoked nor expired (MAX_API_KEYS_PER_TENANT, 50 by default): revoke one it no longer needs to make room.',
        requestBody: body(createApiKeyBody),
        responses: v1(
          {
            '201': ok('Created', ref('ApiKeyCreated')),
            '409': err('The tenant holds as many live keys as it may (API_KEY_LIMIT_REACHED; details.limit)'),
          },
          { body: true },
        ),
      },
    },
    '/api/v1/api-keys/{key_id}': {
      get: {
        ...meta('getApiKey', 'Get an API key', KEYS),
        description: adminOnly,
        parameters: [keyIdParam],
        responses: v1({ '200': ok('The key', ref('ApiKey')) }, { path: true }),
      },
      delete: {
        ...meta('revokeApiKey', 'Revoke an API key', KEYS),
        description:
          `${adminOnly} The key stops working at once on the API process that answers, and within ${KEY_CACHE_SECONDS} seconds on every ` +
          'other (each keeps keys in memory that long). Revoking a revoked key changes nothing. The last admin key that neither is ' +
          'revoked nor expires cannot be revoked: rotate it instead.',
        parameters: [keyIdParam],
        responses: v1(
          {
            '204': { description: 'Revoked' },
            '409': err("The tenant's last admin key that does not expire (LAST_ADMIN_KEY)"),
          },
          { path: true },
        ),
      },
    },
    '/api/v1/api-keys/{key_id}/rotate': {
      post: {
        ...meta('rotateApiKey', 'Replace an API key with a new secret of the same scopes', KEYS),
        description:
          `${adminOnly} The old key keeps working for overlap_seconds (default a day, at most 7 days, 0 for none; plus up to ` +
          `${KEY_CACHE_SECONDS} seconds on other API processes), then expires; it never lives longer than it would have, and the new ` +
          "key keeps the old key's own expiry, if it had one. The old key does not count towards the tenant's key limit (the new key " +
          'may stand beside it for the overlap); the other live keys do (API_KEY_LIMIT_REACHED). The answer carries the new secret, once.',
        parameters: [keyIdParam],
        requestBody: { ...body(rotateApiKeyBody), required: false },
        responses: v1(
          {
            '201': ok('The new key', ref('ApiKeyRotated')),
            '409': err(
              'The key is revoked (API_KEY_REVOKED) or expired (API_KEY_EXPIRED), or the tenant has no room (API_KEY_LIMIT_REACHED)',
            ),
          },
          { body: true, path: true },
        ),
      },
    },
    '/api/v1/audit': {
      get: {
        ...meta('listAuditEntries', "List the tenant's audit log, newest first", AUDIT),
        description: adminOnly,
        parameters: [
          timeParam('from', 'Entries at or after this time'),
          timeParam('to', 'Entries before this time'),
          {
            name: 'action',
            in: 'query',
            required: false,
            schema: { type: 'string', maxLength: 100, pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$' },
          },
          cursorParam,
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        ],
        responses: v1({
          '200': ok(
            'A page of entries; with an action filter a page may hold fewer than limit and still have a next_cursor',
            ref('AuditPage'),
          ),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
    },
    '/api/v1/tenant/settings': {
      get: {
        ...meta('getTenantSettings', "Get the tenant's settings", SETTINGS),
        description: adminOnly,
        responses: v1({ '200': ok('The settings', ref('TenantSettings')) }),
      },
      put: {
        ...meta('putTenantSettings', "Change the tenant's settings", SETTINGS),
        description:
          `${adminOnly} require_token can only be turned on by a request that carries a valid bearer token, and only when the engine ` +
          `has a token issuer. Other API processes apply a change within ${KEY_CACHE_SECONDS} seconds.`,
        requestBody: body(putTenantSettingsBody),
        responses: v1(
          {
            '200': ok('The settings as stored', ref('TenantSettings')),
            '422': err('No token issuer is configured (OAUTH_NOT_CONFIGURED), or the request carries no token (TOKEN_NEEDED)'),
          },
          { body: true },
        ),
      },
    },
  },
};
