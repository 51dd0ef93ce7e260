// Hostile and malformed input over HTTP, on the real local stack: another tenant's ids, Liquid
// that would loop or allocate forever, header injection through recipient data, HTML in
// placeholders, CSV oddities, malformed requests (bad percent-encoding, huge ids, forged
// cursors, odd content types, oversized bodies and headers), missing keys and floods. Every
// answer is the contract's status and error code; nothing here may ever get a 5xx.
import { describe, expect, it } from 'vitest';
import {
  apiClient,
  header,
  sesInbox,
  startApi,
  TENANTS,
  testConfig,
  uploadCsv,
  useEngine,
  waitFor,
  waitForStatus,
  type ApiClient,
  type ApiResponse,
} from '../support/harness';

/** An API client that fails the test on any 5xx, whatever the test itself expects. */
function strictClient(baseUrl: string | (() => string), apiKey: string | undefined): ApiClient {
  const inner = apiClient(baseUrl, apiKey);
  const guard =
    <A extends unknown[]>(fn: (...args: A) => Promise<ApiResponse<any>>) =>
    async (...args: A) => {
      const res = await fn(...args);
      if (res.status >= 500) throw new Error(`server error ${res.status} for ${String(args[0])}: ${JSON.stringify(res.body)}`);
      return res;
    };
  return {
    get: guard(inner.get),
    post: guard(inner.post),
    put: guard(inner.put),
    patch: guard(inner.patch),
    delete: guard(inner.delete),
  } as ApiClient;
}

const engine = useEngine({ client: strictClient, template: { subject: 'Hi {{ first_name }}', html: '<p>Hello {{ first_name }}</p>' } });
const api = engine.api;
const other = engine.apiFor(TENANTS.b.apiKey);

/** A raw request, for what the JSON client cannot send; fails on any 5xx. */
async function raw(path: string, init: RequestInit = {}, apiKey: string | undefined = TENANTS.a.apiKey) {
  const res = await fetch(engine.url + path, {
    ...init,
    headers: { ...(apiKey ? { 'x-api-key': apiKey } : {}), ...(init.headers as Record<string, string>) },
  });
  const text = await res.text();
  expect(res.status, `${init.method ?? 'GET'} ${path.slice(0, 100)}: ${text.slice(0, 300)}`).toBeLessThan(500);
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

const expectError = (res: { status: number; body: any }, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
};

const mailOf = async (transactionId: string) =>
  (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);

async function startCampaign(csv: string | Buffer, template = engine.templateId, extra: Record<string, unknown> = {}): Promise<string> {
  const fileId = await uploadCsv(api, csv);
  const started = await api.post('/api/v1/campaigns', { template_id: template, file_id: fileId, ...extra });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.transaction_id as string;
}

describe("another tenant's ids", () => {
  it('are 404 NOT_FOUND on every route that takes an id, and change nothing', async () => {
    // Tenant A: a confirmed and an unconfirmed template, a campaign that sends now and one
    // scheduled a month out (the one control requests would change).
    const draft = await api.post('/api/v1/templates/presigned-url', { name: 'draft', subject: 's', from: 'a@example.com' });
    await fetch(draft.body.upload_url, { method: 'PUT', headers: draft.body.headers, body: '<p>{{ first_name }}</p>' });
    const fileId = await uploadCsv(api, 'email,first_name\nxt1@example.com,Ada\nnot-an-address,Bob\nxt2@example.com,Cy\n');
    const sendAt = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
    const scheduled = (
      await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, schedule: { send_at: sendAt } })
    ).body.transaction_id as string;
    const sending = (await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId })).body
      .transaction_id as string;
    const before = await waitForStatus(api, scheduled, ['SCHEDULED']);
    await waitForStatus(api, sending, ['SENT', 'COMPLETED']);
    const messageId = (await api.get(`/api/v1/campaigns/${sending}/messages`)).body.items[0].message_id as string;
    expect(messageId).toMatch(/^b\d{5}-r\d{9}$/);
    expect((await api.put('/api/v1/suppressions/only-a@example.com', { reason: 'A only' })).status).toBe(200);

    const probes: [string, () => Promise<ApiResponse<any>>][] = [
      [`GET template`, () => other.get(`/api/v1/templates/${engine.templateId}`)],
      [`GET draft template`, () => other.get(`/api/v1/templates/${draft.body.template_id}`)],
      [`POST template confirm`, () => other.post(`/api/v1/templates/${draft.body.template_id}/confirm`)],
      [
        `POST campaign with A's template and file`,
        () => other.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId }),
      ],
      [`GET suppression`, () => other.get('/api/v1/suppressions/only-a@example.com')],
      [`DELETE suppression`, () => other.delete('/api/v1/suppressions/only-a@example.com')],
    ];
    for (const base of ['/api/v1/campaigns', '/api/v1/transactions']) {
      for (const id of [scheduled, sending]) {
        probes.push(
          [`GET ${base} status`, () => other.get(`${base}/${id}/status`)],
          [`GET ${base} messages`, () => other.get(`${base}/${id}/messages`)],
          [`GET ${base} message`, () => other.get(`${base}/${id}/messages/${messageId}`)],
          [`GET ${base} errors`, () => other.get(`${base}/${id}/errors`)],
          [`POST ${base} cancel`, () => other.post(`${base}/${id}/cancel`)],
          [`POST ${base} pause`, () => other.post(`${base}/${id}/pause`)],
          [`POST ${base} resume`, () => other.post(`${base}/${id}/resume`)],
          [`POST ${base} send-now`, () => other.post(`${base}/${id}/send-now`)],
          [`PATCH ${base} schedule`, () => other.patch(`${base}/${id}/schedule`, { send_at: new Date(Date.now() + 60_000).toISOString() })],
        );
      }
    }
    for (const [name, probe] of probes) {
      const res = await probe();
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(res.body.error.code, name).toBe('NOT_FOUND');
    }

    // Nothing moved: the scheduled campaign is as it was, the other one sent normally, the
    // draft is still a draft and A's suppression is still there.
    const after = (await api.get(`/api/v1/campaigns/${scheduled}/status`)).body;
    expect(after.status).toBe('SCHEDULED');
    expect(after.schedule).toEqual(before.schedule);
    expect(after.status_history).toEqual(before.status_history);
    const sent = await waitForStatus(api, sending, ['SENT', 'COMPLETED']);
    expect(sent.counts).toMatchObject({ sent: 2, invalid: 1 });
    expect((await mailOf(sending)).length).toBe(2);
    expect((await api.get(`/api/v1/templates/${draft.body.template_id}`)).body.status).toBe('PENDING_UPLOAD');
    expect((await api.get('/api/v1/suppressions/only-a@example.com')).status).toBe(200);
    // B's lists do not show A's data.
    expect((await other.get('/api/v1/suppressions')).body.items.map((s: any) => s.email)).not.toContain('only-a@example.com');

    // A can still control its own campaign.
    expect((await api.post(`/api/v1/campaigns/${scheduled}/cancel`)).status).toBe(202);
    await waitForStatus(api, scheduled, ['CANCELLED']);
  });

  it("refuses a cursor that points into another campaign's or tenant's partition", async () => {
    const mine = await startCampaign('email,first_name\ncur1@example.com,A\ncur2@example.com,B\n');
    await waitForStatus(api, mine, ['SENT', 'COMPLETED']);
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const forged = [
      cursor({ b: 1, k: { PK: 'BATCH#01SOMEONEELSE#b00001', SK: 'MESSAGE#b00001-r000000001' } }),
      cursor({ b: 'x' }),
      cursor({ b: 1e9 }),
      cursor({ a: 1 }),
      cursor([1, 2]),
      'not base64 at all %%%',
    ];
    for (const c of forged) {
      expectError(await api.get(`/api/v1/campaigns/${mine}/messages?cursor=${encodeURIComponent(c)}`), 400, 'INVALID_CURSOR');
    }
    expectError(
      await api.get(`/api/v1/campaigns/${mine}/errors?cursor=${cursor({ PK: 'TRANSACTION#other', SK: 'ERROR#0000000001' })}`),
      400,
      'INVALID_CURSOR',
    );
    expectError(
      await other.get(`/api/v1/suppressions?cursor=${cursor({ PK: 'SUPPRESSION#tenant-a', SK: 'EMAIL#a@example.com' })}`),
      400,
      'INVALID_CURSOR',
    );
    expectError(await api.get(`/api/v1/suppressions?cursor=${cursor({ a: 1 })}`), 400, 'INVALID_CURSOR');
    // A real cursor still pages.
    const first = await api.get(`/api/v1/campaigns/${mine}/messages?limit=1`);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api.get(`/api/v1/campaigns/${mine}/messages?limit=1&cursor=${first.body.next_cursor}`);
    expect(second.status).toBe(200);
    expect(second.body.items[0].message_id).not.toBe(first.body.items[0].message_id);
  });
});

describe('template injection', () => {
  const hostile = [
    { name: 'a nested loop of 10^12 iterations', html: '{% for i in (1..1000000) %}{% for j in (1..1000000) %}x{% endfor %}{% endfor %}' },
    {
      name: 'a string doubled 64 times',
      html: '{% assign s = "xxxxxxxxxx" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s }}',
    },
  ];

  for (const { name, html } of hostile) {
    it(`${name}: every message FAILED on a render limit, nothing sent, the worker still sends`, async () => {
      const created = await api.post('/api/v1/templates/presigned-url', {
        name,
        subject: 'Hi {{ first_name }}',
        from: 'sender@example.com',
      });
      await fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body: html });
      const confirmed = await api.post(`/api/v1/templates/${created.body.template_id}/confirm`);
      // Refusing it up front would be fine too; accepting it must not hurt anyone.
      expect([200, 422]).toContain(confirmed.status);
      if (confirmed.status === 422) return;

      const startedAt = Date.now();
      const id = await startCampaign('email,first_name\nloop1@example.com,A\nloop2@example.com,B\n', created.body.template_id);
      const final = await waitForStatus(api, id, ['SENT', 'COMPLETED', 'FAILED'], 60_000);
      expect(Date.now() - startedAt).toBeLessThan(30_000);
      expect(final.counts).toMatchObject({ sent: 0, failed: 2 });
      const messages = (await api.get(`/api/v1/campaigns/${id}/messages`)).body.items;
      expect(messages).toHaveLength(2);
      for (const m of messages) {
        expect(m.status).toBe('FAILED');
        expect(m.failure_reason).toMatch(/took longer than|too much memory/);
        const detail = (await api.get(`/api/v1/campaigns/${id}/messages/${m.message_id}`)).body;
        const failed = detail.status_history.find((h: any) => h.status === 'FAILED');
        expect(['RENDER_LIMIT', 'MEMORY_LIMIT']).toContain(failed.metadata.code);
      }
      expect(await mailOf(id)).toEqual([]);

      // The worker is fine: the next ordinary campaign sends.
      const next = await startCampaign('email,first_name\nafter-loop@example.com,Ada\n');
      expect((await waitForStatus(api, next, ['SENT', 'COMPLETED'], 60_000)).counts.sent).toBe(1);
      expect((await mailOf(next)).map((m) => m.subject)).toEqual(['Hi Ada']);
    });
  }

  it('refuses line breaks in the subject and From of a template', async () => {
    expectError(
      await api.post('/api/v1/templates/presigned-url', { name: 'x', subject: 'Hi\r\nBcc: victim@example.com', from: 'a@example.com' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await api.post('/api/v1/templates/presigned-url', { name: 'x', subject: 'Hi', from: 'a@example.com\r\nBcc: victim@example.com' }),
      400,
      'VALIDATION_FAILED',
    );
  });
});

describe('recipient data in headers and HTML', () => {
  it('a CR/LF in a subject placeholder adds no header; HTML in a placeholder is escaped in the HTML body', async () => {
    const csv =
      'email,first_name\r\n' +
      'inject@example.com,"x\r\nBcc: victim@example.com"\r\n' +
      'inject2@example.com,"y\nCc: victim2@example.com\rX-Evil: 1"\r\n' +
      'markup@example.com,"<script>alert(1)</script><b>bold</b> & ""quoted"""\r\n';
    const id = await startCampaign(csv);
    const final = await waitForStatus(api, id, ['SENT', 'COMPLETED', 'FAILED']);
    expect(final.counts).toMatchObject({ sent: 3, invalid: 0 });
    const mail = await waitFor('three mails', async () => {
      const found = await mailOf(id);
      return found.length === 3 ? found : undefined;
    });
    const to = (address: string) => mail.find((m) => m.destination.to.includes(address))!;

    for (const [address, subject] of [
      ['inject@example.com', 'Hi x Bcc: victim@example.com'],
      ['inject2@example.com', 'Hi y Cc: victim2@example.com X-Evil: 1'],
    ] as const) {
      const m = to(address);
      expect(m.subject).toBe(subject);
      expect(m.subject).not.toMatch(/[\r\n]/);
      expect(m.destination).toEqual({ to: [address], cc: [], bcc: [] });
      for (const name of ['Bcc', 'Cc', 'X-Evil']) expect(header(m, name)).toBeUndefined();
    }
    // Nobody else got anything from this campaign.
    expect(mail.flatMap((m) => [...m.destination.to, ...m.destination.cc, ...m.destination.bcc]).sort()).toEqual([
      'inject2@example.com',
      'inject@example.com',
      'markup@example.com',
    ]);
    expect(
      (await sesInbox(engine.config)).some((m) =>
        [...m.destination.to, ...m.destination.cc, ...m.destination.bcc].some((a) => a.startsWith('victim')),
      ),
    ).toBe(false);

    const markup = to('markup@example.com');
    expect(markup.body.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;');
    expect(markup.body.html).not.toContain('<script>');
    expect(markup.body.html).not.toContain('<b>');
  });
});

describe('CSV oddities', () => {
  it('reads a BOM, CRLF line ends and quoted newlines, commas and quotes', async () => {
    const csv = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('email,first_name\r\n'),
      Buffer.from('odd1@example.com,"Two\r\nlines"\r\n'),
      Buffer.from('odd2@example.com,"Comma, inside"\r\n'),
      Buffer.from('odd3@example.com,"Say ""hi"""\r\n'),
      Buffer.from('odd4@example.com,"Unix\nnewline"'), // and no line end at the very end
    ]);
    const id = await startCampaign(csv);
    const final = await waitForStatus(api, id, ['SENT', 'COMPLETED', 'FAILED']);
    expect(final.counts).toMatchObject({ sent: 4, invalid: 0 });
    const subjects = (await mailOf(id)).map((m) => m.subject).sort();
    expect(subjects).toEqual(['Hi Comma, inside', 'Hi Say "hi"', 'Hi Two lines', 'Hi Unix newline']);
  });

  it('refuses 10,000 columns at campaign start with a clear 422', async () => {
    const header = ['email', ...Array.from({ length: 9_999 }, (_, i) => `c${i}`)].join(',');
    const fileId = await uploadCsv(api, `${header}\nwide@example.com${',x'.repeat(9_999)}\n`);
    const res = await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId });
    expectError(res, 422, 'TOO_MANY_COLUMNS');
    expect(res.body.error.message).toMatch(/10000 columns; at most 1000/);
  });

  it('rejects the row with a 2 MB cell and the row with binary bytes, and sends the others', async () => {
    const csv = Buffer.concat([
      Buffer.from('email,first_name\n'),
      Buffer.from('fine1@example.com,Ada\n'),
      Buffer.from(`huge@example.com,"${'x'.repeat(2 * 1024 * 1024)}"\n`),
      Buffer.from('binary@example.com,'),
      Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x41]),
      Buffer.from('\n'),
      Buffer.from('fine2@example.com,Zoë\n'),
    ]);
    const id = await startCampaign(csv);
    const final = await waitForStatus(api, id, ['SENT', 'COMPLETED', 'FAILED']);
    expect(final.status).not.toBe('FAILED');
    expect(final.counts).toMatchObject({ sent: 2, invalid: 2 });
    const errors = await api.get(`/api/v1/campaigns/${id}/errors`);
    expect(errors.body.items.map((e: any) => [e.row, e.email, e.code])).toEqual([
      [2, 'huge@example.com', 'CELL_TOO_LARGE'],
      [3, 'binary@example.com', 'INVALID_ENCODING'],
    ]);
    expect((await mailOf(id)).map((m) => m.subject).sort()).toEqual(['Hi Ada', 'Hi Zoë']);
  });
});

describe('malformed requests', () => {
  it('bad percent-encoding in a path is 400 MALFORMED_PATH', async () => {
    for (const path of [
      '/api/v1/campaigns/%E0%A4%A/status',
      '/api/v1/campaigns/%/messages',
      '/api/v1/templates/%C0%AF',
      '/api/v1/suppressions/%ZZ@example.com',
    ]) {
      expectError(await raw(path), 400, 'MALFORMED_PATH');
    }
  });

  it('ids too long or of characters no id has are 404 NOT_FOUND, without echoing them whole', async () => {
    const long = 'a'.repeat(5_000);
    for (const path of [
      `/api/v1/campaigns/${long}/status`,
      `/api/v1/campaigns/${long}/messages/${long}`,
      `/api/v1/transactions/${long}/errors`,
      `/api/v1/templates/${long}`,
      `/api/v1/campaigns/${encodeURIComponent('x\u0000y')}/status`,
      `/api/v1/campaigns/${encodeURIComponent('../../etc/passwd')}/status`,
      `/api/v1/templates/${encodeURIComponent('☃'.repeat(100))}`,
    ]) {
      const res = await raw(path);
      expectError(res, 404, 'NOT_FOUND');
      expect(res.body.error.message.length).toBeLessThan(200);
    }
    expectError(await raw(`/api/v1/templates/${long}/confirm`, { method: 'POST' }), 404, 'NOT_FOUND');
    expectError(await raw(`/api/v1/campaigns/${long}/cancel`, { method: 'POST' }), 404, 'NOT_FOUND');
    expectError(await raw(`/api/v1/suppressions/${long}@example.com`), 400, 'INVALID_EMAIL');
  });

  it('query parameters of the wrong type or size are 400', async () => {
    const id = await startCampaign('email,first_name\nq@example.com,Q\n');
    for (const query of [
      'limit=abc',
      'limit=1e400',
      'limit=-1',
      'limit=0',
      'limit=1.5',
      'limit=99999999999999999999',
      'limit=1&limit=2',
      'status=NOPE',
      'status=SENT&status=FAILED',
      `cursor=${'x'.repeat(5000)}`,
    ]) {
      expectError(await api.get(`/api/v1/campaigns/${id}/messages?${query}`), 400, 'VALIDATION_FAILED');
    }
    expectError(await api.get(`/api/v1/campaigns/${id}/errors?limit=${'9'.repeat(400)}`), 400, 'VALIDATION_FAILED');
    expectError(await api.get('/api/v1/suppressions?limit=NaN'), 400, 'VALIDATION_FAILED');
    // Unknown parameters are ignored.
    expect((await api.get(`/api/v1/campaigns/${id}/messages?surprise=1&cursor[x]=1`)).status).toBe(200);
  });

  it('huge numbers and odd values in bodies are 400 VALIDATION_FAILED', async () => {
    const fileId = await uploadCsv(api, 'email,first_name\nn@example.com,N\n');
    for (const throttle of [
      { emails_per_minute: 1e308 },
      { emails_per_minute: -1 },
      { emails_per_minute: 1.5 },
      { emails_per_hour: 2 ** 64 },
      { emails_per_minute: '10' },
    ]) {
      expectError(
        await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, throttle }),
        400,
        'VALIDATION_FAILED',
      );
    }
    expectError(
      await api.post('/api/v1/campaigns', '{"template_id":"a","file_id":"b","throttle":{"emails_per_minute":1' + '0'.repeat(400) + '}}'),
      400,
      'VALIDATION_FAILED',
    );
    for (const sendAt of ['tomorrow', '2026-13-45T99:99:99Z', '', 12345]) {
      expectError(
        await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, schedule: { send_at: sendAt } }),
        400,
        'VALIDATION_FAILED',
      );
    }
    expectError(await api.post('/api/v1/campaigns', 'null'), 400, 'INVALID_JSON');
    expectError(await api.post('/api/v1/campaigns', '"a string"'), 400, 'INVALID_JSON');
    expectError(await api.post('/api/v1/campaigns', '[]'), 400, 'VALIDATION_FAILED');
    expectError(
      await api.post('/api/v1/campaigns', '{"__proto__":{"admin":true},"template_id":"x","file_id":"y"}'),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId }, { 'Idempotency-Key': 'k'.repeat(300) }),
      400,
      'INVALID_IDEMPOTENCY_KEY',
    );
  });

  it('odd Content-Types and encodings get a 4xx, never a 5xx', async () => {
    const body = JSON.stringify({ name: 'ct', subject: 's', from: 'a@example.com' });
    // JSON is read whatever the Content-Type says.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'image/png', 'nonsense']) {
      expect((await raw('/api/v1/templates/presigned-url', { method: 'POST', headers: { 'content-type': type }, body })).status).toBe(201);
    }
    expectError(
      await raw('/api/v1/templates/presigned-url', {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--',
      }),
      400,
      'INVALID_JSON',
    );
    expectError(
      await raw('/api/v1/templates/presigned-url', {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=latin1' },
        body,
      }),
      415,
      'UNSUPPORTED_ENCODING',
    );
    expectError(
      await raw('/api/v1/templates/presigned-url', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'compress' },
        body,
      }),
      415,
      'UNSUPPORTED_ENCODING',
    );
    const broken = await raw('/api/v1/templates/presigned-url', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toEqual(expect.any(String));
    // A body on a GET is not read.
    expect(
      (await raw(`/api/v1/templates/${engine.templateId}`, { method: 'GET', headers: { 'content-type': 'application/json' } })).status,
    ).toBe(200);
  });

  it('an oversized JSON body is 413 BODY_TOO_LARGE, oversized headers 431 with the error body', async () => {
    expectError(await api.post('/api/v1/campaigns', { template_id: 'x'.repeat(100_000), file_id: 'y' }), 413, 'BODY_TOO_LARGE');
    expectError(await api.put('/api/v1/suppressions/big@example.com', { reason: 'r'.repeat(70_000) }), 413, 'BODY_TOO_LARGE');
    const { gzipSync } = await import('node:zlib');
    // A small gzip that inflates past the limit is measured after inflating.
    const bomb = gzipSync(Buffer.from(JSON.stringify({ name: 'x'.repeat(5_000_000), subject: 's', from: 'a@example.com' })));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expectError(
      await raw('/api/v1/templates/presigned-url', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: bomb,
      }),
      413,
      'BODY_TOO_LARGE',
    );
    expectError(await raw(`/api/v1/suppressions?cursor=${'c'.repeat(20_000)}`), 431, 'HEADERS_TOO_LARGE');
    expectError(await raw('/api/v1/suppressions', { headers: { 'x-padding': 'p'.repeat(20_000) } }), 431, 'HEADERS_TOO_LARGE');
  });
});

describe('keys and floods', () => {
  it('no key is 401 MISSING_API_KEY; an unknown or absurd key is 401 UNKNOWN_API_KEY', async () => {
    const anonymous = engine.apiFor(undefined);
    expectError(await anonymous.get('/api/v1/suppressions'), 401, 'MISSING_API_KEY');
    expectError(await anonymous.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: 'x' }), 401, 'MISSING_API_KEY');
    expectError(await anonymous.get(`/api/v1/campaigns/x/status`), 401, 'MISSING_API_KEY');
    expectError(await engine.apiFor('k'.repeat(8_000)).get('/api/v1/suppressions'), 401, 'UNKNOWN_API_KEY');
    expectError(await engine.apiFor("' OR '1'='1").get('/api/v1/suppressions'), 401, 'UNKNOWN_API_KEY');
  });

  it('a flood from one key gets 429 RATE_LIMITED with Retry-After; other tenants are not slowed', async () => {
    const limited = await startApi(testConfig({ API_RATE_LIMIT_PER_MINUTE: '20' }));
    try {
      const flood = await Promise.all(
        Array.from({ length: 30 }, async () => {
          const res = await fetch(`${limited.url}/api/v1/suppressions`, { headers: { 'x-api-key': TENANTS.a.apiKey } });
          return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
        }),
      );
      expect(flood.filter((r) => r.status === 200)).toHaveLength(20);
      const refused = flood.filter((r) => r.status === 429);
      expect(refused).toHaveLength(10);
      for (const r of refused) {
        expect(r.body.error.code).toBe('RATE_LIMITED');
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
      }
      // Tenant B has its own budget.
      expect((await apiClient(limited.url, TENANTS.b.apiKey).get('/api/v1/suppressions')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
