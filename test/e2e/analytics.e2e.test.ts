// Issue 8 end to end: a genuine OpenSearch node (from Maven Central, started here), every SES
// event indexed from the event path, and campaign analytics from aggregations that agree with
// the status API; with OpenSearch stopped mid-campaign, sending is unaffected and analytics
// catch up once it is back.
import { describe, expect, it } from 'vitest';
import { useOpenSearchNode } from '../support/opensearch-node';
import { uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';

// Registered before the engine's hooks: the node starts first and stops last.
const node = useOpenSearchNode('opensearch');
const engine = useEngine({
  events: 'connect',
  config: () => ({
    OPENSEARCH_URL: node.url,
    OPENSEARCH_INDEX_PREFIX: `t${Date.now()}-`,
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
  }),
});
const api = engine.api;

const SIM = 'simulator.amazonses.com';
async function campaign(recipients: string[]) {
  const templateId = await uploadTemplate(api, { subject: 'News', html: '<p>News</p>' });
  const res = await api.post('/api/v1/campaigns', {
    template_id: templateId,
    file_id: await uploadCsv(api, ['email', ...recipients].join('\n')),
  });
  expect(res.status).toBe(202);
  return res.body.transaction_id as string;
}
const analyticsOf = async (id: string) => (await api.get(`/api/v1/campaigns/${id}/analytics?interval=1m&top=5`)).body;

describe('campaign analytics from OpenSearch', () => {
  it('indexes every event and serves analytics that match the status API, per domain and over time', async () => {
    const run = Date.now();
    const list = [
      ...Array.from({ length: 10 }, (_, i) => `success+open${run}x${i}@${SIM}`),
      ...Array.from({ length: 6 }, (_, i) => `success+click${run}x${i}@${SIM}`),
      ...Array.from({ length: 4 }, (_, i) => `bounce+${run}x${i}@${SIM}`),
      ...Array.from({ length: 8 }, (_, i) => `reader${run}x${i}@gmail.test`),
      ...Array.from({ length: 5 }, (_, i) => `reader${run}x${i}@yahoo.test`),
    ];
    const id = await campaign(list);
    const status = await waitForStatus(api, id, ['COMPLETED'], 120_000);
    expect(status.counts).toMatchObject({ sent: 33, delivered: 29, bounced: 4, opened: 16, clicked: 6 });

    const analytics = await waitFor('analytics to catch up', async () => {
      const a = await analyticsOf(id);
      // Events and message documents are separate bulk requests: wait for both.
      return a.totals?.events === 33 + 29 + 4 + 16 + 6 && a.totals.sent === 33 && a.totals.clicked === 6 && a.indexing_backlog === 0
        ? a
        : undefined;
    });
    for (const name of ['sent', 'delivered', 'bounced', 'complained', 'opened', 'clicked'] as const) {
      expect(analytics.totals[name], name).toBe(status.counts[name]);
    }
    expect(analytics.engagement).toEqual({ opened_unique: 16, opened_total: 16, clicked_unique: 6, clicked_total: 6 });
    expect(analytics.rates.bounce_rate).toBeCloseTo(4 / 33, 6);
    expect(analytics.rates.complaint_rate).toBe(0);
    expect(analytics.bounce_subtypes).toEqual([{ bounce_type: 'Permanent', bounce_subtype: 'General', count: 4 }]);
    const byDomain = Object.fromEntries(analytics.by_domain.map((d: any) => [d.domain, d]));
    expect(byDomain[SIM]).toMatchObject({ sent: 20, delivered: 16, bounced: 4, opened: 16, clicked: 6 });
    expect(byDomain['gmail.test']).toMatchObject({ sent: 8, delivered: 8, bounced: 0, opened: 0 });
    expect(byDomain['yahoo.test']).toMatchObject({ sent: 5, delivered: 5, bounced: 0, opened: 0 });
    expect(analytics.timeline.reduce((n: number, t: any) => n + t.total, 0)).toBe(88);
    expect(analytics.timeline.reduce((n: number, t: any) => n + (t.counts.click ?? 0), 0)).toBe(6);
    expect(analytics.top_urls[0]).toMatchObject({ url: 'https://example.com/landing', clicks: 6, unique_clicks: 6 });
    expect(analytics.status_breakdown).toMatchObject({ DELIVERED: 13, OPENED: 10, CLICKED: 6, BOUNCED: 4 });
  });

  it('keeps sending and completing while OpenSearch is down, and catches up once it is back', async () => {
    await node.stop();
    const run = Date.now();
    const id = await campaign(Array.from({ length: 12 }, (_, i) => `late${run}x${i}@example.org`));
    const status = await waitForStatus(api, id, ['COMPLETED'], 120_000);
    expect(status.counts).toMatchObject({ sent: 12, delivered: 12 });
    const down = await api.get(`/api/v1/campaigns/${id}/analytics`);
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('ANALYTICS_UNAVAILABLE');

    await node.start();
    const analytics = await waitFor(
      'analytics to catch up after the outage',
      async () => {
        const res = await api.get(`/api/v1/campaigns/${id}/analytics`);
        // Caught up means both indices searchable: each refreshes on its own second, so the
        // messages' counts can be there a moment before the events'.
        const { totals, indexing_backlog: backlog } = res.body ?? {};
        return res.status === 200 && totals?.delivered === 12 && totals?.events === 24 && backlog === 0 ? res.body : undefined;
      },
      90_000,
    );
    expect(analytics.totals).toMatchObject({ sent: 12, delivered: 12, events: 24 });
    expect(analytics.by_domain).toEqual([expect.objectContaining({ domain: 'example.org', sent: 12, delivered: 12 })]);
  });
});
