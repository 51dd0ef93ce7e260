// The Exports area of the OpenAPI document: a campaign's result exports (api/routes/exports.ts),
// under /api/v1/campaigns and the /api/v1/transactions alias.
import { EXPORT_COLUMNS } from '../../src/domain/campaign-export';
import { createExportBody } from '../routes/exports';
import { body, dateTime, err, idParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Exports';

const exportPaths = (base: string, noun: 'Campaign' | 'Transaction'): ApiArea['paths'] => ({
  [`${base}/{id}/exports`]: {
    post: {
      ...meta(`create${noun}Export`, 'Start an export of every message of the campaign as CSV', TAG),
      description:
        'Starts a workflow that writes one CSV row per message (columns: ' +
        EXPORT_COLUMNS.join(', ') +
        ') to object storage; follow `status_url` until `state` is COMPLETED, then download `download_url`. ' +
        'A campaign still ingesting (ACCEPT, PROCESSING) cannot be exported yet. Each row shows the message as it was when read: ' +
        'an export of a campaign still sending is a snapshot. Needs `campaigns:read`.',
      parameters: [
        idParam('id'),
        {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'A repeat with the same key answers 200 with the same export instead of starting another',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
      ],
      requestBody: { ...body(createExportBody), required: false },
      responses: v1(
        {
          '202': ok('Export started', ref('CampaignExport')),
          '200': ok('The export this Idempotency-Key started before', ref('CampaignExport')),
          '400': err('Invalid body or Idempotency-Key of the wrong length (VALIDATION_FAILED, INVALID_IDEMPOTENCY_KEY), or malformed path'),
          '409': err(
            'The campaign is still ingesting (CAMPAIGN_NOT_INGESTED; details: status), or as many of its exports as allowed are running (EXPORTS_RUNNING; details: limit)',
          ),
        },
        { body: true, path: true },
      ),
    },
  },
  [`${base}/{id}/exports/{export_id}`]: {
    get: {
      ...meta(`get${noun}Export`, 'Get an export: its state, rows written and, once completed, a download link', TAG),
      description:
        'Each answer for a COMPLETED export carries a fresh presigned link, valid until `download_expires_at`; ' +
        'once the file has been deleted (retention, or an erasure of a file too large to rewrite) there is none and `error` is EXPORT_DELETED.',
      parameters: [idParam('id'), idParam('export_id')],
      responses: v1({ '200': ok('The export', ref('CampaignExport')) }, { path: true }),
    },
  },
});

export const exportsArea: ApiArea = {
  tags: [{ name: TAG, description: "A campaign's messages as a CSV file (RFC 4180, formula-safe cells), written by a workflow" }],
  schemas: {
    CampaignExport: {
      type: 'object',
      required: [
        'export_id',
        'transaction_id',
        'state',
        'rows_written',
        'bytes_written',
        'created_at',
        'updated_at',
        'completed_at',
        'error',
        'download_url',
        'download_expires_at',
        'campaign',
        'status_url',
      ],
      properties: {
        export_id: { type: 'string' },
        transaction_id: { type: 'string' },
        state: { enum: ['RUNNING', 'COMPLETED', 'FAILED'] },
        rows_written: { type: 'integer', minimum: 0, description: 'Message rows (without the header): so far while RUNNING, then in all' },
        bytes_written: { type: 'integer', minimum: 0 },
        created_at: dateTime,
        updated_at: dateTime,
        completed_at: { oneOf: [{ type: 'null' }, dateTime] },
        error: {
          oneOf: [
            { type: 'null' },
            { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
          ],
        },
        download_url: { ...nullable('string'), description: 'Set when COMPLETED: a presigned GET of the CSV' },
        download_expires_at: { oneOf: [{ type: 'null' }, dateTime] },
        campaign: {
          type: 'object',
          required: ['status', 'name', 'tags', 'metadata'],
          properties: {
            status: { type: 'string' },
            name: nullable('string'),
            tags: { type: 'array', items: { type: 'string' } },
            metadata: { type: 'object' },
          },
        },
        status_url: { type: 'string' },
      },
    },
  },
  paths: { ...exportPaths('/api/v1/campaigns', 'Campaign'), ...exportPaths('/api/v1/transactions', 'Transaction') },
};
