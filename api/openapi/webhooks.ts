// The Webhooks area of the OpenAPI document: per-message event webhook endpoints
// (api/routes/webhooks.ts, issue 17, item 1).
import { createWebhookBody, rotateWebhookSecretBody } from '../routes/webhooks';
import { EVENT_TYPES } from '../../src/domain/event-webhooks';
import { body, dateTime, err, idParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Webhooks';
const id = idParam('endpoint_id');
const notFound = 'No such endpoint, or another tenant’s (NOT_FOUND)';

const endpointProperties = {
  endpoint_id: { type: 'string' },
  url: { type: 'string', format: 'uri' },
  event_types: { type: 'array', items: { type: 'string', enum: [...EVENT_TYPES] } },
  campaign_id: { ...nullable('string'), description: 'Only this campaign’s events (its transaction_id); null: every campaign' },
  description: nullable('string'),
  status: { type: 'string', enum: ['enabled', 'disabled'] },
  created_at: dateTime,
  updated_at: dateTime,
  delivery: ref('WebhookDelivery'),
  previous_secret_expires_at: {
    type: ['string', 'null'],
    format: 'date-time',
    description: 'Until then POSTs are signed with the secret before the last rotation as well',
  },
};
const endpointRequired = Object.keys(endpointProperties);

export const webhooksArea: ApiArea = {
  tags: [
    {
      name: TAG,
      description:
        'Per-message event webhooks: an endpoint receives the message events it subscribes to (sent, delivered, bounced, complained, ' +
        'opened, clicked, failed, unsubscribed, delivery_delayed), of every campaign or of one, as POSTs of up to 100 events (or what ' +
        'arrived within a second), signed per Standard Webhooks with its own whsec_ secret (webhook-id, webhook-timestamp, ' +
        'webhook-signature). Each event has a stable id (the same in a retry and a replay); events of a message arrive in the order ' +
        'the engine logged them. A failing endpoint is retried with exponential backoff (capped at EVENT_WEBHOOK_RETRY_CAP_SECONDS) ' +
        'for EVENT_WEBHOOK_MAX_AGE_SECONDS (3 days), after which an event is given up and counted. URLs follow the callback SSRF rules. ' +
        'A tenant has at most EVENT_WEBHOOKS_MAX_PER_TENANT (20) endpoints. Needs the campaigns scope.',
    },
  ],
  schemas: {
    WebhookDelivery: {
      type: 'object',
      required: ['cursor_at', 'lag_seconds', 'delivered_count', 'given_up_count', 'last_success_at', 'last_error', 'last_error_at'],
      properties: {
        cursor_at: { ...dateTime, description: 'Events logged up to this time are delivered (or given up)' },
        lag_seconds: { type: 'integer', minimum: 0 },
        delivered_count: { type: 'integer', minimum: 0 },
        given_up_count: { type: 'integer', minimum: 0, description: 'Events older than the retry limit that were never taken' },
        last_success_at: { type: ['string', 'null'], format: 'date-time' },
        last_error: nullable('string'),
        last_error_at: { type: ['string', 'null'], format: 'date-time' },
      },
    },
    WebhookEndpoint: { type: 'object', required: endpointRequired, properties: endpointProperties },
    WebhookEndpointWithSecret: {
      type: 'object',
      required: [...endpointRequired, 'secret'],
      properties: { ...endpointProperties, secret: { type: 'string', description: 'whsec_…, shown only in this answer' } },
    },
    WebhookEndpointList: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref('WebhookEndpoint') } } },
    WebhookReplay: {
      type: 'object',
      required: ['replay_id', 'endpoint_id', 'from', 'to'],
      properties: { replay_id: { type: 'string' }, endpoint_id: { type: 'string' }, from: dateTime, to: dateTime },
    },
  },
  paths: {
    '/api/v1/webhooks': {
      get: {
        ...meta('listWebhooks', 'List the event webhook endpoints', TAG),
        responses: v1({ '200': ok('The tenant’s endpoints, oldest first', ref('WebhookEndpointList')) }),
      },
      post: {
        ...meta('createWebhook', 'Create an event webhook endpoint', TAG),
        requestBody: body(createWebhookBody),
        responses: v1(
          {
            '201': ok('Created; its secret is shown this once', ref('WebhookEndpointWithSecret')),
            '400': err(
              'Invalid body (VALIDATION_FAILED; details: path), or a URL that is not http(s) or carries credentials (INVALID_WEBHOOK_URL)',
            ),
            '404': err('campaign_id names no campaign of this tenant (NOT_FOUND; details: field)'),
            '409': err('The tenant has EVENT_WEBHOOKS_MAX_PER_TENANT endpoints (WEBHOOK_LIMIT_REACHED; details: max)'),
            '422': err(
              'The URL points to a private or special-purpose address (PRIVATE_WEBHOOK_URL) or does not resolve (UNRESOLVABLE_WEBHOOK_URL)',
            ),
          },
          { body: true },
        ),
      },
    },
    '/api/v1/webhooks/{endpoint_id}': {
      get: {
        ...meta('getWebhook', 'Get an endpoint and its delivery state', TAG),
        parameters: [id],
        responses: v1({ '200': ok('The endpoint', ref('WebhookEndpoint')) }, { path: true, notFound }),
      },
      delete: {
        ...meta('deleteWebhook', 'Delete an endpoint (its delivery stops within seconds)', TAG),
        parameters: [id],
        responses: v1({ '204': { description: 'Deleted' } }, { path: true, notFound }),
      },
    },
    '/api/v1/webhooks/{endpoint_id}/disable': {
      post: {
        ...meta('disableWebhook', 'Stop delivering to an endpoint', TAG),
        parameters: [id],
        responses: v1({ '200': ok('Disabled', ref('WebhookEndpoint')) }, { path: true, notFound }),
      },
    },
    '/api/v1/webhooks/{endpoint_id}/enable': {
      post: {
        ...meta('enableWebhook', 'Deliver to an endpoint again, from now', TAG),
        parameters: [id],
        responses: v1({ '200': ok('Enabled', ref('WebhookEndpoint')) }, { path: true, notFound }),
      },
    },
    '/api/v1/webhooks/{endpoint_id}/rotate-secret': {
      post: {
        ...meta('rotateWebhookSecret', 'Give an endpoint a new secret', TAG),
        parameters: [id],
        requestBody: { ...body(rotateWebhookSecretBody), required: false },
        responses: v1(
          { '200': ok('The new secret, shown this once; the old one also signs for overlap_seconds', ref('WebhookEndpointWithSecret')) },
          { body: true, path: true, notFound },
        ),
      },
    },
    '/api/v1/webhooks/{endpoint_id}/replay': {
      post: {
        ...meta('replayWebhook', 'Send the events logged in a time range again', TAG),
        parameters: [
          id,
          { name: 'from', in: 'query', required: true, schema: { type: 'string', format: 'date-time' } },
          { name: 'to', in: 'query', required: false, description: 'Default: now', schema: { type: 'string', format: 'date-time' } },
        ],
        responses: v1(
          {
            '202': ok('Started: the range’s events go out again with their ids, apart from live delivery', ref('WebhookReplay')),
            '400': err(
              'from or to is not an ISO time, to is not after from or is in the future, the range is longer than EVENT_WEBHOOK_REPLAY_MAX_HOURS or older than the log keeps (VALIDATION_FAILED; details: path)',
            ),
            '409': err('The endpoint is disabled (WEBHOOK_DISABLED), or a replay of it is still running (REPLAY_RUNNING: one at a time)'),
          },
          { path: true, notFound },
        ),
      },
    },
  },
};
