// Issue 15, item 1, over HTTP on the local stack: campaigns carry a name, tags and metadata from
// creation into their status, their listing and every webhook; GET /campaigns lists a tenant's
// campaigns newest first with cursors that cover each exactly once, filters by creation window,
// status, tag and name, never shows or accepts another tenant's, refuses bad parameters with
// the field named, and stops at its read budget (set low here) with a short page and a cursor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uid } from '../integration/fixtures';
import { seedOwnTenant } from '../api/in-process';
import {
  apiClient,
  startWebhookReceiver,
  TENANTS,
  uploadCsv,
  uploadTemplate,
  useEngine,
  waitFor,
  waitForStatus,
  type ApiClient,
  type ApiResponse,
} from '../support/harness';

const READ_BUDGET = 5;
const engine = useEngine({ config: { CAMPAIGN_LIST_READ_BUDGET: String(READ_BUDGET) } });
const run = uid();
const domain = `list-${run}.example`;
let tenant: Awaited<ReturnType<typeof seedOwnTenant>>;
let api: ApiClient; // this file's own tenant: its listing holds exactly what the tests create
let other: ApiClient; // tenant b
let templateId: string;
/** The scheduled campaigns, oldest first. */
const created: { id: string; name: string; tags: string[]; created_at: string }[] = [];
const SCHEDULED_COUNT = 6;

const expectInvalid = (res: ApiResponse<any>, code: string, path?: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe(code);
  if (path !== undefined) expect(res.body.error.details.map((d: any) => d.path)).toContain(path);
};

async function start(client: ApiClient, fields: Record<string, unknown>, headers?: Record<string, string>) {
  const fileId = await uploadCsv(client, `email\nreader-${uid()}@${domain}\n`);
  return client.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, ...fields }, headers);
}

/** Every page of a listing, following next_cursor; each page's items and whether it was short. */
async function allPages(client: ApiClient, query: string) {
  const pages: any[][] = [];
  let cursor: string | null = null;
  do {
    const res: ApiResponse<any> = await client.get(`/api/v1/campaigns?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body.items);
    cursor = res.body.next_cursor;
    expect(pages.length).toBeLessThan(40);
  } while (cursor);
  return pages;
}
const ids = (pages: any[][]) => pages.flat().map((c) => c.transaction_id as string);
const newestFirst = (list: typeof created) => [...list].reverse().map((c) => c.id);

beforeAll(async () => {
  tenant = await seedOwnTenant(engine.config, 'campaign-list', [domain]);
  api = apiClient(engine.url, tenant.apiKey);
  other = apiClient(engine.url, TENANTS.b.apiKey);
  templateId = await uploadTemplate(api, { subject: 'News', html: '<p>News</p>', from: `news@${domain}` });
  // Scheduled a day ahead, so their status holds still while the listing is read.
  const sendAt = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  for (let i = 0; i < SCHEDULED_COUNT; i++) {
    const name = `Spring Sale ${run} no.${i}`;
    const tags = [i % 2 === 0 ? 'even' : 'odd', `run:${run}`];
    const res = await start(api, { name, tags, metadata: { index: i }, schedule: { send_at: sendAt } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const status = await waitForStatus(api, res.body.transaction_id, ['SCHEDULED'], 120_000);
    created.push({ id: res.body.transaction_id, name, tags, created_at: status.created_at });
  }
}, 300_000);
afterAll(async () => {
  // Registered after useEngine's hooks, so this runs while its worker is still up.
  for (const c of created) await api?.post(`/api/v1/campaigns/${c.id}/cancel`);
});

describe('campaign labels', () => {
  it('echoes name, tags (each once) and metadata in the status and in every webhook', async () => {
    const hooks = await startWebhookReceiver(tenant.webhookSecret);
    try {
      const labels = {
        name: `Launch ${run}`,
        tags: ['launch', 'q3', 'launch'],
        metadata: { crm_id: 'C-1', wave: 2, vip: true, note: null },
      };
      const res = await start(api, { ...labels, callback_url: hooks.url });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const id = res.body.transaction_id as string;
      const expected = { name: labels.name, tags: ['launch', 'q3'], metadata: labels.metadata };
      // Without SES events (no pipeline here) a campaign ends SENT.
      const final = await waitForStatus(api, id, ['SENT', 'COMPLETED'], 240_000);
      expect(final).toMatchObject(expected);
      const hooksOf = await waitFor('the webhook of its final status', async () =>
        hooks.received.some((h) => h.json.status === final.status) ? hooks.received : undefined,
      );
      expect(hooksOf.length).toBeGreaterThanOrEqual(2);
      for (const hook of hooksOf) {
        expect(hook.verified).toBe(true);
        expect(hook.json).toMatchObject({ transaction_id: id, ...expected });
        expect(hook.json.summary).toEqual(expect.objectContaining({ total_messages: expect.any(Number) }));
      }
      // Every field the webhook had before is still there.
      expect(hooksOf.find((h) => h.json.status === final.status)!.json).toMatchObject({
        status: final.status,
        timestamp: expect.any(String),
        summary: { total_messages: 1, sent: 1 },
      });
      // A listing shows the same labels, without the history.
      const listed = (await api.get(`/api/v1/campaigns?q=${encodeURIComponent(labels.name)}`)).body.items;
      expect(listed).toEqual([
        expect.objectContaining({ transaction_id: id, ...expected, status: expect.stringMatching(/^(SENT|COMPLETED)$/) }),
      ]);
      expect(listed[0].status_history).toBeUndefined();
    } finally {
      await hooks.close();
    }
  }, 300_000);

  it('shows null, [] and {} for a campaign created without labels', async () => {
    const res = await start(api, {});
    expect(res.status).toBe(202);
    const status = await api.get(`/api/v1/campaigns/${res.body.transaction_id}/status`);
    expect(status.body).toMatchObject({ name: null, tags: [], metadata: {} });
  });

  it('refuses bad labels with the field named, and keeps them in the Idempotency-Key hash', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(201) }, 'name'],
      [{ name: 'two\nlines' }, 'name'],
      [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
      [{ tags: ['has space'] }, 'tags.0'],
      [{ tags: ['x'.repeat(65)] }, 'tags.0'],
      [{ metadata: { nested: { a: 1 } } }, 'metadata.nested'],
      [{ metadata: { list: [1] } }, 'metadata.list'],
      [{ metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])) }, 'metadata'],
      [{ metadata: { big: 'x'.repeat(2100) } }, 'metadata'],
      [{ metadata: 'not an object' }, 'metadata'],
    ];
    for (const [fields, path] of bad) expectInvalid(await start(api, fields), 'VALIDATION_FAILED', path);

    const key = `labels-${uid()}`;
    const sendAt = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    const fileId = await uploadCsv(api, `email\nreader-${uid()}@${domain}\n`);
    const body = { template_id: templateId, file_id: fileId, schedule: { send_at: sendAt }, name: 'Idem', tags: ['a'] };
    const first = await api.post('/api/v1/campaigns', body, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    const again = await api.post('/api/v1/campaigns', body, { 'idempotency-key': key });
    expect(again.body.transaction_id).toBe(first.body.transaction_id);
    const changed = await api.post('/api/v1/campaigns', { ...body, tags: ['b'] }, { 'idempotency-key': key });
    expect(changed.status).toBe(409);
    expect(changed.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await waitForStatus(api, first.body.transaction_id, ['SCHEDULED']);
    expect((await api.post(`/api/v1/campaigns/${first.body.transaction_id}/cancel`)).status).toBe(202);
    await waitForStatus(api, first.body.transaction_id, ['CANCELLED']);
  });
});

describe('GET /campaigns', () => {
  const scheduledQuery = () => `tag=${encodeURIComponent(`run:${run}`)}`;

  it('lists newest first, and its cursors cover every campaign exactly once at any page size', async () => {
    const all = ids(await allPages(api, 'limit=100'));
    // Newest first over everything the tenant has (the scheduled ones were created first, so come last).
    expect(all.slice(-SCHEDULED_COUNT)).toEqual(newestFirst(created));
    expect(new Set(all).size).toBe(all.length);
    for (const limit of [1, 2, 4]) {
      const pages = await allPages(api, `limit=${limit}`);
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
      expect(ids(pages)).toEqual(all);
    }
    // The aliased mount lists the same.
    const alias = await api.get('/api/v1/transactions?limit=3');
    expect(alias.body.items.map((c: any) => c.transaction_id)).toEqual(all.slice(0, 3));
  });

  it('filters by tag, name (case-insensitive, any part) and creation window, each page by page', async () => {
    expect(ids(await allPages(api, `${scheduledQuery()}&limit=2`))).toEqual(newestFirst(created));
    expect(ids(await allPages(api, `tag=even&limit=1`))).toEqual(newestFirst(created.filter((_, i) => i % 2 === 0)));
    expect(ids(await allPages(api, `q=${encodeURIComponent(`SPRING sale ${run}`)}`))).toEqual(newestFirst(created));
    expect(ids(await allPages(api, `q=${encodeURIComponent(`${run} NO.3`)}`))).toEqual([created[3]!.id]);
    expect(ids(await allPages(api, `q=${encodeURIComponent(`${run} no.3`)}&tag=even`))).toEqual([]);
    // From inclusive, to exclusive, with any offset.
    const from = created[1]!.created_at;
    const to = created[4]!.created_at;
    expect(ids(await allPages(api, `created_from=${from}&created_to=${to}`))).toEqual(newestFirst(created.slice(1, 4)));
    const shifted = new Date(Date.parse(from)).toISOString().replace('Z', '+00:00');
    expect(ids(await allPages(api, `${scheduledQuery()}&created_from=${encodeURIComponent(shifted)}`))).toEqual(
      newestFirst(created.slice(1)),
    );
    expect(ids(await allPages(api, `${scheduledQuery()}&created_to=${to}&limit=1`))).toEqual(newestFirst(created.slice(0, 4)));
  });

  it('filters by status', async () => {
    const cancelled = created[2]!;
    expect((await api.post(`/api/v1/campaigns/${cancelled.id}/cancel`)).status).toBe(202);
    await waitForStatus(api, cancelled.id, ['CANCELLED']);
    const listed = await allPages(api, `${scheduledQuery()}&status=CANCELLED`);
    expect(ids(listed)).toEqual([cancelled.id]);
    expect(listed.flat()[0]).toMatchObject({ status: 'CANCELLED', name: cancelled.name, tags: cancelled.tags });
    expect(ids(await allPages(api, `${scheduledQuery()}&status=SCHEDULED`))).toEqual(newestFirst(created.filter((c) => c !== cancelled)));
  });

  it('stops at its read budget: a filter that matches nothing gives short pages with a cursor until the index is read', async () => {
    const total = ids(await allPages(api, 'limit=100')).length;
    expect(total).toBeGreaterThan(READ_BUDGET);
    const first = await api.get(`/api/v1/campaigns?tag=nothing-${run}&limit=100`);
    expect(first.status).toBe(200);
    expect(first.body.items).toEqual([]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const pages = await allPages(api, `tag=nothing-${run}&limit=100`);
    expect(pages.flat()).toEqual([]);
    // Each request read at most the budget, so it took as many requests as that implies.
    expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(total / READ_BUDGET));
    // A filter that matches the oldest campaign alone still finds it past the budget.
    expect(ids(await allPages(api, `q=${encodeURIComponent(`${run} no.0`)}&limit=100`))).toEqual([created[0]!.id]);
  });

  it("never shows another tenant's campaigns, nor accepts its cursor", async () => {
    const mine = new Set(ids(await allPages(api, 'limit=100')));
    const theirs = ids(await allPages(other, 'limit=100'));
    expect(theirs.filter((id) => mine.has(id))).toEqual([]);
    expect((await other.get(`/api/v1/campaigns?${scheduledQuery()}`)).body).toEqual({ items: [], next_cursor: null });
    const cursor = (await api.get('/api/v1/campaigns?limit=1')).body.next_cursor as string;
    expectInvalid(await other.get(`/api/v1/campaigns?limit=1&cursor=${cursor}`), 'INVALID_CURSOR');
  });

  it('refuses bad parameters with the field named, and forged or out-of-window cursors', async () => {
    const cases: [string, string][] = [
      ['status=NOPE', 'status'],
      ['created_from=yesterday', 'created_from'],
      ['created_to=2026-13-01T00:00:00Z', 'created_to'],
      ['created_from=2026-01-02T00:00:00Z&created_to=2026-01-01T00:00:00Z', 'created_to'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['tag=has%20space', 'tag'],
      ['tag=a&tag=b', 'tag'],
      [`q=${'x'.repeat(201)}`, 'q'],
      ['q=a%0Ab', 'q'],
      ['tags=even', ''],
    ];
    for (const [query, path] of cases) expectInvalid(await api.get(`/api/v1/campaigns?${query}`), 'VALIDATION_FAILED', path);

    const cursor = (await api.get('/api/v1/campaigns?limit=1')).body.next_cursor as string;
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as Record<string, string>;
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const [time, id] = key.GSI2SK!.split('#') as [string, string];
    const forged = [
      'not-base64-json',
      forge([1, 2]),
      forge({ ...key, PK: `TRANSACTION#${created[0]!.id}` }), // the table key of another campaign than the sort key's
      forge({ ...key, GSI2PK: 'TENANT#tenant-b#TXN' }),
      forge({ ...key, GSI2SK: `${time}#${id}#x` }),
      forge({ ...key, extra: 1 }),
      forge({ PK: key.PK, SK: key.SK }),
    ];
    for (const raw of forged) expectInvalid(await api.get(`/api/v1/campaigns?limit=1&cursor=${raw}`), 'INVALID_CURSOR');
    expect((await api.get(`/api/v1/campaigns?limit=1&cursor=${cursor}`)).status).toBe(200);
    // A cursor outside the request's creation window is not this listing's.
    expectInvalid(await api.get(`/api/v1/campaigns?limit=1&created_to=${created[0]!.created_at}&cursor=${cursor}`), 'INVALID_CURSOR');
  });
});
