// Issue 3, end to end over HTTP on the real local stack: presigned uploads, a campaign of
// 1,000 rows (10 invalid, 5 duplicates, 3 suppressed), personalised mail in the SES inbox,
// exact counts, the errors report and signed webhooks in order.
import { describe, expect, it } from 'vitest';
import { header, sesInbox, startWebhookReceiver, TENANTS, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';

const engine = useEngine();
const api = engine.api;

function buildCsv() {
  const rows: string[] = ['email,first_name,company'];
  const valid: { email: string; name: string }[] = [];
  for (let i = 0; i < 982; i++) {
    const email = `person${i}@example.com`;
    valid.push({ email, name: `Name${i}` });
    rows.push(`${email},Name${i},"Acme, Inc."`);
  }
  const suppressed = ['blocked1@example.com', 'blocked2@example.com', 'blocked3@example.com'];
  for (const email of suppressed) rows.push(`${email},Blocked,Acme`);
  for (let i = 0; i < 5; i++) rows.push(`PERSON${i}@Example.com,Duplicate,Acme`);
  const invalid = [
    'not-an-email',
    'a@b',
    '@example.com',
    'x@@example.com',
    'spaces in@example.com',
    'x@-bad.com',
    'x@bad-.com',
    'x@.com',
    'x.@example.com',
    '',
  ];
  for (const email of invalid) rows.push(`${email},Invalid,Acme`);
  return { csv: rows.join('\r\n') + '\r\n', valid, suppressed, invalid };
}

describe('campaign from upload to SENT', () => {
  it('sends one personalised email per valid recipient with exact counts and ordered signed webhooks', async () => {
    const { csv, valid, suppressed } = buildCsv();
    for (const email of suppressed) expect((await api.put(`/api/v1/suppressions/${email}`, { reason: 'TEST' })).status).toBe(200);
    const hooks = await startWebhookReceiver(TENANTS.a.webhookSecret);
    try {
      const templateId = await uploadTemplate(api, {
        subject: 'Hello {{ first_name }}',
        html: '<p>Hi {{ first_name }} from {{ company }}</p>',
        text: 'Hi {{ first_name }}',
      });
      const template = await api.get(`/api/v1/templates/${templateId}`);
      expect(template.body.placeholders).toEqual(['company', 'first_name']);
      const fileId = await uploadCsv(api, csv);
      const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, callback_url: hooks.url });
      expect(started.status).toBe(202);
      expect(started.body.status).toBe('ACCEPT');
      const id = started.body.transaction_id as string;

      const final = await waitForStatus(api, id, ['SENT', 'FAILED'], 180_000);
      expect(final.status).toBe('SENT');
      expect(final.progress).toMatchObject({ total_messages: 985, processed_messages: 985, percentage: 100 });
      expect(final.counts).toMatchObject({ sent: 982, suppressed: 3, invalid: 15, failed: 0 });

      const mine = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);
      expect(mine).toHaveLength(982);
      const byRecipient = new Map(mine.map((e) => [e.destination.to[0], e]));
      expect(byRecipient.size).toBe(982);
      for (const { email, name } of valid) {
        const mail = byRecipient.get(email);
        expect(mail?.subject).toBe(`Hello ${name}`);
        expect(mail?.body.html).toBe(`<p>Hi ${name} from Acme, Inc.</p>`);
      }
      for (const email of suppressed) expect(byRecipient.has(email)).toBe(false);

      const errors = await api.get(`/api/v1/campaigns/${id}/errors?limit=100`);
      expect(errors.body.items).toHaveLength(15);
      const codes = (errors.body.items as { code: string }[]).map((e) => e.code);
      expect(codes.filter((c) => c === 'DUPLICATE')).toHaveLength(5);
      expect(codes.filter((c) => c === 'INVALID_EMAIL')).toHaveLength(10);

      const suppressedMessages = await api.get(`/api/v1/campaigns/${id}/messages?status=SUPPRESSED`);
      expect((suppressedMessages.body.items as { recipient_email: string }[]).map((m) => m.recipient_email).sort()).toEqual(suppressed);
      const one = await api.get(
        `/api/v1/campaigns/${id}/messages/${(suppressedMessages.body.items as { message_id: string }[])[0]!.message_id}`,
      );
      expect(one.body.status_history[0].status).toBe('SUPPRESSED');

      const sent = await api.get(`/api/v1/campaigns/${id}/messages?status=SENT&limit=1`);
      const detail = await api.get(`/api/v1/campaigns/${id}/messages/${sent.body.items[0].message_id}`);
      expect(detail.body.status_history.map((h: { status: string }) => h.status)).toEqual(['CREATED', 'SENDING', 'SENT']);
      expect(detail.body.ses_message_id).toBeTruthy();

      // Webhooks are delivered in order after each change; SENT is the last.
      const deadline = Date.now() + 30_000;
      while (hooks.received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(hooks.received.map((h) => h.json.status)).toEqual(['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT']);
      expect(hooks.received.every((h) => h.verified)).toBe(true);
      expect(hooks.received.every((h) => h.json.transaction_id === id)).toBe(true);
      expect(hooks.received.at(-1)!.json.summary).toMatchObject({ total_messages: 985, sent: 982 });
    } finally {
      await hooks.close();
    }
  });

  it('keeps one tenant out of another tenant’s campaign', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const other = engine.apiFor(TENANTS.b.apiKey);
    expect((await other.get(`/api/v1/templates/${templateId}`)).status).toBe(404);
    const fileId = await uploadCsv(api, 'email\nsolo@example.com\n');
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
    expect(started.status).toBe(202);
    const id = started.body.transaction_id;
    for (const path of ['status', 'messages', 'errors']) {
      const res = await other.get(`/api/v1/campaigns/${id}/${path}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
    expect((await other.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId })).status).toBe(404);
    await waitForStatus(api, id, ['SENT']);
  });
});
