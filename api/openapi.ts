// The OpenAPI 3.1 document of the v1 contract; request schemas come from the same zod
// schemas the routes validate with, so the two cannot drift. Every response a route can give
// is listed, errors included (test/drills/fuzz-api.sh checks that with Schemathesis).
import { z } from 'zod';
import { MESSAGE_STATUSES } from '../src/domain/message-status';
import { TRANSACTION_STATUSES } from '../src/domain/transaction-status';
import { COUNT_NAMES } from '../src/adapters/dynamo/types';
import { MAX_ID_LENGTH } from './ids';
import { createTemplateBody } from './routes/templates';
import { createFileBody } from './routes/files';
import { createCampaignBody, rescheduleBody } from './routes/campaigns';
import { putSuppressionBody } from './routes/suppressions';

type Responses = Record<string, Record<string, unknown>>;

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const html = { content: { 'text/html': { schema: { type: 'string' } } } };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ok = (description: string, schema: unknown) => ({ description, ...json(schema) });
const err = (description: string) => ({ description, ...json(ref('Error')) });
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } });
const emailParam = { name: 'email', in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 254 } };
const body = (schema: z.ZodType) => ({ required: true, ...json(z.toJSONSchema(schema, { io: 'input' })) });
const nullable = (type: string) => ({ type: [type, 'null'] });
const dateTime = { type: 'string', format: 'date-time' };
const cursorParam = { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 4096 } };
const limitParam = { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } };

/**
 * The responses every /api/v1 operation can give besides its own: 401 and 429 from the API key
 * check; for operations that read a body, 400 (not JSON, or not the schema), 413 (over 64 KiB)
 * and 415 (a charset or Content-Encoding the server does not read); for operations with path
 * parameters, 400 for a path that is not valid percent-encoding and 404 for ids that name
 * nothing the caller's tenant owns.
 */
function v1(responses: Responses, opts: { body?: boolean; path?: boolean; notFound?: string } = {}): Responses {
  const out: Responses = { ...responses };
  const bad = [opts.body && 'the body is not JSON or does not match the schema', opts.path && 'the path is not valid percent-encoding (MALFORMED_PATH)']
    .filter(Boolean)
    .join('; ');
  if (bad && !out['400']) out['400'] = err(`Invalid request: ${bad}`);
  if (opts.body) {
    out['413'] ??= err('The body is larger than 64 KiB (BODY_TOO_LARGE)');
    out['415'] ??= err('The body charset or Content-Encoding is not supported (UNSUPPORTED_ENCODING)');
  }
  if (opts.path) out['404'] ??= err(opts.notFound ?? 'Not found, or owned by another tenant (NOT_FOUND)');
  out['401'] = err('Missing or unknown API key (MISSING_API_KEY, UNKNOWN_API_KEY)');
  out['429'] = {
    description: "Too many requests for this tenant's key (RATE_LIMITED)",
    headers: { 'Retry-After': { required: true, description: 'Seconds until the next request is accepted', schema: { type: 'integer', minimum: 0 } } },
    ...json(ref('Error')),
  };
  return out;
}

const upload = {
  type: 'object',
  required: ['upload_url', 'method', 'headers', 'expires_at'],
  properties: {
    upload_url: { type: 'string' },
    method: { const: 'PUT' },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    expires_at: dateTime,
  },
};

/** A transaction's history entries are status changes; a message's also record events (Send, Open…) without one. */
const historyEntry = (statuses: readonly string[], statusRequired: boolean) => ({
  type: 'object',
  required: statusRequired ? ['status', 'timestamp'] : ['timestamp'],
  properties: { status: { enum: statuses }, event: { type: 'string' }, timestamp: { type: 'string' }, metadata: { type: 'object' } },
});

const schemas = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
      },
    },
  },
  Template: {
    type: 'object',
    required: ['template_id', 'name', 'subject', 'from', 'reply_to', 'text', 'status', 'placeholders', 'created_at', 'updated_at'],
    properties: {
      template_id: { type: 'string' },
      name: { type: 'string' },
      subject: { type: 'string' },
      from: { type: 'string' },
      reply_to: nullable('string'),
      text: nullable('string'),
      status: { enum: ['PENDING_UPLOAD', 'READY'] },
      placeholders: { type: 'array', items: { type: 'string' } },
      created_at: { type: 'string' },
      updated_at: { type: 'string' },
    },
  },
  TemplateConfirmed: {
    type: 'object',
    required: ['template_id', 'status', 'placeholders'],
    properties: { template_id: { type: 'string' }, status: { const: 'READY' }, placeholders: { type: 'array', items: { type: 'string' } } },
  },
  CampaignAccepted: {
    type: 'object',
    required: ['transaction_id', 'status'],
    properties: { transaction_id: { type: 'string' }, status: { enum: TRANSACTION_STATUSES } },
  },
  CampaignStatus: {
    type: 'object',
    required: [
      'transaction_id', 'status', 'reason', 'held_reason', 'template_id', 'file_id', 'progress', 'counts', 'schedule', 'throttle',
      'estimated_completion', 'status_history', 'created_at', 'updated_at',
    ],
    properties: {
      transaction_id: { type: 'string' },
      status: { enum: TRANSACTION_STATUSES },
      reason: nullable('string'),
      held_reason: nullable('string'),
      template_id: { type: 'string' },
      file_id: { type: 'string' },
      progress: {
        type: 'object',
        required: ['total_messages', 'processed_messages', 'percentage'],
        properties: {
          total_messages: { type: 'integer', minimum: 0 },
          processed_messages: { type: 'integer', minimum: 0 },
          percentage: { type: 'number', minimum: 0, maximum: 100 },
        },
      },
      counts: {
        type: 'object',
        required: [...COUNT_NAMES],
        properties: Object.fromEntries(COUNT_NAMES.map((n) => [n, { type: 'integer', minimum: 0 }])),
      },
      schedule: { oneOf: [{ type: 'null' }, { type: 'object', required: ['send_at'], properties: { send_at: { type: 'string' } } }] },
      throttle: {
        oneOf: [
          { type: 'null' },
          { type: 'object', properties: { emails_per_minute: { type: 'integer' }, emails_per_hour: { type: 'integer' } } },
        ],
      },
      estimated_completion: nullable('string'),
      status_history: { type: 'array', items: historyEntry(TRANSACTION_STATUSES, true) },
      created_at: { type: 'string' },
      updated_at: { type: 'string' },
    },
  },
  Message: {
    type: 'object',
    required: ['message_id', 'batch_id', 'row', 'recipient_email', 'status', 'ses_message_id', 'sent_time', 'failure_reason', 'created_at', 'updated_at'],
    properties: {
      message_id: { type: 'string' },
      batch_id: { type: 'string' },
      row: { type: 'integer', minimum: 1 },
      recipient_email: { type: 'string' },
      status: { enum: MESSAGE_STATUSES },
      ses_message_id: nullable('string'),
      sent_time: nullable('string'),
      failure_reason: nullable('string'),
      created_at: { type: 'string' },
      updated_at: { type: 'string' },
      placeholder_data: { type: 'object', additionalProperties: { type: 'string' } },
      status_history: { type: 'array', items: historyEntry(MESSAGE_STATUSES, false) },
    },
  },
  MessagePage: {
    type: 'object',
    required: ['items', 'next_cursor'],
    properties: { items: { type: 'array', items: ref('Message') }, next_cursor: nullable('string') },
  },
  RowErrorPage: {
    type: 'object',
    required: ['transaction_id', 'total_invalid', 'items', 'next_cursor'],
    properties: {
      transaction_id: { type: 'string' },
      total_invalid: { type: 'integer', minimum: 0 },
      items: {
        type: 'array',
        items: {
          type: 'object',
          required: ['row', 'email', 'code', 'message'],
          properties: { row: { type: 'integer' }, email: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
        },
      },
      next_cursor: nullable('string'),
    },
  },
  ControlResult: {
    type: 'object',
    required: ['transaction_id', 'status'],
    properties: {
      transaction_id: { type: 'string' },
      status: { enum: TRANSACTION_STATUSES },
      send_at: { type: ['string', 'null'], description: 'The send time in force (null when the campaign has none)' },
    },
  },
  Suppression: {
    type: 'object',
    required: ['tenant_id', 'email', 'reason', 'created_at'],
    properties: { tenant_id: { type: 'string' }, email: { type: 'string' }, reason: { type: 'string' }, source: { type: 'object' }, created_at: { type: 'string' } },
  },
  SuppressionPage: {
    type: 'object',
    required: ['items', 'next_cursor'],
    properties: { items: { type: 'array', items: ref('Suppression') }, next_cursor: nullable('string') },
  },
  Health: {
    type: 'object',
    required: ['status', 'components'],
    properties: {
      status: { enum: ['up', 'degraded'] },
      components: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          required: ['status', 'latency_ms'],
          properties: { status: { enum: ['up', 'down'] }, latency_ms: { type: 'number' }, error: { type: 'string' } },
        },
      },
    },
  },
};

const controlConflict = err('The campaign is in a state that does not take this request, or has ended (CAMPAIGN_STATE_CONFLICT)');
const control = (description: string) => ({
  post: { parameters: [idParam('id')], responses: v1({ '202': ok(description, ref('ControlResult')), '409': controlConflict }, { path: true }) },
});

/** Campaign routes, served under /api/v1/campaigns and, as an alias, /api/v1/transactions. */
const campaignPaths = (base: string) => ({
  [base]: {
    post: {
      parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } }],
      requestBody: body(createCampaignBody),
      responses: v1(
        {
          '202': ok('Accepted', ref('CampaignAccepted')),
          '400': err('Invalid JSON or input, Idempotency-Key of the wrong length, callback URL not http(s)'),
          '404': err('Template or file not found (NOT_FOUND)'),
          '409': err('Idempotency-Key reused with another body (IDEMPOTENCY_KEY_REUSED)'),
          '413': err('Body over 64 KiB (BODY_TOO_LARGE) or recipient file too large (FILE_TOO_LARGE)'),
          '422': err('Template not confirmed, file not uploaded or empty, unusable CSV header, callback not allowed'),
        },
        { body: true },
      ),
    },
  },
  [`${base}/{id}/status`]: {
    get: { parameters: [idParam('id')], responses: v1({ '200': ok('Status', ref('CampaignStatus')) }, { path: true }) },
  },
  [`${base}/{id}/messages`]: {
    get: {
      parameters: [idParam('id'), { name: 'status', in: 'query', required: false, schema: { enum: MESSAGE_STATUSES } }, limitParam, cursorParam],
      responses: v1(
        { '200': ok('A page of messages', ref('MessagePage')), '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR), or malformed path') },
        { path: true },
      ),
    },
  },
  [`${base}/{id}/messages/{message_id}`]: {
    get: {
      parameters: [idParam('id'), idParam('message_id')],
      responses: v1({ '200': ok('Message with its placeholder data and history', ref('Message')) }, { path: true }),
    },
  },
  [`${base}/{id}/errors`]: {
    get: {
      parameters: [idParam('id'), limitParam, cursorParam],
      responses: v1(
        { '200': ok('Rejected CSV rows', ref('RowErrorPage')), '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR), or malformed path') },
        { path: true },
      ),
    },
  },
  [`${base}/{id}/analytics`]: {
    get: {
      parameters: [
        idParam('id'),
        { name: 'interval', in: 'query', required: false, schema: { enum: ['1m', '5m', '15m', '1h', '1d'] } },
        { name: 'top', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 } },
      ],
      responses: v1(
        {
          '200': ok('Status breakdown, engagement, bounce and complaint rates, by domain, over time, top URLs', { type: 'object', required: ['transaction_id', 'status_breakdown', 'engagement', 'rates', 'by_domain', 'timeline', 'top_urls'] }),
          '400': err('Invalid query (VALIDATION_FAILED), or malformed path'),
          '503': err('Analytics not configured or OpenSearch unavailable (ANALYTICS_NOT_CONFIGURED, ANALYTICS_UNAVAILABLE)'),
        },
        { path: true },
      ),
    },
  },
  [`${base}/{id}/cancel`]: control('Cancel accepted'),
  [`${base}/{id}/pause`]: control('Pause accepted'),
  [`${base}/{id}/resume`]: control('Resume accepted'),
  [`${base}/{id}/send-now`]: control('Send-now accepted'),
  [`${base}/{id}/schedule`]: {
    patch: {
      parameters: [idParam('id')],
      requestBody: body(rescheduleBody),
      responses: v1({ '200': ok('Rescheduled', ref('ControlResult')), '409': controlConflict }, { body: true, path: true }),
    },
  },
});

/** Node's HTTP parser answers any route with 431 (see api/server.ts), before the app runs. */
function withTransportErrors<T extends Record<string, Record<string, { responses: Responses }>>>(paths: T): T {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      operation.responses['431'] ??= err('The request line and headers are larger than 16 KiB (HEADERS_TOO_LARGE)');
    }
  }
  return paths;
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Email engine', version: '1.0.0', description: 'Bulk email campaigns on Temporal and Amazon SES v2.' },
  components: {
    securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    schemas,
  },
  security: [{ apiKey: [] }],
  paths: withTransportErrors({
    '/healthz': {
      get: { security: [], responses: { '200': ok('All components up', ref('Health')), '503': ok('A component is down', ref('Health')) } },
    },
    '/metrics': { get: { security: [], responses: { '200': { description: 'Prometheus metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { security: [], responses: { '200': ok('This document', { type: 'object' }) } } },
    '/docs': { get: { security: [], responses: { '200': { description: 'The docs page', ...html } } } },
    '/api/v1/templates/presigned-url': {
      post: {
        requestBody: body(createTemplateBody),
        responses: v1(
          { '201': ok('Upload URL', { ...upload, required: [...upload.required, 'template_id'], properties: { ...upload.properties, template_id: { type: 'string' } } }) },
          { body: true },
        ),
      },
    },
    '/api/v1/templates/{template_id}/confirm': {
      post: {
        parameters: [idParam('template_id')],
        responses: v1(
          {
            '200': ok('Template ready', ref('TemplateConfirmed')),
            '404': err('Not found (NOT_FOUND) or nothing uploaded (TEMPLATE_NOT_UPLOADED)'),
            '413': err('Body over 64 KiB (BODY_TOO_LARGE) or uploaded template too large (TEMPLATE_TOO_LARGE)'),
            '422': err('Liquid syntax error (TEMPLATE_SYNTAX_ERROR; details: part, line, column)'),
          },
          { body: true, path: true },
        ),
      },
    },
    '/api/v1/templates/{template_id}': {
      get: { parameters: [idParam('template_id')], responses: v1({ '200': ok('Template', ref('Template')) }, { path: true }) },
    },
    '/api/v1/files/presigned-url': {
      post: {
        requestBody: body(createFileBody),
        responses: v1(
          {
            '201': ok('Upload URL', {
              ...upload,
              required: [...upload.required, 'file_id', 'max_bytes'],
              properties: { ...upload.properties, file_id: { type: 'string' }, max_bytes: { type: 'integer' } },
            }),
          },
          { body: true },
        ),
      },
    },
    ...campaignPaths('/api/v1/campaigns'),
    ...campaignPaths('/api/v1/transactions'),
    '/api/v1/suppressions': {
      get: {
        parameters: [limitParam, cursorParam],
        responses: v1({ '200': ok('A page of suppressed addresses', ref('SuppressionPage')), '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)') }),
      },
    },
    '/api/v1/suppressions/{email}': {
      get: {
        parameters: [emailParam],
        responses: v1({ '200': ok('Suppressed', ref('Suppression')), '400': err('Invalid address (INVALID_EMAIL) or malformed path') }, { path: true, notFound: 'Not suppressed (NOT_FOUND)' }),
      },
      put: {
        parameters: [emailParam],
        requestBody: { required: false, ...json(z.toJSONSchema(putSuppressionBody, { io: 'input' })) },
        responses: v1({ '200': ok('Suppressed', ref('Suppression')), '400': err('Invalid address (INVALID_EMAIL), invalid body, or malformed path') }, { body: true, path: true }),
      },
      delete: {
        parameters: [emailParam],
        responses: v1({ '204': { description: 'Removed' }, '400': err('Invalid address (INVALID_EMAIL) or malformed path') }, { path: true, notFound: 'Not suppressed (NOT_FOUND)' }),
      },
    },
    '/api/v1/events/ses': {
      post: {
        description: 'Amazon SNS HTTP(S) subscription carrying SES events; authenticated by the SNS signature, not an API key.',
        security: [],
        requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } }, 'application/json': { schema: {} } } },
        responses: {
          '200': ok('Applied, duplicate, ignored, or subscription confirmed', { type: 'object' }),
          '400': err('Not an SNS message (INVALID_SNS_MESSAGE), or a body that cannot be read'),
          '403': err('Signature, certificate or topic not trusted'),
          '413': err('Body over 512 KiB (BODY_TOO_LARGE)'),
          '415': err('Unsupported body charset or Content-Encoding (UNSUPPORTED_ENCODING)'),
          '502': err('SNS refused the subscription confirmation (CONFIRMATION_FAILED)'),
        },
      },
    },
    '/u/{token}': {
      get: {
        description: 'The List-Unsubscribe page: one button, never unsubscribes by itself.',
        security: [],
        parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Unsubscribe page', ...html }, '400': err('Malformed path (MALFORMED_PATH)'), '404': { description: 'Link not valid', ...html } },
      },
      post: {
        description: 'RFC 8058 one-click unsubscribe.',
        security: [],
        parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: false, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } } } },
        responses: {
          '200': { description: 'Unsubscribed', ...html },
          '400': err('Malformed path or form body'),
          '404': { description: 'Link not valid', ...html },
          '413': err('Form body over 4 KiB (BODY_TOO_LARGE)'),
          '415': err('Unsupported body charset or Content-Encoding (UNSUPPORTED_ENCODING)'),
        },
      },
    },
  }),
};

export const docsPage = `<!doctype html><html><head><meta charset="utf-8"><title>Email engine API</title></head>
<body><h1>Email engine API v1</h1><p>The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.
Every <code>/api/v1</code> route needs an <code>X-API-Key</code> header.</p></body></html>`;
