// Issue 15, item 5, end to end over HTTP on the local stack: a small campaign (over several
// batches, with delivered, clicked, bounced, complained and suppressed recipients, and addresses
// a spreadsheet would run as formulas) is sent through the engine with SES events flowing, then
// exported; the download is parsed: every message once, the right columns, formula cells
// guarded. Around it: another tenant's campaign and export are 404s, a campaign still ingesting
// is a 409, an Idempotency-Key's repeat is the same export, the per-campaign cap holds while an
// export runs (the workers stopped) and frees once it has ended, and scopes.
import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createAwsClients } from '../../src/adapters/aws';
import { createTables } from '../../src/adapters/dynamo/tables';
import { ObjectStore, s3Keys } from '../../src/adapters/s3';
import { EXPORT_COLUMNS, exportWorkflowId } from '../../src/domain/campaign-export';
import { WORKFLOW_INPUT_VERSION } from '../../src/contracts';
import { ERASED_ADDRESS } from '../../src/domain/erasure';
import { apiClient, TENANTS, uploadCsv, useEngine, waitFor, waitForStatus, type ApiClient } from '../support/harness';

const engine = useEngine({
  events: 'connect',
  temporal: true,
  template: { subject: 'Hi {{ first_name }}', html: '<p>Hello {{ first_name }}</p>' },
  config: {
    BATCH_SIZE: '3',
    EXPORT_MAX_RUNNING_PER_CAMPAIGN: '1',
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
    // Erasures of this file do not wait long for campaigns other files left ingesting, nor for young pinned files.
    ERASURE_POLL_SECONDS: '1',
    ERASURE_SETTLE_SECONDS: '1',
    ERASURE_MAX_WAIT_SECONDS: '15',
    RETENTION_SWEEP_INTERVAL_SECONDS: '0',
  },
});
const api = engine.api;
const apiB = engine.apiFor(TENANTS.b.apiKey);

const run = randomUUID().slice(0, 8);
const sim = (box: string) => `${box}+exp-${run}@simulator.amazonses.com`;
const recipients = {
  clicked: sim('success+click'),
  delivered: sim('success'),
  bounced: sim('bounce'),
  complained: sim('complaint'),
  suppressed: `suppressed-exp-${run}@example.com`,
  formulaEq: `=1+2-exp-${run}@example.com`,
  formulaPlus: `+cmd-exp-${run}@example.com`,
  formulaMinus: `-2-exp-${run}@example.com`,
};
const csv = `email,first_name\n${Object.values(recipients)
  .map((email, i) => `${email},Name${i}`)
  .join('\n')}\nnot-an-address,Nobody\n`;

const exportsOf = (id: string) => `/api/v1/campaigns/${id}/exports`;

async function waitForExport(client: ApiClient, id: string, exportId: string) {
  return waitFor(
    `export ${exportId} to end`,
    async () => {
      const res = await client.get(`${exportsOf(id)}/${exportId}`);
      expect(res.status).toBe(200);
      return res.body.state === 'RUNNING' ? undefined : res.body;
    },
    90_000,
  );
}

let campaignId = '';

describe('campaign exports over HTTP', () => {
  it('exports every message of a sent campaign once, with its events, as formula-safe RFC 4180 CSV', { timeout: 300_000 }, async () => {
    expect((await api.put(`/api/v1/suppressions/${encodeURIComponent(recipients.suppressed)}`, { reason: 'MANUAL' })).status).toBe(200);
    const fileId = await uploadCsv(api, csv);
    const started = await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId });
    expect(started.status).toBe(202);
    campaignId = started.body.transaction_id as string;
    const status = await waitForStatus(api, campaignId, ['COMPLETED', 'FAILED'], 200_000);
    expect(status.status).toBe('COMPLETED');

    const first = await api.post(exportsOf(campaignId), {}, { 'Idempotency-Key': `exp-${run}` });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ transaction_id: campaignId, state: 'RUNNING', download_url: null });
    const repeat = await api.post(exportsOf(campaignId), {}, { 'Idempotency-Key': `exp-${run}` });
    expect(repeat.status).toBe(200);
    expect(repeat.body.export_id).toBe(first.body.export_id);

    const done = await waitForExport(api, campaignId, first.body.export_id as string);
    expect(done).toMatchObject({ state: 'COMPLETED', rows_written: 8, error: null, campaign: { status: 'COMPLETED' } });
    expect(Date.parse(done.download_expires_at as string)).toBeGreaterThan(Date.now());
    const download = await fetch(done.download_url as string);
    expect(download.status).toBe(200);
    const text = await download.text();
    expect(Buffer.byteLength(text)).toBe(done.bytes_written);
    // Valid EXPORT_URL_TTL_SECONDS; a later GET signs another link (SigV4 dates are to the second).
    expect(new URL(done.download_url as string).searchParams.get('X-Amz-Expires')).toBe(String(engine.config.EXPORT_URL_TTL_SECONDS));
    await new Promise((r) => setTimeout(r, 1100));
    const again = await api.get(`${exportsOf(campaignId)}/${first.body.export_id}`);
    expect(again.body.download_url).not.toBe(done.download_url);
    expect(await (await fetch(again.body.download_url as string)).text()).toBe(text);

    const [header, ...rows] = parse(text) as string[][];
    expect(header).toEqual([...EXPORT_COLUMNS]);
    const records = rows.map((r) => Object.fromEntries(EXPORT_COLUMNS.map((c, i) => [c, r[i]!])));
    // Every message once: the same ids the messages listing has, over all three batches.
    const listed = await api.get(`/api/v1/campaigns/${campaignId}/messages?limit=100`);
    const listedIds = (listed.body.items as { message_id: string }[]).map((m) => m.message_id);
    expect(records.map((r) => r.message_id!).sort()).toEqual([...listedIds].sort());
    expect(new Set(records.map((r) => r.message_id!.split('-')[0])).size).toBe(3);
    const byEmail = new Map(records.map((r) => [r.email, r]));
    expect(records).toHaveLength(8);

    const clicked = byEmail.get(recipients.clicked)!;
    expect(clicked.status).toBe('CLICKED');
    for (const time of ['sent_time', 'delivered_time', 'opened_time', 'clicked_time'] as const)
      expect(Date.parse(clicked[time]!)).not.toBeNaN();
    expect(byEmail.get(recipients.delivered)).toMatchObject({ status: 'DELIVERED', bounced_time: '', failure_code: '' });
    expect(byEmail.get(recipients.bounced)).toMatchObject({ status: 'BOUNCED', bounce_type: 'Permanent', bounce_subtype: 'General' });
    expect(Date.parse(byEmail.get(recipients.bounced)!.bounced_time!)).not.toBeNaN();
    expect(byEmail.get(recipients.complained)!.status).toBe('COMPLAINED');
    expect(Date.parse(byEmail.get(recipients.complained)!.complained_time!)).not.toBeNaN();
    expect(byEmail.get(recipients.suppressed)).toMatchObject({ status: 'SUPPRESSED', sent_time: '' });
    // Addresses a spreadsheet would run come back as text: a leading quote, the address after it.
    for (const address of [recipients.formulaEq, recipients.formulaPlus, recipients.formulaMinus]) {
      expect(byEmail.get(`'${address}`)?.status).toBe('DELIVERED');
      expect(byEmail.has(address)).toBe(false);
    }
    expect(text.split('\r\n').filter((line) => /^[=+\-@\t\r]|,[=+\-@\t\r]/.test(line))).toEqual([]);
  });

  it(
    'after an erasure, the person is cut from earlier exports and a new export shows the erased marker',
    { timeout: 180_000 },
    async () => {
      const before = (await api.post(exportsOf(campaignId), {})).body.export_id as string;
      await waitForExport(api, campaignId, before);
      const receipt = await api.delete(`/api/v1/recipients/${encodeURIComponent(recipients.delivered)}`);
      expect(receipt.status).toBe(202);
      await waitFor(
        'the erasure',
        async () => ((await api.get(receipt.body.status_url as string)).body.status === 'COMPLETED' ? true : undefined),
        120_000,
      );
      const download = async (exportId: string) => {
        const view = (await api.get(`${exportsOf(campaignId)}/${exportId}`)).body;
        return (parse(await (await fetch(view.download_url as string)).text()) as string[][]).slice(1);
      };
      const earlier = await download(before);
      expect(earlier).toHaveLength(7);
      expect(JSON.stringify(earlier)).not.toContain(recipients.delivered);
      const after = (await api.post(exportsOf(campaignId), {})).body.export_id as string;
      await waitForExport(api, campaignId, after);
      const rows = await download(after);
      expect(rows).toHaveLength(8);
      expect(rows.filter((r) => r[EXPORT_COLUMNS.indexOf('email')] === ERASED_ADDRESS)).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(recipients.delivered);
    },
  );

  it("answers 404 for another tenant's campaign and export, and for an unknown export", { timeout: 60_000 }, async () => {
    expect(campaignId).not.toBe('');
    const exportId = (await api.post(exportsOf(campaignId), {})).body.export_id as string;
    await waitForExport(api, campaignId, exportId);
    for (const res of [await apiB.post(exportsOf(campaignId), {}), await apiB.get(`${exportsOf(campaignId)}/${exportId}`)]) {
      expect(res.status).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain(exportId);
    }
    expect((await api.get(`${exportsOf(campaignId)}/exp_nothing_here`)).status).toBe(404);
    expect((await api.get(`/api/v1/transactions/${campaignId}/exports/${exportId}`)).body.export_id).toBe(exportId);
    expect((await api.post(exportsOf(campaignId), { columns: ['email'] })).status).toBe(400);
  });

  it('gives no link to an export whose file the retention sweep has deleted', { timeout: 60_000 }, async () => {
    const exportId = (await api.post(exportsOf(campaignId), {})).body.export_id as string;
    await waitForExport(api, campaignId, exportId);
    const aws = createAwsClients(engine.config);
    try {
      // What the sweep does to an export older than the tenant's upload retention.
      await new ObjectStore(aws.s3, engine.config.S3_BUCKET).delete(s3Keys.campaignExport(TENANTS.a.tenantId, campaignId, exportId));
    } finally {
      aws.s3.destroy();
    }
    expect((await api.get(`${exportsOf(campaignId)}/${exportId}`)).body).toMatchObject({
      state: 'COMPLETED',
      download_url: null,
      error: { code: 'EXPORT_DELETED' },
    });
  });

  it('ends an export FAILED, its slot freed, when its activity cannot succeed', { timeout: 60_000 }, async () => {
    // An export recorded for a campaign record that is not there (as after the campaign's record
    // was deleted): the activity fails without retrying, the workflow records FAILED.
    const aws = createAwsClients(engine.config);
    const { exports } = createTables(aws.doc, engine.config.DYNAMODB_TABLE);
    try {
      const ref = { tenantId: TENANTS.a.tenantId, transactionId: `txn-gone-${run}`, exportId: `exp_gone_${run}` };
      const record = (exportId: string) => ({
        export_id: exportId,
        tenant_id: ref.tenantId,
        transaction_id: ref.transactionId,
        s3_key: s3Keys.campaignExport(ref.tenantId, ref.transactionId, exportId),
        created_at: new Date().toISOString(),
      });
      const lease = () => new Date(Date.now() + 60_000).toISOString();
      expect((await exports.createExport(record(ref.exportId), 1, lease())).outcome).toBe('created');
      const handle = await engine.temporal.workflow.start('campaignExportWorkflow', {
        workflowId: exportWorkflowId(ref.transactionId, ref.exportId),
        taskQueue: engine.config.TEMPORAL_TASK_QUEUE,
        args: [{ version: WORKFLOW_INPUT_VERSION, ...ref }],
      });
      await expect(handle.result()).rejects.toThrow();
      expect(await exports.getExport(ref.tenantId, ref.transactionId, ref.exportId)).toMatchObject({
        state: 'FAILED',
        error: { code: 'EXPORT_FAILED' },
      });
      // The slot is free again: another export of the same campaign takes it.
      expect((await exports.createExport(record(`exp_next_${run}`), 1, lease())).outcome).toBe('created');
    } finally {
      aws.doc.destroy();
    }
  });

  it('refuses a campaign still ingesting with 409', async () => {
    // A campaign as the API records it before its workflow has ingested anything (ACCEPT).
    const aws = createAwsClients(engine.config);
    try {
      const txn = await createTables(aws.doc, engine.config.DYNAMODB_TABLE).store.createTransaction({
        transaction_id: `txn-exp-${run}`,
        tenant_id: TENANTS.a.tenantId,
        template_id: engine.templateId,
        file_id: 'file-none',
      });
      const res = await api.post(exportsOf(txn.transaction_id), {});
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'CAMPAIGN_NOT_INGESTED', details: { status: 'ACCEPT' } });
    } finally {
      aws.doc.destroy();
    }
  });

  it('holds the per-campaign cap while an export runs, and frees it once the export has ended', { timeout: 180_000 }, async () => {
    let runningId = '';
    // With no worker, an export stays RUNNING: the cap (1 here) refuses the next one.
    await engine.restartWorkers(async () => {
      const first = await api.post(exportsOf(campaignId), {});
      expect(first.status).toBe(202);
      runningId = first.body.export_id as string;
      const second = await api.post(exportsOf(campaignId), {});
      expect(second.status).toBe(409);
      expect(second.body.error).toMatchObject({ code: 'EXPORTS_RUNNING', details: { limit: 1 } });
      expect((await api.get(`${exportsOf(campaignId)}/${runningId}`)).body).toMatchObject({ state: 'RUNNING', rows_written: 0 });
    });
    expect(await waitForExport(api, campaignId, runningId)).toMatchObject({ state: 'COMPLETED', rows_written: 8 });
    const next = await api.post(exportsOf(campaignId), {});
    expect(next.status).toBe(202);
    await waitForExport(api, campaignId, next.body.export_id as string);
  });

  it('lets a campaigns:read key export and refuses a key without it', { timeout: 60_000 }, async () => {
    const keyWith = async (scopes: string[]) => {
      const res = await api.post('/api/v1/api-keys', { name: `export ${run} ${scopes.join(' ')}`, scopes });
      expect(res.status).toBe(201);
      return { id: res.body.key_id as string, client: apiClient(engine.url, res.body.secret as string) };
    };
    const reader = await keyWith(['campaigns:read']);
    const other = await keyWith(['templates:read']);
    try {
      const started = await reader.client.post(exportsOf(campaignId), {});
      expect(started.status).toBe(202);
      await waitForExport(reader.client, campaignId, started.body.export_id as string);
      const refused = await other.client.post(exportsOf(campaignId), {});
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', details: { scope: 'campaigns:read' } });
    } finally {
      for (const key of [reader, other]) await api.delete(`/api/v1/api-keys/${key.id}`);
    }
  });
});
