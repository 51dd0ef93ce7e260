// Suppression import and export (issue 15, item 6; api/routes/suppression-lists.ts), under the
// Suppressions tag of the base document.
import { EXPORT_STATES, IMPORT_STATES, SUPPRESSION_REASONS } from '../../src/domain/suppression-lists';
import { createSuppressionExportBody, createSuppressionImportBody } from '../routes/suppression-lists';
import { body, dateTime, err, idParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Suppressions';
const count = { type: 'integer', minimum: 0 };

const download = {
  type: 'object',
  required: ['url', 'expires_at'],
  properties: { url: { type: 'string', format: 'uri' }, expires_at: dateTime },
};

const jobError = {
  type: ['object', 'null'],
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  description:
    'Why the job failed: EMPTY_FILE, MISSING_EMAIL_COLUMN, TOO_MANY_LINES, FILE_TOO_LARGE, MALFORMED_CSV (lines before it are imported), ' +
    'or INTERNAL_ERROR (a new import or export may be started)',
};

export const suppressionListsArea: ApiArea = {
  tags: [],
  schemas: {
    SuppressionImportProgress: {
      type: 'object',
      required: ['lines_read', 'imported', 'duplicates', 'rejected'],
      properties: {
        lines_read: { ...count, description: 'Data lines read so far (each is imported, a duplicate or rejected)' },
        imported: { ...count, description: 'Addresses this import added to the suppression list' },
        duplicates: {
          ...count,
          description:
            'Addresses already suppressed (their reason and date are kept; erased recipients stay suppressed by hash), or repeated in the file',
        },
        rejected: { ...count, description: 'Lines with an invalid address or reason (listed in the rejected-lines report)' },
      },
    },
    SuppressionImport: {
      type: 'object',
      required: [
        'import_id',
        'state',
        'progress',
        'file_bytes',
        'error',
        'rejected_report',
        'created_at',
        'updated_at',
        'started_at',
        'completed_at',
        'status_url',
      ],
      properties: {
        import_id: { type: 'string' },
        state: { enum: [...IMPORT_STATES] },
        progress: ref('SuppressionImportProgress'),
        file_bytes: nullable('integer'),
        error: jobError,
        rejected_report: {
          type: ['object', 'null'],
          required: ['lines', 'url', 'expires_at'],
          properties: { lines: count, url: { type: 'string', format: 'uri' }, expires_at: dateTime },
          description:
            'A CSV of the first rejected lines (line, email, code, message; at most SUPPRESSION_IMPORT_MAX_REPORTED_LINES), once the import has ended',
        },
        created_at: dateTime,
        updated_at: dateTime,
        started_at: nullable('string'),
        completed_at: nullable('string'),
        status_url: { type: 'string' },
      },
    },
    NewSuppressionImport: {
      allOf: [
        ref('SuppressionImport'),
        {
          type: 'object',
          required: ['upload', 'start_url'],
          properties: {
            upload: {
              type: 'object',
              required: ['upload_url', 'method', 'headers', 'expires_at', 'max_bytes', 'max_lines'],
              properties: {
                upload_url: { type: 'string', format: 'uri' },
                method: { enum: ['PUT'] },
                headers: { type: 'object', additionalProperties: { type: 'string' } },
                expires_at: dateTime,
                max_bytes: count,
                max_lines: count,
              },
            },
            start_url: { type: 'string' },
          },
        },
      ],
    },
    SuppressionExport: {
      type: 'object',
      required: ['export_id', 'state', 'rows', 'error', 'download', 'created_at', 'updated_at', 'completed_at', 'status_url'],
      properties: {
        export_id: { type: 'string' },
        state: { enum: [...EXPORT_STATES] },
        rows: { ...count, description: 'Addresses exported (so far, while RUNNING)' },
        error: jobError,
        download: { ...download, type: ['object', 'null'], description: 'A presigned URL of the CSV once COMPLETED' },
        created_at: dateTime,
        updated_at: dateTime,
        completed_at: nullable('string'),
        status_url: { type: 'string' },
      },
    },
  },
  paths: {
    '/api/v1/suppressions/imports': {
      post: {
        ...meta('createSuppressionImport', 'Create a suppression import and its upload URL', TAG),
        description:
          'Upload a CSV with a header line to the returned URL (PUT, with the given headers), then start the import. Columns: `email` ' +
          '(required) and `reason` (optional); other columns are ignored. A reason is one of ' +
          `${SUPPRESSION_REASONS.join(', ')} (or bounce, hard_bounce, complaint, spam, unsubscribe); an empty one is MANUAL, and any other ` +
          'text (200 characters at most) is MANUAL with the text kept as source.note. At most SUPPRESSION_IMPORT_MAX_LINES data lines.',
        requestBody: { ...body(createSuppressionImportBody), required: false },
        responses: v1({ '201': ok('The import, awaiting its upload', ref('NewSuppressionImport')) }, { body: true }),
      },
    },
    '/api/v1/suppressions/imports/{import_id}': {
      get: {
        ...meta('getSuppressionImport', 'Get a suppression import: its state and progress', TAG),
        parameters: [idParam('import_id')],
        responses: v1({ '200': ok('The import', ref('SuppressionImport')) }, { path: true }),
      },
    },
    '/api/v1/suppressions/imports/{import_id}/start': {
      post: {
        ...meta('startSuppressionImport', 'Start a suppression import of the uploaded file', TAG),
        description:
          'Pins the uploaded file (later uploads change nothing) and starts the import. Idempotent: the import is the upload, and a ' +
          'start of an import already started answers with it as it stands and imports nothing again.',
        parameters: [idParam('import_id')],
        responses: v1(
          {
            '202': ok('Started (or queued to start)', ref('SuppressionImport')),
            '200': ok('Started before: the import as it stands', ref('SuppressionImport')),
            '409': err('Nothing was uploaded yet (FILE_NOT_UPLOADED)'),
            '413': err('The file is larger than SUPPRESSION_IMPORT_MAX_BYTES (FILE_TOO_LARGE; details: max_bytes)'),
            '422': err('The file is empty (EMPTY_FILE)'),
          },
          { path: true },
        ),
      },
    },
    '/api/v1/suppressions/exports': {
      post: {
        ...meta('createSuppressionExport', 'Export the suppression list as CSV', TAG),
        description:
          'Writes every suppressed address as CSV (email, reason, created_at; RFC 4180, formula-safe cells) to a file of its own. ' +
          'Erased recipients are not exported: the engine holds only the hash of their address.',
        requestBody: { ...body(createSuppressionExportBody), required: false },
        responses: v1({ '202': ok('The export, started', ref('SuppressionExport')) }, { body: true }),
      },
    },
    '/api/v1/suppressions/exports/{export_id}': {
      get: {
        ...meta('getSuppressionExport', 'Get a suppression export: its state and download URL', TAG),
        parameters: [idParam('export_id')],
        responses: v1({ '200': ok('The export', ref('SuppressionExport')) }, { path: true }),
      },
    },
  },
};
