// Issue 15, items 2 and 3, over HTTP on the local stack: template versions (uploaded and
// confirmed one by one, immutable once confirmed, numbered uniquely under concurrency, pinned by
// the campaigns that use them), the tenant's list of templates, preview (the very message the
// SES emulator receives for the same row) and test send (at most five, suppressions honoured,
// marked as a test, no campaign, audited, rate-limited).
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  header,
  sesInbox,
  TENANTS,
  uploadCsv,
  uploadTemplate,
  useEngine,
  waitFor,
  waitForStatus,
  type ApiClient,
} from '../support/harness';

// A low limit, so the test reaches it: each address sent counts one.
const TEST_SEND_LIMIT = 7;
const engine = useEngine({ config: { TEST_SEND_MAX_PER_HOUR: String(TEST_SEND_LIMIT) } });
const api = engine.api;
const tenantB = engine.apiFor(TENANTS.b.apiKey);

/** Creates version n of the template, uploads its HTML; confirms it when asked. */
async function newVersion(client: ApiClient, templateId: string, change: Record<string, unknown>, html: string, confirm = true) {
  const created = await client.post(`/api/v1/templates/${templateId}/versions`, change);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const put = await fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body: html });
  expect(put.ok).toBe(true);
  const version = created.body.version as number;
  if (!confirm) return { version };
  const confirmed = await client.post(`/api/v1/templates/${templateId}/versions/${version}/confirm`);
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  return { version, confirmed: confirmed.body };
}

const mailsOf = async (transactionId: string) =>
  (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);

describe('template versions', () => {
  it(
    'a campaign sends the version it pinned; the default is the latest confirmed; confirmed versions are immutable',
    { timeout: 240_000 },
    async () => {
      const templateId = await uploadTemplate(api, { subject: 'V1 for {{ first_name }}', html: '<p>one {{ first_name }}</p>' });
      const { version: two } = await newVersion(
        api,
        templateId,
        { subject: 'V2 for {{ first_name }}' },
        '<p>two {{ first_name }}</p>',
        false,
      );
      expect(two).toBe(2);

      // Version 2 is pending: asking for it is a 409, a version that does not exist a 404, and the default is still version 1.
      const id = randomUUID().slice(0, 8);
      const csv = (who: string) => uploadCsv(api, `email,first_name\n${who}-${id}@example.com,Ada\n`);
      const pending = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await csv('p'), template_version: 2 });
      expect(pending.status, JSON.stringify(pending.body)).toBe(409);
      expect(pending.body.error).toMatchObject({
        code: 'TEMPLATE_VERSION_NOT_CONFIRMED',
        details: { version: 2, status: 'PENDING_UPLOAD' },
      });
      const missing = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await csv('m'), template_version: 9 });
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('TEMPLATE_VERSION_NOT_FOUND');
      // Started now, sending in a few seconds: by then version 2 is confirmed, and it still sends version 1.
      const sendAt = new Date(Date.now() + 8_000).toISOString();
      const first = await api.post('/api/v1/campaigns', {
        template_id: templateId,
        file_id: await csv('one'),
        schedule: { send_at: sendAt },
      });
      expect(first.status, JSON.stringify(first.body)).toBe(202);

      const confirmed = await api.post(`/api/v1/templates/${templateId}/versions/2/confirm`);
      expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
      expect(confirmed.body).toEqual({
        template_id: templateId,
        version: 2,
        status: 'READY',
        placeholders: ['first_name'],
        required_placeholders: ['first_name'],
        optional_placeholders: [],
      });
      // A repeat confirm answers the same; a confirmed version takes no more uploads (409).
      expect((await api.post(`/api/v1/templates/${templateId}/versions/2/confirm`)).body).toEqual(confirmed.body);
      for (const n of [1, 2]) {
        const again = await api.post(`/api/v1/templates/${templateId}/versions/${n}/presigned-url`);
        expect(again.status).toBe(409);
        expect(again.body.error.code).toBe('TEMPLATE_VERSION_CONFIRMED');
      }

      const second = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await csv('two') });
      expect(second.status, JSON.stringify(second.body)).toBe(202);
      const statuses = await Promise.all(
        [first, second].map((c) => waitForStatus(api, c.body.transaction_id as string, ['SENT', 'FAILED'], 180_000)),
      );
      expect(statuses.map((s) => [s.status, s.template_version, s.counts.sent])).toEqual([
        ['SENT', 1, 1],
        ['SENT', 2, 1],
      ]);
      const [mailOne] = await mailsOf(first.body.transaction_id);
      const [mailTwo] = await mailsOf(second.body.transaction_id);
      expect(mailOne).toMatchObject({ subject: 'V1 for Ada', body: { html: '<p>one Ada</p>' } });
      expect(mailTwo).toMatchObject({ subject: 'V2 for Ada', body: { html: '<p>two Ada</p>' } });

      // The template shows every field it had, and its versions.
      const shown = await api.get(`/api/v1/templates/${templateId}`);
      expect(shown.body).toMatchObject({
        template_id: templateId,
        subject: 'V1 for {{ first_name }}',
        status: 'READY',
        latest_version: 2,
        latest_confirmed_version: 2,
      });
      expect(
        (shown.body.versions as { version: number; status: string; subject: string }[]).map((v) => [v.version, v.status, v.subject]),
      ).toEqual([
        [1, 'READY', 'V1 for {{ first_name }}'],
        [2, 'READY', 'V2 for {{ first_name }}'],
      ]);

      // Another tenant finds none of it.
      for (const response of [
        await tenantB.get(`/api/v1/templates/${templateId}`),
        await tenantB.get(`/api/v1/templates/${templateId}/versions/2`),
        await tenantB.post(`/api/v1/templates/${templateId}/versions`, {}),
        await tenantB.post(`/api/v1/templates/${templateId}/versions/2/confirm`),
        await tenantB.post(`/api/v1/templates/${templateId}/preview`, { data: { first_name: 'Ada' } }),
        await tenantB.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(tenantB, 'email\nx@example.com\n') }),
      ]) {
        expect(response.status, JSON.stringify(response.body)).toBe(404);
      }
    },
  );

  it('numbers versions created at once uniquely', { timeout: 120_000 }, async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>hi</p>' });
    const created = await Promise.all(Array.from({ length: 6 }, () => api.post(`/api/v1/templates/${templateId}/versions`, {})));
    expect(created.map((c) => c.status)).toEqual(Array(6).fill(201));
    expect(created.map((c) => c.body.version as number).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7]);
    const shown = await api.get(`/api/v1/templates/${templateId}`);
    expect(shown.body).toMatchObject({ latest_version: 7, latest_confirmed_version: 1 });
  });

  it("lists the tenant's templates newest first with an opaque cursor", { timeout: 120_000 }, async () => {
    const older = await uploadTemplate(api, { subject: 'older', html: '<p>a</p>' });
    const newer = await uploadTemplate(api, { subject: 'newer', html: '<p>b</p>' });
    // Paged two at a time; other tests of the file add templates too, so both are looked for.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await api.get(`/api/v1/templates?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...(page.body.items as { template_id: string }[]).map((t) => t.template_id));
      cursor = page.body.next_cursor as string | null;
    } while (cursor && !seen.includes(older));
    expect(seen.indexOf(newer)).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf(newer)).toBeLessThan(seen.indexOf(older));
    const listedB = await tenantB.get('/api/v1/templates?limit=100');
    expect((listedB.body.items as { template_id: string }[]).some((t) => t.template_id === newer || t.template_id === older)).toBe(false);
    // Tenant a's cursor is no cursor for tenant b.
    const first = await api.get('/api/v1/templates?limit=1');
    const forged = await tenantB.get(`/api/v1/templates?cursor=${first.body.next_cursor}`);
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe('INVALID_CURSOR');
  });
});

describe('preview and test send', () => {
  const subject = 'Hi {{ nickname | default: first_name }}';
  const html =
    '<p>{% if company %}{{ company | escape }} · {% endif %}{{ first_name }}</p>\n' +
    '<p>{{ "2024-03-05" | date: "%b %d, %Y" }} {{ email }}</p><a href="{{ unsubscribe_url }}">leave</a>';
  const text = '{{ first_name }} at {{ company | default: "home" }}';

  it('previews exactly what a send delivers for the same row', { timeout: 180_000 }, async () => {
    const templateId = await uploadTemplate(api, { subject, html, text });
    const address = `pv-${randomUUID().slice(0, 8)}@example.com`;
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: await uploadCsv(api, `email,first_name,company\n${address},Ada,A & B\n`),
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect((await waitForStatus(api, started.body.transaction_id, ['SENT', 'FAILED'])).status).toBe('SENT');
    const [mail] = await mailsOf(started.body.transaction_id);

    const previewed = await api.post(`/api/v1/templates/${templateId}/preview`, {
      data: { email: address, first_name: 'Ada', company: 'A & B' },
    });
    expect(previewed.status, JSON.stringify(previewed.body)).toBe(200);
    expect(previewed.body.html).toContain('href="{{unsubscribe_url}}"');
    // The link is the one thing a campaign message has of its own.
    const link = /^<(.+)>$/.exec(header(mail!, 'List-Unsubscribe')!)![1]!;
    expect({ ...previewed.body, html: previewed.body.html.replace('{{unsubscribe_url}}', link) }).toEqual({
      template_id: templateId,
      version: 1,
      subject: mail!.subject,
      html: mail!.body.html,
      text: mail!.body.text,
    });
    expect(previewed.body).toMatchObject({ subject: 'Hi Ada', text: 'Ada at A & B' });
    expect(previewed.body.html).toContain('A &amp; B · Ada');
  });

  it('reports missing placeholders by name, and render errors with part, line and column', { timeout: 120_000 }, async () => {
    const templateId = await uploadTemplate(api, { subject, html, text });
    const missing = await api.post(`/api/v1/templates/${templateId}/preview`, { data: { company: 'x', first_name: ' ' } });
    expect(missing.status).toBe(422);
    expect(missing.body.error).toMatchObject({ code: 'MISSING_PLACEHOLDERS', details: { placeholders: ['first_name'] } });

    // A loop whose length comes from the row: fine for a small count, past the render's memory limit for a huge one.
    const loop = await uploadTemplate(api, { subject: 'Loop', html: '<ul>\n  {% for i in (1..count) %}<li>{{ i }}</li>{% endfor %}</ul>' });
    const small = await api.post(`/api/v1/templates/${loop}/preview`, { data: { count: '2' } });
    expect(small.body).toMatchObject({ subject: 'Loop', html: '<ul>\n  <li>1</li><li>2</li></ul>', text: null });
    const huge = await api.post(`/api/v1/templates/${loop}/preview`, { data: { count: '100000000' } });
    expect(huge.status, JSON.stringify(huge.body)).toBe(422);
    expect(huge.body.error).toMatchObject({ code: 'MEMORY_LIMIT', details: { part: 'html', line: 2, column: 3 } });
  });

  it(
    'test-sends to at most five, skips suppressed addresses, marks the mail as a test, counts in no campaign, is audited and limited',
    { timeout: 180_000 },
    async () => {
      const templateId = await uploadTemplate(api, { subject, html, text });
      const id = randomUUID().slice(0, 8);
      const to = Array.from({ length: 5 }, (_, i) => `t${i}-${id}@example.com`);
      expect((await api.put(`/api/v1/suppressions/${to[4]}`, { reason: 'MANUAL' })).status).toBeLessThan(300);

      // Sending mail needs campaigns:write besides the templates scope, which is enough to preview.
      const key = await api.post('/api/v1/api-keys', { name: `templates only ${id}`, scopes: ['templates:read', 'templates:write'] });
      expect(key.status, JSON.stringify(key.body)).toBe(201);
      const templatesOnly = engine.apiFor(key.body.secret as string);
      expect((await templatesOnly.post(`/api/v1/templates/${templateId}/preview`, { data: { first_name: 'Ada' } })).status).toBe(200);
      const denied = await templatesOnly.post(`/api/v1/templates/${templateId}/test-send`, {
        to: to.slice(0, 1),
        data: { first_name: 'Ada' },
      });
      expect(denied.status).toBe(403);
      expect(denied.body.error.details).toEqual({ scope: 'campaigns:write' });

      const six = await api.post(`/api/v1/templates/${templateId}/test-send`, {
        to: [...to, `t5-${id}@example.com`],
        data: { first_name: 'Ada' },
      });
      expect(six.status).toBe(400);

      const sent = await api.post(`/api/v1/templates/${templateId}/test-send`, { to, data: { first_name: 'Ada' } });
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
      expect(sent.body).toMatchObject({ template_id: templateId, version: 1, test: true });
      expect((sent.body.results as { to: string; status: string }[]).map((r) => [r.to, r.status])).toEqual([
        ...to.slice(0, 4).map((a) => [a, 'sent']),
        [to[4], 'suppressed'],
      ]);
      const inbox = await waitFor('the four test mails', async () => {
        const mails = (await sesInbox(engine.config)).filter((m) => m.destination.to[0]?.endsWith(`-${id}@example.com`));
        return mails.length >= 4 ? mails : undefined;
      });
      expect(inbox.map((m) => m.destination.to[0]).sort()).toEqual(to.slice(0, 4));
      for (const mail of inbox) {
        expect(header(mail, 'X-Engine-Test')).toBe('true');
        // No campaign: no transaction, batch or message id, and no unsubscribe header to a campaign.
        expect(header(mail, 'X-Transaction-Id')).toBeUndefined();
        expect(header(mail, 'List-Unsubscribe')).toBeUndefined();
        expect(mail).toMatchObject({ subject: 'Hi Ada', body: { text: 'Ada at home' } });
        expect(mail.body.html).toContain(mail.destination.to[0]);
      }

      // On record: the action, the template, how many recipients; never an address.
      const audit = await api.get('/api/v1/audit?action=templates.test-send&limit=10');
      const entries = audit.body.items as { target: string; outcome: number; details?: Record<string, unknown> }[];
      const entry = entries.find((e) => e.target === templateId && e.outcome === 200);
      expect(entry?.details).toEqual({ recipients: 5, sent: 4 });
      expect(JSON.stringify(entries)).not.toContain(id);

      // A row the template cannot render sends nothing and counts nothing.
      const noRow = await api.post(`/api/v1/templates/${templateId}/test-send`, { to: [`t9-${id}@example.com`] });
      expect(noRow.status).toBe(422);
      expect(noRow.body.error.code).toBe('MISSING_PLACEHOLDERS');
      // Four of seven used this hour: five more would pass the limit, and none of them is sent.
      const limited = await fetch(`${engine.url}/api/v1/templates/${templateId}/test-send`, {
        method: 'POST',
        headers: { 'x-api-key': TENANTS.a.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ to: to.slice(0, 4).concat(`t9-${id}@example.com`), data: { first_name: 'Bo' } }),
      });
      expect(limited.status).toBe(429);
      expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('TEST_SEND_LIMIT');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // Three left: three addresses still go.
      const rest = await api.post(`/api/v1/templates/${templateId}/test-send`, { to: to.slice(0, 3), data: { first_name: 'Cy' } });
      expect(rest.status, JSON.stringify(rest.body)).toBe(200);
      expect((await sesInbox(engine.config)).some((m) => m.subject === 'Hi Bo')).toBe(false);
    },
  );
});
