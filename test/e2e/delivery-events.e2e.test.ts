// Issue 4, end to end on the local stack: SES events (from the local event source, following
// the mailbox simulator) reach their messages through the signed SNS endpoint; bounces and
// complaints suppress; the campaign reaches COMPLETED with exact counts and a final webhook;
// a second campaign to the same list skips the suppressed; few signals reach any workflow.
import { describe, expect, it } from 'vitest';
import { batchWorkflowId, transactionWorkflowId } from '../../src/contracts';
import { header, sesInbox, startWebhookReceiver, TENANTS, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';

const engine = useEngine({
  events: 'connect',
  config: { BATCH_SIZE: '50', OUTCOME_POLL_SECONDS: '5', FINAL_STATE_DEADLINE_SECONDS: '120' },
  apiKey: TENANTS.b.apiKey,
  temporal: true,
});
const api = engine.api;

const SIM = 'simulator.amazonses.com';
/** Tenant b sends from its own domain. */
const from = `sender@${TENANTS.b.senders[0]}`;
const run = `${Date.now()}`;
const group = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}${run}x${i}@${SIM}`);
const list = {
  delivered: group('success+', 50),
  opened: group('success+open', 30),
  clicked: group('success+click', 20),
  ooto: group('ooto+', 20),
  bounced: group('bounce+', 40),
  complained: group('complaint+', 20),
  onSuppressionList: group('suppressionlist+', 20),
};
const everyone = Object.values(list).flat();
const csv = ['email,name', ...everyone.map((e, i) => `${e},R${i}`)].join('\n');

async function signalsAndEvents(id: string, batches: number) {
  const ids = [transactionWorkflowId(id), ...Array.from({ length: batches }, (_, i) => batchWorkflowId(id, i + 1))];
  const out = [];
  for (const workflowId of ids) {
    const history = await engine.temporal.workflow.getHandle(workflowId).fetchHistory();
    const signals = history.events!.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    out.push({ workflowId, events: history.events!.length, signals });
  }
  return out;
}

describe('delivery events to COMPLETED', () => {
  it('applies every event, suppresses bounces and complaints, and completes with exact counts', async () => {
    const hooks = await startWebhookReceiver(TENANTS.b.webhookSecret);
    try {
      const templateId = await uploadTemplate(api, {
        from,
        subject: 'News for {{ name }}',
        html: '<p>Hi {{ name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
      });
      const fileId = await uploadCsv(api, csv);
      const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, callback_url: hooks.url });
      const id = started.body.transaction_id as string;
      const final = await waitForStatus(api, id, ['COMPLETED', 'FAILED'], 150_000);
      expect(final.status).toBe('COMPLETED');
      expect(final.counts).toMatchObject({
        sent: 200,
        delivered: 50 + 30 + 20 + 20 + 20,
        bounced: 60,
        complained: 20,
        opened: 50,
        clicked: 20,
        failed: 0,
        suppressed: 0,
      });
      // The books at COMPLETED: every recipient accounted for, every sent message one outcome
      // (a complaint follows a delivery: the 20 complained are not among the 120 delivered here).
      console.log('[figures] reconciliation of the 200-recipient campaign:', JSON.stringify(final.reconciliation));
      expect(final.reconciliation).toEqual({
        balanced: true,
        valid_recipients: 200,
        sent: 200,
        failed: 0,
        suppressed: 0,
        cancelled: 0,
        pending: 0,
        pending_reason: null,
        delivered: 120,
        bounced: 60,
        soft_bounced: 0,
        complained: 20,
        unknown: 0,
        unknown_reason: null,
        mismatches: [],
        computed_at: expect.any(String),
      });

      const deadline = Date.now() + 30_000;
      while (!hooks.received.some((h) => h.json.status === 'COMPLETED') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(hooks.received.map((h) => h.json.status)).toEqual(['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
      expect(hooks.received.every((h) => h.verified)).toBe(true);
      expect(hooks.received.at(-1)!.json.summary).toMatchObject({
        total_messages: 200,
        delivered: 140,
        bounced: 60,
        complained: 20,
        opened: 50,
        clicked: 20,
      });

      // Messages carry their events.
      const bounced = await api.get(`/api/v1/campaigns/${id}/messages?status=BOUNCED&limit=1`);
      const detail = await api.get(`/api/v1/campaigns/${id}/messages/${bounced.body.items[0].message_id}`);
      expect(detail.body.status_history.map((h: any) => h.event ?? h.status)).toEqual(['CREATED', 'SENDING', 'SENT', 'SEND', 'BOUNCE']);
      const clicked = await api.get(`/api/v1/campaigns/${id}/messages?status=CLICKED&limit=50`);
      expect(clicked.body.items).toHaveLength(20);

      // Permanent bounces, suppression-list bounces and complaints are suppressed for the tenant.
      for (const email of [...list.bounced, ...list.complained, ...list.onSuppressionList]) {
        const res = await api.get(`/api/v1/suppressions/${encodeURIComponent(email)}`);
        expect(res.status, email).toBe(200);
        expect(['BOUNCE_PERMANENT', 'COMPLAINT']).toContain(res.body.reason);
      }
      expect((await api.get(`/api/v1/suppressions/${encodeURIComponent(list.ooto[0]!)}`)).status).toBe(404);

      // Signals stay few: coalesced per flush interval, none for opens and clicks.
      const figures = await signalsAndEvents(id, 4);
      const maxSignals = Math.max(...figures.map((f) => f.signals));
      const maxEvents = Math.max(...figures.map((f) => f.events));
      console.log(`[figures] 200-recipient campaign: largest signal count ${maxSignals}, largest history ${maxEvents} events`, figures);
      expect(maxSignals).toBeLessThanOrEqual(36);

      // A second campaign to the same list skips the 80 suppressed addresses.
      const again = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
      const second = await waitForStatus(api, again.body.transaction_id, ['SENT', 'COMPLETED'], 120_000);
      expect(second.counts).toMatchObject({ suppressed: 80, sent: 120 });
      const inbox = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === again.body.transaction_id);
      expect(inbox).toHaveLength(120);
    } finally {
      await hooks.close();
    }
  });

  it('one-click unsubscribe: the headers are on the mail and a POST suppresses the address', async () => {
    const templateId = await uploadTemplate(api, { from, subject: 'Hello', html: '<p>Hello</p>' });
    const email = `reader${run}@example.com`;
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(api, `email\n${email}\n`) });
    const id = started.body.transaction_id;
    await waitForStatus(api, id, ['SENT', 'COMPLETED']);
    const mail = (await sesInbox(engine.config)).find((e) => header(e, 'X-Transaction-Id') === id)!;
    const listUnsubscribe = header(mail, 'List-Unsubscribe')!;
    expect(header(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    const url = /^<(.+)>$/.exec(listUnsubscribe)![1]!;
    expect(url.startsWith(`${engine.config.PUBLIC_BASE_URL}/u/`)).toBe(true);

    const page = await fetch(url.replace(engine.config.PUBLIC_BASE_URL!, engine.url));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post">');
    expect((await api.get(`/api/v1/suppressions/${email}`)).status).toBe(404); // a GET changes nothing

    const post = await fetch(url.replace(engine.config.PUBLIC_BASE_URL!, engine.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(post.status).toBe(200);
    const suppression = await api.get(`/api/v1/suppressions/${email}`);
    expect(suppression.body).toMatchObject({ email, reason: 'UNSUBSCRIBED' });
    const forged = await fetch(`${engine.url}/u/${url.split('/u/')[1]!.slice(0, -3)}abc`, { method: 'POST' });
    expect(forged.status).toBe(404);
  });
});
