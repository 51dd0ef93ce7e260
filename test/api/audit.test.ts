// The audit log over HTTP with the real engine (worker, API, DynamoDB Local): a campaign's life
// (template, confirm, file, campaign, pause, resume, cancel) leaves its entries in order, with
// actions, targets, outcomes and principal; refusals are on record; only admin reads the log;
// its filters and cursor work; request ids are taken or made and returned; entries are written
// once and never overwritten; and a failed audit write never fails the request but is logged in
// full and counted in audit_write_failures_total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AuditTrail } from '../../api/audit';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { appendAudit, AuditTable } from '../../src/adapters/dynamo/audit';
import type { AuditEntry } from '../../src/adapters/dynamo/types';
import { createLogger } from '../../src/logging';
import { uid } from '../integration/fixtures';
import { testConfig, TENANTS, useEngine, waitForStatus, apiClient } from '../support/harness';
import { seedOwnTenant, serveApp } from './in-process';

const engine = useEngine();
const domain = `audit-${uid()}.example`;
let tenant: Awaited<ReturnType<typeof seedOwnTenant>>;
let seededKeyId: string;

beforeAll(async () => {
  tenant = await seedOwnTenant(engine.config, 'audit', [domain]);
  seededKeyId = (await call('GET', '/api/v1/api-keys')).body.items[0].key_id;
});

async function call(method: string, path: string, opts: { body?: unknown; key?: string; requestId?: string } = {}) {
  const res = await fetch(`${engine.url}${path}`, {
    method,
    headers: {
      'x-api-key': opts.key ?? tenant.apiKey,
      ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, requestId: res.headers.get('x-request-id'), body: (text ? JSON.parse(text) : {}) as any };
}

const upload = async (created: { upload_url: string; headers: Record<string, string> }, body: string) => {
  const put = await fetch(created.upload_url, { method: 'PUT', headers: created.headers, body });
  expect(put.ok).toBe(true);
};

/** Every entry of the tenant's log matching `query`, newest first, following the cursor. */
async function allEntries(query: string, limit = 1000): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const res = await call('GET', `/api/v1/audit?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

describe('audit log', () => {
  let life: { from: string; templateId: string; fileId: string; transactionId: string; requestIds: string[] };

  beforeAll(async () => {
    const from = new Date().toISOString();
    const requestIds = Array.from({ length: 7 }, (_, i) => `life-${i}-${uid()}`);
    const template = await call('POST', '/api/v1/templates/presigned-url', {
      body: { name: 'audited', subject: 'Hello {{ name }}', from: `news@${domain}` },
      requestId: requestIds[0],
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    await upload(template.body, '<p>Hello {{ name }}</p>');
    expect((await call('POST', `/api/v1/templates/${template.body.template_id}/confirm`, { requestId: requestIds[1] })).status).toBe(200);
    const file = await call('POST', '/api/v1/files/presigned-url', {
      body: { file_name: 'r.csv', content_type: 'text/csv' },
      requestId: requestIds[2],
    });
    await upload(file.body, ['email,name', ...Array.from({ length: 20 }, (_, i) => `r${i}-${uid()}@example.com,N${i}`)].join('\n'));
    // One message a minute: still sending while it is paused, resumed and cancelled.
    const campaign = await call('POST', '/api/v1/campaigns', {
      body: { template_id: template.body.template_id, file_id: file.body.file_id, throttle: { emails_per_minute: 1 } },
      requestId: requestIds[3],
    });
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(202);
    const id = campaign.body.transaction_id as string;
    await waitForStatus(apiClient(engine.url, tenant.apiKey), id, ['READY_TO_SEND']);
    for (const [i, control] of [
      [4, 'pause'],
      [5, 'resume'],
      [6, 'cancel'],
    ] as const) {
      const res = await call('POST', `/api/v1/campaigns/${id}/${control}`, { requestId: requestIds[i] });
      expect(res.status, `${control}: ${JSON.stringify(res.body)}`).toBe(202);
      expect(res.requestId).toBe(requestIds[i]);
    }
    life = { from, templateId: template.body.template_id, fileId: file.body.file_id, transactionId: id, requestIds };
  });

  it("records a campaign's life in order: actions, targets, outcomes, principal and request ids", async () => {
    const entries = (await allEntries(`from=${encodeURIComponent(life.from)}`)).reverse();
    const mine = entries.filter((e) => life.requestIds.includes(e.request_id));
    expect(mine.map((e) => [e.action, e.target, e.outcome, e.request_id])).toEqual([
      ['templates.create', life.templateId, 201, life.requestIds[0]],
      ['templates.confirm', life.templateId, 200, life.requestIds[1]],
      ['files.create', life.fileId, 201, life.requestIds[2]],
      ['campaigns.create', life.transactionId, 202, life.requestIds[3]],
      ['campaigns.pause', life.transactionId, 202, life.requestIds[4]],
      ['campaigns.resume', life.transactionId, 202, life.requestIds[5]],
      ['campaigns.cancel', life.transactionId, 202, life.requestIds[6]],
    ]);
    for (const entry of mine) {
      expect(entry).toMatchObject({ tenant_id: tenant.tenantId, principal: { type: 'api_key', id: seededKeyId }, key_id: seededKeyId });
      expect(entry.route).toMatch(/^\/api\/v1\//);
      expect(entry.action).not.toContain(life.transactionId);
    }
    expect(mine.find((e) => e.action === 'campaigns.pause')).toMatchObject({ method: 'POST', route: '/api/v1/campaigns/:id/pause' });
    // Reads are not state changes: the status polls and this listing left nothing.
    expect(entries.some((e) => e.method === 'GET')).toBe(false);
    // Newest first, as listed.
    const listed = await allEntries(`from=${encodeURIComponent(life.from)}`);
    expect(listed.map((e) => e.at)).toEqual([...listed.map((e) => e.at)].sort().reverse());
  });

  it('filters by action and time, and pages with an opaque cursor: every entry once, newest first', async () => {
    const paused = await allEntries('action=campaigns.pause');
    expect(paused.map((e) => e.target)).toEqual([life.transactionId]);
    const all = await allEntries(`from=${encodeURIComponent(life.from)}`);
    const paged = await allEntries(`from=${encodeURIComponent(life.from)}`, 2);
    expect(paged.map((e) => e.audit_id)).toEqual(all.map((e) => e.audit_id));
    const first = (await call('GET', `/api/v1/audit?from=${encodeURIComponent(life.from)}&limit=2`)).body;
    expect(first.items).toHaveLength(2);
    expect(first.next_cursor).toEqual(expect.any(String));

    // A window: from the confirm (inclusive) to the campaign (exclusive).
    const byAction = (action: string) => all.find((e) => e.action === action)!;
    const window = await allEntries(
      `from=${encodeURIComponent(byAction('templates.confirm').at)}&to=${encodeURIComponent(byAction('campaigns.create').at)}`,
    );
    expect(window.map((e) => e.action).reverse()).toEqual(['templates.confirm', 'files.create']);
    expect(await allEntries(`to=${encodeURIComponent(life.from)}&action=campaigns.cancel`)).toEqual([]);
  });

  it('refuses bad filters and cursors, and another tenant cannot read or continue this log', async () => {
    for (const query of [
      'from=yesterday',
      'action=Campaigns%20Pause',
      'action=campaigns',
      `from=${encodeURIComponent(new Date().toISOString())}&to=2000-01-01T00:00:00Z`,
      'limit=0',
    ]) {
      const res = await call('GET', `/api/v1/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    const cursor = (await call('GET', `/api/v1/audit?from=${encodeURIComponent(life.from)}&limit=1`)).body.next_cursor as string;
    const theirs = await call('GET', `/api/v1/audit?limit=1&cursor=${encodeURIComponent(cursor)}`, { key: TENANTS.b.apiKey });
    expect(theirs.status).toBe(400);
    expect(theirs.body.error.code).toBe('INVALID_CURSOR');
    const theirLog = await call('GET', '/api/v1/audit?action=campaigns.create', { key: TENANTS.b.apiKey });
    expect(theirLog.body.items.map((e: AuditEntry) => e.target)).not.toContain(life.transactionId);
  });

  it('answers 403 to a key without admin, and records its refused change as access.denied', async () => {
    const created = await call('POST', '/api/v1/api-keys', { body: { name: 'reader', scopes: ['campaigns:read'] } });
    expect(created.status).toBe(201);
    const reader = created.body.secret as string;
    const read = await call('GET', '/api/v1/audit', { key: reader });
    expect(read.status).toBe(403);
    expect(read.body.error).toMatchObject({ code: 'FORBIDDEN', details: { scope: 'admin' } });
    const denied = await call('POST', `/api/v1/campaigns/${life.transactionId}/pause`, { key: reader, requestId: `denied-${uid()}` });
    expect(denied.status).toBe(403);
    const [entry] = (await allEntries('action=access.denied')).filter((e) => e.request_id === denied.requestId);
    expect(entry).toMatchObject({
      principal: { type: 'api_key', id: created.body.key_id },
      outcome: 403,
      route: null,
      details: { required_scope: 'campaigns:write', area: '/api/v1/campaigns' },
    });
    // The key's own creation is on record, its target the new key and never the secret.
    const creation = (await allEntries('action=api-keys.create')).find((e) => e.target === created.body.key_id);
    expect(creation).toMatchObject({ outcome: 201, principal: { id: seededKeyId } });
    expect(JSON.stringify(await allEntries('action=api-keys.create'))).not.toContain(reader);
  });

  it('takes a plain X-Request-Id, makes one for anything else, returns it, and keeps addresses only hashed', async () => {
    const given = await call('PUT', `/api/v1/suppressions/Audit.Person-${uid()}@Example.com`, {
      body: { reason: 'TEST' },
      requestId: 'client-req-1:a.b_c',
    });
    expect(given.requestId).toBe('client-req-1:a.b_c');
    const weird = await call('DELETE', '/api/v1/suppressions/nobody@example.com', { requestId: 'has spaces and <html>' });
    expect(weird.status).toBe(404);
    expect(weird.requestId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const entries = await allEntries('from=' + encodeURIComponent(new Date(Date.now() - 60_000).toISOString()));
    const put = entries.find((e) => e.request_id === 'client-req-1:a.b_c')!;
    expect(put).toMatchObject({ action: 'suppressions.put', outcome: 200, target: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(entries.find((e) => e.request_id === weird.requestId)).toMatchObject({ action: 'suppressions.delete', outcome: 404 });
    expect(JSON.stringify(entries)).not.toMatch(/@example\.com/i);
    // Unauthenticated requests have no tenant to be filed under, and get a request id all the same.
    const anonymous = await fetch(`${engine.url}/api/v1/campaigns`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('x-request-id')).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('appends operator and system actions through appendAudit, each entry written once', async () => {
    const aws = createAwsClients(engine.config);
    try {
      const table = new AuditTable(aws.doc, engine.config.DYNAMODB_TABLE);
      const entry = await appendAudit(table, {
        tenant_id: tenant.tenantId,
        principal: { type: 'system', id: 'reputation-guard' },
        action: 'campaigns.pause',
        target: life.transactionId,
        outcome: 200,
        details: { bounce_rate: 0.12 },
      });
      const listed = (await allEntries('action=campaigns.pause')).find((e) => e.audit_id === entry.audit_id);
      expect(listed).toMatchObject({ principal: { type: 'system', id: 'reputation-guard' }, request_id: entry.audit_id });
      // Append-only: the same key cannot be written twice.
      await expect(table.appendAuditEntry({ ...entry, action: 'campaigns.resume' })).rejects.toThrow(/conditional/i);
      expect((await allEntries('action=campaigns.pause')).find((e) => e.audit_id === entry.audit_id)?.action).toBe('campaigns.pause');
      await expect(appendAudit(table, { ...entry, action: `campaigns.pause.${life.transactionId}` })).rejects.toThrow(/area\.verb/);
    } finally {
      destroyAwsClients(aws);
    }
  });
});

describe('a failed audit write', () => {
  const lines: string[] = [];
  let served: Awaited<ReturnType<typeof serveApp>>;
  let aws: ReturnType<typeof createAwsClients>;
  let registry: Registry;

  beforeAll(async () => {
    const config = testConfig();
    aws = createAwsClients(config);
    registry = new Registry();
    const log = createLogger({ component: 'api' }, 'error', (line) => lines.push(line));
    // The real DynamoDB Local, asked to write to a table that does not exist.
    served = await serveApp(config, (deps) => {
      deps.auditTrail = new AuditTrail(new AuditTable(aws.doc, `missing-${uid()}`), log, registry);
    });
  });
  afterAll(async () => {
    await served?.close();
    destroyAwsClients(aws);
  });

  it('never fails the request, and is logged in full and counted in audit_write_failures_total', async () => {
    const res = await fetch(`${served.url}/api/v1/files/presigned-url`, {
      method: 'POST',
      headers: { 'x-api-key': TENANTS.a.apiKey, 'content-type': 'application/json', 'x-request-id': 'lost-entry-1' },
      body: JSON.stringify({ file_name: 'r.csv', content_type: 'text/csv' }),
    });
    expect(res.status).toBe(201);
    const fileId = ((await res.json()) as { file_id: string }).file_id;
    const metric = await registry.getSingleMetric('audit_write_failures_total')!.get();
    expect(metric.values[0]!.value).toBe(1);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'audit entry not written');
    expect(logged).toMatchObject({
      level: 'error',
      audit_entry: { action: 'files.create', target: fileId, request_id: 'lost-entry-1', outcome: 201 },
    });
  });
});
