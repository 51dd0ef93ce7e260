// Issue 15, item 6, over HTTP on the local stack: a suppression import with good, bad and
// duplicate lines (an address already suppressed, an erased recipient, one repeated in the
// file), its exact progress and rejected-lines report, a campaign that leaves an imported address
// SUPPRESSED, a second start that imports nothing twice, the limits (413, too many lines), an
// export round trip with formula-safe cells (tenant B imports tenant A's export), and tenancy:
// another tenant's import and export ids are not found.
import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { TENANTS, uploadCsv, useEngine, waitFor, waitForStatus, type ApiClient } from '../support/harness';

const MAX_LINES = 40;
const MAX_BYTES = 64 * 1024;
const engine = useEngine({
  template: { subject: 'Hi {{ first_name }}', html: '<p>Hi {{ first_name }}</p>' },
  temporal: true,
  config: { SUPPRESSION_IMPORT_MAX_LINES: String(MAX_LINES), SUPPRESSION_IMPORT_MAX_BYTES: String(MAX_BYTES) },
});
const api = engine.api;
const apiB = engine.apiFor(TENANTS.b.apiKey);

const run = randomUUID().slice(0, 8);
const at = (name: string) => `${name}-${run}@example.org`;
const addresses = {
  bounce: at('bounce'),
  complaint: at('complaint'),
  plain: at('plain'),
  note: at('note'),
  formula: `=sum-${run}@example.org`,
  existing: at('existing'),
  erased: at('erased'),
};

type Import = Record<string, any>;

/** Creates an import, uploads `csv` through its presigned URL and starts it. */
async function startImport(client: ApiClient, csv: string): Promise<Import> {
  const created = await client.post('/api/v1/suppressions/imports', { file_name: 'list.csv' });
  expect(created.status).toBe(201);
  const { upload } = created.body;
  const put = await fetch(upload.upload_url, { method: 'PUT', headers: upload.headers, body: csv });
  expect(put.ok).toBe(true);
  const started = await client.post(created.body.start_url);
  expect(started.status).toBe(202);
  return started.body;
}

const waitForJob = (client: ApiClient, path: string, states: string[]) =>
  waitFor(
    `${path} in ${states.join('/')}`,
    async () => {
      const res = await client.get(path);
      return states.includes(res.body.state) ? res.body : undefined;
    },
    120_000,
  );

const download = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.text();
};

describe('suppression import', () => {
  let finished: Import;

  it('imports good lines, counts duplicates, reports bad lines, and keeps what was there', async () => {
    expect((await api.put(`/api/v1/suppressions/${addresses.existing}`, { reason: 'KEPT_REASON' })).status).toBe(200);
    const before = (await api.get(`/api/v1/suppressions/${addresses.existing}`)).body;
    expect((await api.delete(`/api/v1/recipients/${addresses.erased}`)).status).toBe(202);
    const csv = [
      'Email,Reason,list', // line 1: the header (names in any case; other columns ignored)
      `${addresses.bounce},hard bounce,x`, // 2: an alias of BOUNCE_PERMANENT
      `${addresses.complaint},COMPLAINT,x`, // 3
      `${addresses.plain},,x`, // 4: no reason: MANUAL
      `${addresses.note},left the company,x`, // 5: free text: MANUAL with the text as a note
      `'${addresses.formula},unsubscribe`, // 6: a formula-guarded cell, as an export writes it
      'not-an-address,MANUAL', // 7
      `${addresses.existing},COMPLAINT`, // 8: already suppressed: reason and date kept
      `${addresses.erased},MANUAL`, // 9: erased: stays suppressed by hash only
      `${addresses.plain.toUpperCase()},MANUAL`, // 10: repeated in the file
      `${at('long')},${'x'.repeat(201)}`, // 11: a reason past 200 characters
      '', // 12: blank lines are skipped
      `two@@${run}.example.org`, // 13
    ].join('\r\n');
    const started = await startImport(api, csv);
    expect(started.state).toMatch(/^(QUEUED|RUNNING|COMPLETED)$/);
    finished = await waitForJob(api, started.status_url, ['COMPLETED', 'FAILED']);
    expect(finished.state).toBe('COMPLETED');
    expect(finished.progress).toEqual({ lines_read: 11, imported: 5, duplicates: 3, rejected: 3 });
    expect(finished.error).toBeNull();

    const report = parse(await download(finished.rejected_report.url), { columns: true }) as Record<string, string>[];
    expect(finished.rejected_report.lines).toBe(3);
    expect(report.map((r) => [r.line, r.email, r.code])).toEqual([
      ['7', 'not-an-address', 'INVALID_EMAIL'],
      ['11', at('long'), 'REASON_TOO_LONG'],
      ['13', `two@@${run}.example.org`, 'INVALID_EMAIL'],
    ]);

    const reasonOf = async (email: string) => (await api.get(`/api/v1/suppressions/${encodeURIComponent(email)}`)).body;
    expect((await reasonOf(addresses.bounce)).reason).toBe('BOUNCE_PERMANENT');
    expect((await reasonOf(addresses.complaint)).reason).toBe('COMPLAINT');
    expect((await reasonOf(addresses.plain)).reason).toBe('MANUAL');
    expect(await reasonOf(addresses.note)).toMatchObject({
      reason: 'MANUAL',
      source: { type: 'import', line: 5, note: 'left the company' },
    });
    expect(await reasonOf(addresses.formula)).toMatchObject({ reason: 'UNSUBSCRIBED', source: { import_id: finished.import_id, line: 6 } });
    expect(await reasonOf(addresses.existing)).toEqual(before);
    // The erased recipient's address is not stored again; their hash keeps them suppressed.
    expect((await api.get(`/api/v1/suppressions/${addresses.erased}`)).status).toBe(404);
    const access = await api.get(`/api/v1/recipients/${addresses.erased}`);
    expect(access.body.erasure).not.toBeNull();
    // Tenant B's list is its own.
    expect((await apiB.get(`/api/v1/suppressions/${addresses.bounce}`)).status).toBe(404);
  }, 180_000);

  it('leaves an imported address SUPPRESSED in a later campaign', async () => {
    const other = at('recipient');
    const fileId = await uploadCsv(api, `email,first_name\n${addresses.bounce},Ada\n${other},Bob\n`);
    const started = await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId });
    expect(started.status).toBe(202);
    const id = started.body.transaction_id as string;
    const final = await waitForStatus(api, id, ['SENT', 'COMPLETED', 'FAILED'], 180_000);
    expect(final.counts).toMatchObject({ sent: 1, suppressed: 1 });
    const suppressed = await api.get(`/api/v1/campaigns/${id}/messages?status=SUPPRESSED`);
    expect(suppressed.body.items.map((m: { recipient_email: string }) => m.recipient_email)).toEqual([addresses.bounce]);
  }, 240_000);

  it('imports nothing twice when started again, and hides the import from another tenant', async () => {
    const again = await api.post(`${finished.status_url}/start`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ state: 'COMPLETED', progress: finished.progress, completed_at: finished.completed_at });
    const listing = engine.temporal.workflow.list({
      query: `WorkflowId = 'suppression-import-${TENANTS.a.tenantId}-${finished.import_id}'`,
    });
    const runs = [];
    for await (const workflow of listing) runs.push(workflow);
    expect(runs).toHaveLength(1);
    expect((await apiB.get(finished.status_url)).status).toBe(404);
    expect((await apiB.post(`${finished.status_url}/start`)).status).toBe(404);
    expect((await api.get('/api/v1/suppressions/imports/si_NOTANIMPORT')).status).toBe(404);
  });

  it('lets a suppressions:read key follow an import but not start one', async () => {
    const key = await api.post('/api/v1/api-keys', { name: `read ${run}`, scopes: ['suppressions:read'] });
    expect(key.status).toBe(201);
    const reader = engine.apiFor(key.body.secret as string);
    expect((await reader.get(finished.status_url)).body).toMatchObject({ import_id: finished.import_id, state: 'COMPLETED' });
    for (const res of [
      await reader.post(`${finished.status_url}/start`),
      await reader.post('/api/v1/suppressions/imports', {}),
      await reader.post('/api/v1/suppressions/exports', {}),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'FORBIDDEN', details: { scope: 'suppressions:write' } });
    }
  });

  it('refuses a start before the upload (409), a file past the size limit (413), and fails one with too many lines', async () => {
    const created = await api.post('/api/v1/suppressions/imports', {});
    expect((await api.post(created.body.start_url)).status).toBe(409);
    const big = `email\n${'a'.repeat(60)}@example.org\n`.repeat(Math.ceil(MAX_BYTES / 70) + 10);
    await fetch(created.body.upload.upload_url, { method: 'PUT', headers: created.body.upload.headers, body: big });
    const refused = await api.post(created.body.start_url);
    expect(refused.status).toBe(413);
    expect(refused.body.error).toMatchObject({ code: 'FILE_TOO_LARGE', details: { max_bytes: MAX_BYTES } });

    const lines = Array.from({ length: MAX_LINES + 1 }, (_, i) => at(`many${i}`));
    const started = await startImport(api, ['email', ...lines].join('\n'));
    const failed = await waitForJob(api, started.status_url, ['COMPLETED', 'FAILED']);
    expect(failed).toMatchObject({ state: 'FAILED', error: { code: 'TOO_MANY_LINES' }, progress: { lines_read: 0, imported: 0 } });
    expect((await api.get(`/api/v1/suppressions/${lines[0]}`)).status).toBe(404);
  }, 180_000);
});

describe('suppression export', () => {
  it('writes the list as formula-safe CSV that imports back, for its own tenant only', async () => {
    expect((await api.put(`/api/v1/suppressions/${at('hyperlink')}`, { reason: '=HYPERLINK("http://x.test")' })).status).toBe(200);
    const started = await api.post('/api/v1/suppressions/exports', {});
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ state: 'QUEUED', download: null });
    expect((await apiB.get(started.body.status_url)).status).toBe(404);
    const done = await waitForJob(api, started.body.status_url, ['COMPLETED', 'FAILED']);
    expect(done.state).toBe('COMPLETED');
    const text = await download(done.download.url);
    expect(text.startsWith('email,reason,created_at\r\n')).toBe(true);
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(done.rows);
    const byEmail = new Map(rows.map((r) => [r.email, r]));
    expect(byEmail.get(addresses.bounce)).toMatchObject({ reason: 'BOUNCE_PERMANENT' });
    expect(byEmail.get(addresses.existing)).toMatchObject({ reason: 'KEPT_REASON' });
    // Cells a spreadsheet would run as formulas are quoted as text.
    expect(byEmail.get(`'${addresses.formula}`)).toMatchObject({ reason: 'UNSUBSCRIBED' });
    expect(byEmail.get(at('hyperlink'))).toMatchObject({ reason: `'=HYPERLINK("http://x.test")` });
    expect(text).not.toContain(addresses.erased);

    // The round trip: tenant B imports this file's lines of A's export, byte for byte (the
    // other test files' addresses stay out of B's list); the guarded cells come back as they were.
    const lines = text.split('\r\n');
    const ours = [lines[0], ...lines.slice(1).filter((line) => line.includes(run))];
    expect(ours).toHaveLength(8);
    const imported = await startImport(apiB, ours.join('\r\n'));
    const finished = await waitForJob(apiB, imported.status_url, ['COMPLETED', 'FAILED']);
    expect(finished).toMatchObject({ state: 'COMPLETED', progress: { lines_read: 7, imported: 7, rejected: 0 } });
    expect((await apiB.get(`/api/v1/suppressions/${encodeURIComponent(addresses.formula)}`)).body.reason).toBe('UNSUBSCRIBED');
    expect((await apiB.get(`/api/v1/suppressions/${at('hyperlink')}`)).body).toMatchObject({
      reason: 'MANUAL',
      source: { note: '=HYPERLINK("http://x.test")' },
    });

    // B's own export holds B's list, never A's ids.
    const exportB = await apiB.post('/api/v1/suppressions/exports', {});
    expect((await api.get(exportB.body.status_url)).status).toBe(404);
  }, 240_000);
});
