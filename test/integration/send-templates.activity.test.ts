// Issue 13 items 4 and 5 at the activity level, against DynamoDB Local, s3rver and the SES v2
// emulator: a template whose render passes the output cap fails its messages with
// RENDER_TOO_LARGE in an attempt that succeeds (never a retry); a template that cannot be used
// at send time fails them with TEMPLATE_INVALID; sends read the template's pinned copy and
// ingest the campaign's pinned CSV, never the uploads; and the object store never reads more
// than it is allowed to.
import { afterAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { ObjectTooLargeError, s3Keys } from '../../src/adapters/s3';
import { MAX_RENDERED_PART_BYTES } from '../../src/domain/template';
import { header, sesInbox } from '../support/harness';
import { allMessages, createFile, createTemplate, runActivity, runAttempt, setupDeps, TENANTS, transaction, uid } from './fixtures';

const { config, deps, activities, close } = setupDeps();
afterAll(() => close());

const tenantId = TENANTS.a.tenantId;
const runId = `run-${uid()}`;
const infoFor = (activityId: string, attempt = 1): Partial<Info> => ({
  activityId,
  attempt,
  workflowExecution: { workflowId: `wf-${activityId}`, runId },
});
const mailsFor = async (transactionId: string) => (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);

/** The issue's template, with the loop bound from recipient data (a literal bound is refused at confirm). */
const BOMB = `<p>Hi {{ first_name }}</p>{% for a in (1..times) %}${'x'.repeat(100_000)}{% endfor %}`;

/** A template as confirm leaves it: the bytes pinned under their own key, the upload key beside them. */
async function pinnedTemplate(opts: { html: string; subject: string; upload?: string; pinnedBytes?: number; pin?: boolean }) {
  const templateId = `tpl-${uid()}`;
  const uploadKey = s3Keys.template(tenantId, templateId);
  const pinnedKey = s3Keys.pinnedTemplate(tenantId, templateId, uid());
  await deps.objects.putText(uploadKey, opts.upload ?? opts.html, 'text/html');
  if (opts.pin !== false) await deps.objects.putText(pinnedKey, opts.html, 'text/html');
  const at = new Date().toISOString();
  await deps.store.putTemplate({
    template_id: templateId,
    tenant_id: tenantId,
    name: 'pinned',
    subject: opts.subject,
    from: 'sender@example.com',
    status: 'READY',
    placeholders: ['first_name'],
    s3_key: uploadKey,
    pinned_key: pinnedKey,
    pinned_bytes: opts.pinnedBytes ?? Buffer.byteLength(opts.html),
    created_at: at,
    updated_at: at,
  });
  return templateId;
}

/** A transaction over `csv` (optionally pinned as `pinnedCsv`), ingested in batches of 50. */
async function ingested(templateId: string, csv: string, pinnedCsv?: string) {
  const fileId = await createFile(deps, csv);
  let fileKey: string | undefined;
  if (pinnedCsv !== undefined) {
    fileKey = s3Keys.pinnedFile(tenantId, fileId, uid());
    await deps.objects.putText(fileKey, pinnedCsv, 'text/csv');
  }
  const txn = await deps.store.createTransaction({
    transaction_id: `txn-${uid()}`,
    tenant_id: tenantId,
    template_id: templateId,
    file_id: fileId,
    ...(fileKey ? { file_key: fileKey, file_bytes: Buffer.byteLength(pinnedCsv!) } : {}),
  });
  const input = { transactionId: txn.transaction_id, tenantId, templateId, fileId, batchSize: 50 };
  const { result } = await runActivity(activities.ingestRecipients, [input]);
  return { txn, ingest: result, base: { transactionId: txn.transaction_id, tenantId, templateId, sendingGraceMs: 60_000 } };
}

const rows = (id: string, n: number, extra = '') =>
  `email,first_name${extra ? ',times' : ''}\n` +
  Array.from({ length: n }, (_, i) => `r${i}-${id}@example.com,N${i}${extra ? `,${extra}` : ''}`).join('\n') +
  '\n';

describe('the render cap at send time', () => {
  it('fails every message of the 200 MB-per-recipient template with RENDER_TOO_LARGE in one attempt that succeeds', async () => {
    const id = uid();
    const templateId = await pinnedTemplate({ html: BOMB, subject: 'Hi {{ first_name }}' });
    const { txn, base } = await ingested(templateId, rows(id, 20, '2000'));
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();

    // One attempt: it returns (no ApplicationFailure, so nothing for Temporal to retry).
    const attempt = await runAttempt(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 50 }], infoFor('bomb-0'));
    expect(attempt.error).toBeUndefined();
    expect(attempt.result).toMatchObject({ sent: 0, failed: 20, deferred: 0 });
    expect(Date.now() - started).toBeLessThan(10_000);
    // 20 recipients × 200 MB would be 4 GB; each render stopped at the cap.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(100 * 1024 * 1024);

    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages).toHaveLength(20);
    for (const m of messages) {
      expect(m.status).toBe('FAILED');
      expect(m.failure_reason).toContain(`renders to more than ${MAX_RENDERED_PART_BYTES} bytes`);
      expect(m.status_history.map((h) => h.status)).toEqual(['CREATED', 'SENDING', 'FAILED']);
      expect(m.status_history.at(-1)!.metadata).toMatchObject({ code: 'RENDER_TOO_LARGE' });
    }
    expect(await mailsFor(txn.transaction_id)).toEqual([]);
    expect((await transaction(deps, txn.transaction_id)).counts).toMatchObject({ sent: 0, failed: 20 });

    // A second run of the chunk (as a retry would be) has nothing left to do.
    const again = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 50 }], infoFor('bomb-1'));
    expect(again.result).toMatchObject({ sent: 0, failed: 0, skipped: 20 });
  });

  it('sends the same template to recipients whose data keeps it under the cap, and fails only the others', async () => {
    const id = uid();
    const templateId = await pinnedTemplate({ html: BOMB, subject: 'Hi {{ first_name }}' });
    const csv = `email,first_name,times\nsmall-${id}@example.com,Ann,3\nhuge-${id}@example.com,Bob,2000\n`;
    const { txn, base } = await ingested(templateId, csv);
    const { result } = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 50 }], infoFor('mixed-0'));
    expect(result).toMatchObject({ sent: 1, failed: 1 });
    const [mail] = await mailsFor(txn.transaction_id);
    expect(mail!.destination.to).toEqual([`small-${id}@example.com`]);
    expect(mail!.body.html).toHaveLength('<p>Hi Ann</p>'.length + 300_000);
  });

  it('fails every message with TEMPLATE_INVALID when the template no longer compiles, and the attempt succeeds', async () => {
    const id = uid();
    // Confirmed before pinning (no pinned key): the send path reads the upload, which now does not parse.
    const templateId = await createTemplate(deps, { subject: 'Hi {{ first_name }}', html: '<p>{% if x %}never closed', placeholders: [] });
    const { txn, base } = await ingested(templateId, rows(id, 3));
    const attempt = await runAttempt(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 50 }], infoFor('invalid-0'));
    expect(attempt.error).toBeUndefined();
    expect(attempt.result).toMatchObject({ sent: 0, failed: 3 });
    for (const m of await allMessages(deps, txn.transaction_id)) {
      expect(m.status).toBe('FAILED');
      expect(m.status_history.at(-1)!.metadata).toMatchObject({ code: 'TEMPLATE_INVALID' });
      expect(m.failure_reason).toMatch(/syntax error at line 1/);
    }
    expect(await mailsFor(txn.transaction_id)).toEqual([]);
  });

  it('fails every message with TEMPLATE_INVALID when the pinned copy is gone or not the size confirmed', async () => {
    const id = uid();
    for (const [name, opts] of [
      ['gone', { pin: false }],
      ['another size', { pinnedBytes: 5 }],
    ] as const) {
      const templateId = await pinnedTemplate({ html: '<p>Hi {{ first_name }}</p>', subject: 'Hi', ...opts });
      const { txn, base } = await ingested(templateId, rows(`${id}${name.length}`, 2));
      const attempt = await runAttempt(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 50 }], infoFor(`pin-${name}`));
      expect(attempt.error, name).toBeUndefined();
      expect(attempt.result, name).toMatchObject({ sent: 0, failed: 2 });
      const codes = (await allMessages(deps, txn.transaction_id)).map((m) => m.status_history.at(-1)!.metadata?.code);
      expect(codes, name).toEqual(['TEMPLATE_INVALID', 'TEMPLATE_INVALID']);
    }
  });
});

describe('pinned uploads', () => {
  it('sends what was confirmed: the pinned copy, not what the upload key holds now', async () => {
    const id = uid();
    const templateId = await pinnedTemplate({
      html: '<p>Confirmed {{ first_name }}</p>',
      subject: 'Hi {{ first_name }}',
      upload: `{% for a in (1..2000) %}${'x'.repeat(100_000)}{% endfor %}{{ new_placeholder }}`,
    });
    const { txn, base } = await ingested(templateId, rows(id, 2));
    const { result } = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 50 }], infoFor('pinned-0'));
    expect(result).toMatchObject({ sent: 2, failed: 0 });
    const mails = await mailsFor(txn.transaction_id);
    expect(mails.map((m) => m.body.html).sort()).toEqual(['<p>Confirmed N0</p>', '<p>Confirmed N1</p>']);
  });

  it('ingests the campaign pinned CSV, not what the upload key holds now', async () => {
    const id = uid();
    const templateId = await pinnedTemplate({ html: '<p>{{ first_name }}</p>', subject: 'Hi' });
    const pinned = `email,first_name\nkept-${id}@example.com,Kept\n`;
    const upload = `email,first_name\nswapped1-${id}@example.com,X\nswapped2-${id}@example.com,Y\n`;
    const { txn, ingest } = await ingested(templateId, upload, pinned);
    expect(ingest).toMatchObject({ totalMessages: 1, valid: 1, invalid: 0 });
    const messages = await allMessages(deps, txn.transaction_id);
    expect(messages.map((m) => m.recipient_email)).toEqual([`kept-${id}@example.com`]);
    const batches = await deps.batches.listBatches(txn.transaction_id);
    expect(batches.map((b) => b.source)).toEqual([txn.file_key]);
  });
});

describe('ObjectStore reads no more than it is allowed', () => {
  const key = () => `test/limits/${uid()}`;

  it('readUpTo takes at most maxBytes + 1 bytes and reports the whole size; an empty object is empty, a missing one undefined', async () => {
    const k = key();
    await deps.objects.putText(k, 'a'.repeat(1000), 'text/plain');
    const read = await deps.objects.readUpTo(k, 100);
    expect(read!.body.length).toBe(101);
    expect(read!.size).toBe(1000);
    expect((await deps.objects.readUpTo(k, 5000))!.body.toString()).toBe('a'.repeat(1000));
    const empty = key();
    await deps.objects.putBytes(empty, new Uint8Array(0), 'text/plain');
    expect(await deps.objects.readUpTo(empty, 100)).toEqual({ body: Buffer.alloc(0), size: 0 });
    expect(await deps.objects.readUpTo(key(), 100)).toBeUndefined();
  });

  it('getStream with maxBytes fails on an object larger than that instead of cutting it, and passes one within it', async () => {
    const k = key();
    await deps.objects.putText(k, 'b'.repeat(1000), 'text/plain');
    const chunks: Buffer[] = [];
    await expect(
      (async () => {
        for await (const chunk of await deps.objects.getStream(k, { maxBytes: 999 })) chunks.push(chunk as Buffer);
      })(),
    ).rejects.toBeInstanceOf(ObjectTooLargeError);
    expect(Buffer.concat(chunks).length).toBeLessThanOrEqual(999);
    let whole = '';
    for await (const chunk of await deps.objects.getStream(k, { maxBytes: 1000 })) whole += String(chunk);
    expect(whole).toBe('b'.repeat(1000));
  });

  it('copy snapshots the source (later writes to it change nothing) and says when there is none', async () => {
    const from = key();
    const to = key();
    await deps.objects.putText(from, 'first', 'text/plain');
    expect(await deps.objects.copy(from, to)).toBe(true);
    await deps.objects.putText(from, 'second, and longer', 'text/plain');
    expect((await deps.objects.readUpTo(to, 100))!.body.toString()).toBe('first');
    expect(await deps.objects.copy(key(), key())).toBe(false);
  });
});
