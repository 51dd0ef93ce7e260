// The OpenAPI 3.1 document of the v1 contract; request schemas come from the same zod
// schemas the routes validate with, so the two cannot drift. Every response a route can give
// is listed, errors included (test/drills/fuzz-api.sh checks that with Schemathesis).
import { z } from 'zod';
import { MESSAGE_STATUSES } from '../../src/domain/message-status';
import { TRANSACTION_STATUSES } from '../../src/domain/transaction-status';
import { COUNT_NAMES } from '../../src/adapters/dynamo/types';
import type { EffectKind } from '../../src/domain/ses-event';
import { createTemplateBody } from '../routes/templates';
import { createFileBody } from '../routes/files';
import { createCampaignBody, rescheduleBody } from '../routes/campaigns';
import { campaignLabelProperties, derivedCampaignSchemas, listCampaignsOperation } from './campaigns';
import { putSuppressionBody } from '../routes/suppressions';
import {
  body,
  cursorParam,
  dateTime,
  emailParam,
  err,
  html,
  idParam,
  json,
  limitParam,
  meta,
  nullable,
  ok,
  ref,
  v1,
  type Responses,
} from './common';
import { TOPIC_NAME_PATTERN } from '../../src/domain/topics';
import { AREAS } from './areas';
import { withReputationHold } from './reputation';

/** `?topic=` on the suppression routes: a topic's own suppressions (issue 15, item 7). */
const topicQueryParam = {
  name: 'topic',
  in: 'query',
  required: false,
  description: "A topic name: the address's suppression for that topic only, never the global one",
  schema: { type: 'string', pattern: TOPIC_NAME_PATTERN.source },
};

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

// Issue 15 item 4: what a recipient row must fill, and what it may leave blank or out.
const placeholderListProperties = {
  required_placeholders: {
    type: 'array',
    items: { type: 'string' },
    description:
      'Column paths every row must fill (non-blank). A dotted name such as user.name is the column named exactly "user.name". Names the engine supplies (email, unsubscribe_url, message_id, transaction_id) need no column. A template confirmed before these lists existed requires all its placeholders.',
  },
  optional_placeholders: {
    type: 'array',
    items: { type: 'string' },
    description:
      'Column paths read only under a `default` filter or a condition (if/unless/case): a row may leave them blank or have no such column, and they render as nil.',
  },
};

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
    required: [
      'template_id',
      'name',
      'subject',
      'from',
      'reply_to',
      'text',
      'status',
      'placeholders',
      'required_placeholders',
      'optional_placeholders',
      'created_at',
      'updated_at',
      'latest_version',
      'latest_confirmed_version',
      'versions',
    ],
    description: 'The fields before `latest_version` are those of version 1, as they were before templates had versions.',
    properties: {
      template_id: { type: 'string' },
      name: { type: 'string' },
      subject: { type: 'string' },
      from: { type: 'string' },
      reply_to: nullable('string'),
      text: nullable('string'),
      status: { enum: ['PENDING_UPLOAD', 'READY'] },
      placeholders: { type: 'array', items: { type: 'string' } },
      ...placeholderListProperties,
      created_at: { type: 'string' },
      updated_at: { type: 'string' },
      latest_version: { type: 'integer', minimum: 1 },
      latest_confirmed_version: { ...nullable('integer'), minimum: 1 },
      versions: { type: 'array', items: ref('TemplateVersion'), description: 'Every version in number order (their text parts left out)' },
    },
  },
  TemplateConfirmed: {
    type: 'object',
    required: ['template_id', 'status', 'placeholders', 'required_placeholders', 'optional_placeholders'],
    properties: {
      template_id: { type: 'string' },
      status: { const: 'READY' },
      placeholders: { type: 'array', items: { type: 'string' } },
      ...placeholderListProperties,
    },
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
      'name',
      'tags',
      'metadata',
      'topic',
      'priority',
      'template_version',
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
      ...campaignLabelProperties,
      topic: { ...nullable('string'), description: "The tenant's topic the campaign was started with (its topic suppressions apply)" },
      priority: {
        enum: ['high', 'normal', 'low'],
        description: 'Its queue priority (Temporal priority keys 1, 3, 5), with fairness between tenants on the shared send queue',
      },
      template_version: { type: 'integer', minimum: 1, description: 'The template version the campaign sends, pinned at creation' },
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
      schedule: {
        oneOf: [
          { type: 'null' },
          {
            type: 'object',
            description: 'send_at, and (with a send window) the IANA time zone and the daily window outside which nothing is sent.',
            properties: {
              send_at: { type: 'string' },
              time_zone: { type: 'string' },
              window: {
                type: 'object',
                required: ['start', 'end'],
                properties: {
                  start: { type: 'string', description: 'Local opening time, HH:MM' },
                  end: { type: 'string', description: 'Local closing time, HH:MM (before start: overnight)' },
                  days: { type: 'array', items: { enum: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] } },
                },
              },
              recipient_time_zone_column: {
                type: 'string',
                description:
                  "The CSV column with each recipient's IANA zone: each is mailed at send_at's wall-clock time (in time_zone, else UTC) in their own zone; a blank cell takes time_zone; an unknown zone rejects the row (INVALID_TIME_ZONE)",
              },
            },
          },
        ],
      },
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
      bounced: { ...count, description: 'Hard bounces (since soft bounces are counted apart; before, both)' },
      soft_bounced: { ...count, description: 'Final soft bounces (absent in reconciliations written before they were counted apart)' },
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
      soft_bounce_retries: {
        type: 'integer',
        minimum: 0,
        description: 'Retries made after soft bounces (present once one was made or decided against).',
      },
      retry_at: { type: 'string', description: 'While SOFT_BOUNCED: when the next retry is due.' },
      bounce_class: { enum: ['hard', 'soft'], description: 'A bounced message: Permanent is hard; Transient and Undetermined are soft.' },
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
      topic: { type: 'string', description: 'Only on a topic suppression (?topic=): the topic whose campaigns leave the address out' },
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
      get: listCampaignsOperation(m('list', 's', 'List and search campaigns, newest first')),
      post: withReputationHold({
        ...m('create', '', 'Start a campaign from a confirmed template and an uploaded recipient file'),
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } }],
        requestBody: body(createCampaignBody),
        responses: v1(
          {
            '202': ok('Accepted', ref('CampaignAccepted')),
            '400': err(
              'Invalid JSON or input (VALIDATION_FAILED; details name the field, e.g. a name with control characters, more than 10 tags, metadata nested, over 20 keys or 2 KiB), Idempotency-Key of the wrong length, callback URL not http(s)',
            ),
            '404': err('Template or file not found (NOT_FOUND), or the template has no such template_version (TEMPLATE_VERSION_NOT_FOUND)'),
            '409': err(
              'Idempotency-Key reused with another body (IDEMPOTENCY_KEY_REUSED), or the template_version asked for is not confirmed (TEMPLATE_VERSION_NOT_CONFIRMED; details: version, status)',
            ),
            '403': err(
              'The credential lacks the scope (FORBIDDEN; details: scope), or priority high, which the operator has not granted this tenant (PRIORITY_NOT_ALLOWED; details: path; TENANT_HIGH_PRIORITY)',
            ),
            '413': err('Body over 64 KiB (BODY_TOO_LARGE) or recipient file too large (FILE_TOO_LARGE)'),
            '422': err(
              'Template not confirmed, file not uploaded or empty, unusable CSV header (among them MISSING_COLUMNS: a dotted template variable without a column of its name, or behind a text column; details: variables), callback not allowed, a topic the tenant does not have (TOPIC_NOT_FOUND), or a schedule.recipient_time_zone_column the file has no column of (TIME_ZONE_COLUMN_MISSING; details: column)',
            ),
          },
          { body: true },
        ),
      }),
    },
    [`${base}/{id}/status`]: {
      get: {
        ...m('get', 'Status', 'Get the status, progress and counts'),
        parameters: [idParam('id')],
        responses: v1({ '200': ok('Status', ref('CampaignStatus')) }, { path: true }),
      },
    },
    [`${base}/{id}/stream`]: {
      get: {
        ...m('stream', 'Status', 'Stream the status, progress and counts as Server-Sent Events'),
        description:
          'A `text/event-stream` of `status` events, each `data` the CampaignStatus that GET …/status answers and `id` naming that state. ' +
          'The current state comes at once, then each change, at most one event a second; a `: keep-alive` comment every 15 s ' +
          '(STREAM_HEARTBEAT_SECONDS). The server ends the stream after the event of a terminal status (COMPLETED, FAILED, CANCELLED). ' +
          'A client reconnecting with `Last-Event-ID` gets the current state at once only when it differs from that id, and 204 ' +
          '(which tells an EventSource to stop reconnecting) when the id is the final state. A stream lasts at most 15 minutes ' +
          '(STREAM_MAX_SECONDS); the server then ends it and an EventSource reconnects with `Last-Event-ID`. At most STREAMS_MAX_PER_TENANT ' +
          'streams per tenant (default 20) are open at once, and a bounded number per server.',
        parameters: [
          idParam('id'),
          {
            name: 'Last-Event-ID',
            in: 'header',
            required: false,
            description: 'The id of the last event received (sent by EventSource on reconnect)',
            schema: { type: 'string', maxLength: 256 },
          },
        ],
        responses: streamResponses(
          v1(
            {
              '200': {
                description:
                  'The stream: `id: <state>`, `event: status`, `data: <CampaignStatus as JSON>`, blank line; comments as keep-alives',
                content: { 'text/event-stream': { schema: { type: 'string' } } },
              },
              '204': { description: 'The campaign has ended and Last-Event-ID is its final state: nothing more will come' },
            },
            { path: true },
          ),
        ),
      },
    },
    [`${base}/{id}/messages`]: {
      get: {
        ...m('list', 'Messages', 'List the messages, optionally of one status'),
        description:
          'A request reads a bounded part of the campaign: a filtered page may hold fewer items than `limit`, or none, ' +
          'and still have a `next_cursor`. Follow `next_cursor` until it is null.',
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
    [`${base}/{id}/resume`]: { post: withReputationHold(control('resume', 'Resume a paused campaign', 'Resume accepted').post) },
    [`${base}/{id}/send-now`]: {
      post: withReputationHold(control('sendNow', 'Send now instead of at the scheduled time', 'Send-now accepted').post),
    },
    [`${base}/{id}/schedule`]: {
      patch: withReputationHold({
        ...m('reschedule', '', 'Change the scheduled send time'),
        parameters: [idParam('id')],
        requestBody: body(rescheduleBody),
        responses: v1({ '200': ok('Rescheduled', ref('ControlResult')), '409': controlConflict }, { body: true, path: true }),
      }),
    },
  };
};

/** The stream's 429 is also its cap on open streams (TOO_MANY_STREAMS), with the same Retry-After. */
function streamResponses(responses: Responses): Responses {
  const limited = responses['429'] as { description: string };
  responses['429'] = {
    ...limited,
    description: `${limited.description}; or too many streams open for this tenant or on this server (TOO_MANY_STREAMS; details: limit)`,
  };
  return responses;
}

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
    ...AREAS.flatMap((area) => area.tags),
  ],
  components: {
    securitySchemes: {
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      // Optional beside the key (never instead of it), or required by the tenant's require_token.
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "An OAuth 2.0 access token from the engine's issuer" },
    },
    schemas: { ...schemas, ...derivedCampaignSchemas(schemas), ...Object.assign({}, ...AREAS.map((area) => area.schemas)) },
  },
  security: [{ apiKey: [] }, { apiKey: [], bearer: [] }],
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
            '400': err(
              'Invalid request: the body is not JSON or does not match the schema (VALIDATION_FAILED; details: path, message), ' +
                'e.g. a subject or from with a control character (line breaks, TAB, NUL, C1), or a from that is not one mailbox ' +
                'with a plain display name (no @ also after NFKC, no =? encoded-word, no bidi control)',
            ),
            '422': err(
              "from or reply_to is not covered by one of the tenant's verified sender identities (SENDER_NOT_VERIFIED; details: field, address)",
            ),
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
              'Liquid syntax error (TEMPLATE_SYNTAX_ERROR), output past the per-part cap for every recipient (RENDER_TOO_LARGE), or a placeholder read both as a value and as an object of fields, as `{{ user }}` beside `{{ user.name }}` (PLACEHOLDER_CONFLICT); details: part, line, column',
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
        description:
          "Without topic: the global list (every campaign leaves these out). With topic: that topic's suppressions only; such a page may hold fewer than limit items while next_cursor is set.",
        parameters: [limitParam, cursorParam, topicQueryParam],
        responses: v1({
          '200': ok('A page of suppressed addresses', ref('SuppressionPage')),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
    },
    '/api/v1/suppressions/{email}': {
      get: {
        ...meta('getSuppression', 'Get whether and why an address is suppressed', 'Suppressions'),
        parameters: [emailParam, topicQueryParam],
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
        parameters: [emailParam, topicQueryParam],
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
          '400': err(
            'Not an SNS message (INVALID_SNS_MESSAGE), a body that cannot be read, or a subscription with raw message delivery, whose messages carry no signature (RAW_MESSAGE_DELIVERY: set RawMessageDelivery to false)',
          ),
          '403': err(
            'Signature, certificate URL or topic not trusted (BAD_SIGNATURE, UNTRUSTED_CERT_URL, UNKNOWN_TOPIC, UNSUPPORTED_VERSION), or Timestamp outside the accepted window (STALE_MESSAGE, FUTURE_MESSAGE, INVALID_TIMESTAMP)',
          ),
          '413': err('Body over 512 KiB (BODY_TOO_LARGE)'),
          '415': err('Unsupported body charset or Content-Encoding (UNSUPPORTED_ENCODING)'),
          '502': err('SNS refused the subscription confirmation (CONFIRMATION_FAILED)'),
          '503': err(
            'The signing certificate could not be fetched now (CERT_FETCH_FAILED, CERT_FETCH_THROTTLED); Retry-After says when to try again',
          ),
        },
      },
    },
    '/u/{token}': {
      get: {
        ...meta('getUnsubscribePage', 'Show the unsubscribe page of a List-Unsubscribe link', 'Unsubscribe'),
        description:
          'The List-Unsubscribe page, which never unsubscribes by itself: one button, or for a campaign with a topic two (that topic, or everything).',
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
        description:
          'RFC 8058 one-click unsubscribe. For a campaign with a topic it leaves that topic only, unless scope is all; otherwise (and for links made before topics) it leaves everything.',
        security: [],
        parameters: [{ name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: {
          required: false,
          content: {
            'application/x-www-form-urlencoded': {
              schema: {
                type: 'object',
                properties: {
                  'List-Unsubscribe': { type: 'string', description: 'One-Click (RFC 8058)' },
                  scope: { enum: ['topic', 'all'], description: "all: everything; otherwise the campaign's topic when it has one" },
                },
              },
            },
          },
        },
        responses: {
          '200': { description: 'Unsubscribed', ...html },
          '400': err('Malformed path or form body'),
          '404': { description: 'Link not valid', ...html },
          '413': err('Form body over 4 KiB (BODY_TOO_LARGE)'),
          '415': err('Unsupported body charset or Content-Encoding (UNSUPPORTED_ENCODING)'),
        },
      },
    },
    ...Object.assign({}, ...AREAS.map((area) => area.paths)),
  }),
};

export const docsPage = `<!doctype html><html><head><meta charset="utf-8"><title>Email engine API</title></head>
<body><h1>Email engine API v1</h1><p>The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.
Every <code>/api/v1</code> route needs an <code>X-API-Key</code> header.</p></body></html>`;
