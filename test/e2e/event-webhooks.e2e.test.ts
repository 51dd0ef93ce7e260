// Issue 17, item 1, end to end on the local stack: per-message event webhooks. A campaign of 300
// recipients (delivered, opened, clicked, bounced, complained, following the SES mailbox
// simulator) with an endpoint subscribed to every event type; the receiver is down for 20 s in
// the middle, then up. It gets every event once (by id; no raw duplicates), in order per message,
// each POST verified with the standardwebhooks package; a replay of the range delivers the same
// ids again; SSRF-blocked and malformed URLs are refused at creation; another tenant can neither
// see nor replay the endpoint.
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/domain/event-webhooks';
import { startEventReceiver } from '../support/event-receiver';
import { startApi, testConfig, TENANTS, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus, apiClient } from '../support/harness';

const engine = useEngine({
  events: 'connect',
  apiKey: TENANTS.b.apiKey,
  config: {
    BATCH_SIZE: '100',
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
    EVENT_WEBHOOK_READ_LAG_SECONDS: '2',
    EVENT_WEBHOOK_RETRY_CAP_SECONDS: '4',
  },
});
const api = engine.api;
const SIM = 'simulator.amazonses.com';
const from = `sender@${TENANTS.b.senders[0]}`;
const run = `${Date.now()}`;
const group = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}${run}w${i}@${SIM}`);
const everyone = [
  ...group('success+', 120),
  ...group('success+open', 60),
  ...group('success+click', 40),
  ...group('bounce+', 40),
  ...group('complaint+', 40),
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('per-message event webhooks', () => {
  it('refuses bad input, SSRF-blocked URLs, and hides the endpoint from another tenant', async () => {
    const bad = await api.post('/api/v1/webhooks', { url: 'https://example.com/x', event_types: ['sent', 'nope'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.details[0].path).toBe('event_types.1');
    const ftp = await api.post('/api/v1/webhooks', { url: 'ftp://example.com/x', event_types: ['sent'] });
    expect([ftp.status, ftp.body.error.code, ftp.body.error.details]).toEqual([400, 'INVALID_WEBHOOK_URL', { field: 'url' }]);
    const creds = await api.post('/api/v1/webhooks', { url: 'https://user:pw@example.com/x', event_types: ['sent'] });
    expect(creds.body.error.code).toBe('INVALID_WEBHOOK_URL');
    const noCampaign = await api.post('/api/v1/webhooks', { url: 'https://example.com/x', event_types: ['sent'], campaign_id: 'nope' });
    expect(noCampaign.status).toBe(404);

    // The test stack allows private networks (its receivers listen on 127.0.0.1); an API with the
    // production rule refuses them at creation.
    const strict = await startApi(testConfig({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false' }));
    try {
      const strictApi = apiClient(strict.url, TENANTS.b.apiKey);
      for (const url of [
        'http://127.0.0.1:9/x',
        'http://169.254.169.254/latest',
        'http://[::1]/x',
        'http://localhost/x',
        'http://10.0.0.1/x',
      ]) {
        const res = await strictApi.post('/api/v1/webhooks', { url, event_types: ['sent'] });
        expect([res.status, res.body.error.code], url).toEqual([422, 'PRIVATE_WEBHOOK_URL']);
      }
    } finally {
      await strict.close();
    }

    const created = await api.post('/api/v1/webhooks', { url: 'https://example.com/hook', event_types: ['bounced'], description: 'x' });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    const id = created.body.endpoint_id as string;
    const other = engine.apiFor(TENANTS.a.apiKey);
    expect((await other.get(`/api/v1/webhooks/${id}`)).status).toBe(404);
    expect((await other.post(`/api/v1/webhooks/${id}/replay?from=${new Date(Date.now() - 60_000).toISOString()}`)).status).toBe(404);
    expect((await other.post(`/api/v1/webhooks/${id}/disable`)).status).toBe(404);
    expect((await other.delete(`/api/v1/webhooks/${id}`)).status).toBe(404);
    expect(((await other.get('/api/v1/webhooks')).body.items as { endpoint_id: string }[]).map((e) => e.endpoint_id)).not.toContain(id);
    const got = await api.get(`/api/v1/webhooks/${id}`);
    expect(got.body).toMatchObject({ endpoint_id: id, status: 'enabled', event_types: ['bounced'], delivery: { given_up_count: 0 } });
    expect(got.body.secret).toBeUndefined();

    const badRange = await api.post(`/api/v1/webhooks/${id}/replay?from=yesterday`);
    expect([badRange.status, badRange.body.error.code, badRange.body.error.details[0].path]).toEqual([400, 'VALIDATION_FAILED', 'from']);
    const inverted = await api.post(
      `/api/v1/webhooks/${id}/replay?from=${new Date().toISOString()}&to=${new Date(Date.now() - 1000).toISOString()}`,
    );
    expect(inverted.body.error.details[0].path).toBe('to');

    expect((await api.post(`/api/v1/webhooks/${id}/disable`)).body.status).toBe('disabled');
    expect((await api.post(`/api/v1/webhooks/${id}/enable`)).body.status).toBe('enabled');
    const rotated = await api.post(`/api/v1/webhooks/${id}/rotate-secret`, { overlap_seconds: 60 });
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect(rotated.body.previous_secret_expires_at).toEqual(expect.any(String));
    expect((await api.delete(`/api/v1/webhooks/${id}`)).status).toBe(204);
    expect((await api.get(`/api/v1/webhooks/${id}`)).status).toBe(404);
  });

  it('delivers every event of a campaign once, in order per message, across a receiver outage; a replay sends the same ids', async () => {
    const receiver = await startEventReceiver();
    try {
      const created = await api.post('/api/v1/webhooks', { url: receiver.url, event_types: [...EVENT_TYPES] });
      expect(created.status).toBe(201);
      receiver.setSecret(created.body.secret as string);
      const endpointId = created.body.endpoint_id as string;
      const templateId = await uploadTemplate(api, { from, subject: 'Hi {{ name }}', html: '<p>Hi {{ name }}</p>' });
      const csv = ['email,name', ...everyone.map((e, i) => `${e},R${i}`)].join('\n');
      const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(api, csv) });
      const id = started.body.transaction_id as string;

      // Down once the first events arrived, for 20 s.
      await waitFor('the first events', async () => (receiver.stats.events > 0 ? true : undefined), 60_000);
      await receiver.down();
      const downAt = Date.now();
      await sleep(20_000);
      const receivedBeforeUp = receiver.counts.size;
      await receiver.up();
      const upAt = Date.now();

      const final = await waitForStatus(api, id, ['COMPLETED'], 120_000);
      const c = final.counts as Record<string, number>;
      const expected = c.sent! + c.delivered! + c.bounced! + c.complained! + c.opened! + c.clicked!;
      expect(c.sent).toBe(300);
      await waitFor('every event', async () => (receiver.counts.size >= expected ? true : undefined), 60_000);
      const caughtUpAt = Math.max(...receiver.firstSeenAt.values());
      const summary = receiver.summary();
      const figures = {
        expected,
        ...summary,
        posts: receiver.stats.posts,
        unverified: receiver.stats.unverified,
        received_before_outage: receivedBeforeUp,
        outage_seconds: Math.round((upAt - downAt) / 1000),
        catch_up_seconds_after_up: Math.round((caughtUpAt - upAt) / 100) / 10,
        order_violations: receiver.orderViolations().length,
      };
      console.log(`[figures] event webhooks, 300 recipients, 20 s outage: ${JSON.stringify(figures)}`);
      expect(summary.distinct).toBe(expected);
      expect(summary.extraCopies).toBe(0);
      expect(receiver.stats.unverified).toBe(0);
      expect(receiver.orderViolations()).toEqual([]);
      // Every message's life, as the receiver saw it.
      const lives = new Set([...receiver.perMessage.values()].map((t) => t.join(',')));
      expect([...lives].sort()).toEqual(
        ['sent,bounced', 'sent,delivered', 'sent,delivered,complained', 'sent,delivered,opened', 'sent,delivered,opened,clicked'].sort(),
      );
      const state = await api.get(`/api/v1/webhooks/${endpointId}`);
      expect(state.body.delivery).toMatchObject({ delivered_count: expected, given_up_count: 0, last_success_at: expect.any(String) });
      expect(state.body.delivery.last_error).toEqual(expect.any(String));

      // A replay of the whole range sends each id once more; the live cursor does not move back.
      const ids = [...receiver.counts.keys()];
      const replay = await api.post(`/api/v1/webhooks/${endpointId}/replay?from=${created.body.created_at}&to=${new Date().toISOString()}`);
      expect(replay.status).toBe(202);
      await waitFor('the replay', async () => (ids.every((k) => receiver.counts.get(k) === 2) ? true : undefined), 60_000);
      expect(receiver.summary().extraCopies).toBe(expected);
      const after = await api.get(`/api/v1/webhooks/${endpointId}`);
      expect(Date.parse(after.body.delivery.cursor_at)).toBeGreaterThanOrEqual(Date.parse(state.body.delivery.cursor_at));
      expect((await api.delete(`/api/v1/webhooks/${endpointId}`)).status).toBe(204);
    } finally {
      await receiver.close();
    }
  });
});
