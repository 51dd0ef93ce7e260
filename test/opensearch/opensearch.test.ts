// Starts a genuine OpenSearch node (src/local/opensearch.ts) and checks the analytics adapter
// against it: templates, idempotent bulk writes, upserts, 429 back-off, campaign numbers on a
// known dataset, and SigV4 signing for Amazon OpenSearch Service.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Analytics, type EmailEventDoc, type EmailMessageDoc } from '../../src/adapters/opensearch';
import { startOpenSearch, type RunningOpenSearch } from '../../src/local/opensearch';
import { freePort } from '../../src/local/ports';
import type { MessageStatus } from '../../src/domain/message-status';

const TENANT = 'tenant-a';
const TXN = 'txn-1';
const DAY = '2026-03-02';
const URL_A = 'https://example.com/a';
const URL_B = 'https://example.com/b';
const URL_C = 'https://example.com/c';

const DOMAINS: Record<string, string> = {
  m1: 'gmail.com',
  m2: 'gmail.com',
  m3: 'gmail.com',
  m4: 'gmail.com',
  m5: 'gmail.com',
  m6: 'yahoo.com',
  m7: 'yahoo.com',
  m8: 'yahoo.com',
  m9: 'example.org',
  m10: 'example.org',
};
type Row = [message: string, type: EmailEventDoc['event_type'], time: string, extra?: Partial<EmailEventDoc>];
const EVENTS: Row[] = [
  ...Object.keys(DOMAINS).map((m, i): Row => [m, 'send', `10:${String(i + 1).padStart(2, '0')}`]),
  ...['m1', 'm2', 'm3', 'm5', 'm6', 'm9'].map((m): Row => [m, 'delivery', '10:30']),
  ['m4', 'bounce', '10:31', { bounce_type: 'Permanent', bounce_subtype: 'General' }],
  ['m7', 'bounce', '10:32', { bounce_type: 'Transient', bounce_subtype: 'MailboxFull' }],
  ['m8', 'bounce', '10:33', { bounce_type: 'Permanent', bounce_subtype: 'NoEmail' }],
  ['m5', 'complaint', '12:10', { complaint_type: 'abuse' }],
  ['m1', 'open', '11:05'],
  ['m1', 'open', '11:40'],
  ['m2', 'open', '11:10'],
  ['m6', 'open', '11:15'],
  ['m6', 'open', '12:05'],
  ['m6', 'open', '12:20'],
  ['m9', 'open', '11:50'],
  ['m1', 'click', '11:06', { url: URL_A }],
  ['m9', 'click', '11:51', { url: URL_A }],
  ['m6', 'click', '12:06', { url: URL_A }],
  ['m6', 'click', '12:21', { url: URL_B }],
  ['m2', 'click', '14:30', { url: URL_C }],
];
const FINAL_STATUS: Record<string, MessageStatus> = {
  m1: 'CLICKED',
  m2: 'CLICKED',
  m3: 'DELIVERED',
  m4: 'BOUNCED',
  m5: 'COMPLAINED',
  m6: 'CLICKED',
  m7: 'BOUNCED',
  m8: 'BOUNCED',
  m9: 'CLICKED',
  m10: 'SENT',
};
const FLAG: Partial<Record<EmailEventDoc['event_type'], 'delivered' | 'bounced' | 'complained' | 'opened' | 'clicked'>> = {
  delivery: 'delivered',
  bounce: 'bounced',
  complaint: 'complained',
  open: 'opened',
  click: 'clicked',
};

function event([message, type, time, extra]: Row, tenant = TENANT, txn = TXN): EmailEventDoc {
  return {
    id: `${tenant}/${txn}/${message}/${type}/${time}`,
    tenant_id: tenant,
    transaction_id: txn,
    batch_id: `${txn}-b1`,
    message_id: message,
    recipient_domain: DOMAINS[message] ?? 'gmail.com',
    event_type: type,
    timestamp: `${DAY}T${time}:00Z`,
    ses_message_id: `ses-${message}`,
    user_agent: type === 'open' || type === 'click' ? 'Mozilla/5.0' : undefined,
    ...extra,
  };
}

/** What the event pipeline would write: a flag and its time per outcome, no status. */
const flagUpdate = (e: EmailEventDoc): EmailMessageDoc => {
  const flag = FLAG[e.event_type]!;
  return { id: e.message_id, [flag]: true, [`${flag}_at`]: e.timestamp, bounce_type: e.bounce_type, bounce_subtype: e.bounce_subtype };
};

// Other campaigns and tenants that must not leak into the numbers.
const NOISE_EVENTS = [
  event(['n1', 'send', '10:01'], TENANT, 'txn-2'),
  event(['n1', 'delivery', '10:30'], TENANT, 'txn-2'),
  event(['n1', 'open', '11:00'], TENANT, 'txn-2'),
  event(['x1', 'send', '10:01'], 'tenant-b', TXN),
  event(['x1', 'bounce', '10:20', { bounce_type: 'Permanent', bounce_subtype: 'General' }], 'tenant-b', TXN),
];
const NOISE_MESSAGES: EmailMessageDoc[] = [
  {
    id: 'n1',
    tenant_id: TENANT,
    transaction_id: 'txn-2',
    recipient_domain: 'gmail.com',
    status: 'OPENED',
    sent: true,
    delivered: true,
    opened: true,
  },
  { id: 'x1', tenant_id: 'tenant-b', transaction_id: TXN, recipient_domain: 'gmail.com', status: 'BOUNCED', sent: true, bounced: true },
];

let node: RunningOpenSearch;
let analytics: Analytics;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'opensearch-test-'));
  node = await startOpenSearch({
    port: await freePort(),
    dataDir: dir,
    log: (line) => console.error(`[opensearch] ${line}`),
    // A one-thread, one-slot write pool makes the node answer concurrent bulks with 429s.
    settings: { 'thread_pool.write.size': 1, 'thread_pool.write.queue_size': 1 },
  });
  analytics = new Analytics({ node: node.url, prefix: 'it-', replicas: 0 });
});

afterAll(async () => {
  await analytics?.close();
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('OpenSearch analytics adapter on a real node', () => {
  it('runs a genuine OpenSearch and stops it later', async () => {
    const info = (await (await fetch(node.url)).json()) as any;
    expect(info.version.distribution).toBe('opensearch');
    expect(info.version.number).toBe(node.version);
    console.error(`[opensearch] start ${node.startupMs} ms, RSS ${Math.round((node.rssBytes ?? 0) / 2 ** 20)} MB`);
  });

  it('installs index templates with explicit mappings (twice is fine)', async () => {
    await analytics.ensureTemplates();
    await analytics.ensureTemplates();
    const { body } = await analytics.client.indices.getIndexTemplate({ name: 'it-email-events' });
    const template = (body as any).index_templates[0].index_template;
    expect(template.index_patterns).toEqual(['it-email-events*']);
    expect(template.template.mappings.properties.timestamp).toEqual({ type: 'date' });
    expect(template.template.mappings.properties.recipient_domain).toEqual({ type: 'keyword' });
  });

  it('adds fields mapped since to an index made before them (tags)', async () => {
    const older = new Analytics({ node: node.url, prefix: 'older-', replicas: 0 });
    try {
      // The messages index as an engine before tags made it.
      await older.client.indices.create({
        index: 'older-email-messages',
        body: { settings: { number_of_replicas: 0 }, mappings: { dynamic: false, properties: { status: { type: 'keyword' } } } },
      });
      const mappingOf = async () =>
        ((await older.client.indices.getMapping({ index: 'older-email-messages' })).body as any)['older-email-messages'].mappings
          .properties;
      expect((await mappingOf()).tags).toBeUndefined();
      await older.ensureTemplates();
      const properties = await mappingOf();
      expect(properties.tags).toEqual({ type: 'keyword' });
      expect(properties.status).toEqual({ type: 'keyword' });
      await older.upsertMessages([{ id: 't:m', transaction_id: 't', status: 'SENT', tags: ['spring'] }], { refresh: true });
      const found = await older.client.count({ index: 'older-email-messages', body: { query: { term: { tags: 'spring' } } } });
      expect(found.body.count).toBe(1);
    } finally {
      await older.close();
    }
  });

  it('indexes events idempotently and reports per-item failures', async () => {
    const docs = [...EVENTS.map((r) => event(r)), ...NOISE_EVENTS];
    const first = await analytics.indexEvents(docs, { refresh: true });
    expect(first).toMatchObject({ created: docs.length, unchanged: 0, failed: [] });
    const again = await analytics.indexEvents(docs, { refresh: true });
    expect(again).toMatchObject({ created: 0, unchanged: docs.length, failed: [] });
    expect((await analytics.client.count({ index: 'it-email-events' })).body.count).toBe(docs.length);

    const bad = await analytics.indexEvents([{ ...event(['m3', 'open', '23:59']), id: 'bad-date', timestamp: 'not-a-date' }]);
    expect(bad.created).toBe(0);
    expect(bad.failed).toEqual([expect.objectContaining({ id: 'bad-date', status: 400, type: 'mapper_parsing_exception' })]);

    const mapping = (await analytics.client.indices.getMapping({ index: 'it-email-events' })).body as any;
    expect(mapping['it-email-events'].mappings.properties.event_type).toEqual({ type: 'keyword' });
  });

  it('upserts message documents: create, merge partial updates, no-op on repeats', async () => {
    const sent = Object.entries(DOMAINS).map(([id, domain]): EmailMessageDoc => ({
      id,
      tenant_id: TENANT,
      transaction_id: TXN,
      batch_id: `${TXN}-b1`,
      recipient_domain: domain,
      ses_message_id: `ses-${id}`,
      status: 'SENT',
      sent: true,
      sent_at: `${DAY}T10:00:00Z`,
    }));
    expect(await analytics.upsertMessages([...sent, ...NOISE_MESSAGES])).toMatchObject({ created: 12, updated: 0, failed: [] });

    const flags = EVENTS.map((r) => event(r))
      .filter((e) => FLAG[e.event_type])
      .map(flagUpdate);
    expect(await analytics.upsertMessages(flags)).toMatchObject({ created: 0, updated: flags.length, failed: [] });

    const statuses = Object.entries(FINAL_STATUS).map(([id, status]): EmailMessageDoc => ({ id, status }));
    // m10 is still SENT: only nine documents change; the same updates again change nothing.
    expect(await analytics.upsertMessages(statuses)).toMatchObject({ created: 0, updated: 9, unchanged: 1, failed: [] });
    expect(await analytics.upsertMessages(statuses, { refresh: true })).toMatchObject({ updated: 0, unchanged: 10, failed: [] });
    const m6 = (await analytics.client.get({ index: 'it-email-messages', id: 'm6' })).body._source as any;
    expect(m6).toMatchObject({
      status: 'CLICKED',
      sent: true,
      delivered: true,
      opened: true,
      clicked: true,
      recipient_domain: 'yahoo.com',
    });
    expect(m6.opened_at).toBe(`${DAY}T12:20:00Z`); // the last open applied wins
  });

  it('computes campaign analytics with exact numbers', async () => {
    const a = await analytics.campaignAnalytics(TENANT, TXN, { interval: '1h', topDomains: 2, topUrls: 2 });
    expect(a.status_breakdown).toEqual({ CLICKED: 4, BOUNCED: 3, DELIVERED: 1, COMPLAINED: 1, SENT: 1 });
    expect(a.totals).toEqual({
      messages: 10,
      sent: 10,
      delivered: 6,
      bounced: 3,
      soft_bounced: 0,
      complained: 1,
      opened: 4,
      clicked: 4,
      events: 32,
    });
    expect(a.engagement).toEqual({ opened_unique: 4, opened_total: 7, clicked_unique: 4, clicked_total: 5 });
    expect(a.rates).toEqual({ bounce_rate: 0.3, complaint_rate: 0.1 });
    expect(a.bounce_subtypes).toEqual([
      { bounce_type: 'Permanent', bounce_subtype: 'General', count: 1 },
      { bounce_type: 'Permanent', bounce_subtype: 'NoEmail', count: 1 },
      { bounce_type: 'Transient', bounce_subtype: 'MailboxFull', count: 1 },
    ]);
    expect(a.by_domain).toEqual([
      { domain: 'gmail.com', messages: 5, sent: 5, delivered: 4, bounced: 1, soft_bounced: 0, complained: 1, opened: 2, clicked: 2 },
      { domain: 'yahoo.com', messages: 3, sent: 3, delivered: 1, bounced: 2, soft_bounced: 0, complained: 0, opened: 1, clicked: 1 },
    ]);
    expect(a.timeline).toEqual([
      { at: `${DAY}T10:00:00.000Z`, total: 19, counts: { send: 10, delivery: 6, bounce: 3 } },
      { at: `${DAY}T11:00:00.000Z`, total: 7, counts: { open: 5, click: 2 } },
      { at: `${DAY}T12:00:00.000Z`, total: 5, counts: { open: 2, click: 2, complaint: 1 } },
      { at: `${DAY}T13:00:00.000Z`, total: 0, counts: {} },
      { at: `${DAY}T14:00:00.000Z`, total: 1, counts: { click: 1 } },
    ]);
    expect(a.top_urls).toEqual([
      { url: URL_A, clicks: 3, unique_clicks: 3 },
      { url: URL_B, clicks: 1, unique_clicks: 1 },
    ]);

    const wide = await analytics.campaignAnalytics(TENANT, TXN, { interval: '1d', topDomains: 10, topUrls: 10 });
    expect(wide.by_domain.map((d) => d.domain)).toEqual(['gmail.com', 'yahoo.com', 'example.org']);
    expect(wide.by_domain[2]).toEqual({
      domain: 'example.org',
      messages: 2,
      sent: 2,
      delivered: 1,
      bounced: 0,
      soft_bounced: 0,
      complained: 0,
      opened: 1,
      clicked: 1,
    });
    expect(wide.timeline).toEqual([
      { at: `${DAY}T00:00:00.000Z`, total: 32, counts: { send: 10, delivery: 6, open: 7, click: 5, bounce: 3, complaint: 1 } },
    ]);
    expect(wide.top_urls.map((u) => u.url)).toEqual([URL_A, URL_B, URL_C]);

    const other = await analytics.campaignAnalytics('tenant-b', TXN, { interval: '1h', topDomains: 5, topUrls: 5 });
    expect(other.totals).toMatchObject({ messages: 1, sent: 1, bounced: 1, events: 2 });
    const none = await analytics.campaignAnalytics(TENANT, 'no-such-txn', { interval: '1h', topDomains: 5, topUrls: 5 });
    expect(none).toMatchObject({ status_breakdown: {}, timeline: [], rates: { bounce_rate: 0, complaint_rate: 0 } });
  });

  it('backs off and retries when the node rejects bulk writes with 429', async () => {
    const load = new Analytics({ node: node.url, prefix: 'load-', replicas: 0, chunkSize: 20, shards: 3 });
    try {
      await load.ensureTemplates();
      const writers = Array.from({ length: 8 }, (_, w) =>
        load.indexEvents(Array.from({ length: 40 }, (_, i) => ({ ...event(['m1', 'open', '11:00']), id: `w${w}-${i}` }))),
      );
      const results = await Promise.all(writers);
      expect(results.flatMap((r) => r.failed)).toEqual([]);
      expect(results.reduce((n, r) => n + r.created, 0)).toBe(320);
      const retries = results.reduce((n, r) => n + r.retries, 0);
      console.error(`[opensearch] 429 rounds retried: ${retries}`);
      expect(retries).toBeGreaterThan(0);
      await load.refresh();
      expect((await load.client.count({ index: 'load-email-events' })).body.count).toBe(320);
    } finally {
      await load.close();
    }
  });
});

describe('SigV4 for Amazon OpenSearch Service', () => {
  it('signs requests with credentials from the default provider chain', async () => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"acknowledged":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token-1' });
    const port = (server.address() as { port: number }).port;
    const signed = new Analytics({ node: `http://127.0.0.1:${port}`, aws: { region: 'eu-west-1', service: 'es' } });
    try {
      await signed.ensureTemplates();
      // An index template and a mapping update for each of the two indices.
      expect(seen).toHaveLength(4);
      for (const headers of seen) expect(String(headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 /);
      expect(String(seen[0]!.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/es\/aws4_request/);
      expect(seen[0]!['x-amz-security-token']).toBe('token-1');
      expect(seen[0]!['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    } finally {
      process.env = saved;
      await signed.close();
      server.close();
    }
  });
});
