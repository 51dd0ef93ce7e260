// Bad input gets the contract's status code and a clear error, and loses no valid data:
// invalid JSON, unknown fields, missing or unconfirmed resources, broken CSVs, huge files,
// callback URLs that are not allowed, oversized bodies, missing keys.
import { describe, expect, it } from 'vitest';
import { apiClient, header, sesInbox, startApi, TENANTS, testConfig, uploadCsv, useEngine, waitForStatus } from '../support/harness';

const engine = useEngine({ template: { subject: 'Hi {{ first_name }}', html: '<p>{{ first_name }}</p>' } });
const api = engine.api;

const expectError = (res: { status: number; body: any }, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
};

describe('request-level errors', () => {
  it('401 without a key or with an unknown one', async () => {
    expectError(await engine.apiFor(undefined).get('/api/v1/suppressions'), 401, 'MISSING_API_KEY');
    expectError(await engine.apiFor('nope-nope-nope-nope').get('/api/v1/suppressions'), 401, 'UNKNOWN_API_KEY');
  });

  it('400 for invalid JSON and unknown fields, 413 for an oversized body', async () => {
    expectError(await api.post('/api/v1/campaigns', '{"template_id": '), 400, 'INVALID_JSON');
    expectError(await api.post('/api/v1/campaigns', { template_id: 'x', file_id: 'y', surprise: 1 }), 400, 'VALIDATION_FAILED');
    expectError(
      await api.post('/api/v1/files/presigned-url', { file_name: 'a.csv', content_type: 'text/plain' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(await api.post('/api/v1/campaigns', { template_id: 'x'.repeat(200_000), file_id: 'y' }), 413, 'BODY_TOO_LARGE');
  });

  it('404 for a missing template or file, 422 for an unconfirmed template or an empty or missing upload', async () => {
    const fileId = await uploadCsv(api, 'email\na@example.com\n');
    expectError(await api.post('/api/v1/campaigns', { template_id: 'missing', file_id: fileId }), 404, 'NOT_FOUND');
    expectError(await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: 'missing' }), 404, 'NOT_FOUND');

    const draft = await api.post('/api/v1/templates/presigned-url', { name: 'draft', subject: 's', from: 'a@example.com' });
    expectError(await api.post(`/api/v1/templates/${draft.body.template_id}/confirm`), 404, 'TEMPLATE_NOT_UPLOADED');
    expectError(
      await api.post('/api/v1/campaigns', { template_id: draft.body.template_id, file_id: fileId }),
      422,
      'TEMPLATE_NOT_CONFIRMED',
    );

    const notUploaded = await api.post('/api/v1/files/presigned-url', { file_name: 'x.csv', content_type: 'text/csv' });
    expectError(
      await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: notUploaded.body.file_id }),
      422,
      'FILE_NOT_UPLOADED',
    );
    expectError(
      await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: await uploadCsv(api, '') }),
      422,
      'EMPTY_FILE',
    );
  });

  it('422 with line and column for a template that does not parse', async () => {
    const created = await api.post('/api/v1/templates/presigned-url', { name: 'broken', subject: 'ok', from: 'a@example.com' });
    await fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body: '<p>\n  {% if x %}never closed</p>' });
    const res = await api.post(`/api/v1/templates/${created.body.template_id}/confirm`);
    expectError(res, 422, 'TEMPLATE_SYNTAX_ERROR');
    expect(res.body.error.details).toMatchObject({ part: 'html', line: 2, column: 3 });
  });

  it('422 for a CSV without an email column or with a header it cannot use', async () => {
    const noEmail = await uploadCsv(api, 'name,first_name\nAda,Ada\n');
    expectError(await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: noEmail }), 422, 'NO_EMAIL_COLUMN');
    const dup = await uploadCsv(api, 'email,Email\na@example.com,b@example.com\n');
    expectError(await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: dup }), 422, 'DUPLICATE_COLUMN');
  });

  it('413 for a 100 MB file', async () => {
    const row = 'someone@example.com,Someone\n';
    const big = Buffer.alloc(100 * 1024 * 1024, row);
    big.write('email,first_name\n', 0);
    const fileId = await uploadCsv(api, big, 'big.csv');
    expectError(await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId }), 413, 'FILE_TOO_LARGE');
  });

  it('400 for a callback that is not http(s); 422 for a private address in production mode', async () => {
    const fileId = await uploadCsv(api, 'email,first_name\na@example.com,A\n');
    expectError(
      await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, callback_url: 'ftp://example.com/x' }),
      400,
      'INVALID_CALLBACK_URL',
    );
    expectError(
      await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, callback_url: 'not a url' }),
      400,
      'INVALID_CALLBACK_URL',
    );
    const production = await startApi(
      testConfig({
        APP_ENV: 'production',
        UNSUBSCRIBE_SECRET: 'a-production-secret-0123456789',
        OPERATOR_TOKEN: 'an-operator-token-0123456789-0123456789',
        PUBLIC_BASE_URL: 'https://mail.example.com',
        SNS_TRUSTED_CERT_URLS: '',
        CALLBACK_ALLOW_PRIVATE_NETWORKS: '',
      }),
    );
    try {
      const prodApi = apiClient(production.url, TENANTS.a.apiKey);
      for (const url of ['http://127.0.0.1:9/x', 'http://10.1.2.3/x', 'http://[::1]/x', 'http://localhost/x', 'http://192.168.0.10/x']) {
        expectError(
          await prodApi.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, callback_url: url }),
          422,
          'PRIVATE_CALLBACK_URL',
        );
      }
    } finally {
      await production.close();
    }
  });
});

describe('a partly bad file', () => {
  it('sends the valid rows and reports the rest', async () => {
    const csv = Buffer.concat([
      Buffer.from('\uFEFFemail,first_name\r\n'),
      Buffer.from('good1@example.com,"Multi\nline"\r\n'),
      Buffer.from('toomany@example.com,A,extra\r\n'),
      Buffer.from('binary@example.com,'),
      Buffer.from([0xff, 0xfe, 0x00, 0x41]),
      Buffer.from('\r\n'),
      Buffer.from('noname@example.com,\r\n'),
      Buffer.from('good2@example.com,Zoë\r\n'),
    ]);
    const fileId = await uploadCsv(api, csv);
    const started = await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId });
    expect(started.status).toBe(202);
    const id = started.body.transaction_id;
    const final = await waitForStatus(api, id, ['SENT', 'FAILED']);
    expect(final.status).toBe('SENT');
    expect(final.counts).toMatchObject({ sent: 2, invalid: 3 });
    const errors = await api.get(`/api/v1/campaigns/${id}/errors`);
    expect(errors.body.items.map((e: any) => [e.row, e.code])).toEqual([
      [2, 'TOO_MANY_COLUMNS'],
      [3, 'INVALID_ENCODING'],
      [4, 'MISSING_PLACEHOLDER'],
    ]);
    const mail = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);
    expect(mail.map((m) => m.subject).sort()).toEqual(['Hi Multi line', 'Hi Zoë']);
  });
});
