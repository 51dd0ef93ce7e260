// The HTTP routes in process: the app from createApp(deps), with the deps the API process
// builds (buildApiDeps: the shared stack's DynamoDB Local, s3rver, SES emulator and Temporal dev
// server), served on an ephemeral port of this process, with no worker. Records are made
// through the real stores and the real ingest activity. What is checked is the routes' own
// logic: pagination cursors, tenancy, Idempotency-Key replays and conflicts, validation, what
// messages show for their campaign's status, control without a workflow, health and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiDeps } from '../../api/deps';
import { MAX_QUERIES_PER_LISTING } from '../../api/routes/campaigns';
import { transactionWorkflowId } from '../../src/contracts';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { seedTenant } from '../../src/local/dev-tenant';
import { freePort } from '../../src/local/ports';
import { serveApp } from './in-process';
import { apiClient, startApi, testConfig, type ApiClient, type ApiResponse } from '../support/harness';
import { campaign, createFile, createTemplate, runActivity, setupDeps, TENANTS, uid } from '../integration/fixtures';

// The stores and activities, for records the routes then read.
const data = setupDeps();
// A tenant of this file only: its lists hold exactly what the tests put there.
const tenant = { tenantId: `routes-${uid()}`, apiKey: `routes-key-${uid()}`, webhookSecret: generateWebhookSecret() };
let served: Awaited<ReturnType<typeof serveApp>>;
let deps: ApiDeps;
let api: ApiClient; // tenant a
let mine: ApiClient; // this file's tenant
const started: string[] = []; // transactions whose (worker-less) workflow a test started

beforeAll(async () => {
  await seedTenant(data.deps.store, tenant);
  served = await serveApp(testConfig());
  deps = served.deps;
  api = apiClient(served.url, TENANTS.a.apiKey);
  mine = apiClient(served.url, tenant.apiKey);
});
afterAll(async () => {
  // No worker ever polls their task queue: end them rather than leave them running.
  for (const id of started)
    await deps.temporal.workflow
      .getHandle(transactionWorkflowId(id))
      .terminate('route test done')
      .catch(() => undefined);
  await served?.close();
  data.close();
});

const expectError = (res: ApiResponse<any>, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
};

/** Every page of a listing, following next_cursor to its end. */
async function allPages(client: ApiClient, path: string, limit: number) {
  const pages: any[][] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res: ApiResponse<any> = await client.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body.items);
    cursor = res.body.next_cursor;
    expect(pages.length).toBeLessThan(50);
  } while (cursor);
  return pages;
}

/** A campaign of tenant a ingested by the real activity: 12 valid rows in batches of 5, 5, 2 and 3 rejected rows. */
async function ingested() {
  const id = uid();
  const rows = Array.from({ length: 12 }, (_, i) => `r${i}-${id}@example.com,N${i}`);
  rows.splice(3, 0, 'not-an-email,X');
  rows.splice(7, 0, 'also@bad,Y');
  rows.push('@nope.com,Z');
  const { txn, input } = await campaign(data.deps, ['email,name', ...rows].join('\n'));
  const { result } = await runActivity(data.activities.ingestRecipients, [input]);
  expect(result).toMatchObject({ totalMessages: 12, batchCount: 3, valid: 12, invalid: 3 });
  return { id: txn.transaction_id, emails: rows.filter((r) => r.startsWith('r')).map((r) => r.split(',')[0]) };
}

describe('pagination', () => {
  it('pages messages across batch boundaries: each once, in row order, pages within the limit, a null cursor at the end', async () => {
    const { id, emails } = await ingested();
    for (const limit of [1, 4, 5, 1000]) {
      const pages = await allPages(api, `/api/v1/campaigns/${id}/messages`, limit);
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
      expect(pages.flat().map((m) => m.recipient_email)).toEqual(emails);
    }
    const first = await api.get(`/api/v1/campaigns/${id}/messages?limit=4`);
    expect(first.body.items.map((m: any) => m.batch_id)).toEqual(['b00001', 'b00001', 'b00001', 'b00001']);
    expect(first.body.next_cursor).toEqual(expect.any(String));
  });

  it('pages rejected rows and suppressions with their cursors', async () => {
    const { id } = await ingested();
    const errors = await allPages(api, `/api/v1/campaigns/${id}/errors`, 1);
    expect(errors.flat().map((e) => e.code)).toEqual(['INVALID_EMAIL', 'INVALID_EMAIL', 'INVALID_EMAIL']);
    expect((await api.get(`/api/v1/campaigns/${id}/errors`)).body).toMatchObject({ total_invalid: 3, next_cursor: null });

    const emails = Array.from({ length: 5 }, (_, i) => `s${i}-${uid()}@example.com`);
    for (const email of emails) expect((await mine.put(`/api/v1/suppressions/${email}`, { reason: 'TEST' })).status).toBe(200);
    const pages = await allPages(mine, '/api/v1/suppressions', 2);
    expect(
      pages
        .flat()
        .map((s) => s.email)
        .sort(),
    ).toEqual([...emails].sort());
    expect(pages.length).toBeGreaterThanOrEqual(3);
  });

  it("refuses a genuine cursor from another campaign or another tenant's list", async () => {
    const [one, two] = [await ingested(), await ingested()];
    const cursor = (await api.get(`/api/v1/campaigns/${one.id}/messages?limit=2`)).body.next_cursor as string;
    expect((await api.get(`/api/v1/campaigns/${one.id}/messages?limit=2&cursor=${cursor}`)).status).toBe(200);
    expectError(await api.get(`/api/v1/campaigns/${two.id}/messages?limit=2&cursor=${cursor}`), 400, 'INVALID_CURSOR');
    const errorCursor = (await api.get(`/api/v1/campaigns/${one.id}/errors?limit=1`)).body.next_cursor as string;
    expectError(await api.get(`/api/v1/campaigns/${two.id}/errors?limit=1&cursor=${errorCursor}`), 400, 'INVALID_CURSOR');
    await mine.put(`/api/v1/suppressions/c1-${uid()}@example.com`);
    await mine.put(`/api/v1/suppressions/c2-${uid()}@example.com`);
    const theirs = (await mine.get('/api/v1/suppressions?limit=1')).body.next_cursor as string;
    expectError(await api.get(`/api/v1/suppressions?limit=1&cursor=${theirs}`), 400, 'INVALID_CURSOR');
  });
});

describe('tenancy', () => {
  it("answers 404 for another tenant's ids, control routes included, before anything reaches Temporal", async () => {
    const { id } = await ingested();
    const messageId = (await api.get(`/api/v1/campaigns/${id}/messages?limit=1`)).body.items[0].message_id as string;
    const templateId = await createTemplate(data.deps, { subject: 'Hi', html: '<p>Hi</p>' });
    // No workflow runs for this campaign: were tenancy checked after Temporal, control would be a 409.
    for (const [method, path] of [
      ['get', `/api/v1/campaigns/${id}/status`],
      ['get', `/api/v1/campaigns/${id}/messages`],
      ['get', `/api/v1/campaigns/${id}/messages/${messageId}`],
      ['get', `/api/v1/campaigns/${id}/errors`],
      ['get', `/api/v1/transactions/${id}/status`],
      ['post', `/api/v1/campaigns/${id}/cancel`],
      ['post', `/api/v1/campaigns/${id}/pause`],
      ['patch', `/api/v1/campaigns/${id}/schedule`],
      ['get', `/api/v1/templates/${templateId}`],
      ['post', `/api/v1/templates/${templateId}/confirm`],
    ] as const) {
      const res =
        method === 'patch' ? await mine.patch(path, { send_at: new Date(Date.now() + 60_000).toISOString() }) : await mine[method](path);
      expectError(res, 404, 'NOT_FOUND');
    }
    expect((await api.get(`/api/v1/campaigns/${id}/messages/${messageId}`)).status).toBe(200);
    expect((await api.get(`/api/v1/campaigns/${id}/status`)).body.status).toBe('ACCEPT');
  });

  it('control of a campaign whose workflow is not running is a 409; a bad body is a 400 first', async () => {
    const { id } = await ingested();
    for (const status of ['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED'] as const)
      expect(await data.deps.store.setTransactionStatus(id, status)).toBe(true);
    const res = await api.post(`/api/v1/campaigns/${id}/pause`);
    expectError(res, 409, 'CAMPAIGN_STATE_CONFLICT');
    expect(res.body.error.message).toContain('COMPLETED');
    expectError(await api.patch(`/api/v1/campaigns/${id}/schedule`, { send_at: 'tomorrow' }), 400, 'VALIDATION_FAILED');
    expectError(
      await api.patch(`/api/v1/campaigns/${id}/schedule`, { send_at: new Date().toISOString(), extra: 1 }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await api.patch(`/api/v1/campaigns/${id}/schedule`, { send_at: new Date(Date.now() + 60_000).toISOString() }),
      409,
      'CAMPAIGN_STATE_CONFLICT',
    );
  });
});

describe('Idempotency-Key', () => {
  it('replays the same body (in any key order) as the same transaction, refuses it for another body, and keeps keys per tenant', async () => {
    const templateId = await createTemplate(data.deps, { tenantId: tenant.tenantId, subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' });
    const fileId = await createFile(data.deps, 'email,name\nidem@example.com,Ida\n', tenant.tenantId);
    const key = `key-${uid()}`;
    const body = { template_id: templateId, file_id: fileId, throttle: { emails_per_minute: 60, emails_per_hour: 3000 } };
    const first = await mine.post('/api/v1/campaigns', body, { 'Idempotency-Key': key });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body.status).toBe('ACCEPT');
    const id = first.body.transaction_id as string;
    started.push(id);

    const reordered = { throttle: { emails_per_hour: 3000, emails_per_minute: 60 }, file_id: fileId, template_id: templateId };
    const replay = await mine.post('/api/v1/campaigns', reordered, { 'Idempotency-Key': key });
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual({ transaction_id: id, status: 'ACCEPT' });
    expectError(
      await mine.post('/api/v1/campaigns', { ...body, callback_url: 'https://example.com/hook' }, { 'Idempotency-Key': key }),
      409,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expectError(await mine.post('/api/v1/campaigns', body, { 'Idempotency-Key': 'k'.repeat(256) }), 400, 'INVALID_IDEMPOTENCY_KEY');

    // Without a key, or with another one, the same body is a new campaign.
    const again = await mine.post('/api/v1/campaigns', body);
    const other = await mine.post('/api/v1/campaigns', body, { 'Idempotency-Key': `${key}-2` });
    started.push(again.body.transaction_id, other.body.transaction_id);
    expect(new Set([id, again.body.transaction_id, other.body.transaction_id]).size).toBe(3);

    // Tenant a's campaign under the same key is its own.
    const aTemplate = await createTemplate(data.deps, { subject: 'Hi', html: '<p>Hi</p>' });
    const aFile = await createFile(data.deps, 'email\nidem-a@example.com\n');
    const theirs = await api.post('/api/v1/campaigns', { template_id: aTemplate, file_id: aFile }, { 'Idempotency-Key': key });
    expect(theirs.status).toBe(202);
    expect(theirs.body.transaction_id).not.toBe(id);
    started.push(theirs.body.transaction_id);

    // The workflow was started once, with the transaction's search attributes.
    const description = await deps.temporal.workflow.getHandle(transactionWorkflowId(id)).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.memo).toMatchObject({ template_id: templateId, file_id: fileId });
  });
});

describe('what messages show', () => {
  it("shows unsent messages in their campaign's state, and filters on what it shows", async () => {
    const { id } = await ingested();
    const statuses = async (query = '') =>
      ((await api.get(`/api/v1/campaigns/${id}/messages?limit=100${query}`)).body.items as any[]).map((m) => m.status);
    expect(new Set(await statuses())).toEqual(new Set(['CREATED']));

    await data.deps.store.setTransactionStatus(id, 'PROCESSING');
    await data.deps.store.setTransactionStatus(id, 'SCHEDULED');
    expect(await statuses()).toEqual(Array(12).fill('SCHEDULED'));
    expect(await statuses('&status=SCHEDULED')).toHaveLength(12);
    expect(await statuses('&status=CREATED')).toEqual([]);
    expect(await statuses('&status=SENT')).toEqual([]);
    const status = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
    expect(status).toMatchObject({
      status: 'SCHEDULED',
      progress: { total_messages: 12, processed_messages: 0, percentage: 0 },
      estimated_completion: null,
    });
    expect(status.status_history.map((h: any) => h.status)).toEqual(['ACCEPT', 'PROCESSING', 'SCHEDULED']);

    await data.deps.store.setTransactionStatus(id, 'CANCELLED');
    expect(await statuses('&status=CANCELLED')).toEqual(Array(12).fill('CANCELLED'));
    expect((await api.get(`/api/v1/campaigns/${id}/status`)).body.progress.percentage).toBe(0);
  });
});

describe('bounded work per request', () => {
  /** Counts the DynamoDB queries the messages route makes while `fn` runs. */
  async function countingQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: number }> {
    const original = deps.messages.pageMessages;
    let queries = 0;
    deps.messages.pageMessages = (...args) => {
      queries += 1;
      return original.apply(deps.messages, args);
    };
    try {
      return { result: await fn(), queries };
    } finally {
      deps.messages.pageMessages = original;
    }
  }

  it('a filtered listing that matches nothing stops at its budget and returns a cursor that continues where it stopped', async () => {
    // 12 messages in 3 batches, then 5,000 batches on record: a filter that matches nothing
    // used to query every batch, one page of `limit` items at a time, in one request.
    const { id } = await ingested();
    await data.deps.store.setTransactionFields(id, { batch_count: 5000 });
    const first = await countingQueries(() => api.get(`/api/v1/campaigns/${id}/messages?status=BOUNCED&limit=1`));
    expect(first.result.status, JSON.stringify(first.result.body)).toBe(200);
    expect(first.result.body.items).toEqual([]);
    expect(first.result.body.next_cursor).toEqual(expect.any(String));
    expect(first.queries).toBeLessThanOrEqual(MAX_QUERIES_PER_LISTING);

    // Following the cursors walks the whole campaign, each request within the budget.
    let cursor: string | null = first.result.body.next_cursor;
    let requests = 1;
    while (cursor) {
      const next = await countingQueries(() =>
        api.get(`/api/v1/campaigns/${id}/messages?status=BOUNCED&limit=1&cursor=${encodeURIComponent(cursor!)}`),
      );
      expect(next.result.status).toBe(200);
      expect(next.queries).toBeLessThanOrEqual(MAX_QUERIES_PER_LISTING);
      cursor = next.result.body.next_cursor;
      requests += 1;
    }
    expect(requests).toBeGreaterThanOrEqual(Math.ceil(5000 / MAX_QUERIES_PER_LISTING));
  });

  it('a filter that matches few of many messages still finds each, scanning pages larger than the limit', async () => {
    const { id, emails } = await ingested();
    await data.deps.store.setTransactionStatus(id, 'PROCESSING');
    await data.deps.store.setTransactionStatus(id, 'SCHEDULED');
    const { result, queries } = await countingQueries(() => allPages(api, `/api/v1/campaigns/${id}/messages?status=SCHEDULED`, 1));
    expect(result.flat().map((m) => m.recipient_email)).toEqual(emails);
    // One query per message and batch at most (a page of one, then the cursor), never per scanned item.
    expect(queries).toBeLessThanOrEqual(emails.length + 3);
  });
});

describe('validation', () => {
  it('answers 400 VALIDATION_FAILED for each route with a bad body or query, and 404 for what names nothing', async () => {
    const { id } = await ingested();
    const bad: [string, Promise<ApiResponse<any>>][] = [
      ['template without a name', api.post('/api/v1/templates/presigned-url', { subject: 's', from: 'a@example.com' })],
      [
        'template subject with a line break',
        api.post('/api/v1/templates/presigned-url', { name: 'n', subject: 'a\r\nBcc: x@example.com', from: 'a@example.com' }),
      ],
      ['file that is not CSV', api.post('/api/v1/files/presigned-url', { file_name: 'a.txt', content_type: 'text/plain' })],
      [
        'campaign with a negative throttle',
        api.post('/api/v1/campaigns', { template_id: 't', file_id: 'f', throttle: { emails_per_minute: -1 } }),
      ],
      [
        'campaign with send_at that is no date',
        api.post('/api/v1/campaigns', { template_id: 't', file_id: 'f', schedule: { send_at: 'soon' } }),
      ],
      ['suppression with an unknown field', api.put(`/api/v1/suppressions/v-${uid()}@example.com`, { reason: 'x', why: 'y' })],
      ['messages limit 0', api.get(`/api/v1/campaigns/${id}/messages?limit=0`)],
      ['messages limit not a number', api.get(`/api/v1/campaigns/${id}/messages?limit=ten`)],
      ['messages of an unknown status', api.get(`/api/v1/campaigns/${id}/messages?status=LOST`)],
      ['errors limit over 1000', api.get(`/api/v1/campaigns/${id}/errors?limit=1001`)],
      ['suppressions limit 0', api.get('/api/v1/suppressions?limit=0')],
    ];
    for (const [what, res] of bad) {
      const r = await res;
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.code, what).toBe('VALIDATION_FAILED');
    }
    expectError(await api.get('/api/v1/suppressions/not-an-address'), 400, 'INVALID_EMAIL');
    expectError(await api.get(`/api/v1/campaigns/${'x'.repeat(65)}/status`), 404, 'NOT_FOUND');
    expectError(await api.get(`/api/v1/campaigns/${id}/messages/b00001-r999999999`), 404, 'NOT_FOUND');
    expectError(await api.get('/api/v1/nothing-here'), 404, 'NOT_FOUND');
    expectError(await apiClient(served.url, undefined).get('/api/v1/suppressions'), 401, 'MISSING_API_KEY');
  });
});

describe('service routes', () => {
  it('/healthz is up with every component, and 503 degraded when one is unreachable', async () => {
    const up = await fetch(`${served.url}/healthz`);
    expect(up.status).toBe(200);
    const body = (await up.json()) as any;
    expect(body.status).toBe('up');
    for (const name of ['temporal', 'dynamodb', 's3', 'ses']) expect(body.components[name].status, name).toBe('up');

    // Nothing listens on this port: SES is down, for real.
    const broken = await serveApp(testConfig({ SES_ENDPOINT: `http://127.0.0.1:${await freePort()}` }));
    try {
      const down = await fetch(`${broken.url}/healthz`);
      expect(down.status).toBe(503);
      const degraded = (await down.json()) as any;
      expect(degraded.status).toBe('degraded');
      expect(degraded.components.ses.status).toBe('down');
      expect(degraded.components.dynamodb.status).toBe('up');
    } finally {
      await broken.close();
    }
  });

  it('/metrics counts requests by route pattern and status, never by id', async () => {
    const { id } = await ingested();
    await api.get(`/api/v1/campaigns/${id}/status`);
    await api.get(`/api/v1/campaigns/${id}/status`);
    await api.get('/api/v1/campaigns/unknown-id/status');
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    expect(requestCount(metrics, '/api/v1/campaigns/:id/status', 200)).toBeGreaterThanOrEqual(2);
    expect(metrics).not.toContain(id);
    expect(metrics).not.toContain('unknown-id');
    expect(metrics).toContain('http_request_duration_seconds_bucket');
  });

  // A request that ends in an error (here the route's own 404) was labelled route="/:id/status",
  // as api/app.ts read req.baseUrl on 'finish', after the router had reset it.
  it('/metrics labels a request that ends in an error with its full route pattern too', async () => {
    await api.get('/api/v1/campaigns/unknown-id/status');
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    expect(requestCount(metrics, '/api/v1/campaigns/:id/status', 404)).toBeGreaterThanOrEqual(1);
  });
});

// Issue 17, item 5: a subscription with raw message delivery posts the SES event without SNS's
// envelope and signature, which cannot be verified: refused, saying what to change.
describe('SES event endpoint', () => {
  const sesEvent = { eventType: 'Delivery', mail: { messageId: 'ses-raw', timestamp: new Date().toISOString() }, delivery: {} };
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${served.url}/api/v1/events/ses`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body });

  it('refuses raw message delivery, by its header or by its body, with a clear error', async () => {
    for (const res of [
      await post(JSON.stringify(sesEvent), { 'x-amz-sns-rawdelivery': 'true', 'x-amz-sns-message-type': 'Notification' }),
      await post(JSON.stringify(sesEvent)),
    ]) {
      expect(res.status).toBe(400);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe('RAW_MESSAGE_DELIVERY');
      expect(body.error.message).toMatch(/RawMessageDelivery/);
    }
    // Anything else that is not an SNS message is still just that.
    const other = await post(JSON.stringify({ hello: 'world' }));
    expect(other.status).toBe(400);
    expect(((await other.json()) as any).error.code).toBe('INVALID_SNS_MESSAGE');
  });
});

describe('operator surfaces', () => {
  const token = `op-${'x'.repeat(40)}`;

  it('with OPERATOR_TOKEN, /healthz tells anyone only up or down, its details and /metrics need the token', async () => {
    const guarded = await serveApp(testConfig({ OPERATOR_TOKEN: token }));
    try {
      const anonymous = (await (await fetch(`${guarded.url}/healthz`)).json()) as any;
      expect(anonymous).toEqual({ status: 'up' });
      const wrong = await fetch(`${guarded.url}/healthz`, { headers: { 'x-operator-token': `${token}y` } });
      expect(((await wrong.json()) as any).components).toBeUndefined();
      const operator = (await (await fetch(`${guarded.url}/healthz`, { headers: { 'x-operator-token': token } })).json()) as any;
      expect(operator.components.dynamodb.status).toBe('up');

      const metrics = await fetch(`${guarded.url}/metrics`);
      expect(metrics.status).toBe(401);
      expect(((await metrics.json()) as any).error.code).toBe('OPERATOR_TOKEN_REQUIRED');
      const allowed = await fetch(`${guarded.url}/metrics`, { headers: { 'x-operator-token': token } });
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('http_requests_total');
    } finally {
      await guarded.close();
    }
  });

  it('METRICS_PORT serves /metrics on a port of its own and nowhere else; the API binds HOST', async () => {
    const metricsPort = await freePort();
    const api = await startApi(testConfig({ OPERATOR_TOKEN: token, METRICS_PORT: String(metricsPort), HOST: '127.0.0.1' }));
    try {
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(api.metricsUrl).toBe(`http://127.0.0.1:${metricsPort}/metrics`);
      const there = await fetch(api.metricsUrl!);
      expect(there.status).toBe(200);
      expect(await there.text()).toContain('process_cpu_seconds_total');
      // Not on the API's port, even with the token.
      expect((await fetch(`${api.url}/metrics`, { headers: { 'x-operator-token': token } })).status).toBe(404);
    } finally {
      await api.close();
    }
  });
});

function requestCount(metrics: string, route: string, status: number): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`http_requests_total{method="GET",route="${route}",status="${status}"} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
