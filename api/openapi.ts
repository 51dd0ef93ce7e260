// The OpenAPI 3.1 document of the v1 contract; request schemas come from the same zod
// schemas the routes validate with, so the two cannot drift. Every response a route can give
// is listed, errors included (test/drills/fuzz-api.sh checks that with Schemathesis).
import { z } from 'zod';
import { MESSAGE_STATUSES } from '../src/domain/message-status';
import { TRANSACTION_STATUSES } from '../src/domain/transaction-status';
import { COUNT_NAMES } from '../src/adapters/dynamo/types';
import type { EffectKind } from '../src/domain/ses-event';
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
const idParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH },
});
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
  const bad = [
    opts.body && 'the body is not JSON or does not match the schema',
    opts.path && 'the path is not valid percent-encoding (MALFORMED_PATH)',
  ]
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
    headers: {
      'Retry-After': { required: true, description: 'Seconds until the next request is accepted', schema: { type: 'integer', minimum: 0 } },
    },
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

/** Every SES event kind the analytics count (the keys of a timeline step's `counts`). */
const EFFECT_KINDS = [
  'send',
  'delivery',
  'bounce',
  'complaint',
  'reject',
  'rendering_failure',
  'open',
  'click',
  'delivery_delay',
  'subscription',
] as const satisfies readonly EffectKind[];
// Fails to compile when EffectKind gains a kind this list does not name.
const _allEffectKinds: Exclude<EffectKind, (typeof EFFECT_KINDS)[number]> extends never ? true : false = true;

const count = { type: 'integer', minimum: 0 };
const counts = (names: readonly string[], required = true) => ({
  type: 'object',
  ...(required ? { required: [...names] } : {}),
  properties: Object.fromEntries(names.map((n) => [n, count])),
});
const DOMAIN_COUNTS = ['messages', 'sent', 'delivered', 'bounced', 'complained', 'opened', 'clicked'] as const;
/** The figures of a campaign's reconciliation (src/domain/reconciliation.ts). */
const RECONCILIATION_COUNTS = [
  'valid_recipients',
  'sent',
  'failed',
  'suppressed',
  'cancelled',
  'pending',
  'delivered',
  'bounced',
  'complained',
  'unknown',
] as const;

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
      'transaction_id',
      'status',
      'reason',
      'held_reason',
      'template_id',
      'file_id',
      'progress',
      'counts',
      'schedule',
      'throttle',
      'estimated_completion',
      'status_history',
      'reconciliation',
      'created_at',
      'updated_at',
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
      reconciliation: {
        description:
          'Set at COMPLETED (null before): the recount of every message. valid_recipients = sent + failed + suppressed + cancelled + pending, and sent = delivered + bounced + complained + unknown, where each sent message counts once by its strongest outcome (complained, else bounced, else delivered, else unknown), so `delivered` here leaves out delivered messages that then complained. `balanced` is false, with `mismatches` saying why, when an identity fails, a batch was not counted, or the counters disagree with the recount.',
        oneOf: [{ type: 'null' }, ref('Reconciliation')],
      },
      created_at: { type: 'string' },
      updated_at: { type: 'string' },
    },
  },
  Reconciliation: {
    type: 'object',
    required: [...RECONCILIATION_COUNTS, 'balanced', 'pending_reason', 'unknown_reason', 'mismatches', 'computed_at'],
    properties: {
      balanced: { type: 'boolean' },
      ...Object.fromEntries(RECONCILIATION_COUNTS.map((n) => [n, count])),
      pending_reason: { ...nullable('string'), description: 'Why messages are neither sent nor final (null when none)' },
      unknown_reason: { ...nullable('string'), description: 'Why sent messages have no outcome (null when none)' },
      mismatches: { type: 'array', items: { type: 'string' }, description: 'What does not add up; empty when balanced' },
      computed_at: dateTime,
    },
  },
  Message: {
    type: 'object',
    required: [
      'message_id',
      'batch_id',
      'row',
      'recipient_email',
      'status',
      'ses_message_id',
      'sent_time',
      'failure_reason',
      'created_at',
      'updated_at',
    ],
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
    properties: {
      tenant_id: { type: 'string' },
      email: { type: 'string' },
      reason: { type: 'string' },
      source: { type: 'object' },
      created_at: { type: 'string' },
    },
  },
  SuppressionPage: {
    type: 'object',
    required: ['items', 'next_cursor'],
    properties: { items: { type: 'array', items: ref('Suppression') }, next_cursor: nullable('string') },
  },
  /** GET …/analytics: the campaign's analytics from OpenSearch (see Analytics.campaignAnalytics). */
  CampaignAnalytics: {
    type: 'object',
    required: [
      'transaction_id',
      'status',
      'indexing_backlog',
      'status_breakdown',
      'totals',
      'engagement',
      'rates',
      'bounce_subtypes',
      'by_domain',
      'timeline',
      'top_urls',
    ],
    properties: {
      transaction_id: { type: 'string' },
      status: { enum: TRANSACTION_STATUSES },
      indexing_backlog: { ...count, description: 'Analytics documents this API instance holds that OpenSearch has not taken yet' },
      status_breakdown: {
        ...counts(MESSAGE_STATUSES, false),
        description: 'Messages per current status (statuses with none are left out)',
      },
      totals: {
        ...counts([...DOMAIN_COUNTS, 'events']),
        description: 'Messages and their outcomes (each message counted once), and all events',
      },
      engagement: {
        ...counts(['opened_unique', 'opened_total', 'clicked_unique', 'clicked_total']),
        description: 'Unique: messages opened or clicked at least once; total: open and click events',
      },
      rates: {
        type: 'object',
        description: 'Fractions (0 to 1) of the messages sent',
        required: ['bounce_rate', 'complaint_rate'],
        properties: { bounce_rate: { type: 'number', minimum: 0, maximum: 1 }, complaint_rate: { type: 'number', minimum: 0, maximum: 1 } },
      },
      bounce_subtypes: {
        type: 'array',
        description: 'Bounce events by SES bounce type and subtype, most first',
        items: {
          type: 'object',
          required: ['bounce_type', 'bounce_subtype', 'count'],
          properties: { bounce_type: { type: 'string' }, bounce_subtype: { type: 'string' }, count },
        },
      },
      by_domain: {
        type: 'array',
        description: 'The top recipient domains by messages (`top` of them)',
        items: {
          type: 'object',
          required: ['domain', ...DOMAIN_COUNTS],
          properties: { domain: { type: 'string' }, ...counts(DOMAIN_COUNTS).properties },
        },
      },
      timeline: {
        type: 'array',
        description: 'Events per `interval` step, oldest first; steps without events are included',
        items: {
          type: 'object',
          required: ['at', 'total', 'counts'],
          properties: {
            at: { ...dateTime, description: 'Start of the step' },
            total: count,
            counts: { ...counts(EFFECT_KINDS, false), description: 'Events per kind' },
          },
        },
      },
      top_urls: {
        type: 'array',
        description: 'The most clicked links (`top` of them)',
        items: {
          type: 'object',
          required: ['url', 'clicks', 'unique_clicks'],
          properties: { url: { type: 'string' }, clicks: count, unique_clicks: count },
        },
      },
    },
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

/** What client generators name and group operations by: a unique operationId, a summary, one tag. */
const meta = (operationId: string, summary: string, tag: string) => ({ operationId, summary, tags: [tag] });

const controlConflict = err('The campaign is in a state that does not take this request, or has ended (CAMPAIGN_STATE_CONFLICT)');

/**
 * Campaign routes, served under /api/v1/campaigns and, as an alias, /api/v1/transactions; the
 * alias's operations carry the other noun in their operationIds so that every id stays unique.
 */
const campaignPaths = (base: string, noun: 'Campaign' | 'Transaction', tag: string) => {
  const m = (verb: string, object: string, summary: string) => meta(`${verb}${noun}${object}`, summary, tag);
  const control = (verb: string, summary: string, description: string) => ({
    post: {
      ...m(verb, '', summary),
      parameters: [idParam('id')],
      responses: v1({ '202': ok(description, ref('ControlResult')), '409': controlConflict }, { path: true }),
    },
  });
  return {
    [base]: {
      post: {
        ...m('create', '', 'Start a campaign from a confirmed template and an uploaded recipient file'),
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
      get: {
        ...m('get', 'Status', 'Get the status, progress and counts'),
        parameters: [idParam('id')],
        responses: v1({ '200': ok('Status', ref('CampaignStatus')) }, { path: true }),
      },
    },
    [`${base}/{id}/messages`]: {
      get: {
        ...m('list', 'Messages', 'List the messages, optionally of one status'),
        parameters: [
          idParam('id'),
          { name: 'status', in: 'query', required: false, schema: { enum: MESSAGE_STATUSES } },
          limitParam,
          cursorParam,
        ],
        responses: v1(
          {
            '200': ok('A page of messages', ref('MessagePage')),
            '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR), or malformed path'),
          },
          { path: true },
        ),
      },
    },
    [`${base}/{id}/messages/{message_id}`]: {
      get: {
        ...m('get', 'Message', 'Get one message with its placeholder data and history'),
        parameters: [idParam('id'), idParam('message_id')],
        responses: v1({ '200': ok('Message with its placeholder data and history', ref('Message')) }, { path: true }),
      },
    },
    [`${base}/{id}/errors`]: {
      get: {
        ...m('list', 'RowErrors', 'List the rejected CSV rows'),
        parameters: [idParam('id'), limitParam, cursorParam],
        responses: v1(
          {
            '200': ok('Rejected CSV rows', ref('RowErrorPage')),
            '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR), or malformed path'),
          },
          { path: true },
        ),
      },
    },
    [`${base}/{id}/analytics`]: {
      get: {
        ...m('get', 'Analytics', 'Get delivery and engagement analytics'),
        parameters: [
          idParam('id'),
          { name: 'interval', in: 'query', required: false, schema: { enum: ['1m', '5m', '15m', '1h', '1d'] } },
          { name: 'top', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 } },
        ],
        responses: v1(
          {
            '200': ok('Status breakdown, engagement, bounce and complaint rates, by domain, over time, top URLs', ref('CampaignAnalytics')),
            '400': err('Invalid query (VALIDATION_FAILED), or malformed path'),
            '503': err('Analytics not configured or OpenSearch unavailable (ANALYTICS_NOT_CONFIGURED, ANALYTICS_UNAVAILABLE)'),
          },
          { path: true },
        ),
      },
    },
    [`${base}/{id}/cancel`]: control('cancel', 'Cancel the campaign', 'Cancel accepted'),
    [`${base}/{id}/pause`]: control('pause', 'Pause sending', 'Pause accepted'),
    [`${base}/{id}/resume`]: control('resume', 'Resume a paused campaign', 'Resume accepted'),
    [`${base}/{id}/send-now`]: control('sendNow', 'Send now instead of at the scheduled time', 'Send-now accepted'),
    [`${base}/{id}/schedule`]: {
      patch: {
        ...m('reschedule', '', 'Change the scheduled send time'),
        parameters: [idParam('id')],
        requestBody: body(rescheduleBody),
        responses: v1({ '200': ok('Rescheduled', ref('ControlResult')), '409': controlConflict }, { body: true, path: true }),
      },
    },
  };
};

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
  // Relative: the API is wherever this document is served from (PUBLIC_BASE_URL in production).
  servers: [
    { url: '/', description: 'The host serving this document' },
    { url: 'http://127.0.0.1:3000', description: 'The local platform (npm start)' },
  ],
  tags: [
    { name: 'Templates', description: 'Liquid templates, uploaded through presigned S3 URLs' },
    { name: 'Files', description: 'Recipient CSV files, uploaded through presigned S3 URLs' },
    { name: 'Campaigns', description: 'Campaigns: start, follow, control' },
    { name: 'Transactions', description: 'The campaign operations again, under the alias /api/v1/transactions' },
    { name: 'Suppressions', description: "The tenant's suppression list" },
    { name: 'Events', description: 'SES events delivered by Amazon SNS' },
    { name: 'Unsubscribe', description: 'List-Unsubscribe links (RFC 8058)' },
    { name: 'System', description: 'Health, metrics and documentation' },
  ],
  components: {
    securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    schemas,
  },
  security: [{ apiKey: [] }],
  paths: withTransportErrors({
    '/healthz': {
      get: {
        ...meta('getHealth', 'Check the health of the engine and the services it depends on', 'System'),
        security: [],
        responses: { '200': ok('All components up', ref('Health')), '503': ok('A component is down', ref('Health')) },
      },
    },
    '/metrics': {
      get: {
        ...meta('getMetrics', 'Prometheus metrics', 'System'),
        security: [],
        responses: { '200': { description: 'Prometheus metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/openapi.json': {
      get: {
        ...meta('getOpenApiDocument', 'This OpenAPI document', 'System'),
        security: [],
        responses: { '200': ok('This document', { type: 'object' }) },
      },
    },
    '/docs': {
      get: {
        ...meta('getDocs', 'The API docs page', 'System'),
        security: [],
        responses: { '200': { description: 'The docs page', ...html } },
      },
    },
    '/api/v1/templates/presigned-url': {
      post: {
        ...meta('createTemplateUpload', 'Create a template and get a presigned URL to upload its HTML', 'Templates'),
        requestBody: body(createTemplateBody),
        responses: v1(
          {
            '201': ok('Upload URL', {
              ...upload,
              required: [...upload.required, 'template_id'],
              properties: { ...upload.properties, template_id: { type: 'string' } },
            }),
          },
          { body: true },
        ),
      },
    },
    '/api/v1/templates/{template_id}/confirm': {
      post: {
        ...meta('confirmTemplate', 'Confirm an uploaded template: check its Liquid and list its placeholders', 'Templates'),
        parameters: [idParam('template_id')],
        responses: v1(
          {
            '200': ok('Template ready', ref('TemplateConfirmed')),
            '404': err('Not found (NOT_FOUND) or nothing uploaded (TEMPLATE_NOT_UPLOADED)'),
            '413': err('Body over 64 KiB (BODY_TOO_LARGE) or uploaded template too large (TEMPLATE_TOO_LARGE)'),
            '422': err(
              'Liquid syntax error (TEMPLATE_SYNTAX_ERROR), or output past the per-part cap for every recipient (RENDER_TOO_LARGE); details: part, line, column',
            ),
          },
          { body: true, path: true },
        ),
      },
    },
    '/api/v1/templates/{template_id}': {
      get: {
        ...meta('getTemplate', 'Get a template', 'Templates'),
        parameters: [idParam('template_id')],
        responses: v1({ '200': ok('Template', ref('Template')) }, { path: true }),
      },
    },
    '/api/v1/files/presigned-url': {
      post: {
        ...meta('createFileUpload', 'Create a recipient file and get a presigned URL to upload its CSV', 'Files'),
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
    ...campaignPaths('/api/v1/campaigns', 'Campaign', 'Campaigns'),
    ...campaignPaths('/api/v1/transactions', 'Transaction', 'Transactions'),
    '/api/v1/suppressions': {
      get: {
        ...meta('listSuppressions', 'List the suppressed addresses', 'Suppressions'),
        parameters: [limitParam, cursorParam],
        responses: v1({
          '200': ok('A page of suppressed addresses', ref('SuppressionPage')),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
    },
    '/api/v1/suppressions/{email}': {
      get: {
        ...meta('getSuppression', 'Get whether and why an address is suppressed', 'Suppressions'),
        parameters: [emailParam],
        responses: v1(
          { '200': ok('Suppressed', ref('Suppression')), '400': err('Invalid address (INVALID_EMAIL) or malformed path') },
          { path: true, notFound: 'Not suppressed (NOT_FOUND)' },
        ),
      },
      put: {
        ...meta('putSuppression', 'Suppress an address', 'Suppressions'),
        parameters: [emailParam],
        requestBody: { required: false, ...json(z.toJSONSchema(putSuppressionBody, { io: 'input' })) },
        responses: v1(
          { '200': ok('Suppressed', ref('Suppression')), '400': err('Invalid address (INVALID_EMAIL), invalid body, or malformed path') },
          { body: true, path: true },
        ),
      },
      delete: {
        ...meta('deleteSuppression', 'Remove an address from the suppression list', 'Suppressions'),
        parameters: [emailParam],
        responses: v1(
          { '204': { description: 'Removed' }, '400': err('Invalid address (INVALID_EMAIL) or malformed path') },
          { path: true, notFound: 'Not suppressed (NOT_FOUND)' },
        ),
      },
    },
    '/api/v1/events/ses': {
      post: {
        ...meta('receiveSesEvent', 'Receive an SES event (an Amazon SNS notification)', 'Events'),
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
        ...meta('getUnsubscribePage', 'Show the unsubscribe page of a List-Unsubscribe link', 'Unsubscribe'),
        description: 'The List-Unsubscribe page: one button, never unsubscribes by itself.',
        security: [],
        parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'Unsubscribe page', ...html },
          '400': err('Malformed path (MALFORMED_PATH)'),
          '404': { description: 'Link not valid', ...html },
        },
      },
      post: {
        ...meta('unsubscribe', 'Unsubscribe (RFC 8058 one-click)', 'Unsubscribe'),
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
