// Issue 15 item 4 over HTTP on the local stack: confirm says which placeholders a row must fill
// and which it may leave out; a campaign whose rows lack the optional ones sends with the
// defaults, escaped once, dates in UTC; a dotted variable the CSV header cannot supply is
// refused when the campaign starts, with MISSING_COLUMNS, before any message exists.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { header, sesInbox, uploadCsv, useEngine, waitForStatus, type ApiClient } from '../support/harness';

const engine = useEngine();
const api = engine.api;

/** Creates and uploads a template, and returns the first confirm's answer (uploadTemplate keeps only the id). */
async function confirmNew(client: ApiClient, template: { subject: string; html: string; text?: string }) {
  const created = await client.post('/api/v1/templates/presigned-url', {
    name: 'liquid',
    from: 'sender@example.com',
    ...template,
    html: undefined,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const put = await fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body: template.html });
  expect(put.ok).toBe(true);
  const templateId = created.body.template_id as string;
  return { templateId, confirmed: await client.post(`/api/v1/templates/${templateId}/confirm`) };
}

const mailsOf = async (transactionId: string) =>
  (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);

describe('Liquid as template authors expect it', () => {
  it('confirm lists required and optional placeholders; rows without the optional ones send with the defaults', async () => {
    const { templateId, confirmed } = await confirmNew(api, {
      subject: 'Hi {{ nickname | default: "there" }}',
      html:
        '<p>{% if company %}{{ company | escape }} · {% endif %}{{ first_name }}</p>' +
        '<p>{{ note | newline_to_br }}</p><p>{{ "2024-03-05" | date: "%b %d, %Y" }}</p>',
      text: '{% unless company == blank %}{{ company }}: {% endunless %}{{ first_name }}',
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    const lists = {
      placeholders: ['company', 'first_name', 'nickname', 'note'],
      required_placeholders: ['first_name', 'note'],
      optional_placeholders: ['company', 'nickname'],
    };
    expect(confirmed.body).toEqual({ template_id: templateId, status: 'READY', ...lists });
    // Stored with the template: a second confirm and the template itself say the same.
    expect((await api.post(`/api/v1/templates/${templateId}/confirm`)).body).toEqual(confirmed.body);
    expect((await api.get(`/api/v1/templates/${templateId}`)).body).toMatchObject(lists);

    const id = randomUUID().slice(0, 8);
    // No nickname column at all; Ada's company is blank.
    const csv = `email,first_name,note,company\nada-${id}@example.com,Ada,"line one\nline <two>",\nbo-${id}@example.com,Bo,hi,A & B\n`;
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(api, csv) });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const final = await waitForStatus(api, started.body.transaction_id, ['SENT', 'FAILED']);
    expect(final.status).toBe('SENT');
    expect(final.counts).toMatchObject({ sent: 2, invalid: 0, failed: 0 });

    const mails = await mailsOf(started.body.transaction_id);
    const to = (address: string) => mails.find((m) => m.destination.to[0] === address)!;
    const ada = to(`ada-${id}@example.com`);
    expect(ada.subject).toBe('Hi there');
    expect(ada.body.html).toBe('<p>Ada</p><p>line one<br />\nline &lt;two&gt;</p><p>Mar 05, 2024</p>');
    expect(ada.body.text).toBe('Ada');
    const bo = to(`bo-${id}@example.com`);
    expect(bo.subject).toBe('Hi there');
    expect(bo.body.html).toBe('<p>A &amp; B · Bo</p><p>hi</p><p>Mar 05, 2024</p>');
    expect(bo.body.text).toBe('A & B: Bo');
  });

  it('refuses a dotted variable the header cannot supply at campaign start, with MISSING_COLUMNS, and sends it once the column is named', async () => {
    const { templateId, confirmed } = await confirmNew(api, { subject: 'Hi {{ user.name }}', html: '<p>{{ user.name }}</p>' });
    expect(confirmed.body).toMatchObject({ placeholders: ['user'], required_placeholders: ['user.name'], optional_placeholders: [] });

    const id = randomUUID().slice(0, 8);
    const refused = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: await uploadCsv(api, `email,user\nx-${id}@example.com,Ada\n`),
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'MISSING_COLUMNS', details: { variables: ['user.name'] } });
    expect(refused.body.error.message).toContain('the column "user" holds text');
    expect(refused.body.transaction_id).toBeUndefined();

    const sent = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: await uploadCsv(api, `email,user.name\ny-${id}@example.com,Ada\n`),
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect((await waitForStatus(api, sent.body.transaction_id, ['SENT', 'FAILED'])).status).toBe('SENT');
    const [mail] = await mailsOf(sent.body.transaction_id);
    expect(mail).toMatchObject({ subject: 'Hi Ada', body: { html: '<p>Ada</p>' } });
    // The refused campaign never reached the mail server.
    expect((await sesInbox(engine.config)).some((m) => m.destination.to[0] === `x-${id}@example.com`)).toBe(false);
  });

  it('refuses at confirm a template that reads a placeholder both as text and as fields', async () => {
    const { confirmed } = await confirmNew(api, { subject: 'Hi {{ user }}', html: '<p>{{ user.name }}</p>' });
    expect(confirmed.status).toBe(422);
    expect(confirmed.body.error).toMatchObject({ code: 'PLACEHOLDER_CONFLICT', details: { part: 'subject', line: 1, column: 7 } });
  });
});
