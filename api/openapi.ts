// The OpenAPI 3.1 document of the v1 contract; request schemas come from the same zod
// schemas the routes validate with, so the two cannot drift.
import { z } from 'zod';
import { createTemplateBody } from './routes/templates';
import { createFileBody } from './routes/files';
import { createCampaignBody } from './routes/campaigns';

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const err = (description: string) => ({ description, ...json(ref('Error')) });
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', maxLength: 64 } });
const common = { '401': err('Missing or unknown API key'), '429': err('Rate limited') };
const body = (schema: z.ZodType) => ({ required: true, ...json(z.toJSONSchema(schema, { io: 'input' })) });

const upload = {
  type: 'object',
  required: ['upload_url', 'method', 'headers', 'expires_at'],
  properties: {
    upload_url: { type: 'string' },
    method: { const: 'PUT' },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    expires_at: { type: 'string', format: 'date-time' },
  },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Email engine', version: '1.0.0', description: 'Bulk email campaigns on Temporal and Amazon SES v2.' },
  components: {
    securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    schemas: {
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
      CampaignStatus: {
        type: 'object',
        required: ['transaction_id', 'status', 'progress', 'counts', 'status_history'],
        properties: {
          transaction_id: { type: 'string' },
          status: { type: 'string' },
          progress: {
            type: 'object',
            properties: {
              total_messages: { type: 'integer' },
              processed_messages: { type: 'integer' },
              percentage: { type: 'number' },
            },
          },
          counts: { type: 'object', additionalProperties: { type: 'integer' } },
          schedule: {},
          estimated_completion: { type: ['string', 'null'] },
          status_history: { type: 'array' },
        },
      },
    },
  },
  security: [{ apiKey: [] }],
  paths: {
    '/healthz': { get: { security: [], responses: { '200': { description: 'All components up' }, '503': { description: 'A component is down' } } } },
    '/api/v1/templates/presigned-url': {
      post: {
        requestBody: body(createTemplateBody),
        responses: { '201': { description: 'Upload URL', ...json({ ...upload, properties: { ...upload.properties, template_id: { type: 'string' } } }) }, '400': err('Invalid input'), ...common },
      },
    },
    '/api/v1/templates/{template_id}/confirm': {
      post: {
        parameters: [idParam('template_id')],
        responses: { '200': { description: 'Template ready' }, '404': err('Not found or not uploaded'), '413': err('Too large'), '422': err('Liquid syntax error (details: part, line, column)'), ...common },
      },
    },
    '/api/v1/templates/{template_id}': {
      get: { parameters: [idParam('template_id')], responses: { '200': { description: 'Template' }, '404': err('Not found'), ...common } },
    },
    '/api/v1/files/presigned-url': {
      post: {
        requestBody: body(createFileBody),
        responses: { '201': { description: 'Upload URL', ...json({ ...upload, properties: { ...upload.properties, file_id: { type: 'string' } } }) }, '400': err('Invalid input'), ...common },
      },
    },
    '/api/v1/campaigns': {
      post: {
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } }],
        requestBody: body(createCampaignBody),
        responses: {
          '202': { description: 'Accepted', ...json({ type: 'object', required: ['transaction_id', 'status'], properties: { transaction_id: { type: 'string' }, status: { type: 'string' } } }) },
          '400': err('Invalid input'),
          '404': err('Template or file not found'),
          '409': err('Idempotency-Key reused with another body'),
          '413': err('File too large'),
          '422': err('Template not confirmed, file not uploaded or empty, callback not allowed'),
          ...common,
        },
      },
    },
    '/api/v1/campaigns/{id}/status': {
      get: { parameters: [idParam('id')], responses: { '200': { description: 'Status', ...json(ref('CampaignStatus')) }, '404': err('Not found'), ...common } },
    },
    '/api/v1/transactions/{id}/status': {
      get: { parameters: [idParam('id')], responses: { '200': { description: 'Status', ...json(ref('CampaignStatus')) }, '404': err('Not found'), ...common } },
    },
    '/api/v1/campaigns/{id}/messages': {
      get: {
        parameters: [
          idParam('id'),
          { name: 'status', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'A page of messages' }, '400': err('Invalid query'), '404': err('Not found'), ...common },
      },
    },
    '/api/v1/campaigns/{id}/messages/{message_id}': {
      get: { parameters: [idParam('id'), idParam('message_id')], responses: { '200': { description: 'Message with history' }, '404': err('Not found'), ...common } },
    },
    '/api/v1/campaigns/{id}/errors': {
      get: { parameters: [idParam('id')], responses: { '200': { description: 'Rejected CSV rows' }, '404': err('Not found'), ...common } },
    },
    '/api/v1/campaigns/{id}/cancel': {
      post: { parameters: [idParam('id')], responses: { '202': { description: 'Cancel requested' }, '404': err('Not found'), '409': err('No longer cancellable'), ...common } },
    },
    '/api/v1/suppressions': { get: { responses: { '200': { description: 'A page of suppressed addresses' }, ...common } } },
    '/api/v1/suppressions/{email}': {
      get: { parameters: [idParam('email')], responses: { '200': { description: 'Suppressed' }, '400': err('Invalid address'), '404': err('Not suppressed'), ...common } },
      put: { parameters: [idParam('email')], responses: { '200': { description: 'Suppressed' }, '400': err('Invalid address'), ...common } },
      delete: { parameters: [idParam('email')], responses: { '204': { description: 'Removed' }, '400': err('Invalid address'), '404': err('Not suppressed'), ...common } },
    },
  },
};

export const docsPage = `<!doctype html><html><head><meta charset="utf-8"><title>Email engine API</title></head>
<body><h1>Email engine API v1</h1><p>The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.
Every <code>/api/v1</code> route needs an <code>X-API-Key</code> header.</p></body></html>`;
