// The template operations issue 15 added (items 2 and 3): listing, versions, preview and test
// send (api/routes/templates.ts). Creating, confirming and getting a template are in index.ts.
import { createVersionBody, previewBody, testSendBody } from '../routes/templates';
import { body, cursorParam, dateTime, err, idParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Templates';
const strings = { type: 'array', items: { type: 'string' } };

const versionParam = {
  name: 'version',
  in: 'path',
  required: true,
  description: 'The version number (1 is the template as first uploaded)',
  schema: { type: 'integer', minimum: 1, maximum: 999_999 },
};
const pathParams = [idParam('template_id'), versionParam];
const noVersion = 'Not found, or owned by another tenant, or no such version (NOT_FOUND)';

const uploadProperties = {
  template_id: { type: 'string' },
  version: { type: 'integer', minimum: 1 },
  status: { const: 'PENDING_UPLOAD' },
  upload_url: { type: 'string' },
  method: { const: 'PUT' },
  headers: { type: 'object', additionalProperties: { type: 'string' } },
  expires_at: dateTime,
};
const versionUpload = { type: 'object', required: Object.keys(uploadProperties), properties: uploadProperties };

const senderRefused =
  "from or reply_to is not covered by one of the tenant's verified sender identities (SENDER_NOT_VERIFIED; details: field, address)";
const versionChoice =
  '404: no such template_version (TEMPLATE_VERSION_NOT_FOUND); 409: the version asked for is not confirmed (TEMPLATE_VERSION_NOT_CONFIRMED)';
const rowProblems =
  'No confirmed version when none is asked for (TEMPLATE_NOT_CONFIRMED); a required placeholder missing or blank in data (MISSING_PLACEHOLDERS; details: placeholders); ' +
  'a dotted variable the columns cannot supply (MISSING_COLUMNS; details: variables); or a render error as a send would meet it ' +
  '(UNDEFINED_VARIABLE, RENDER_FAILED, RENDER_LIMIT, MEMORY_LIMIT, RENDER_TOO_LARGE, TEMPLATE_INVALID; details: part, line, column)';

export const templatesArea: ApiArea = {
  tags: [],
  schemas: {
    TemplateVersion: {
      type: 'object',
      required: [
        'version',
        'status',
        'subject',
        'from',
        'reply_to',
        'placeholders',
        'required_placeholders',
        'optional_placeholders',
        'created_at',
        'updated_at',
      ],
      description: 'One version of a template. Confirmed (READY), it never changes: a change is a new version.',
      properties: {
        version: { type: 'integer', minimum: 1 },
        status: { enum: ['PENDING_UPLOAD', 'READY'] },
        subject: { type: 'string' },
        from: { type: 'string' },
        reply_to: nullable('string'),
        text: { ...nullable('string'), description: 'Only when one version is asked for (GET …/versions/{version})' },
        placeholders: strings,
        required_placeholders: { ...strings, description: 'As on Template' },
        optional_placeholders: { ...strings, description: 'As on Template' },
        created_at: dateTime,
        updated_at: dateTime,
      },
    },
    TemplateSummary: {
      type: 'object',
      required: ['template_id', 'name', 'subject', 'from', 'status', 'created_at', 'updated_at'],
      description: "A template in the tenant's list: version 1's subject, sender and status",
      properties: {
        template_id: { type: 'string' },
        name: { type: 'string' },
        subject: { type: 'string' },
        from: { type: 'string' },
        status: { enum: ['PENDING_UPLOAD', 'READY'] },
        created_at: dateTime,
        updated_at: dateTime,
      },
    },
    TemplatePage: {
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: ref('TemplateSummary') }, next_cursor: nullable('string') },
    },
    TemplateVersionConfirmed: {
      type: 'object',
      required: ['template_id', 'version', 'status', 'placeholders', 'required_placeholders', 'optional_placeholders'],
      properties: {
        template_id: { type: 'string' },
        version: { type: 'integer', minimum: 1 },
        status: { const: 'READY' },
        placeholders: strings,
        required_placeholders: strings,
        optional_placeholders: strings,
      },
    },
    TemplatePreview: {
      type: 'object',
      required: ['template_id', 'version', 'subject', 'html', 'text'],
      description:
        'The message as a send renders it for this row. Where a campaign message has values of its own, the preview shows ' +
        '{{message_id}}, {{transaction_id}} and {{unsubscribe_url}}; and {{email}} unless data has an email.',
      properties: {
        template_id: { type: 'string' },
        version: { type: 'integer', minimum: 1 },
        subject: { type: 'string' },
        html: { type: 'string' },
        text: nullable('string'),
      },
    },
    TestSendResult: {
      type: 'object',
      required: ['template_id', 'version', 'test', 'results'],
      properties: {
        template_id: { type: 'string' },
        version: { type: 'integer', minimum: 1 },
        test: { const: true },
        results: {
          type: 'array',
          items: {
            type: 'object',
            required: ['to', 'status'],
            properties: {
              to: { type: 'string' },
              status: { enum: ['sent', 'suppressed', 'failed'], description: 'suppressed: on the suppression list (or erased); not sent' },
              ses_message_id: { type: 'string' },
              code: { type: 'string' },
              reason: { type: 'string' },
            },
          },
        },
      },
    },
  },
  paths: {
    '/api/v1/templates': {
      get: {
        ...meta('listTemplates', "List the tenant's templates, newest first", TAG),
        parameters: [
          { ...cursorParam },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
        ],
        responses: v1({
          '200': ok('A page of templates', ref('TemplatePage')),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
    },
    '/api/v1/templates/{template_id}/versions': {
      post: {
        ...meta('createTemplateVersion', 'Create the next version of a template and get a presigned URL to upload its HTML', TAG),
        description:
          "What the body leaves out is the latest version's (null drops reply_to or text). Concurrent calls get distinct numbers.",
        parameters: [idParam('template_id')],
        requestBody: body(createVersionBody),
        responses: v1(
          {
            '201': ok('Upload URL for the new version', versionUpload),
            '413': err('Body over 64 KiB (BODY_TOO_LARGE), or the template has TEMPLATE_MAX_VERSIONS versions (TEMPLATE_VERSION_LIMIT)'),
            '409': err('Too many versions created at once (TEMPLATE_VERSION_BUSY): try again'),
            '422': err(senderRefused),
          },
          { body: true, path: true },
        ),
      },
    },
    '/api/v1/templates/{template_id}/versions/{version}': {
      get: {
        ...meta('getTemplateVersion', 'Get one version of a template, its text part included', TAG),
        parameters: pathParams,
        responses: v1(
          {
            '200': ok('The version', {
              allOf: [
                ref('TemplateVersion'),
                { type: 'object', required: ['template_id'], properties: { template_id: { type: 'string' } } },
              ],
            }),
          },
          { path: true, notFound: noVersion },
        ),
      },
    },
    '/api/v1/templates/{template_id}/versions/{version}/presigned-url': {
      post: {
        ...meta('renewTemplateVersionUpload', 'Get a new upload URL for a version not yet confirmed', TAG),
        parameters: pathParams,
        responses: v1(
          {
            '200': ok('Upload URL', versionUpload),
            '409': err('The version is confirmed and takes no more uploads (TEMPLATE_VERSION_CONFIRMED; details: version, status)'),
          },
          { path: true, notFound: noVersion },
        ),
      },
    },
    '/api/v1/templates/{template_id}/versions/{version}/confirm': {
      post: {
        ...meta('confirmTemplateVersion', 'Confirm an uploaded version: check its Liquid, list its placeholders, pin its bytes', TAG),
        description: 'A repeat confirm of a confirmed version answers the same and reads nothing.',
        parameters: pathParams,
        responses: v1(
          {
            '200': ok('Version ready', ref('TemplateVersionConfirmed')),
            '404': err('Not found (NOT_FOUND) or nothing uploaded (TEMPLATE_NOT_UPLOADED)'),
            '409': err('The version changed while it was being confirmed (TEMPLATE_VERSION_STATE_CONFLICT): try again'),
            '413': err('Uploaded template too large (TEMPLATE_TOO_LARGE)'),
            '422': err(
              'Liquid syntax error (TEMPLATE_SYNTAX_ERROR), output past the per-part cap for every recipient (RENDER_TOO_LARGE), or a placeholder read both as a value and as fields (PLACEHOLDER_CONFLICT); details: part, line, column',
            ),
          },
          { path: true, notFound: noVersion },
        ),
      },
    },
    '/api/v1/templates/{template_id}/preview': {
      post: {
        ...meta('previewTemplate', 'Render a template version for one data row, exactly as a send would', TAG),
        description:
          'version: default the latest confirmed one. data: one recipient row (column name → text), checked as ingest checks a CSV row.',
        parameters: [idParam('template_id')],
        requestBody: body(previewBody),
        responses: v1(
          {
            '200': ok('The rendered message', ref('TemplatePreview')),
            '404': err(`Not found, or owned by another tenant (NOT_FOUND); ${versionChoice}`),
            '409': err('The version asked for is not confirmed (TEMPLATE_VERSION_NOT_CONFIRMED; details: version, status)'),
            '422': err(rowProblems),
          },
          { body: true, path: true },
        ),
      },
    },
    '/api/v1/templates/{template_id}/test-send': {
      post: {
        ...meta('testSendTemplate', 'Send a template version to at most five addresses as a test', TAG),
        description:
          'Rendered as the preview is, then sent through SES marked as a test (header X-Engine-Test: true, SES tag test=true). ' +
          'Suppressed and erased addresses are left out and reported. No campaign, no counts. Needs campaigns:write besides templates:write. ' +
          'At most TEST_SEND_MAX_PER_HOUR (20) test messages per tenant and clock hour. Audited with the number of recipients, never the addresses.',
        parameters: [idParam('template_id')],
        requestBody: body(testSendBody),
        responses: {
          ...v1(
            {
              '200': ok('What happened to each address', ref('TestSendResult')),
              '400': err(
                'Invalid request: more than 5 addresses, an address that is not one, or a body that does not match the schema (VALIDATION_FAILED)',
              ),
              '404': err(`Not found, or owned by another tenant (NOT_FOUND); ${versionChoice}`),
              '409': err('The version asked for is not confirmed (TEMPLATE_VERSION_NOT_CONFIRMED; details: version, status)'),
              '422': err(`${rowProblems}; or ${senderRefused}`),
            },
            { body: true, path: true },
          ),
          '429': {
            description:
              "Too many requests for this tenant's key (RATE_LIMITED), or past the tenant's test messages for this clock hour (TEST_SEND_LIMIT; details: limit); nothing was sent",
            headers: {
              'Retry-After': {
                required: true,
                description: 'Seconds until a request may succeed',
                schema: { type: 'integer', minimum: 0 },
              },
            },
            content: { 'application/json': { schema: ref('Error') } },
          },
        },
      },
    },
  },
};
