// ingestRecipients against DynamoDB Local and s3rver: row verdicts, batches, messages,
// reject reports and counts for a messy CSV, and the file-level failures.
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { messageIdFor } from '../../src/adapters/dynamo/keys';
import {
  allMessages,
  allRowErrors,
  campaign,
  createFile,
  createTemplate,
  createTransaction,
  expectFailure,
  runActivity,
  setupDeps,
  suppress,
  TENANTS,
  transaction,
  uid,
} from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

describe('ingestRecipients', () => {
  it('validates every kind of row and writes messages, batches, row errors and counts', async () => {
    const id = uid();
    const ok = (n: number) => `ok${n}-${id}@example.com`;
    const blocked = `blocked-${id}@example.com`;
    await suppress(deps, blocked);
    const csv = Buffer.concat([
      Buffer.from(
        '\uFEFFemail,first_name\r\n' +
          `${ok(1)},Ann\r\n` + // row 1
          'not-an-email,Bob\r\n' + // row 2: INVALID_EMAIL
          `${ok(1).toUpperCase()},Dup\r\n` + // row 3: DUPLICATE (case-insensitive)
          `${ok(2)},"Multi\r\nline, quoted"\r\n` + // row 4: quoted newline and comma
          `${ok(3)},Cara,extra\r\n` + // row 5: TOO_MANY_COLUMNS
          `${ok(4)},D`,
      ),
      Buffer.from([0xff, 0xfe]), // row 6: INVALID_ENCODING
      Buffer.from(`\r\n${blocked},Sup\r\n` + [5, 6, 7, 8].map((n) => `${ok(n)},Name${n}\r\n`).join('')), // rows 7-11
    ]);
    const { txn, input } = await campaign(deps, csv, { subject: 'Hi {{ first_name }}', html: '<p>{{ first_name }}</p>' });

    const { result, heartbeats } = await runActivity(activities.ingestRecipients, [input]);

    expect(result).toEqual({ totalMessages: 7, batchCount: 2, valid: 6, invalid: 4, suppressed: 1 });
    expect(heartbeats.at(-1)).toEqual({ row: 11, suppressed: 1 });

    const batches = await deps.batches.listBatches(txn.transaction_id);
    expect(batches).toEqual([
      expect.objectContaining({ batch_id: 'b00001', batch_number: 1, status: 'CREATED', message_count: 5, first_row: 1, last_row: 9 }),
      expect.objectContaining({ batch_id: 'b00002', batch_number: 2, status: 'CREATED', message_count: 2, first_row: 10, last_row: 11 }),
    ]);

    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages.map((m) => [m.row, m.batch_id, m.recipient_email, m.status])).toEqual([
      [1, 'b00001', ok(1), 'CREATED'],
      [4, 'b00001', ok(2), 'CREATED'],
      [7, 'b00001', blocked, 'SUPPRESSED'],
      [8, 'b00001', ok(5), 'CREATED'],
      [9, 'b00001', ok(6), 'CREATED'],
      [10, 'b00002', ok(7), 'CREATED'],
      [11, 'b00002', ok(8), 'CREATED'],
    ]);
    for (const m of messages) {
      expect(m.message_id).toBe(messageIdFor(m.batch_id, m.row));
      expect(m.transaction_id).toBe(txn.transaction_id);
      expect(m.tenant_id).toBe(TENANTS.a.tenantId);
      expect(m.status_history).toHaveLength(1);
      expect(m.status_history[0]!.status).toBe(m.status);
    }
    expect(messages[0]!.placeholder_data).toEqual({ first_name: 'Ann' });
    expect(messages[1]!.placeholder_data).toEqual({ first_name: 'Multi\r\nline, quoted' });
    expect(messages[2]!.status_history[0]!.metadata).toEqual({ source: 'csv_processing', reason: 'on_suppression_list' });

    const errors = await allRowErrors(deps, txn.transaction_id);
    expect(errors.map((e) => [e.row, e.code, e.email])).toEqual([
      [2, 'INVALID_EMAIL', 'not-an-email'],
      [3, 'DUPLICATE', ok(1).toUpperCase()],
      [5, 'TOO_MANY_COLUMNS', ok(3)],
      [6, 'INVALID_ENCODING', ok(4)],
    ]);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);

    const after = await transaction(deps, txn.transaction_id);
    expect(after.total_messages).toBe(7);
    expect(after.batch_count).toBe(2);
    expect(after.counts).toMatchObject({ invalid: 4, suppressed: 1, sent: 0, failed: 0 });
  });

  it('keeps a stray quote inside a field as text, so no row is lost or renumbered', async () => {
    const id = uid();
    const csv = `email,name\na-${id}@example.com,A\nb-${id}@example.com,x"y\nc-${id}@example.com,"bad"x\nd-${id}@example.com,D\n`;
    const { txn, input } = await campaign(deps, csv);

    const { result } = await runActivity(activities.ingestRecipients, [input]);

    expect(result).toMatchObject({ totalMessages: 4, invalid: 0 });
    expect(await allRowErrors(deps, txn.transaction_id)).toEqual([]);
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages.map((m) => [m.row, m.recipient_email, m.placeholder_data.name])).toEqual([
      [1, `a-${id}@example.com`, 'A'],
      [2, `b-${id}@example.com`, 'x"y'],
      [3, `c-${id}@example.com`, '"bad"x'],
      [4, `d-${id}@example.com`, 'D'],
    ]);
  });

  it('reports a quote never closed deep in a large file, keeping every row before it numbered right', async () => {
    // Large enough that S3 streams it in several chunks.
    const id = uid();
    const rows = Array.from({ length: 5000 }, (_, i) =>
      i === 3999 ? `bad-${id}@example.com,"never closed` : `r${i + 1}-${id}@example.com,N`,
    );
    const { txn, input } = await campaign(deps, `email,name\n${rows.join('\n')}\n`);

    const { result } = await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 1000 }]);

    // Rows from 4000 on are one unterminated field: the file cannot be read past it, and says so.
    expect(result).toMatchObject({ totalMessages: 3999, invalid: 1 });
    const errors = await allRowErrors(deps, txn.transaction_id);
    expect(errors.map((e) => [e.row, e.code])).toEqual([[4000, 'MALFORMED_CSV']]);
    expect(errors[0]!.message).toContain('could not be read past this row');
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages).toHaveLength(3999);
    const misnumbered = messages.filter((m) => m.recipient_email !== `r${m.row}-${id}@example.com`);
    expect(misnumbered.map((m) => [m.row, m.recipient_email]).slice(0, 3)).toEqual([]);
  });

  it('accepts a header-only file with no messages and no batches', async () => {
    const { txn, input } = await campaign(deps, 'email,first_name\n');
    const { result } = await runActivity(activities.ingestRecipients, [input]);
    expect(result).toEqual({ totalMessages: 0, batchCount: 0, valid: 0, invalid: 0, suppressed: 0 });
    expect(await deps.batches.listBatches(txn.transaction_id)).toEqual([]);
    expect((await transaction(deps, txn.transaction_id)).total_messages).toBe(0);
  });
});

describe('ingestRecipients file-level failures', () => {
  const expectInvalidFile = async (
    input: Parameters<typeof activities.ingestRecipients>[0],
    code: string,
    run = activities.ingestRecipients,
  ) => {
    const failure = await expectFailure(run, [input]);
    expect(failure.type).toBe('InvalidRecipientFile');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual([{ code }]);
    expect(await deps.batches.listBatches(input.transactionId)).toEqual([]);
    return failure;
  };

  it('rejects a file with no email column', async () => {
    const { input } = await campaign(deps, `name,address\nAnn,ann-${uid()}@example.com\n`);
    await expectInvalidFile(input, 'NO_EMAIL_COLUMN');
  });

  it('rejects an empty object', async () => {
    const { input } = await campaign(deps, '');
    await expectInvalidFile(input, 'EMPTY_FILE');
  });

  it('rejects a file of blank lines (no header row)', async () => {
    const { input } = await campaign(deps, '\r\n\r\n\r\n');
    await expectInvalidFile(input, 'EMPTY_FILE');
  });

  it('rejects a header with duplicate columns differing only in case', async () => {
    const { input } = await campaign(deps, `email,Name,name\nx-${uid()}@example.com,a,b\n`);
    await expectInvalidFile(input, 'DUPLICATE_COLUMN');
  });

  it('rejects a file record whose object was never uploaded', async () => {
    const templateId = await createTemplate(deps, { subject: 'Hi', html: '<p>Hi</p>' });
    const fileId = await createFile(deps, undefined);
    const txn = await createTransaction(deps, { templateId, fileId });
    await expectInvalidFile(
      { transactionId: txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId, fileId, batchSize: 5 },
      'FILE_NOT_UPLOADED',
    );
  });

  it("does not read another tenant's file", async () => {
    const templateId = await createTemplate(deps, { subject: 'Hi', html: '<p>Hi</p>' });
    const fileId = await createFile(deps, `email\nx-${uid()}@example.com\n`, TENANTS.b.tenantId);
    const txn = await createTransaction(deps, { templateId, fileId });
    await expectInvalidFile(
      { transactionId: txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId, fileId, batchSize: 5 },
      'FILE_NOT_FOUND',
    );
  });

  it('refuses a template that is not confirmed', async () => {
    const templateId = await createTemplate(deps, { subject: 'Hi', html: '<p>Hi</p>', status: 'PENDING_UPLOAD' });
    const fileId = await createFile(deps, `email\nx-${uid()}@example.com\n`);
    const txn = await createTransaction(deps, { templateId, fileId });
    await expectInvalidFile(
      { transactionId: txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId, fileId, batchSize: 5 },
      'TEMPLATE_NOT_READY',
    );
  });

  it('checks the rows against the template version the campaign pinned, not the first one', async () => {
    const templateId = await createTemplate(deps, { subject: 'Hi {{ first_name }}', html: '<p>{{ first_name }}</p>' });
    const first = (await deps.templates.getTemplateVersion(TENANTS.a.tenantId, templateId, 1))!;
    expect(first.required_placeholders ?? first.placeholders).toEqual(['first_name']);
    // Version 2 needs a city and no first name.
    await deps.templates.createTemplateVersion({
      ...first,
      version: 2,
      subject: 'News for {{ city }}',
      placeholders: ['city'],
      required_placeholders: ['city'],
      optional_placeholders: [],
    });
    const fileId = await createFile(deps, `email,city\nv2-${uid()}@example.com,Paris\nv2b-${uid()}@example.com,\n`);
    const txn = await createTransaction(deps, { templateId, fileId, extra: { template_version: 2 } });
    const input = { transactionId: txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId, fileId, batchSize: 5 };

    const { result } = await runActivity(activities.ingestRecipients, [input]);

    expect(result).toMatchObject({ totalMessages: 1, valid: 1, invalid: 1 });
    expect((await allRowErrors(deps, txn.transaction_id)).map((e) => [e.row, e.code])).toEqual([[2, 'MISSING_PLACEHOLDER']]);
  });

  it('refuses a campaign whose pinned version is not confirmed', async () => {
    const templateId = await createTemplate(deps, { subject: 'Hi', html: '<p>Hi</p>' });
    const first = (await deps.templates.getTemplateVersion(TENANTS.a.tenantId, templateId, 1))!;
    await deps.templates.createTemplateVersion({ ...first, version: 2, status: 'PENDING_UPLOAD' });
    const fileId = await createFile(deps, `email\nx-${uid()}@example.com\n`);
    const txn = await createTransaction(deps, { templateId, fileId, extra: { template_version: 2 } });
    await expectInvalidFile(
      { transactionId: txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId, fileId, batchSize: 5 },
      'TEMPLATE_NOT_READY',
    );
  });

  it('refuses a file larger than the configured limit', async () => {
    const small = { ...deps, settings: { ...deps.settings, maxCsvBytes: 20 } };
    const { input } = await campaign(deps, `email\nsomeone-${uid()}@example.com\n`);
    const failure = await expectInvalidFile(input, 'FILE_TOO_LARGE', createActivities(small).ingestRecipients);
    expect(failure.message).toContain('the limit is 20');
  });
});
