// Issue 14, item 1, end to end over HTTP with the workers: a tenant claims a domain, makes a
// template from it and sends; then gives the domain up. The same template's next campaign
// fails every message with SENDER_NOT_AUTHORISED, counted as failed, and nothing of it reaches
// the SES emulator. Another tenant can neither claim the domain while it is held nor use it.
import { beforeAll, describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { seedTenant } from '../../src/local/dev-tenant';
import { setupDeps, uid } from '../integration/fixtures';
import { header, sesInbox, uploadCsv, uploadTemplate, useEngine, waitForStatus, type ApiClient } from '../support/harness';

const engine = useEngine();
const tenant = { tenantId: `sender-e2e-${uid()}`, apiKey: `sender-e2e-key-${uid()}`, webhookSecret: generateWebhookSecret() };
const api = engine.apiFor(tenant.apiKey);
const domain = `sender-e2e-${uid()}.example`;

beforeAll(async () => {
  const { deps, close } = setupDeps();
  await seedTenant(deps.store, tenant);
  close();
});

async function campaign(client: ApiClient, templateId: string, n: number) {
  const csv = ['email', ...Array.from({ length: n }, (_, i) => `r${i}-${uid()}@example.org`)].join('\n');
  const started = await client.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(client, csv) });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const id = started.body.transaction_id as string;
  return { id, final: await waitForStatus(client, id, ['SENT', 'COMPLETED', 'FAILED']) };
}
const mailsFor = async (id: string) => (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);

describe('sender identities, end to end', () => {
  it('a template made while the tenant held the domain sends; once the domain is given up, its messages FAIL and none reaches SES', async () => {
    expect((await api.put(`/api/v1/identities/${domain}`)).status).toBe(201);
    expect((await engine.api.put(`/api/v1/identities/${domain}`)).body.error.code).toBe('IDENTITY_TAKEN');
    const templateId = await uploadTemplate(api, { from: `News <news@${domain}>`, subject: 'Hi', html: '<p>Hi {{ email }}</p>' });

    const before = await campaign(api, templateId, 3);
    expect(before.final).toMatchObject({ status: expect.stringMatching(/SENT|COMPLETED/), counts: { sent: 3, failed: 0 } });
    const mails = await mailsFor(before.id);
    expect(mails).toHaveLength(3);
    for (const mail of mails) expect(mail.from).toContain(`news@${domain}`);

    expect((await api.delete(`/api/v1/identities/${domain}`)).status).toBe(204);
    const after = await campaign(api, templateId, 4);
    expect(after.final.counts).toMatchObject({ sent: 0, failed: 4 });
    const messages = (await api.get(`/api/v1/campaigns/${after.id}/messages`)).body.items as { message_id: string; status: string }[];
    expect(messages.map((m) => m.status)).toEqual(['FAILED', 'FAILED', 'FAILED', 'FAILED']);
    const one = (await api.get(`/api/v1/campaigns/${after.id}/messages/${messages[0]!.message_id}`)).body;
    expect(one.failure_reason).toBe(`from: news@${domain} is not covered by a sender identity of this tenant`);
    expect(one.status_history.at(-1).metadata).toMatchObject({ code: 'SENDER_NOT_AUTHORISED' });
    expect(await mailsFor(after.id)).toEqual([]);
    // And the domain, free again, is not another tenant's to send from until it claims it.
    const res = await engine.api.post('/api/v1/templates/presigned-url', { name: 'n', subject: 's', from: `ceo@${domain}` });
    expect(res.body.error.code).toBe('SENDER_NOT_VERIFIED');
  });
});
