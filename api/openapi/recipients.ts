// The Recipients area of the OpenAPI document: subject access, erasure and retention for one
// person (api/routes/recipients.ts).
import { z } from 'zod';
import { ERASURE_STATUSES } from '../../src/domain/erasure';
import { MESSAGE_STATUSES } from '../../src/domain/message-status';
import { putRetentionBody } from '../routes/recipients';
import { cursorParam, dateTime, emailParam, err, json, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Recipients';
const count = { type: 'integer', minimum: 0 };
const counts = (names: string[]) => ({
  type: 'object',
  required: names,
  properties: Object.fromEntries(names.map((n) => [n, count])),
});
const days = { type: 'number', exclusiveMinimum: 0 };
const nullableDays = { type: ['number', 'null'], exclusiveMinimum: 0 };
const invalidAddress = 'Invalid address (INVALID_EMAIL) or malformed path';
const accessLimit = {
  name: 'limit',
  in: 'query',
  required: false,
  description: 'Most messages, and most rejected rows, in one page',
  schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
};
const erasureIdParam = {
  name: 'erasure_id',
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1, maxLength: 64 },
};

export const recipientsArea: ApiArea = {
  tags: [
    {
      name: TAG,
      description:
        "One person's data for the calling tenant (GDPR, CCPA): what the engine holds about an address, its erasure, and how long the tenant's data is kept. " +
        'An address is named elsewhere by its recipient hash: the SHA-256 (lowercase hex) of the address, trimmed and lowercased.',
    },
  ],
  schemas: {
    Retention: {
      type: 'object',
      required: ['retention_days', 'upload_retention_days', 'tenant_setting', 'defaults'],
      properties: {
        retention_days: { ...days, description: 'In force: messages and rejected rows (from their send time), and analytics documents' },
        upload_retention_days: { ...days, description: 'In force: uploaded recipient files and their pinned copies' },
        tenant_setting: {
          type: 'object',
          required: ['retention_days', 'upload_retention_days'],
          properties: { retention_days: nullableDays, upload_retention_days: nullableDays },
          description: "The tenant's own values (null: the engine's default applies)",
        },
        defaults: {
          type: 'object',
          required: ['retention_days', 'upload_retention_days', 'minimum_days'],
          properties: { retention_days: days, upload_retention_days: days, minimum_days: { type: 'number', minimum: 0 } },
        },
      },
    },
    Erasure: {
      type: 'object',
      required: [
        'erasure_id',
        'recipient_hash',
        'status',
        'requested_at',
        'updated_at',
        'completed_at',
        'requests',
        'stores',
        'status_url',
      ],
      properties: {
        erasure_id: { type: 'string' },
        recipient_hash: { type: 'string', description: 'The SHA-256 of the address: all the engine keeps (as a suppression)' },
        status: { enum: [...ERASURE_STATUSES] },
        requested_at: dateTime,
        updated_at: dateTime,
        completed_at: { oneOf: [{ type: 'null' }, dateTime] },
        requests: count,
        stores: {
          type: 'object',
          description: 'What was erased where, filled in as each step ends',
          properties: {
            suppression: {
              type: 'object',
              required: ['hash_entry', 'address_entry_removed'],
              properties: { hash_entry: { type: 'boolean' }, address_entry_removed: { type: 'boolean' } },
            },
            analytics: {
              oneOf: [
                counts(['event_documents_deleted', 'message_documents_anonymised']),
                { type: 'object', required: ['skipped'], properties: { skipped: { type: 'string' } } },
              ],
            },
            files: counts(['checked', 'rewritten', 'deleted', 'rows_removed']),
            messages: counts(['erased', 'suppressed_before_send']),
            rejected_rows: counts(['erased']),
          },
        },
        status_url: { type: 'string' },
      },
    },
    RecipientReport: {
      type: 'object',
      required: ['email', 'recipient_hash', 'suppression', 'erasure', 'messages', 'rejected_rows', 'analytics', 'next_cursor'],
      properties: {
        email: { type: 'string' },
        recipient_hash: { type: 'string' },
        suppression: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['reason', 'source', 'created_at'],
              properties: { reason: { type: 'string' }, source: { type: ['object', 'null'] }, created_at: { type: 'string' } },
            },
          ],
        },
        topic_suppressions: {
          type: 'array',
          description: 'The topics the address left (issue 15, item 7): each holds back only campaigns of that topic',
          items: {
            type: 'object',
            required: ['topic', 'reason', 'source', 'created_at'],
            properties: {
              topic: { type: 'string' },
              reason: { type: 'string' },
              source: { type: ['object', 'null'] },
              created_at: { type: 'string' },
            },
          },
        },
        erasure: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['erasure_id', 'suppressed_at'],
              properties: { erasure_id: { type: 'string' }, suppressed_at: { type: 'string' } },
              description: 'The address was erased before: it is suppressed by its hash',
            },
          ],
        },
        messages: {
          type: 'array',
          items: {
            type: 'object',
            required: [
              'transaction_id',
              'message_id',
              'batch_id',
              'row',
              'recipient_email',
              'status',
              'placeholder_data',
              'created_at',
              'updated_at',
            ],
            properties: {
              transaction_id: { type: 'string' },
              message_id: { type: 'string' },
              batch_id: { type: 'string' },
              row: { type: 'integer' },
              recipient_email: { type: 'string' },
              status: { enum: MESSAGE_STATUSES },
              placeholder_data: { type: 'object', additionalProperties: { type: 'string' } },
              ses_message_id: nullable('string'),
              sent_time: nullable('string'),
              created_at: { type: 'string' },
              updated_at: { type: 'string' },
              expires_at: { ...nullable('string'), description: 'When the retention lets DynamoDB delete it' },
              status_history: { type: 'array', items: { type: 'object' } },
            },
          },
        },
        rejected_rows: {
          type: 'array',
          items: {
            type: 'object',
            required: ['transaction_id', 'row', 'email', 'code', 'message'],
            properties: {
              transaction_id: { type: 'string' },
              row: { type: 'integer' },
              email: { type: 'string' },
              code: { type: 'string' },
              message: { type: 'string' },
              expires_at: nullable('string'),
            },
          },
        },
        analytics: {
          type: 'object',
          required: ['available', 'message_documents', 'event_documents'],
          description: "Analytics documents of this page's messages (null counts when analytics are off or unreachable)",
          properties: {
            available: { type: 'boolean' },
            message_documents: { type: ['integer', 'null'], minimum: 0 },
            event_documents: { type: ['integer', 'null'], minimum: 0 },
          },
        },
        next_cursor: nullable('string'),
      },
    },
  },
  paths: {
    '/api/v1/recipients/retention': {
      get: {
        ...meta('getRetention', "Get how long the tenant's data is kept", TAG),
        responses: v1({ '200': ok('The retention in force', ref('Retention')) }),
      },
      put: {
        ...meta('putRetention', "Set the tenant's retention (admin)", TAG),
        description: 'Needs the `admin` scope. A field left out keeps its value; null returns it to the default.',
        requestBody: { required: true, ...json(z.toJSONSchema(putRetentionBody, { io: 'input' })) },
        responses: v1(
          {
            '200': ok('The retention in force', ref('Retention')),
            '422': err('Shorter than the engine allows (RETENTION_TOO_SHORT; details: fields)'),
          },
          { body: true },
        ),
      },
    },
    '/api/v1/recipients/erasures/{erasure_id}': {
      get: {
        ...meta('getErasure', 'Get an erasure and what it erased where', TAG),
        parameters: [erasureIdParam],
        responses: v1({ '200': ok('The erasure', ref('Erasure')) }, { path: true }),
      },
    },
    '/api/v1/recipients/{email}': {
      get: {
        ...meta('getRecipient', 'Get what the engine holds about an address (subject access)', TAG),
        description:
          'Messages, rejected rows, suppression and analytics document counts for the address, this tenant only; ' +
          'at most `limit` messages and `limit` rejected rows a page, the next page by `cursor`.',
        parameters: [emailParam, accessLimit, cursorParam],
        responses: v1(
          {
            '200': ok('What the engine holds', ref('RecipientReport')),
            '400': err(`${invalidAddress}, invalid query or cursor (INVALID_CURSOR)`),
          },
          { path: true },
        ),
      },
      delete: {
        ...meta('eraseRecipient', "Erase an address's personal data", TAG),
        description:
          'Erases the address from messages, rejected rows, analytics and recipient files of this tenant within minutes; ' +
          'keeps only its hash, as a suppression, so it is never mailed again. Repeating the request while it runs returns the same erasure.',
        parameters: [emailParam],
        responses: v1({ '202': ok('Erasure accepted: the receipt', ref('Erasure')), '400': err(invalidAddress) }, { path: true }),
      },
    },
  },
};
